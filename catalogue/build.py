"""A declaration that passed every check, built into the frozen values of `catalogue.model`."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

from catalogue.model import (
    LANGUAGES,
    Automatic,
    Choice,
    Condition,
    Fee,
    Field,
    GeneratedDocument,
    Information,
    Retention,
    Rule,
    Service,
    Step,
    Text,
)


def build_service(value: Mapping[str, Any], digest: str) -> Service:
    """The Service of a checked declaration (the loader has refused anything else)."""
    fee = value.get("fee")
    return Service(
        id=value["id"],
        version=value["version"],
        topic=value["topic"],
        level=value["level"],
        title=_text(value["title"]),
        summary=_text(value["summary"]),
        help=_text(value["help"]),
        who=frozenset(value["who"]),
        responsible=_rule(value["responsible"]),
        steps=tuple(_step(step) for step in value["steps"]),
        retention=Retention(value["retention"]["years"], value["retention"]["disposition"]),
        fee=None
        if fee is None
        else Fee(decimal.Decimal(fee["amount"]), fee["due"], Text.of(fee.get("reason"))),
        form=tuple(_field(field) for field in value.get("form", ())),
        attachments=tuple(_attachment(field) for field in value.get("attachments", ())),
        documents=tuple(_document(document) for document in value.get("documents", ())),
        follow_ups=tuple(value.get("follow_ups", ())),
        keywords={lang: tuple(value.get("keywords", {}).get(lang, ())) for lang in LANGUAGES},
        legal_basis=tuple(value.get("legal_basis", ())),
        source=value.get("source"),
        digest=digest,
        declaration=value,
    )


def _text(value: Mapping[str, str]) -> Text:
    text = Text.of(value)
    assert text is not None
    return text


def _rule(value: Mapping[str, Any]) -> Rule:
    return Rule(
        value["rule"], value.get("task"), value.get("authority"), value.get("commune_field")
    )


def _condition(value: Mapping[str, Any] | None) -> Condition | None:
    if value is None:
        return None
    among = value.get("in")
    return Condition(
        value["field"], value.get("equals"), tuple(among) if among is not None else None
    )


def _field(value: Mapping[str, Any]) -> Field:
    return Field(
        name=value["name"],
        type=value["type"],
        label=_text(value["label"]),
        help=Text.of(value.get("help")),
        required=bool(value.get("required", False)),
        when=_condition(value.get("when")),
        prefill=value.get("prefill"),
        max_length=value.get("max_length"),
        pattern=value.get("pattern"),
        min=value.get("min"),
        max=value.get("max"),
        decimals=value.get("decimals"),
        choices=tuple(Choice(c["value"], _text(c["label"])) for c in value.get("choices", ())),
        accept=tuple(value.get("accept", ())),
        max_bytes=value.get("max_bytes"),
    )


def _attachment(value: Mapping[str, Any]) -> Field:
    # Attachments are file fields that are required unless they say otherwise.
    return _field({**value, "type": "file", "required": value.get("required", True)})


def _step(value: Mapping[str, Any]) -> Step:
    automatic = value.get("automatic")
    information = value.get("information")
    after = value.get("after")
    return Step(
        id=value["id"],
        title=_text(value["title"]),
        status=_text(value["status"]),
        responsible=_rule(value["responsible"]) if "responsible" in value else None,
        when=_condition(value.get("when")),
        after=tuple(after) if after is not None else None,
        automatic=None
        if automatic is None
        else Automatic(automatic["document"], tuple(automatic.get("requires", ()))),
        information=None
        if information is None
        else Information(
            information["days"], information["on_expiry"], information.get("reminder_days")
        ),
    )


def _document(value: Mapping[str, Any]) -> GeneratedDocument:
    return GeneratedDocument(
        id=value["id"],
        title=_text(value["title"]),
        body=_text(value["body"]),
        kind=value.get("kind", "certificate"),
        appeal_days=value.get("appeal_days"),
    )
