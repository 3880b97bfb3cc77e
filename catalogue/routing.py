"""Who is responsible for a service (or one of its steps) for this resident: the declaration's
rule, applied to the commune answered in the form (`commune_field`) or the resident's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from catalogue.model import Rule, Service, Step
from directory.models import Authority, Party
from directory.routing import NotRoutable, responsible_authority

__all__ = ["DependsOnAnswer", "NotRoutable", "route", "route_for_commune", "rule_of"]


class DependsOnAnswer(NotRoutable):
    """The office follows from a commune the resident names in the form (not known yet)."""


def rule_of(service: Service, step: Step | None = None) -> Rule:
    """The rule that decides: the step's own, or the service's."""
    return (
        step.responsible
        if step is not None and step.responsible is not None
        else service.responsible
    )


def route(
    session: Session,
    service: Service,
    party: Party | None,
    answers: Mapping[str, Any] | None = None,
    step: Step | None = None,
) -> Authority:
    """The authority responsible for `service` (or `step`) for `party` with these answers.

    Raises NotRoutable (a directory InvalidInput) with a message a person understands: no
    commune known for the party, a commune without that office, an unknown office; and
    DependsOnAnswer when the rule reads a commune from the form and no answers are given.
    """
    rule = rule_of(service, step)
    bfs = party.bfs if party is not None else None
    if rule.rule != "office" and rule.commune_field is not None:
        if answers is None:
            raise DependsOnAnswer(
                rule.commune_field, "The office depends on the commune you name in the form."
            )
        answer = answers.get(rule.commune_field)
        if not isinstance(answer, int) or isinstance(answer, bool):
            raise NotRoutable(rule.commune_field, "Please name the commune in the form.")
        bfs = answer
    return responsible_authority(
        session, rule=rule.rule, task=rule.task, authority=rule.authority, bfs=bfs
    )


def route_for_commune(
    session: Session, service: Service, bfs: int, step: Step | None = None
) -> Authority:
    """The authority responsible in commune `bfs` (the public routing endpoint's question;
    a commune named in the form counts as that commune too)."""
    rule = rule_of(service, step)
    return responsible_authority(
        session, rule=rule.rule, task=rule.task, authority=rule.authority, bfs=bfs
    )
