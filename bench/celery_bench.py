"""``make bench`` (after bench.py): the same batch through the local pool and through Celery.

Starts a private ``redis-server`` on a free loopback port and ``s4 worker`` with one process
per core on this machine, then runs ``s4 run`` on bench.py's corpus with ``[ocr] executor``
"local" and "celery", alternating, best round of each. It also measures what the broker
costs: the round trip of a job that no worker OCRs (a job from a line at another S4
version is refused at once: send, take, answer, collect), Redis's transfer rate for a
scan-sized value, and the line's CPU time per document (recording is one process, the only
database writer). From those it projects pages/minute for 1, 2, 4 and 8 worker machines and
says what saturates first. Not a timed test: on a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench as plain_bench  # noqa: E402  (bench/bench.py: the corpus maker)

LINK_MEGABYTES_PER_SECOND = 110.0  # a 1 Gbit/s office network, what councils usually have


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(folder: Path, port: int) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL)
    import redis

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.1)  # a benchmark, not a test: polling a port that is starting
    raise SystemExit("redis-server did not start")


def make_home(home: Path, executor: str, port: int) -> None:
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([str(BIN / "s4"), "--home", str(home), "init"], check=True,
                   stdout=subprocess.DEVNULL)
    text = (home / "s4.toml").read_text()
    text = text.replace('executor = "local"', f'executor = "{executor}"')
    text = text.replace('broker = "redis://127.0.0.1:6379/0"',
                        f'broker = "redis://127.0.0.1:{port}/0"')
    (home / "s4.toml").write_text(text)


def run_line(corpus: Path, home: Path) -> tuple[float, float]:
    """Wall seconds and the line process's own CPU seconds (not its OCR children's)."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    started = time.monotonic()
    log = home / "bench-run.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([str(BIN / "s4"), "--home", str(home), "run", "--batch",
                                    "bench", str(corpus)], env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"s4 run failed ({code}): see {log}")
    return seconds, usage.ru_utime + usage.ru_stime


def broker_round_trip(port: int, rounds: int, sample: Path) -> float:
    """Seconds for one job through the broker and a worker, with no OCR in it."""
    import redis

    from s4.celery_ocr import RESULTS, TASK, fingerprint, make_app, sha256
    from s4.config import OcrWorkerSettings

    settings = OcrWorkerSettings(executor="celery", broker=f"redis://127.0.0.1:{port}/0")
    app = make_app(settings)
    client = redis.Redis(port=port)
    data = sample.read_bytes()
    times = []
    for number in range(rounds):
        job = f"BENCH-{number}-{time.time_ns()}"
        started = time.monotonic()
        client.set(f"s4:input:{job}", data, ex=600)
        app.send_task(TASK, args=[{
            "key": job, "doc_id": "BENCH", "attempt": 1, "source_name": sample.name,
            "settings": {}, "max_file_bytes": 1 << 30, "input_sha256": sha256(data),
            "fingerprint": {**fingerprint(), "s4": "bench-refused"}, "lease_seconds": 30,
            "job_seconds": 60}], task_id=job)
        while True:
            _, raw = client.blpop([RESULTS], timeout=30) or (None, None)
            if raw is None:
                raise SystemExit("no answer from the worker within 30 s")
            if json.loads(raw)["key"] == job:
                break
        times.append(time.monotonic() - started)
        client.delete(f"s4:input:{job}")
    app.close()
    return sorted(times)[len(times) // 2]


def transfer_rate(port: int, megabytes: int = 16) -> float:
    """MB/s for SET then GET of a scan-sized value (both directions of one job)."""
    import redis

    client = redis.Redis(port=port)
    data = os.urandom(megabytes * 1024 * 1024)
    started = time.monotonic()
    for _ in range(3):
        client.set("s4:bench:transfer", data)
        client.get("s4:bench:transfer")
    client.delete("s4:bench:transfer")
    return 3 * 2 * megabytes / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40, help="minimum pages in the corpus")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    files = plain_bench.make_corpus(args.workdir / "corpus", args.pages, args.seed)
    pages = plain_bench.count_pages(files)
    corpus = args.workdir / "corpus" / "pdf"
    megabytes = sum(f.stat().st_size for f in files) / 2**20
    print(f"corpus: {len(files)} documents, {pages} pages ({megabytes:.1f} MB); {cores} cores")
    port = free_port()
    redis_process = start_redis(args.workdir / "redis", port)
    worker_home = args.workdir / "celery-worker"
    make_home(worker_home, "celery", port)
    worker_log = (args.workdir / "celery-worker.log").open("wb")
    worker = subprocess.Popen([str(BIN / "s4"), "--home", str(worker_home), "worker",
                               "--concurrency", str(cores)], stdout=worker_log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        round_trip = broker_round_trip(port, 20, files[0])  # also waits for the worker
        rate = transfer_rate(port)
        local_times, celery_times, line_cpu = [], [], []
        for number in range(1, args.rounds + 1):
            for executor, times in (("local", local_times), ("celery", celery_times)):
                home = args.workdir / f"home-{executor}"
                make_home(home, executor, port)
                seconds, cpu = run_line(corpus, home)
                times.append(seconds)
                if executor == "celery":
                    line_cpu.append(cpu)
            print(f"round {number}: local {local_times[-1]:.1f}s, celery {celery_times[-1]:.1f}s")
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=120)
        redis_process.terminate()
        redis_process.wait(timeout=30)
    local_rate = pages / (min(local_times) / 60)
    celery_rate = pages / (min(celery_times) / 60)
    per_core = celery_rate / cores
    cpu_per_document = min(line_cpu) / len(files)
    pages_per_document = pages / len(files)
    mb_per_page = megabytes / pages * 2  # the scan goes out, the PDF comes back (about as big)
    limits = {
        "the line (recording, one process)": 60 / cpu_per_document * pages_per_document,
        "the network (1 Gbit/s)": LINK_MEGABYTES_PER_SECOND / mb_per_page * 60,
        "Redis (loopback transfer rate)": rate / mb_per_page * 60,
    }
    first, ceiling = min(limits.items(), key=lambda item: item[1])
    projections = {m: round(min(m * cores * per_core, ceiling), 1) for m in (1, 2, 4, 8)}
    result = {
        "documents": len(files), "pages": pages, "cores": cores,
        "local_pages_per_minute": round(local_rate, 1),
        "celery_pages_per_minute": round(celery_rate, 1),
        "ratio": round(celery_rate / local_rate, 3),
        "broker_round_trip_ms": round(round_trip * 1000, 1),
        "redis_transfer_mb_per_second": round(rate, 1),
        "line_cpu_ms_per_document": round(cpu_per_document * 1000, 1),
        "limits_pages_per_minute": {k: round(v, 1) for k, v in limits.items()},
        "saturates_first": first,
        f"projected_pages_per_minute_machines_of_{cores}_cores": projections,
        "local_seconds": [round(t, 1) for t in local_times],
        "celery_seconds": [round(t, 1) for t in celery_times],
    }
    (args.workdir / "celery-results.json").write_text(json.dumps(result, indent=2))
    print(f"local pool: {local_rate:.1f} pages/minute; celery (worker on this machine): "
          f"{celery_rate:.1f} pages/minute; ratio {result['ratio']:.3f}")
    print(f"per job through the broker: {result['broker_round_trip_ms']} ms; Redis moves "
          f"{rate:.0f} MB/s; the line spends {result['line_cpu_ms_per_document']} ms CPU a "
          "document")
    for machines, projected in projections.items():
        print(f"  {machines} worker machine(s) of {cores} cores: {projected} pages/minute")
    print(f"saturates first: {first} at about {ceiling:.0f} pages/minute")


if __name__ == "__main__":
    main()
