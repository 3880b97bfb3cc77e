"""What `portal verify` prints for each case file and consent chain, and its exit code.

Three states: ok; FAILED (something differs from the record: exit 1); NOT COVERED (values of
rows the record does not hold, written before migration 0009: exit 3 unless something failed,
until `portal journal complete` records them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import click

from casefiles.verify import CaseReport, Problem
from mailbox.verification import ChainReport

EXIT_NOT_COVERED = 3


@dataclass
class Tally:
    checked: int = 0
    failed: int = 0
    not_covered: int = 0

    def summary(self, what: str) -> str:
        return (
            f"{self.checked} {what} checked, {self.failed} failed, {self.not_covered} not covered"
        )


def _status(ok: bool, uncovered: list[Problem]) -> str:
    if not ok:
        return "FAILED"
    return "NOT COVERED" if uncovered else "ok"


def _count(tally: Tally, ok: bool, uncovered: list[Problem]) -> None:
    tally.checked += 1
    tally.failed += not ok
    tally.not_covered += ok and bool(uncovered)


def echo_case(tally: Tally, report: CaseReport) -> None:
    """One case file's line, its problems and the values not covered."""
    _count(tally, report.ok, report.uncovered)
    click.echo(
        f"{report.reference} {report.case_id}: {_status(report.ok, report.uncovered)} "
        f"({report.entries} journal entries, {report.documents} documents)"
    )
    _echo_problems(report.problems, report.uncovered)


def echo_chains(reports: Iterable[ChainReport]) -> Tally:
    """Each party's consent chain: a line each, with its problems."""
    tally = Tally()
    for report in reports:
        _count(tally, report.ok, report.uncovered)
        click.echo(
            f"consent chain of party {report.party_id}: "
            f"{_status(report.ok, report.uncovered)} ({report.entries} entries)"
        )
        _echo_problems(report.problems, report.uncovered)
    return tally


def _echo_problems(problems: list[Problem], uncovered: list[Problem]) -> None:
    for problem in problems:
        click.echo(f"  - {problem.item}: {problem.message}")
    # One line per row for values not covered: old data has many, all for the same reason.
    by_row: dict[tuple[str | None, str | None, str], list[str]] = {}
    for problem in uncovered:
        by_row.setdefault((problem.table, problem.row, problem.message), []).append(
            problem.column or ""
        )
    for (table, row, message), columns in by_row.items():
        click.echo(f"  - {table} {row} {', '.join(columns)}: {message}")


def exit_code(*tallies: Tally, failed: bool = False) -> int:
    """1 when anything failed, 3 when values are not covered, else 0."""
    if failed or any(t.failed for t in tallies):
        return 1
    return EXIT_NOT_COVERED if any(t.not_covered for t in tallies) else 0
