"""`portal journal …`: a case file's journal in the documented format (docs/journal-format.md)."""

from __future__ import annotations

import sys
import uuid

import click
from sqlalchemy import select

from app.config import Config
from app.runtime import Runtime


@click.group(help="Case files' journals in the documented format (docs/journal-format.md).")
def journal() -> None:
    pass


@journal.command(
    "dump",
    help="Write a case file's journal as JSON lines: the case and its head, one line per entry "
    "(the hashed members, hash, key id, signature), the certificates as PEM.",
)
@click.argument("case_id")
def dump(case_id: str) -> None:
    from casefiles.errors import NotFound
    from casefiles.journal_dump import dump_journal

    try:
        wanted = uuid.UUID(case_id)
    except ValueError:
        raise click.BadParameter(f"not a case file id: {case_id}") from None
    # An operator's read of one case file, like `portal verify`: no actor to scope it to.
    runtime = Runtime(Config.from_env())
    try:
        with runtime.sessions() as session:
            out = sys.stdout.buffer
            for line in dump_journal(session, runtime.keyring, wanted):
                out.write(line)
            out.flush()
    except NotFound as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    finally:
        runtime.close()


@journal.command(
    "complete",
    help="Record what journals and consent chains lack, for data written before migration 0009: "
    "one signed record.completed entry per case file, holding the values of its rows as they "
    "are now, and the earlier consents as the first entry of each party's chain. Run it right "
    "after upgrading; case files that fail `portal verify` are left as they are.",
)
def complete() -> None:
    import app.models  # noqa: F401  (every table: the projection reads catalogue's by name)
    from casefiles.models import CaseFile
    from directory.consent_chain import start_earlier_chains
    from mailbox.verification import complete_case

    runtime = Runtime(Config.from_env())
    chains = completed = 0
    refused = []
    try:
        while True:  # one transaction per batch, so a long run commits as it goes
            with runtime.transaction() as session:
                started = start_earlier_chains(session, limit=500)
            chains += started
            if started < 500:
                break
        with runtime.sessions() as session:
            case_ids = list(session.scalars(select(CaseFile.id).order_by(CaseFile.created_at)))
        for start in range(0, len(case_ids), 100):
            with runtime.transaction() as session:
                for case_id in case_ids[start : start + 100]:
                    report, wrote = complete_case(session, session.get_one(CaseFile, case_id))
                    completed += wrote
                    if report.problems:
                        refused.append(f"{report.reference} {report.case_id}")
    finally:
        runtime.close()
    click.echo(f"{chains} consent chain(s) started, {completed} case file(s) completed")
    for name in refused:
        click.echo(f"not completed, it fails `portal verify`: {name}", err=True)
    sys.exit(1 if refused else 0)
