"""`portal communes import` from the operator's side: a good file creates communes, authorities
and responsibilities, a second run changes nothing, a bad file names its line and writes
nothing. The demo's residents live in different communes, and routing follows their address."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

from app.cli import cli
from app.migrate import downgrade, upgrade
from directory.communes import demo_table, set_address
from directory.errors import InvalidInput
from directory.models import Authority, Commune, Party, Responsibility
from directory.routing import NotRoutable, list_communes, responsible_authority
from tests.conftest import login
from tests.support.services import portal_executable

HEADER = "canton,bfs,commune,task,authority_slug,authority_name,authority_level"
GOOD = f"""{HEADER}
LU,1061,Luzern,einwohnerdienste,luzern-ed,"Stadt Luzern, Einwohnerdienste",commune
LU,1058,Horw,einwohnerdienste,horw-ed,"Gemeinde Horw, Einwohnerdienste",commune
LU,1061,Luzern,betreibungsamt,ba-luzern,Betreibungsamt Luzern,commune
LU,1058,Horw,betreibungsamt,ba-luzern,Betreibungsamt Luzern,commune
LU,,,,lu-migration,Amt für Migration des Kantons Luzern,canton
"""


def run_portal(runtime, *args, cwd):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    return subprocess.run(
        [portal_executable(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _import(runtime, tmp_path, text, *options, name="communes.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return run_portal(runtime, "communes", "import", *options, str(path), cwd=tmp_path)


def _counts(runtime):
    with runtime.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Commune, Authority, Responsibility)
        )


def test_a_good_file_is_imported_once_and_a_second_run_changes_nothing(runtime, tmp_path):
    first = _import(runtime, tmp_path, GOOD)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        "communes: 2 new, 0 changed; authorities: 4 new, 0 changed; "
        "responsibilities: 4 new, 0 changed"
    )
    assert "portal authorities seal SLUG" in first.stdout  # imported offices have no seal yet
    assert _counts(runtime) == (2, 4, 4)
    again = _import(runtime, tmp_path, GOOD)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(
        "communes: 0 new, 0 changed; authorities: 0 new, 0 changed; "
        "responsibilities: 0 new, 0 changed"
    )
    assert _counts(runtime) == (2, 4, 4)
    with runtime.sessions() as session:
        horw = session.get_one(Commune, 1058)
        assert (horw.name, horw.canton) == ("Horw", "LU")
        regional = responsible_authority(
            session, rule="region", task="betreibungsamt", authority=None, bfs=1058
        )
        assert regional.slug == "ba-luzern" and regional.name == "Betreibungsamt Luzern"
    listed = run_portal(runtime, "communes", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        " 1058  LU  Horw                     betreibungsamt=ba-luzern einwohnerdienste=horw-ed",
        " 1061  LU  Luzern                   betreibungsamt=ba-luzern einwohnerdienste=luzern-ed",
    ]


def test_a_later_file_moves_a_responsibility_and_renames(runtime, tmp_path):
    assert _import(runtime, tmp_path, GOOD).returncode == 0
    # Semicolons, as spreadsheets in Switzerland write them; Horw gets its own office.
    moved = (
        HEADER.replace(",", ";") + ";authority_qr_iban;authority_postcode;authority_town\n"
        "LU;1058;Horw;betreibungsamt;ba-horw;Betreibungsamt Horw;commune;"
        "CH44 3199 9123 0008 8901 2;6048;Horw\n"
        "LU;1061;Lucerne;einwohnerdienste;luzern-ed;Stadt Luzern, Einwohnerdienste;commune;;;\n"
    )
    result = _import(runtime, tmp_path, moved)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "communes: 0 new, 1 changed; authorities: 1 new, 0 changed; "
        "responsibilities: 0 new, 1 changed"
    )
    with runtime.sessions() as session:
        horw = responsible_authority(
            session, rule="region", task="betreibungsamt", authority=None, bfs=1058
        )
        assert (horw.slug, horw.qr_iban, horw.postcode) == (
            "ba-horw",
            "CH4431999123000889012",
            "6048",
        )
        assert session.get_one(Commune, 1061).name == "Lucerne"
        luzern = responsible_authority(
            session, rule="region", task="betreibungsamt", authority=None, bfs=1061
        )
        assert luzern.slug == "ba-luzern"  # nothing is deleted by a partial file


def test_check_only_reads_the_file(runtime, tmp_path):
    result = _import(runtime, tmp_path, GOOD, "--check")
    assert result.returncode == 0, result.stderr
    assert "ok, 2 commune(s), 4 authorit(ies), 4 responsibilit(ies)" in result.stdout
    assert _counts(runtime) == (0, 0, 0)


BAD_FILES = [
    pytest.param(b"", "the file is empty", id="empty"),
    pytest.param(HEADER + "\n", "a header but no rows", id="header-only"),
    pytest.param(
        "canton,bfs,commune,task,authority_slug,authority_name\nLU,1061,Luzern,x,y-z,Y,commune\n",
        "line 1: the header lacks the column(s) authority_level",
        id="missing-column",
    ),
    pytest.param(
        HEADER + ",colour\nLU,1061,Luzern,einwohnerdienste,luzern-ed,L,commune,red\n",
        "line 1: unknown column(s) colour",
        id="unknown-column",
    ),
    pytest.param(
        GOOD + "LU,10x1,Luzern,steueramt,luzern-st,Steueramt,commune\n",
        "line 7: BFS number '10x1' is not a number from 1 to 9999",
        id="bad-bfs",
    ),
    pytest.param(
        GOOD + "LU,1024,Emmen,steueramt,emmen-st,Steueramt Emmen,municipal\n",
        "line 7: authority_level 'municipal' is not one of commune, canton, federal, company",
        id="bad-level",
    ),
    pytest.param(
        GOOD + "LU,1058,Horw Dorf,steueramt,horw-st,Steueramt Horw,commune\n",
        "line 7: BFS number 1058 is Horw (LU) in an earlier line, here Horw Dorf (LU)",
        id="two-names-for-one-bfs",
    ),
    pytest.param(
        GOOD + 'LU,1058,Horw,einwohnerdienste,horw-ed,"Gemeinde Horw, Einwohnerdienste",commune\n',
        "line 7: task 'einwohnerdienste' of Horw is given twice",
        id="task-twice",
    ),
    pytest.param(
        GOOD + "LU,1024,Emmen,betreibungsamt,ba-luzern,Betreibungsamt Stadt Luzern,commune\n",
        "line 7: authority ba-luzern is 'Betreibungsamt Luzern' (commune) in line 4",
        id="one-slug-two-names",
    ),
    pytest.param(
        GOOD + "XY,1024,Emmen,steueramt,emmen-st,Steueramt Emmen,commune\n",
        "line 7: canton 'XY' is not a Swiss canton's abbreviation",
        id="bad-canton",
    ),
    pytest.param(
        GOOD + "LU,1024,Emmen,Steueramt,emmen-st,Steueramt Emmen,commune\n",
        "line 7: task 'Steueramt' is not a slug",
        id="bad-task",
    ),
    pytest.param(
        GOOD + "LU,1024,,steueramt,emmen-st,Steueramt Emmen,commune\n",
        "line 7: bfs, commune and task are given together",
        id="half-a-commune",
    ),
    pytest.param(
        GOOD + 'LU,1024,"Em\nmen",steueramt,emmen-st,Steueramt Emmen,commune\n',
        "line 7: not readable as CSV (unexpected end of data)",
        id="quote-across-lines",
    ),
    pytest.param(
        GOOD + "LU,1024,Emmen,steueramt,emmen-st\n",
        "line 7: 5 cells, the header has 7",
        id="short-row",
    ),
    pytest.param(
        HEADER + ",authority_qr_iban\n"
        "LU,1061,Luzern,einwohnerdienste,luzern-ed,L,commune,CH9300762011623852957\n",
        "line 2: authority_qr_iban 'CH9300762011623852957' is not a valid QR-IBAN",
        id="iban-not-qr",
    ),
    pytest.param(
        "# Kommentar\n" + HEADER + "\nLU,1061,Luzern,einwohnerdienste,ed,Ed,commune\n"
        "LU,1061,Luzern,steueramt,st,,commune\n",
        "line 4: authority_name is empty",
        id="comments-keep-line-numbers",
    ),
    pytest.param(
        (HEADER + "\nLU,1061,Z\u00fcrich,einwohnerdienste,zh,Z,commune\n").encode("latin-1"),
        "not UTF-8 text",
        id="latin-1",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_names_its_line_and_writes_nothing(runtime, tmp_path, content, message):
    # The same command in this process (starting the executable for each file takes seconds);
    # test_every_fault_of_a_file_is_listed_at_once runs the installed one.
    path = tmp_path / "communes.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = CliRunner(env=runtime.config.as_env()).invoke(
        cli, ["communes", "import", str(path)], catch_exceptions=False
    )
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr
    assert f"{path}: " in result.stderr
    assert _counts(runtime) == (0, 0, 0)


def test_every_fault_of_a_file_is_listed_at_once(runtime, tmp_path):
    text = GOOD + "LU,99999,Nowhere,x1,a-b,A,commune\nLU,1024,Emmen,x2,a-c,A,cantonal\n"
    result = _import(runtime, tmp_path, text)
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  line 7: BFS number '99999' is not a number from 1 to 9999",
        "  line 8: authority_level 'cantonal' is not one of commune, canton, federal, company",
    ]
    assert "nothing imported" in result.stderr.splitlines()[0]
    assert _counts(runtime) == (0, 0, 0)


def test_the_demo_residents_live_in_different_communes_and_are_routed_there(demo, runtime):
    with runtime.sessions() as session:
        anna = session.scalar(select(Party).where(Party.ahvn13 == demo["resident"]["ahvn13"]))
        beat = session.scalar(select(Party).where(Party.ahvn13 == demo["other_resident"]["ahvn13"]))
        assert anna is not None and beat is not None
        assert (anna.bfs, anna.town, anna.commune.name) == (1061, "Luzern", "Luzern")
        assert (beat.bfs, beat.postcode, beat.commune.name) == (1024, "6020", "Emmen")

        def route(party, rule, task=None, authority=None):
            return responsible_authority(
                session, rule=rule, task=task, authority=authority, bfs=party.bfs
            ).slug

        assert route(anna, "commune", "einwohnerdienste") == "stadt-luzern-einwohnerdienste"
        assert route(beat, "commune", "einwohnerdienste") == "emmen-einwohnerdienste"
        assert route(anna, "region", "betreibungsamt") == "betreibungsamt-luzern"
        assert route(beat, "region", "betreibungsamt") == "betreibungsamt-emmen"
        assert route(anna, "office", authority="lu-migration") == "lu-migration"
        assert route(beat, "office", authority="lu-migration") == "lu-migration"
        # Every demo authority can seal what it issues, imported ones too.
        unsealed = session.scalars(select(Authority.slug).where(Authority.seal_ref.is_(None)))
        assert list(unsealed) == []


def test_the_demo_table_is_the_shipped_file_with_official_bfs_numbers(runtime, tmp_path):
    official = {1061: "Luzern", 1024: "Emmen", 1059: "Kriens", 1058: "Horw", 1054: "Ebikon"}
    result = _import(runtime, tmp_path, demo_table(), "--check")
    assert result.returncode == 0, result.stderr
    from directory.communes import parse_communes_file

    table = parse_communes_file(demo_table())
    names = {bfs: name for bfs, (name, _canton) in table.communes.items()}
    assert official.items() <= names.items()
    tasks_per_commune = {bfs: {t for b, t in table.responsibilities if b == bfs} for bfs in names}
    assert all("einwohnerdienste" in tasks for tasks in tasks_per_commune.values())
    einwohnerdienste = [
        s for (_b, t), s in table.responsibilities.items() if t == "einwohnerdienste"
    ]
    assert len(set(einwohnerdienste)) == len(names)  # each commune its own residents' office
    regional = [s for (_b, t), s in table.responsibilities.items() if t == "betreibungsamt"]
    assert any(regional.count(slug) > 1 for slug in regional)  # one office serves several


def test_an_address_needs_a_known_commune_and_a_swiss_postcode(demo, db_session):
    anna = db_session.scalar(select(Party).where(Party.ahvn13 == demo["resident"]["ahvn13"]))
    assert anna is not None
    with pytest.raises(InvalidInput) as unknown:
        set_address(db_session, anna, street="Hauptstrasse 1", postcode="6000", town="X", bfs=1)
    assert unknown.value.field == "bfs"
    with pytest.raises(InvalidInput) as postcode:
        set_address(db_session, anna, street="Hauptstrasse 1", postcode="60", town="X", bfs=1058)
    assert postcode.value.field == "postcode"
    assert (anna.bfs, anna.street) == (1061, "Pilatusstrasse 12")  # unchanged
    set_address(
        db_session, anna, street=" Kantonsstrasse 7 ", postcode="6048", town="Horw", bfs=1058
    )
    assert (anna.street, anna.commune.name) == ("Kantonsstrasse 7", "Horw")


def _rules(node):
    """Every responsibility rule in a declaration (the service's and its steps')."""
    if isinstance(node, dict):
        if node.get("rule") in {"commune", "region", "office"}:
            yield node
        for value in node.values():
            yield from _rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rules(value)


def test_every_shipped_service_is_routable_in_every_demo_commune(demo, runtime):
    import yaml

    services = sorted((Path(__file__).parents[2] / "catalogue" / "services").glob("*.yaml"))
    assert services
    unroutable = []
    with runtime.sessions() as session:
        communes = list_communes(session)
        assert len(communes) >= 3
        for path in services:
            for rule in _rules(yaml.safe_load(path.read_text("utf-8"))):
                for commune in communes:
                    try:
                        responsible_authority(
                            session,
                            rule=rule["rule"],
                            task=rule.get("task"),
                            authority=rule.get("authority"),
                            bfs=commune.bfs,
                        )
                    except NotRoutable as error:
                        unroutable.append(f"{path.name} in {commune.name}: {error}")
    assert unroutable == []


@pytest.mark.parametrize(
    ("who", "lines"),
    [
        ("resident", ["Pilatusstrasse 12", "6003 Luzern", "Luzern (BFS", "1061"]),
        ("other_resident", ["Gerliswilstrasse 40", "6020 Emmenbrücke", "Emmen (BFS", "1024"]),
    ],
)
def test_a_resident_sees_the_address_and_commune_on_record(client, demo, runtime, who, lines):
    login(client, demo[who])
    page = client.get("/settings")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for line in lines:
        assert line in text
    with runtime.transaction() as session:
        party = session.scalar(select(Party).where(Party.ahvn13 == demo[who]["ahvn13"]))
        assert party is not None
        party.street = party.postcode = party.town = party.bfs = None
    text = client.get("/settings").get_data(as_text=True)
    assert lines[0] not in text


def test_migration_0010_goes_down_and_up_again_with_data(demo, runtime):
    engine = runtime.engine
    downgrade(engine, "9c27d5e8a1f3")  # 0009: before communes and addresses
    tables = set(inspect(engine).get_table_names())
    assert not {"communes", "responsibilities"} & tables
    assert not {"street", "postcode", "town", "bfs"} & _columns(engine, "parties")
    assert not {"qr_iban", "street", "postcode", "town"} & _columns(engine, "authorities")
    upgrade(engine)
    assert {"street", "postcode", "town", "bfs"} <= _columns(engine, "parties")
    assert {"qr_iban", "street", "postcode", "town"} <= _columns(engine, "authorities")
    with runtime.sessions() as session:
        people = session.scalars(select(Party).order_by(Party.display_name)).all()
        assert [p.display_name for p in people][:1] == ["Anna Muster"]  # parties kept
        assert all(p.bfs is None for p in people)  # their addresses went with 0010
        assert session.scalar(select(func.count()).select_from(Commune)) == 0


def _columns(engine, table):
    return {c["name"] for c in inspect(engine).get_columns(table)}
