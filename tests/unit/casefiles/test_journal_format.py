"""Known answers for the journal format (docs/journal-format.md): two fixed entries with their
canonical bytes, SHA-256 hashes and ECDSA signatures, written as literals.

Archives check these bytes decades after they were written. If a test here fails, the change
alters what existing journals hash or how they are signed: keep the old bytes, do not update
the literals (a new format would need a new version and a document of its own).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from casefiles import journal
from casefiles.journal import (
    GENESIS,
    canonical,
    compute_hash,
    entry_fields,
    head_of,
    new_journal,
    sealed_entry,
)
from casefiles.journal_dump import dump_journal
from casefiles.models import CaseFile, JournalEntry
from directory.actors import Actor
from directory.identifiers import make_ahvn13
from directory.models import AuthorityLevel, Role
from directory.operations import register_authority, register_person
from signing import FileSealKey, Keyring, sign, verify
from signing.canonical import canonical_json
from tests.support import journal_checker

# A fixed P-256 seal key and its self-signed certificate, made once for these tests only.
KEY_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg+EOU6fRZn41I6Sfe
Gx2ECxEWXZLYcNFtjPoHIQN32SGhRANCAATGmIwGXoF0+Iqcj2Yd00amKfZQeQG3
eWwbUxZqVGDVYHam5t03lHwpk6DytaF0lqVhlqN+2jvHfH6JH+hYXELK
-----END PRIVATE KEY-----
"""
CERT_PEM = b"""-----BEGIN CERTIFICATE-----
MIIBpDCCAUugAwIBAgIHSk9VUk5BTDAKBggqhkjOPQQDAjBPMQswCQYDVQQGEwJD
SDEdMBsGA1UECgwURWlud29obmVycG9ydGFsIFRlc3QxITAfBgNVBAMMGEpvdXJu
YWwgZm9ybWF0IHRlc3Qgc2VhbDAgFw0yNjAxMDEwMDAwMDBaGA8yMDU2MDEwMTAw
MDAwMFowTzELMAkGA1UEBhMCQ0gxHTAbBgNVBAoMFEVpbndvaG5lcnBvcnRhbCBU
ZXN0MSEwHwYDVQQDDBhKb3VybmFsIGZvcm1hdCB0ZXN0IHNlYWwwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAATGmIwGXoF0+Iqcj2Yd00amKfZQeQG3eWwbUxZqVGDV
YHam5t03lHwpk6DytaF0lqVhlqN+2jvHfH6JH+hYXELKoxAwDjAMBgNVHRMBAf8E
AjAAMAoGCCqGSM49BAMCA0cAMEQCIHytgu7dS2F0V0OE3aCs01CTL0xGjMRRihll
uQI85jHcAiBeFx/Sa4jy3lzpwsFFF73QnwmTF5Di1nW2oZmYE9evlA==
-----END CERTIFICATE-----
"""
KEY_ID = "385f21d942ca215d8dac396be4484321e5970ef97a93340a7a77776a7dba4b92"

CASE_ID = "3f2b8c1e-7a4d-4e9b-8f61-2c5d9e0a7b13"
CLERK_ID = "9c4e2a7b-1d3f-4b8e-a6c5-0f7e3d2b1a98"

# Entry 1: a clerk opens a case file. Non-ASCII text, a null, nested objects, a list.
ENTRY_1: dict[str, Any] = {
    "case_id": CASE_ID,
    "seq": 1,
    "recorded_at": "2026-03-02T09:15:30.123456+00:00",
    "actor": {"kind": "clerk", "id": CLERK_ID, "label": "Jörg Bühler (Gemeinde Kriens)"},
    "action": "case.opened",
    "payload": {
        "reference": "D-2026-000042",
        "title": "Gesuch für Müller",
        "authority": {"id": "51a7d3e9-6c2b-4f80-9e1d-a4b8c7f60e25", "name": "Gemeinde Kriens"},
        "external_ref": None,
        "parties": [
            {
                "id": "e8d1c4b7-3a6f-4e29-b05c-7d9a2f1e8c36",
                "name": "Anna Müller",
                "role": "applicant",
            }
        ],
    },
    "prev_hash": GENESIS,
}
ENTRY_1_BYTES = (
    b'{"action":"case.opened","actor":{"id":"9c4e2a7b-1d3f-4b8e-a6c5-0f7e3d2b1a98",'
    b'"kind":"clerk","label":"J\xc3\xb6rg B\xc3\xbchler (Gemeinde Kriens)"},'
    b'"case_id":"3f2b8c1e-7a4d-4e9b-8f61-2c5d9e0a7b13",'
    b'"payload":{"authority":{"id":"51a7d3e9-6c2b-4f80-9e1d-a4b8c7f60e25",'
    b'"name":"Gemeinde Kriens"},"external_ref":null,'
    b'"parties":[{"id":"e8d1c4b7-3a6f-4e29-b05c-7d9a2f1e8c36",'
    b'"name":"Anna M\xc3\xbcller","role":"applicant"}],"reference":"D-2026-000042",'
    b'"title":"Gesuch f\xc3\xbcr M\xc3\xbcller"},'
    b'"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    b'"recorded_at":"2026-03-02T09:15:30.123456+00:00","seq":1}'
)
ENTRY_1_HASH = "9bf4e3960398eecbb7e9d6b7ac1e83f5ebea22b63e91b0568ab9e98ffd5b3564"
ENTRY_1_SIGNATURE = (  # DER, made once with KEY_PEM over the 32 bytes of the hash
    "MEQCIDdruw/YZyxabNfnuInlpz/GBBJti+MhIiITt4qYUYzw"
    "AiAMH5F3TZMsDycllqbcN48F+udM42hW7Z2sRp0ChSRxbQ=="
)

# Entry 2: the portal adds a note. A time without microseconds, numbers, true/false/null,
# keys whose order depends on case and on non-ASCII, escapes, characters beyond the BMP.
ENTRY_2: dict[str, Any] = {
    "case_id": CASE_ID,
    "seq": 2,
    "recorded_at": "2026-03-02T09:16:00+00:00",
    "actor": {"kind": "system", "id": None, "label": "Einwohnerportal"},
    "action": "note.added",
    "payload": {
        "text": 'Zeile 1\nZeile 2: "zitiert", C:\\Akten\tEnde\u0007',
        "count": 3,
        "negative": -17,
        "zero": 0,
        "flags": [True, False, None],
        "nested": {"z": 1, "B": 2, "a": {"ä": "Umlaut", "z": "Zett", "Z": "gross"}},
        "post": "\u2709 \U0001f4e8 \u2028 \u20ac",
        "empty": {},
        "none": [],
    },
    "prev_hash": ENTRY_1_HASH,
}
ENTRY_2_BYTES = (
    b'{"action":"note.added","actor":{"id":null,"kind":"system",'
    b'"label":"Einwohnerportal"},"case_id":"3f2b8c1e-7a4d-4e9b-8f61-2c5d9e0a7b13",'
    b'"payload":{"count":3,"empty":{},"flags":[true,false,null],"negative":-17,'
    b'"nested":{"B":2,"a":{"Z":"gross","z":"Zett","\xc3\xa4":"Umlaut"},"z":1},"none":[],'
    b'"post":"\xe2\x9c\x89 \xf0\x9f\x93\xa8 \xe2\x80\xa8 \xe2\x82\xac",'
    b'"text":"Zeile 1\\nZeile 2: \\"zitiert\\", C:\\\\Akten\\tEnde\\u0007","zero":0},'
    b'"prev_hash":"9bf4e3960398eecbb7e9d6b7ac1e83f5ebea22b63e91b0568ab9e98ffd5b3564",'
    b'"recorded_at":"2026-03-02T09:16:00+00:00","seq":2}'
)
ENTRY_2_HASH = "7e200ec8517011b7a3eaa7d67af7cd5ad1ecfa23dd07021814f0fdbe5cf8f331"
ENTRY_2_SIGNATURE = (
    "MEUCIQDR4953bLqZCN2qPTm0/AzPBNipYyaDezqEe6jWa53I"
    "dgIgXy5O9dWW9hUCGupB0aVhjhLyipoBIHgd0gZUo3vUMVU="
)

KNOWN = [
    (ENTRY_1, ENTRY_1_BYTES, ENTRY_1_HASH, ENTRY_1_SIGNATURE),
    (ENTRY_2, ENTRY_2_BYTES, ENTRY_2_HASH, ENTRY_2_SIGNATURE),
]
ids = pytest.mark.parametrize(
    ("fields", "expected_bytes", "expected_hash", "signature"), KNOWN, ids=["entry1", "entry2"]
)


def certificate() -> x509.Certificate:
    return x509.load_pem_x509_certificate(CERT_PEM)


def keyring() -> Keyring:
    key = serialization.load_pem_private_key(KEY_PEM, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = certificate()
    return Keyring(cert, None, FileSealKey(key, cert), {KEY_ID: cert})


def columns(fields: dict[str, Any]) -> dict[str, Any]:
    """The journal_entries column values of a known entry."""
    return {
        "case_id": uuid.UUID(fields["case_id"]),
        "seq": fields["seq"],
        "recorded_at": dt.datetime.fromisoformat(fields["recorded_at"]),
        "actor_kind": fields["actor"]["kind"],
        "actor_id": fields["actor"]["id"],
        "actor_label": fields["actor"]["label"],
        "action": fields["action"],
        "payload": fields["payload"],
        "prev_hash": fields["prev_hash"],
    }


def actor_of(fields: dict[str, Any]) -> Actor:
    if fields["actor"]["kind"] == "system":
        return Actor.system()
    return Actor(
        account_id=uuid.UUID(CLERK_ID),
        role=Role.CLERK,
        display_name="Jörg Bühler",
        authority_name="Gemeinde Kriens",
    )


@ids
def test_an_entry_hash_covers_these_bytes(fields, expected_bytes, expected_hash, signature):
    entry = JournalEntry(**columns(fields))
    assert canonical(entry_fields(entry)) == expected_bytes
    assert hashlib.sha256(expected_bytes).hexdigest() == expected_hash
    assert compute_hash(entry) == expected_hash


def test_the_one_canonical_json_is_the_journals():
    assert canonical_json(ENTRY_1) == ENTRY_1_BYTES
    assert canonical_json(ENTRY_2) == ENTRY_2_BYTES


@ids
def test_writing_an_entry_seals_the_same_bytes(
    monkeypatch, fields, expected_bytes, expected_hash, signature
):
    """`record` and the bulk path both go through sealed_entry: the same hash, key id, a
    signature over the raw hash, and a stored payload equal to the hashed one."""
    monkeypatch.setattr(journal, "utcnow", lambda: dt.datetime.fromisoformat(fields["recorded_at"]))
    row = sealed_entry(
        keyring(),
        uuid.UUID(CASE_ID),
        fields["seq"],
        fields["prev_hash"],
        actor_of(fields),
        fields["action"],
        fields["payload"],
    )
    assert row["entry_hash"] == expected_hash
    assert row["key_id"] == KEY_ID
    assert row["payload"] == fields["payload"]
    assert verify(certificate(), bytes.fromhex(expected_hash), row["signature"])


def test_the_bulk_path_gives_the_same_entries_and_head(monkeypatch):
    monkeypatch.setattr(
        journal, "utcnow", lambda: dt.datetime.fromisoformat(ENTRY_1["recorded_at"])
    )
    rows = new_journal(
        keyring(), uuid.UUID(CASE_ID), actor_of(ENTRY_1), [("case.opened", ENTRY_1["payload"])]
    )
    assert [r["entry_hash"] for r in rows] == [ENTRY_1_HASH]
    assert head_of(rows) == {"head_seq": 1, "head_hash": ENTRY_1_HASH}
    assert head_of([]) == {}


@ids
def test_the_literal_signature_is_over_the_32_bytes_of_the_hash(
    fields, expected_bytes, expected_hash, signature
):
    der = base64.b64decode(signature)
    cert = certificate()
    assert verify(cert, bytes.fromhex(expected_hash), der)
    # Not over the hash's hex text, nor over the canonical bytes themselves.
    assert not verify(cert, expected_hash.encode("ascii"), der)
    assert not verify(cert, expected_bytes, der)
    # Plain ECDSA P-256 with SHA-256 on those 32 bytes, DER-encoded: what any library checks.
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    public_key.verify(der, bytes.fromhex(expected_hash), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    assert r > 0 and s > 0


def test_a_fresh_seal_signature_is_der_ecdsa_p256_sha256_over_the_raw_hash():
    seal = keyring().seal
    der = sign(seal, bytes.fromhex(ENTRY_1_HASH))
    decode_dss_signature(der)  # DER SEQUENCE {r, s}, not r || s
    public_key = certificate().public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(der, bytes.fromhex(ENTRY_1_HASH), ec.ECDSA(hashes.SHA256()))


def test_the_key_id_is_the_certificates_sha256():
    cert = certificate()
    assert keyring().seal.key_id == KEY_ID
    assert hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest() == KEY_ID


def test_floats_and_nan_never_reach_a_journal():
    with pytest.raises(TypeError, match="no floats"):
        sealed_entry(keyring(), uuid.UUID(CASE_ID), 1, GENESIS, Actor.system(), "x", {"a": 1.5})
    with pytest.raises(ValueError):
        canonical_json({"a": float("nan")})


def dump_of_the_literals() -> list[str]:
    """A dump written by hand from the literals above, as docs/journal-format.md describes it."""
    lines: list[dict[str, Any]] = [
        {
            "type": "case",
            "format": "einwohnerportal-journal/1",
            "case_id": CASE_ID,
            "reference": "D-2026-000042",
            "head_seq": 2,
            "head_hash": ENTRY_2_HASH,
        }
    ]
    for n, (fields, _, entry_hash, signature) in enumerate(KNOWN, start=1):
        lines.append(
            {
                "type": "entry",
                "id": f"00000000-0000-4000-8000-00000000000{n}",
                **fields,
                "entry_hash": entry_hash,
                "key_id": KEY_ID,
                "signature": signature,
            }
        )
    lines.append(
        {"type": "certificate", "role": "seal", "key_id": KEY_ID, "pem": CERT_PEM.decode()}
    )
    return [json.dumps(line, ensure_ascii=False) for line in lines]


def test_the_independent_checker_accepts_the_literals():
    report = journal_checker.check(dump_of_the_literals(), certificate())
    assert report.ok, report.problems
    assert report.entries == 2


@pytest.mark.parametrize(
    ("where", "value", "named"),
    [
        ("title", "Gesuch für Müller ", "entry 1 (case.opened): content does not match"),
        ("recorded_at", "2026-03-02T09:15:30.123457+00:00", "entry 1 (case.opened): content"),
        ("signature", ENTRY_2_SIGNATURE, "entry 1 (case.opened): signature is not valid"),
    ],
)
def test_the_independent_checker_names_a_changed_entry(where, value, named):
    lines = dump_of_the_literals()
    entry = json.loads(lines[1])
    if where == "title":
        entry["payload"]["title"] = value
    else:
        entry[where] = value
    lines[1] = json.dumps(entry, ensure_ascii=False)
    report = journal_checker.check(lines, certificate())
    assert any(p.startswith(named) for p in report.problems), report.problems


def test_stored_entries_hash_the_same_after_the_database(db_session):
    """The columns come back from SQLite and PostgreSQL as they were hashed (times to the
    microsecond, JSON payloads), and the dump of the stored journal passes the checker."""
    authority = register_authority(
        db_session, slug="kriens", name="Gemeinde Kriens", level=AuthorityLevel.COMMUNE
    )
    person = register_person(
        db_session, given_name="Anna", family_name="Müller", ahvn13=make_ahvn13(424242424)
    )
    case = CaseFile(
        id=uuid.UUID(CASE_ID),
        reference="D-2026-000042",
        title="Gesuch für Müller",
        authority_id=authority.id,
        party_id=person.id,
        head_seq=2,
        head_hash=ENTRY_2_HASH,
    )
    db_session.add(case)
    db_session.flush()
    for fields, _, entry_hash, signature in KNOWN:
        db_session.add(
            JournalEntry(
                **columns(fields),
                entry_hash=entry_hash,
                signature=base64.b64decode(signature),
                key_id=KEY_ID,
            )
        )
    db_session.flush()
    db_session.expire_all()
    stored = db_session.query(JournalEntry).filter_by(case_id=case.id).order_by("seq").all()
    assert [compute_hash(e) for e in stored] == [ENTRY_1_HASH, ENTRY_2_HASH]
    dump = [line.decode() for line in dump_journal(db_session, keyring(), uuid.UUID(CASE_ID))]
    report = journal_checker.check(dump, certificate())
    assert report.ok, report.problems
    for line, (fields, *_) in zip(dump[1:3], KNOWN, strict=True):
        assert {k: v for k, v in json.loads(line).items() if k in fields} == fields
