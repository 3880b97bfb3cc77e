"""The one canonical JSON (signing/canonical.py) and every user of it, with literal bytes.

This reaches above `signing/` on purpose: the promise is that the journal, the JWS receipts and
the webhook bodies give the same bytes for the same value, and that the one variant that
differs (the batch items' idempotency digest) differs only as documented.
"""

from __future__ import annotations

import base64
import math

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.api.batch import Item, _item_digest
from casefiles.journal import canonical as journal_canonical
from mailbox.webhooks import canonical_body
from signing import FileSealKey
from signing.canonical import canonical_json, canonical_json_ascii
from signing.jws import sign_json, verify_json
from tests.unit.casefiles.test_journal_format import CERT_PEM, KEY_PEM

VALUE = {
    "subject": "Gesuch für Müller",
    "z": [1, -2, None, True, {"b": "\t", "B": "\u2028"}],
    "appeal_period_days": 30,
}
CANONICAL = (
    b'{"appeal_period_days":30,"subject":"Gesuch f\xc3\xbcr M\xc3\xbcller",'
    b'"z":[1,-2,null,true,{"B":"\xe2\x80\xa8","b":"\\t"}]}'
)
ASCII = (
    b'{"appeal_period_days":30,"subject":"Gesuch f\\u00fcr M\\u00fcller",'
    b'"z":[1,-2,null,true,{"B":"\\u2028","b":"\\t"}]}'
)


def test_canonical_json_bytes():
    assert canonical_json(VALUE) == CANONICAL
    assert canonical_json({"a": 1.5}) == b'{"a":1.5}'  # allowed here; the journal refuses it
    for not_json in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            canonical_json({"a": not_json})
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"a": "\ud800"})  # a lone surrogate is no Unicode text


def test_the_journal_and_the_webhooks_use_it():
    assert journal_canonical(VALUE) == CANONICAL
    assert canonical_body(VALUE) == CANONICAL


def test_the_receipt_jws_signs_the_canonical_bytes():
    key = serialization.load_pem_private_key(KEY_PEM, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    certificate = x509.load_pem_x509_certificate(CERT_PEM)
    token = sign_json(FileSealKey(key, certificate), VALUE)
    encoded = token.split(".")[1]
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)) == CANONICAL
    assert verify_json(token, [certificate]) == VALUE


def test_the_ascii_variant_differs_only_as_documented():
    """Escaped non-ASCII and NaN allowed: the batch items' idempotency digest, over metadata
    not checked yet, and equal to the digests stored by earlier requests."""
    assert canonical_json_ascii(VALUE) == ASCII
    assert canonical_json_ascii({"a": math.nan}) == b'{"a":NaN}'
    assert canonical_json_ascii({"a": "\ud800"}) == b'{"a":"\\ud800"}'


def test_the_batch_item_digest_is_pinned():
    # The digest an earlier release stored for this item (json.dumps, sort_keys, compact,
    # ASCII): a retry of it after an upgrade must still be recognised as the same request.
    metadata = {
        "subject": "Gesuch für Müller",
        "kind": "decision",
        "recipient": {"ahvn13": "756.1234.5678.97"},
        "appeal_period_days": 30.0,
    }
    files = [{"filename": "verfügung.pdf", "content_base64": "JVBERi0xLjc="}]
    digest = _item_digest(Item("r", metadata, files, "k"))
    assert digest == "319e0d2e9cc3135b909cb01bc93e4f46dad8970d2b05b3cb19d05816eb43cb97"
