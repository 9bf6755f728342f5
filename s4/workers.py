"""OCR worker lifecycle: workers die with the line that started them; leftovers are ended.

A worker left behind by a main process that was killed (kill -9, the out-of-memory killer)
keeps 100–200 MiB and may go on OCRing a document nobody is waiting for. So each worker:

* leads its own process group, so it can take its Tesseract (and other tool) children
  down with it;
* asks the kernel for SIGTERM when its parent dies (Linux ``PR_SET_PDEATHSIG``) and, on
  SIGTERM, kills its whole group;
* also watches ``os.getppid()`` from a thread, in case the signal cannot be delivered or the
  parent died before the request took effect;
* records itself (pid, kernel start time) in ``<home>/.ocr-workers/`` so a line started
  later can end any worker that still survives. A record is acted on only if the process
  with that pid has the same start time *and* the worker's process name: a pid the kernel
  has since given to an unrelated process is never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger("s4.workers")

WORKER_NAME = "s4-ocr-worker"  # /proc/<pid>/comm of every worker (15 characters at most)
REGISTRY_FOLDER = ".ocr-workers"
PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def registry_folder(home_root: Path) -> Path:
    return home_root / REGISTRY_FOLDER


def _prctl(option: int, value: int | bytes) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: the parent-watch thread still works
        return False


def set_worker_name() -> None:
    """Name the process so a later line can tell an S4 worker from a recycled pid."""
    _prctl(_PR_SET_NAME, ctypes.c_char_p(WORKER_NAME.encode()))  # type: ignore[arg-type]


def _end_group(*_: object) -> None:
    """Kill this worker and everything it started (its process group)."""
    with contextlib.suppress(OSError):
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)  # not a group leader after all: at least this process goes


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    _end_group()


def init_worker(registry: str, parent: int) -> None:
    """Initializer of each OCR worker process (before ``s4.ocr.worker_init``)."""
    os.setpgid(0, 0)
    set_worker_name()
    signal.signal(signal.SIGTERM, _end_group)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the line died before the request above took effect
        _end_group()
    threading.Thread(target=_watch_parent, args=(parent,), name="s4-parent-watch",
                     daemon=True).start()
    try:
        register(Path(registry), parent)
    except OSError as exc:  # the line still ends it when it dies; only the restart check is lost
        log.warning("cannot record OCR worker %d in %s: %s", os.getpid(), registry, exc)
    from s4.ocr import worker_init

    worker_init()


# --------------------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """The kernel's start time of the process (clock ticks since boot): with the pid, an
    identity no later process can have."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


# --------------------------------------------------------------------------- registry


def register(registry: Path, parent: int) -> Path:
    """Record this process as a worker of ``parent``."""
    registry.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    record = registry / f"{pid}.json"
    record.write_text(json.dumps({"pid": pid, "start_time": start_time(pid),
                                  "parent": parent}), encoding="utf-8")
    return record


def forget_finished(registry: Path) -> None:
    """Drop records of workers that are no longer running (after a clean shutdown)."""
    for record in registry.glob("*.json") if registry.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if not is_running(int(json.loads(record.read_text())["pid"])):
                record.unlink()


def end_leftovers(registry: Path, wait_seconds: float = 10.0) -> list[str]:
    """End workers of an earlier line that are still running; returns notes for the log.

    Call only while holding the home's lock (so no live line owns these workers).
    """
    notes: list[str] = []
    ended: list[int] = []
    for record in sorted(registry.glob("*.json")) if registry.is_dir() else []:
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
            pid, started = int(entry["pid"]), entry["start_time"]
        except (OSError, ValueError, KeyError, TypeError):
            record.unlink(missing_ok=True)
            continue
        same_process = (pid != os.getpid() and started is not None and is_running(pid)
                        and start_time(pid) == started and _process_name(pid) == WORKER_NAME)
        if same_process:
            fields = _stat_fields(pid)
            group = int(fields[2]) if fields else -1
            with contextlib.suppress(ProcessLookupError):
                if group == pid:  # it leads its group: its Tesseract children go too
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            ended.append(pid)
            notes.append(f"ended OCR worker {pid} left running by an earlier S4 process")
        record.unlink(missing_ok=True)
    deadline = time.monotonic() + wait_seconds
    while any(is_running(pid) for pid in ended) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is asynchronous; there is no event to wait on
    return notes
