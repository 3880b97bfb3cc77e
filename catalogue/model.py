"""A service declaration as the code sees it: frozen values built from a YAML file that the
schema (schema/service.schema.json) has already accepted. Nothing here touches a database."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ("de", "fr", "it", "en")


@dataclass(frozen=True)
class Text:
    """A text in the four languages of the portal (the schema requires all four)."""

    de: str
    fr: str
    it: str
    en: str

    def get(self, language: str) -> str:
        # Unknown languages read German, the portal's default.
        return str(getattr(self, language, self.de)) if language in LANGUAGES else self.de

    @classmethod
    def of(cls, value: Mapping[str, str] | None) -> Text | None:
        return None if value is None else cls(**{lang: value[lang] for lang in LANGUAGES})


@dataclass(frozen=True)
class Rule:
    """Who is responsible: `commune` and `region` look `task` up for a commune (the resident's,
    or the one answered in `commune_field`); `office` names a fixed authority by its slug."""

    rule: str
    task: str | None = None
    authority: str | None = None
    commune_field: str | None = None


@dataclass(frozen=True)
class Condition:
    field: str
    equals: str | int | float | bool | None = None
    among: tuple[str | int | float, ...] | None = None  # the schema's `in`

    def holds(self, answers: Mapping[str, Any]) -> bool:
        value = answers.get(self.field)
        if self.among is not None:
            return value in self.among
        return bool(value == self.equals)


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # text textarea number date choice yesno ahvn13 address commune email file
    label: Text
    help: Text | None = None
    required: bool = False
    when: Condition | None = None
    prefill: str | None = None
    max_length: int | None = None
    pattern: str | None = None
    min: Any = None
    max: Any = None
    decimals: int | None = None  # number: at most this many decimal places
    choices: tuple[Choice, ...] = ()
    accept: tuple[str, ...] = ()
    max_bytes: int | None = None

    def applies(self, answers: Mapping[str, Any]) -> bool:
        return self.when is None or self.when.holds(answers)


@dataclass(frozen=True)
class Fee:
    amount: decimal.Decimal  # CHF
    due: str  # "before" (fee first) or "with_decision"
    reason: Text | None = None


@dataclass(frozen=True)
class Automatic:
    document: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Information:
    days: int
    on_expiry: str  # "reject" or "continue"
    reminder_days: int | None = None


@dataclass(frozen=True)
class Step:
    id: str
    title: Text
    status: Text
    responsible: Rule | None = None  # None: the service's
    when: Condition | None = None
    after: tuple[str, ...] | None = None  # None: the step before; (): at ordering
    automatic: Automatic | None = None
    information: Information | None = None


@dataclass(frozen=True)
class GeneratedDocument:
    id: str
    title: Text
    body: Text
    kind: str = "certificate"
    appeal_days: int | None = None


@dataclass(frozen=True)
class Retention:
    years: int
    disposition: str  # "archive" or "destroy"


@dataclass(frozen=True)
class Service:
    id: str
    version: int
    topic: str
    level: str  # commune canton federal: for grouping; `responsible` decides the office
    title: Text
    summary: Text
    help: Text
    who: frozenset[str]  # person, organisation
    responsible: Rule
    steps: tuple[Step, ...]
    retention: Retention
    fee: Fee | None = None
    form: tuple[Field, ...] = ()
    attachments: tuple[Field, ...] = ()  # fields of type file
    documents: tuple[GeneratedDocument, ...] = ()
    follow_ups: tuple[str, ...] = ()
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    legal_basis: tuple[str, ...] = ()
    source: str | None = None
    # SHA-256 of the declaration as loaded (its canonical JSON): case files record it with the
    # version, so an edited file that kept its version number is noticed.
    digest: str = ""
    # The declaration as loaded, kept with every case file ordered under it.
    declaration: Mapping[str, Any] = field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def document(self, document_id: str) -> GeneratedDocument:
        return next(d for d in self.documents if d.id == document_id)

    def fields(self) -> tuple[Field, ...]:
        return self.form + self.attachments
