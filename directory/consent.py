"""Consent to electronic delivery: given and revoked by the party, kept with its history.

A delivery's legality rests on consent, so each grant and revocation is an entry of the party's
consent chain (directory/consent_chain.py), signed like a case file's journal and written in the
same transaction; the rows of `delivery_consents` are its projection.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from directory.actors import Actor
from directory.consent_chain import append_consent_entry, lock_chain
from directory.models import Account, Consent, Role
from storage.db import utcnow


def active_consent(session: Session, party_id: uuid.UUID) -> Consent | None:
    """The party's consent in force, if any."""
    stmt = select(Consent).where(Consent.party_id == party_id, Consent.revoked_at.is_(None))
    return session.scalars(stmt.order_by(Consent.given_at.desc())).first()


def give_consent(session: Session, actor: Actor) -> Consent:
    """The resident agrees to receive letters and decisions electronically."""
    actor.require(Role.RESIDENT)
    assert actor.party_id is not None
    # The chain's lock first: two requests at once give one consent, not two.
    party = lock_chain(session, actor.party_id)
    consent = active_consent(session, actor.party_id)
    if consent is None:
        consent = Consent(
            id=uuid.uuid4(), party_id=actor.party_id, given_by=actor.label, given_at=utcnow()
        )
        session.add(consent)
        session.flush()
        given = {"consent_id": str(consent.id), "given_at": consent.given_at.isoformat()}
        append_consent_entry(session, party, actor, "consent.given", given)
    return consent


def revoke_consent(session: Session, actor: Actor) -> None:
    """The resident wants paper again; deliveries already made stay valid."""
    actor.require(Role.RESIDENT)
    assert actor.party_id is not None
    party = lock_chain(session, actor.party_id)
    consent = active_consent(session, actor.party_id)
    if consent is not None:
        consent.revoked_at = utcnow()
        consent.revoked_by = actor.label
        session.flush()
        revoked = {"consent_id": str(consent.id), "revoked_at": consent.revoked_at.isoformat()}
        append_consent_entry(session, party, actor, "consent.revoked", revoked)


def is_reachable(session: Session, party_id: uuid.UUID) -> bool:
    """Whether a party can receive electronic deliveries: an active account and consent."""
    return party_id in reachable_parties(session, [party_id])


def reachable_parties(session: Session, party_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of the parties that can receive electronic deliveries, in one query."""
    if not party_ids:
        return set()
    consented = exists().where(Consent.party_id == Account.party_id, Consent.revoked_at.is_(None))
    stmt = select(Account.party_id).where(
        Account.party_id.in_(set(party_ids)), Account.is_active.is_(True), consented
    )
    return {party_id for party_id in session.scalars(stmt) if party_id is not None}
