"""`portal storage …`: the object store's housekeeping (orphans, case file keys)."""

from __future__ import annotations

import click

from app.config import Config
from app.runtime import Runtime, set_current


def _runtime() -> Runtime:
    runtime = Runtime(Config.from_env())
    set_current(runtime)
    return runtime


@click.group(help="The object store.")
def storage() -> None:
    pass


@storage.command(
    "gc", help="Delete stored objects that no row points at (left by processes that died)."
)
@click.option(
    "--older-than-hours",
    "hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Leave younger objects alone: their transaction may still be running.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def storage_gc(hours: float, dry_run: bool) -> None:
    import datetime as dt

    from storage.gc import collect_garbage

    runtime = _runtime()
    report = collect_garbage(
        runtime.sessions,
        runtime.objects.store,
        grace=dt.timedelta(hours=hours),
        dry_run=dry_run,
    )
    for key in report.orphans:
        click.echo(f"{'orphan' if dry_run else 'deleted'} {key}")
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{report.scanned} object(s) scanned, {len(report.orphans)} orphaned ({verb}), "
        f"{report.too_young} orphaned but younger than {hours:g} h (kept), "
        f"{report.temporary_files} stale temporary file(s) removed"
    )


@storage.command(
    "rewrap",
    help="Put the data keys of case files' objects stored before key groups under their case "
    "file's key (objects are not rewritten; safe to run again). `db upgrade` runs it.",
)
def storage_rewrap() -> None:
    from casefiles.case_keys import rewrap_all

    click.echo(f"rewrapped {rewrap_all(_runtime().transaction)} object(s) under case file keys")


@storage.command(
    "unwrap",
    help="Wrap every object's data key by the key-encryption key again (before `db downgrade` "
    "past migration 0013).",
)
def storage_unwrap() -> None:
    from casefiles.case_keys import unwrap_all

    click.echo(f"unwrapped {unwrap_all(_runtime().transaction)} object(s) from case file keys")
