"""``s4 watch``: the line fed from the watched inbox, until it is asked to stop.

watchdog's events are hints only: a file is taken once it has been stable for the quiet
period, and a periodic rescan finds whatever the watcher missed (network shares deliver no
events at all). Documents put back in the queue by someone else meanwhile (a retry from the
desk) are picked up at each rescan too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from s4 import db as store_db
from s4.ingest import InboxWatcher, StabilityTracker, batch_for_inbox_path, iter_files
from s4.line import Line, path_key

log = logging.getLogger("s4.line")


def watch(line: Line, pipeline: str, poll: bool | None = None,
          ready: Callable[[], None] | None = None) -> None:
    ctx = line.ctx
    inbox = ctx.home.inbox
    ingest = ctx.settings.ingest
    ctx.pipeline(pipeline)
    inbox.mkdir(parents=True, exist_ok=True)
    line.store.start()
    line.recover()
    tracker = StabilityTracker(ingest.quiet_seconds)
    watcher = InboxWatcher(inbox, ingest.poll if poll is None else poll,
                           ingest.poll_interval_seconds)
    watcher.start()
    default_batch = f"inbox-{datetime.now():%Y%m%d}"
    next_rescan = 0.0
    log.info("watching %s (pipeline %s, %d OCR workers)", inbox, pipeline, line.workers)
    if ready:
        ready()
    try:
        while not line.stop_requested.is_set():
            for path in watcher.drain():
                if _not_a_folder(path) and not _ignored(line, path):
                    tracker.touch(path)
            if time.monotonic() >= next_rescan:  # start-up scan, then periodic rescans
                for path in iter_files([inbox], line.rules):
                    if path not in tracker.candidates:
                        tracker.touch(path)
                _forget_vanished_refusals(line)
                line.enqueue_waiting()
                next_rescan = time.monotonic() + ingest.rescan_seconds
            for path in tracker.ready():
                tracker.forget(path)
                batch = batch_for_inbox_path(inbox, path, default_batch)
                store_db.ensure_batch(line.db, batch, pipeline, batch, "watch", ctx.actor)
                line.claim(path, batch, pipeline, batch, remove_source=True, root=inbox)
                _remove_empty_batch_folder(inbox, path.parent)
            line.fill()
            if line.executor.in_flight():
                line.collect(timeout=0.25)
            else:
                line.stop_requested.wait(0.25)
    finally:
        watcher.stop()


def _forget_vanished_refusals(line: Line) -> None:
    """Entries refused earlier and since removed from the inbox drop off ``s4 status``."""
    for entry in store_db.not_taken_entries(line.db):
        try:
            os.lstat(bytes.fromhex(entry["path_hex"]))
        except FileNotFoundError:
            store_db.forget_not_taken(line.db, entry["path_hex"])
            line.unreadable = {p: r for p, r in line.unreadable.items()
                               if path_key(p) != entry["path_hex"]}
        except (OSError, ValueError):
            continue


def _ignored(line: Line, path: Path) -> bool:
    inbox = line.ctx.home.inbox
    relative = path.relative_to(inbox) if path.is_relative_to(inbox) else Path(path.name)
    return any(line.rules.ignored(Path(part)) for part in relative.parts)


def _remove_empty_batch_folder(inbox: Path, folder: Path) -> None:
    if folder != inbox and folder.is_relative_to(inbox):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty


def _not_a_folder(path: Path) -> bool:
    """The entry exists and is not a folder (a link is not followed: links are candidates,
    refused and reported when claimed)."""
    try:
        return not stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False
