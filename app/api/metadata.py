"""The `metadata` of a delivery, checked strictly: unknown members and wrong types are refused
with every fault named at once, before anything is looked up or stored."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from app.api.problems import ValidationFailed
from mailbox.operations import DeliveryOptions

KINDS = ("decision", "letter", "invoice", "information")
MAX_BODY = 20_000
MAX_EXTERNAL_REF = 100

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
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed([(field, "is not valid JSON (UTF-8)")]) from None


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
    body = data.get("body") or ""
    if len(body) > MAX_BODY:
        errors.append((prefix + "body", f"is longer than {MAX_BODY} characters"))
    case_id = _case_id(data.get("case_id"), prefix, errors)
    external_ref = data.get("external_ref")
    if external_ref is not None and not 1 <= len(external_ref.strip()) <= MAX_EXTERNAL_REF:
        errors.append((prefix + "external_ref", f"has 1 to {MAX_EXTERNAL_REF} characters"))
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
    return None if unknown else Recipient(**{name: value[name]})


def _case_id(value: Any, prefix: str, errors: list[tuple[str, str]]) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        errors.append((prefix + "case_id", "must be a case file id (UUID)"))
        return None
