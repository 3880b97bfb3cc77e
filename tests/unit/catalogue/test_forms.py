"""The form engine: every field type, conditions, forged values and files."""

from __future__ import annotations

import datetime
import decimal
import io
from dataclasses import dataclass, field
from typing import Any

import pytest

from catalogue.forms import AttachedFile, FieldError, answers_json, close_files, validate
from catalogue.model import Choice, Condition, Field, Retention, Rule, Service, Step, Text
from directory.identifiers import make_ahvn13

T = Text("x", "x", "x", "x")
TODAY = datetime.date(2026, 12, 2)
PDF = b"%PDF-1.7\n%fake but the head is what the form engine looks at\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def service(*fields: Field, attachments: tuple[Field, ...] = ()) -> Service:
    return Service(
        id="test", version=1, topic="wohnen", level="commune", title=T, summary=T, help=T,
        who=frozenset({"person"}), responsible=Rule("commune", task="einwohnerdienste"),
        steps=(Step("one", T, T),), retention=Retention(1, "destroy"),
        form=fields, attachments=attachments,
    )  # fmt: skip


@dataclass
class Upload:
    filename: str | None
    data: bytes
    stream: io.BytesIO = field(init=False)

    def __post_init__(self) -> None:
        self.stream = io.BytesIO(self.data)


def one(kind: str, value: str | list[str], **options: Any) -> tuple[Any, FieldError | None]:
    options.setdefault("required", True)
    answers, errors = validate(
        service(Field("f", kind, T, **options)), {"f": value}, communes={1061, 1024}, today=TODAY
    )
    return answers.get("f"), errors.get("f")


@pytest.mark.parametrize(
    ("kind", "value", "options", "expected"),
    [
        ("text", "  Hallo  ", {}, "Hallo"),
        ("textarea", "eins\r\nzwei", {}, "eins\nzwei"),
        ("text", "AB-12", {"pattern": "[A-Z]{2}-[0-9]+"}, "AB-12"),
        ("number", "1'250.50", {}, decimal.Decimal("1250.50")),
        ("number", "12,5", {}, decimal.Decimal("12.5")),
        ("number", "3", {"min": 1, "max": 3}, 3),
        ("date", "2026-12-01", {"max": "today"}, datetime.date(2026, 12, 1)),
        ("date", "1.2.1990", {}, datetime.date(1990, 2, 1)),
        ("yesno", "yes", {}, True),
        ("yesno", "no", {}, False),
        ("ahvn13", make_ahvn13(123456789).replace(".", ""), {}, make_ahvn13(123456789)),
        ("commune", "1061", {}, 1061),
        ("email", "anna@example.ch", {}, "anna@example.ch"),
        ("choice", "b", {"choices": (Choice("a", T), Choice("b", T))}, "b"),
    ],
)
def test_good_values_become_typed_answers(
    kind: str, value: str, options: dict[str, Any], expected: Any
) -> None:
    answer, error = one(kind, value, **options)
    assert error is None
    assert answer == expected and type(answer) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value", "options", "code", "params"),
    [
        ("text", "", {}, "required", {}),
        ("text", "   ", {}, "required", {}),
        ("text", "x" * 201, {}, "too_long", {"max": 200}),
        ("text", "abc", {"max_length": 2}, "too_long", {"max": 2}),
        ("text", "a\nb", {}, "bad_characters", {}),
        ("text", "a\x00b", {}, "bad_characters", {}),
        ("text", "ab-12", {"pattern": "[A-Z]{2}-[0-9]+"}, "pattern", {}),
        ("number", "zwölf", {}, "not_a_number", {}),
        ("number", "1e999999", {}, "not_a_number", {}),
        ("number", "NaN", {}, "not_a_number", {}),
        ("number", "0", {"min": 1}, "below_min", {"min": "1"}),
        ("number", "4.5", {"max": 4}, "above_max", {"max": "4"}),
        ("date", "31.02.2026", {}, "not_a_date", {}),
        ("date", "morgen", {}, "not_a_date", {}),
        ("date", "2026-12-03", {"max": "today"}, "above_max", {"max": "2026-12-02"}),
        ("date", "1899-12-31", {"min": "1900-01-01"}, "below_min", {"min": "1900-01-01"}),
        ("yesno", "vielleicht", {}, "unknown_choice", {}),
        ("ahvn13", "756.1234.5678.90", {}, "bad_ahvn13", {}),
        ("commune", "9999", {}, "unknown_commune", {}),
        ("commune", "Luzern", {}, "unknown_commune", {}),
        ("email", "anna@", {}, "bad_email", {}),
        ("choice", "c", {"choices": (Choice("a", T), Choice("b", T))}, "unknown_choice", {}),
        ("choice", ["a", "b"], {"choices": (Choice("a", T), Choice("b", T))}, "one_value", {}),
    ],
)
def test_bad_values_get_a_code_and_its_parameters(
    kind: str, value: str, options: dict[str, Any], code: str, params: dict[str, Any]
) -> None:
    answer, error = one(kind, value, **options)
    assert answer is None
    assert error == FieldError(code, params)


def test_an_optional_empty_field_is_left_out() -> None:
    answers, errors = validate(service(Field("note", "text", T)), {"note": ""})
    assert (answers, errors) == ({}, {})


def test_fields_that_do_not_apply_are_dropped_and_unknown_names_ignored() -> None:
    form = service(
        Field("kind", "choice", T, required=True, choices=(Choice("a", T), Choice("other", T))),
        Field("other", "text", T, required=True, when=Condition("kind", equals="other")),
    )
    raw = {"kind": "a", "other": "sneaked in", "csrf_token": "t", "forged": "x"}
    assert validate(form, raw) == ({"kind": "a"}, {})
    assert validate(form, {"kind": "other"}) == (
        {"kind": "other"},
        {"other": FieldError("required")},
    )
    assert validate(form, {"kind": "other", "other": "Bank"})[0] == {
        "kind": "other",
        "other": "Bank",
    }


def test_an_address_has_three_parts() -> None:
    form = service(Field("new", "address", T, required=True))
    good = {"new.street": "Bahnhofstrasse 1", "new.postcode": "6003", "new.town": "Luzern"}
    assert validate(form, good)[0] == {
        "new": {"street": "Bahnhofstrasse 1", "postcode": "6003", "town": "Luzern"}
    }
    assert validate(form, {})[1] == {"new": FieldError("required")}
    partial = {**good, "new.town": ""}
    assert validate(form, partial)[1] == {"new": FieldError("incomplete_address")}
    assert validate(form, {**good, "new.postcode": "<6003>"})[1] == {
        "new": FieldError("bad_postcode")
    }


def test_files_are_checked_by_their_bytes_and_size() -> None:
    attachment = Field(
        "proof", "file", T, required=True, accept=("application/pdf",), max_bytes=100
    )
    form = service(attachments=(attachment,))
    answers, errors = validate(form, {}, {"proof": Upload("C:\\docs\\Beleg.pdf", PDF)})
    assert errors == {}
    proof = answers["proof"]
    assert isinstance(proof, AttachedFile)
    assert (proof.filename, proof.media_type, proof.size) == (
        "Beleg.pdf",
        "application/pdf",
        len(PDF),
    )
    assert proof.stream.read() == PDF
    assert answers_json(answers) == {
        "proof": {"filename": "Beleg.pdf", "media_type": "application/pdf", "size": len(PDF)}
    }
    close_files(answers)
    # A PNG named .pdf is what its bytes say it is.
    assert validate(form, {}, {"proof": Upload("Beleg.pdf", PNG)})[1] == {
        "proof": FieldError("file_type", {"kinds": "PDF"})
    }
    assert validate(form, {}, {"proof": Upload("big.pdf", PDF + b"x" * 100)})[1] == {
        "proof": FieldError("file_too_big", {"max_mb": 1})
    }
    assert validate(form, {}, {"proof": Upload("leer.pdf", b"")})[1] == {
        "proof": FieldError("file_empty")
    }
    assert validate(form, {}, {"proof": Upload("", b"")})[1] == {"proof": FieldError("required")}
    assert validate(form, {}, {})[1] == {"proof": FieldError("required")}


def test_answers_json_holds_no_floats() -> None:
    form = service(Field("n", "number", T), Field("d", "date", T), Field("y", "yesno", T))
    answers, errors = validate(form, {"n": "2.50", "d": "2026-01-31", "y": "ja"})
    assert errors == {}
    assert answers_json(answers) == {"n": "2.50", "d": "2026-01-31", "y": True}


def test_every_shipped_service_refuses_an_empty_order_with_codes_only() -> None:
    from app.catalogue.messages import MESSAGES
    from catalogue import registry

    for declared in registry.default().all():
        answers, errors = validate(declared, {})
        assert set(errors) == {
            f.name for f in declared.fields() if f.required and f.when is None
        }, declared.id
        assert all(error.code in MESSAGES for error in errors.values())
