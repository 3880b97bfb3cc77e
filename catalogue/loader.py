"""Service declarations from YAML files: parsed with lines, checked against the JSON Schema,
checked across the fields, steps and files, and built into `catalogue.model.Service`.

Every problem is a `DeclarationError` naming the file, the line and the field. A file with any
problem is left out (and logged by the registry); the others load. Loading never raises for a
bad declaration: `load_directory` returns the services and the errors.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import jsonschema

from catalogue import checks, yamlsource
from catalogue.build import build_service
from catalogue.model import Service
from catalogue.yamlsource import Path, dotted
from signing.canonical import canonical_json

log = logging.getLogger(__name__)

SCHEMA_FILE = FsPath(__file__).parent / "schema" / "service.schema.json"
SHIPPED_DIR = FsPath(__file__).parent / "services"
_TEXT_KEYS = {"de", "fr", "it", "en"}
MAX_FILE_BYTES = 1024 * 1024  # the largest real declaration is a few kB


@dataclass(frozen=True)
class DeclarationError:
    """One problem of one declaration file: where it is and what is wrong, in English."""

    file: str
    line: int | None
    field: str  # dotted path such as `form[1].label.fr`; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Parsed:
    """A file that passed the schema: its id, its value and the lines of its values."""

    file: str
    document: yamlsource.Document

    @property
    def value(self) -> dict[str, Any]:
        value: dict[str, Any] = self.document.value
        return value

    def error(self, path: Path, message: str) -> DeclarationError:
        return DeclarationError(self.file, self.document.line_of(path), dotted(path), message)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def digest_of(declaration: Any) -> str:
    """SHA-256 (hex) of the declaration's canonical JSON, as case files record it."""
    return hashlib.sha256(canonical_json(declaration)).hexdigest()


def parse_file(
    path: FsPath, name: str | None = None
) -> tuple[Parsed | None, list[DeclarationError]]:
    """Read one file and check it against the schema (nothing across files yet)."""
    name = name or str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None, [DeclarationError(name, None, "", "is larger than 1 MB")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [DeclarationError(name, None, "", f"cannot be read: {error}")]
    try:
        document = yamlsource.parse(text)
    except yamlsource.YamlError as error:
        return None, [DeclarationError(name, error.line, dotted(error.path), error.message)]
    parsed = Parsed(name, document)
    errors = [
        parsed.error(path, message)
        for schema_error in _validator().iter_errors(document.value)
        for path, message in _explain(schema_error)
    ]
    if errors:
        return None, sorted(errors, key=lambda e: (e.line or 0, e.field))
    expected = path.stem
    if parsed.value["id"] != expected:
        return None, [
            parsed.error(
                ("id",),
                f"id '{parsed.value['id']}' differs from the file "
                f"name; call the file {parsed.value['id']}.yaml",
            )
        ]
    return parsed, []


def load_files(paths: Iterable[FsPath]) -> tuple[dict[str, Service], list[DeclarationError]]:
    """Load the given files as one catalogue: each one checked alone, then across files."""
    errors: list[DeclarationError] = []
    parsed: dict[str, Parsed] = {}
    for path in sorted(paths):
        one, problems = parse_file(path)
        errors.extend(problems)
        if one is None:
            continue
        if one.value["id"] in parsed:
            errors.append(one.error(("id",), f"id '{one.value['id']}' is declared twice"))
            continue
        parsed[one.value["id"]] = one
    refused: set[str] = set()
    for service_id, one in parsed.items():
        problems = checks.check_one(one)
        if problems:
            errors.extend(problems)
            refused.add(service_id)
    # Across files: a refused service refuses those that name it as a follow-up, and so on.
    while True:
        ok = {sid: one for sid, one in parsed.items() if sid not in refused}
        problems_by_id = checks.check_across(ok, known=set(parsed))
        if not problems_by_id:
            break
        for sid, problems in problems_by_id.items():
            errors.extend(problems)
            refused.add(sid)
    services = {
        sid: build_service(one.value, digest_of(one.value))
        for sid, one in parsed.items()
        if sid not in refused
    }
    errors.sort(key=lambda e: (e.file, e.line or 0, e.field))
    return services, errors


def load_directory(directory: FsPath) -> tuple[dict[str, Service], list[DeclarationError]]:
    """Every `*.yaml` file of a directory (not its subdirectories) as one catalogue."""
    if not directory.is_dir():
        return {}, [DeclarationError(str(directory), None, "", "is not a directory")]
    services, errors = load_files(directory.glob("*.yaml"))
    # A file named .yml would be skipped without a word; say so instead.
    stray = [
        DeclarationError(str(path), None, "", "is not read: declarations end in .yaml")
        for path in sorted(directory.glob("*.yml"))
    ]
    return services, stray + errors


def _explain(error: jsonschema.ValidationError) -> list[tuple[Path, str]]:
    """The schema's verdict as (path, message) a person can act on."""
    path: Path = tuple(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        return [((*path, key), f"unknown field '{key}'") for key in instance if key not in known]
    if error.validator == "required":
        missing = _quoted(error.message)
        if set(error.schema.get("properties", {})) == _TEXT_KEYS:
            return [(path, f"missing translation '{missing}'")]
        return [(path, f"missing '{missing}'")]
    if error.validator == "not" and isinstance(error.validator_value, dict):
        forbidden = error.validator_value.get("required", [])
        if forbidden:
            return [(path, "must not have " + ", ".join(f"'{k}'" for k in forbidden) + " here")]
    if error.validator == "oneOf" and all(set(s) == {"required"} for s in error.validator_value):
        names = [name for s in error.validator_value for name in s["required"]]
        return [(path, "give exactly one of " + ", ".join(f"'{n}'" for n in names))]
    if error.validator == "pattern":
        return [(path, f"{instance!r} does not match the pattern {error.validator_value}")]
    if error.validator in ("minLength",) and instance == "":
        return [(path, "must not be empty")]
    return [(path, error.message)]


def _quoted(message: str) -> str:
    # jsonschema writes "'name' is a required property"; the name is a Python repr.
    head = message.split(" is a required property", 1)[0]
    try:
        return str(ast.literal_eval(head))
    except (ValueError, SyntaxError):
        return head
