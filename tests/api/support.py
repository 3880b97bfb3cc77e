"""Helpers for the API tests: a client with its bearer key, multipart deliveries, counts."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from casefiles.models import CaseFile, JournalEntry
from mailbox.models import Delivery, IdempotencyRecord
from storage.blobs import Blob
from tests.conftest import csrf_token, login, make_pdf

API = "/api/v1"


@dataclass
class Api:
    """A specialist application: a test client and its bearer key."""

    client: FlaskClient
    key: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return documented(self.client, self.client.get(API + path, headers=self.headers(headers)))

    def post_json(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        response = self.client.post(API + path, json=body, headers=self.headers(headers))
        return documented(self.client, response)

    def deliver(
        self,
        metadata: Any,
        files: list[tuple[str, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/deliveries",
    ) -> Any:
        """POST a multipart delivery: `metadata` as JSON (or raw text), `files` as PDF parts."""
        data: dict[str, Any] = {
            "metadata": metadata if isinstance(metadata, str) else json.dumps(metadata)
        }
        if files is None:
            files = [("verfuegung.pdf", make_pdf("Verfügung"))]
        if files:
            data["files"] = [(io.BytesIO(content), name) for name, content in files]
        response = post_multipart(self.client, API + path, data, self.headers(headers))
        return documented(self.client, response)


_document: Any = None


def documented(client: FlaskClient, response: Any) -> Any:
    """The response, after checking it against the OpenAPI document the portal serves (status,
    headers, body schema), so that the document cannot drift from the code."""
    global _document  # one parsed document for the whole test session
    from openapi_core import Config, OpenAPI
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

    if _document is None:
        # Problem details are JSON under their own media type (RFC 9457).
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        _document = OpenAPI.from_dict(client.get(API + "/openapi.json").get_json(), config=config)

    class _Sent(WerkzeugOpenAPIRequest):
        # The response is checked, not the request: its body (spooled, already closed) is not
        # read again.
        @property
        def body(self) -> bytes | None:
            return None

    class _Received(WerkzeugOpenAPIResponse):
        # A binary body is `{"type": "string", "format": "binary"}` in the document (what
        # generated clients need); the validator checks a str against that, so bytes are handed
        # over as latin-1, which maps every byte to one character.
        @property
        def data(self) -> bytes | str:
            body = self.response.get_data()
            return body if "json" in self.content_type else body.decode("latin-1")

    _document.validate_response(_Sent(response.request), _Received(response))
    return response


def post_multipart(client: FlaskClient, path: str, data: dict[str, Any], headers: Any) -> Any:
    # As tests.conftest.post_multipart, with headers: the spooled body is closed after use.
    builder = EnvironBuilder(
        path=path, method="POST", data=data, content_type="multipart/form-data", headers=headers
    )
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def letter(demo: dict[str, Any], who: str = "resident", **extra: Any) -> dict[str, Any]:
    return {
        "recipient": {"ahvn13": demo[who]["ahvn13"]},
        "kind": "decision",
        "subject": "Baubewilligung Nr. 2026-17",
        "body": "Bitte beachten Sie die Rechtsmittelbelehrung.",
        **extra,
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def chiara(demo: dict[str, Any]) -> dict[str, Any]:
    """The demo resident who has not consented to electronic delivery."""
    return demo["chiara.rossi@example.ch"]


def counts(runtime) -> dict[str, int]:
    """What is stored: rows of the tables a delivery writes, and objects in the store."""
    with runtime.sessions() as session:
        rows = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (CaseFile, JournalEntry, Blob, Delivery, IdempotencyRecord)
        }
    rows["objects"] = len(list(runtime.objects.store.iter_keys()))
    return rows


def open_as_resident(app, account: dict[str, Any], delivery_id: str) -> FlaskClient:
    """The resident logs in and opens the delivery in the web UI (the legal act)."""
    resident = app.test_client()
    login(resident, account)
    page = resident.get(f"/messages/{delivery_id}")
    assert page.status_code == 200
    opened = resident.post(
        f"/messages/{delivery_id}/open",
        data={"csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert opened.status_code == 302
    return resident


def assert_problem(response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json(force=True)
    assert problem["status"] == status
    assert problem["title"] and problem["type"] and problem["detail"]
    if code is not None:
        assert problem["code"] == code, problem
    return problem


def error_fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}
