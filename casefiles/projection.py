"""Rows as the projection of a signed record: how a mapping is declared and how rows are
compared with the values derived from the record, for any table.

The mapping itself (which column comes from which entry field) is declared once, in
mailbox/projection.py, the package that knows every table; this module knows none of them.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from casefiles.verify import Findings, Problem


class _NotRecorded:
    """The value of a column that the record does not hold (entries written before 0009)."""

    def __repr__(self) -> str:
        return "NOT_RECORDED"


NOT_RECORDED: Any = _NotRecorded()
NOT_COVERED = "not covered (written before 0009; `portal journal complete` records it)"


@dataclass(frozen=True)
class Key:
    """A column of the row's identity: a changed key shows as a row missing and one too many."""

    source: str
    compare: str = "uuid"


@dataclass(frozen=True)
class Covered:
    """A column derived from the record. `compare` says how values are compared: text, uuid,
    time, date, int, bool, enum, json, or digest (the row holds the text, the record its
    SHA-256)."""

    source: str
    compare: str = "text"


@dataclass(frozen=True)
class Outside:
    """A column outside the record, with the reason why no court relies on it."""

    reason: str


Column = Key | Covered | Outside


@dataclass(frozen=True)
class Table:
    """A table's columns, each declared; `scope` ties a row to its record (case file or chain)."""

    columns: Mapping[str, Column]
    scope: str | None = None

    @functools.cached_property
    def key(self) -> tuple[str, ...]:
        return tuple(name for name, c in self.columns.items() if isinstance(c, Key))

    @functools.cached_property
    def covered(self) -> tuple[str, ...]:
        return tuple(name for name, c in self.columns.items() if isinstance(c, Covered))


def outside(reason: str, *names: str) -> dict[str, Column]:
    """Columns that share one reason for being outside the record."""
    return dict.fromkeys(names, Outside(reason))


@dataclass
class Derived:
    """A column's value as the record says it, and the entry that says so."""

    value: Any
    entry: str


RowKey = tuple[str, ...]


@dataclass
class Expected:
    """The rows a record says exist, table by table, by key (the key's values as text)."""

    tables: dict[str, dict[RowKey, dict[str, Derived]]] = field(default_factory=dict)

    def put(self, table: str, key: RowKey, entry: str, values: Mapping[str, Any]) -> None:
        """The row `key` exists with these values (a row the entry creates or changes)."""
        row = self.tables.setdefault(table, {}).setdefault(key, {})
        row.update({name: Derived(value, entry) for name, value in values.items()})

    def change(self, table: str, key: RowKey, entry: str, values: Mapping[str, Any]) -> None:
        """A later entry changes a row an earlier one created (none: nothing to change)."""
        if key in self.tables.get(table, {}):
            self.put(table, key, entry, values)

    def complete(self, table: str, key: RowKey, entry: str, values: Mapping[str, Any]) -> None:
        """A `record.completed` entry: values the record lacked, never a value it held."""
        row = self.tables.get(table, {}).get(key)
        for name, value in values.items():
            if row is not None and name in row and row[name].value is NOT_RECORDED:
                row[name] = Derived(value, entry)

    def missing(self) -> Iterable[tuple[str, RowKey, str]]:
        """(table, key, column) of every value the record does not hold."""
        for table, rows in self.tables.items():
            for key, row in rows.items():
                for name, derived in row.items():
                    if derived.value is NOT_RECORDED:
                        yield table, key, name


def normal(kind: str, value: Any, *, from_row: bool) -> Any:
    """A value in the form both sides are compared in."""
    if value is None or value is NOT_RECORDED:
        return value
    if kind == "digest" and from_row:
        return hashlib.sha256(str(value).encode()).hexdigest()
    if kind == "uuid":
        return str(value).lower()
    if kind == "time":
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
        return moment.astimezone(dt.UTC)
    if kind == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    if kind == "enum":
        return value.value if isinstance(value, enum.Enum) else str(value)
    return value


def as_record(kind: str, value: Any) -> Any:
    """A row's value as a record holds it (JSON), for `record.completed` entries."""
    value = normal(kind, value, from_row=True)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _shown(value: Any) -> str:
    text = "nothing" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


RowLookup = Callable[[str, RowKey], Mapping[str, Any] | None]


@dataclass
class Comparison:
    """Compares the rows of one record (a case file, a consent chain) with what it says."""

    tables: Mapping[str, Table]
    lookup: RowLookup  # a row by key wherever it is (for rows moved out of this record)
    record: str  # "journal" or "consent chain", for the messages
    problems: list[Problem] = field(default_factory=list)
    uncovered: list[Problem] = field(default_factory=list)

    def findings(self) -> Findings:
        return self.problems, self.uncovered

    def table(
        self, name: str, expected: Expected, actual: Mapping[RowKey, Mapping[str, Any]]
    ) -> None:
        """Compare the table's rows of this record with the rows the record says exist."""
        spec = self.tables[name]
        wanted = expected.tables.get(name, {})
        for key in wanted.keys() & actual.keys():
            self._row(name, spec, key, wanted[key], actual[key])
        missing = [k for k in wanted if k not in actual]
        extra = [k for k in actual if k not in wanted]
        for key in list(extra):
            partner = _one_key_apart(spec.key, key, missing)
            if partner is not None:
                column = spec.key[_differing(key, partner)[0]]
                self._problem(
                    name,
                    key,
                    column,
                    f"not recorded; the {self.record} records "
                    f"{_row_name(partner)} instead (a changed key)",
                )
                missing.remove(partner)
                extra.remove(key)
        for key in missing:
            self._missing(name, spec, key, wanted[key])
        for key in extra:
            self._problem(
                name,
                key,
                spec.scope or spec.key[0],
                f"this row is not recorded in the {self.record}",
            )

    def _row(
        self,
        name: str,
        spec: Table,
        key: RowKey,
        wanted: Mapping[str, Derived],
        row: Mapping[str, Any],
    ) -> None:
        for column, derived in wanted.items():
            declared = spec.columns[column]
            assert not isinstance(declared, Outside), (name, column)
            if derived.value is NOT_RECORDED:
                self.uncovered.append(_problem(name, key, column, NOT_COVERED))
                continue
            ours = normal(declared.compare, row[column], from_row=True)
            theirs = normal(declared.compare, derived.value, from_row=False)
            if ours != theirs:
                self._problem(
                    name,
                    key,
                    column,
                    f"the row has {_shown(ours)}, the "
                    f"{self.record} {_shown(theirs)} ({derived.entry})",
                )

    def _missing(self, name: str, spec: Table, key: RowKey, wanted: Mapping[str, Derived]) -> None:
        row = self.lookup(name, key)
        if row is None:
            column = "/".join(spec.key)
            self._problem(
                name,
                key,
                column,
                f"no such row; the {self.record} records it (deleted, or its key changed)",
            )
            return
        before = len(self.problems)
        self._row(name, spec, key, wanted, row)
        if len(self.problems) == before:  # moved without a column the record names
            self._problem(
                name, key, spec.scope or spec.key[0], f"the row is not in this {self.record}'s rows"
            )

    def _problem(self, table: str, key: RowKey, column: str, message: str) -> None:
        self.problems.append(_problem(table, key, column, message))


def _problem(table: str, key: RowKey, column: str, message: str) -> Problem:
    row = _row_name(key)
    return Problem(f"{table} {row} {column}", message, table, row, column)


def _row_name(key: RowKey) -> str:
    return "/".join(key)


def _differing(a: RowKey, b: RowKey) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def _one_key_apart(names: tuple[str, ...], key: RowKey, candidates: list[RowKey]) -> RowKey | None:
    """The candidate whose key differs from `key` in exactly one column, if any."""
    for candidate in candidates:
        if len(_differing(key, candidate)) == 1:
            return candidate
    return None
