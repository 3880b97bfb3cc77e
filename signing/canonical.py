"""Canonical JSON: the one byte form of a JSON value that the portal hashes or signs.

`canonical_json` is the form of the journal's entry hashes (docs/journal-format.md), the JWS
receipts and the webhook bodies. Journals hashed decades ago must still verify, so these bytes
never change; tests/unit/casefiles/test_journal_format.py pins them with literal values:

- object members sorted by key (Python's `sort_keys`: by code point of the keys);
- no white space: `,` between members and items, `:` between key and value;
- strings as UTF-8, not escaped to `\\uXXXX` (only `"`, `\\` and control characters are escaped,
  the controls as `\\n`, `\\t`, ... or `\\u00XX`);
- integers in decimal; `true`, `false`, `null`;
- NaN and the infinities are refused (ValueError): they are not JSON (RFC 8259), and PostgreSQL's
  json columns refuse them too. Floats are written as Python's `repr`, which is not the form of
  RFC 8785 (JCS); what is hashed for the long term therefore holds none (the journal refuses
  them, casefiles/journal.py).

This is close to, but not, RFC 8785: JCS sorts keys by UTF-16 code units and writes numbers as
ECMAScript does. For keys within the Basic Multilingual Plane and for integers the two agree.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value (see the module's docstring)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_json_ascii(value: Any) -> bytes:
    """A variant for digests of input not checked yet: keys sorted, no white space, but every
    non-ASCII character escaped (`\\u00fc`) and NaN/Infinity written as Python does.

    It differs from `canonical_json` on purpose: any value Python's JSON parser accepted gets
    bytes (a lone surrogate or a NaN is refused later by the checks, not by the digest), and
    digests stored with earlier requests (the batch items' idempotency records) stay valid.
    Never use it for what is hashed or signed for the long term.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")
