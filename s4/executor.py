"""The OCR executor: where OCR jobs run. The line submits jobs and receives outcomes.

An executor never touches the database: it takes ``OcrJob``s and hands back events — the job
is done (with its ``OcrOutcome``), failed with a reason, or its worker crashed — and the line
records them. So the local pool below and remote workers are interchangeable.

``LocalPool`` runs one worker process per slot, each with its own pipe, so a crash or a hang
is charged to exactly the one job that caused it (a shared process pool breaks every job in
flight when one worker dies). A job that runs past its deadline has its worker killed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from s4.ocr import OcrJob, OcrOutcome, run_ocr_job, worker_init

log = logging.getLogger("s4.executor")


@dataclass(frozen=True)
class JobDone:
    job: OcrJob
    outcome: OcrOutcome


@dataclass(frozen=True)
class JobFailed:
    """The engine raised: ``error`` is the exception (an OSError may be the machine's)."""

    job: OcrJob
    error: BaseException


@dataclass(frozen=True)
class WorkerCrashed:
    """The worker process died or was killed (out of memory, a malformed page, a hang)."""

    job: OcrJob
    detail: str


ExecutorEvent = JobDone | JobFailed | WorkerCrashed
Engine = Callable[[OcrJob], OcrOutcome]


class OcrExecutor(Protocol):
    """What the line needs from wherever OCR runs."""

    @property
    def capacity(self) -> int: ...

    def in_flight(self) -> set[str]: ...

    def submit(self, job: OcrJob) -> None: ...

    def poll(self, timeout: float | None) -> list[ExecutorEvent]: ...

    def close(self) -> None: ...


def _worker_main(connection: Connection, engine: Engine,
                 initializer: Callable[[], None] | None) -> None:
    if initializer is not None:
        initializer()
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return  # the line closed the pipe: stop
        if job is None:
            return
        try:
            result: tuple[str, Any] = ("done", engine(job))
        except BaseException as exc:  # reported to the line, which decides what it means
            result = ("failed", exc)
        try:
            connection.send(result)
        except Exception as exc:  # e.g. an exception that cannot be pickled
            connection.send(("failed", RuntimeError(f"{type(exc).__name__}: {exc}")))


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    job: OcrJob | None = None
    deadline: float = 0.0


def _kill_worker(pid: int | None) -> None:
    """Kill a worker and, when it leads its own process group, its Tesseract children."""
    if pid is None:
        return
    try:
        if os.getpgid(pid) == pid and pid != os.getpgrp():
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class LocalPool:
    """``workers`` OCR processes on this machine (spawned: no inherited locks or threads)."""

    def __init__(self, workers: int, engine: Engine = run_ocr_job,
                 initializer: Callable[[], None] | None = worker_init,
                 job_timeout: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.workers = workers
        self.engine = engine
        self.initializer = initializer
        self.job_timeout = job_timeout
        self.clock = clock
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []

    @property
    def capacity(self) -> int:
        return self.workers

    def pids(self) -> list[int]:
        return [slot.process.pid for slot in self._slots if slot.process.pid]

    def in_flight(self) -> set[str]:
        return {slot.job.doc_id for slot in self._slots if slot.job is not None}

    def _start_slot(self) -> _Slot:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_worker_main, name="s4-ocr-worker",
                                        args=(theirs, self.engine, self.initializer),
                                        daemon=True)
        process.start()
        theirs.close()
        slot = _Slot(process, ours)
        self._slots.append(slot)
        return slot

    def _idle_slot(self) -> _Slot:
        for slot in self._slots:
            if slot.job is None and slot.process.is_alive():
                return slot
        if len(self._slots) >= self.workers:
            raise RuntimeError("all OCR workers are busy: submit only up to capacity")
        return self._start_slot()

    def submit(self, job: OcrJob) -> None:
        slot = self._idle_slot()
        slot.job = job
        slot.deadline = self.clock() + self.job_timeout
        slot.connection.send(job)

    def poll(self, timeout: float | None) -> list[ExecutorEvent]:
        """Events for jobs that finished, failed or crashed, waiting up to ``timeout``."""
        busy = [slot for slot in self._slots if slot.job is not None]
        if not busy:
            return []
        if timeout is not None:  # wake for the nearest deadline too
            timeout = max(0.0, min(timeout, min(s.deadline for s in busy) - self.clock()))
        handles: list[Any] = [s.connection for s in busy] + [s.process.sentinel for s in busy]
        ready = set(wait(handles, timeout=timeout))
        events: list[ExecutorEvent] = []
        for slot in busy:
            job = slot.job
            assert job is not None
            if slot.connection in ready:
                try:
                    kind, payload = slot.connection.recv()
                except (EOFError, OSError):  # the pipe closed: the process is gone
                    slot.process.join(timeout=5)
                    events.append(self._crashed(
                        slot, f"the OCR worker process died (exit {slot.process.exitcode})"))
                    continue
                slot.job = None
                events.append(JobDone(job, payload) if kind == "done" else JobFailed(job, payload))
            elif slot.process.sentinel in ready:
                slot.process.join(timeout=5)
                code = slot.process.exitcode
                events.append(self._crashed(slot, f"the OCR worker process died (exit {code})"))
            elif self.clock() >= slot.deadline:
                _kill_worker(slot.process.pid)
                events.append(self._crashed(
                    slot, f"the OCR worker took longer than {self.job_timeout:.0f} s and was "
                          "stopped"))
        return events

    def _crashed(self, slot: _Slot, detail: str) -> WorkerCrashed:
        job = slot.job
        assert job is not None
        slot.process.join(timeout=5)
        slot.connection.close()
        self._slots.remove(slot)
        log.warning("%s: %s", job.doc_id, detail)
        return WorkerCrashed(job, detail)

    def close(self) -> None:
        """Stop every worker now; unfinished jobs are the line's to resume at next start."""
        for slot in self._slots:
            if slot.job is None:
                with contextlib.suppress(OSError):
                    slot.connection.send(None)
            else:  # don't wait minutes for a long document to finish
                slot.process.terminate()
        for slot in self._slots:
            slot.process.join(timeout=10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
            slot.connection.close()
        self._slots.clear()
