"""The form engine: an order's raw answers checked against a service's declared fields.

`validate` returns the typed answers and, per field, one `FieldError` (a code and its
parameters; `app/catalogue/messages.py` turns them into a sentence in the user's language).
Fields whose `when` does not hold are dropped, whatever was sent for them; names the service
does not declare (a CSRF token, a forged field) are ignored; a value a field cannot take (a
forged choice, say) is an error, never silently changed.
"""

from __future__ import annotations

import datetime
import decimal
import re
import tempfile
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Protocol, cast

from catalogue.model import Field, Service
from directory.identifiers import normalize_ahvn13

# The longest text a field takes when its declaration says nothing.
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 5000, "email": 254}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # as the intake policy's default (casefiles/documents.py)
_SPOOL_BYTES = 1024 * 1024
_SIGNATURES = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_POSTCODE = re.compile(r"[0-9A-Za-z -]{3,10}")
# C0 and C1 controls, and the bidirectional embeddings/overrides/isolates: these turn text
# around on screen and in the sealed PDF ("Trojan source"), and no form here needs them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_YES = {"yes", "true", "1", "on", "ja"}
_NO = {"no", "false", "0", "off", "nein"}
ADDRESS_PARTS = ("street", "postcode", "town")


class FileLike(Protocol):
    """An uploaded file: werkzeug's FileStorage and casefiles.documents.Upload both fit."""

    @property
    def filename(self) -> str | None: ...

    @property
    def stream(self) -> IO[bytes]: ...


@dataclass(frozen=True)
class FieldError:
    """Why one field's answer was refused: `code` (e.g. "required", "too_long") and the
    numbers the message needs (e.g. {"max": 200})."""

    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass
class AttachedFile:
    """A file answer: its name, the type its bytes show and a rewound copy of the bytes. The
    intake policy (casefiles.documents) still checks it before it is stored."""

    filename: str
    media_type: str
    size: int
    stream: BinaryIO

    def close(self) -> None:
        self.stream.close()


class _Refused(Exception):
    def __init__(self, code: str, **params: str | int) -> None:
        super().__init__(code)
        self.error = FieldError(code, params)


def validate(
    service: Service,
    raw: Mapping[str, str | list[str]],
    files: Mapping[str, FileLike] | None = None,
    *,
    communes: Container[int] | None = None,
    today: datetime.date | None = None,
) -> tuple[dict[str, Any], dict[str, FieldError]]:
    """Check the answers of an order: (answers by field name, errors by field name).

    `raw` is the posted form (an address field posts NAME.street, NAME.postcode, NAME.town);
    `files` the uploads by field name; `communes` the known BFS numbers (commune fields are
    refused when it is given and the number is not in it); `today` bounds dates ("today").
    """
    files = files or {}
    today = today or datetime.date.today()
    answers: dict[str, Any] = {}
    errors: dict[str, FieldError] = {}
    for one in service.fields():
        # Conditions name fields declared earlier (the loader checks), so `answers` holds them.
        if not one.applies(answers):
            continue
        value: Any
        try:
            if one.type == "file":
                value = _file(one, files.get(one.name))
            elif one.type == "address":
                value = _address(one, raw)
            else:
                value = _value(one, _single(raw.get(one.name)), communes, today)
        except _Refused as refused:
            errors[one.name] = refused.error
            continue
        if value is not None:
            answers[one.name] = value
    if errors:
        close_files(answers)
    return answers, errors


def close_files(answers: Mapping[str, Any]) -> None:
    """Release the copies of uploaded files held by answers (after storing or refusing them)."""
    for value in answers.values():
        if isinstance(value, AttachedFile):
            value.close()


def answers_json(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as JSON for the case file and its digest: dates ISO, numbers with decimals
    as text (the journal holds no floats), files by name, type, size and SHA-256 if known."""
    out: dict[str, Any] = {}
    for name, value in answers.items():
        if isinstance(value, datetime.date):
            out[name] = value.isoformat()
        elif isinstance(value, decimal.Decimal):
            out[name] = str(value)
        elif isinstance(value, AttachedFile):
            out[name] = {"filename": value.filename, "media_type": value.media_type,
                         "size": value.size}  # fmt: skip
        else:
            out[name] = value
    return out


def _single(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if len(value) > 1:
            raise _Refused("one_value")
        return value[0] if value else ""
    return value


def _value(
    one: Field, text: str, communes: Container[int] | None, today: datetime.date
) -> str | int | decimal.Decimal | bool | datetime.date | None:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        if one.required:
            raise _Refused("required")
        return None
    if one.type in ("text", "textarea", "email"):
        return _text(one, text)
    if one.type == "number":
        return _number(one, text)
    if one.type == "date":
        return _date(one, text, today)
    if one.type == "choice":
        if text not in {choice.value for choice in one.choices}:
            raise _Refused("unknown_choice")
        return text
    if one.type == "yesno":
        if text.lower() in _YES:
            return True
        if text.lower() in _NO:
            return False
        raise _Refused("unknown_choice")
    if one.type == "ahvn13":
        try:
            return normalize_ahvn13(text)
        except ValueError:
            raise _Refused("bad_ahvn13") from None
    if one.type == "commune":
        return _commune(text, communes)
    raise _Refused("unknown_type")  # the schema lists every type; a new one needs code here


def _text(one: Field, text: str) -> str:
    limit = one.max_length or DEFAULT_MAX_LENGTH[one.type]
    if len(text) > limit:
        raise _Refused("too_long", max=limit)
    if _CONTROL.search(text) or (one.type != "textarea" and "\n" in text):
        raise _Refused("bad_characters")
    if one.type == "email":
        if not _EMAIL.fullmatch(text):
            raise _Refused("bad_email")
        return text
    if one.pattern is not None and not re.fullmatch(one.pattern, text):
        raise _Refused("pattern")
    return text


def _number(one: Field, text: str) -> int | decimal.Decimal:
    # Swiss writing: 1'250.50, also with a comma as the decimal separator or spaces.
    cleaned = text.replace("'", "").replace("’", "").replace(" ", "").replace(",", ".")
    # Plain digits only: no exponent (1e999999 would be a number too large to handle).
    if len(cleaned) > 30 or not _NUMBER.fullmatch(cleaned):
        raise _Refused("not_a_number")
    number = decimal.Decimal(cleaned)
    places = -int(number.normalize().as_tuple().exponent)
    if one.decimals is not None and places > one.decimals:
        if one.decimals == 0:
            raise _Refused("not_whole")
        raise _Refused("too_many_decimals", decimals=one.decimals)
    if one.min is not None and number < decimal.Decimal(str(one.min)):
        raise _Refused("below_min", min=str(one.min))
    if one.max is not None and number > decimal.Decimal(str(one.max)):
        raise _Refused("above_max", max=str(one.max))
    return int(number) if number == number.to_integral_value() else number


def _date(one: Field, text: str, today: datetime.date) -> datetime.date:
    # An HTML date input sends YYYY-MM-DD; people type 31.12.2026.
    match = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text)
    try:
        if match:
            day, month, year = (int(part) for part in match.groups())
            value = datetime.date(year, month, day)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            value = datetime.date.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise _Refused("not_a_date") from None
    low, high = _bound(one.min, today), _bound(one.max, today)
    if low is not None and value < low:
        raise _Refused("below_min", min=low.isoformat())
    if high is not None and value > high:
        raise _Refused("above_max", max=high.isoformat())
    return value


def _bound(value: Any, today: datetime.date) -> datetime.date | None:
    if value is None:
        return None
    return today if value == "today" else datetime.date.fromisoformat(str(value))


def _commune(text: str, communes: Container[int] | None) -> int:
    # ASCII digits: str.isdigit() also takes "²", which int() refuses (a 500 before).
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) == 0:
        raise _Refused("unknown_commune")
    bfs = int(text)
    if communes is not None and bfs not in communes:
        raise _Refused("unknown_commune")
    return bfs


def _address(one: Field, raw: Mapping[str, str | list[str]]) -> dict[str, str] | None:
    parts = {part: _single(raw.get(f"{one.name}.{part}")).strip() for part in ADDRESS_PARTS}
    if not any(parts.values()):
        if one.required:
            raise _Refused("required")
        return None
    if not all(parts.values()):
        raise _Refused("incomplete_address")
    if any(len(value) > 200 or _CONTROL.search(value) or "\n" in value for value in parts.values()):
        raise _Refused("bad_characters")
    if not _POSTCODE.fullmatch(parts["postcode"]):
        raise _Refused("bad_postcode")
    return parts


def _file(one: Field, upload: FileLike | None) -> AttachedFile | None:
    if upload is None or not upload.filename:
        if one.required:
            raise _Refused("required")
        return None
    limit = one.max_bytes or DEFAULT_MAX_BYTES
    # typeshed types the spool as IO[bytes]; it is a binary file in every way used here.
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES))  # noqa: SIM115
    size = 0
    try:
        while chunk := upload.stream.read(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _Refused("file_too_big", max_mb=max(1, limit // (1024 * 1024)))
            spool.write(chunk)
        if size == 0:
            raise _Refused("file_empty")
        spool.seek(0)
        head = spool.read(16)
        spool.seek(0)
        # The type is what the bytes say, never what the browser claims.
        media_type = next((t for t in one.accept if head.startswith(_SIGNATURES[t])), None)
        if media_type is None:
            kinds = ", ".join(t.split("/")[1].upper() for t in one.accept)
            raise _Refused("file_type", kinds=kinds)
    except BaseException:
        spool.close()
        raise
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or one.name
    return AttachedFile(name, media_type, size, spool)
