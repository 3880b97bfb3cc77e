"""`portal export`: case files as one zip for an archive or another authority
(docs/export-format.md)."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import NoReturn

import click

from app.config import Config
from app.runtime import Runtime
from casefiles.export.format import PACKAGINGS
from storage.durable import fsync_path


def _fail(message: str) -> NoReturn:
    click.echo(f"portal export: {message}", err=True)
    sys.exit(2)


def _case_ids(values: tuple[str, ...]) -> list[uuid.UUID]:
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            _fail(f"not a case file id: {value}")
    return ids


def _target(output: str, force: bool) -> Path:
    path = Path(output)
    if path.is_dir():
        _fail(f"{output} is a folder; give the path of the zip file to write")
    if path.exists() and not force:
        _fail(f"{output} exists; use --force to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        _fail(f"no folder {folder} to write {path.name} into")
    if not os.access(folder, os.W_OK | os.X_OK):
        _fail(f"cannot write into {folder}")
    return path


@click.command(
    "export",
    help="Export case files as one zip: a BagIt bag (--format bagit) or an eCH-0160 SIP "
    "(--format ech0160) with every document version, the signed journals, the receipts, the "
    "certificates and a README on how to verify it. Check it with `portal verify PATH`.",
)
@click.argument("case_ids", nargs=-1, required=True)
@click.option("--format", "packaging", type=click.Choice(PACKAGINGS), required=True)
@click.option("-o", "--output", required=True, help="The zip file to write.")
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
def export(case_ids: tuple[str, ...], packaging: str, output: str, force: bool) -> None:
    from casefiles.export import ExportError, write_export

    wanted = _case_ids(case_ids)
    target = _target(output, force)
    # An operator's export, like `portal journal dump`: no actor to scope it to.
    runtime = Runtime(Config.from_env())
    # Written beside the target and renamed when complete: a failure leaves nothing behind.
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    try:
        with os.fdopen(handle, "wb") as out, runtime.sessions() as session:
            summary = write_export(
                session,
                runtime.keyring,
                wanted,
                packaging,
                out,
                name=target.stem,
                write_behind=True,
            )
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
        fsync_path(target.parent)  # the new name too: a hand-over must survive a crash
    except ExportError as error:
        Path(temporary).unlink(missing_ok=True)
        _fail(str(error))
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        _fail(f"cannot write {output}: {error.strerror or error}")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        runtime.close()
    click.echo(
        f"{target}: {summary.packaging}, {len(summary.cases)} case file(s) "
        f"({', '.join(summary.cases)}), {summary.files} files, {summary.bytes} bytes"
    )
