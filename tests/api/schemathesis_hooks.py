"""Schemathesis hooks for the API run in tests/api/test_schemathesis.py (loaded by the CLI
through SCHEMATHESIS_HOOKS; the test passes the data below in the environment).

A schema can say that a file part is a PDF and that an AHVN13 has a certain form; it cannot
say which bytes make a readable PDF or who has an account. So in *positive* cases (those the
document calls valid) a delivery gets a real PDF and a registered, consenting recipient, and
points at no invented case file; everything else is left as generated. Negative cases are
never touched: they must be refused as they come.
"""

from __future__ import annotations

import base64
import itertools
import os
import uuid
from pathlib import Path
from typing import Any

import schemathesis

RECIPIENT = os.environ.get("PORTAL_ST_AHVN13", "")
PDF_PATH = os.environ.get("PORTAL_ST_PDF", "")
DELIVERING = {"createDelivery", "answerInCase", "createDeliveries"}
# An Idempotency-Key promises "the same request as before"; generated keys come from a small
# space, and a key sent again with another body is rightly refused (422 idempotency_key_reused).
# A correct client does not do that, so positive cases get keys of their own.
_RUN = uuid.uuid4().hex[:8]
_KEYS = itertools.count()
# Real letters in the first items of a batch only: the largest batch the document allows
# (1000 items) would otherwise be 1000 real deliveries in one request, a load test, not a probe.
REAL_ITEMS = 3


def _pdf() -> bytes:
    return Path(PDF_PATH).read_bytes()


def _letter(metadata: Any, *, in_case: bool) -> Any:
    if not isinstance(metadata, dict):
        return metadata
    metadata = {k: v for k, v in metadata.items() if k != "case_id"}
    if in_case:
        # Within a case file the recipient defaults to the case file's own.
        metadata.pop("recipient", None)
    else:
        metadata["recipient"] = {"ahvn13": RECIPIENT}
    return metadata


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    operation_id = case.operation.definition.raw.get("operationId")
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str):
        case.headers["Idempotency-Key"] = f"{key[:150]}~{_RUN}-{next(_KEYS)}"
    if operation_id not in DELIVERING:
        return case
    body = case.body
    if not isinstance(body, dict):
        return case
    if operation_id == "createDeliveries":
        pdf = base64.b64encode(_pdf()).decode()
        for item in (body.get("items") or [])[:REAL_ITEMS]:
            if isinstance(item, dict):
                item["metadata"] = _letter(item.get("metadata"), in_case=False)
                for file in item.get("files") or []:
                    if isinstance(file, dict) and "content_base64" in file:
                        file["content_base64"] = pdf
    else:
        body["metadata"] = _letter(body.get("metadata"), in_case=operation_id == "answerInCase")
        if isinstance(body.get("files"), list):
            body["files"] = [_pdf() for _ in body["files"]]
    return case


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    # "Created resource not found" guesses that every path under a new delivery exists at once;
    # its receipt exists only once the delivery is opened or deemed delivered, and until then
    # the document promises 404 receipt_not_available. Only that answer is let through.
    if type(failure).__name__ != "EnsureResourceAvailability" or response.status_code != 404:
        return True
    try:
        code = response.json().get("code")
    except ValueError:
        return True
    return code != "receipt_not_available"
