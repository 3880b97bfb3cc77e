"""Mass mailings through the batch endpoint: a result per item, bad items leave no trace."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from casefiles.models import CaseFile
from mailbox.models import Delivery
from storage.blobs import Blob, store_blob
from storage.blobs import savepoint as item_savepoint
from storage.jobs import enqueue, queued_jobs
from storage.work import unit_of
from tests.api.support import assert_problem, b64, counts, error_fields, letter
from tests.conftest import make_pdf


def item(demo, n: int, who: str = "resident", **meta) -> dict:
    return {
        "ref": f"letter-{n}",
        "metadata": {**letter(demo, who=who, subject=f"Mitteilung {n}"), **meta},
        "files": [{"filename": f"brief-{n}.pdf", "content_base64": b64(make_pdf(f"Brief {n}"))}],
    }


def test_batch_of_twenty_with_two_bad_items(api, demo, runtime):
    before = counts(runtime)
    items = [item(demo, n, who="resident" if n % 2 else "other_resident") for n in range(20)]
    items[5] = item(demo, 5, who="chiara.rossi@example.ch")  # no consent: paper
    items[12]["files"][0]["content_base64"] = b64(b"not a pdf at all, sorry")
    response = api.post_json("/deliveries/batch", {"items": items})
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert [r["ref"] for r in results] == [f"letter-{n}" for n in range(20)]
    assert [r["status"] for r in results].count(201) == 18
    assert results[5]["status"] == 422
    assert results[5]["problem"]["code"] == "recipient_not_reachable"
    assert results[12]["status"] == 422
    assert error_fields(results[12]["problem"]) == {"files[0]"}

    after = counts(runtime)
    assert after["Delivery"] - before["Delivery"] == 18
    assert after["CaseFile"] - before["CaseFile"] == 18
    assert after["Blob"] - before["Blob"] == 18
    assert after["objects"] - before["objects"] == 18
    with runtime.sessions() as session:
        stored = {str(i) for i in session.scalars(select(Delivery.id))}
    assert stored == {r["delivery_id"] for r in results if r["status"] == 201}
    status = api.get(f"/deliveries/{results[0]['delivery_id']}").get_json()
    assert status["subject"] == "Mitteilung 0" and status["status"] == "available"


def test_batch_items_are_idempotent_one_by_one(api, demo, runtime):
    first = item(demo, 1, external_ref="SERIE-1") | {"idempotency_key": "serie-1-anna"}
    second = item(demo, 2) | {"idempotency_key": "serie-1-beat"}
    response = api.post_json("/deliveries/batch", {"items": [first, second]})
    created = response.get_json()["results"]
    assert [r["status"] for r in created] == [201, 201]

    changed = second | {"metadata": {**second["metadata"], "subject": "Anders"}}
    third = item(demo, 3)
    retry = api.post_json("/deliveries/batch", {"items": [first, changed, third, first]})
    results = retry.get_json()["results"]
    assert results[0]["status"] == 201 and results[0]["replayed"] is True
    assert results[0]["delivery_id"] == created[0]["delivery_id"]
    assert results[1]["status"] == 422
    assert results[1]["problem"]["code"] == "idempotency_key_reused"
    assert results[2]["status"] == 201 and "replayed" not in results[2]
    assert results[3]["replayed"] is True
    assert counts(runtime)["Delivery"] == 3


def test_the_whole_batch_can_be_replayed(api, demo, runtime):
    body = {"items": [item(demo, 1), item(demo, 2)]}
    headers = {"Idempotency-Key": "batch-2026-11-28"}
    first = api.post_json("/deliveries/batch", body, headers=headers)
    again = api.post_json("/deliveries/batch", body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert counts(runtime)["Delivery"] == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ([], {"body"}),
        ({"items": []}, {"items"}),
        ({"items": [{}] * 1001}, {"items"}),
        ({"items": "all"}, {"items"}),
        ({"items": [{}], "mode": "fast"}, {"mode"}),
    ],
)
def test_malformed_batch_is_refused_as_a_whole(api, body, fields):
    assert error_fields(assert_problem(api.post_json("/deliveries/batch", body), 422)) == fields


def test_malformed_items_refuse_the_batch_bad_content_fails_per_item(api, demo):
    # An item the document calls malformed is the program's fault: the whole batch is refused
    # (more cases in test_document_agrees.py); content only the server can judge fails alone.
    good = item(demo, 0)
    bad = [
        ("x", {"items[0]"}),
        ({**good, "ref": ""}, {"items[1].ref"}),
        ({**good, "extra": 1}, {"items[2].extra"}),
        ({**good, "files": []}, {"items[3].files"}),
        ({**good, "files": [{"filename": "a.pdf"}]}, {"items[4].files[0]"}),
        ({**good, "idempotency_key": ""}, {"items[5].idempotency_key"}),
        ({**good, "metadata": {**good["metadata"], "colour": "red"}}, {"items[6].metadata.colour"}),
    ]
    response = api.post_json("/deliveries/batch", {"items": [b for b, _ in bad] + [good]})
    assert error_fields(assert_problem(response, 422)) == set().union(*(f for _, f in bad))

    not_base64 = {**good, "files": [{"filename": "a.pdf", "content_base64": "%%%"}]}
    results = api.post_json("/deliveries/batch", {"items": [not_base64, good]}).get_json()
    assert [r["status"] for r in results["results"]] == [422, 201]
    assert error_fields(results["results"][0]["problem"]) == {"files[0].content_base64"}


def test_a_failed_item_removes_what_it_stored(app, runtime):
    """The savepoint drops the objects and queued jobs of a failed item, keeps the others'."""
    from storage.db import Transaction

    tx = Transaction(runtime.sessions)
    session = tx.session
    with item_savepoint(session):
        kept = store_blob(session, io.BytesIO(b"kept"))
    with pytest.raises(RuntimeError), item_savepoint(session):
        lost = store_blob(session, io.BytesIO(b"lost"))
        enqueue(session, "mailbox.jobs.issue_receipt", "a delivery of the failed item")
        raise RuntimeError("the item fails after storing")
    assert unit_of(session).stored_keys == [kept.key]
    assert queued_jobs(session) == []
    assert session.scalars(select(Blob.key)).all() == [kept.key]
    keys = set(runtime.objects.store.iter_keys())
    assert kept.key in keys and lost.key not in keys
    tx.rollback()
    assert kept.key not in set(runtime.objects.store.iter_keys())
    with runtime.sessions() as check:
        assert check.scalars(select(CaseFile)).all() == []


def _leaflet(api, demo) -> dict:
    """A leaflet the authority delivered once: the document that a mailing then references."""
    leaflet = make_pdf("Merkblatt Abfallkalender 2027")
    delivered = api.deliver(letter(demo), files=[("merkblatt.pdf", leaflet)]).get_json()
    messages = api.get(f"/cases/{delivered['case_id']}/messages").get_json()["messages"]
    return messages[0]["documents"][0] | {"bytes": leaflet}


def test_items_can_reference_a_document_instead_of_sending_it(api, demo, runtime):
    leaflet = _leaflet(api, demo)
    before = counts(runtime)
    items = [item(demo, n, who="resident" if n % 2 else "other_resident") for n in range(3)]
    for n, it in enumerate(items):
        named = {"filename": "abfall-2027.pdf"} if n == 2 else {}
        it["files"].append({"document_id": leaflet["id"], **named})
    response = api.post_json("/deliveries/batch", {"items": items})
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201], results

    for n, result in enumerate(results):
        messages = api.get(f"/cases/{result['case_id']}/messages").get_json()["messages"]
        documents = messages[0]["documents"]
        assert [d["filename"] for d in documents] == [
            f"brief-{n}.pdf",
            "abfall-2027.pdf" if n == 2 else "merkblatt.pdf",
        ]
        copy = documents[1]
        assert copy["id"] != leaflet["id"] and copy["sha256"] == leaflet["sha256"]
        assert api.get(f"/documents/{copy['id']}").data == leaflet["bytes"]
    after = counts(runtime)
    # Each case file holds its own encrypted copy: two objects a letter.
    assert after["Blob"] - before["Blob"] == after["objects"] - before["objects"] == 6
    assert after["Delivery"] - before["Delivery"] == 3


def test_a_reference_must_name_a_document_of_the_own_authority(api, other_api, demo, runtime):
    leaflet = _leaflet(api, demo)
    before = counts(runtime)
    foreign = item(demo, 1)
    foreign["files"] = [{"document_id": leaflet["id"]}]
    unknown = item(demo, 2)
    unknown["files"] = [{"document_id": "00000000-0000-4000-8000-000000000000"}]
    response = other_api.post_json("/deliveries/batch", {"items": [foreign, unknown]})
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [422, 422]
    for result in results:
        assert error_fields(result["problem"]) == {"files[0].document_id"}
    assert "your authority" in str(results[0]["problem"])
    # A reference that is no id, or one with inline content too, breaks the document: the
    # whole batch is refused.
    malformed = item(demo, 3)
    malformed["files"] = [{"document_id": "merkblatt"}]
    mixed = item(demo, 4)
    mixed["files"] = [{"document_id": leaflet["id"], "content_base64": b64(make_pdf("x"))}]
    response = other_api.post_json("/deliveries/batch", {"items": [foreign, malformed, mixed]})
    fields = error_fields(assert_problem(response, 422))
    assert fields == {"items[1].files[0].document_id", "items[2].files[0]"}
    assert counts(runtime) == before
