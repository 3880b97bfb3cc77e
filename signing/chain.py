"""Hash-chained, signed entries: the one entry format (docs/journal-format.md §2–§4).

A case file's journal and a party's consent chain are both such chains. They differ only in the
member that names whose chain it is (`case_id`, `party_id`); the hashed bytes, the signature and
the links are the same, so this module knows nothing of either and both use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from cryptography import x509

from signing.canonical import canonical_json
from signing.keys import Keyring
from signing.signatures import sign, verify

GENESIS = "0" * 64


class ChainActor(Protocol):
    """Who wrote an entry, as the entry keeps it (directory.actors.Actor is one)."""

    @property
    def kind(self) -> str: ...

    @property
    def ref(self) -> str | None: ...

    @property
    def label(self) -> str: ...


def hashed_object(owner: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """What an entry hash covers, from an entry's column values; `owner` names the member
    that holds whose chain it is (`case_id` for journals, `party_id` for consent chains)."""
    return {
        owner: str(row[owner]),
        "seq": row["seq"],
        "recorded_at": row["recorded_at"].isoformat(),
        "actor": {"kind": row["actor_kind"], "id": row["actor_id"], "label": row["actor_label"]},
        "action": row["action"],
        "payload": row["payload"],
        "prev_hash": row["prev_hash"],
    }


def entry_hash(owner: str, row: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of an entry's canonical bytes."""
    return hashlib.sha256(canonical_json(hashed_object(owner, row))).hexdigest()


def _no_float(text: str) -> Any:
    # Floats have no portable canonical form (Python's repr is not RFC 8785's), and an archive
    # must rebuild the hashed bytes exactly: write amounts and periods as integers or strings.
    raise TypeError(f"journal payloads hold no floats (got {text}); use an integer or a string")


def stored_payload(payload: Mapping[str, Any]) -> Any:
    """The payload as it will be stored and hashed; fails early on values JSON cannot hold."""
    return json.loads(canonical_json(payload), parse_float=_no_float)


def sealed_row(
    keyring: Keyring,
    owner: str,
    owner_id: uuid.UUID,
    seq: int,
    prev_hash: str,
    actor: ChainActor,
    action: str,
    payload: Mapping[str, Any],
    *,
    recorded_at: dt.datetime,
    key_id: str | None = None,
) -> dict[str, Any]:
    """The column values of the entry after `prev_hash`, hashed and signed (`key_id`: the
    seal's, when the caller has it at hand; it costs a certificate hash)."""
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        owner: owner_id,
        "seq": seq,
        "recorded_at": recorded_at,
        "actor_kind": actor.kind,
        "actor_id": actor.ref,
        "actor_label": actor.label,
        "action": action,
        "payload": stored_payload(payload),
        "prev_hash": prev_hash,
    }
    row["entry_hash"] = entry_hash(owner, row)
    row["signature"] = sign(keyring.seal, bytes.fromhex(row["entry_hash"]))
    row["key_id"] = key_id or keyring.seal.key_id
    return row


def link_problems(
    owner: str,
    rows: Iterable[Mapping[str, Any]],
    certificate: Callable[[str], x509.Certificate],
) -> Iterator[tuple[Mapping[str, Any], str]]:
    """The faults of a chain's entries (given in the order of `seq`): gaps, broken links,
    altered content, bad signatures; each with its entry."""
    previous = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row["seq"] != expected_seq:
            yield row, f"sequence gap: expected entry {expected_seq}, found {row['seq']}"
        if row["prev_hash"] != previous:
            yield row, "does not follow the previous entry's hash"
        if not hmac.compare_digest(entry_hash(owner, row), row["entry_hash"]):
            yield row, "content does not match its hash (altered)"
        try:
            signed = verify(
                certificate(row["key_id"]), bytes.fromhex(row["entry_hash"]), row["signature"]
            )
        except (KeyError, ValueError):
            signed = False
        if not signed:
            yield row, "signature is not valid"
        previous = row["entry_hash"]
