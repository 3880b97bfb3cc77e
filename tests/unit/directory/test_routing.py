"""The three responsibility rules, and a refusal a person understands when none applies."""

from __future__ import annotations

import pytest

from directory.communes import import_communes
from directory.errors import InvalidInput
from directory.routing import NotRoutable, get_commune, list_communes, responsible_authority

TABLE = """canton;bfs;commune;task;authority_slug;authority_name;authority_level
LU;1061;Luzern;einwohnerdienste;luzern-ed;Stadt Luzern, Einwohnerdienste;commune
LU;1024;Emmen;einwohnerdienste;emmen-ed;Gemeinde Emmen, Einwohnerdienste;commune
LU;1103;Sursee;einwohnerdienste;sursee-ed;Stadt Sursee, Einwohnerdienste;commune
LU;1061;Luzern;betreibungsamt;ba-luzern;Betreibungsamt Luzern;commune
LU;1024;Emmen;betreibungsamt;ba-luzern;Betreibungsamt Luzern;commune
LU;;;;lu-migration;Amt für Migration des Kantons Luzern;canton
;;;;bund-bj;Bundesamt für Justiz;federal
"""


@pytest.fixture
def table(db_session):
    import_communes(db_session, TABLE)
    return db_session


def _slug(session, rule, *, task=None, authority=None, bfs=None):
    return responsible_authority(session, rule=rule, task=task, authority=authority, bfs=bfs).slug


def test_commune_rule_finds_each_communes_own_office(table):
    assert _slug(table, "commune", task="einwohnerdienste", bfs=1061) == "luzern-ed"
    assert _slug(table, "commune", task="einwohnerdienste", bfs=1024) == "emmen-ed"
    assert _slug(table, "commune", task="einwohnerdienste", bfs=1103) == "sursee-ed"


def test_region_rule_finds_the_office_that_serves_several_communes(table):
    assert _slug(table, "region", task="betreibungsamt", bfs=1061) == "ba-luzern"
    assert _slug(table, "region", task="betreibungsamt", bfs=1024) == "ba-luzern"


def test_office_rule_names_a_fixed_office_wherever_one_lives(table):
    assert _slug(table, "office", authority="lu-migration", bfs=1024) == "lu-migration"
    assert _slug(table, "office", authority="bund-bj") == "bund-bj"  # no address needed
    found = responsible_authority(table, rule="office", task=None, authority="bund-bj", bfs=None)
    assert (found.name, found.level.value) == ("Bundesamt für Justiz", "federal")


@pytest.mark.parametrize(
    ("rule", "task", "authority", "bfs", "field", "message"),
    [
        (
            "region",
            "betreibungsamt",
            None,
            1103,
            "bfs",
            "No office is recorded in Sursee for this service.",
        ),
        (
            "commune",
            "einwohnerdienste",
            None,
            1058,
            "bfs",
            "The commune with BFS number 1058 is not known to the portal.",
        ),
        (
            "commune",
            "einwohnerdienste",
            None,
            None,
            "bfs",
            "No commune is known for your address, so the responsible office cannot be found.",
        ),
        (
            "office",
            None,
            "lu-nowhere",
            1061,
            "authority",
            "The office lu-nowhere is not known to the portal.",
        ),
        ("office", None, None, 1061, "authority", "No office is named for this service."),
        ("commune", None, None, 1061, "task", "No task is named for this service."),
        ("canton", "x", None, 1061, "rule", "Unknown responsibility rule canton."),
    ],
)
def test_no_responsible_office_is_a_refusal_with_a_reason(
    table, rule, task, authority, bfs, field, message
):
    with pytest.raises(NotRoutable) as refused:
        responsible_authority(table, rule=rule, task=task, authority=authority, bfs=bfs)
    assert isinstance(refused.value, InvalidInput)  # views turn it into a 4xx
    assert (refused.value.field, str(refused.value)) == (field, message)


def test_communes_are_listed_by_name_and_found_by_number(table):
    assert [c.name for c in list_communes(table)] == ["Emmen", "Luzern", "Sursee"]
    assert [c.bfs for c in list_communes(table, canton="LU")] == [1024, 1061, 1103]
    assert list_communes(table, canton="BE") == []
    commune = get_commune(table, 1103)
    assert commune is not None and (commune.name, commune.canton) == ("Sursee", "LU")
    assert get_commune(table, 9999) is None
