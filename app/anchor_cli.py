"""`portal anchor …`: anchor the case files' heads, list the anchors, prove a case file's head."""

from __future__ import annotations

import json
import sys
import uuid
from typing import TYPE_CHECKING

import click

from app.config import Config
from app.runtime import Runtime

if TYPE_CHECKING:
    from casefiles.anchors import Anchor


@click.group(
    invoke_without_command=True,
    help="Anchor the heads of all case files now: a Merkle tree over them, chained to the "
    "previous anchor and time-stamped (PORTAL_TSA_URL, or the portal's own TSA). The scheduler "
    "does this every PORTAL_ANCHOR_INTERVAL seconds.",
)
@click.pass_context
def anchor(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from casefiles.anchors import AnchorRefused, anchor_heads

    runtime = Runtime(Config.from_env())
    try:
        if runtime.keyring.tsa is None:
            raise click.ClickException(
                "no time-stamping authority: set PORTAL_TSA_URL and PORTAL_TSA_CA, or keep the "
                "CA key in PORTAL_KEYS_DIR so that the portal can issue its own TSA key"
            )
        with runtime.transaction() as session:
            made = anchor_heads(session, runtime.keyring.tsa)
            line = _made(made) if made else "no head moved since the last anchor; none made"
    except AnchorRefused as error:
        raise click.ClickException(str(error)) from None
    finally:
        runtime.close()
    click.echo(line)


def _made(made: Anchor) -> str:
    from casefiles.anchors import LEAF_SIZE

    kept = len(made.changed_leaves) // LEAF_SIZE
    what = "all kept (a checkpoint)" if kept == made.tree_size else f"{kept} changed"
    return (
        f"anchor {made.seq}: {made.tree_size} head(s), {what}, root {made.root_hash}, "
        f"time-stamped by {made.tsa_source}"
    )


@anchor.command("list", help="The anchors: number, time-stamp, size, root, TSA.")
def list_anchors() -> None:
    from casefiles.anchors import all_anchors
    from signing.timestamp_checks import read_token

    runtime = Runtime(Config.from_env())
    try:
        with runtime.sessions() as session:
            for made in all_anchors(session):
                try:
                    when = read_token(made.tsa_token).gen_time.isoformat()
                except ValueError:
                    when = "(unreadable token)"
                click.echo(
                    f"{made.seq} {when} {made.tree_size} head(s) root {made.root_hash} "
                    f"({made.tsa_source})"
                )
    finally:
        runtime.close()


@anchor.command(
    "proof",
    help="Print as JSON the proof that an anchor (default: the latest) holds a case file's head: "
    "the leaf, its inclusion path, the time-stamped statement and its token "
    "(docs/journal-format.md §8).",
)
@click.argument("case_id")
@click.option("--anchor", "anchor_seq", type=int, default=None, help="The anchor's number.")
def proof(case_id: str, anchor_seq: int | None) -> None:
    from casefiles.anchor_proofs import inclusion_proof
    from casefiles.errors import NotFound

    try:
        wanted = uuid.UUID(case_id)
    except ValueError:
        raise click.BadParameter(f"not a case file id: {case_id}") from None
    runtime = Runtime(Config.from_env())
    try:
        with runtime.sessions() as session:
            found = inclusion_proof(session, wanted, anchor_seq)
    except NotFound as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    finally:
        runtime.close()
    click.echo(json.dumps(found, indent=2))
