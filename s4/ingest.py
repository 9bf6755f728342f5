"""Ingest: notice files, wait until they are stable, claim them safely, register them.

The claim protocol never loses a file:

1. hash the file where it lies (its size and mtime must not change while we read it);
2. copy it to ``work/.claiming/`` and fsync;
3. in one transaction: rename the copy into ``work/<doc id>/`` and insert the row + event;
4. only after that commit, remove the file from the inbox (``s4 watch``; ``s4 run`` leaves
   the operator's files where they are).

A crash before (3) commits leaves an orphan copy that start-up recovery deletes (the inbox
still has the file, so it is claimed again). A crash between (3) and (4) leaves the inbox
file in place; the next claim recognises it by path + SHA-256 and just finishes step 4.

Inbox entries are hostile until proven otherwise. S4 never follows a symbolic link (neither
a linked file nor a linked folder below the inbox or the folder given to ``s4 run``), never
opens anything that is not a regular file (a FIFO would block, a device has side effects),
reads and copies the file through the one descriptor it checked, and removes only that same
regular file (same device and inode) from its own folder. Entries refused are left exactly
as they are, with a reason (:class:`NotTaken`). File names need not be UTF-8: the record
gets a safe display name and keeps the raw bytes (``source_name_raw``).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import json
import logging
import os
import queue
import shutil
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from s4 import db as store_db
from s4.config import Home

log = logging.getLogger("s4.ingest")

CLAIMING = ".claiming"
HASH_CHUNK = 1024 * 1024


class IgnoreRules:
    """Names a scanner or a desktop leaves behind that are never records."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns = list(patterns)

    def ignored(self, path: Path) -> bool:
        return any(fnmatch.fnmatch(path.name, pattern) for pattern in self.patterns)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_fd(fd: int) -> str:
    """SHA-256 of an open file, read from its start (the descriptor's offset is not used)."""
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, HASH_CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def display_name(text: str) -> str:
    """A name safe to store, log and print: bytes that are not UTF-8 are shown escaped.

    Python hands undecodable file-name bytes over as lone surrogates, which SQLite, JSON and
    log streams refuse; ``b\\xff.pdf`` (the raw byte 0xff) becomes the text ``b\\xff.pdf``.
    """
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def raw_name_hex(text: str) -> str | None:
    """The name's bytes as hex when they are not valid UTF-8 (else None: the name is exact)."""
    raw = os.fsencode(text)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    return None


def _fingerprint(path: Path) -> tuple[int, int] | None:
    """Size and mtime of the entry itself (a link is not followed)."""
    try:
        info = path.lstat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


@dataclass
class _Candidate:
    fingerprint: tuple[int, int]
    since: float


@dataclass
class StabilityTracker:
    """A file is ready when its size and mtime have not changed for ``quiet_seconds``.

    Any event on the file (or a changed size/mtime when we look again) restarts its clock,
    so a file still being written by a scanner or a slow network copy is never taken early.
    """

    quiet_seconds: float
    clock: callable = time.monotonic
    candidates: dict[Path, _Candidate] = field(default_factory=dict)

    def touch(self, path: Path) -> None:
        fingerprint = _fingerprint(path)
        if fingerprint is None:
            self.candidates.pop(path, None)
            return
        self.candidates[path] = _Candidate(fingerprint, self.clock())

    def forget(self, path: Path) -> None:
        self.candidates.pop(path, None)

    def ready(self) -> list[Path]:
        now = self.clock()
        ready: list[Path] = []
        for path, candidate in list(self.candidates.items()):
            fingerprint = _fingerprint(path)
            if fingerprint is None:
                del self.candidates[path]
            elif fingerprint != candidate.fingerprint:
                self.candidates[path] = _Candidate(fingerprint, now)
            elif now - candidate.since >= self.quiet_seconds:
                ready.append(path)
        return sorted(ready)


def iter_entries(paths: Iterable[Path], rules: IgnoreRules) -> Iterator[tuple[Path | None, Path]]:
    """``(root, entry)`` for every entry under the given paths that is not a folder, in a
    stable order, skipping ignored names and folders.

    A folder given is followed (the operator named it); below it nothing is: a linked folder
    is yielded as an entry (and refused when claimed), never walked into. Links, FIFOs and
    the like are yielded so they can be reported; ``root`` is the folder given (None for a
    file given), and the claim refuses any link between it and the entry.
    """
    for path in paths:
        if path.is_dir():
            for entry in _walk(path, rules):
                yield path, entry
        elif not rules.ignored(path):
            yield None, path


def _walk(folder: Path, rules: IgnoreRules) -> Iterator[Path]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: os.fsencode(entry.name))
    except OSError as exc:  # vanished or unreadable folder: its files are not lost, only late
        log.debug("cannot list %s: %s", display_name(str(folder)), exc)
        return
    for entry in entries:
        if rules.ignored(Path(entry.name)):
            continue
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_folder:
            yield from _walk(Path(entry.path), rules)
        else:
            yield Path(entry.path)


def iter_files(paths: Iterable[Path], rules: IgnoreRules) -> Iterator[Path]:
    """The entries of :func:`iter_entries`, without their roots."""
    for _, path in iter_entries(paths, rules):
        yield path


@dataclass
class Claim:
    doc_id: str
    state: str  # received, duplicate, or already-claimed (crash recovery)
    duplicate_of: str | None = None


class FileChanged(Exception):
    """The file changed while it was being read: it is not stable yet."""


class SourceUnreadable(ValueError):
    """The scan cannot be read (permissions, I/O error); it stays where it is."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{display_name(str(path))}: cannot read it ({reason.lower()}); "
                         "nothing was taken. Fix its permissions (or copy it again) and it is "
                         "picked up")
        self.path = path


_WHAT_IT_IS = {
    stat.S_IFLNK: ("a symbolic link", "S4 never follows links out of the inbox: copy the "
                   "real file in instead"),
    stat.S_IFIFO: ("a named pipe (FIFO), not a file", "S4 does not read from pipes: save the "
                   "scan as an ordinary file"),
    stat.S_IFSOCK: ("a socket, not a file", "save the scan as an ordinary file"),
    stat.S_IFCHR: ("a device, not a file", "save the scan as an ordinary file"),
    stat.S_IFBLK: ("a device, not a file", "save the scan as an ordinary file"),
    stat.S_IFDIR: ("a folder where a file was expected", "look at what is there"),
}


class NotTaken(ValueError):
    """An entry that is not a regular file S4 may read (link, FIFO, socket, device).

    It is left exactly where it is; ``reason`` says what it is and what to do."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{display_name(str(path))}: not taken: {reason}; it was left as "
                         "it is")
        self.path = path
        self.reason = reason


def _refusal(path: Path, mode: int, folder: str | None = None) -> NotTaken:
    what, remedy = _WHAT_IT_IS.get(stat.S_IFMT(mode), ("not an ordinary file",
                                                       "save the scan as an ordinary file"))
    if folder is not None:
        if stat.S_ISLNK(mode):
            remedy = ("S4 never follows links out of the inbox: copy the real folder in "
                      "instead")
        return NotTaken(path, f"the folder {display_name(folder)} is {what}; {remedy}")
    if stat.S_ISLNK(mode) and path.is_dir():  # stat, never open: safe whatever it points at
        what, remedy = "a symbolic link to a folder", ("S4 never follows links out of the "
                                                       "inbox: copy the real folder in instead")
    return NotTaken(path, f"{what}; {remedy}")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass
class OpenEntry:
    """A regular file opened without following links, and the folder holding it."""

    path: Path
    parent_fd: int
    name: str
    fd: int
    info: os.stat_result

    @property
    def fingerprint(self) -> tuple[int, int]:
        info = os.fstat(self.fd)
        return info.st_size, info.st_mtime_ns

    def close(self) -> None:
        for fd in (self.fd, self.parent_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_entry(path: Path, root: Path | None = None) -> OpenEntry:
    """Open ``path`` for reading only if it is a regular file, reached without links.

    Each folder from ``root`` down (or just the file's own folder, without a root) is opened
    relative to the one above with ``O_NOFOLLOW``, so neither the file nor a folder on the
    way can be a link, even if swapped in after the inbox was listed. The file is checked
    with ``lstat`` before it is opened (a FIFO or device is never opened) and with ``fstat``
    after (same inode), and opened non-blocking. Raises :class:`NotTaken`,
    :class:`SourceUnreadable`, :class:`FileChanged` or ``FileNotFoundError``.
    """
    parts: tuple[str, ...] = ()
    if root is not None and path != root and path.is_relative_to(root):
        base, parts = root, path.relative_to(root).parts[:-1]
    else:
        base = path.parent
    try:
        parent_fd = os.open(base, _DIR_FLAGS)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        for part in parts:
            try:
                info = os.stat(part, dir_fd=parent_fd, follow_symlinks=False)
            except OSError as exc:
                raise _unreadable(path, exc) from None
            if not stat.S_ISDIR(info.st_mode):
                raise _refusal(path, info.st_mode, folder=part)
            try:
                child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link just now
                    raise _refusal(path, stat.S_IFLNK, folder=part) from None
                raise _unreadable(path, exc) from None
            os.close(parent_fd)
            parent_fd = child
        name = path.name
        try:
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        if not stat.S_ISREG(info.st_mode):
            raise _refusal(path, info.st_mode)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refusal(path, stat.S_IFLNK) from None
            raise _unreadable(path, exc) from None
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
                info.st_dev, info.st_ino):
            os.close(fd)
            raise FileChanged(path)  # replaced between the two looks: look again later
        return OpenEntry(path, parent_fd, name, fd, opened)
    except BaseException:
        os.close(parent_fd)
        raise


class Claimer:
    """Moves files from the inbox (or copies them from elsewhere) into the work area."""

    def __init__(self, home: Home, database, actor: str):
        self.home = home
        self.db = database
        self.actor = actor
        (home.work / CLAIMING).mkdir(parents=True, exist_ok=True)

    def claim(
        self, path: Path, batch_id: str, pipeline: str, box: str | None, remove_source: bool,
        rescan_of: dict[str, Any] | None = None, reason: str = "", root: Path | None = None,
    ) -> Claim:
        """Register the file as a new document (or a duplicate of known content).

        ``root`` is the folder the file was found under (the inbox for ``s4 watch``): no
        folder between it and the file may be a link. With ``rescan_of`` the file is an
        explicit re-scan of that record's paper: it takes the old record's place in its box,
        and the old record is marked superseded in the same transaction, so the paper is
        always represented by exactly one record.
        """
        entry = open_entry(path, root)
        try:
            return self._claim_open(entry, batch_id, pipeline, box, remove_source, rescan_of,
                                    reason)
        finally:
            entry.close()

    def _claim_open(
        self, entry: OpenEntry, batch_id: str, pipeline: str, box: str | None,
        remove_source: bool, rescan_of: dict[str, Any] | None, reason: str,
    ) -> Claim:
        path = entry.path
        shown = display_name(path.name)
        before = entry.fingerprint
        try:
            sha256 = sha256_fd(entry.fd)
        except OSError as exc:  # the scan itself cannot be read: the file's problem, not S4's
            raise _unreadable(path, exc) from None
        if entry.fingerprint != before:
            raise FileChanged(path)
        source_path = display_name(str(path.parent.resolve() / path.name))

        leftover = store_db.find_uncleared_claim(self.db, source_path, sha256)
        if leftover is not None:  # committed before a crash; finish removing it
            self._clear_source(entry, leftover["id"], remove_source)
            return Claim(leftover["id"], "already-claimed")

        staging = self.home.work / CLAIMING / f"{uuid.uuid4().hex}.part"
        original = store_db.find_original_by_sha256(self.db, sha256)
        if original is None and _copy_fd_durably(entry, staging) != sha256:
            staging.unlink(missing_ok=True)  # changed after hashing: not stable after all
            raise FileChanged(path)
        try:
            with store_db.transaction(self.db):
                # Re-check inside the write lock: another claim may have just taken this content.
                original = store_db.find_original_by_sha256(self.db, sha256)
                if original is not None and rescan_of is not None:
                    raise ValueError(f"{shown} has exactly the same content as "
                                     f"{original['id']}: it is not a new scan")
                doc_id = store_db.next_doc_id(self.db)
                fields = {
                    "id": doc_id, "batch_id": batch_id, "box": box,
                    "position": rescan_of["position"] if rescan_of
                    else store_db.next_position(self.db, batch_id),
                    "source_name": shown, "source_name_raw": raw_name_hex(path.name),
                    "source_path": source_path,
                    "source_size": before[0], "source_mtime": before[1] / 1e9,
                    "sha256": sha256, "pipeline": pipeline,
                    "inbox_cleared": 0 if remove_source else 1,
                }
                if original is not None:
                    fields |= {"state": store_db.DUPLICATE, "duplicate_of": original["id"]}
                else:
                    work_dir = self.home.work / doc_id
                    work_dir.mkdir(parents=True, exist_ok=True)
                    target = work_dir / f"original{_suffix(path)}"
                    os.replace(staging, target)
                    _fsync_dir(work_dir)
                    fields |= {"state": store_db.RECEIVED, "work_dir": str(work_dir),
                               "original_path": str(target)}
                if rescan_of is not None:
                    current = store_db.get_document(self.db, rescan_of["id"])
                    if current is None or any(current[k] != rescan_of[k] for k in (
                            "state", "paper_status", "superseded_by", "record_class")):
                        raise ValueError(f"{rescan_of['id']} changed while the re-scan was "
                                         "being read; look at it again (`s4 show`) first")
                    fields |= {"replaces": rescan_of["id"], "lineage": json.dumps(
                        [*json.loads(rescan_of["lineage"] or "[]"), rescan_of["id"]]),
                        "paper_status": rescan_of["paper_status"]}  # a pulled paper stays out
                store_db.insert_document(self.db, self.actor, fields)
                if rescan_of is not None:
                    # A stored copy is kept, but its fields must say it was replaced.
                    stale = {"store_meta_stale": 1} if rescan_of["stored_at"] else {}
                    store_db.update_document(
                        self.db, rescan_of["id"], self.actor, "document.superseded",
                        {"by": doc_id, "reason": reason, "was": rescan_of["state"]},
                        state=store_db.SUPERSEDED, superseded_by=doc_id, **stale)
        finally:
            staging.unlink(missing_ok=True)
        self._clear_source(entry, doc_id, remove_source)
        if original is not None:
            log.info("%s: duplicate of %s (same SHA-256); not processed again", shown,
                     original["id"])
            return Claim(doc_id, store_db.DUPLICATE, original["id"])
        log.info("%s: claimed as %s (batch %s)", shown, doc_id, batch_id)
        return Claim(doc_id, store_db.RECEIVED)

    def _clear_source(self, entry: OpenEntry, doc_id: str, remove_source: bool) -> None:
        """Remove the claimed file from its folder: only that same regular file (same device
        and inode, looked up in the folder opened at claim time), never what replaced it."""
        if not remove_source:
            return
        try:
            now = os.stat(entry.name, dir_fd=entry.parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None:
            if stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (
                    entry.info.st_dev, entry.info.st_ino):
                os.unlink(entry.name, dir_fd=entry.parent_fd)
            else:
                log.warning("%s: replaced by something else after it was claimed as %s; the "
                            "new entry was left in place", display_name(str(entry.path)),
                            doc_id)
        store_db.mark_inbox_cleared(self.db, doc_id)


def _suffix(path: Path) -> str:
    suffix = display_name(path.suffix).lower()
    return suffix if len(suffix) <= 6 and suffix[1:].isalnum() else ".bin"


def _copy_fd_durably(entry: OpenEntry, target: Path) -> str:
    """Copy the opened file (from its start) and fsync; returns the SHA-256 of the bytes
    copied. Read failures are the file's (SourceUnreadable), write failures the
    environment's (OSError)."""
    digest = hashlib.sha256()
    offset = 0
    with target.open("wb") as writer:
        while True:
            try:
                chunk = os.pread(entry.fd, HASH_CHUNK, offset)
            except OSError as exc:
                raise _unreadable(entry.path, exc) from None
            if not chunk:
                break
            offset += len(chunk)
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()


def _copy_durably(source: Path, target: Path) -> str:
    """Copy and fsync; returns the SHA-256 of the bytes actually copied.

    A failure to read the source is the file's problem (SourceUnreadable); a failure to
    write the target is the environment's (OSError, e.g. disk full)."""
    digest = hashlib.sha256()
    try:
        reader = source.open("rb")
    except OSError as exc:
        raise _unreadable(source, exc) from None
    with reader, target.open("wb") as writer:
        while True:
            try:
                chunk = reader.read(HASH_CHUNK)
            except OSError as exc:
                raise _unreadable(source, exc) from None
            if not chunk:
                break
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()


def _unreadable(path: Path, exc: OSError) -> Exception:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EIO):
        return SourceUnreadable(path, exc.strerror or str(exc))
    return exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(home: Home, database, actor: str) -> list[str]:
    """Make the work area and database agree after a crash. Returns what was done, for logs."""
    notes: list[str] = []
    claiming = home.work / CLAIMING
    for leftover in claiming.glob("*"):
        leftover.unlink(missing_ok=True)
        notes.append(f"removed half-copied claim {leftover.name}")
    known = store_db.known_work_dirs(database)
    for entry in home.work.iterdir() if home.work.exists() else []:
        if entry.name == CLAIMING or str(entry) in known:
            continue
        # A claim that never committed: the inbox still holds the file, so this copy goes.
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        notes.append(f"removed uncommitted work item {entry.name}")
    for doc in store_db.documents_in_states(database, (store_db.OCR,)):
        for partial in Path(doc["work_dir"]).glob("*.partial*"):
            partial.unlink(missing_ok=True)
        store_db.update_document(
            database, doc["id"], actor, "document.ocr_interrupted",
            {"note": "OCR did not finish before S4 stopped; queued again"},
            state=store_db.RECEIVED,
        )
        notes.append(f"{doc['id']}: OCR interrupted, queued again")
    return notes


# --------------------------------------------------------------------------- watching


class _QueueHandler(FileSystemEventHandler):
    def __init__(self, events: queue.Queue[Path]):
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for attribute in ("dest_path", "src_path"):
            value = getattr(event, attribute, "")
            if value:
                self.events.put(Path(os.fsdecode(value)))


class InboxWatcher:
    """watchdog over the inbox, feeding paths into a queue the pipeline drains.

    ``poll=True`` uses stat polling, needed on SMB/NFS shares that deliver no inotify events.
    Events are hints only: the periodic rescan finds anything the watcher missed.
    """

    def __init__(self, inbox: Path, poll: bool, poll_interval: float):
        self.inbox = inbox
        self.events: queue.Queue[Path] = queue.Queue()
        self.observer = PollingObserver(timeout=poll_interval) if poll else Observer()
        self.observer.schedule(_QueueHandler(self.events), str(inbox), recursive=True)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=10)

    def drain(self) -> set[Path]:
        seen: set[Path] = set()
        while True:
            try:
                seen.add(self.events.get_nowait())
            except queue.Empty:
                return seen


def batch_for_inbox_path(inbox: Path, path: Path, default: str) -> str:
    """A file in ``inbox/<folder>/…`` belongs to batch ``<folder>``; loose files to ``default``."""
    relative = path.relative_to(inbox)
    return display_name(relative.parts[0]) if len(relative.parts) > 1 else default
