"""`portal verify` from the operator's side: a clean portal passes, every kind of tampering fails
with the case file and the item named."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from sqlalchemy import delete, func, select, update

from casefiles.models import CaseFile, DocumentVersion, JournalEntry
from storage.blobs import Blob
from tests.conftest import login
from tests.functional.test_core_loop import deliver_letter
from tests.support.export_world import damage_object
from tests.support.services import portal_executable


def run_verify(runtime, *args, cwd):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    return subprocess.run(
        [portal_executable(), "verify", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def delivered(client, demo, pdf, runtime):
    """Two delivered case files; returns their ids (the first is the one tampered with)."""
    login(client, demo["clerk"])
    for n in (1, 2):
        response = deliver_letter(
            client, demo["resident"]["ahvn13"], pdf(f"Brief {n}"), subject=f"Brief {n}"
        )
        assert response.status_code == 302
    with runtime.sessions() as session:
        return [c.id for c in session.scalars(select(CaseFile).order_by(CaseFile.created_at))]


def test_clean_portal_verifies(runtime, delivered, tmp_path):
    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 case file(s) checked, 0 failed" in result.stdout
    one = run_verify(runtime, str(delivered[1]), cwd=tmp_path)
    assert one.returncode == 0 and "1 case file(s) checked" in one.stdout


def _reference(runtime, case_id):
    with runtime.sessions() as session:
        return session.get_one(CaseFile, case_id).reference


def _flip_stored_byte(runtime, case_id):
    with runtime.sessions() as session:
        version = session.scalars(
            select(DocumentVersion)
            .join(DocumentVersion.document)
            .where(DocumentVersion.document.has(case_id=case_id))
        ).first()
        key = version.blob.key
    damage_object(runtime, key)
    return "stored object"


# Rows are changed with plain Core statements on the tables, behind the domain's back, as
# someone with database access would.
JOURNAL = JournalEntry.__table__
BLOBS = Blob.__table__


def _entry(case_id, seq):
    return (JOURNAL.c.case_id == case_id) & (JOURNAL.c.seq == seq)


def _edit_journal_row(runtime, case_id):
    with runtime.engine.begin() as conn:
        conn.execute(update(JOURNAL).where(_entry(case_id, 2)).values(actor_label="Jemand"))
    return "journal entry 2"


def _delete_entry(runtime, case_id):
    with runtime.engine.begin() as conn:
        conn.execute(delete(JOURNAL).where(_entry(case_id, 2)))
    return "journal entry 3"


def _delete_last_entry(runtime, case_id):
    with runtime.engine.begin() as conn:
        last = conn.scalar(select(func.max(JOURNAL.c.seq)).where(JOURNAL.c.case_id == case_id))
        conn.execute(delete(JOURNAL).where(_entry(case_id, last)))
    return "journal head"


def _swap_entries(runtime, case_id):
    with runtime.engine.begin() as conn:
        for a, b in ((2, -2), (3, 2), (-2, 3)):
            conn.execute(update(JOURNAL).where(_entry(case_id, a)).values(seq=b))
    return "journal entry 2"


def _edit_digest(runtime, case_id):
    with runtime.sessions() as session:
        version = session.scalars(
            select(DocumentVersion).where(DocumentVersion.document.has(case_id=case_id))
        ).first()
        blob_id = version.blob_id
    with runtime.engine.begin() as conn:
        conn.execute(update(BLOBS).where(BLOBS.c.id == blob_id).values(sha256="0" * 64))
    return "digest differs from the one in the journal"


def _forge_signature(runtime, case_id):
    with runtime.engine.begin() as conn:
        signature = conn.scalar(select(JOURNAL.c.signature).where(_entry(case_id, 1)))
        forged = bytearray(signature)
        forged[-3] ^= 0x40
        conn.execute(update(JOURNAL).where(_entry(case_id, 1)).values(signature=bytes(forged)))
    return "signature is not valid"


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_stored_byte,
        _edit_journal_row,
        _delete_entry,
        _delete_last_entry,
        _swap_entries,
        _edit_digest,
        _forge_signature,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_tampering_is_detected_and_named(runtime, delivered, tamper, tmp_path):
    target, untouched = delivered
    expected_item = tamper(runtime, target)
    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    failing = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert len(failing) == 1
    assert _reference(runtime, target) in failing[0] and str(target) in failing[0]
    assert expected_item in result.stdout
    assert f"{_reference(runtime, untouched)} {untouched}: ok" in result.stdout


def test_unknown_case_id_is_reported(runtime, tmp_path):
    # One argument that is not a case file id is taken as an export's path (`portal verify PATH`).
    result = run_verify(runtime, "not-an-id", cwd=tmp_path)
    assert result.returncode == 2
    assert "not-an-id: neither a case file id nor a file" in result.stderr
    # Among several ids, a malformed one is named as such.
    result = run_verify(runtime, str(uuid.uuid4()), "not-an-id", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a case file id" in result.stderr
