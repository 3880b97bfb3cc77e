"""Each party's consent chain: every grant and revocation of consent to electronic delivery as
a signed, hash-chained entry (`consent_entries`), in the entry format of the case files'
journals (signing/chain.py, docs/journal-format.md §9) with the member `party_id` in place of
`case_id`. The head is kept on the party's row, as a case file keeps its journal's.

Actions: `consent.given` {consent_id, given_at}, `consent.revoked` {consent_id, revoked_at}
(who acted is the entry's actor), and `record.completed` {reason, consents: [...]}: the consents
a party had before chains existed (migration 0009), written by the portal when the chain starts,
so that a chain accounts for every consent row of its party.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from directory.actors import Actor
from directory.models import Consent, ConsentEntry, Party
from signing import Keyring
from signing.chain import GENESIS, ChainActor, sealed_row
from storage.db import utcnow
from storage.work import services_of

OWNER = "party_id"  # the member of the hashed object that names whose chain it is
COMPLETED = "record.completed"
_BATCH = 500


def _keyring(session: Session) -> Keyring:
    """The portal's keyring, which the session's runtime services carry."""
    keyring = services_of(session).keyring
    if not isinstance(keyring, Keyring):
        raise TypeError(f"the session carries a {type(keyring).__name__}, not a Keyring")
    return keyring


def lock_chain(session: Session, party_id: uuid.UUID) -> Party:
    """Lock the party's consent chain for appending (the party row, FOR NO KEY UPDATE, as the
    journal locks its case row) and start it if it is empty, recording earlier consents."""
    session.execute(select(Party.id).where(Party.id == party_id).with_for_update(key_share=True))
    party = session.get_one(Party, party_id)
    session.refresh(party, attribute_names=["consent_head_seq", "consent_head_hash"])
    if party.consent_head_seq == 0:
        earlier = session.scalars(
            select(Consent).where(Consent.party_id == party_id).order_by(Consent.given_at)
        ).all()
        if earlier:
            append_consent_entry(session, party, Actor.system(), *completion(earlier))
    return party


def append_consent_entry(
    session: Session, party: Party, actor: ChainActor, action: str, payload: dict[str, Any]
) -> ConsentEntry:
    """Append a signed entry to the party's consent chain (locked by `lock_chain`)."""
    row = sealed_row(
        _keyring(session),
        OWNER,
        party.id,
        party.consent_head_seq + 1,
        party.consent_head_hash or GENESIS,
        actor,
        action,
        payload,
        recorded_at=utcnow(),
    )
    entry = ConsentEntry(**row)
    party.consent_head_seq, party.consent_head_hash = entry.seq, entry.entry_hash
    session.add(entry)
    session.flush()
    return entry


def consent_values(consent: Consent) -> dict[str, Any]:
    """A consent row's facts as a `record.completed` entry holds them."""
    return {
        "consent_id": str(consent.id),
        "given_at": consent.given_at.isoformat(),
        "given_by": consent.given_by,
        "revoked_at": consent.revoked_at.isoformat() if consent.revoked_at else None,
        "revoked_by": consent.revoked_by,
    }


def completion(consents: Iterable[Consent]) -> tuple[str, dict[str, Any]]:
    """The entry (action, payload) that records consents from before the chains existed."""
    return COMPLETED, {
        "reason": "consents given before consent chains existed (migration 0009), "
        "as their rows held them when this entry was written",
        "consents": [consent_values(c) for c in consents],
    }


def new_consent_chain(
    keyring: Keyring, party_id: uuid.UUID, actor: ChainActor, consent: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first entry of a party's chain for a consent row inserted in bulk (its column
    values), and the party's head columns after it."""
    given = {"consent_id": str(consent["id"]), "given_at": consent["given_at"].isoformat()}
    row = sealed_row(
        keyring,
        OWNER,
        party_id,
        1,
        GENESIS,
        actor,
        "consent.given",
        given,
        recorded_at=utcnow(),
    )
    return row, {"consent_head_seq": 1, "consent_head_hash": row["entry_hash"]}


def consent_entries(session: Session, party_ids: Sequence[uuid.UUID]) -> list[ConsentEntry]:
    """The consent chains of these parties, each in the order of `seq`."""
    stmt = select(ConsentEntry).where(ConsentEntry.party_id.in_(party_ids))
    return list(session.scalars(stmt.order_by(ConsentEntry.party_id, ConsentEntry.seq)))


def start_earlier_chains(session: Session, limit: int = 500) -> int:
    """Start the chain of parties whose consents predate the chains (`portal journal
    complete`); the number of chains started, at most `limit`."""
    waiting = session.scalars(
        select(Party.id)
        .where(Party.consent_head_seq == 0, Party.id.in_(select(Consent.party_id)))
        .limit(limit)
    ).all()
    for party_id in waiting:
        lock_chain(session, party_id)
    return len(waiting)


def consent_heads(session: Session) -> dict[uuid.UUID, tuple[int, str | None]]:
    """Every started consent chain's head by party id (what an anchor holds)."""
    rows = session.execute(
        select(Party.id, Party.consent_head_seq, Party.consent_head_hash).where(
            Party.consent_head_seq > 0
        )
    )
    return {party_id: (seq, head) for party_id, seq, head in rows}


def consent_hashes_at(
    session: Session, wanted: list[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], str]:
    """The entry hash at each (party id, seq) asked for that exists."""
    found: dict[tuple[uuid.UUID, int], str] = {}
    for start in range(0, len(wanted), _BATCH):
        pairs = wanted[start : start + _BATCH]
        rows = session.execute(
            select(ConsentEntry.party_id, ConsentEntry.seq, ConsentEntry.entry_hash).where(
                tuple_(ConsentEntry.party_id, ConsentEntry.seq).in_(pairs)
            )
        )
        found.update({(party_id, seq): entry_hash for party_id, seq, entry_hash in rows})
    return found
