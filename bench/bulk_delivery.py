"""Mass delivery through the batch API, against the floor of the same work done raw.

    .venv/bin/python -m bench.bulk_delivery --n 100000      (or: make bench N=100000)

Delivers N letters (one ~30 KB PDF each, distinct residents) with POST /api/v1/deliveries/batch
(1000 a request) to the portal running under gunicorn on PostgreSQL and a folder store. Then, in
the same run and on the same disk, measures the floor: the same bytes written with the folder
store's durable put one by one, and as many rows as the mailing wrote COPY'd into PostgreSQL.
Prints letters/s and bench/floor, and runs `portal verify` on 50 of the new case files.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project root first: `mailbox` must be ours, not the standard library's (see DESIGN.md).
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from app.config import Config  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from bench import floor  # noqa: E402
from bench.world import (  # noqa: E402
    base_pdf,
    batch_bodies,
    create_database,
    letter_pdf,
    listening,
    portal_env,
    seed,
)

BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="letters (issue's figure: 100000)")
    parser.add_argument("--batch", type=int, default=1000, help="letters per request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent client connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--keep", action="store_true", help="keep database and folder")
    parser.add_argument(
        "--trace", action="store_true", help="print each request's duration every 10 batches"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="portal-bench-", dir=ROOT.parent))  # the project's disk
    database_url, drop_database = create_database()
    server = None
    try:
        os.environ.update(portal_env(work, database_url))
        env = dict(os.environ)
        subprocess.run([str(BIN / "portal"), "db", "upgrade"], env=env, check=True, cwd=work)
        runtime = Runtime(Config.from_env())
        with_email = runtime.queue is not None  # notices need a queue, or they run in-request
        print(f"seeding {args.n} residents (e-mail: {with_email}) ...", flush=True)
        world = seed(runtime, args.n, with_email)
        base = base_pdf()
        print(f"building {args.n} letters of {len(base)} bytes ...", flush=True)
        bodies = batch_bodies(world["numbers"], base, args.batch)
        server, port = start_gunicorn(env, args, work)

        print(f"delivering {args.n} letters in {len(bodies)} requests ...", flush=True)
        seconds = deliver_batches(port, world["api_key"], bodies, args.clients, args.trace)
        del bodies
        rows = _count_rows(runtime)
        stop_server(server)
        server = None

        print("measuring the floor ...", flush=True)
        files_s = floor.write_files(
            work / "floor-objects", [letter_pdf(base, i) for i in range(args.n)]
        )
        width = floor.average_width(runtime.engine, floor.BULK_TABLES)
        copy_s = floor.copy_rows(runtime.engine, sum(rows.values()), width)
        floor_s = files_s + copy_s

        _report(args, runtime, rows, seconds, files_s, copy_s, floor_s, width)
        failed = _verify_sample(runtime, env, work)
        if runtime.queue is not None:
            runtime.queue.delete(delete_jobs=True)  # the notices: no worker runs in the bench
        runtime.close()
        return 1 if failed else 0
    finally:
        if server is not None:
            stop_server(server)
        if args.keep:
            print(f"kept: {database_url} and {work}")
        else:
            drop_database()
            shutil.rmtree(work, ignore_errors=True)


def start_gunicorn(
    env: dict[str, str], args: argparse.Namespace, work: Path
) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    command = [
        str(BIN / "gunicorn"),
        f"--workers={args.workers}",
        f"--worker-class={args.worker_class}",
        f"--threads={args.threads}",
        f"--bind=127.0.0.1:{port}",
        "--timeout=600",
        "--log-level=warning",
        "--config=python:bench.gunicorn_conf",
        "wsgi:app",
    ]
    log = (work / "gunicorn.log").open("wb")
    ready = work / "ready"
    ready.mkdir()
    env = env | {"BENCH_READY_DIR": str(ready)}
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while not listening(f"127.0.0.1:{port}") or len(list(ready.iterdir())) < args.workers:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start, see {work / 'gunicorn.log'}")
        time.sleep(0.1)
    return server, port


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(30)


def deliver_batches(
    port: int, api_key: str, bodies: list[bytes], clients: int, trace: bool = False
) -> float:
    """POST every body over `clients` keep-alive connections; the wall-clock seconds."""
    queue = iter(range(len(bodies)))
    durations: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                index = next(queue, None)
            if index is None or errors:
                break
            sent = time.perf_counter()
            conn.request("POST", "/api/v1/deliveries/batch", body=bodies[index], headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if trace:
                with lock:
                    durations.append(time.perf_counter() - sent)
                    if len(durations) % 10 == 0:  # every 10 batches: each one's seconds
                        print(
                            f"  batches {len(durations) - 9:4d}-{len(durations):4d} "
                            f"(+{time.perf_counter() - started:6.1f} s): "
                            + " ".join(f"{d:.2f}" for d in durations[-10:]),
                            flush=True,
                        )
            if response.status != 200:
                errors.append(f"request {index}: HTTP {response.status} {payload[:500]!r}")
                continue
            results = json.loads(payload)["results"]
            bad = [r for r in results if r["status"] != 201]
            if bad:
                errors.append(f"request {index}: {len(bad)} items failed, first: {bad[0]}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return seconds


def _count_rows(runtime: Runtime) -> dict[str, int]:
    """The rows the mailing wrote, table by table (the seeded residents are not counted)."""
    with runtime.engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in floor.BULK_TABLES
        }


def _report(
    args: argparse.Namespace,
    runtime: Runtime,
    rows: dict[str, int],
    seconds: float,
    files_s: float,
    copy_s: float,
    floor_s: float,
    width: int,
) -> None:
    with runtime.engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar_one()
    total = sum(rows.values())
    print()
    print(
        f"environment   {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, PostgreSQL {pg}, gunicorn {args.workers}x "
        f"{args.worker_class} (threads {args.threads}), {args.clients} client connections, "
        f"jobs: {'rq' if runtime.queue is not None else 'in-process'}"
    )
    print(
        f"rows written  {total} ({total / args.n:.1f} a letter: "
        + ", ".join(f"{t} {c}" for t, c in rows.items())
        + ")"
    )
    print(
        f"floor         {floor_s:8.1f} s  = files {files_s:.1f} s (FolderStore.put one by one) "
        f"+ COPY {copy_s:.1f} s ({total} rows of ~{width} B)"
    )
    print(f"bench         {seconds:8.1f} s  for {args.n} letters")
    print(f"letters/s     {args.n / seconds:8.0f}   (goal >= 1000)")
    print(f"bench/floor   {seconds / floor_s:8.2f}   (goal <= 2)")


def _verify_sample(runtime: Runtime, env: dict[str, str], work: Path) -> bool:
    with runtime.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM case_files ORDER BY random() LIMIT 50")).scalars()
        case_ids = [str(i) for i in ids]
    result = subprocess.run(
        [str(BIN / "portal"), "verify", *case_ids],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
    )
    print(f"verify        {result.stdout.strip().splitlines()[-1]}")
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
    return result.returncode != 0


if __name__ == "__main__":
    sys.exit(main())
