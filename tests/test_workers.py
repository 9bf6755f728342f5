"""OCR workers die with the line (kill -9 of the main process), and a restarted line ends a
leftover worker only when it really is one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from s4 import workers
from s4.context import HomeContext
from s4.line import Line
from tests.conftest import wait_for, write_scan


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = workers._stat_fields(int(entry.name))
            if fields and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # gone while we looked
        return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_kill_9_of_the_line_takes_its_workers_and_tesseract_with_it(home, watcher_factory):
    write_scan(home.inbox / "long.tif", pages=6, lines=["Borsetshire Council", "A long record"])
    watcher = watcher_factory(home)
    watcher.wait_ready()
    main = watcher.process.pid

    def ocr_running() -> tuple[list[int], list[int]] | None:
        pool = [p for p in _children(main) if "spawn_main" in _cmdline(p)]
        tools = [c for p in pool for c in _children(p) if _comm(c) == "tesseract"]
        return (pool, tools) if tools else None

    pool, tools = wait_for(ocr_running, 120, "Tesseract running in an OCR worker", 0.02)
    os.kill(main, signal.SIGKILL)  # only the main process, as the out-of-memory killer does
    watcher.process.wait(timeout=30)
    wait_for(lambda: not any(workers.is_running(p) for p in pool + tools), 30,
             "the workers and their Tesseract children to be gone")


def _fake_worker(registry: Path, named: bool) -> tuple[subprocess.Popen, int]:
    """A real process registered like a worker (named like one or not), with a child in its
    process group standing in for Tesseract. Returns the process and the child's pid."""
    code = (
        "import os, signal, subprocess, sys\n"
        "from pathlib import Path\n"
        "from s4 import workers\n"
        "os.setpgid(0, 0)\n"
        "if sys.argv[2] == '1':\n"
        "    workers.set_worker_name()\n"
        "workers.register(Path(sys.argv[1]), os.getppid())\n"
        "child = subprocess.Popen(['sleep', '600'])\n"
        "print(child.pid, flush=True)\n"
        "signal.pause()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(registry), "1" if named else "0"],
                               stdout=subprocess.PIPE, text=True)
    child = int(process.stdout.readline())
    return process, child


def test_restart_ends_a_leftover_worker_but_never_an_unrelated_process(home):
    registry = workers.registry_folder(home.root)
    leftover, leftover_child = _fake_worker(registry, named=True)
    stranger, stranger_child = _fake_worker(registry, named=False)  # pid recorded, not S4's
    recycled, recycled_child = _fake_worker(registry, named=True)
    record = registry / f"{recycled.pid}.json"  # its pid was recorded by an earlier process
    entry = json.loads(record.read_text())
    record.write_text(json.dumps({**entry, "start_time": entry["start_time"] - 1}))
    try:
        line = Line(HomeContext.open(home, "tester"), workers=1)
        try:
            line.recover()
        finally:
            line.close()
            line.ctx.close()
        assert leftover.wait(timeout=30) == -signal.SIGKILL
        wait_for(lambda: not workers.is_running(leftover_child), 30,
                 "the leftover worker's child to be gone")
        for process, child in ((stranger, stranger_child), (recycled, recycled_child)):
            assert process.poll() is None and workers.is_running(child)
        assert not list(registry.glob("*.json"))  # every record was dealt with
    finally:
        for process, child in ((stranger, stranger_child), (recycled, recycled_child),
                               (leftover, leftover_child)):
            for pid in (child, process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=30)
