"""Who can be reached for electronic delivery, as an authority names a recipient: by number.

A delivery goes only to a party with an active account who has consented to electronic delivery
(`directory.consent.reachable_parties`, checked by `deliver` and `deliver_many` for the party
they are given). A number under which no party is registered has no account either: it is as
unreachable as a refused consent, and the authority hears the same answer (send it on paper)
whether it asks through the API, in a batch or in the workbench.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from directory.actors import Actor
from directory.errors import InvalidInput
from directory.models import Party
from directory.operations import find_parties_by_number, party_number
from mailbox.letters import RecipientNotReachable

# How a recipient is named: ("ahvn13" or "uid", the number normalized), see `party_number`.
Number = tuple[str, str]
# A recipient as an API client names it: (AHVN13, UID), one of them given.
Named = tuple[str | None, str | None]


def number_typed(identifier: str) -> Number:
    """The number a clerk types into the workbench: a UID (CHE-…) or an AHVN13, any usual form."""
    text = identifier.strip()
    if not text:
        raise InvalidInput("recipient", "Choose a recipient.")
    try:
        if text.upper().startswith("CHE"):
            return party_number(uid=text)
        return party_number(ahvn13=text)
    except InvalidInput:
        raise InvalidInput("recipient", "This is not a valid AHVN13 or UID number.") from None


def recipient(session: Session, actor: Actor, number: Number) -> Party:
    """The party an authority names by number; RecipientNotReachable if none is registered
    under it."""
    found = recipients(session, actor, [number])[0]
    if isinstance(found, InvalidInput):
        raise found
    return found


def recipients(
    session: Session, actor: Actor, numbers: Sequence[Number | InvalidInput]
) -> list[Party | InvalidInput]:
    """For each number the registered party, or why it cannot be delivered to (a number that
    was already refused stays refused; an unregistered one is not reachable); in one query."""
    wanted = [n for n in numbers if not isinstance(n, InvalidInput)]
    parties = find_parties_by_number(session, actor, wanted)
    out: list[Party | InvalidInput] = []
    for number in numbers:
        if isinstance(number, InvalidInput):
            out.append(number)
        elif number in parties:
            out.append(parties[number])
        else:
            # Not registered means no account: as unreachable as a refused consent (paper).
            out.append(RecipientNotReachable())
    return out


def numbers_of(named: Sequence[Named]) -> list[Number | InvalidInput]:
    """The numbers of recipients named by (AHVN13, UID), or why each is not a number."""
    out: list[Number | InvalidInput] = []
    for ahvn13, uid in named:
        try:
            out.append(party_number(ahvn13=ahvn13, uid=uid))
        except InvalidInput as exc:
            out.append(exc)
    return out
