"""A case file's journal as JSON lines, to be checked without the portal.

The lines are described in docs/journal-format.md ("The dump"); tests/support/journal_checker.py
checks them with nothing but the standard library and `cryptography`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from casefiles.errors import NotFound
from casefiles.journal import entries, entry_fields
from casefiles.models import CaseFile, JournalEntry
from signing import Keyring
from signing.canonical import canonical_json

FORMAT = "einwohnerportal-journal/1"


def dump_journal(session: Session, keyring: Keyring, case_id: uuid.UUID) -> Iterator[bytes]:
    """The lines of a case file's dump: the case, each entry in order, the certificates."""
    case = session.get(CaseFile, case_id)
    if case is None:
        raise NotFound(f"no case file {case_id}")
    yield _line(
        {
            "type": "case",
            "format": FORMAT,
            "case_id": str(case.id),
            "reference": case.reference,
            "head_seq": case.head_seq,
            "head_hash": case.head_hash,
        }
    )
    key_ids: list[str] = []
    for entry in entries(session, case):
        yield _line(entry_line(entry))
        if entry.key_id not in key_ids:
            key_ids.append(entry.key_id)
    for key_id in key_ids:
        try:
            certificate = keyring.certificate(key_id)
        except KeyError:
            continue  # the checker names the entries whose certificate is missing
        yield _line(
            {"type": "certificate", "role": "seal", "key_id": key_id, "pem": _pem(certificate)}
        )
    yield _line({"type": "certificate", "role": "ca", "pem": _pem(keyring.ca_certificate)})


def entry_line(entry: JournalEntry) -> dict[str, Any]:
    """One entry: the hashed members exactly as hashed, then what proves them."""
    return {
        "type": "entry",
        "id": str(entry.id),
        **entry_fields(entry),
        "entry_hash": entry.entry_hash,
        "key_id": entry.key_id,
        "signature": base64.b64encode(entry.signature).decode("ascii"),
    }


def _line(value: dict[str, Any]) -> bytes:
    return canonical_json(value) + b"\n"


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
