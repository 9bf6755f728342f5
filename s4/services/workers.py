"""Who is OCRing: the live ``s4 worker``s and the jobs waiting for them (``s4 status
--workers``). Read from the broker only; nothing here writes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from s4.config import OcrWorkerSettings
from s4.errors import EnvironmentProblem


@dataclass(frozen=True)
class WorkerRow:
    name: str  # host:pid of the worker's main process
    host: str
    concurrency: int
    jobs_in_hand: int
    pages_per_minute: float


@dataclass
class WorkersView:
    executor: str
    broker: str  # as shown: never with a password
    workers: list[WorkerRow] = field(default_factory=list)
    waiting: int = 0  # jobs in the broker's queue that no worker has taken yet


def ocr_workers(settings: OcrWorkerSettings) -> WorkersView:
    """The live workers and waiting jobs; for the local executor, an empty view."""
    if settings.executor != "celery":
        return WorkersView(settings.executor, "")
    import redis

    from s4.celery_ocr import (
        PAGES,
        PAGES_WINDOW_SECONDS,
        QUEUE,
        broker_problem,
        broker_url,
        key,
        redis_client,
        shown_broker,
    )
    from s4.executor_celery import live_workers

    shown = shown_broker(settings)
    client = redis_client(broker_url(settings))
    try:
        workers = live_workers(client)
        leases = client.mget(list(client.scan_iter(match=key("lease", "*"), count=500))
                             or ["-"])
        now = time.time()
        finished = client.zrangebyscore(PAGES, now - PAGES_WINDOW_SECONDS, now)
        waiting = int(client.llen(QUEUE))
    except redis.RedisError as exc:
        raise EnvironmentProblem(f"OCR broker {shown}: {broker_problem(exc, settings)}") from None
    finally:
        client.close()
    holders = [lease.decode().split("/")[0] for lease in leases if lease]
    pages: dict[str, int] = {}
    for member in finished:
        _job, name, count = member.decode().rsplit("|", 2)
        pages[name] = pages.get(name, 0) + int(count)
    rows = []
    for entry in sorted(workers, key=lambda w: w["name"]):
        minutes = max(1 / 60, min(PAGES_WINDOW_SECONDS, now - entry["since"]) / 60)
        rows.append(WorkerRow(entry["name"], entry["host"], entry["concurrency"],
                              holders.count(entry["name"]),
                              round(pages.get(entry["name"], 0) / minutes, 1)))
    return WorkersView("celery", shown, rows, waiting)
