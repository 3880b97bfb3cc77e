"""The loader: good declarations become Services, broken files are refused with file, line and
field, and a broken file never keeps the others from loading."""

# The tables of YAML edits below read best one edit per line, however long.
# ruff: noqa: E501

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from catalogue import loader, registry

# Indented as a whole (valid YAML), so that the tests can replace lines as they read here.
GOOD = """\
    id: {id}
    version: 1
    topic: wohnen
    level: commune
    title: {{de: Titel, fr: Titre, it: Titolo, en: Title}}
    summary: {{de: Kurz, fr: Court, it: Breve, en: Short}}
    help: {{de: Hilfe, fr: Aide, it: Aiuto, en: Help}}
    who: [person]
    responsible:
      rule: commune
      task: einwohnerdienste
    form:
      - name: kind
        type: choice
        label: {{de: Art, fr: Genre, it: Tipo, en: Kind}}
        choices:
          - {{value: a, label: {{de: A, fr: A, it: A, en: A}}}}
          - {{value: b, label: {{de: B, fr: B, it: B, en: B}}}}
      - name: detail
        type: text
        when: {{field: kind, equals: b}}
        label: {{de: Detail, fr: Détail, it: Dettaglio, en: Detail}}
    steps:
      - id: check
        title: {{de: Prüfen, fr: Vérifier, it: Verificare, en: Check}}
        status: {{de: In Prüfung, fr: En examen, it: In esame, en: Being checked}}
    follow_ups: {follow_ups}
    retention: {{years: 2, disposition: destroy}}
    """


def write(folder: Path, service_id: str, text: str | None = None, follow_ups: str = "[]") -> Path:
    path = folder / f"{service_id}.yaml"
    path.write_text(text or GOOD.format(id=service_id, follow_ups=follow_ups), encoding="utf-8")
    return path


def broken(folder: Path, service_id: str, old: str, new: str) -> Path:
    text = GOOD.format(id=service_id, follow_ups="[]")
    assert old in text, old
    return write(folder, service_id, text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def only_error(folder: Path) -> loader.DeclarationError:
    services, errors = loader.load_directory(folder)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def test_the_shipped_catalogue_loads_without_errors() -> None:
    catalogue = registry.Catalogue.from_directory(loader.SHIPPED_DIR)
    assert [str(e) for e in catalogue.errors] == []
    service = catalogue.get("wohnsitzbestaetigung")
    assert service is not None
    assert service.title.get("fr") == "Attestation de domicile"
    assert service.responsible.rule == "commune"
    assert service.fee is not None and str(service.fee.amount) == "20.00"
    assert service.step("issue").automatic is not None
    assert len(service.digest) == 64


def test_a_good_file_becomes_a_service_with_digest_and_declaration(tmp_path: Path) -> None:
    write(tmp_path, "bescheinigung")
    services, errors = loader.load_directory(tmp_path)
    assert errors == []
    service = services["bescheinigung"]
    assert [f.name for f in service.form] == ["kind", "detail"]
    assert service.form[1].when is not None and service.form[1].when.equals == "b"
    assert service.declaration["id"] == "bescheinigung"
    # The digest is of the declaration, not of the file's bytes: a comment changes nothing...
    path = tmp_path / "bescheinigung.yaml"
    path.write_text("# a comment\n" + path.read_text())
    assert loader.load_directory(tmp_path)[0]["bescheinigung"].digest == service.digest
    # ...a changed text does.
    path.write_text(path.read_text().replace("Hilfe", "Mehr Hilfe"))
    assert loader.load_directory(tmp_path)[0]["bescheinigung"].digest != service.digest


def test_dates_stay_text(tmp_path: Path) -> None:
    text = GOOD.format(id="datum", follow_ups="[]").replace(
        "        type: text\n", "        type: date\n        min: 2000-01-01\n        max: today\n"
    )
    write(tmp_path, "datum", text)
    services, errors = loader.load_directory(tmp_path)
    assert errors == []
    assert services["datum"].form[1].min == "2000-01-01"


def test_a_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = broken(tmp_path, "kaputt", "    who: [person]\n", "    who: [person\n")
    write(tmp_path, "heil")
    services, errors = loader.load_directory(tmp_path)
    assert list(services) == ["heil"]  # the other file loads
    assert len(errors) == 1
    assert errors[0].file == str(path)
    assert errors[0].line is not None and errors[0].line >= line_of(path, "who: [person")
    assert "YAML syntax" in str(errors[0])
    assert str(errors[0]).startswith(f"{path}:{errors[0].line}: ")


def test_a_missing_translation_names_the_line_and_the_field(tmp_path: Path) -> None:
    path = broken(tmp_path, "ohne", "label: {de: Detail, fr: Détail, it: Dettaglio, en: Detail}",
                  "label: {de: Detail, fr: Détail, en: Detail}")  # fmt: skip
    error = only_error(tmp_path)
    assert (error.file, error.line, error.field) == (
        str(path),
        line_of(path, "Détail"),
        "form[1].label",
    )
    assert error.message == "missing translation 'it'"
    assert str(error) == f"{path}:{error.line}: form[1].label: missing translation 'it'"


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "message"),
    [
        ("    level: commune\n", "    level: town\n", "level: town", "level", "'town' is not one of"),
        ("    version: 1\n", "    version: 1\n    colour: red\n", "colour", "colour", "unknown field 'colour'"),
        ("    help: {de: Hilfe, fr: Aide, it: Aiuto, en: Help}\n", "", "", "", "missing 'help'"),
        ("      rule: commune\n", "      rule: office\n", "responsible:", "responsible", "missing 'authority'"),
        ("      rule: commune\n", "      rule: office\n", "responsible:", "responsible", "must not have 'task' here"),
        ("{field: kind, equals: b}", "{field: kind, equals: b, in: [a]}", "when:", "form[1].when", "exactly one of 'equals', 'in'"),
        ("    version: 1\n", "    version: one\n", "version", "version", "'one' is not of type 'integer'"),
    ],
)  # fmt: skip
def test_schema_errors_name_line_and_field(
    tmp_path: Path, old: str, new: str, needle: str, field: str, message: str
) -> None:
    path = broken(tmp_path, "schema", old, new)
    services, errors = loader.load_directory(tmp_path)
    assert services == {}
    line = line_of(path, needle) if needle else 1
    assert [(e.field, e.line) for e in errors if message in e.message] == [(field, line)], errors


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "message"),
    [
        ("when: {field: kind, equals: b}", "when: {field: nothing, equals: b}", "nothing",
         "form[1].when.field", "no field 'nothing' above this one"),
        ("when: {field: kind, equals: b}", "when: {field: kind, equals: c}", "equals: c",
         "form[1].when", "'c' is not a choice of 'kind'"),
        ("      - name: detail\n", "      - name: kind  # again\n", "# again", "form[1].name",
         "field 'kind' is declared twice"),
        ("      task: einwohnerdienste\n", "      task: einwohnerdienste\n      commune_field: kind\n",
         "commune_field", "responsible.commune_field", "field 'kind' is not of type commune"),
        ("        status:", "        after: [nowhere]\n        status:", "nowhere", "steps[0].after[0]",
         "no step 'nowhere'"),
        ("        status:", "        automatic: {document: paper}\n        status:", "paper",
         "steps[0].automatic.document", "no document 'paper'"),
        ("        type: text\n", "        type: text\n        pattern: '[a-'\n", "pattern", "form[1].pattern",
         "not a regular expression"),
        ("        type: text\n", "        type: text\n        max_bytes: 10\n", "max_bytes",
         "form[1].max_bytes", "'max_bytes' does not apply to a text field"),
        ("    id: rules\n", "    id: other\n", "id: other", "id", "differs from the file name"),
    ],
)  # fmt: skip
def test_checks_beyond_the_schema_name_line_and_field(
    tmp_path: Path, old: str, new: str, needle: str, field: str, message: str
) -> None:
    path = broken(tmp_path, "rules", old, new)
    error = only_error(tmp_path)
    assert (error.field, error.line) == (field, line_of(path, needle))
    assert message in error.message


def test_a_circle_of_steps_is_refused(tmp_path: Path) -> None:
    second = textwrap.indent(
        "- id: two\n  after: [three]\n  title: {de: Z, fr: D, it: D, en: T}\n"
        "  status: {de: Z, fr: D, it: D, en: T}\n"
        "- id: three\n  title: {de: D, fr: T, it: T, en: T}\n  status: {de: D, fr: T, it: T, en: T}\n",
        "      ",
    )
    path = broken(tmp_path, "kreis", "    follow_ups:", second + "    follow_ups:")
    error = only_error(tmp_path)
    assert error.message == "the steps wait for each other in a circle"
    assert error.line == line_of(path, "after: [three]")


def test_an_unknown_placeholder_in_a_document_is_refused(tmp_path: Path) -> None:
    documents = (
        "    documents:\n      - id: paper\n        title: {de: P, fr: P, it: P, en: P}\n"
        "        body: {de: '{party.display_name} {answer.detail}', fr: '{party.name}', it: P, en: P}\n"
    )
    path = broken(tmp_path, "platz", "    follow_ups:", documents + "    follow_ups:")
    error = only_error(tmp_path)
    assert (error.field, error.line) == ("documents[0].body.fr", line_of(path, "party.name"))
    assert error.message == "unknown placeholder '{party.name}'"


def test_a_bad_follow_up_refuses_its_file_and_who_names_it(tmp_path: Path) -> None:
    first = write(tmp_path, "erstens", follow_ups="[zweitens]")
    second = write(tmp_path, "zweitens", follow_ups="[fehlt]")
    write(tmp_path, "drittens")
    services, errors = loader.load_directory(tmp_path)
    assert list(services) == ["drittens"]
    assert [(e.file, e.line, e.field) for e in errors] == [
        (str(first), line_of(first, "follow_ups"), "follow_ups[0]"),
        (str(second), line_of(second, "follow_ups"), "follow_ups[0]"),
    ]
    assert "'fehlt' is not a service of the catalogue" in errors[1].message
    assert "'zweitens' was refused" in errors[0].message


def test_a_follow_up_prefills_from_the_offering_services_answers(tmp_path: Path) -> None:
    write(tmp_path, "basis", follow_ups="[folge]")
    text = GOOD.format(id="folge", follow_ups="[]").replace(
        "        type: text\n", "        type: text\n        prefill: answer.detail\n"
    )
    write(tmp_path, "folge", text)
    assert loader.load_directory(tmp_path)[1] == []
    path = write(tmp_path, "folge", text.replace("answer.detail", "answer.colour"))
    services, errors = loader.load_directory(tmp_path)
    assert services == {}  # the offering service's follow-up is refused with it
    assert [(e.file, e.line, e.field) for e in errors] == [
        (
            str(tmp_path / "basis.yaml"),
            line_of(tmp_path / "basis.yaml", "follow_ups"),
            "follow_ups[0]",
        ),
        (str(path), line_of(path, "answer.colour"), "form[1].prefill"),
    ]
    assert "no service offering this one has a field 'colour'" in errors[1].message


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = broken(
        tmp_path, "doppelt", "    level: commune\n", "    level: commune\n    level: canton\n"
    )
    error = only_error(tmp_path)
    assert (error.line, error.field) == (line_of(path, "level: canton"), "level")
    assert "given twice" in error.message


def test_unreadable_empty_and_non_mapping_files(tmp_path: Path) -> None:
    (tmp_path / "leer.yaml").write_text("")
    (tmp_path / "liste.yaml").write_text("- a\n- b\n")
    (tmp_path / "binaer.yaml").write_bytes(b"\xff\xfe\x00")
    services, errors = loader.load_directory(tmp_path)
    assert services == {}
    messages = {Path(e.file).name: e.message for e in errors}
    assert messages["leer.yaml"] == "the file is empty"
    assert messages["liste.yaml"] == "the file must hold a mapping"
    assert messages["binaer.yaml"].startswith("cannot be read")


def test_the_registry_serves_the_good_files_and_keeps_the_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "gut")
    broken(tmp_path, "schlecht", "    level: commune\n", "    level: town\n")
    catalogue = registry.Catalogue.from_directory(tmp_path)
    assert [s.id for s in catalogue.all()] == ["gut"]
    assert catalogue.get("schlecht") is None
    assert len(catalogue.errors) == 1
    assert "schlecht.yaml" in caplog.text


def test_search_in_the_users_language_ignores_accents_and_case() -> None:
    catalogue = registry.default()
    ids = lambda query, lang: [s.id for s in catalogue.search(query, lang)]  # noqa: E731
    assert "wohnsitzbestaetigung" in ids("WOHNSITZBESTATIGUNG", "de")
    assert "wohnsitzbestaetigung" in ids("bestätigung wohnsitz", "de")
    assert "wohnsitzbestaetigung" in ids("domicile", "fr")
    assert "wohnsitzbestaetigung" not in ids("domicile", "de")  # only the user's language
    assert "wohnsitzbestaetigung" in ids("residence", "en")
    assert ids("zzzz", "de") == []
    assert len(ids("", "it")) == len(catalogue.all())


def test_yaml_is_still_what_pyyaml_reads() -> None:
    # The loader's own YAML reading agrees with safe_load except for dates (kept as text).
    text = (loader.SHIPPED_DIR / "wohnsitzbestaetigung.yaml").read_text()
    from catalogue.yamlsource import parse

    assert parse(text).value == yaml.safe_load(text)


def test_aliases_are_refused_before_they_can_grow(tmp_path: Path) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    path = tmp_path / "lachen.yaml"
    path.write_text(laughs)
    error = only_error(tmp_path)
    assert error.line == 2 and "aliases" in error.message
    assert str(error).startswith(f"{path}:2: b[0]: ")


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "gross.yaml").write_text("id: gross\n" + "# " + "x" * 1024 * 1024 + "\n")
    assert only_error(tmp_path).message == "is larger than 1 MB"


def test_a_yml_file_is_named_not_silently_skipped(tmp_path: Path) -> None:
    write(tmp_path, "gut")
    (tmp_path / "vergessen.yml").write_text("id: vergessen\n")
    services, errors = loader.load_directory(tmp_path)
    assert list(services) == ["gut"]
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'vergessen.yml'}: is not read: declarations end in .yaml"
    ]
