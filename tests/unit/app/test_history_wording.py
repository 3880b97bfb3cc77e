"""Every journal action the code writes has words in the dossier's history (app/presenters.py
WORDING): residents read their case file's history, and a bare `step.claimed` says nothing.

The actions are found in the source, not listed by hand: every call that ends in
casefiles.journal's `record` (or `sealed_entry`) is followed back through the functions that
pass an action on (catalogue.steps' `journal` and `finish`, say) to the string literals and
constants given to them; `(action, payload)` tuples are read as entries too (casefiles'
`case_opened`, mailbox's bulk journal). An action built in a way this reader cannot follow must
be named in DYNAMIC with the values it can take, so a new kind of entry can never slip by.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.presenters import WORDING, describe
from casefiles.models import JournalEntry
from catalogue import registry
from mailbox.models import DeliveryStatus

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("app", "catalogue", "casefiles", "mailbox", "directory", "storage", "signing")
ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")
# Journals of their own that the dossier never shows (a party's consent chain).
NOT_CASE_JOURNALS = {"consent.given", "consent.revoked"}
# Actions made from a value this reader cannot follow: (module, prefix) -> what they can be.
DYNAMIC: dict[tuple[str, str], set[str]] = {
    ("mailbox/operations.py", "delivery."): {f"delivery.{s.value}" for s in DeliveryStatus},
    # new_journal seals (action, payload) tuples: they are read where they are built.
    ("casefiles/journal.py", ""): set(),
}


@dataclass(frozen=True)
class Sink:
    """Argument `index` (or keyword `name`) of function `function` becomes an action, after
    `prefix`."""

    index: int | None
    name: str
    prefix: str


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or "__pycache__" in path.parts:
                continue
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in (*function.args.posonlyargs, *function.args.args)]


def _argument(call: ast.Call, sink: Sink) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == sink.name:
            return keyword.value
    if sink.index is not None and sink.index < len(call.args):
        argument = call.args[sink.index]
        if any(isinstance(a, ast.Starred) for a in call.args[: sink.index + 1]):
            return None  # `*entry(...)`: the tuple is read where it is built
        return argument
    return None


def journal_actions() -> tuple[set[str], list[str]]:
    """The actions the code journals, and the places it builds one this reader cannot follow
    (each as 'module:line prefix')."""
    modules = list(_modules())
    constants: dict[str, set[str]] = {}
    for _, tree in modules:
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants.setdefault(target.id, set()).add(node.value.value)

    actions: set[str] = set()
    unresolved: dict[str, str] = {}  # place -> prefix
    sinks: dict[str, set[Sink]] = {
        "record": {Sink(3, "action", "")},
        "sealed_entry": {Sink(5, "action", "")},
    }
    changed = True
    while changed:
        changed = False
        for module, tree in modules:
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                params = _params(function)
                keyword_only = [a.arg for a in function.args.kwonlyargs]
                for call in ast.walk(function):
                    if not isinstance(call, ast.Call) or _callee(call) not in sinks:
                        continue
                    for sink in sinks[_callee(call) or ""]:
                        value = _argument(call, sink)
                        if value is None:
                            continue
                        new = _follow(value, sink.prefix, params, keyword_only, constants)
                        kind, found = new
                        if kind == "actions":
                            actions |= found  # type: ignore[operator]
                        elif kind == "param":
                            index, name, prefix = found  # type: ignore[misc]
                            added = Sink(index, name, prefix)
                            if added not in sinks.setdefault(function.name, set()):
                                sinks[function.name].add(added)
                                changed = True
                        else:
                            unresolved[f"{module}:{call.lineno}"] = found  # type: ignore[assignment]
    for _, tree in modules:  # (action, payload) tuples: entries built before recording
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Tuple)
                and len(node.elts) == 2
                and isinstance(node.elts[0], ast.Constant)
                and isinstance(node.elts[0].value, str)
                and ACTION.match(node.elts[0].value)
                and isinstance(node.elts[1], ast.Dict)
            ):
                actions.add(node.elts[0].value)
    places = [f"{place} {prefix}" for place, prefix in sorted(unresolved.items())]
    return actions, places


def _follow(
    value: ast.expr,
    prefix: str,
    params: list[str],
    keyword_only: list[str],
    constants: dict[str, set[str]],
) -> tuple[str, Any]:
    """What an action argument is: literal actions, a parameter of the enclosing function (to
    follow to its callers), or something unknown (its constant prefix)."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return "actions", {prefix + value.value}
    if isinstance(value, ast.Name):
        if value.id in params:
            return "param", (params.index(value.id), value.id, prefix)
        if value.id in keyword_only:
            return "param", (None, value.id, prefix)
        if value.id in constants:
            return "actions", {prefix + c for c in constants[value.id]}
        return "unknown", prefix
    if isinstance(value, ast.JoinedStr):
        parts = value.values
        head = ""
        if parts and isinstance(parts[0], ast.Constant):
            head = str(parts[0].value)
            parts = parts[1:]
        if (
            len(parts) == 1
            and isinstance(parts[0], ast.FormattedValue)
            and isinstance(parts[0].value, ast.Name)
        ):
            return _follow(parts[0].value, prefix + head, params, keyword_only, constants)
        return "unknown", prefix + head
    return "unknown", prefix


@pytest.fixture(scope="module")
def found() -> tuple[set[str], list[str]]:
    return journal_actions()


def test_the_reader_finds_the_actions_of_every_kind(found):
    """A guard for the reader itself: it sees literals, constants, parameters passed on and
    entry tuples; if one of these stops working, the test below would pass on nothing."""
    actions, _ = found
    assert {
        "case.opened",  # a tuple built by casefiles.operations.case_opened
        "case.ordered",  # a constant (catalogue.ordering.ORDERED)
        "receipt.issued",  # a literal given to record()
        "step.claimed",  # a literal passed through catalogue.steps.journal
        "step.done",  # ... and through catalogue.steps.finish
        "step.information_requested",  # from another module (catalogue.information)
        "fee.paid",
    } <= actions


def test_every_action_built_dynamically_is_known(found):
    _, places = found
    unknown = []
    for place in places:
        where, _, prefix = place.partition(" ")
        if (where.rsplit(":", 1)[0], prefix) not in DYNAMIC:
            unknown.append(place)
    assert not unknown, (
        "journal actions built from values this test cannot follow; name them in DYNAMIC "
        f"with the values they can take: {unknown}"
    )


def test_every_journalled_action_has_words_in_the_history(found):
    actions, _ = found
    for values in DYNAMIC.values():
        actions = actions | values
    missing = sorted(actions - NOT_CASE_JOURNALS - set(WORDING))
    assert not missing, f"journal actions without words in app/presenters.py WORDING: {missing}"


def _entry(action: str, payload: dict[str, Any]) -> JournalEntry:
    return JournalEntry(action=action, payload=payload)


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_every_line_reads_as_words_not_as_an_action(app, found, lang):
    actions, _ = found
    payload = {
        "title": "Wohnsitzbestätigung",
        "step": {"step": "decide", "status": "claimed"},
        "authority": {"id": "x", "name": "Dienststelle Steuern"},
        "fee": {"amount": "30.00"},
        "deadline": "2026-12-21",
        "reference": "D-2026-000001",
        "service": "ratenzahlung-steuern",
    }
    service = registry.default().get("fristerstreckung-steuererklaerung")
    with app.test_request_context(f"/?lang={lang}"):
        for action in sorted(set(WORDING) | (actions - NOT_CASE_JOURNALS)):
            line = describe(_entry(action, payload), service)
            assert line and line != action and action not in line, (action, line)
        claimed = describe(_entry("step.claimed", payload), service)
        assert service is not None
        assert service.step("decide").title.get(lang) in claimed  # the step's declared title
        unknown = describe(_entry("step.someday", payload), service)
        assert "step.someday" not in unknown  # a newer action still reads as words
