"""`portal communes …`: import the communes and who is responsible for what in them; list them."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Config
from app.runtime import Runtime


@click.group(help="Communes, their BFS numbers and the authorities responsible per task.")
def communes() -> None:
    pass


@communes.command(
    "import",
    help="Create or update communes, authorities (by slug) and responsibilities from a CSV file "
    "(comma or semicolon) with the header canton,bfs,commune,task,authority_slug,authority_name,"
    "authority_level (optional: authority_email, authority_street, authority_postcode, "
    "authority_town, authority_qr_iban). A row without bfs, commune and task declares a fixed "
    "office. Nothing is deleted; a file with any bad row changes nothing.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the file; write nothing.")
def import_file(file: Path, check: bool) -> None:
    from directory.communes import CommuneFileError, import_communes, parse_communes_file

    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(
            f"{file}: not UTF-8 text (byte {error.start}); save the file as UTF-8"
        ) from None
    try:
        # The whole file is checked before the portal is even opened: a bad one touches nothing.
        table = parse_communes_file(text)
    except CommuneFileError as error:
        raise click.ClickException(
            f"{file}: nothing imported:\n" + "\n".join(f"  {p}" for p in error.problems)
        ) from None
    if check:
        click.echo(
            f"{file}: ok, {len(table.communes)} commune(s), {len(table.offices)} "
            f"authorit(ies), {len(table.responsibilities)} responsibilit(ies)"
        )
        return
    runtime = Runtime(Config.from_env())
    try:
        with runtime.transaction() as session:
            counts = import_communes(session, text)
            unsealed = _unsealed(session)
    finally:
        runtime.close()
    click.echo(counts.summary())
    if unsealed:
        click.echo(
            "without a seal yet (they cannot deliver sealed documents until then): "
            + ", ".join(unsealed)
            + "\n  give each one with: portal authorities seal SLUG"
        )


def _unsealed(session: Session) -> list[str]:
    from directory.models import Authority

    return list(
        session.scalars(select(Authority.slug).where(Authority.seal_ref.is_(None)).order_by("slug"))
    )


@communes.command("list", help="The communes with their BFS number and responsible authorities.")
def list_all() -> None:
    from directory.models import Authority, Responsibility
    from directory.routing import list_communes

    runtime = Runtime(Config.from_env())
    try:
        with runtime.transaction() as session:
            rows = session.execute(
                select(Responsibility.bfs, Responsibility.task, Authority.slug)
                .join(Authority, Authority.id == Responsibility.authority_id)
                .order_by(Responsibility.task)
            ).all()
            tasks: dict[int, list[str]] = {}
            for bfs, task, slug in rows:
                tasks.setdefault(bfs, []).append(f"{task}={slug}")
            lines = [
                f"{c.bfs:>5}  {c.canton}  {c.name:<24} {' '.join(tasks.get(c.bfs, []))}".rstrip()
                for c in list_communes(session)
            ]
    finally:
        runtime.close()
    click.echo(
        "\n".join(lines) if lines else "no communes: import some with `portal communes import`"
    )
