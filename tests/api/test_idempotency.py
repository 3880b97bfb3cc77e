"""Idempotency-Key: a retry gets the first answer, never a second delivery, even when the
retries race each other against a real server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from mailbox.models import Delivery
from tests.api.support import API, assert_problem, counts, letter
from tests.conftest import make_pdf


def test_same_key_twice_delivers_once(api, demo, runtime):
    document = make_pdf("Rechnung")
    headers = {"Idempotency-Key": "invoice-2026-0001"}
    first = api.deliver(letter(demo), files=[("r.pdf", document)], headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = api.deliver(letter(demo), files=[("r.pdf", document)], headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert counts(runtime)["Delivery"] == 1


def test_same_key_with_another_request_is_refused(api, demo, runtime):
    headers = {"Idempotency-Key": "letter-7"}
    assert api.deliver(letter(demo), headers=headers).status_code == 201
    before = counts(runtime)
    other_file = api.deliver(letter(demo), files=[("x.pdf", make_pdf("B"))], headers=headers)
    assert_problem(other_file, 422, "idempotency_key_reused")
    other_meta = api.deliver(letter(demo, subject="Anders"), headers=headers)
    assert_problem(other_meta, 422, "idempotency_key_reused")
    elsewhere = api.post_json(
        f"/deliveries/{uuid.uuid4()}/withdraw", headers={"Idempotency-Key": "letter-7"}
    )
    assert_problem(elsewhere, 422, "idempotency_key_reused")
    assert counts(runtime) == before


def test_a_failed_request_does_not_use_up_its_key(api, demo, runtime):
    headers = {"Idempotency-Key": "retry-after-fix"}
    assert_problem(api.deliver(letter(demo, kind="memo"), headers=headers), 422)
    assert counts(runtime)["IdempotencyRecord"] == 0
    assert api.deliver(letter(demo), headers=headers).status_code == 201


def test_withdraw_is_replayed_too(api, demo):
    delivery_id = api.deliver(letter(demo)).get_json()["delivery_id"]
    headers = {"Idempotency-Key": "withdraw-1"}
    path = f"/deliveries/{delivery_id}/withdraw"
    first = api.post_json(path, {"reason": "Irrtum"}, headers=headers)
    again = api.post_json(path, {"reason": "Irrtum"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


@pytest.mark.parametrize("key", ["", "x" * 201, "schlüssel"])
def test_malformed_key_is_refused(api, demo, key):
    response = api.deliver(letter(demo), headers={"Idempotency-Key": key})
    assert_problem(response, 422)


def multipart_body(metadata: dict, document: bytes) -> tuple[bytes, str]:
    """One encoded request, sent byte for byte by every thread (like a retrying client)."""
    boundary = "----portal-test-" + uuid.uuid4().hex
    parts = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
            f"Content-Type: application/json\r\n\r\n"
        ).encode()
        + json.dumps(metadata).encode()
        + b"\r\n",
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="brief.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        + document
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def server(app):
    """The app behind a real threaded HTTP server on a free port."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def test_concurrent_retries_deliver_exactly_once(server, api, demo, runtime):
    body, content_type = multipart_body(letter(demo), make_pdf("Gleichzeitig"))
    headers = {
        "Authorization": f"Bearer {api.key}",
        "Content-Type": content_type,
        "Idempotency-Key": "race-" + uuid.uuid4().hex,
    }
    start = threading.Barrier(8)
    results: list[tuple[int, dict, dict]] = []

    def post() -> None:
        request = urllib.request.Request(  # noqa: S310 (our own local http server)
            f"{server}{API}/deliveries", data=body, headers=headers, method="POST"
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (local)
                results.append((response.status, dict(response.headers), json.load(response)))
        except urllib.error.HTTPError as error:
            with error:
                results.append((error.code, dict(error.headers), json.load(error)))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert len(results) == 8
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
        delivery_id = str(session.scalars(select(Delivery.id)).one())
    fresh = [r for r in results if r[0] == 201 and "Idempotent-Replayed" not in r[1]]
    replayed = [r for r in results if r[0] == 201 and r[1].get("Idempotent-Replayed") == "true"]
    busy = [r for r in results if r[0] == 409 and r[2]["code"] == "request_in_progress"]
    assert len(fresh) == 1, results
    assert len(fresh) + len(replayed) + len(busy) == 8, results
    assert {r[2]["delivery_id"] for r in fresh + replayed} == {delivery_id}


def test_overlapping_claims_in_opposite_order_queue_instead_of_deadlocking(api, demo, runtime):
    """Batch claims go in key order. Request A holds k1 and will claim k2 next; request B
    claims k2 and k1 meanwhile. In item order B would take k2 and wait for k1 while A waits
    for k2: a deadlock. In key order B waits for k1 first and holds nothing A needs."""
    from directory.models import ApiKey
    from mailbox.idempotency import claim_keys

    with runtime.sessions() as session:
        client_id = session.scalars(select(ApiKey.client_id)).first()
    run = uuid.uuid4().hex
    k1, k2 = f"{run}-1", f"{run}-2"  # k1 sorts first
    outcome: dict[str, Any] = {}

    def request_b() -> None:
        try:
            with runtime.transaction() as session:
                outcome["b"] = claim_keys(session, client_id, [(k2, "b"), (k1, "b")])
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            outcome["b"] = exc

    with runtime.transaction() as session:
        assert claim_keys(session, client_id, [(k1, "a")])[0] is not None
        b = threading.Thread(target=request_b)
        b.start()
        b.join(0.5)  # B is now waiting for k1 (PostgreSQL) or for the write lock (SQLite)
        assert claim_keys(session, client_id, [(k2, "a")])[0] is not None
    b.join(30)
    assert outcome["b"] == [None, None]  # both keys were A's: B answers with A's results
