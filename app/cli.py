"""The `portal` command: demo, serve, worker, scheduler, verify, db, jobs, deliveries, storage."""

from __future__ import annotations

import importlib
import logging
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

import app as _app  # noqa: F401  (puts the project root first on sys.path; see app/__init__.py)
from app.config import Config, ConfigError
from app.keys import KeySetupError
from app.runtime import Runtime, set_current

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from casefiles.anchor_check import AnchorReport


def _runtime() -> Runtime:
    runtime = Runtime(Config.from_env())
    set_current(runtime)
    return runtime


# The command groups of their own modules, loaded when named (click's lazy subcommands): each
# command starts with only what it uses; `portal export` on a gigabyte is timed (bench/export.py).
_LAZY = {
    "keys": "app.keys_cli:keys",
    "journal": "app.journal_cli:journal",
    "anchor": "app.anchor_cli:anchor",
    "communes": "app.communes_cli:communes",
    "catalogue": "app.catalogue_cli:catalogue",
    "export": "app.export_cli:export",
    "storage": "app.storage_cli:storage",
}


class _PortalGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _LAZY:
            return super().get_command(ctx, cmd_name)
        module, _, name = _LAZY[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # Keys refused or missing (app/keys.py): one line for the operator, not a traceback.
        try:
            return super().invoke(ctx)
        except (KeySetupError, ConfigError) as error:
            raise click.ClickException(str(error)) from None


@click.group(
    cls=_PortalGroup, help="Einwohnerportal Luzern: resident portal with sealed case files."
)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def cli(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pikepdf announces its logger bridge at INFO on import; that is noise in every command.
    logging.getLogger("pikepdf").setLevel(logging.WARNING)


@cli.group(help="Database schema (Alembic migrations).")
def db() -> None:
    pass


@db.command("upgrade", help="Migrate the schema to the newest revision (or REVISION).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    from app.migrate import rewrap_after_upgrade, upgrade

    runtime = _runtime()
    upgrade(runtime.engine, revision)
    rewrapped = rewrap_after_upgrade(runtime)
    if rewrapped:
        click.echo(f"rewrapped {rewrapped} object(s) under case file keys")


@db.command("downgrade", help="Migrate the schema down to REVISION ('base' empties it).")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    from app.migrate import downgrade

    downgrade(_runtime().engine, revision)


@cli.command(help="Create the demo portal (schema, authorities, accounts) and print the accounts.")
def demo() -> None:
    from app.demo import create_demo, create_demo_closed, create_demo_orders, format_accounts
    from app.migrate import upgrade

    runtime = _runtime()
    upgrade(runtime.engine)
    accounts = create_demo(runtime)
    create_demo_orders(runtime)
    create_demo_closed(runtime)
    click.echo(format_accounts(accounts, runtime.config))


def _periodic_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How often the periodic work runs: the same settings for `serve` and `scheduler`."""
    options = [
        click.option(
            "--interval",
            default=300,
            show_default=True,
            envvar="PORTAL_SWEEP_INTERVAL",
            type=click.IntRange(min=1),
            help="Seconds between sweeps.",
        ),
        click.option(
            "--relay-interval",
            default=5.0,
            show_default=True,
            envvar="PORTAL_RELAY_INTERVAL",
            type=click.FloatRange(min=0.1),
            help="Seconds between two rounds of the outbox relay.",
        ),
        click.option(
            "--gc-interval-hours",
            default=24.0,
            show_default=True,
            envvar="PORTAL_GC_INTERVAL_HOURS",
            type=click.FloatRange(min=0),
            help="Hours between two runs of `storage gc` (0: never).",
        ),
        click.option(
            "--gc-grace-hours",
            default=24.0,
            show_default=True,
            envvar="PORTAL_GC_GRACE_HOURS",
            type=click.FloatRange(min=0),
            help="Objects younger than this are left to `storage gc`'s next run.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command(help="Serve the portal with the built-in server (production: gunicorn wsgi:app).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT", type=int)
@_periodic_options
def serve(
    host: str,
    port: int,
    interval: int,
    relay_interval: float,
    gc_interval_hours: float,
    gc_grace_hours: float,
) -> None:
    from werkzeug.serving import run_simple

    from app.downloads import PortalRequestHandler
    from app.factory import create_app
    from app.workers import periodic_jobs, start_background_loop

    app = create_app()
    runtime = app.extensions["portal"]
    set_current(runtime)  # the periodic jobs (recovery, gc) use this process's runtime
    if runtime.queue is None:
        # Embedded: no rq, no scheduler; the server relays and sweeps from a thread of its own.
        jobs = periodic_jobs(runtime, interval, gc_interval_hours, gc_grace_hours)
        start_background_loop(runtime, jobs, relay_interval)
    run_simple(
        host, port, app, threaded=True, use_reloader=False, request_handler=PortalRequestHandler
    )


@cli.command(help="Run background jobs from Redis (needs PORTAL_REDIS_URL).")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    from app.workers import ResilientWorker, relay_backlog

    runtime = _runtime()
    if runtime.queue is None:
        raise click.UsageError("PORTAL_REDIS_URL is not set; jobs run in-process without it.")
    # Whatever the outbox holds that rq lost (a Redis restart, say) goes back on the queue.
    relay_backlog(runtime)
    # SimpleWorker runs jobs in this process: no fork per job (3x the throughput here), and the
    # runtime with its pools and keys is built once. Ours waits out Redis outages.
    ResilientWorker([runtime.queue], connection=runtime.redis).work(
        burst=burst, with_scheduler=True, logging_level="WARNING"
    )


@cli.command(
    help="Enqueue the periodic jobs (sweep, recovery, anchors, storage gc) on Redis and relay the "
    "jobs outbox; run exactly one."
)
@_periodic_options
def scheduler(
    interval: int, relay_interval: float, gc_interval_hours: float, gc_grace_hours: float
) -> None:
    from app.workers import periodic_jobs, start_scheduler

    runtime = _runtime()
    if runtime.queue is None:
        raise click.UsageError("PORTAL_REDIS_URL is not set; `portal serve` sweeps in-process.")
    start_scheduler(
        runtime, periodic_jobs(runtime, interval, gc_interval_hours, gc_grace_hours), relay_interval
    )


@cli.command(
    help="Verify case files (all, or the given ids): digests, hash chain, signatures, every "
    "row against its journal; the consent chains (of the holders); and the anchors: their "
    "chain and time-stamps, and that every anchored head is still there. Exit 1: something "
    "failed; 3: values written before migration 0009 are not covered (`portal journal complete`). "
    "`portal verify PATH [--ca CA.pem]` checks an export offline (exit 1: failed, 2: not one)."
)
@click.argument("case_ids", nargs=-1)
@click.option("--ca", "ca_path", default=None, help="With an export's PATH: the CA to pin.")
def verify(case_ids: tuple[str, ...], ca_path: str | None) -> None:
    from app.export_verify import is_package_path, verify_package

    if is_package_path(case_ids):  # `portal verify PATH`: the export alone, no runtime
        verify_package(case_ids[0], ca_path)
    if ca_path is not None:
        raise click.UsageError("--ca goes with an export's PATH, not with case file ids")
    import app.models  # noqa: F401  (every table: the projection reads catalogue's by name)
    from app.verify_output import Tally, echo_case, echo_chains, exit_code
    from casefiles.anchor_check import check_anchors
    from casefiles.verify import verify_cases
    from mailbox.verification import case_rows, consent_parties, verify_consent_chains

    runtime = _runtime()
    try:
        ids = [uuid.UUID(c) for c in case_ids]
    except ValueError as exc:
        raise click.BadParameter(f"not a case file id: {exc}") from None
    cases = Tally()
    with runtime.sessions() as session:
        anchors = check_anchors(session, ids or None)
        # With the projection (mailbox/projection.py): every row against its journal too.
        for report in verify_cases(session, ids or None, case_rows):
            report.problems += anchors.case_problems.get(report.case_id, [])
            echo_case(cases, report)
        chains = echo_chains(verify_consent_chains(session, consent_parties(session, ids)))
        register_ok = _echo_register(session, ids)
    _echo_anchors(anchors)
    if ids and cases.checked < len(ids):
        click.echo(f"{len(ids) - cases.checked} case file id(s) not found", err=True)
        # A case file the anchors miss was deleted: 1.
        sys.exit(2 if anchors.ok and register_ok else 1)
    click.echo(f"{cases.summary('case file(s)')}; {chains.summary('consent chain(s)')}")
    sys.exit(exit_code(cases, chains, failed=not anchors.ok or not register_ok))


def _echo_register(session: Session, ids: list[uuid.UUID]) -> bool:
    """The destruction register (casefiles/destruction.py), and which asked-for ids it holds."""
    from casefiles.destruction import destroyed, register_length, verify_register

    problems = verify_register(session)
    status = "ok" if not problems else "FAILED"
    click.echo(f"destruction register: {register_length(session)} record(s), {status}")
    for problem in problems:
        click.echo(f"  - {problem.item}: {problem.message}")
    for case_id in ids:
        record = destroyed(session, case_id)
        if record is not None:
            reference = record.payload.get("reference")
            click.echo(
                f"case file {case_id} ({reference}) was destroyed on "
                f"{record.recorded_at:%Y-%m-%d} (destruction register entry {record.seq})",
                err=True,
            )
    return not problems


def _echo_anchors(anchors: AnchorReport) -> None:
    if not anchors.anchors:
        click.echo("anchors: none yet (`portal anchor` makes one)")
        return
    status = "ok" if not anchors.problems else "FAILED"
    click.echo(f"anchors: {anchors.anchors} checked, {anchors.latest}: {status}")
    for problem in anchors.problems:
        click.echo(f"  - {problem.item}: {problem.message}")


@cli.group(help="Background jobs.")
def jobs() -> None:
    pass


@jobs.command("recover", help="Find work the database shows as due and enqueue it again.")
def jobs_recover() -> None:
    click.echo(f"re-enqueued {_runtime().recover()} job(s)")


@cli.group("api-keys", help="Keys of the authorities' specialist applications.")
def api_keys() -> None:
    pass


@api_keys.command("create", help="Create an API client of an authority and print its key once.")
@click.option("--authority", "authority_ref", required=True, help="Authority id or slug.")
@click.option("--name", default="Fachapplikation", show_default=True, help="Client name.")
@click.option("--webhook-url", default=None, help="Where events are POSTed (https://…).")
def api_keys_create(authority_ref: str, name: str, webhook_url: str | None) -> None:
    from directory.api_clients import create_api_client, create_api_key, set_webhook_secret
    from directory.operations import find_authority

    runtime = _runtime()
    with runtime.transaction() as session:
        authority = find_authority(session, authority_ref)
        if authority is None:
            raise click.BadParameter(f"no authority {authority_ref!r}", param_hint="--authority")
        client = create_api_client(session, authority, name, webhook_url)
        _key, token = create_api_key(session, client)
        secret = set_webhook_secret(session, client) if webhook_url else None
        client_id = client.id
    click.echo(f"client:  {client_id} ({name}, {authority.name})")
    click.echo(f"api key: {token}")
    if secret:
        click.echo(f"webhook secret: {secret}")
    click.echo("Store these now: the portal keeps only a hash of the key.")


@cli.group(help="Authorities.")
def authorities() -> None:
    pass


@authorities.command(
    "seal",
    help="Give an authority its seal: issued into a file by the "
    "portal's CA, or a key in a PKCS#11 token (--ref pkcs11:token=…;object=…).",
)
@click.argument("authority_ref")
@click.option("--ref", "seal_ref", default=None, help="pkcs11:token=LABEL;object=LABEL")
def authorities_seal(authority_ref: str, seal_ref: str | None) -> None:
    from directory.operations import assign_seal, find_authority
    from signing.authority_keys import issue_authority_seal, load_seal

    runtime = _runtime()
    with runtime.transaction() as session:
        authority = find_authority(session, authority_ref)
        if authority is None:
            raise click.BadParameter(f"no authority {authority_ref!r}")
        if seal_ref is None:
            folder = runtime.config.keys_dir / "authorities"
            issue_authority_seal(runtime.keyring, folder, authority.slug, authority.name)
            seal_ref = f"file:{folder / authority.slug}"
        key = load_seal(seal_ref)  # fails here, clearly, if the key cannot be reached
        assign_seal(session, authority, seal_ref)
        subject = key.certificate.subject.rfc4514_string()
    click.echo(f"{authority.name}: seal {seal_ref} ({subject})")


@cli.group(help="Deliveries.")
def deliveries() -> None:
    pass


@deliveries.command("sweep", help="Mark unopened deliveries past their period as delivered.")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="The moment to judge by (ISO 8601 with offset); default: now.",
)
def deliveries_sweep(as_of: str | None) -> None:
    import datetime as dt

    from mailbox.operations import sweep_deemed_deliveries
    from storage.db import utcnow

    try:
        moment = dt.datetime.fromisoformat(as_of) if as_of else utcnow()
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-12-01T00:00:00+01:00") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give the time with its offset, e.g. +01:00")
    runtime = _runtime()
    total = 0
    while True:  # one transaction per batch, so a long sweep commits as it goes
        with runtime.transaction() as session:
            done = sweep_deemed_deliveries(session, moment, limit=500)
        total += done
        if done < 500:
            break
    click.echo(f"{total} deliveries now count as delivered (as of {moment.isoformat()})")


def main() -> None:
    cli()
