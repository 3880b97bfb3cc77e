"""GET /services and /services/<id>: public pages; a logged-in resident sees the office that is
responsible for them (catalogue.routing with their party), a visitor sees what it depends on."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from flask import abort, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from app.catalogue import bp
from app.catalogue.labels import LEVELS, TOPICS, WHO
from app.web import db
from catalogue import registry
from catalogue.model import Rule, Service, Step
from catalogue.routing import DependsOnAnswer, NotRoutable, route, rule_of
from directory.models import Party, Role

MAX_QUERY = 200


@dataclass(frozen=True)
class Responsible:
    """Who is responsible, as the page says it: an office's name, or why it is not known."""

    name: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Entry:
    service: Service
    responsible: Responsible


def _language() -> str:
    return str(get_locale() or "de")[:2]


def _party(session: Session) -> Party | None:
    """The logged-in resident's party (a person or an organisation), or None for anyone else."""
    if not current_user.is_authenticated:
        return None
    me = current_user.actor
    if me.role != Role.RESIDENT or me.party_id is None:
        return None
    return session.get(Party, me.party_id)


def responsible_for(
    session: Session, service: Service, party: Party | None, step: Step | None = None
) -> Responsible:
    """The office responsible for this resident, or a sentence saying what it depends on."""
    rule = rule_of(service, step)
    if party is None and rule.rule != "office" and rule.commune_field is None:
        return Responsible(note=_("Depends on your commune"))
    try:
        return Responsible(name=route(session, service, party, step=step).name)
    except DependsOnAnswer:
        return Responsible(note=_("Depends on the commune you name in the form"))
    except NotRoutable as error:
        return Responsible(note=_(error.message, **error.params))


@bp.route("/services")
def services() -> str:
    session = db()
    language = _language()
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    catalogue = registry.default()
    found = catalogue.search(query, language)
    party = _party(session)
    # Many services share a rule (the commune's Einwohnerdienste): each rule is routed once.
    known: dict[Rule, Responsible] = {}
    entries = []
    for one in found:
        if one.responsible not in known:
            known[one.responsible] = responsible_for(session, one, party)
        entries.append(Entry(one, known[one.responsible]))
    # search() ranks by relevance; the page groups by topic, then level, titles alphabetical.
    order = {topic: i for i, topic in enumerate(registry.TOPICS)}
    levels = {level: i for i, level in enumerate(registry.LEVELS)}
    entries.sort(
        key=lambda e: (
            order[e.service.topic],
            levels[e.service.level],
            e.service.title.get(language).casefold(),
        )
    )
    groups = [
        (
            topic,
            [(level, list(items)) for level, items in groupby(group, lambda e: e.service.level)],
        )
        for topic, group in groupby(entries, lambda e: e.service.topic)
    ]
    return render_template(
        "catalogue/list.html",
        groups=groups,
        count=len(entries),
        query=query,
        language=language,
        topics=TOPICS,
        levels=LEVELS,
        logged_in=party is not None,
    )


@bp.route("/services/<service_id>")
def service(service_id: str) -> str:
    declared = registry.default().get(service_id)
    if declared is None:
        abort(404)
    session = db()
    party = _party(session)
    may_order = party is None or party.kind.value in declared.who
    return render_template(
        "catalogue/detail.html",
        service=declared,
        responsible=responsible_for(session, declared, party),
        # Steps with an office of their own (a move: the old commune, the road traffic office).
        step_offices={
            step.id: responsible_for(session, declared, party, step)
            for step in declared.steps
            if step.responsible is not None
        },
        language=_language(),
        topics=TOPICS,
        levels=LEVELS,
        who=[WHO[kind] for kind in sorted(declared.who)],
        may_order=may_order,
        staff=current_user.is_authenticated and party is None,
    )
