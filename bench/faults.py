"""Faults under load (issue 7): the fault suite's trial at 3,000 letters, one fault at a time.

    .venv/bin/python -m bench.faults                 (or: make faults)
    .venv/bin/python -m bench.faults --faults s3-cut,web-worker-kill --letters 600

For each fault: a fresh PostgreSQL database, a Redis and an S3 server (moto's: ~300 PUT/s here,
the floor of this bench) of its own, each behind a TCP proxy; gunicorn (the repository's
gunicorn.conf.py, 2 workers), `portal worker` and `portal scheduler` with their production
settings; a client sending the letters in batches with per-item idempotency keys, retrying
503s after their Retry-After and broken connections at once; the fault after a third of the
batches (a cut lasts --outage seconds). Then, with nobody running a command: every notice
mailed, five letters opened by their residents and their receipts issued; then `portal storage
gc --older-than-hours 0` and `portal verify`. Prints one row per fault (tests/support/
fault_trial.py does the work; tests/faults runs the same at 300 letters).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project root first: `mailbox` must be ours, not the standard library's (see DESIGN.md).
sys.path.insert(0, str(ROOT))

from app.config import Config  # noqa: E402
from bench.world import create_database, portal_env  # noqa: E402
from tests.support.fault_trial import Plan, TrialResult, run_trial  # noqa: E402
from tests.support.faults import FAULTS  # noqa: E402
from tests.support.outages import proxied  # noqa: E402
from tests.support.private_redis import PrivateRedis  # noqa: E402
from tests.support.s3 import s3_url, start_s3_server  # noqa: E402
from tests.support.smtp import SmtpServer, start_smtp_server  # noqa: E402

BIN = Path(sys.executable).parent
ORDER = [
    "none",
    "s3-cut",
    "s3-blackhole",
    "redis-cut",
    "database-cut",
    "database-terminate",
    "web-worker-kill",
    "rq-worker-kill",
]
assert sorted(ORDER) == sorted(FAULTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100, help="letters per request")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds a cut lasts")
    parser.add_argument(
        "--faults", default=",".join(ORDER), help="comma-separated, of: " + ", ".join(ORDER)
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args()
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    plan = Plan(letters=args.letters, batch=args.batch, outage=args.outage, timeout=1200.0)

    smtp = start_smtp_server()
    # One S3 server: moto keeps every server's objects in one store of its process, emptied
    # after each trial (its reset), so that no trial sees another's objects as orphans.
    s3, stop_s3 = start_s3_server()
    results: list[TrialResult] = []
    started = time.monotonic()
    try:
        for fault in faults:
            print(f"{fault}: {FAULTS[fault]} ...", flush=True)
            try:
                result = _trial(fault, plan, smtp, s3, args.keep)
            finally:
                reset = urllib.request.Request(f"http://{s3}/moto-api/reset", method="POST")
                urllib.request.urlopen(reset, timeout=60).close()  # noqa: S310
            results.append(result)
            print(f"  {_row(result)}", flush=True)
    finally:
        stop_s3()
        smtp.stop()
    _report(plan, results, time.monotonic() - started)
    return 0 if all(_held(r, plan) for r in results) else 1


def _trial(fault: str, plan: Plan, smtp: SmtpServer, endpoint: str, keep: bool) -> TrialResult:
    work = Path(tempfile.mkdtemp(prefix=f"portal-faults-{fault}-", dir=ROOT.parent))
    database_url, drop_database = create_database()
    redis = PrivateRedis(work)
    redis.start()
    try:
        env = portal_env(work, database_url)
        env.update(
            PORTAL_STORAGE_URL=s3_url(endpoint, "portal-faults"),
            PORTAL_REDIS_URL=redis.url,
            PORTAL_SMTP_URL=smtp.url,
        )
        os.environ.update(env)  # the keys' passphrase and the secret key reach every process so
        subprocess.run(
            [str(BIN / "portal"), "db", "upgrade"], env=dict(os.environ), cwd=work, check=True
        )
        direct = Config.from_env()
        smtp.messages.clear()
        with proxied(direct, s3=(endpoint, "portal-faults")) as through:
            return run_trial(fault, plan, direct, through, smtp, work)
    finally:
        redis.stop()
        drop_database()
        if keep:
            print(f"  kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _held(result: TrialResult, plan: Plan) -> bool:
    """What the issue asks of every fault (tests/faults asserts the same, with reasons)."""
    client = result.client
    return (
        set(client.statuses) <= {200, 503}
        # A reset connection only where a web worker was killed with the request in it.
        and (client.connection_errors == 0 or result.fault == "web-worker-kill")
        and result.probe in ("", "503 Retry-After: 5")
        and client.without_retry_after == 0
        and not client.unexpected
        and result.deliveries == result.notices == result.mailed == plan.letters
        and result.receipts == plan.opened
        and result.undone_jobs == 0
        and result.orphans_after == 0
        and result.verify_ok
        and not result.ended_early
    )


def _answers(result: TrialResult) -> str:
    return ", ".join(f"{code}×{n}" for code, n in sorted(result.client.statuses.items()))


def _row(result: TrialResult) -> str:
    return (
        f"| {result.fault} | {_answers(result)} | {result.client.connection_errors} | "
        f"{result.fault_started:.1f}–{result.fault_ended:.1f} | {result.recovered:.1f} | "
        f"{result.receipts_after:.1f} | {result.deliveries} | {result.notices}/{result.mailed} | "
        f"{result.receipts} | {result.orphans} → {result.orphans_after} | "
        f"{'ok' if result.verify_ok else 'FAILED'} |"
    )


def _report(plan: Plan, results: list[TrialResult], seconds: float) -> None:
    print()
    print(
        f"{plan.letters} letters in batches of {plan.batch}, 2 clients; gunicorn 2 workers, "
        f"1 rq worker, 1 scheduler; PostgreSQL, Redis, moto S3, each behind a TCP proxy; "
        f"cuts of {plan.outage:g} s; {platform.machine()}, {os.cpu_count()} cores; "
        f"{seconds:.0f} s in all"
    )
    print()
    print(
        "| fault | answers (HTTP × count) | connection errors | fault (s into the run) | "
        "recovery (s) | receipts (s) | deliveries | notices sent/mailed | receipts | "
        "orphans (gc → again) | verify |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(_row(result))
    print()
    print(
        "recovery: from the fault's end until every notice was mailed and every job of the "
        "outbox done; receipts: from opening 5 letters until their receipts were issued."
    )
    for result in results:
        if result.probe:
            print(f"{result.fault}: an 8 MB request during the outage got: {result.probe}")
    for result in results:
        if not _held(result, plan):
            print(f"\n{result.fault} did not hold: {result}")
            print(result.verify_summary)


if __name__ == "__main__":
    sys.exit(main())
