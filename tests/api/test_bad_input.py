"""Bad input, bad keys and other authorities' records: a problem with the members at fault,
never HTML, never a 500, and nothing stored."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from directory.api_clients import create_api_client, create_api_key, revoke_api_key
from directory.models import ApiKey, AuthorityLevel
from directory.operations import register_authority
from tests.api.support import API, Api, assert_problem, counts, error_fields, letter
from tests.conftest import make_pdf


@pytest.mark.parametrize(
    ("metadata", "files", "fields"),
    [
        pytest.param("{not json", None, {"metadata"}, id="bad-json"),
        pytest.param("[1, 2]", None, {"metadata"}, id="not-an-object"),
        pytest.param({"colour": "blue", "priority": 1}, None, {"colour", "priority"}, id="unknown"),
        pytest.param(
            {"kind": 7, "subject": ["x"], "reply_allowed": "yes", "appeal_period_days": True},
            None,
            {"kind", "subject", "reply_allowed", "appeal_period_days"},
            id="wrong-types",
        ),
        pytest.param('{"kind": "letter"}', None, {"recipient", "subject"}, id="missing"),
        pytest.param({"kind": "memo"}, None, {"kind"}, id="bad-kind"),
        pytest.param(
            {"recipient": {"ahvn13": "756.1234.5678.90"}}, None, {"recipient.ahvn13"}, id="ahvn13"
        ),
        pytest.param({"recipient": {"uid": "CHE-1"}}, None, {"recipient.uid"}, id="uid"),
        pytest.param(
            {"recipient": {"ahvn13": "x", "uid": "y"}}, None, {"recipient"}, id="two-identifiers"
        ),
        pytest.param({"recipient": {"email": "a@b.ch"}}, None, {"recipient", "recipient.email"}),
        pytest.param({"case_id": "D-1234"}, None, {"case_id"}, id="case-id"),
        pytest.param(
            {"case_id": str(uuid.uuid4()), "external_ref": "A"}, None, {"external_ref"}, id="both"
        ),
        pytest.param({"case_id": str(uuid.uuid4())}, None, {"case_id"}, id="foreign-case"),
        pytest.param({"appeal_period_days": 0}, None, {"appeal_period_days"}, id="period"),
        pytest.param({"subject": "   "}, None, {"subject"}, id="blank-subject"),
        pytest.param({}, [("brief.pdf", b"Hello, I am text\n" * 20)], {"files[0]"}, id="text"),
        pytest.param({}, [("brief.pdf", b"")], {"files[0]"}, id="empty"),
        pytest.param(
            {}, [("a.pdf", make_pdf()), ("b.pdf", b"%PDF-1.7\n\x00junk")], {"files[1]"}, id="dmg"
        ),
        pytest.param({}, [], {"files"}, id="no-files"),
        pytest.param({"kind": None}, [], {"kind", "files"}, id="all-at-once"),
    ],
)
def test_bad_delivery_is_refused_with_the_members_named(
    api, demo, runtime, metadata, files, fields
):
    before = counts(runtime)
    if isinstance(metadata, dict):
        metadata = {**letter(demo), **metadata}
    response = api.deliver(metadata, files=files, headers={"Idempotency-Key": "bad-1"})
    problem = assert_problem(response, 422)
    assert error_fields(problem) == fields, problem
    assert counts(runtime) == before


def test_unknown_parts_and_wrong_media_types(api, demo):
    from tests.api.support import post_multipart

    response = post_multipart(
        api.client,
        f"{API}/deliveries",
        {"metadata": "{}", "attachment": "x"},
        api.headers(),
    )
    assert error_fields(assert_problem(response, 422)) == {"attachment"}
    as_json = api.post_json("/deliveries", letter(demo))
    assert_problem(as_json, 415)
    batch_as_text = api.client.post(
        f"{API}/deliveries/batch", data="items", content_type="text/plain", headers=api.headers()
    )
    assert_problem(batch_as_text, 415)
    batch_bad_json = api.client.post(
        f"{API}/deliveries/batch", data="{", content_type="application/json", headers=api.headers()
    )
    assert_problem(batch_bad_json, 400, "bad_json")


def test_too_large_is_a_problem(api, demo):
    big = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    assert_problem(api.deliver(letter(demo), files=[("big.pdf", big)]), 413)


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer lu_not-a-real-key", "Bearer x" * 50],
)
def test_no_or_invalid_key_is_401_with_a_challenge(app, demo, authorization):
    client = app.test_client()
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [("get", "/cases"), ("post", "/deliveries"), ("get", "/deliveries/x")]:
        response = getattr(client, method)(f"{API}{path}", headers=headers)
        if path == "/deliveries/x":
            assert_problem(response, 404)  # no route: told before any key is looked at
            continue
        assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_refused_at_once(api, demo, runtime):
    assert api.get("/cases").status_code == 200
    with runtime.transaction() as session:
        from sqlalchemy import select

        key = session.scalars(select(ApiKey)).one()
        assert key.last_used_at is not None
        assert key.last_used_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        revoke_api_key(session, key.id)
    response = api.get("/cases")
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_another_authority_sees_nothing(app, api, other_api, demo):
    created = api.deliver(letter(demo, external_ref="BAU-7")).get_json()
    delivery, case = created["delivery_id"], created["case_id"]
    document = api.get(f"/deliveries/{delivery}").get_json()["documents"][0]["id"]
    for path in [
        f"/deliveries/{delivery}",
        f"/deliveries/{delivery}/receipt",
        f"/cases/{case}",
        f"/cases/{case}/events",
        f"/cases/{case}/messages",
        f"/documents/{document}",
    ]:
        assert_problem(other_api.get(path), 404, "not_found")
    assert_problem(other_api.post_json(f"/deliveries/{delivery}/withdraw"), 404)
    answer = other_api.deliver({"kind": "letter", "subject": "x"}, path=f"/cases/{case}/messages")
    assert_problem(answer, 404)
    foreign = other_api.deliver(letter(demo, case_id=case))
    assert error_fields(assert_problem(foreign, 422)) == {"case_id"}
    assert other_api.get("/cases?external_ref=BAU-7").get_json() == {"cases": []}
    assert api.get(f"/deliveries/{delivery}").get_json()["status"] == "available"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/nothing-here", 404),
        ("get", f"/deliveries/{uuid.uuid4()}", 404),
        ("get", "/deliveries/not-a-uuid", 404),
        ("delete", "/deliveries", 405),
        ("get", "/deliveries", 405),
        ("put", f"/cases/{uuid.uuid4()}/messages", 405),
        ("get", "/cases?page=2", 422),
        ("get", f"/cases/{uuid.uuid4()}/events?after=x", 404),
    ],
)
def test_errors_are_problems_not_html(api, method, path, status):
    response = getattr(api.client, method)(f"{API}{path}", headers=api.headers())
    assert_problem(response, status)


def test_seal_needs_an_authority_seal(app, api, demo, runtime):
    sealed = api.deliver(letter(demo, seal=True))
    assert sealed.status_code == 201, sealed.get_data(as_text=True)
    detail = api.get(f"/deliveries/{sealed.get_json()['delivery_id']}").get_json()
    [signature] = detail["documents"][0]["signatures"]
    assert signature["intact"] and signature["trusted"]
    assert "Stadt Luzern" in signature["signer"]

    with runtime.transaction() as session:
        authority = register_authority(
            session, slug="zivilstandsamt", name="Zivilstandsamt", level=AuthorityLevel.CANTON
        )
        _key, token = create_api_key(session, create_api_client(session, authority, "Infostar"))
    unsealed = Api(app.test_client(), token)
    before = counts(runtime)
    problem = assert_problem(unsealed.deliver(letter(demo, seal=True)), 422)
    assert error_fields(problem) == {"seal"}
    assert counts(runtime) == before
