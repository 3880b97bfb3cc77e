"""`portal catalogue …`: check service declarations, list the catalogue. Needs no database."""

from __future__ import annotations

from pathlib import Path

import click

from catalogue import loader
from catalogue.model import LANGUAGES, Rule


@click.group(help="The service catalogue: declarations under catalogue/services (YAML).")
def catalogue() -> None:
    pass


@catalogue.command(
    "check",
    help="Check the service declarations in DIR (default: the shipped catalogue): YAML, the JSON "
    "Schema and the rules across fields, steps and files. Prints each error as "
    "FILE:LINE: FIELD: MESSAGE and exits 1 if there is any.",
)
@click.argument(
    "directory",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
def check(directory: Path | None) -> None:
    services, errors = loader.load_directory(directory or loader.SHIPPED_DIR)
    for error in errors:
        click.echo(str(error))
    files = len({error.file for error in errors})
    if errors:
        click.echo(
            f"{len(errors)} error(s) in {files} file(s); {len(services)} service(s) ok", err=True
        )
        raise SystemExit(1)
    click.echo(f"{len(services)} service(s) ok", err=True)


@catalogue.command("list", help="List the services: id, title, level and who is responsible.")
@click.option(
    "--language", type=click.Choice(LANGUAGES), default="de", show_default=True, help="Titles in."
)
def list_services(language: str) -> None:
    from catalogue.registry import Catalogue

    listed = Catalogue.from_directory(loader.SHIPPED_DIR)
    for service in listed.all():
        click.echo(
            f"{service.id:<40} {service.title.get(language):<45} {service.level:<8} "
            f"{_rule(service.responsible)}"
        )
    if listed.errors:
        click.echo(
            f"{len(listed.errors)} declaration error(s): run `portal catalogue check`", err=True
        )
        raise SystemExit(1)


def _rule(rule: Rule) -> str:
    if rule.rule == "office":
        return f"office {rule.authority}"
    where = f" (commune from field {rule.commune_field})" if rule.commune_field else ""
    return f"{rule.rule} {rule.task}{where}"
