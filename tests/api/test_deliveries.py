"""Delivering through the API and following the delivery to its sealed receipt."""

from __future__ import annotations

import hashlib

from signing import validate_pdf
from signing.jws import verify_json
from tests.api.support import (
    assert_problem,
    chiara,
    counts,
    error_fields,
    letter,
    open_as_resident,
)
from tests.conftest import csrf_token, login, make_pdf, wait_for


def test_deliver_follow_open_and_fetch_the_sealed_receipt(app, api, demo, runtime):
    document = make_pdf("Verfügung Baubewilligung")
    created = api.deliver(letter(demo, appeal_period_days=30), files=[("verfuegung.pdf", document)])
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["status"] == "available"
    assert body["case_reference"].startswith("D-")
    assert body["available_at"]
    assert created.headers["Location"] == f"/api/v1/deliveries/{body['delivery_id']}"
    delivery_id = body["delivery_id"]

    status = api.get(f"/deliveries/{delivery_id}")
    assert status.status_code == 200
    detail = status.get_json()
    assert detail["status"] == "available"
    assert detail["opened_at"] is None and detail["due_date"] is None
    assert detail["appeal_period_days"] == 30
    assert detail["recipient"] == {"name": "Anna Muster", "ahvn13": demo["resident"]["ahvn13"]}
    [doc] = detail["documents"]
    assert doc["filename"] == "verfuegung.pdf"
    assert doc["sha256"] == hashlib.sha256(document).hexdigest()
    assert doc["size"] == len(document)
    download = api.get(doc["links"]["download"].removeprefix("/api/v1"))
    assert download.status_code == 200 and download.data == document

    not_yet = api.get(f"/deliveries/{delivery_id}/receipt")
    assert_problem(not_yet, 404, "receipt_not_available")

    open_as_resident(app, demo["resident"], delivery_id)
    opened = api.get(f"/deliveries/{delivery_id}").get_json()
    assert opened["status"] == "opened"
    assert opened["opened_by"] == "Anna Muster"
    assert opened["opened_at"] and opened["due_date"]

    def receipt():
        response = api.get(f"/deliveries/{delivery_id}/receipt")
        if response.status_code == 409:
            assert_problem(response, 409, "receipt_pending")
            assert response.headers["Retry-After"] == "2"
            return None
        return response

    signed = wait_for(receipt)
    assert signed.status_code == 200 and signed.mimetype == "application/json"
    content = signed.get_json()
    payload = verify_json(content["jws"], [runtime.keyring.ca_certificate])
    assert payload["receipt"] == content["receipt"]
    assert payload["entry_hash"] == content["journal"]["entry_hash"]
    assert content["receipt"]["delivery_id"] == delivery_id
    assert content["receipt"]["opened_by"] == "Anna Muster"
    assert content["receipt"]["documents"][0]["sha256"] == doc["sha256"]

    pdf = api.get(f"/deliveries/{delivery_id}/receipt", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    [seal] = validate_pdf(pdf.data, [runtime.keyring.ca_certificate])
    assert seal.intact and seal.valid and seal.trusted

    events = api.get(f"/cases/{body['case_id']}/events").get_json()["events"]
    actions = [e["action"] for e in events]
    assert actions[:5] == [
        "case.opened",
        "document.added",
        "delivery.accepted",
        "delivery.available",
        "delivery.opened",
    ]
    assert actions[-1] == "receipt.issued"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[4]["data"]["opened_by"] == "Anna Muster"
    assert content["journal"]["entry_hash"] == events[4]["entry_hash"]


def test_recipient_without_consent_is_refused_and_nothing_is_stored(api, demo, runtime):
    before = counts(runtime)
    response = api.deliver(
        letter(demo, who="chiara.rossi@example.ch"), headers={"Idempotency-Key": "paper-1"}
    )
    problem = assert_problem(response, 422, "recipient_not_reachable")
    assert error_fields(problem) == {"recipient"}
    assert "paper" in problem["detail"]
    assert counts(runtime) == before
    assert chiara(demo)["name"] == "Chiara Rossi"


def test_unknown_recipient_is_not_reachable_either(api, demo, runtime):
    from directory.identifiers import make_ahvn13

    before = counts(runtime)
    meta = {**letter(demo), "recipient": {"ahvn13": make_ahvn13(999_999_999)}}
    problem = assert_problem(api.deliver(meta), 422, "recipient_not_reachable")
    assert error_fields(problem) == {"recipient"}
    assert counts(runtime) == before


def test_external_ref_reuse_delivers_into_the_recipients_own_case(api, demo):
    first = api.deliver(letter(demo, external_ref="BAU-2026-17")).get_json()
    again = api.deliver(letter(demo, external_ref="BAU-2026-17", subject="Nachtrag")).get_json()
    assert again["case_id"] == first["case_id"]
    assert again["delivery_id"] != first["delivery_id"]
    # Another recipient in the same matter: a case file of their own under the same reference.
    second = api.deliver(
        letter(demo, who="other_resident", external_ref="BAU-2026-17", subject="Kopie")
    ).get_json()
    assert second["case_id"] != first["case_id"]

    found = api.get("/cases?external_ref=BAU-2026-17").get_json()["cases"]
    assert sorted(c["id"] for c in found) == sorted([first["case_id"], second["case_id"]])
    assert api.get("/cases?external_ref=nothing-like-it").get_json()["cases"] == []
    case = api.get(f"/cases/{first['case_id']}").get_json()
    assert {p["name"] for p in case["parties"]} == {"Anna Muster"}

    by_id = api.deliver(letter(demo, case_id=first["case_id"], subject="Nachtrag 2")).get_json()
    assert by_id["case_id"] == first["case_id"]
    # The case id of Anna's case file for Beat: Beat's own case file of that reference.
    for_beat = api.deliver(
        letter(demo, who="other_resident", case_id=first["case_id"], subject="Kopie 2")
    ).get_json()
    assert for_beat["case_id"] == second["case_id"]


def test_withdraw_before_opening_hides_it_from_the_resident(app, api, demo):
    delivery_id = api.deliver(letter(demo)).get_json()["delivery_id"]
    withdrawn = api.post_json(f"/deliveries/{delivery_id}/withdraw", {"reason": "Falsche Person"})
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["status"] == "withdrawn"
    assert withdrawn.get_json()["withdrawn_at"]

    resident = app.test_client()
    login(resident, demo["resident"])
    assert delivery_id not in resident.get("/").get_data(as_text=True)
    assert resident.get(f"/messages/{delivery_id}").status_code == 404

    again = api.post_json(f"/deliveries/{delivery_id}/withdraw")
    assert again.status_code == 200 and again.get_json()["status"] == "withdrawn"
    events = api.get(f"/cases/{withdrawn.get_json()['case_id']}/events").get_json()["events"]
    assert events[-1]["action"] == "delivery.withdrawn"
    assert events[-1]["data"]["reason"] == "Falsche Person"


def test_withdraw_after_opening_is_a_conflict(app, api, demo):
    delivery_id = api.deliver(letter(demo)).get_json()["delivery_id"]
    open_as_resident(app, demo["resident"], delivery_id)
    problem = assert_problem(
        api.post_json(f"/deliveries/{delivery_id}/withdraw"), 409, "already_delivered"
    )
    assert "cannot be withdrawn" in problem["detail"]
    assert api.get(f"/deliveries/{delivery_id}").get_json()["status"] == "opened"


def test_withdraw_body_is_checked(api, demo):
    delivery_id = api.deliver(letter(demo)).get_json()["delivery_id"]
    path = f"/deliveries/{delivery_id}/withdraw"
    problem = assert_problem(api.post_json(path, {"reason": 5, "why": "x"}), 422)
    assert error_fields(problem) == {"reason", "why"}
    bad_json = api.client.post(
        "/api/v1" + path, data="{", content_type="application/json", headers=api.headers()
    )
    assert_problem(bad_json, 400, "bad_json")
    assert api.get(f"/deliveries/{delivery_id}").get_json()["status"] == "available"


def test_the_resident_can_answer_and_the_authority_reads_it(app, api, demo):
    created = api.deliver(letter(demo)).get_json()
    resident = open_as_resident(app, demo["resident"], created["delivery_id"])
    page = resident.get(f"/cases/{created['case_id']}").get_data(as_text=True)
    sent = resident.post(
        f"/cases/{created['case_id']}/reply",
        data={"csrf_token": csrf_token(page), "text": "Ich erhebe Einsprache."},
    )
    assert sent.status_code == 302

    messages = api.get(f"/cases/{created['case_id']}/messages").get_json()["messages"]
    assert [m["direction"] for m in messages] == ["outbound", "inbound"]
    assert messages[0]["delivery"]["status"] == "opened"
    assert messages[0]["documents"][0]["links"]["download"].startswith("/api/v1/documents/")
    assert messages[1]["body"] == "Ich erhebe Einsprache."
    assert messages[1]["delivery"] is None

    answer = api.deliver(
        {"kind": "letter", "subject": "Eingangsbestätigung"},
        path=f"/cases/{created['case_id']}/messages",
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["case_id"] == created["case_id"]
    detail = api.get(f"/deliveries/{answer.get_json()['delivery_id']}").get_json()
    assert detail["recipient"]["name"] == "Anna Muster"
    messages = api.get(f"/cases/{created['case_id']}/messages").get_json()["messages"]
    assert [m["direction"] for m in messages] == ["outbound", "inbound", "outbound"]

    moved = api.deliver(
        {"kind": "letter", "subject": "x", "external_ref": "A-1"},
        path=f"/cases/{created['case_id']}/messages",
    )
    assert error_fields(assert_problem(moved, 422)) == {"external_ref"}
