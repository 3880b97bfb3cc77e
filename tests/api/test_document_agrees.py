"""What schemathesis found (issue 6, part 3), from the client's side: the OpenAPI document and
the server agree on what is valid, and input that is not the client's fault never gives a 500.

Each body below is judged twice, by the document (JSON Schema 2020-12, as any client or
generator reads it) and by the server with a real API key; the two verdicts must be the same.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.api.support import API, assert_problem, b64, counts, error_fields, letter
from tests.conftest import make_pdf


@pytest.fixture(scope="module")
def spec(app) -> dict[str, Any]:
    return app.test_client().get(f"{API}/openapi.json").get_json()  # type: ignore[no-any-return]


def documented(spec: dict[str, Any], component: str, value: Any) -> bool:
    """Whether the document calls `value` a valid `component`."""
    registry = Registry().with_resource(
        "urn:api", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"urn:api#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry).is_valid(value)


def raw_multipart(api, path: str, parts: list[tuple[str, bytes]]) -> Any:
    """POST parts given as (Content-Disposition parameters, body), exactly as written."""
    boundary = "b0undary"
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data{params}\r\n\r\n".encode()
        + content
        + b"\r\n"
        for params, content in parts
    )
    body += f"--{boundary}--\r\n".encode()
    return api.client.post(
        f"{API}{path}",
        data=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=api.headers(),
    )


def test_a_part_without_a_name_is_named_in_a_documented_problem(api, demo, spec, runtime):
    before = counts(runtime)
    metadata = ('; name="metadata"', str(letter(demo)).replace("'", '"').encode())
    pdf = ('; name="files"; filename="brief.pdf"', make_pdf())
    for extra, fields in [
        ([("", b"anonymous")], {"parts"}),
        ([('; name=""', b"anonymous")], {"parts"}),
        # Before: sorted() over {None, "attachment"} raised TypeError, a 500.
        ([("", b"anonymous"), ('; name="attachment"', b"x")], {"parts", "attachment"}),
        ([('; filename="a.pdf"', make_pdf())], {"parts"}),
    ]:
        response = raw_multipart(api, "/deliveries", [metadata, pdf, *extra])
        problem = assert_problem(response, 422, "invalid_input")
        assert error_fields(problem) == fields
        # Before: {"field": null}, which the document's Problem does not allow.
        assert documented(spec, "Problem", problem), problem
    assert counts(runtime) == before


def batch_item(demo: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "ref": "brief-1",
        "metadata": letter(demo),
        "files": [{"filename": "brief.pdf", "content_base64": b64(make_pdf())}],
        **changes,
    }


@pytest.mark.parametrize(
    ("items", "fields"),
    [
        pytest.param([[None, None]], {"items[0]"}, id="item-not-an-object"),
        pytest.param(["x", {"ref": None}], {"items[0]", "items[1].ref"}, id="several"),
        pytest.param([{"ref": ""}], {"items[0].ref"}, id="empty-ref"),
        pytest.param([{"extra": 1}], {"items[0].extra"}, id="unknown-member"),
        pytest.param([{"files": []}], {"items[0].files"}, id="no-files"),
        pytest.param([{"idempotency_key": ""}], {"items[0].idempotency_key"}, id="empty-key"),
        pytest.param(
            [{"metadata": {"colour": "red"}}], {"items[0].metadata.colour"}, id="metadata-member"
        ),
        pytest.param(
            [{"metadata": {"subject": "  "}}], {"items[0].metadata.subject"}, id="blank-subject"
        ),
        pytest.param(
            [{"metadata": {"recipient": {"ahvn13": ""}}}],
            {"items[0].metadata.recipient.ahvn13"},
            id="empty-ahvn13",
        ),
        pytest.param(
            [{"metadata": {"appeal_period_days": 0}}],
            {"items[0].metadata.appeal_period_days"},
            id="period",
        ),
    ],
)
def test_a_batch_the_document_refuses_is_refused_whole(api, demo, spec, runtime, items, fields):
    """Before: 200 with a 422 per item, although the document calls the request invalid."""
    good = batch_item(demo, ref="good")
    body = {"items": [_changed(demo, i) for i in items] + [good]}
    assert not documented(spec, "BatchRequest", body)
    before = counts(runtime)
    problem = assert_problem(api.post_json("/deliveries/batch", body), 422, "invalid_input")
    assert error_fields(problem) == fields
    assert counts(runtime) == before  # not even the good item


def _changed(demo: dict[str, Any], change: Any) -> Any:
    if not isinstance(change, dict):
        return change
    item = batch_item(demo)
    if isinstance(change.get("metadata"), dict):
        item["metadata"] = {**item["metadata"], **change.pop("metadata")}
    return {**item, **change}


def test_what_only_the_server_can_judge_still_fails_per_item(api, demo, spec):
    unreachable = batch_item(demo, ref="paper")
    unreachable["metadata"] = letter(demo, who="chiara.rossi@example.ch")
    no_pdf = batch_item(demo, ref="text", files=[{"filename": "a.pdf", "content_base64": ""}])
    body = {"items": [unreachable, no_pdf, batch_item(demo, ref="ok", idempotency_key=None)]}
    assert documented(spec, "BatchRequest", body)
    response = api.post_json("/deliveries/batch", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [422, 422, 201]
    assert results[0]["problem"]["code"] == "recipient_not_reachable"
    assert error_fields(results[1]["problem"]) == {"files[0]"}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        pytest.param({"subject": ""}, {"subject"}, id="empty-subject"),
        pytest.param({"subject": "x" * 301}, {"subject"}, id="long-subject"),
        pytest.param({"subject": " " + "x" * 300}, {"subject"}, id="long-before-stripping"),
        pytest.param({"external_ref": ""}, {"external_ref"}, id="empty-external-ref"),
        pytest.param({"external_ref": " "}, {"external_ref"}, id="blank-external-ref"),
        pytest.param({"recipient": {"ahvn13": ""}}, {"recipient.ahvn13"}, id="empty-ahvn13"),
        pytest.param({"recipient": {"uid": ""}}, {"recipient.uid"}, id="empty-uid"),
        pytest.param(
            {"recipient": {"ahvn13": "756.1234.5678.97 "}}, {"recipient.ahvn13"}, id="trailing"
        ),
        pytest.param({"appeal_period_days": 366}, {"appeal_period_days"}, id="long-period"),
        pytest.param(
            {"case_id": str(uuid.uuid4()), "external_ref": "A"}, {"external_ref"}, id="both"
        ),
        # Before: 500 on PostgreSQL ("text fields cannot contain NUL"), found by schemathesis.
        pytest.param({"subject": "Bau\x00"}, {"subject"}, id="nul-subject"),
        pytest.param({"body": "Text\x00"}, {"body"}, id="nul-body"),
        pytest.param({"external_ref": "A\x00"}, {"external_ref"}, id="nul-external-ref"),
        # White space as str.strip() sees it, not only as one regex engine's \s does.
        pytest.param({"subject": "\x1c\u3000"}, {"subject"}, id="unusual-blanks"),
    ],
)
def test_the_document_refuses_what_the_server_refuses(api, demo, spec, change, fields):
    """Before: the document allowed empty strings that the server refused with 422."""
    metadata = {**letter(demo), **change}
    assert not documented(spec, "DeliveryMetadata", metadata)
    problem = assert_problem(api.deliver(metadata), 422)
    assert error_fields(problem) == fields


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"appeal_period_days": 30.0}, id="integral-float"),
        pytest.param({"case_id": None, "external_ref": "BAU-1"}, id="null-case-id"),
        pytest.param({"recipient": {"ahvn13": "7561234567897"}}, id="digits-only"),
        pytest.param({"body": None, "seal": None, "reply_allowed": None}, id="nulls"),
        pytest.param({"subject": "Grüezi 😀 \ufeff"}, id="emoji"),
    ],
)
def test_the_server_accepts_what_the_document_accepts(api, demo, spec, change):
    metadata = {**letter(demo), **change}
    assert documented(spec, "DeliveryMetadata", metadata)
    response = api.deliver(metadata)
    assert response.status_code == 201, response.get_data(as_text=True)


def test_a_lone_surrogate_is_no_json_text_and_no_500(api, demo, runtime):
    before = counts(runtime)
    metadata = json.dumps(letter(demo)).replace('"subject": "', '"subject": "\\ud800', 1)
    problem = assert_problem(api.deliver(metadata), 422)
    assert error_fields(problem) == {"metadata"}
    unknown = json.dumps(letter(demo))[:-1] + ', "\\udfff": 1}'
    assert error_fields(assert_problem(api.deliver(unknown), 422)) == {"metadata"}
    batch = '{"items": [{"ref": "\\ud800"}]}'
    response = api.client.post(
        f"{API}/deliveries/batch",
        data=batch,
        content_type="application/json",
        headers=api.headers(),
    )
    assert_problem(response, 400, "bad_json")
    assert counts(runtime) == before
    paired = json.dumps(letter(demo, subject="Brief 😀"))  # ensure_ascii: a surrogate pair
    assert "\\ud83d\\ude00" in paired
    assert api.deliver(paired).status_code == 201


def test_nul_in_a_query_or_a_reason_is_refused(api, demo, spec):
    problem = assert_problem(api.get("/cases?external_ref=A%00"), 422)
    assert error_fields(problem) == {"external_ref"}
    delivery = api.deliver(letter(demo)).get_json()["delivery_id"]
    body = {"reason": "Irrtum\x00"}
    assert not documented(spec, "WithdrawRequest", body)
    problem = assert_problem(api.post_json(f"/deliveries/{delivery}/withdraw", body), 422)
    assert error_fields(problem) == {"reason"}


def test_an_empty_file_is_refused_as_documented(api, demo, spec):
    files = spec["components"]["schemas"]["DeliveryUpload"]["properties"]["files"]
    assert files["items"]["minLength"] == 1 and files["items"]["format"] == "binary"
    problem = assert_problem(api.deliver(letter(demo), files=[("leer.pdf", b"")]), 422)
    assert error_fields(problem) == {"files[0]"}


def test_withdraw_takes_a_null_reason_as_documented(api, demo, spec):
    for body in [{"reason": None}, {"reason": "Irrtum"}, {}]:
        delivery = api.deliver(letter(demo)).get_json()["delivery_id"]
        assert documented(spec, "WithdrawRequest", body)
        response = api.post_json(f"/deliveries/{delivery}/withdraw", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["status"] == "withdrawn"
    delivery = api.deliver(letter(demo)).get_json()["delivery_id"]
    for body, fields in [({"reason": 5}, {"reason"}), ({"why": "x"}, {"why"})]:
        assert not documented(spec, "WithdrawRequest", body)
        problem = assert_problem(api.post_json(f"/deliveries/{delivery}/withdraw", body), 422)
        assert error_fields(problem) == fields
    # JSON null is a body, and not the object the document asks for (no body at all is fine).
    null = api.client.post(
        f"{API}/deliveries/{delivery}/withdraw",
        data="null",
        content_type="application/json",
        headers=api.headers(),
    )
    assert error_fields(assert_problem(null, 422)) == {"body"}


def test_get_on_the_batch_url_is_a_documented_405(api, spec):
    response = api.get("/deliveries/batch")
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    # /deliveries/batch is also /deliveries/{delivery_id} with a delivery_id of "batch".
    responses = spec["paths"]["/deliveries/{delivery_id}"]["get"]["responses"]
    assert responses["405"] == {"$ref": "#/components/responses/Problem405"}
    headers = spec["components"]["responses"]["Problem405"]["headers"]
    assert headers["Allow"]["required"] is True


def test_an_event_cursor_in_other_digits_is_refused_not_a_500(api, demo):
    case = api.deliver(letter(demo)).get_json()["case_id"]
    for after in ["²", "١", "-1", "1.5"]:
        response = api.get(f"/cases/{case}/events?after={after}")
        assert error_fields(assert_problem(response, 422)) == {"after"}
    assert api.get(f"/cases/{case}/events?after=0").status_code == 200


def test_a_document_downloads_in_a_documented_media_type(api, demo, spec):
    content = spec["paths"]["/documents/{document_id}"]["get"]["responses"]["200"]["content"]
    assert "*/*" not in content
    assert {"application/pdf", "image/png", "image/jpeg", "application/json"} <= set(content)
    created = api.deliver(letter(demo), files=[("brief.pdf", make_pdf("Brief"))]).get_json()
    [doc] = api.get(f"/deliveries/{created['delivery_id']}").get_json()["documents"]
    path = f"/documents/{doc['id']}"
    assert api.get(path).mimetype == "application/pdf"
    as_bytes = api.get(path, headers={"Accept": "application/octet-stream"})
    assert as_bytes.mimetype == "application/octet-stream" and as_bytes.mimetype in content
    assert as_bytes.data == api.get(path).data
