"""`portal journal …`: a case file's journal in the documented format (docs/journal-format.md)."""

from __future__ import annotations

import sys
import uuid

import click

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
