"""Which authority is responsible: the resident never picks an office, the portal finds it.

Three rules, as a service declaration names them (catalogue/schema/service.schema.json):
`commune` and `region` look the task up in the responsibilities of a commune (a regional
office is simply responsible in several communes, so both read the same table); `office` names
a fixed cantonal or federal authority by its slug.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.errors import InvalidInput
from directory.models import Authority, Commune, Responsibility

RULES = ("commune", "region", "office")


def N_(message: str) -> str:
    """Mark a msgid for extraction (pybabel -k N_); the web and API layers translate it."""
    return message


class NotRoutable(InvalidInput):
    """No responsible authority can be found; the message says why, for the person asking."""


def responsible_authority(
    session: Session, *, rule: str, task: str | None, authority: str | None, bfs: int | None
) -> Authority:
    """The authority responsible under `rule` for `task` in commune `bfs`, or the fixed office."""
    if rule == "office":
        if not authority:
            raise NotRoutable("authority", N_("No office is named for this service."))
        found = session.scalar(select(Authority).where(Authority.slug == authority))
        if found is None:
            raise NotRoutable(
                "authority",
                N_("The office %(authority)s is not known to the portal."),
                authority=authority,
            )
        return found
    if rule not in RULES:
        raise NotRoutable("rule", N_("Unknown responsibility rule %(rule)s."), rule=rule)
    if not task:
        raise NotRoutable("task", N_("No task is named for this service."))
    if bfs is None:
        raise NotRoutable(
            "bfs",
            N_("No commune is known for your address, so the responsible office cannot be found."),
        )
    commune = session.get(Commune, bfs)
    if commune is None:
        raise NotRoutable(
            "bfs", N_("The commune with BFS number %(bfs)s is not known to the portal."), bfs=bfs
        )
    found = session.scalar(
        select(Authority)
        .join(Responsibility, Responsibility.authority_id == Authority.id)
        .where(Responsibility.bfs == bfs, Responsibility.task == task)
    )
    if found is None:
        raise NotRoutable(
            "bfs",
            N_("No office is recorded in %(commune)s for this service."),
            commune=commune.name,
        )
    return found


def get_commune(session: Session, bfs: int) -> Commune | None:
    """A commune by its BFS number."""
    return session.get(Commune, bfs)


def list_communes(session: Session, canton: str | None = None) -> list[Commune]:
    """All communes (of one canton if given), by name, for choosing one in a form."""
    query = select(Commune).order_by(Commune.name, Commune.bfs)
    if canton is not None:
        query = query.where(Commune.canton == canton)
    return list(session.scalars(query))
