"""Who can be reached for electronic delivery: one rule (mailbox/reachability.py), so the API,
the batch and the clerk's workbench give one answer for a number nobody is registered under and
for a resident who has not consented (send it on paper), and store nothing for either."""

from __future__ import annotations

import io

import pytest

from directory.identifiers import make_ahvn13
from tests.api.support import assert_problem, b64, chiara, counts, error_fields, letter
from tests.conftest import csrf_token, login, make_pdf, post_multipart

NOT_REACHABLE = "This recipient does not receive electronic deliveries. Please send it on paper."
UNREGISTERED = make_ahvn13(999_999_998)  # a valid number that nobody is registered under


def workbench_deliver(app, demo, recipient: str):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    page = clerk.get("/office/deliver?lang=en")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "recipient": recipient,
        "kind": "decision",
        "subject": "Steuerveranlagung 2025",
        "files": [(io.BytesIO(make_pdf("Veranlagung")), "veranlagung.pdf")],
    }
    return post_multipart(clerk, "/office/deliver?lang=en", data)


@pytest.mark.parametrize("who", ["unregistered", "without consent"])
def test_workbench_api_and_batch_answer_alike(app, api, demo, runtime, who):
    number = UNREGISTERED if who == "unregistered" else chiara(demo)["ahvn13"]
    before = counts(runtime)

    page = workbench_deliver(app, demo, number)
    assert page.status_code == 422
    assert NOT_REACHABLE in page.get_data(as_text=True)

    meta = {**letter(demo), "recipient": {"ahvn13": number}}
    problem = assert_problem(api.deliver(meta), 422, "recipient_not_reachable")
    assert error_fields(problem) == {"recipient"}
    assert "paper" in problem["detail"]

    pdf = b64(make_pdf("Brief"))
    items = [
        {"ref": "one", "metadata": meta, "files": [{"filename": "b.pdf", "content_base64": pdf}]}
    ]
    results = api.post_json("/deliveries/batch", {"items": items}).get_json()["results"]
    assert results[0]["status"] == 422
    assert results[0]["problem"]["code"] == "recipient_not_reachable"

    assert counts(runtime) == before


def test_workbench_names_a_number_that_is_not_one(app, demo, runtime):
    before = counts(runtime)
    for typed in ("756.1234", "CHE-1", "Anna Muster"):
        page = workbench_deliver(app, demo, typed)
        assert page.status_code == 422
        assert "This is not a valid AHVN13 or UID number." in page.get_data(as_text=True)
    page = workbench_deliver(app, demo, "   ")
    assert page.status_code == 422
    assert "Choose a recipient." in page.get_data(as_text=True)
    assert counts(runtime) == before


def test_workbench_delivers_to_a_number_typed_without_dots(app, demo):
    digits = demo["resident"]["ahvn13"].replace(".", "")
    response = workbench_deliver(app, demo, f"  {digits} ")
    assert response.status_code == 302
    assert "/cases/" in response.headers["Location"]
