"""Demo data: a few authorities, residents and staff, so the portal can be tried at once."""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

from sqlalchemy import select

from app.config import Config
from app.runtime import Runtime
from directory.actors import Actor
from directory.api_clients import create_api_client, create_api_key
from directory.communes import demo_table, import_communes, set_address
from directory.consent import give_consent
from directory.identifiers import make_ahvn13
from directory.models import Account, Authority, AuthorityLevel, Role
from directory.operations import (
    assign_seal,
    create_account,
    register_authority,
    register_person,
)
from signing.authority_keys import issue_authority_seal

AUTHORITIES = [
    ("stadt-luzern-einwohnerdienste", "Stadt Luzern, Einwohnerdienste", AuthorityLevel.COMMUNE),
    ("estv", "Eidgenössische Steuerverwaltung", AuthorityLevel.FEDERAL),
]
RESIDENTS = [
    ("Anna", "Muster", 123456789),
    ("Beat", "Beispiel", 234567891),
    ("Chiara", "Rossi", 345678912),
]
# Residents live in different communes, so that routing by commune shows (BFS numbers as in
# directory/data/communes-lu.csv; the streets are demo values).
ADDRESSES = {
    "Anna": ("Pilatusstrasse 12", "6003", "Luzern", 1061),
    "Beat": ("Gerliswilstrasse 40", "6020", "Emmenbrücke", 1024),
    "Chiara": ("Luzernerstrasse 25", "6010", "Kriens", 1059),
}
ARCHIVISTS = [
    ("archiv@staatsarchiv.demo", "Staatsarchiv Luzern"),
    ("archiv2@staatsarchiv.demo", "Staatsarchiv Luzern (2)"),
]
CLERKS = [
    ("sachbearbeiter@stadtluzern.demo", "Sandra Meier", "stadt-luzern-einwohnerdienste"),
    ("steuern@lu.demo", "Thomas Keller", "lu-steuern"),
    # Offices that take part in the demo orders (a move from Emmen to Luzern, say), so that
    # each step queue can be seen from the inside.
    ("einwohnerdienste@emmen.demo", "Reto Bühler", "emmen-einwohnerdienste"),
    ("strassenverkehrsamt@lu.demo", "Lea Frei", "lu-strassenverkehrsamt"),
    ("betreibungsamt@luzern.demo", "Marco Steiner", "betreibungsamt-luzern"),
]


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def create_demo(runtime: Runtime) -> list[dict[str, Any]]:
    """Create the demo accounts once; later calls return what the instance file holds."""
    path = runtime.config.instance_path / "demo-accounts.json"
    with runtime.transaction() as session:
        if session.scalar(select(Account.id).limit(1)) is not None and path.exists():
            return json.loads(path.read_text())["accounts"]  # type: ignore[no-any-return]
        accounts: list[dict[str, Any]] = []
        authorities = {
            slug: register_authority(session, slug=slug, name=name, level=level)
            for slug, name, level in AUTHORITIES
        }
        # The demo communes, their offices and the fixed cantonal and federal offices.
        import_communes(session, demo_table())
        authorities = {
            a.slug: a for a in session.scalars(select(Authority).order_by(Authority.slug))
        }
        seal_folder = runtime.config.keys_dir / "authorities"
        for slug, authority in authorities.items():
            issue_authority_seal(runtime.keyring, seal_folder, slug, authority.name)
            assign_seal(session, authority, f"file:{seal_folder / slug}")
        for given, family, body in RESIDENTS:
            person = register_person(
                session,
                given_name=given,
                family_name=family,
                ahvn13=make_ahvn13(body),
                email=f"{given.lower()}.{family.lower()}@example.ch",
            )
            street, postcode, town, bfs = ADDRESSES[given]
            set_address(session, person, street=street, postcode=postcode, town=town, bfs=bfs)
            login, password = f"{given.lower()}.{family.lower()}@example.ch", _password()
            account = create_account(
                session,
                login=login,
                password=password,
                role=Role.RESIDENT,
                display_name=person.display_name,
                party=person,
            )
            if given != "Chiara":  # one resident without consent shows the paper fallback
                give_consent(session, Actor.for_account(account))
            accounts.append(
                {
                    "role": "resident",
                    "name": person.display_name,
                    "login": login,
                    "password": password,
                    "ahvn13": person.ahvn13,
                }
            )
        for login, name, slug in CLERKS:
            password = _password()
            create_account(
                session,
                login=login,
                password=password,
                role=Role.CLERK,
                display_name=name,
                authority=authorities[slug],
            )
            accounts.append(
                {
                    "role": "clerk",
                    "name": name,
                    "login": login,
                    "password": password,
                    "authority": authorities[slug].name,
                }
            )
        client = create_api_client(
            session,
            authorities["stadt-luzern-einwohnerdienste"],
            "Einwohnerregister (Demo-Fachapplikation)",
        )
        _key, token = create_api_key(session, client)
        accounts.append(
            {
                "role": "api_client",
                "name": client.name,
                "login": str(client.id),
                "password": token,
                "api_key": token,
                "authority": authorities["stadt-luzern-einwohnerdienste"].name,
            }
        )
        # Two archivists: an appraisal is proposed by one and decided by another (four eyes).
        for login, name in ARCHIVISTS:
            password = _password()
            create_account(
                session, login=login, password=password, role=Role.ARCHIVIST, display_name=name
            )
            accounts.append(
                {"role": "archivist", "name": name, "login": login, "password": password}
            )
    path.write_text(json.dumps({"accounts": accounts}, indent=2, ensure_ascii=False))
    path.chmod(0o600)
    return accounts


# Orders already running when the demo starts (issue 9), as residents would have placed them
# through the web form: Anna's residence certificate at her commune, Beat's move from Emmen to
# Luzern (three offices: Luzern leads, Emmen deregisters, the road traffic office follows).
DEMO_ORDERS = [
    ("anna.muster@example.ch", "wohnsitzbestaetigung", {"purpose": "employer"}),
    (
        "beat.beispiel@example.ch",
        "umzug-melden",
        {
            "move_type": "within_canton",
            "move_date": "2026-11-30",
            "new_commune": "1061",
            "new_address.street": "Hertensteinstrasse 18",
            "new_address.postcode": "6004",
            "new_address.town": "Luzern",
            "has_vehicle": "yes",
            "plate_numbers": "LU 248135",
        },
    ),
]


def create_demo_orders(runtime: Runtime) -> int:
    """Place the demo orders once (not in the test suite's demo: tests count case files)."""
    from casefiles.models import CaseFile
    from catalogue.ordering import order

    placed = 0
    with runtime.transaction() as session:
        if session.scalar(select(CaseFile.id).where(CaseFile.case_type.is_not(None)).limit(1)):
            return 0
        for login, service, answers in DEMO_ORDERS:
            account = session.scalar(select(Account).where(Account.login == login))
            if account is None:
                continue
            order(session, Actor.for_account(account), service, answers, {})
            placed += 1
    return placed


# Case files closed long enough ago for the archivists (issue 10): closed now with a retention
# of 0 years, their retention has passed, so the demo shows appraisal, export and destruction;
# the last one is kept 10 years and cannot be appraised yet.
DEMO_CLOSED = [
    ("anna.muster@example.ch", "Wohnsitzbestätigung 2014", "archive", 0),
    ("beat.beispiel@example.ch", "Hundebewilligung 2013", "destroy", 0),
    ("anna.muster@example.ch", "Parkkarte Zone B 2012", "destroy", 0),
    ("beat.beispiel@example.ch", "Baubewilligung Gartenhaus", "archive", 10),
]


def create_demo_closed(runtime: Runtime) -> int:
    """Open, fill and close the demo's old case files once (not in the test suite's demo)."""
    from casefiles.documents import Upload, check_upload
    from casefiles.lifecycle import close_case
    from casefiles.models import CaseFile, CaseStatus
    from casefiles.operations import add_document, open_case

    closed = 0
    with runtime.transaction() as session:
        if session.scalar(select(CaseFile.id).where(CaseFile.status != CaseStatus.OPEN).limit(1)):
            return 0
        clerk = session.scalar(select(Account).where(Account.login == CLERKS[0][0]))
        if clerk is None or clerk.authority is None:
            return 0
        me = Actor.for_account(clerk)
        for login, title, disposition, years in DEMO_CLOSED:
            holder = session.scalar(select(Account).where(Account.login == login))
            if holder is None or holder.party is None:
                continue
            case = open_case(session, me, title=title, authority=clerk.authority,
                             parties=[(holder.party, "recipient")])  # fmt: skip
            upload = Upload(filename=f"{title}.pdf", stream=io.BytesIO(_letter(title)))
            checked = check_upload(upload)
            try:
                add_document(session, me, case, checked, title=title)
            finally:
                checked.close()
            close_case(session, me, case, years=years, disposition=disposition,
                       automatic=False, reason="Demo")  # fmt: skip
            closed += 1
    return closed


def _letter(title: str) -> bytes:
    """A one-page PDF letter for a demo case file."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, f"Stadt Luzern, Einwohnerdienste – {title}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def format_accounts(accounts: list[dict[str, Any]], config: Config) -> str:
    lines = [
        f"Demo portal: {config.base_url}",
        f"Demo accounts (also in {config.instance_path / 'demo-accounts.json'}):",
    ]
    for a in accounts:
        if a["role"] == "api_client":
            lines.append(f"  API key of {a['name']} ({a['authority']}):\n    {a['api_key']}")
            continue
        extra = a.get("ahvn13") or a.get("authority") or ""
        if a["role"] == "archivist":  # two of them: four eyes
            extra = a["name"]
        lines.append(f"  {a['role']:<10} {a['login']:<36} {a['password']:<20} {extra}")
    return "\n".join(lines)
