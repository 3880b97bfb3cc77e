"""Routing a service to the responsible authority: by the resident's commune, by a commune named
in the form, by a regional table and to a fixed office; every shipped service in every demo
commune."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from catalogue import registry
from catalogue.model import Rule, Service, Step, Text
from catalogue.routing import DependsOnAnswer, NotRoutable, route, route_for_commune
from directory.communes import demo_table, import_communes
from directory.identifiers import make_ahvn13
from directory.models import Commune, Party, PartyKind

T = Text("x", "x", "x", "x")


def service(rule: Rule, *steps: Step) -> Service:
    from catalogue.model import Retention

    return Service(
        id="test", version=1, topic="wohnen", level="commune", title=T, summary=T, help=T,
        who=frozenset({"person"}), responsible=rule, steps=steps or (Step("one", T, T),),
        retention=Retention(1, "destroy"),
    )  # fmt: skip


@pytest.fixture
def world(db_session: Session) -> Session:
    import_communes(db_session, demo_table())
    return db_session


def resident(session: Session, bfs: int | None, body: int = 42) -> Party:
    party = Party(
        kind=PartyKind.PERSON, display_name="Anna Muster", ahvn13=make_ahvn13(body), bfs=bfs
    )
    session.add(party)
    session.flush()
    return party


def test_the_residents_commune_decides(world: Session) -> None:
    registration = service(Rule("commune", task="einwohnerdienste"))
    assert route(world, registration, resident(world, 1061, 1)).slug == (
        "stadt-luzern-einwohnerdienste"
    )
    assert route(world, registration, resident(world, 1024, 2)).slug == "emmen-einwohnerdienste"


def test_a_regional_office_serves_several_communes(world: Session) -> None:
    extract = service(Rule("region", task="betreibungsamt"))
    slugs = {bfs: route_for_commune(world, extract, bfs).slug for bfs in (1061, 1059, 1024)}
    assert slugs == {
        1061: "betreibungsamt-luzern",
        1059: "betreibungsamt-luzern",
        1024: "betreibungsamt-emmen",
    }


def test_a_fixed_office_needs_no_commune(world: Session) -> None:
    taxes = service(Rule("office", authority="lu-steuern"))
    assert route(world, taxes, resident(world, None)).slug == "lu-steuern"
    assert route(world, taxes, None).slug == "lu-steuern"


def test_a_commune_named_in_the_form_and_a_steps_own_rule(world: Session) -> None:
    register = Step("register", T, T)
    vehicle = Step("vehicle", T, T, responsible=Rule("office", authority="lu-strassenverkehrsamt"))
    deregister = Step("deregister", T, T, responsible=Rule("commune", task="einwohnerdienste"))
    move = service(
        Rule("commune", task="einwohnerdienste", commune_field="new_commune"),
        register,
        deregister,
        vehicle,
    )
    anna = resident(world, 1061)
    answers = {"new_commune": 1058}
    assert route(world, move, anna, answers).slug == "horw-einwohnerdienste"
    assert route(world, move, anna, answers, register).slug == "horw-einwohnerdienste"
    assert route(world, move, anna, answers, deregister).slug == "stadt-luzern-einwohnerdienste"
    assert route(world, move, anna, answers, vehicle).slug == "lu-strassenverkehrsamt"
    with pytest.raises(DependsOnAnswer):
        route(world, move, anna)
    with pytest.raises(NotRoutable, match="name the commune"):
        route(world, move, anna, {})


def test_what_cannot_be_routed_says_why(world: Session) -> None:
    registration = service(Rule("commune", task="einwohnerdienste"))
    with pytest.raises(NotRoutable, match="No commune is known for your address"):
        route(world, registration, resident(world, None))
    with pytest.raises(NotRoutable, match="not known to the portal"):
        route_for_commune(world, registration, 9999)
    world.add(Commune(bfs=1199, name="Nirgends", canton="LU"))
    world.flush()
    with pytest.raises(NotRoutable, match="No office is recorded in Nirgends"):
        route_for_commune(world, registration, 1199)
    with pytest.raises(NotRoutable, match="not known to the portal"):
        route(world, service(Rule("office", authority="bund-nirgends")), None)


def test_every_shipped_service_and_step_is_routable_in_every_demo_commune(world: Session) -> None:
    communes = [c.bfs for c in world.query(Commune).all()]
    assert len(communes) >= 3
    problems = []
    for declared in registry.default().all():
        for step in (None, *declared.steps):
            for bfs in communes:
                try:
                    route_for_commune(world, declared, bfs, step)
                except NotRoutable as error:
                    problems.append(f"{declared.id} {step.id if step else '-'} {bfs}: {error}")
    assert problems == []
