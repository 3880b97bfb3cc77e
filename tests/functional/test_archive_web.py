"""The archivists' workbench on the web (/archive), through the HTTP client: the list of closed
case files with its filters and pagination, only archivists in, four eyes on the web (the
proposer's forced decision refused), CSRF, an export job whose download is a zip, the transfer,
and a destroyed case file's page (the register's record, not a 404)."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
import zipfile
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from casefiles.archive_models import Appraisal, AppraisalStatus
from casefiles.models import CaseStatus
from tests.conftest import csrf_token, login, wait_for
from tests.support.archive_world import case_row, close_cases
from tests.support.export_world import damage_object

SECOND = "archiv2@staatsarchiv.demo"


def _client(app: Flask, account: dict[str, Any]) -> FlaskClient:
    client = app.test_client()
    login(client, account)
    return client


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _post(client: FlaskClient, page: str, action: str, data: dict[str, str]) -> Any:
    """Post a form of `page` as a browser would: with the page's CSRF token."""
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={"csrf_token": csrf_token(html), **data})


def _appraisals(runtime: Any, case_id: uuid.UUID) -> list[Appraisal]:
    with runtime.sessions() as session:
        rows = list(session.scalars(select(Appraisal).where(Appraisal.case_id == case_id)))
        session.expunge_all()
        return rows


@pytest.mark.parametrize(
    ("role", "status"), [("resident", 403), ("clerk", 403), ("archivist", 200), (None, 302)]
)
def test_only_archivists_reach_the_workbench(app, runtime, demo, role, status):
    (case_id,) = close_cases(runtime, ["Fundbüro 2015"])
    client = _client(app, demo[role]) if role else app.test_client()
    for path in ("/archive", f"/archive/cases/{case_id}", f"/archive/exports/{uuid.uuid4()}"):
        response = client.get(path)
        expected = 404 if role == "archivist" and "exports" in path else status
        assert response.status_code == expected, path
    # A forged proposal by a clerk changes nothing.
    if role == "clerk":
        response = client.post(f"/archive/cases/{case_id}/propose",
                               data={"disposition": "archive", "reason": "x"})  # fmt: skip
        assert response.status_code in (400, 403)
        assert _appraisals(runtime, case_id) == []


def due_url(day: dt.date) -> str:
    return f"/archive?retention_due_by={day + dt.timedelta(days=1)}"


def test_list_filters_and_pagination(app, runtime, demo):
    close_cases(runtime, [f"Akte {n:03}" for n in range(53)])
    close_cases(runtime, ["Steuerakte 2010"], disposition="destroy", years=10)
    client = _client(app, demo["archivist"])

    first = _text(client.get("/archive"))
    assert "54 closed case files" in first or "54 abgeschlossene Dossiers" in first
    assert first.count('<th scope="row">') == 50
    # The page links keep the filters.
    page = client.get("/archive?q=Akte+0&page=1")
    html = page.get_data(as_text=True)
    assert 'href="/archive?q=Akte+0&amp;page=2"' in html
    second = _text(client.get("/archive?q=Akte+0&page=2"))
    assert second.count('<th scope="row">') == 3  # 53 of "Akte 0…", 50 per page
    assert "Steuerakte" not in second

    # Retention due by yesterday: none; by today: the 53 with 0 years, not the 10-year one.
    today = dt.date.today()
    due = _text(client.get(f"/archive?retention_due_by={today + dt.timedelta(days=1)}&q=akte"))
    assert re.search(r"<caption[^>]*>53 (closed case files|abgeschlossene Dossiers)", due)
    assert "Steuerakte 2010" not in _text(client.get(f"{due_url(today)}&q=Steuerakte"))
    none = _text(client.get(f"/archive?closed_to={today - dt.timedelta(days=3)}"))
    assert 'scope="row"' not in none
    # Appraisal state and authority filters; an unknown authority is no filter at all.
    assert 'scope="row"' not in _text(client.get("/archive?appraisal=proposed"))
    assert "Akte 000" in _text(client.get("/archive?authority=nonsense&q=Akte+000"))
    # A date that is not one: a form error, not a 500.
    bad = client.get("/archive?closed_from=31.02.2020")
    assert bad.status_code == 422
    assert 'href="#field-closed_from"' in bad.get_data(as_text=True)
    assert client.get("/archive?page=%C2%B2").status_code == 200
    typed = _text(client.get(f"/archive?retention_due_by={today:%d.%m.%Y}&q=Steuerakte"))
    assert 'scope="row"' not in typed  # typed as people write dates: understood


def test_four_eyes_csrf_export_download_and_transfer(app, runtime, demo):
    (case_id,) = close_cases(runtime, ["Wohnsitzbestätigung 2014"], document=True)
    first, second = _client(app, demo["archivist"]), _client(app, demo[SECOND])
    page = f"/archive/cases/{case_id}"

    # Without the CSRF token nothing happens.
    response = first.post(f"{page}/propose", data={"disposition": "archive", "reason": "Wert"})
    assert response.status_code == 400
    assert _appraisals(runtime, case_id) == []
    # A proposal without a reason is a form error.
    response = _post(first, page, f"{page}/propose", {"disposition": "archive", "reason": " "})
    assert response.status_code == 422
    assert _appraisals(runtime, case_id) == []

    response = _post(first, page, f"{page}/propose",
                     {"disposition": "archive", "reason": "Historisch wertvoll"})  # fmt: skip
    assert response.status_code == 302
    (proposal,) = _appraisals(runtime, case_id)
    mine = _text(first.get(page))
    assert "Historisch wertvoll" in mine
    assert f"/archive/appraisals/{proposal.id}/decide" not in mine  # no buttons for the proposer

    # The proposer forces a decision: refused, clearly, and nothing changes.
    forced = _post(
        first, page, f"/archive/appraisals/{proposal.id}/decide", {"decision": "approve"}
    )
    assert forced.status_code == 403
    assert "error-summary" in forced.get_data(as_text=True)
    assert _appraisals(runtime, case_id)[0].status == AppraisalStatus.PROPOSED

    # The second archivist sees the buttons and approves.
    assert f"/archive/appraisals/{proposal.id}/decide" in _text(second.get(page))
    response = _post(second, page, f"/archive/appraisals/{proposal.id}/decide",
                     {"decision": "approve", "note": "Einverstanden"})  # fmt: skip
    assert response.status_code == 302
    assert _appraisals(runtime, case_id)[0].status == AppraisalStatus.APPROVED

    # An unknown format is a form error; BagIt makes an export job.
    assert _post(second, page, f"{page}/exports", {"packaging": "pdf"}).status_code == 422
    response = _post(second, page, f"{page}/exports", {"packaging": "bagit"})
    assert response.status_code == 302
    export_page = response.headers["Location"]
    assert re.search(r"/archive/exports/[0-9a-f-]{36}$", export_page)
    html = second.get(export_page).get_data(as_text=True)
    assert "<progress" in html
    state = wait_for(
        lambda: (s := second.get(export_page + ".json").get_json())["finished"] and s, 60
    )
    assert state["status"] == "done", state
    assert state["done_items"] == state["total_items"]
    download = second.get(state["download"])
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(download.get_data())) as package:
        names = package.namelist()
    assert any(n.endswith("/bagit.txt") for n in names), names
    # Others may not follow the export.
    assert _client(app, demo["clerk"]).get(export_page + ".json").status_code == 403

    export_id = export_page.rsplit("/", 1)[-1]
    response = _post(second, page, f"{page}/transfer", {"export_id": export_id})
    assert response.status_code == 302
    row = case_row(runtime, case_id)
    assert row is not None and row.status == CaseStatus.TRANSFERRED
    assert "Wohnsitzbestätigung 2014" in _text(first.get("/archive?appraisal=transferred"))


def test_destroy_needs_confirmation_then_shows_the_record(app, runtime, demo):
    (case_id,) = close_cases(runtime, ["Parkkarte 2012"], disposition="destroy", document=True)
    first, second = _client(app, demo["archivist"]), _client(app, demo[SECOND])
    page = f"/archive/cases/{case_id}"
    response = _post(first, page, f"{page}/propose",
                     {"disposition": "destroy", "reason": "Ohne Wert"})  # fmt: skip
    assert response.status_code == 302
    (proposal,) = _appraisals(runtime, case_id)

    confirm = f"/archive/appraisals/{proposal.id}/approve"
    text = _text(second.get(confirm))
    assert "cannot be undone" in text or "nicht rückgängig" in text
    # Approving without ticking the confirmation: asked again, nothing destroyed.
    response = _post(second, confirm, f"/archive/appraisals/{proposal.id}/decide",
                     {"decision": "approve"})  # fmt: skip
    assert response.status_code == 422
    assert case_row(runtime, case_id) is not None

    response = _post(second, confirm, f"/archive/appraisals/{proposal.id}/decide",
                     {"decision": "approve", "confirm": "1"})  # fmt: skip
    assert response.status_code == 302
    assert case_row(runtime, case_id) is None
    gone = second.get(page)
    assert gone.status_code == 200
    text = _text(gone)
    assert "Parkkarte" not in text  # the title is gone with the case file
    assert "Ohne Wert" in text and "Staatsarchiv Luzern (2)" in text
    assert second.get(f"/cases/{case_id}").status_code == 404
    assert second.get(f"/archive/cases/{uuid.uuid4()}").status_code == 404


def test_proposal_before_the_retention_date_is_refused(app, runtime, demo):
    (case_id,) = close_cases(runtime, ["Baubewilligung"], years=10)
    client = _client(app, demo["archivist"])
    page = f"/archive/cases/{case_id}"
    assert 'action="/archive/cases/' not in _text(client.get(page))  # no proposal form
    response = _post(client, page, f"{page}/propose", {"disposition": "archive", "reason": "x"})
    assert 400 <= response.status_code < 500
    assert "error-summary" in response.get_data(as_text=True)
    assert _appraisals(runtime, case_id) == []


def test_the_demo_has_two_archivists_and_case_files_to_appraise(app, runtime, demo):
    from app.demo import create_demo_closed, format_accounts

    assert demo[SECOND]["role"] == "archivist"
    printed = format_accounts(list({id(a): a for a in demo.values()}.values()), runtime.config)
    assert SECOND in printed and "archiv@staatsarchiv.demo" in printed
    assert create_demo_closed(runtime) == 4
    assert create_demo_closed(runtime) == 0  # once only
    client = _client(app, demo[SECOND])
    due = _text(client.get(f"/archive?retention_due_by={dt.date.today()}"))
    assert due.count('<th scope="row">') == 3
    assert "Baubewilligung Gartenhaus" in _text(client.get("/archive"))


def test_a_rejected_proposal_can_be_made_again(app, runtime, demo):
    (case_id,) = close_cases(runtime, ["Hundebewilligung 2013"], disposition="destroy")
    first, second = _client(app, demo["archivist"]), _client(app, demo[SECOND])
    page = f"/archive/cases/{case_id}"
    _post(first, page, f"{page}/propose", {"disposition": "destroy", "reason": "Doppelt"})
    (proposal,) = _appraisals(runtime, case_id)
    decide = f"/archive/appraisals/{proposal.id}/decide"
    assert _post(second, page, decide, {"decision": "maybe"}).status_code == 422
    response = _post(second, page, decide, {"decision": "reject", "note": "Noch gebraucht"})
    assert response.status_code == 302
    assert _appraisals(runtime, case_id)[0].status == AppraisalStatus.REJECTED
    text = _text(second.get(page))
    assert "Noch gebraucht" in text and f'action="{page}/propose"' in text
    assert "Hundebewilligung" in _text(second.get("/archive?appraisal=rejected"))
    # A decision on a decided proposal: refused with a message, not a 500.
    again = _post(second, page, decide, {"decision": "approve", "confirm": "1"})
    assert again.status_code == 409
    assert case_row(runtime, case_id) is not None


def test_a_failed_export_says_so_in_the_page_language(app, runtime, demo):
    """The job fails on a damaged stored object: the page says in German that nothing was
    stored, with the exporter's detail marked as English, and offers no download."""
    from casefiles.models import Document

    (case_id,) = close_cases(runtime, ["Gewerbebewilligung 2013"], document=True)
    first, second = _client(app, demo["archivist"]), _client(app, demo[SECOND])
    page = f"/archive/cases/{case_id}"
    _post(first, page, f"{page}/propose", {"disposition": "archive", "reason": "Wertvoll"})
    (proposal,) = _appraisals(runtime, case_id)
    _post(second, page, f"/archive/appraisals/{proposal.id}/decide", {"decision": "approve"})
    assert _appraisals(runtime, case_id)[0].status == AppraisalStatus.APPROVED

    with runtime.sessions() as session:
        document = session.scalars(select(Document).where(Document.case_id == case_id)).one()
        damage_object(runtime, document.versions[0].blob.key)

    response = _post(second, page, f"{page}/exports", {"packaging": "ech0160"})
    assert response.status_code == 302
    export_page = response.headers["Location"]
    state = wait_for(
        lambda: (s := second.get(export_page + ".json").get_json())["finished"] and s, 60
    )
    assert state["status"] == "failed" and state["download"] is None, state
    html = _text(second.get(export_page))
    assert "Der Export ist fehlgeschlagen; es wurde kein Paket gespeichert." in html
    detail = re.search(r'<span lang="en">([^<]*)</span>', html)
    assert detail is not None and "the stored object is damaged" in detail.group(1)
    assert '<p id="export-download" hidden>' in html
