"""Each grant and revocation of consent is a signed entry of the party's consent chain, in the
journal's entry format with `party_id` in place of `case_id` (docs/journal-format.md §9)."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select

from casefiles.journal import keyring_of
from directory.actors import Actor
from directory.consent import give_consent, is_reachable, revoke_consent
from directory.identifiers import make_ahvn13
from directory.models import Consent, ConsentEntry, Role
from directory.operations import create_account, register_person
from signing.chain import GENESIS, entry_hash, link_problems

# A fixed first entry of a consent chain and its canonical bytes, written out by hand.
ENTRY = {
    "party_id": "e8d1c4b7-3a6f-4e29-b05c-7d9a2f1e8c36",
    "seq": 1,
    "recorded_at": dt.datetime(2026, 3, 2, 9, 15, 30, 123456, tzinfo=dt.UTC),
    "actor_kind": "resident",
    "actor_id": "9c4e2a7b-1d3f-4b8e-a6c5-0f7e3d2b1a98",
    "actor_label": "Anna Müller",
    "action": "consent.given",
    "payload": {
        "consent_id": "51a7d3e9-6c2b-4f80-9e1d-a4b8c7f60e25",
        "given_at": "2026-03-02T09:15:30.120000+00:00",
    },
    "prev_hash": GENESIS,
}
CANONICAL = (
    '{"action":"consent.given","actor":{"id":"9c4e2a7b-1d3f-4b8e-a6c5-0f7e3d2b1a98",'
    '"kind":"resident","label":"Anna Müller"},"party_id":"e8d1c4b7-3a6f-4e29-b05c-7d9a2f1e8c36",'
    '"payload":{"consent_id":"51a7d3e9-6c2b-4f80-9e1d-a4b8c7f60e25",'
    '"given_at":"2026-03-02T09:15:30.120000+00:00"},'
    '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"recorded_at":"2026-03-02T09:15:30.123456+00:00","seq":1}'
)
HASH = "77817ed84676ac33cdbed12a4e618a74c9734788732de93b9d6a783d05a41e4a"


def test_a_consent_entry_hashes_as_documented():
    assert hashlib.sha256(CANONICAL.encode()).hexdigest() == HASH
    assert entry_hash("party_id", ENTRY) == HASH


def _resident(session, n: int = 1):
    person = register_person(
        session, given_name="Dora", family_name=f"Test{n}", ahvn13=make_ahvn13(901234500 + n)
    )
    account = create_account(
        session,
        login=f"dora{n}@example.ch",
        password="ein-langes-Passwort",
        role=Role.RESIDENT,
        display_name=person.display_name,
        party=person,
    )
    return person, Actor.for_account(account)


def _chain(session, party_id):
    stmt = select(ConsentEntry).where(ConsentEntry.party_id == party_id)
    rows = session.scalars(stmt.order_by(ConsentEntry.seq)).all()
    columns = [c.name for c in ConsentEntry.__table__.columns]
    return [{c: getattr(r, c) for c in columns} for r in rows]


def test_give_revoke_give_is_a_signed_chain(db_session):
    person, actor = _resident(db_session)
    give_consent(db_session, actor)
    give_consent(db_session, actor)  # already given: no second grant
    revoke_consent(db_session, actor)
    assert not is_reachable(db_session, person.id)
    again = give_consent(db_session, actor)
    assert is_reachable(db_session, person.id)

    chain = _chain(db_session, person.id)
    assert [e["action"] for e in chain] == ["consent.given", "consent.revoked", "consent.given"]
    assert chain[2]["payload"] == {
        "consent_id": str(again.id),
        "given_at": again.given_at.isoformat(),
    }
    assert chain[0]["actor_label"] == "Dora Test1" and chain[0]["actor_kind"] == "resident"
    keyring = keyring_of(db_session)
    assert list(link_problems("party_id", chain, keyring.certificate)) == []
    assert (person.consent_head_seq, person.consent_head_hash) == (3, chain[-1]["entry_hash"])

    chain[1]["payload"] = {**chain[1]["payload"], "revoked_at": "2020-01-01T00:00:00+00:00"}
    problems = [m for _, m in link_problems("party_id", chain, keyring.certificate)]
    assert problems == ["content does not match its hash (altered)"]


def test_consents_from_before_the_chains_start_it(db_session):
    person, actor = _resident(db_session, 2)
    earlier = Consent(party_id=person.id, given_by="Dora Test2", given_at=dt.datetime.now(dt.UTC))
    db_session.add(earlier)
    db_session.flush()
    revoke_consent(db_session, actor)
    chain = _chain(db_session, person.id)
    assert [e["action"] for e in chain] == ["record.completed", "consent.revoked"]
    assert chain[0]["actor_kind"] == "system"
    assert [c["consent_id"] for c in chain[0]["payload"]["consents"]] == [str(earlier.id)]
    assert chain[0]["payload"]["consents"][0]["revoked_at"] is None
