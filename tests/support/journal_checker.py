"""An independent check of a journal dump, written from docs/journal-format.md alone.

It imports nothing of the portal, only the standard library and `cryptography`, so that it
checks the document as much as the code: if the portal's bytes drift from what the document
says, a real dump stops passing here. Run it as an archivist would:

    python tests/support/journal_checker.py dump.jsonl [--ca ca.pem]
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FORMAT = "einwohnerportal-journal/1"
GENESIS = "0" * 64
HASHED = ("case_id", "seq", "recorded_at", "actor", "action", "payload", "prev_hash")


@dataclass
class Report:
    case_id: str | None = None
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def canonical(value: Any) -> bytes:
    """Sorted keys, no white space, UTF-8 without \\u escapes, no NaN (the document, §2)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(line: dict[str, Any]) -> str:
    """The entry hash: SHA-256 of the canonical bytes of exactly the seven hashed members."""
    return hashlib.sha256(canonical({name: line[name] for name in HASHED})).hexdigest()


def signature_ok(certificate: x509.Certificate, hash_hex: str, signature: bytes) -> bool:
    """ECDSA P-256 / SHA-256 over the 32 bytes of the hash (not its hex text); DER signature."""
    public_key = certificate.public_key()
    if (
        not isinstance(public_key, ec.EllipticCurvePublicKey)
        or public_key.curve.name != "secp256r1"
    ):
        return False
    try:
        public_key.verify(signature, bytes.fromhex(hash_hex), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def check(lines: Iterable[str | bytes], trusted_ca: x509.Certificate | None = None) -> Report:
    """Check a dump: chain, hashes, signatures, certificates, head. Every problem names its
    entry ("entry 3 (delivery.opened): …")."""
    report = Report()
    parsed = [json.loads(line) for line in lines if line.strip()]
    cases = [p for p in parsed if p.get("type") == "case"]
    entries = [p for p in parsed if p.get("type") == "entry"]
    certs = [p for p in parsed if p.get("type") == "certificate"]
    if len(cases) != 1 or cases[0].get("format") != FORMAT:
        report.problems.append(f"not a {FORMAT} dump (one 'case' line expected)")
        return report
    case = cases[0]
    report.case_id = case["case_id"]
    report.entries = len(entries)
    seals = _seal_certificates(certs, trusted_ca, report)
    previous = GENESIS
    for expected_seq, line in enumerate(entries, start=1):
        name = f"entry {line.get('seq')} ({line.get('action')})"
        try:
            _check_entry(line, expected_seq, previous, case["case_id"], seals, name, report)
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"{name}: malformed ({exc!r})")
        previous = line.get("entry_hash", "")
    head_seq = entries[-1]["seq"] if entries else 0
    head_hash = entries[-1]["entry_hash"] if entries else None
    if (case["head_seq"], case["head_hash"]) != (head_seq, head_hash):
        report.problems.append(
            f"head: the case records entry {case['head_seq']} ({case['head_hash']}), "
            f"the journal ends at entry {head_seq} ({head_hash})"
        )
    return report


def _check_entry(
    line: dict[str, Any],
    expected_seq: int,
    previous: str,
    case_id: str,
    seals: dict[str, x509.Certificate],
    name: str,
    report: Report,
) -> None:
    if line["seq"] != expected_seq:
        report.problems.append(f"{name}: expected entry {expected_seq} here")
    if line["case_id"] != case_id:
        report.problems.append(f"{name}: belongs to case file {line['case_id']}")
    if line["prev_hash"] != previous:
        report.problems.append(f"{name}: does not follow the previous entry's hash")
    if entry_hash(line) != line["entry_hash"]:
        report.problems.append(f"{name}: content does not match its hash")
    certificate = seals.get(line["key_id"])
    if certificate is None:
        report.problems.append(f"{name}: no certificate for key id {line['key_id']}")
    elif not signature_ok(certificate, line["entry_hash"], base64.b64decode(line["signature"])):
        report.problems.append(f"{name}: signature is not valid")


def _seal_certificates(
    lines: list[dict[str, Any]], trusted_ca: x509.Certificate | None, report: Report
) -> dict[str, x509.Certificate]:
    """The seal certificates by key id; with a trusted CA, only those it issued."""
    seals: dict[str, x509.Certificate] = {}
    for line in lines:
        if line.get("role") != "seal":
            continue
        certificate = x509.load_pem_x509_certificate(line["pem"].encode("ascii"))
        if key_id(certificate) != line["key_id"]:
            report.problems.append(f"certificate {line['key_id']}: its key id does not match it")
            continue
        if trusted_ca is not None:
            try:
                certificate.verify_directly_issued_by(trusted_ca)
            except (ValueError, TypeError, InvalidSignature):
                report.problems.append(f"certificate {line['key_id']}: not issued by the CA")
                continue
        seals[line["key_id"]] = certificate
    return seals


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    trusted = None
    if len(argv) == 3 and argv[1] == "--ca":
        with open(argv[2], "rb") as f:
            trusted = x509.load_pem_x509_certificate(f.read())
    with open(argv[0], encoding="utf-8") as f:
        report = check(f, trusted)
    for problem in report.problems:
        print(f"  - {problem}")
    print(f"case file {report.case_id}: {report.entries} entries, ", end="")
    print("ok" if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
