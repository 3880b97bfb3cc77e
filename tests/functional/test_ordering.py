"""Residents order services through the web form: the order is routed to the office
responsible for them, opens a case file with the sealed form and its journal entry, and a
refused order (wrong values, a forged choice, someone who may not order) stores nothing."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, inspect, select

from app.migrate import downgrade, upgrade
from casefiles.case_keys import unwrap_all
from casefiles.journal import entries
from casefiles.models import CaseAuthority, CaseFile, Document, JournalEntry
from catalogue.models import ServiceVersion, Step
from directory.api_clients import create_api_client, set_webhook_secret
from directory.identifiers import make_ahvn13
from directory.models import Authority, Role
from directory.operations import create_account, register_organisation, register_person
from mailbox.models import Message, WebhookEvent
from storage.blobs import Blob
from tests.conftest import csrf_token, login, post_multipart, wait_for
from tests.functional.test_verify_cli import run_verify
from tests.support.webhook_receiver import start_webhook_receiver

PASSWORD = "a-long-test-password"
BEFORE_ORDERS = "a0c4e7d21b10"  # 0010: communes and addresses


def _order_page(client: FlaskClient, service: str) -> Any:
    return client.get(f"/services/{service}/order")


def _order(client: FlaskClient, service: str, data: dict[str, Any]) -> Any:
    page = _order_page(client, service)
    assert page.status_code == 200, page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    return post_multipart(client, f"/services/{service}/order", {"csrf_token": token, **data})


def _case_of(response: Any, runtime: Any) -> CaseFile:
    assert response.status_code == 302, response.get_data(as_text=True)
    case_id = uuid.UUID(response.headers["Location"].rsplit("/", 1)[-1])
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, case_id)
        session.expunge(case)
        return case


def _slug(runtime: Any, authority_id: uuid.UUID) -> str:
    with runtime.sessions() as session:
        return session.get_one(Authority, authority_id).slug


def _counts(runtime: Any) -> dict[str, int]:
    with runtime.sessions() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (
                CaseFile,
                Document,
                Blob,
                JournalEntry,
                Message,
                Step,
                CaseAuthority,
                ServiceVersion,
                WebhookEvent,
            )
        }


def _clerk_of(runtime: Any, slug: str) -> dict[str, str]:
    """A clerk account of the authority `slug` (the demo has clerks of two offices only)."""
    login_name = f"clerk@{slug}.test"
    with runtime.transaction() as session:
        authority = session.scalars(select(Authority).where(Authority.slug == slug)).one()
        create_account(
            session,
            login=login_name,
            password=PASSWORD,
            role=Role.CLERK,
            display_name=f"Clerk {slug}",
            authority=authority,
        )
    return {"login": login_name, "password": PASSWORD}


def test_residents_of_two_communes_reach_their_own_office(anna, beat, runtime, tmp_path):
    first = _case_of(_order(anna, "wohnsitzbestaetigung", {"purpose": "employer"}), runtime)
    second = _case_of(
        _order(
            beat,
            "wohnsitzbestaetigung",
            {"purpose": "other", "purpose_other": "Für die Wohnungsbewerbung"},
        ),
        runtime,
    )
    assert _slug(runtime, first.authority_id) == "stadt-luzern-einwohnerdienste"
    assert _slug(runtime, second.authority_id) == "emmen-einwohnerdienste"
    assert (first.case_type, first.case_type_version) == ("wohnsitzbestaetigung", 1)

    with runtime.sessions() as session:
        case = session.get_one(CaseFile, second.id)
        journal = entries(session, case)
        ordered = [e for e in journal if e.action == "case.ordered"]
        assert len(ordered) == 1
        payload = ordered[0].payload
        assert (payload["service"], payload["version"]) == ("wohnsitzbestaetigung", 1)
        assert len(payload["digest"]) == len(payload["answers_sha256"]) == 64
        # The sealed PDF and the JSON of the form are in the case file, named by the entry.
        titles = {d.id: d for d in case.documents}
        pdf = titles[uuid.UUID(payload["form_pdf"])].current
        assert pdf.media_type == "application/pdf"
        assert pdf.signatures and pdf.signatures[0]["intact"] and pdf.signatures[0]["valid"]
        form_json = titles[uuid.UUID(payload["form_json"])].current
        assert form_json.media_type == "application/json"
        steps = session.scalars(select(Step).where(Step.case_id == case.id)).all()
        # Opened at ordering; the step lifecycle (catalogue/steps.py) may have run it already,
        # as it is automatic when the register holds the resident's address.
        assert [s.step_id for s in steps] == ["issue"]
        assert steps[0].status.value in ("open", "decided")
        assert steps[0].authority_id == case.authority_id
        versions = session.scalars(select(ServiceVersion)).all()
        assert [(v.service_id, v.version) for v in versions] == [("wohnsitzbestaetigung", 1)]

    # The confirmation names the office, the dossier shows the order and its sealed form.
    confirmation = beat.get(f"/orders/{second.id}").get_data(as_text=True)
    assert "Gemeinde Emmen, Einwohnerdienste" in confirmation
    assert second.reference in confirmation
    dossier = beat.get(f"/cases/{second.id}").get_data(as_text=True)
    assert "Bestellung: Wohnsitzbestätigung" in dossier
    assert beat.get(f"/documents/{pdf.id}").status_code == 200
    # Anna sees neither Beat's case file nor his order's confirmation.
    assert anna.get(f"/cases/{second.id}").status_code == 404
    assert anna.get(f"/orders/{second.id}").status_code == 404

    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_move_reaches_three_offices_which_see_the_case_file(app, anna, runtime, pdf, tmp_path):
    data = {
        "move_type": "within_canton",
        "move_date": "2026-11-30",
        "new_commune": "1059",
        "new_address.street": "Luzernerstrasse 3",
        "new_address.postcode": "6010",
        "new_address.town": "Kriens",
        "has_vehicle": "yes",
        "plate_numbers": "LU 123456",
        "tenancy": (io.BytesIO(pdf("Mietvertrag")), "mietvertrag.pdf"),
    }
    case = _case_of(_order(anna, "umzug-melden", data), runtime)
    # The new commune leads; the old one deregisters; the road traffic office follows.
    assert _slug(runtime, case.authority_id) == "kriens-einwohnerdienste"
    with runtime.sessions() as session:
        steps = {
            s.step_id: (s.status.value, s.authority.slug if s.authority else None)
            for s in session.scalars(select(Step).where(Step.case_id == case.id))
        }
        taking_part = {
            session.get_one(Authority, a.authority_id).slug: a.role
            for a in session.scalars(select(CaseAuthority).where(CaseAuthority.case_id == case.id))
        }
        documents = session.scalars(select(Document).where(Document.case_id == case.id)).all()
        filenames = {d.current.filename for d in documents}
    assert steps["register"] == ("open", "kriens-einwohnerdienste")
    assert steps["deregister"] == ("open", "stadt-luzern-einwohnerdienste")
    assert any(a == "lu-strassenverkehrsamt" for _s, a in steps.values())
    assert taking_part["kriens-einwohnerdienste"] == "lead"
    assert taking_part["stadt-luzern-einwohnerdienste"] == "step"
    assert "mietvertrag.pdf" in filenames

    # Every authority taking part sees the case file; any other gets 404.
    for slug, status in (
        ("stadt-luzern-einwohnerdienste", 200),
        ("kriens-einwohnerdienste", 200),
        ("lu-strassenverkehrsamt", 200),
        ("emmen-einwohnerdienste", 404),
        ("lu-steuern", 404),
    ):
        clerk = app.test_client()
        login(clerk, _clerk_of(runtime, slug))
        assert clerk.get(f"/cases/{case.id}").status_code == status, slug

    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_regional_office_serves_each_residents_commune(anna, beat, runtime, pdf, tmp_path):
    """The debt-collection extract goes to the regional office of the resident's commune."""
    answers = {"purpose": "flat", "resident_since": "01.04.2019"}
    pdf_copy = {**answers, "id_copy": (io.BytesIO(pdf("Pass")), "pass.pdf")}
    first = _case_of(_order(anna, "betreibungsregisterauszug", pdf_copy), runtime)
    with_id = {**answers, "id_copy": (io.BytesIO(_png()), "ausweis.png")}
    second = _case_of(_order(beat, "betreibungsregisterauszug", with_id), runtime)
    assert _slug(runtime, first.authority_id) == "betreibungsamt-luzern"
    assert _slug(runtime, second.authority_id) == "betreibungsamt-emmen"
    with runtime.sessions() as session:
        documents = session.scalars(select(Document).where(Document.case_id == second.id)).all()
        media = {d.current.filename: d.current.media_type for d in documents}
        ordered = session.scalars(
            select(JournalEntry).where(
                JournalEntry.case_id == second.id, JournalEntry.action == "case.ordered"
            )
        ).one()
    assert media["ausweis.png"] == "image/png"
    assert len(ordered.payload["documents"]) == 3  # the form as PDF and JSON, and the copy
    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_step_whose_condition_fails_is_skipped(anna, runtime):
    data = {
        "move_type": "within_commune",
        "move_date": "2026-11-30",
        "new_commune": "1061",
        "new_address.street": "Hertensteinstrasse 1",
        "new_address.postcode": "6004",
        "new_address.town": "Luzern",
        "has_vehicle": "no",
    }
    case = _case_of(_order(anna, "umzug-melden", data), runtime)
    with runtime.sessions() as session:
        steps = {
            s.step_id: s.status.value
            for s in session.scalars(select(Step).where(Step.case_id == case.id))
        }
    assert steps["register"] == "open"
    assert steps["deregister"] == "skipped"


def test_the_form_speaks_the_residents_language_and_the_office_sees_the_order(
    app, anna, demo, runtime
):
    page = anna.get("/services/umzug-melden/order?lang=fr").get_data(as_text=True)
    assert "Nouvelle commune de domicile" in page
    assert '<option value="1059">Kriens</option>' in page
    anna.get("/services/umzug-melden/order?lang=de")
    case = _case_of(_order(anna, "wohnsitzbestaetigung", {"purpose": "employer"}), runtime)
    # The order reaches the lead office among its incoming messages, with the sealed form.
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    queue = clerk.get("/office/replies").get_data(as_text=True)
    assert f"{case.reference}: Wohnsitzbestätigung" in queue
    assert "Bestellung «Wohnsitzbestätigung»" in queue
    dossier = clerk.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f"Bestellung-{case.reference}.pdf" in dossier


def test_the_form_is_prefilled_from_the_register(anna, demo):
    page = anna.get("/services/strafregisterauszug/order").get_data(as_text=True)
    assert f'value="{demo["resident"]["ahvn13"]}"' in page


def test_form_errors_are_shown_beside_their_fields_with_the_values_kept(anna, runtime):
    before = _counts(runtime)
    response = _order(anna, "wohnsitzbestaetigung", {"purpose": "other", "purpose_other": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html
    assert 'href="#field-purpose_other"' in html
    assert 'id="field-purpose_other-error"' in html
    assert '<option value="other" selected>' in html
    assert _counts(runtime) == before

    missing = _order(anna, "umzug-melden", {"move_type": "within_canton", "move_date": "gestern"})
    html = missing.get_data(as_text=True)
    assert missing.status_code == 422
    for field in ("move_date", "new_commune", "new_address", "has_vehicle"):
        assert f'id="field-{field}-error"' in html, field
    assert 'value="gestern"' in html
    assert _counts(runtime) == before


def test_an_uploaded_file_is_kept_while_the_form_is_corrected(anna, runtime, pdf):
    before = _counts(runtime)
    answers = {
        "purpose": "flat",
        "id_copy": (io.BytesIO(pdf("Pass")), "pass.pdf"),
    }  # resident_since is missing
    response = _order(anna, "betreibungsregisterauszug", answers)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="field-resident_since-error"' in html
    assert "pass.pdf" in html  # named as kept, not to be chosen again
    assert 'name="drop_id_copy"' in html
    assert _counts(runtime) == before  # kept outside every case file

    token = csrf_token(html)
    data = {"csrf_token": token, "purpose": "flat", "resident_since": "2019-04-01"}
    case = _case_of(
        post_multipart(anna, "/services/betreibungsregisterauszug/order", data), runtime
    )
    with runtime.sessions() as session:
        names = {
            d.current.filename
            for d in session.scalars(select(Document).where(Document.case_id == case.id))
        }
    assert "pass.pdf" in names


def test_a_kept_file_can_be_removed(anna, runtime, pdf):
    answers = {"purpose": "flat", "id_copy": (io.BytesIO(pdf("Pass")), "pass.pdf")}
    html = _order(anna, "betreibungsregisterauszug", answers).get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(html),
        "purpose": "flat",
        "resident_since": "2019-04-01",
        "drop_id_copy": "1",
    }
    again = post_multipart(anna, "/services/betreibungsregisterauszug/order", data)
    assert again.status_code == 422  # the copy of the passport is required
    html = again.get_data(as_text=True)
    assert 'id="field-id_copy-error"' in html
    assert 'name="drop_id_copy"' not in html


def test_a_tampered_choice_is_refused_and_nothing_is_stored(anna, runtime):
    before = _counts(runtime)
    response = _order(anna, "wohnsitzbestaetigung", {"purpose": "<script>alert(1)</script>"})
    assert response.status_code == 422
    assert 'id="field-purpose-error"' in response.get_data(as_text=True)
    forged_commune = _order(
        anna,
        "umzug-melden",
        {
            "move_type": "within_canton",
            "move_date": "2026-11-30",
            "new_commune": "9999",
            "new_address.street": "Irgendwo 1",
            "new_address.postcode": "6000",
            "new_address.town": "Nirgends",
            "has_vehicle": "no",
        },
    )
    assert forged_commune.status_code == 422
    assert 'id="field-new_commune-error"' in forged_commune.get_data(as_text=True)
    assert _counts(runtime) == before


def test_a_refused_file_is_named_beside_its_field_and_nothing_is_stored(anna, runtime, pdf):
    before = _counts(runtime)
    data = {
        "move_type": "within_canton",
        "move_date": "2026-11-30",
        "new_commune": "1059",
        "new_address.street": "Luzernerstrasse 3",
        "new_address.postcode": "6010",
        "new_address.town": "Kriens",
        "has_vehicle": "no",
        "tenancy": (io.BytesIO(b"<html>not a pdf</html>"), "mietvertrag.pdf"),
    }
    response = _order(anna, "umzug-melden", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="field-tenancy-error"' in html
    assert 'value="Luzernerstrasse 3"' in html
    assert _counts(runtime) == before


def test_who_may_not_order_gets_403_and_nothing_is_stored(app, demo, runtime):
    with runtime.transaction() as session:
        company = register_organisation(session, name="Muster AG", uid="CHE-116.281.710")
        create_account(
            session,
            login="firma@muster.test",
            password=PASSWORD,
            role=Role.RESIDENT,
            display_name="Muster AG",
            party=company,
        )
    before = _counts(runtime)
    company_client = app.test_client()
    login(company_client, {"login": "firma@muster.test", "password": PASSWORD})
    page = company_client.get("/services/wohnsitzbestaetigung/order?lang=en")
    assert page.status_code == 403
    assert "only be ordered by a person" in page.get_data(as_text=True)
    # A forged POST (the token from another page of the session) is refused the same way.
    token = csrf_token(company_client.get("/settings").get_data(as_text=True))
    forged = company_client.post(
        "/services/wohnsitzbestaetigung/order", data={"csrf_token": token, "purpose": "employer"}
    )
    assert forged.status_code == 403

    clerk = app.test_client()
    login(clerk, demo["clerk"])
    token = csrf_token(clerk.get("/office/deliver").get_data(as_text=True))
    refused = clerk.post(
        "/services/wohnsitzbestaetigung/order", data={"csrf_token": token, "purpose": "employer"}
    )
    assert refused.status_code == 403
    assert _counts(runtime) == before


def test_without_a_known_commune_the_order_is_refused_with_a_reason(app, demo, runtime):
    with runtime.transaction() as session:
        person = register_person(
            session, given_name="Dora", family_name="Ohneort", ahvn13=make_ahvn13(456789123)
        )
        create_account(
            session,
            login="dora@example.ch",
            password=PASSWORD,
            role=Role.RESIDENT,
            display_name=person.display_name,
            party=person,
        )
    before = _counts(runtime)
    dora = app.test_client()
    login(dora, {"login": "dora@example.ch", "password": PASSWORD})
    dora.get("/services/wohnsitzbestaetigung/order?lang=en")  # the messages below in English
    response = _order(dora, "wohnsitzbestaetigung", {"purpose": "employer"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html
    assert "No commune is known for your address" in html
    assert '<option value="employer" selected>' in html
    assert _counts(runtime) == before


def test_an_order_needs_the_csrf_token_and_a_known_service(anna, runtime):
    before = _counts(runtime)
    response = anna.post("/services/wohnsitzbestaetigung/order", data={"purpose": "employer"})
    assert response.status_code == 400
    assert anna.get("/services/no-such-service/order").status_code == 404
    assert _counts(runtime) == before


def test_the_lead_office_gets_a_case_ordered_webhook(anna, runtime):
    receiver = start_webhook_receiver()
    try:
        with runtime.transaction() as session:
            luzern = session.scalars(
                select(Authority).where(Authority.slug == "stadt-luzern-einwohnerdienste")
            ).one()
            client = create_api_client(session, luzern, "Hook test", webhook_url=receiver.url)
            set_webhook_secret(session, client)
        case = _case_of(_order(anna, "wohnsitzbestaetigung", {"purpose": "authority"}), runtime)
        sent = wait_for(lambda: [r for r in receiver.requests if b"case.ordered" in r.body])
    finally:
        receiver.stop()
    event = json.loads(sent[0].body)
    assert event["type"] == "case.ordered"
    assert event["data"]["case_id"] == str(case.id)
    assert event["data"]["service"] == "wohnsitzbestaetigung"
    assert [s["step"] for s in event["data"]["steps"]] == ["issue"]


def test_migration_0011_goes_down_and_up_again(anna, runtime):
    """Downgrading drops the steps, the declarations and who takes part; the case file stays a
    plain case file of its lead authority, and upgrading brings the tables back."""
    case = _case_of(_order(anna, "wohnsitzbestaetigung", {"purpose": "employer"}), runtime)
    engine = runtime.engine
    unwrap_all(runtime.transaction)  # below 0013 the KEK wraps every data key again
    downgrade(engine, BEFORE_ORDERS)
    tables = set(inspect(engine).get_table_names())
    assert not {"steps", "service_versions", "case_authorities"} & tables
    columns = {c["name"] for c in inspect(engine).get_columns("case_files")}
    assert not {"case_type", "case_type_version"} & columns
    upgrade(engine)
    assert {"steps", "service_versions", "case_authorities"} <= set(
        inspect(engine).get_table_names()
    )
    with runtime.sessions() as session:
        again = session.get_one(CaseFile, case.id)
        assert again.reference == case.reference
        assert again.case_type is None  # the journal's case.ordered still names it
