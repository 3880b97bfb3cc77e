"""The journal chains and signs entries; verify_case finds what was changed behind its back."""

from __future__ import annotations

import io

import pytest

from casefiles.documents import Upload, check_upload
from casefiles.journal import GENESIS, compute_hash, entries, record
from casefiles.operations import add_document, open_case
from casefiles.verify import verify_case
from directory.actors import Actor
from directory.identifiers import make_ahvn13
from directory.models import AuthorityLevel
from directory.operations import register_authority, register_person
from signing import verify as verify_signature
from tests.conftest import make_pdf


@pytest.fixture
def case(db_session):
    authority = register_authority(
        db_session, slug="test", name="Testamt", level=AuthorityLevel.CANTON
    )
    person = register_person(
        db_session, given_name="Anna", family_name="Muster", ahvn13=make_ahvn13(111222333)
    )
    return open_case(
        db_session,
        Actor.system(),
        title="Gesuch",
        authority=authority,
        parties=[(person, "applicant")],
    )


def test_entries_chain_and_are_signed(db_session, case, runtime):
    record(db_session, case, Actor.system(), "note.added", {"text": "Zweiter Eintrag"})
    record(db_session, case, Actor.system(), "note.added", {"text": "Dritter", "n": 3})
    journal = entries(db_session, case)
    assert [e.seq for e in journal] == [1, 2, 3]
    assert journal[0].prev_hash == GENESIS
    for previous, entry in zip(journal, journal[1:], strict=False):
        assert entry.prev_hash == previous.entry_hash
    for entry in journal:
        assert compute_hash(entry) == entry.entry_hash
        cert = runtime.keyring.certificate(entry.key_id)
        assert verify_signature(cert, bytes.fromhex(entry.entry_hash), entry.signature)
    assert case.head_seq == 3 and case.head_hash == journal[-1].entry_hash


def test_verify_case_reports_an_edited_payload(db_session, case):
    entry = record(db_session, case, Actor.system(), "note.added", {"text": "original"})
    assert verify_case(db_session, case).ok
    entry.payload = {"text": "changed"}
    db_session.flush()
    report = verify_case(db_session, case)
    assert [p.item for p in report.problems] == ["journal entry 2 (note.added)"]
    assert "altered" in report.problems[0].message


def test_document_is_encrypted_at_rest_and_recorded(db_session, case, runtime):
    content = make_pdf("Geheimer Inhalt")
    checked = check_upload(Upload("gesuch.pdf", io.BytesIO(content)))
    version = add_document(db_session, Actor.system(), case, checked)
    checked.close()
    with runtime.objects.store.open(version.blob.key) as raw:
        stored = raw.read()
    assert content not in stored and b"Geheimer" not in stored
    added = entries(db_session, case)[-1]
    assert added.action == "document.added"
    assert added.payload["sha256"] == version.blob.sha256
    assert verify_case(db_session, case).ok


def test_payload_must_be_json(db_session, case):
    with pytest.raises(TypeError):
        record(db_session, case, Actor.system(), "bad", {"when": object()})
