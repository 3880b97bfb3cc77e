"""One case file of an export: its journal (docs/journal-format.md §2–§6), its documents against
the journal's digests, and its anchor's inclusion proof (§8.6); docs/export-format.md §3.3–§3.6."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from signing import merkle
from signing.canonical import canonical_json
from signing.signatures import verify

JOURNAL_FORMAT = "einwohnerportal-journal/1"
ANCHOR_FORMAT = "einwohnerportal-anchor/1"
GENESIS = "0" * 64
HASHED = ("case_id", "seq", "recorded_at", "actor", "action", "payload", "prev_hash")
_LEAF = struct.Struct(">B16sQ32s")  # kind, subject, head seq, head hash (§8.1)
_CASE_LEAF = 0x01


@dataclass
class Journal:
    """What a journal proves, once checked: its entries and the documents it records."""

    problems: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (sha256, size)
    head: tuple[int, str | None] = (0, None)


def check_journal(raw: bytes, case_id: str, ca: x509.Certificate | None) -> Journal:
    """Chain, hashes, seq, signatures by key id, seal certificates issued by the CA, head."""
    journal = Journal()
    texts = raw.split(b"\n")  # not splitlines(): U+2028 is not escaped in canonical JSON
    if texts[-1] != b"":
        journal.problems.append("the last line is not ended")
    texts = texts[:-1] if texts[-1] == b"" else texts
    try:
        lines = [json.loads(text) for text in texts]
    except ValueError as error:  # UnicodeDecodeError is one
        journal.problems.append(f"not JSON lines ({error})")
        return journal
    if not lines or any(not isinstance(line, dict) for line in lines):
        journal.problems.append("a line is not a JSON object")
        return journal
    for number, (line, text) in enumerate(zip(lines, texts, strict=True), start=1):
        if canonical_json(line) != text:
            journal.problems.append(f"line {number} is not in canonical JSON")
    cases = [line for line in lines if line.get("type") == "case"]
    if (
        len(cases) != 1
        or lines[0].get("type") != "case"
        or cases[0].get("format") != JOURNAL_FORMAT
    ):
        journal.problems.append(f"not a {JOURNAL_FORMAT} dump (one 'case' line first)")
        return journal
    case = cases[0]
    if case.get("case_id") != case_id:
        journal.problems.append(f"the dump is of case file {case.get('case_id')}, not {case_id}")
    seals = _seals(lines, ca, journal.problems)
    entries = [line for line in lines if line.get("type") == "entry"]
    previous = GENESIS
    for expected, entry in enumerate(entries, start=1):
        name = f"entry {entry.get('seq')} ({entry.get('action')})"
        try:
            _check_entry(entry, expected, previous, case_id, seals, name, journal)
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            journal.problems.append(f"{name}: malformed ({error!r})")
        previous = str(entry.get("entry_hash", ""))
    journal.entries = entries
    journal.head = (len(entries), entries[-1].get("entry_hash") if entries else None)
    if (case.get("head_seq"), case.get("head_hash")) != journal.head:
        journal.problems.append(
            f"head: the dump records entry {case.get('head_seq')}, the journal ends at entry "
            f"{journal.head[0]} (entries removed or added)"
        )
    return journal


def _check_entry(
    entry: dict[str, Any],
    expected: int,
    previous: str,
    case_id: str,
    seals: dict[str, x509.Certificate],
    name: str,
    journal: Journal,
) -> None:
    problems = journal.problems
    if entry["seq"] != expected:
        problems.append(f"{name}: expected entry {expected} here")
    if entry["case_id"] != case_id:
        problems.append(f"{name}: belongs to case file {entry['case_id']}")
    if entry["prev_hash"] != previous:
        problems.append(f"{name}: does not follow the previous entry's hash")
    digest = hashlib.sha256(canonical_json({k: entry[k] for k in HASHED})).hexdigest()
    if digest != entry["entry_hash"]:
        problems.append(f"{name}: content does not match its hash (altered)")
    certificate = seals.get(entry["key_id"])
    if certificate is None:
        problems.append(f"{name}: no seal certificate of the CA for key id {entry['key_id']}")
    elif not verify(
        certificate, bytes.fromhex(entry["entry_hash"]), base64.b64decode(entry["signature"])
    ):
        problems.append(f"{name}: signature is not valid")
    if entry["action"] == "document.added":
        payload = entry["payload"]
        journal.versions[str(payload["version_id"])] = (str(payload["sha256"]), payload["size"])


def _seals(
    lines: list[dict[str, Any]], ca: x509.Certificate | None, problems: list[str]
) -> dict[str, x509.Certificate]:
    """The seal certificates by key id that the CA issued."""
    seals: dict[str, x509.Certificate] = {}
    for line in lines:
        if line.get("type") != "certificate" or line.get("role") != "seal":
            continue
        key_id = str(line.get("key_id"))
        try:
            certificate = x509.load_pem_x509_certificate(str(line["pem"]).encode("ascii"))
        except (KeyError, ValueError, UnicodeEncodeError):
            problems.append(f"seal certificate {key_id}: not readable")
            continue
        der = certificate.public_bytes(serialization.Encoding.DER)
        if hashlib.sha256(der).hexdigest() != key_id:
            problems.append(f"seal certificate {key_id}: its key id does not match it")
        elif ca is None or not _issued_by(certificate, ca):
            problems.append(f"seal certificate {key_id}: not issued by the CA")
        else:
            seals[key_id] = certificate
    return seals


def _issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False  # UnsupportedAlgorithm: a key type garbled into one nobody knows
    return True


def check_documents(
    journal: Journal, files: dict[str, tuple[str, int]], listed: dict[str, str]
) -> list[str]:
    """`files`: documents/<version_id>/<name> -> (sha256, size) in the package; `listed`: the
    version ids case.json names by path. Each must be a version the journal records, with its
    size and digest; every recorded version must be there, once."""
    problems = []
    found: dict[str, str] = {}
    for path, (sha256, size) in sorted(files.items()):
        parts = path.split("/")
        version = parts[1] if len(parts) == 3 else ""
        if version in found:
            problems.append(f"{path}: a second file for version {version}")
            continue
        recorded = journal.versions.get(version)
        if recorded is None:
            problems.append(f"{path}: no journal entry records this document (extra)")
            continue
        found[version] = path
        if recorded != (sha256, size):
            problems.append(f"{path}: not the bytes the journal records (altered or swapped)")
        if listed.get(path, version) != version:
            problems.append(f"{path}: case.json names it as another version")
    for version in sorted(set(journal.versions) - set(found)):
        problems.append(f"document version {version}: recorded in the journal, missing")
    return problems


def check_anchor(raw: bytes, case_id: str, journal: Journal) -> tuple[list[str], bytes, bytes]:
    """The proof's own consistency: the leaf is this case file's head and an entry of its
    journal, the audit path leads to the statement's root. Returns the problems, the token and
    the digest it must cover (the caller checks the token)."""
    try:
        proof = json.loads(raw)
        leaf = bytes.fromhex(proof["leaf"])
        kind, subject, seq, head = _LEAF.unpack(leaf)
        statement = str(proof["statement"]).encode("utf-8")
        tree = json.loads(statement)
        path = [bytes.fromhex(node) for node in proof["inclusion_path"]]
        token = base64.b64decode(proof["token"])
        reached = merkle.root_from_inclusion(
            int(proof["leaf_index"]), int(tree["tree_size"]), merkle.leaf_hash(leaf), path
        )
    except (ValueError, KeyError, TypeError, struct.error, binascii.Error) as error:
        return [f"not a readable anchor proof ({error!r})"], b"", b""
    problems = []
    if proof.get("format") != ANCHOR_FORMAT or tree.get("anchor") != ANCHOR_FORMAT:
        problems.append(f"not an {ANCHOR_FORMAT} proof")
    if kind != _CASE_LEAF or str(uuid.UUID(bytes=subject)) != case_id:
        problems.append("the leaf is not this case file's")
    if (seq, head.hex()) != journal.head:  # the writer adds anchor.json only for the head
        problems.append(f"the anchored head (entry {seq}) is not the journal's head")
    if (proof.get("head_seq"), proof.get("head_hash")) != (seq, head.hex()):
        problems.append("the leaf is not the head the proof names")
    if reached is None or reached.hex() != tree.get("root"):
        problems.append("the inclusion path does not lead to the anchor's root")
    return problems, token, hashlib.sha256(statement).digest()
