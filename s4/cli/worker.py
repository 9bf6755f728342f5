"""``s4 worker``: OCR jobs from the line's Redis broker, on this machine (no database)."""

from __future__ import annotations

import os

import click

from s4.cli.common import EXIT_ENVIRONMENT, Context, fail, out


@click.command()
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), default=None,
              help="OCR processes, one Tesseract page each (default: one per CPU core).")
@click.pass_obj
def worker(obj: Context, concurrency: int | None) -> None:
    """Run OCR jobs for a line whose s4.toml says [ocr] executor = "celery".

    Reads only [ocr] from this home's s4.toml (broker, broker_password_env); a worker
    machine needs no database, inbox or store, only S4 and Tesseract at the line's versions.
    Stop it with Ctrl-C or SIGTERM: jobs in hand finish first; a worker killed mid-job has
    its job handed to another.

    \b
    Example:
      S4_REDIS_PASSWORD=... s4 --home /etc/s4-worker worker --concurrency 8
    """
    import redis

    from s4.celery_ocr import (
        QUEUE,
        WorkerRegistry,
        broker_problem,
        broker_url,
        make_app,
        redis_client,
        shown_broker,
    )

    settings = obj.home.settings().ocr
    processes = concurrency or os.cpu_count() or 1
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one Tesseract thread per process: the cores are ours
    url = broker_url(settings)
    try:
        redis_client(url).ping()
    except redis.RedisError as exc:
        fail(f"OCR broker {shown_broker(settings)}: {broker_problem(exc, settings)}",
             EXIT_ENVIRONMENT)
    app = make_app(settings)
    registry = WorkerRegistry(url, processes)
    registry.start()

    from celery import signals

    @signals.worker_ready.connect(weak=False)
    def _ready(**_: object) -> None:
        registry.ready.set()
        out.print(f"s4 worker ready: {processes} OCR process(es), broker "
                  f"{shown_broker(settings)}", highlight=False)

    try:
        app.worker_main(["worker", f"--concurrency={processes}", f"--queues={QUEUE}",
                         "--pool=prefork", "--without-gossip", "--without-mingle",
                         "--loglevel=INFO", f"--hostname=s4-{os.getpid()}@%h"])
    finally:
        registry.stopped.set()
        registry.join(timeout=5)
