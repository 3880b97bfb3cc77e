"""One fault trial (issue 7): the portal deployed as in production (tests/support/deployment.py)
on PostgreSQL, Redis and S3 reached through TCP proxies (tests/support/outages.py), a client
sending a mass mailing with per-item idempotency keys and retries (tests/support/mailing.py), and
one fault in the middle of it. Then, with nobody running a command, the trial waits until every
notice is mailed, opens a few letters as their residents and waits for the receipts, and finally
runs `portal storage gc --older-than-hours 0` and `portal verify` as an operator would.

Used by tests/faults (300 letters) and `bench/faults.py` (3,000). The residents and letters are
the bench's (bench/world.py): one way to make a mailing's world in bulk, not two.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.config import Config
from app.runtime import Runtime
from bench.world import base_pdf, batch_bodies, seed
from directory.consent_chain import start_earlier_chains
from directory.models import Party
from mailbox.models import Delivery
from storage.gc import collect_garbage
from storage.outbox import OutboxJob
from tests.support.deployment import BIN, Deployment
from tests.support.faults import FAULTS, hurt, process_settings, wait_until
from tests.support.mailing import ClientReport, Mailing, Resident
from tests.support.outages import Proxied
from tests.support.smtp import SmtpServer

PASSWORD = "bench-password-not-used"  # bench.world.seed gives every resident this one


@dataclass
class Plan:
    letters: int = 300
    batch: int = 30
    clients: int = 2
    outage: float = 3.0  # seconds a cut lasts
    fault_after: int | None = None  # batches accepted before the fault (default: a third)
    timeout: float = 120.0  # for the mailing, and again for the work after it
    opened: int = 5  # letters opened by their residents: each must get its receipt
    settings: dict[str, str] = field(default_factory=dict)  # more PORTAL_* for the processes


@dataclass
class TrialResult:
    fault: str
    client: ClientReport
    fault_started: float  # seconds after the mailing started
    fault_ended: float
    recovered: float  # seconds from the fault's end until every notice was mailed, all jobs done
    receipts_after: float  # seconds from opening the letters until their receipts existed
    deliveries: int
    notices: int  # deliveries whose notice was sent
    mailed: int  # distinct notices (Message-IDs) the SMTP server received
    receipts: int
    undone_jobs: int
    orphans: int  # objects `storage gc` found and deleted after recovery
    orphans_after: int  # … and on a second run right after (must be 0)
    verify_ok: bool
    verify_summary: str
    detail: str = ""  # what the fault hit (a pid, how many connections)
    probe: str = ""  # the answer to a large request sent during a database cut
    ended_early: list[str] = field(default_factory=list)  # processes that crashed
    logs: Callable[[str], str] = field(default=lambda _name: "", repr=False)


def run_trial(
    fault: str, plan: Plan, direct: Config, proxied: Proxied, smtp: SmtpServer, folder: Path
) -> TrialResult:
    """The trial of `fault`: `direct` reaches the services as they are (for seeding and
    counting), `proxied.config` through the proxies (for the portal's processes)."""
    assert fault in FAULTS, fault
    runtime = Runtime(direct)
    deployment = Deployment(
        {**proxied.config.as_env(), **plan.settings},
        folder,
        per_process=process_settings(proxied.config),
    )
    # Stopped while the operator's commands run (it has done all it had to): saves seconds.
    stopping = threading.Thread(target=deployment.stop, name="stop-deployment")
    try:
        world = seed(runtime, plan.letters, with_email=True)
        _start_consent_chains(runtime)
        bodies = batch_bodies(world["numbers"], base_pdf(), plan.batch)
        try:
            deployment.start()
            result = _mailing(fault, plan, runtime, deployment, proxied, smtp, world, bodies)
        finally:
            stopping.start()
        result.logs = deployment.log_tail
        _after_recovery(result, runtime, {**direct.as_env(), **plan.settings}, folder)
        stopping.join()
        result.ended_early = deployment.ended_early
        return result
    finally:
        if stopping.is_alive():
            stopping.join()
        runtime.close()


def _after_recovery(
    result: TrialResult, runtime: Runtime, env: dict[str, str], folder: Path
) -> None:
    """What an operator checks: `storage gc` without grace (what is left to collect, then
    nothing: a dry run in-process), then `verify`, which proves gc removed nothing needed."""
    result.orphans = _collect(env, folder)
    store = runtime.objects.store
    later = collect_garbage(runtime.sessions, store, grace=dt.timedelta(0), dry_run=True)
    result.orphans_after = len(later.orphans)
    check = _portal(env, folder, "verify")
    result.verify_ok = check.returncode == 0
    lines = check.stdout.strip().splitlines() or ["(no output)"]
    # The summary, and on failure what failed (a case file's lines but for the good ones).
    result.verify_summary = "\n".join(
        [line for line in lines[:-1] if not re.search(r": ok \(", line)][:20] + lines[-1:]
    )


def _start_consent_chains(runtime: Runtime) -> None:
    """The seed inserts consent rows in bulk, without the signed entries of each party's
    consent chain that giving consent writes: start the chains as `portal journal complete`
    does for data older than them, or `portal verify` would call the consents not covered."""
    while True:
        with runtime.transaction() as session:
            if start_earlier_chains(session, limit=500) < 500:
                return


def _mailing(
    fault: str,
    plan: Plan,
    runtime: Runtime,
    deployment: Deployment,
    proxied: Proxied,
    smtp: SmtpServer,
    world: dict[str, Any],
    bodies: list[bytes],
) -> TrialResult:
    mailing = Mailing(deployment.base_url, world["api_key"], bodies, plan.clients)
    after = plan.fault_after if plan.fault_after is not None else max(1, len(bodies) // 3)
    window: dict[str, Any] = {}
    began = time.monotonic()

    def inject() -> None:
        try:
            mailing.wait_accepted(after, plan.timeout)
            window["detail"] = hurt(
                fault, plan.outage, runtime, deployment, proxied, mailing, window
            )
        except BaseException as error:  # reported by the trial, not lost in the thread
            window["error"] = error

    injector = threading.Thread(target=inject, name=f"fault-{fault}")
    injector.start()
    try:
        client = mailing.run(plan.timeout)
    finally:
        injector.join()
    if "error" in window:
        raise window["error"]
    ended = window["ended"]

    # Nobody runs a command from here on: the worker, the scheduler and the relay must do it.
    state = functools.partial(_state, runtime)
    wait_until(lambda: _backlog_done(runtime, plan.letters), plan.timeout, "notices", state)
    recovered = time.monotonic() - ended
    opened = _open_letters(runtime, deployment, plan.opened)
    opening = time.monotonic()
    done = len(opened)
    wait_until(lambda: _receipts(runtime, opened) == done, plan.timeout, "receipts", state)
    wait_until(lambda: _undone(runtime) == 0, plan.timeout, "the receipts' jobs", state)
    receipts_after = time.monotonic() - opening
    with runtime.sessions() as session:
        deliveries = session.scalar(select(func.count()).select_from(Delivery)) or 0
        notices = session.scalar(select(func.count()).where(Delivery.notice_sent_at.is_not(None)))
    return TrialResult(
        fault=fault,
        client=client,
        fault_started=window["started"] - began,
        fault_ended=ended - began,
        recovered=recovered,
        receipts_after=receipts_after,
        deliveries=deliveries,
        notices=notices or 0,
        mailed=len({m["Message-ID"] for m in smtp.messages if "bench.example" in str(m["To"])}),
        receipts=_receipts(runtime, opened),
        undone_jobs=_undone(runtime),
        orphans=-1,
        orphans_after=-1,
        verify_ok=False,
        verify_summary="",
        detail=window.get("detail", ""),
        probe=window.get("probe", ""),
    )


def _backlog_done(runtime: Runtime, notices: int) -> bool:
    with runtime.sessions() as session:
        sent = session.scalar(select(func.count()).where(Delivery.notice_sent_at.is_not(None)))
    return sent == notices and _undone(runtime) == 0


def _undone(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).where(OutboxJob.done_at.is_(None))) or 0


def _open_letters(runtime: Runtime, deployment: Deployment, count: int) -> list[str]:
    """Open `count` letters, each as its resident in the web portal; their delivery ids."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Party.email)
            .join(Party, Party.id == Delivery.recipient_party_id)
            .order_by(Party.email)
            .limit(count)
        ).all()
    for delivery_id, email in rows:
        Resident(deployment.base_url, str(email), PASSWORD).open_letter(str(delivery_id))
    return [str(delivery_id) for delivery_id, _ in rows]


def _receipts(runtime: Runtime, delivery_ids: list[str]) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Delivery.id.in_(delivery_ids), Delivery.receipt_document_id.is_not(None)
                )
            )
            or 0
        )


def _collect(env: dict[str, str], folder: Path) -> int:
    done = _check(_portal(env, folder, "storage", "gc", "--older-than-hours", "0"), "storage gc")
    with (folder / "storage-gc.log").open("a") as log:  # which keys: for whoever looks into it
        log.write(done.stdout)
    found = re.search(r"(\d+) orphaned \(deleted\)", done.stdout)
    if found is None:
        raise RuntimeError(f"storage gc said: {done.stdout}")
    return int(found.group(1))


def _portal(env: dict[str, str], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "portal"), *args],
        env={**os.environ, **env},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _check(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done


def _state(runtime: Runtime) -> str:
    """Where the work stands, for the message of a trial that timed out."""
    with runtime.sessions() as session:
        sent = session.scalar(select(func.count()).where(Delivery.notice_sent_at.is_not(None)))
        undone = session.execute(
            select(OutboxJob.func, OutboxJob.attempts, OutboxJob.next_attempt_at)
            .where(OutboxJob.done_at.is_(None))
            .limit(5)
        ).all()
    return f"{sent} notices sent; jobs not done: {_undone(runtime)}, first: {undone}"
