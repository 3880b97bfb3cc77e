"""Registering parties, authorities and accounts; logging in; finding residents."""

from __future__ import annotations

import datetime as dt
import functools
import os
import uuid
from collections.abc import Collection

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from directory.actors import AccessDenied, Actor
from directory.errors import InvalidInput
from directory.identifiers import normalize_ahvn13, normalize_uid
from directory.models import Account, Authority, AuthorityLevel, Party, PartyKind, Role
from directory.sessions import end_all_sessions, start_session
from storage.db import utcnow

MIN_PASSWORD_LENGTH = 10


@functools.cache
def password_hasher() -> PasswordHasher:
    # RFC 9106's low-memory profile in production. The test suite sets
    # PORTAL_INSECURE_FAST_HASHING to argon2's cheapest parameters, since it creates hundreds of
    # accounts; never set it elsewhere. Made on first use: importing the module does no work.
    if os.environ.get("PORTAL_INSECURE_FAST_HASHING") == "1":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


@functools.cache
def _dummy_hash() -> str:
    # Verifying against a fixed hash for unknown logins keeps the timing of both answers alike.
    return password_hasher().hash("not-a-real-password")


def register_person(
    session: Session,
    *,
    given_name: str,
    family_name: str,
    ahvn13: str,
    email: str | None = None,
    date_of_birth: dt.date | None = None,
) -> Party:
    """Add a natural person, identified by a checked AHVN13."""
    party = Party(
        kind=PartyKind.PERSON,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        display_name=f"{given_name.strip()} {family_name.strip()}",
        ahvn13=normalize_ahvn13(ahvn13),
        email=email,
        date_of_birth=date_of_birth,
    )
    session.add(party)
    session.flush()
    return party


def register_organisation(
    session: Session, *, name: str, uid: str, email: str | None = None
) -> Party:
    """Add an organisation, identified by a checked UID (CHE-…)."""
    party = Party(
        kind=PartyKind.ORGANISATION, display_name=name.strip(), uid=normalize_uid(uid), email=email
    )
    session.add(party)
    session.flush()
    return party


def register_authority(
    session: Session, *, slug: str, name: str, level: AuthorityLevel, email: str | None = None
) -> Authority:
    """Add an authority at one level (commune, canton, federal, mandated company)."""
    authority = Authority(slug=slug, name=name, level=level, email=email)
    session.add(authority)
    session.flush()
    return authority


def create_account(
    session: Session,
    *,
    login: str,
    password: str,
    role: Role,
    display_name: str,
    party: Party | None = None,
    authority: Authority | None = None,
) -> Account:
    """Add a login with an argon2 password hash."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    account = Account(
        login=login.strip().lower(),
        password_hash=password_hasher().hash(password),
        role=role,
        display_name=display_name,
        party=party,
        authority=authority,
    )
    session.add(account)
    session.flush()
    return account


def authenticate(session: Session, login: str, password: str) -> Account | None:
    """The active account with this login and password, or None."""
    account = session.scalar(select(Account).where(Account.login == login.strip().lower()))
    if account is None or not account.is_active:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(account.password_hash, password):
        return None
    if password_hasher().check_needs_rehash(account.password_hash):
        account.password_hash = password_hasher().hash(password)
    account.last_login_at = utcnow()
    session.flush()
    return account


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(current: str, new: str, repeated: str) -> None:
    """InvalidInput unless a new password is long enough, new, and typed the same twice."""
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "new_password",
            "A password needs at least %(count)s characters.",
            count=MIN_PASSWORD_LENGTH,
        )
    if new == current:
        raise InvalidInput("new_password", "The new password must differ from the current one.")
    if new != repeated:
        raise InvalidInput("repeated_password", "The two new passwords are not the same.")


def change_password(
    session: Session, actor: Actor, *, current: str, new: str, repeated: str
) -> str:
    """Set the actor's new password; every session of the account ends and a fresh one starts.

    Returns the new session's token (the caller's browser keeps it, nobody else's survives).
    """
    check_new_password(current, new, repeated)
    account = get_account(session, actor.account_id) if actor.account_id else None
    if account is None:
        raise AccessDenied("only a logged-in account has a password")
    if not _verify(account.password_hash, current):
        raise InvalidInput("current_password", "The current password is wrong.")
    account.password_hash = password_hasher().hash(new)
    end_all_sessions(session, account.id)
    return start_session(session, account)


def find_authority(session: Session, ref: str) -> Authority | None:
    """An authority by id or slug (for operators' commands)."""
    try:
        return session.get(Authority, uuid.UUID(ref))
    except ValueError:
        return session.scalar(select(Authority).where(Authority.slug == ref))


def get_account(session: Session, account_id: uuid.UUID) -> Account | None:
    """An active account by id (for the login session)."""
    account = session.get(Account, account_id)
    return account if account and account.is_active else None


def find_residents(session: Session, actor: Actor, query: str, limit: int = 20) -> list[Party]:
    """Parties a clerk may address, matched by name, AHVN13 or UID."""
    actor.require(Role.CLERK)
    text = query.strip()
    if len(text) < 2:
        return []
    digits = "".join(ch for ch in text if ch.isdigit())
    conditions: list[ColumnElement[bool]] = [Party.display_name.ilike(f"%{text}%")]
    if len(digits) >= 4:
        conditions.append(Party.ahvn13.contains(_dotted_prefix(digits)))
        conditions.append(Party.uid.contains(digits[-3:]))
    stmt = select(Party).where(or_(*conditions)).order_by(Party.display_name).limit(limit)
    return list(session.scalars(stmt))


def _dotted_prefix(digits: str) -> str:
    # AHVN13 are stored dotted (756.1234.5678.97); match a typed run of digits in that form.
    groups = [digits[:3], digits[3:7], digits[7:11], digits[11:13]]
    return ".".join(g for g in groups if g)


def find_party(session: Session, actor: Actor, identifier: str) -> Party:
    """The person (AHVN13) or organisation (UID) a clerk names, or InvalidInput."""
    actor.require(Role.CLERK)
    text = identifier.strip()
    try:
        if text.upper().startswith("CHE"):
            party = session.scalar(select(Party).where(Party.uid == normalize_uid(text)))
        else:
            party = session.scalar(select(Party).where(Party.ahvn13 == normalize_ahvn13(text)))
    except ValueError:
        raise InvalidInput("recipient", "This is not a valid AHVN13 or UID number.") from None
    if party is None:
        raise InvalidInput("recipient", "No person or organisation with this number is registered.")
    return party


def find_party_by_number(
    session: Session, actor: Actor, *, ahvn13: str | None = None, uid: str | None = None
) -> Party | None:
    """The person (AHVN13) or organisation (UID) an authority names, or None if not registered."""
    actor.require_authority()
    number = party_number(ahvn13=ahvn13, uid=uid)
    return find_parties_by_number(session, actor, [number]).get(number)


def party_number(*, ahvn13: str | None = None, uid: str | None = None) -> tuple[str, str]:
    """("ahvn13" or "uid", the number normalized) for a recipient named by number."""
    try:
        if ahvn13 is not None:
            return "ahvn13", normalize_ahvn13(ahvn13)
        if uid is not None:
            return "uid", normalize_uid(uid)
    except ValueError as exc:
        field = "recipient.ahvn13" if ahvn13 is not None else "recipient.uid"
        raise InvalidInput(field, str(exc)) from None
    raise InvalidInput("recipient", "Name the recipient by AHVN13 or UID.")


def find_parties_by_number(
    session: Session, actor: Actor, numbers: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Party]:
    """The registered parties among many numbers (from `party_number`), in one query."""
    actor.require_authority()
    ahvn13s = {n for kind, n in numbers if kind == "ahvn13"}
    uids = {n for kind, n in numbers if kind == "uid"}
    conditions: list[ColumnElement[bool]] = [Party.ahvn13.in_(ahvn13s)] if ahvn13s else []
    conditions += [Party.uid.in_(uids)] if uids else []
    if not conditions:
        return {}
    found: dict[tuple[str, str], Party] = {}
    for party in session.scalars(select(Party).where(or_(*conditions))):
        if party.ahvn13 in ahvn13s:
            found["ahvn13", party.ahvn13] = party
        if party.uid in uids:
            found["uid", party.uid] = party
    return found


def get_party(session: Session, actor: Actor, party_id: uuid.UUID) -> Party:
    """A party that the actor may address or is."""
    party = session.get(Party, party_id)
    if party is None:
        raise AccessDenied("no such party")
    if actor.role == Role.CLERK or actor.party_id == party.id:
        return party
    raise AccessDenied("no such party")


def assign_seal(
    session: Session, authority: Authority, ref: str, certificate_pem: bytes | None = None
) -> None:
    """Record where the authority's seal key is (a file or a PKCS#11 token object)."""
    if not ref.startswith(("file:", "pkcs11:")):
        raise InvalidInput("seal_ref", "A seal reference starts with file: or pkcs11:.")
    authority.seal_ref = ref
    authority.seal_certificate = certificate_pem
    session.flush()
