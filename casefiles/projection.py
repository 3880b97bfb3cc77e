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
import uuid
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

    @functools.cached_property
    def kinds(self) -> dict[str, str]:
        """How each column of the record (key or covered) is compared."""
        return {n: c.compare for n, c in self.columns.items() if not isinstance(c, Outside)}

    @functools.cached_property
    def plain(self) -> frozenset[str]:
        """The columns of the record whose values are equal when they are equal as they come
        (all but digests: a row holding the digest itself is not the text it digests)."""
        return frozenset(n for n, kind in self.kinds.items() if kind != "digest")


def outside(reason: str, *names: str) -> dict[str, Column]:
    """Columns that share one reason for being outside the record."""
    return dict.fromkeys(names, Outside(reason))


RowKey = tuple[str, ...]


@dataclass
class Expected:
    """The rows a record says exist, table by table, by key (the key's values as text): their
    values, and for each value the entry that says so (`source`)."""

    tables: dict[str, dict[RowKey, dict[str, Any]]] = field(default_factory=dict)
    # Kept apart from the values, as plain dicts of text: an object per value was a good part
    # of what deriving the rows of thousands of case files cost (issue #8).
    sources: dict[tuple[str, RowKey], dict[str, str]] = field(default_factory=dict)

    def put(self, table: str, key: RowKey, entry: str, values: Mapping[str, Any]) -> None:
        """The row `key` exists with these values (a row the entry creates or changes)."""
        rows = self.tables.setdefault(table, {})
        row = rows.get(key)
        if row is None:
            rows[key] = dict(values)
            self.sources[table, key] = dict.fromkeys(values, entry)
        else:
            row.update(values)
            self.sources[table, key].update(dict.fromkeys(values, entry))

    def change(self, table: str, key: RowKey, entry: str, values: Mapping[str, Any]) -> None:
        """A later entry changes a row an earlier one created (none: nothing to change)."""
        if key in self.tables.get(table, {}):
            self.put(table, key, entry, values)

    def complete(self, table: str, key: RowKey, entry: str, values: Mapping[str, Any]) -> None:
        """A `record.completed` entry: values the record lacked, never a value it held."""
        row = self.tables.get(table, {}).get(key)
        if row is None:
            return
        for name, value in values.items():
            if name in row and row[name] is NOT_RECORDED:
                row[name] = value
                self.sources[table, key][name] = entry

    def source(self, table: str, key: RowKey, column: str) -> str:
        """The entry that says what the column of the row is."""
        return self.sources[table, key][column]

    def missing(self) -> Iterable[tuple[str, RowKey, str]]:
        """(table, key, column) of every value the record does not hold."""
        for table, rows in self.tables.items():
            for key, row in rows.items():
                for name, value in row.items():
                    if value is NOT_RECORDED:
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


def _same(kind: str, actual: Any, value: Any) -> bool:
    """A quick test, true only where `normal` makes the row's value and the record's equal;
    else they are normalised and compared (most values are equal as they come, or a UUID and
    its text, or a time and its ISO text)."""
    if kind == "digest":
        return False
    if actual == value:
        return True
    if kind == "uuid":
        return isinstance(actual, uuid.UUID) and str(actual) == value
    if kind == "time" and isinstance(value, str) and isinstance(actual, dt.datetime):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        # Aware times are equal when they name the same instant, as `normal` compares them.
        return moment.tzinfo is not None and actual.tzinfo is not None and moment == actual
    return False


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
        if wanted.keys() == actual.keys():  # as nearly always: no row missing, none extra
            for key, values in wanted.items():
                self._row(name, spec, key, values, actual[key], expected)
            return
        for key in wanted.keys() & actual.keys():
            self._row(name, spec, key, wanted[key], actual[key], expected)
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
            self._missing(name, spec, key, wanted[key], expected)
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
        wanted: Mapping[str, Any],
        row: Mapping[str, Any],
        expected: Expected,
    ) -> None:
        kinds, plain = spec.kinds, spec.plain
        for column, value in wanted.items():
            actual = row[column]
            if column in plain and actual == value:  # most values: nothing to normalise
                continue
            kind = kinds.get(column)
            assert kind is not None, (name, column)  # never derived: a column outside
            if value is NOT_RECORDED:
                self.uncovered.append(_problem(name, key, column, NOT_COVERED))
                continue
            if _same(kind, actual, value):
                continue
            ours = normal(kind, actual, from_row=True)
            theirs = normal(kind, value, from_row=False)
            if ours != theirs:
                self._problem(
                    name,
                    key,
                    column,
                    f"the row has {_shown(ours)}, the "
                    f"{self.record} {_shown(theirs)} ({expected.source(name, key, column)})",
                )

    def _missing(
        self, name: str, spec: Table, key: RowKey, wanted: Mapping[str, Any], expected: Expected
    ) -> None:
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
        self._row(name, spec, key, wanted, row, expected)
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
