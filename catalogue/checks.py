"""What the JSON Schema cannot say: names that must exist, be unique or fit together, within a
declaration (`check_one`) and across the files of a catalogue (`check_across`)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from catalogue.yamlsource import Path

if TYPE_CHECKING:
    from catalogue.loader import DeclarationError, Parsed

# What a generated document's body may name (the schema's description of `document.body`).
_PLACEHOLDERS = {
    "party.display_name",
    "party.address",
    "party.commune",
    "party.date_of_birth",
    "case.reference",
    "today",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Options that only mean something for some field types.
_ONLY_FOR = {
    "max_length": {"text", "textarea", "email"},
    "pattern": {"text", "textarea"},
    "min": {"number", "date"},
    "max": {"number", "date"},
    "decimals": {"number"},
    "choices": {"choice"},
    "accept": {"file"},
    "max_bytes": {"file"},
}


def check_one(parsed: Parsed) -> list[DeclarationError]:
    """Problems inside one declaration that passed the schema."""
    value = parsed.value
    problems: list[tuple[Path, str]] = []
    fields: dict[str, Mapping[str, Any]] = {}
    for section in ("form", "attachments"):
        for index, field in enumerate(value.get(section, ())):
            at: Path = (section, index)
            if field["name"] in fields:
                problems.append(((*at, "name"), f"field '{field['name']}' is declared twice"))
                continue
            problems += _check_field(field, at, section)
            when = field.get("when")
            if when is not None:
                # A condition names a form field declared above it: a form reads top to bottom.
                problems += _check_condition(when, (*at, "when"), fields, field["name"])
            fields[field["name"]] = field
    source = value.get("source")
    if source is not None and not source.startswith(("https://", "http://")):
        problems.append((("source",), "the source must be an https:// address"))
    problems += _check_rule(value["responsible"], ("responsible",), fields)
    problems += _check_steps(value, fields)
    problems += _check_documents(value, fields)
    return [parsed.error(path, message) for path, message in problems]


def check_across(ok: Mapping[str, Parsed], known: set[str]) -> dict[str, list[DeclarationError]]:
    """Problems between files: follow-ups that must exist, prefills from the case file's answers."""
    problems: dict[str, list[DeclarationError]] = {}
    offered_by: dict[str, list[str]] = {}
    for service_id, parsed in ok.items():
        for index, follow_up in enumerate(parsed.value.get("follow_ups", ())):
            offered_by.setdefault(follow_up, []).append(service_id)
            if follow_up in ok:
                continue
            message = (
                f"follow-up '{follow_up}' was refused (see its errors)"
                if follow_up in known
                else f"follow-up '{follow_up}' is not a service of the catalogue"
            )
            problems.setdefault(service_id, []).append(parsed.error(("follow_ups", index), message))
    for service_id, parsed in ok.items():
        offering = [ok[sid] for sid in offered_by.get(service_id, ()) if sid in ok]
        names = {f["name"] for p in offering for f in _all_fields(p.value)}
        for section in ("form", "attachments"):
            for index, field in enumerate(parsed.value.get(section, ())):
                prefill = field.get("prefill", "")
                if not prefill.startswith("answer."):
                    continue
                name = prefill.removeprefix("answer.")
                if not offering:
                    message = (
                        f"prefill '{prefill}' needs a service that offers this one as a follow-up"
                    )
                elif name not in names:
                    message = (
                        f"prefill '{prefill}': no service offering this one has a field '{name}'"
                    )
                else:
                    continue
                problems.setdefault(service_id, []).append(
                    parsed.error((section, index, "prefill"), message)
                )
    return problems


def _all_fields(value: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*value.get("form", ()), *value.get("attachments", ())]


def _check_field(field: Mapping[str, Any], at: Path, section: str) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    kind = "file" if section == "attachments" else field["type"]
    for option, kinds in _ONLY_FOR.items():
        if option in field and kind not in kinds:
            problems.append(((*at, option), f"'{option}' does not apply to a {kind} field"))
    if "pattern" in field:
        try:
            re.compile(field["pattern"])
        except re.error as error:
            problems.append(((*at, "pattern"), f"not a regular expression: {error}"))
    values = [choice["value"] for choice in field.get("choices", ())]
    for index, choice_value in enumerate(values):
        if choice_value in values[:index]:
            problems.append(((*at, "choices", index, "value"), f"choice '{choice_value}' twice"))
    bounds = {}
    for bound in ("min", "max"):
        if bound not in field or kind not in ("number", "date"):
            continue
        parsed = _bound(kind, field[bound])
        if parsed is None:
            expected = "a number" if kind == "number" else "a date YYYY-MM-DD or 'today'"
            problems.append(((*at, bound), f"{field[bound]!r} is not {expected}"))
        else:
            bounds[bound] = parsed
    low, high = bounds.get("min"), bounds.get("max")
    if low is not None and high is not None and type(low) is type(high) and low > high:
        problems.append(((*at, "min"), "min is above max"))
    return problems


def _bound(kind: str, value: Any) -> Any:
    """A field's min/max as a comparable value, or None when it is not of the field's kind."""
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if value == "today":
        return "today"
    try:
        return datetime.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_condition(
    when: Mapping[str, Any], at: Path, fields: Mapping[str, Mapping[str, Any]], own: str | None
) -> list[tuple[Path, str]]:
    name = when["field"]
    if name == own:
        return [((*at, "field"), "a field cannot depend on itself")]
    field = fields.get(name)
    if field is None:
        where = "above this one" if own is not None else "in the form"
        return [((*at, "field"), f"no field '{name}' {where}")]
    values = [when["equals"]] if "equals" in when else list(when["in"])
    kind = field.get("type", "file")
    problems: list[tuple[Path, str]] = []
    for value in values:
        if kind == "choice" and value not in [c["value"] for c in field["choices"]]:
            problems.append((at, f"{value!r} is not a choice of '{name}'"))
        elif kind == "yesno" and not isinstance(value, bool):
            problems.append((at, f"'{name}' is yes/no: compare it with true or false"))
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append((at, f"'{name}' is a number: compare it with a number"))
    return problems


def _check_rule(
    rule: Mapping[str, Any], at: Path, fields: Mapping[str, Mapping[str, Any]]
) -> list[tuple[Path, str]]:
    name = rule.get("commune_field")
    if name is None:
        return []
    if rule["rule"] == "office":
        return [((*at, "commune_field"), "a fixed office needs no commune_field")]
    field = fields.get(name)
    if field is None:
        return [((*at, "commune_field"), f"no field '{name}' in the form")]
    if field.get("type") != "commune":
        return [((*at, "commune_field"), f"field '{name}' is not of type commune")]
    return []


def _check_steps(
    value: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]]
) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    steps = value["steps"]
    documents = {d["id"] for d in value.get("documents", ())}
    ids: list[str] = []
    for index, step in enumerate(steps):
        at: Path = ("steps", index)
        if step["id"] in ids:
            problems.append(((*at, "id"), f"step '{step['id']}' is declared twice"))
        ids.append(step["id"])
        if "responsible" in step:
            problems += _check_rule(step["responsible"], (*at, "responsible"), fields)
        if "when" in step:
            problems += _check_condition(step["when"], (*at, "when"), fields, None)
        automatic = step.get("automatic")
        if automatic is not None and automatic["document"] not in documents:
            problems.append(
                ((*at, "automatic", "document"), f"no document '{automatic['document']}'")
            )
    known = set(ids)
    for index, step in enumerate(steps):
        for position, name in enumerate(step.get("after") or ()):
            if name == step["id"]:
                problems.append(
                    (("steps", index, "after", position), "a step cannot wait for itself")
                )
            elif name not in known:
                problems.append((("steps", index, "after", position), f"no step '{name}'"))
    if not problems:
        cycle = _cycle(steps)
        if cycle is not None:
            problems.append(
                (("steps", cycle, "after"), "the steps wait for each other in a circle")
            )
    return problems


def _cycle(steps: list[Mapping[str, Any]]) -> int | None:
    """The index of a step on a circle of `after`s, or None (default `after`: the step before)."""
    waits = {
        step["id"]: list(step["after"]) if "after" in step else ([steps[i - 1]["id"]] if i else [])
        for i, step in enumerate(steps)
    }
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str) -> bool:
        if state.get(name) == 1:
            return True
        if state.get(name) == 2:
            return False
        state[name] = 1
        if any(visit(before) for before in waits[name]):
            return True
        state[name] = 2
        return False

    for index, step in enumerate(steps):
        if visit(step["id"]):
            return index
    return None


def _check_documents(
    value: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]]
) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for index, document in enumerate(value.get("documents", ())):
        if document["id"] in seen:
            problems.append((("documents", index, "id"), f"document '{document['id']}' twice"))
        seen.add(document["id"])
        for lang, body in document["body"].items():
            for name in _PLACEHOLDER.findall(body):
                answer = name.removeprefix("answer.")
                if name in _PLACEHOLDERS or (name.startswith("answer.") and answer in fields):
                    continue
                problems.append(
                    (("documents", index, "body", lang), f"unknown placeholder '{{{name}}}'")
                )
    return problems
