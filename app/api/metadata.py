"""The `metadata` of a delivery, checked strictly: unknown members and wrong types are refused
with every fault named at once, before anything is looked up or stored."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from app.api.problems import ValidationFailed
from mailbox.operations import DeliveryOptions

KINDS = ("decision", "letter", "invoice", "information")
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_EXTERNAL_REF = 100
MAX_PERIOD_DAYS = 365
MAX_REASON = 500
# The forms of the numbers the document promises (the check digit is checked later, by the
# directory). Written once here for the OpenAPI document and for the code, so both agree.
AHVN13_PATTERN = r"^756(\.?[0-9]{4}){2}\.?[0-9]{2}$"
UID_PATTERN = r"^CHE-?([0-9]{3}\.?){2}[0-9]{3}$"
# Text is stripped before use and lands in text columns, which in PostgreSQL cannot hold NUL:
# so no NUL anywhere, and one character that is neither NUL nor white space. White space as
# Python's str.strip() sees it, spelled out: regex engines disagree about what \s covers.
_WHITE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00]*[^\x00{_WHITE}][^\x00]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"
TEXT_RULE = "not only white space, and no NUL"
_TEXT = re.compile(TEXT_PATTERN.removeprefix("^").removesuffix("$"))
# A \u escape of a UTF-16 surrogate: in pairs an emoji, alone no Unicode at all.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# member -> (JSON type name, Python types); bool is not an int here, whatever Python thinks.
_MEMBERS: dict[str, tuple[str, tuple[type, ...]]] = {
    "recipient": ("object", (dict,)),
    "kind": ("string", (str,)),
    "subject": ("string", (str,)),
    "body": ("string", (str,)),
    "case_id": ("string", (str,)),
    "external_ref": ("string", (str,)),
    "reply_allowed": ("boolean", (bool,)),
    "appeal_period_days": ("integer", (int,)),
    "seal": ("boolean", (bool,)),
}
DELIVERY_MEMBERS = frozenset(_MEMBERS)
# Within a case the case is given by the URL, and the recipient defaults to the case's.
CASE_MESSAGE_MEMBERS = DELIVERY_MEMBERS - {"case_id", "external_ref"}


@dataclass(frozen=True)
class Recipient:
    ahvn13: str | None = None
    uid: str | None = None


@dataclass(frozen=True)
class Metadata:
    recipient: Recipient | None
    kind: str
    subject: str
    body: str
    options: DeliveryOptions


def parse_json(raw: bytes | str, field: str = "metadata") -> Any:
    """JSON text as RFC 8259 wants it: UTF-8, and strings of Unicode characters. A lone
    surrogate escape would otherwise reach the database or a problem's text and fail there."""
    try:
        data = json.loads(raw)
        if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode()):
            json.dumps(data, ensure_ascii=False).encode()  # UnicodeEncodeError if one is alone
    except ValueError:  # JSONDecodeError, UnicodeDecodeError and UnicodeEncodeError alike
        raise ValidationFailed([(field, "is not valid JSON (UTF-8)")]) from None
    return data


def is_text(value: str, max_length: int) -> bool:
    """1 to max_length characters as sent, not only white space, no NUL (as TEXT_PATTERN)."""
    return len(value) <= max_length and _TEXT.fullmatch(value) is not None


def parse_metadata(
    data: Any,
    *,
    allowed: frozenset[str] = DELIVERY_MEMBERS,
    recipient_required: bool = True,
    prefix: str = "",
) -> Metadata:
    """A checked Metadata, or ValidationFailed listing every member at fault."""
    if not isinstance(data, dict):
        raise ValidationFailed([(prefix.rstrip(".") or "metadata", "must be a JSON object")])
    period = data.get("appeal_period_days")
    if isinstance(period, float) and period.is_integer():
        # JSON Schema counts 30.0 as an integer, and so does the document.
        data = {**data, "appeal_period_days": int(period)}
    errors: list[tuple[str, str]] = []
    for name in sorted(set(data) - allowed):
        errors.append((prefix + name, "is not a known member"))
    required = ["kind", "subject"] + (["recipient"] if recipient_required else [])
    for name in sorted(set(data) & allowed):
        type_name, types = _MEMBERS[name]
        value = data[name]
        if value is None and name not in required:
            continue  # null stands for "not given" in an optional member
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            errors.append((prefix + name, f"must be a {type_name}"))
    for name in required:
        if name not in data:
            errors.append((prefix + name, "is required"))
    if errors:
        raise ValidationFailed(errors)

    recipient = _recipient(data.get("recipient"), prefix, errors)
    kind = data["kind"]
    if kind not in KINDS:
        errors.append((prefix + "kind", f"must be one of {', '.join(KINDS)}"))
    if not is_text(data["subject"], MAX_SUBJECT):
        errors.append((prefix + "subject", f"has 1 to {MAX_SUBJECT} characters: {TEXT_RULE}"))
    body = data.get("body") or ""
    if len(body) > MAX_BODY or "\x00" in body:
        errors.append((prefix + "body", f"has at most {MAX_BODY} characters, no NUL"))
    period = data.get("appeal_period_days")
    if period is not None and not 1 <= period <= MAX_PERIOD_DAYS:
        errors.append((prefix + "appeal_period_days", f"is 1 to {MAX_PERIOD_DAYS} days"))
    case_id = _case_id(data.get("case_id"), prefix, errors)
    external_ref = data.get("external_ref")
    if external_ref is not None and not is_text(external_ref, MAX_EXTERNAL_REF):
        errors.append(
            (prefix + "external_ref", f"has 1 to {MAX_EXTERNAL_REF} characters: {TEXT_RULE}")
        )
    if case_id is not None and external_ref is not None:
        errors.append((prefix + "external_ref", "give either case_id or external_ref, not both"))
    if errors:
        raise ValidationFailed(errors)
    options = DeliveryOptions(
        appeal_period_days=data.get("appeal_period_days"),
        reply_allowed=data.get("reply_allowed") is not False,
        case_id=case_id,
        external_ref=external_ref.strip() if external_ref else None,
        seal=data.get("seal") is True,
    )
    return Metadata(recipient, kind, data["subject"], body, options)


def _recipient(value: Any, prefix: str, errors: list[tuple[str, str]]) -> Recipient | None:
    if value is None:
        return None
    field = prefix + "recipient"
    unknown = sorted(set(value) - {"ahvn13", "uid"})
    for name in unknown:
        errors.append((f"{field}.{name}", "is not a known member"))
    given = [name for name in ("ahvn13", "uid") if name in value]
    if len(given) != 1:
        errors.append((field, "give exactly one of ahvn13 or uid"))
        return None
    [name] = given
    if not isinstance(value[name], str):
        errors.append((f"{field}.{name}", "must be a string"))
        return None
    if not _matches(AHVN13_PATTERN if name == "ahvn13" else UID_PATTERN, value[name]):
        example = "756.1234.5678.97" if name == "ahvn13" else "CHE-123.456.788"
        errors.append((f"{field}.{name}", f"must be written like {example}"))
        return None
    return None if unknown else Recipient(**{name: value[name]})


def _matches(pattern: str, value: str) -> bool:
    # fullmatch, not the pattern's own `$`, which in Python also matches before a final newline.
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None


def _case_id(value: Any, prefix: str, errors: list[tuple[str, str]]) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        errors.append((prefix + "case_id", "must be a case file id (UUID)"))
        return None
