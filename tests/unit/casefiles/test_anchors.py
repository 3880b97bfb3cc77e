"""Anchoring at the domain level: only what changed is kept, checkpoints bound the replay,
proofs of older anchors still hold, and an anchor is refused over a lost journal end."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from casefiles.anchor_check import check_anchors, trust_roots
from casefiles.anchor_proofs import check_inclusion_proof, inclusion_proof
from casefiles.anchors import (
    LEAF_SIZE,
    AnchorRefused,
    all_anchors,
    anchor_heads,
    anchors_since_checkpoint,
)
from casefiles.journal import keyring_of, record
from casefiles.models import CaseFile, JournalEntry
from casefiles.operations import open_case
from directory.actors import Actor
from directory.identifiers import make_ahvn13
from directory.models import AuthorityLevel
from directory.operations import register_authority, register_person


@pytest.fixture
def cases(db_session):
    authority = register_authority(
        db_session, slug="anker", name="Ankeramt", level=AuthorityLevel.CANTON
    )
    person = register_person(
        db_session, given_name="Anna", family_name="Anker", ahvn13=make_ahvn13(444555666)
    )
    return [
        open_case(
            db_session,
            Actor.system(),
            title=f"Gesuch {n}",
            authority=authority,
            parties=[(person, "applicant")],
        )
        for n in range(3)
    ]


def _note(session, case):
    record(session, case, Actor.system(), "note.added", {"text": "weiter"})


def test_changes_are_kept_and_checkpoints_bound_the_replay(db_session, cases):
    tsa = keyring_of(db_session).tsa
    first = anchor_heads(db_session, tsa)
    assert (first.seq, first.tree_size, len(first.changed_leaves)) == (1, 3, 3 * LEAF_SIZE)
    assert anchor_heads(db_session, tsa) is None  # nothing moved
    sizes = []
    for _ in range(3):
        _note(db_session, cases[0])
        sizes.append(len(anchor_heads(db_session, tsa).changed_leaves) // LEAF_SIZE)
    # One moved head each time, until the kept changes (1 + 1 + 1) would reach the tree's 3.
    assert sizes == [1, 1, 3]
    assert [a.seq for a in anchors_since_checkpoint(db_session)] == [4]
    assert [a.seq for a in anchors_since_checkpoint(db_session, upto=3)] == [1, 2, 3]
    roots = trust_roots(keyring_of(db_session))
    for seq in (1, 3, 4):
        proof = inclusion_proof(db_session, cases[0].id, seq)
        assert proof["head_seq"] == {1: 1, 3: 3, 4: 4}[seq]
        assert check_inclusion_proof(proof, roots) == []
    report = check_anchors(db_session)
    assert report.ok and report.anchors == 4, (report.problems, report.case_problems)


def test_an_anchor_is_refused_over_a_lost_journal_end(db_session, cases):
    tsa = keyring_of(db_session).tsa
    _note(db_session, cases[1])
    anchor_heads(db_session, tsa)
    db_session.execute(
        delete(JournalEntry).where(JournalEntry.case_id == cases[1].id, JournalEntry.seq == 2)
    )
    first_hash = db_session.scalar(
        select(JournalEntry.entry_hash).where(
            JournalEntry.case_id == cases[1].id, JournalEntry.seq == 1
        )
    )
    db_session.execute(
        update(CaseFile).where(CaseFile.id == cases[1].id).values(head_seq=1, head_hash=first_hash)
    )
    _note(db_session, cases[2])
    with pytest.raises(AnchorRefused, match=f"case file {cases[1].id}: anchored entry 2"):
        anchor_heads(db_session, tsa)
    assert [a.seq for a in all_anchors(db_session)] == [1]
    report = check_anchors(db_session, [cases[1].id])
    [problem] = report.case_problems[cases[1].id]
    assert "the journal has no entry 2 now" in problem.message
