"""Probes of ordering from the outside, as a curious or hostile resident would try them over
HTTP: another resident's order, answer and kept upload; a `from` that is not theirs; hostile
values in every kind of field; a hostile or oversized file. Each refusal is a 4xx with a
message, never a 500, and stores nothing (no case file, entry, message, document or object)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from casefiles.models import CaseFile, Document, JournalEntry
from catalogue.models import Step, StepStatus
from mailbox.models import Message
from storage.blobs import Blob
from tests.conftest import csrf_token, login, post_multipart
from tests.support import hostile
from tests.support.ordering_world import actor_of, clerk_of, place

FORM = "/services/wohnsitzbestaetigung/order"
EXTRACT = "/services/betreibungsregisterauszug/order"


def _counts(runtime: Any) -> dict[str, int]:
    with runtime.sessions() as session:
        counted = {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (CaseFile, JournalEntry, Message, Document, Blob, Step)
        }
    counted["objects"] = sum(1 for _ in runtime.objects.store.iter_keys())
    return counted


def _token(client: FlaskClient, path: str = FORM) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return csrf_token(page.get_data(as_text=True))


def _post(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return post_multipart(client, path, {"csrf_token": _token(client, path), **data})


def _no_500(response: Any) -> Any:
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    return response


def _annas_order(anna: FlaskClient) -> uuid.UUID:
    response = _post(anna, FORM, {"purpose": "employer"})
    assert response.status_code == 302, response.get_data(as_text=True)
    return uuid.UUID(response.headers["Location"].rsplit("/", 1)[-1])


# --- Another resident's ids ---------------------------------------------------------------


def test_another_residents_confirmation_is_404(anna, beat, app, demo):
    case_id = _annas_order(anna)
    assert anna.get(f"/orders/{case_id}").status_code == 200
    assert beat.get(f"/orders/{case_id}").status_code == 404
    assert beat.get(f"/cases/{case_id}").status_code == 404
    for odd in ("not-a-uuid", str(uuid.uuid4()), "%00", "1" * 500):
        assert _no_500(beat.get(f"/orders/{odd}")).status_code == 404
    # A clerk of an office that takes no part in it: 404 too.
    clerk = app.test_client()
    login(clerk, demo["other_clerk"])
    assert clerk.get(f"/orders/{case_id}").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/orders/{case_id}").status_code in (302, 401)


def test_answering_another_residents_request_is_404_and_stores_nothing(anna, beat, runtime, demo):
    """Anna's Betreibungsregisterauszug: the office asks her for information; Beat, who knows
    both ids, cannot answer in her place."""
    from catalogue import steps
    from catalogue.outcomes import NeedsInformation

    resident = actor_of(runtime, demo["resident"]["login"])
    case_id = place(
        runtime,
        resident,
        "hund-anmelden",
        {
            "dog_name": "Bello",
            "breed": "Labrador",
            "dog_birth_date": "2024-03-01",
            "microchip": "756098765432101",
            "kept_since": "2025-01-01",
            "previous_commune": "no",
        },
    )
    with runtime.sessions() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id)).one()
        step_id, slug = step.id, step.authority.slug
    clerk = clerk_of(runtime, slug)
    with runtime.transaction() as session:
        steps.claim(session, clerk, step_id)
        steps.record_outcome(session, clerk, step_id, NeedsInformation("Welche Rasse genau?"))
    before = _counts(runtime)
    token = csrf_token(beat.get("/settings").get_data(as_text=True))
    path = f"/cases/{case_id}/steps/{step_id}/answer"
    forged = post_multipart(beat, path, {"csrf_token": token, "text": "Ein Dackel."})
    assert forged.status_code == 404, forged.get_data(as_text=True)[:500]
    # The step id under a case file of Beat's own, or under a made-up one: 404 as well.
    assert (
        post_multipart(
            beat,
            f"/cases/{uuid.uuid4()}/steps/{step_id}/answer",
            {"csrf_token": token, "text": "x"},
        ).status_code
        == 404
    )
    assert (
        _no_500(
            post_multipart(
                beat, f"/cases/{case_id}/steps/nope/answer", {"csrf_token": token, "text": "x"}
            )
        ).status_code
        == 404
    )
    # Without the token: refused before anything is looked at.
    assert anna.post(path, data={"text": "Ein Dackel."}).status_code == 400
    assert _counts(runtime) == before
    with runtime.sessions() as session:
        assert session.get_one(Step, step_id).status == StepStatus.NEEDS_INFORMATION


def test_a_clerk_cannot_mark_a_fee_paid_on_the_resident_side(anna, beat, runtime, demo):
    """The fee pages: a resident may see her fees in the dossier but not mark them paid, and
    another resident sees nothing of them."""
    from catalogue import steps
    from catalogue.models import Fee
    from catalogue.outcomes import Decided

    resident = actor_of(runtime, demo["resident"]["login"])
    case_id = place(
        runtime,
        resident,
        "hund-anmelden",
        {
            "dog_name": "Bello",
            "breed": "Labrador",
            "dog_birth_date": "2024-03-01",
            "microchip": "756098765432101",
            "kept_since": "2025-01-01",
            "previous_commune": "no",
        },
    )
    with runtime.sessions() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id)).one()
        step_id, slug = step.id, step.authority.slug
    clerk = clerk_of(runtime, slug)
    with runtime.transaction() as session:
        steps.claim(session, clerk, step_id)
        steps.record_outcome(
            session, clerk, step_id, Decided("Hund registriert", "Bello ist registriert.", [], 30)
        )
    with runtime.sessions() as session:
        fee_id = session.scalars(select(Fee.id).where(Fee.case_id == case_id)).one()
    page = anna.get(f"/cases/{case_id}")
    assert page.status_code == 200
    before = _counts(runtime)
    for client in (anna, beat):
        token = csrf_token(client.get("/settings").get_data(as_text=True))
        refused = client.post(f"/office/fees/{fee_id}/paid", data={"csrf_token": token})
        assert refused.status_code in (403, 404), refused.status_code
    assert beat.get(f"/cases/{case_id}").status_code == 404
    assert _counts(runtime) == before


# --- The kept upload ------------------------------------------------------------------------


def _keep_a_file(client: FlaskClient, pdf: Any) -> str:
    """Submit the extract form with a file and a missing date: the file is kept."""
    response = _post(
        client,
        EXTRACT,
        {
            "purpose": "flat",
            "id_copy": (io.BytesIO(pdf("Pass Anna")), "pass-anna.pdf"),
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "pass-anna.pdf" in html
    return html


def test_a_kept_upload_stays_with_its_session(anna, beat, app, demo, runtime, pdf):
    annas_form = _keep_a_file(anna, pdf)
    # Beat sees no kept file on his form, and his order does not carry Anna's file.
    page = beat.get(EXTRACT).get_data(as_text=True)
    assert "pass-anna.pdf" not in page
    again = _post(beat, EXTRACT, {"purpose": "flat", "resident_since": "2019-04-01"})
    assert again.status_code == 422  # his own copy is missing: Anna's is not his
    assert "pass-anna.pdf" not in again.get_data(as_text=True)
    # Beat asking to drop the field changes nothing of Anna's.
    _no_500(_post(beat, EXTRACT, {"purpose": "flat", "drop_id_copy": "1"}))
    # (Anna posts again without loading the form: a fresh form forgets what was kept.)
    html = post_multipart(
        anna, EXTRACT, {"csrf_token": csrf_token(annas_form), "purpose": "flat"}
    ).get_data(as_text=True)
    assert "pass-anna.pdf" in html


def test_a_kept_upload_does_not_survive_a_logout(anna, app, demo, runtime, pdf):
    """Anna leaves a kept file on a shared computer and logs out; Beat logs in on the same
    browser and must not find it, neither shown nor carried into his order."""
    html = _keep_a_file(anna, pdf)
    anna.post("/logout", data={"csrf_token": csrf_token(html)})
    login(anna, demo["other_resident"])  # the same browser, now Beat
    page = anna.get(EXTRACT).get_data(as_text=True)
    assert "pass-anna.pdf" not in page
    response = post_multipart(
        anna,
        EXTRACT,
        {
            "csrf_token": csrf_token(page),
            "purpose": "flat",
            "resident_since": "2019-04-01",
        },
    )
    assert response.status_code == 422, "Anna's kept passport went into Beat's order"


def test_a_forged_kept_entry_in_the_cookie_is_not_accepted(anna, runtime, pdf):
    """The kept file is named in the signed session cookie: a client that edits it loses the
    session (the signature fails), so it cannot point at an object of someone else."""
    _keep_a_file(anna, pdf)
    cookie = anna.get_cookie("session")
    assert cookie is not None
    value = cookie.value
    tampered = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    anna.set_cookie("session", tampered)
    response = anna.get(EXTRACT)
    assert response.status_code in (302, 401)  # logged out, not someone else's file


# --- The `from` parameter ------------------------------------------------------------------


def test_the_follow_up_source_must_be_the_residents_own(anna, beat, runtime):
    case_id = _annas_order(anna)
    before = _counts(runtime)
    path = "/services/fristerstreckung-steuererklaerung/order"
    assert beat.get(f"{path}?from={case_id}").status_code == 404
    for odd in ("x", "0", "%00", str(uuid.uuid4()), "'; drop table case_files; --", "1" * 1000):
        assert _no_500(anna.get(f"{path}?from={odd}")).status_code == 404, odd
    # Her own case file of a type that offers no such follow-up: 422 with a reason.
    assert anna.get(f"{path}?from={case_id}").status_code == 422
    # The POST under the same `from`: refused the same way, nothing stored.
    token = csrf_token(anna.get("/settings").get_data(as_text=True))
    forged = post_multipart(
        beat,
        f"{path}?from={case_id}",
        {
            "csrf_token": token,
            "tax_year": "2025",
            "requested_until": "until_0930",
        },
    )
    assert forged.status_code in (400, 404)
    assert _counts(runtime) == before


# --- Hostile values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "x" * 100_000,  # far beyond max_length 200
        "Arbeit\x00geber",  # a NUL byte
        "\u202egnuberwohn",  # a right-to-left override
        "A\u200b\u200bB",  # zero-width spaces
        "\u2067Arbeit\u2069",  # a right-to-left isolate
        "Arbeit\x85geber",  # a C1 control (next line)
        "\x1b[31mrot",  # an escape sequence
    ],
    ids=["oversized", "nul", "rtl-override", "zero-width", "rtl-isolate", "c1", "escape"],
)
def test_hostile_text_is_refused_or_kept_harmless(anna, runtime, value):
    before = _counts(runtime)
    response = _no_500(_post(anna, FORM, {"purpose": "other", "purpose_other": value}))
    if response.status_code == 302:  # accepted: then as text that cannot hurt
        assert value in ("A\u200b\u200bB",), f"accepted {value[:30]!r}"
        return
    assert response.status_code == 422, response.status_code
    assert 'id="field-purpose_other-error"' in response.get_data(as_text=True)
    assert _counts(runtime) == before


def test_bytes_that_are_no_utf8_get_no_500(anna, runtime):
    """A lone surrogate / broken UTF-8 in a urlencoded body: werkzeug replaces it (U+FFFD)."""
    before = _counts(runtime)
    body = f"csrf_token={_token(anna)}&purpose=other&purpose_other=%ED%A0%80%FF%FE"
    response = _no_500(
        anna.post(FORM, data=body.encode(), content_type="application/x-www-form-urlencoded")
    )
    assert response.status_code in (302, 422)
    if response.status_code == 422:
        assert _counts(runtime) == before


def test_a_tax_year_must_be_a_whole_number(anna, runtime):
    path = "/services/fristerstreckung-steuererklaerung/order"
    response = _post(anna, path, {"tax_year": "2025.5", "requested_until": "until_0930"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "year", ["9" * 5000, "1e9", "-2025", "0x7E9", "２０２５", "NaN", "Infinity", " "]
)
def test_odd_numbers_are_refused_beside_the_field(anna, runtime, year):
    path = "/services/fristerstreckung-steuererklaerung/order"
    before = _counts(runtime)
    response = _no_500(_post(anna, path, {"tax_year": year, "requested_until": "until_0930"}))
    assert response.status_code == 422, (year[:20], response.status_code)
    assert 'id="field-tax_year-error"' in response.get_data(as_text=True)
    assert _counts(runtime) == before


@pytest.mark.parametrize(
    "date",
    [
        "0001-01-01",
        "9999-12-31",
        "2025-02-30",
        "31.02.2020",
        "2020-1-1x",
        "00.00.0000",
        "10000-01-01",
        "-0001-01-01",
    ],
)
def test_odd_dates_get_no_500(anna, runtime, date):
    before = _counts(runtime)
    response = _no_500(_post(anna, EXTRACT, {"purpose": "flat", "resident_since": date}))
    # The copy of the passport is missing anyway: refused, and the date named if it is wrong.
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    if date not in ("0001-01-01",):
        assert 'id="field-resident_since-error"' in html, date
    assert _counts(runtime) == before


def test_a_far_past_date_is_accepted_only_where_the_declaration_allows(anna, runtime, pdf):
    """0001-01-01 as "resident since": the declaration sets no minimum, so it is a date; the
    form must not crash on it, and the PDF of the form must render it."""
    response = _no_500(
        _post(
            anna,
            EXTRACT,
            {
                "purpose": "flat",
                "resident_since": "0001-01-01",
                "id_copy": (io.BytesIO(pdf("Pass")), "pass.pdf"),
            },
        )
    )
    assert response.status_code in (302, 422)


def test_duplicate_and_list_values_are_refused(anna, runtime):
    before = _counts(runtime)
    token = _token(anna)
    response = _no_500(
        anna.post(FORM, data={"csrf_token": token, "purpose": ["employer", "authority"]})
    )
    assert response.status_code == 422
    assert 'id="field-purpose-error"' in response.get_data(as_text=True)
    # Two tokens, one of them forged: the first decides; a forged first one is refused.
    two = _no_500(anna.post(FORM, data={"csrf_token": ["forged", token], "purpose": "employer"}))
    assert two.status_code == 400
    assert _counts(runtime) == before


@pytest.mark.parametrize(
    "make",
    [
        hostile.javascript_open_action,
        hostile.launch_link,
        hostile.embedded_file,
        hostile.xfa_form,
        hostile.html_polyglot_head,
        hostile.submit_form_link,
        hostile.page_tree_loop,
        hostile.encrypted_with_empty_password,
    ],
    ids=lambda f: f.__name__,
)
def test_a_hostile_pdf_is_refused_by_the_intake_policy(anna, runtime, make):
    before = _counts(runtime)
    response = _no_500(
        _post(
            anna,
            EXTRACT,
            {
                "purpose": "flat",
                "resident_since": "2019-04-01",
                "id_copy": (io.BytesIO(make()), "pass.pdf"),
            },
        )
    )
    assert response.status_code == 422, response.status_code
    html = response.get_data(as_text=True)
    assert 'id="field-id_copy-error"' in html
    assert 'name="drop_id_copy"' not in html  # nothing of it kept
    assert _counts(runtime) == before


def test_a_file_beyond_the_fields_limit_is_refused(anna, runtime):
    """The passport photo of the licence exchange takes 5 MB at most."""
    big = hostile.real_png() + b"\0" * (5 * 1024 * 1024)
    path = "/services/fuehrerausweis-umtausch/order"
    before = _counts(runtime)
    response = _no_500(
        _post(
            anna,
            path,
            {
                "issuing_country": "Deutschland",
                "licence_number": "B072RRE2I55",
                "resident_since": "2024-01-01",
                "professional": "no",
                "photo": (io.BytesIO(big), "foto.png"),
            },
        )
    )
    # 413 where the portal's own limit is lower than the field's (the tests run with 2 MB).
    limit = anna.application.config["PORTAL_MAX_UPLOAD_BYTES"]
    expected = 413 if limit < 5 * 1024 * 1024 else 422
    assert response.status_code == expected, response.status_code
    if expected == 422:
        html = response.get_data(as_text=True)
        assert 'id="field-photo-error"' in html
        assert 'name="drop_photo"' not in html
    assert _counts(runtime) == before


def test_a_request_beyond_the_portals_limit_is_413_and_stores_nothing(anna, runtime):
    big = b"%PDF-1.7\n" + b"0" * ((runtime.config.max_upload_mb + 2) * 1024 * 1024)
    before = _counts(runtime)
    response = _no_500(
        _post(anna, EXTRACT, {"purpose": "flat", "id_copy": (io.BytesIO(big), "gross.pdf")})
    )
    assert response.status_code == 413
    assert _counts(runtime) == before


def test_two_files_in_one_field_are_refused(anna, runtime, pdf):
    before = _counts(runtime)
    token = _token(anna, EXTRACT)
    response = _no_500(
        post_multipart(
            anna,
            EXTRACT,
            {
                "csrf_token": token,
                "purpose": "flat",
                "resident_since": "2019-04-01",
                "id_copy": [(io.BytesIO(pdf("a")), "a.pdf"), (io.BytesIO(pdf("b")), "b.pdf")],
            },
        )
    )
    assert response.status_code == 422
    assert 'id="field-id_copy-error"' in response.get_data(as_text=True)
    assert _counts(runtime) == before


def test_unknown_services_and_odd_ids_are_404(anna, runtime):
    before = _counts(runtime)
    token = _token(anna)
    for odd in (
        "no-such-service",
        "WOHNSITZBESTAETIGUNG",
        "..%2f..%2fetc",
        "x" * 300,
        "wohnsitzbestaetigung%00",
    ):
        assert _no_500(anna.get(f"/services/{odd}/order")).status_code == 404, odd
        posted = _no_500(
            anna.post(f"/services/{odd}/order", data={"csrf_token": token, "purpose": "employer"})
        )
        assert posted.status_code == 404, odd
    assert _counts(runtime) == before


def test_a_post_without_csrf_stores_nothing_even_with_good_values(anna, runtime):
    before = _counts(runtime)
    response = anna.post(FORM, data={"purpose": "employer"})
    assert response.status_code == 400
    response = anna.post(FORM, data={"purpose": "employer", "csrf_token": ""})
    assert response.status_code == 400
    assert _counts(runtime) == before


MOVE = {
    "move_type": "within_canton",
    "move_date": "2026-11-30",
    "new_address.street": "Luzernerstrasse 3",
    "new_address.postcode": "6010",
    "new_address.town": "Kriens",
    "has_vehicle": "no",
}


@pytest.mark.parametrize("bfs", ["²", "¹⁰⁶¹", "1059.0", "-1059", "0", "99999", "١٠٥٩", "1059x"])
def test_odd_commune_numbers_are_refused_beside_the_field(anna, runtime, bfs):
    before = _counts(runtime)
    response = _no_500(_post(anna, "/services/umzug-melden/order", {**MOVE, "new_commune": bfs}))
    assert response.status_code == 422, (bfs, response.status_code)
    assert 'id="field-new_commune-error"' in response.get_data(as_text=True)
    assert _counts(runtime) == before


@pytest.mark.parametrize(
    "part, value",
    [
        ("street", "Bahnhof\u202estrasse 1"),
        ("postcode", "６０１０"),
        ("town", "x" * 300),
        ("town", "Kriens\x00"),
        ("postcode", "60\n10"),
    ],
)
def test_odd_address_parts_are_refused_beside_the_field(anna, runtime, part, value):
    before = _counts(runtime)
    data = {**MOVE, "new_commune": "1059", f"new_address.{part}": value}
    response = _no_500(_post(anna, "/services/umzug-melden/order", data))
    assert response.status_code == 422, (part, value[:20], response.status_code)
    assert 'id="field-new_address-error"' in response.get_data(as_text=True)
    assert _counts(runtime) == before


def test_an_organisation_orders_what_it_may_or_is_told_why_not(app, runtime):
    """A company (no person, no commune in the register) orders an address enquiry, which
    organisations may order: routed by its commune, or refused with a reason, never a 500."""
    from directory.models import Role
    from directory.operations import create_account, register_organisation
    from tests.support.ordering_world import PASSWORD

    with runtime.transaction() as session:
        company = register_organisation(session, name="Probe AG", uid="CHE-109.322.551")
        create_account(
            session,
            login="probe@firma.test",
            password=PASSWORD,
            role=Role.RESIDENT,
            display_name="Probe AG",
            party=company,
        )
    client = app.test_client()
    login(client, {"login": "probe@firma.test", "password": PASSWORD})
    before = _counts(runtime)
    page = _no_500(client.get("/services/adressauskunft/order"))
    assert page.status_code == 200
    response = _no_500(
        post_multipart(
            client,
            "/services/adressauskunft/order",
            {
                "csrf_token": csrf_token(page.get_data(as_text=True)),
            },
        )
    )
    assert response.status_code == 422  # every required field missing
    assert _counts(runtime) == before


@pytest.mark.parametrize("bfs", ["²", "١٠٦١", "1061.0"])
def test_a_communes_file_with_odd_digits_is_refused_with_its_line(bfs):
    """`portal communes import` reads BFS numbers: digits of other scripts are no BFS number
    (before, "²" passed str.isdigit() and int() then failed with a traceback)."""
    from directory.communes import CommuneFileError, parse_communes_file

    header = "canton,bfs,commune,task,authority_slug,authority_name,authority_level"
    text = f'{header}\nLU,{bfs},Luzern,einwohnerdienste,luzern-ed,"Stadt Luzern, ED",commune\n'
    with pytest.raises(CommuneFileError) as refused:
        parse_communes_file(text)
    assert "BFS number" in str(refused.value.args or refused.value)


def test_a_qr_iban_check_takes_no_odd_digits():
    from catalogue.qrbill_pdf import is_qr_iban

    assert not is_qr_iban("CH44 ²100 0000 0000 0000 0")
    assert not is_qr_iban("")


def _asked(runtime: Any, demo: dict[str, Any], ask: bool = True) -> tuple[uuid.UUID, uuid.UUID]:
    """Anna's dog registration, whose office asks her a question (or has not yet)."""
    from catalogue import steps
    from catalogue.outcomes import NeedsInformation

    resident = actor_of(runtime, demo["resident"]["login"])
    case_id = place(
        runtime,
        resident,
        "hund-anmelden",
        {
            "dog_name": "Bello",
            "breed": "Labrador",
            "dog_birth_date": "2024-03-01",
            "microchip": "756098765432101",
            "kept_since": "2025-01-01",
            "previous_commune": "no",
        },
    )
    with runtime.sessions() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id)).one()
        step_id, slug = step.id, step.authority.slug
    if ask:
        clerk = clerk_of(runtime, slug)
        with runtime.transaction() as session:
            steps.claim(session, clerk, step_id)
            steps.record_outcome(session, clerk, step_id, NeedsInformation("Welche Rasse?"))
    return case_id, step_id


@pytest.mark.parametrize(
    "data",
    [
        {"text": "Ein\x00Dackel"},
        {"text": "x" * 200_000},
        {"text": ""},
        {"text": "Dackel", "files": (io.BytesIO(hostile.javascript_open_action()), "a.pdf")},
        {"text": "Dackel", "files": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "a.pdf")},
    ],
    ids=["nul", "oversized", "empty", "hostile-pdf", "exe"],
)
def test_a_bad_answer_is_refused_and_stores_nothing(anna, runtime, demo, data):
    case_id, step_id = _asked(runtime, demo)
    page = anna.get(f"/cases/{case_id}")
    before = _counts(runtime)
    response = _no_500(
        post_multipart(
            anna,
            f"/cases/{case_id}/steps/{step_id}/answer",
            {"csrf_token": csrf_token(page.get_data(as_text=True)), **data},
        )
    )
    assert response.status_code == 422, response.status_code
    assert _counts(runtime) == before
    with runtime.sessions() as session:
        assert session.get_one(Step, step_id).status == StepStatus.NEEDS_INFORMATION


def test_an_answer_nobody_asked_for_is_refused(anna, runtime, demo):
    case_id, step_id = _asked(runtime, demo, ask=False)
    page = anna.get(f"/cases/{case_id}")
    before = _counts(runtime)
    response = _no_500(
        post_multipart(
            anna,
            f"/cases/{case_id}/steps/{step_id}/answer",
            {
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "text": "Ungefragt",
            },
        )
    )
    assert response.status_code in (404, 409, 422), response.status_code
    assert _counts(runtime) == before


def test_a_second_answer_is_refused(anna, runtime, demo):
    case_id, step_id = _asked(runtime, demo)
    token = csrf_token(anna.get(f"/cases/{case_id}").get_data(as_text=True))
    path = f"/cases/{case_id}/steps/{step_id}/answer"
    first = post_multipart(anna, path, {"csrf_token": token, "text": "Ein Dackel."})
    assert first.status_code == 302, first.get_data(as_text=True)[:500]
    before = _counts(runtime)
    again = _no_500(post_multipart(anna, path, {"csrf_token": token, "text": "Doch Pudel."}))
    assert again.status_code in (404, 409, 422), again.status_code
    assert _counts(runtime) == before
