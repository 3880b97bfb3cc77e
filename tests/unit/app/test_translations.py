"""The UI message catalogues in app/translations: complete, placeholder-safe, in step with the code.

msgids are English; German (de) is the portal's default language, so de (like fr and it) must
translate every string. en may leave a string empty (gettext then shows the English msgid).
A string added to a template or to the code without re-running ``app/translations/update.sh``
makes ``test_template_follows_the_sources`` fail and name it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
TRANSLATIONS = ROOT / "app" / "translations"
POT = TRANSLATIONS / "messages.pot"
UPDATE_SCRIPT = TRANSLATIONS / "update.sh"

LANGUAGES = ("de", "fr", "it", "en")
COMPLETE = ("de", "fr", "it")
# The extraction keywords; update.sh passes the same ones (test_update_script_keywords).
KEYWORDS = ("_", "gettext", "ngettext:1,2", "lazy_gettext", "N_", "InvalidInput:2")

# A printf-style conversion as Python's % operator reads it, e.g. %(name)s, %s, %5.2f or %%.
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)


def _po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)  # the locale comes from the catalogue's Language header


def _messages(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]  # without the header entry


def _msgid(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _msgids(catalog: Catalog) -> set[str]:
    return {_msgid(m) for m in _messages(catalog)}


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _placeholders(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Named placeholders as a set (order and repetition are free), positional ones in order."""
    found = [m.group(0) for m in PLACEHOLDER.finditer(text) if m.group(0) != "%%"]
    named = frozenset(p for p in found if p.startswith("%("))
    positional = tuple(p for p in found if not p.startswith("%("))
    return named, positional


def _listing(strings: set[str]) -> str:
    return "".join(f"\n    {s!r}" for s in sorted(strings))


@pytest.fixture(scope="module")
def catalogues() -> dict[str, Catalog]:
    return {lang: _read(_po_path(lang)) for lang in LANGUAGES}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The msgids the sources hold now: babel.cfg and KEYWORDS, as update.sh runs them."""
    output = tmp_path_factory.mktemp("i18n") / "messages.pot"
    command = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract"]
    command += ["-F", "babel.cfg", "--no-location", "-o", str(output)]
    for keyword in KEYWORDS:
        command += ["-k", keyword]
    command.append(".")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"pybabel extract failed:\n{result.stdout}{result.stderr}"
    return _msgids(_read(output))


def test_layout_lets_pybabel_compile_every_language() -> None:
    # The Makefile runs `.venv/bin/pybabel compile -d app/translations`, which needs this layout.
    assert POT.is_file()
    for lang in LANGUAGES:
        assert _po_path(lang).is_file(), f"no catalogue for {lang}"


def test_update_script_keywords() -> None:
    script = UPDATE_SCRIPT.read_text()
    assert os.access(UPDATE_SCRIPT, os.X_OK), "update.sh must be executable"
    assert "set -euo pipefail" in script
    assert tuple(re.findall(r"-k\s+(\S+?)\)?(?=\s|$)", script)) == KEYWORDS, (
        "update.sh and this test must extract with the same keywords"
    )


def test_template_follows_the_sources(extracted: set[str]) -> None:
    in_pot = _msgids(_read(POT))
    missing, stale = extracted - in_pot, in_pot - extracted
    assert not missing and not stale, (
        "app/translations/messages.pot is out of date; run app/translations/update.sh."
        + (f"\n  New in the sources:{_listing(missing)}" if missing else "")
        + (f"\n  Gone from the sources:{_listing(stale)}" if stale else "")
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_follows_the_template(lang: str, catalogues: dict[str, Catalog]) -> None:
    # Together with the test above: every catalogue holds exactly the strings of the sources.
    in_pot, in_po = _msgids(_read(POT)), _msgids(catalogues[lang])
    missing, stale = in_pot - in_po, in_po - in_pot
    assert not missing and not stale, (
        f"{lang}/LC_MESSAGES/messages.po does not follow messages.pot; run "
        "app/translations/update.sh, then translate the new entries."
        + (f"\n  Not in the catalogue yet:{_listing(missing)}" if missing else "")
        + (f"\n  No longer in the template:{_listing(stale)}" if stale else "")
    )


@pytest.mark.parametrize("lang", COMPLETE)
def test_catalogue_is_complete(lang: str, catalogues: dict[str, Catalog]) -> None:
    untranslated = {
        _msgid(m)
        for m in _messages(catalogues[lang])
        if not _forms(m.string) or not all(_forms(m.string))
    }
    assert not untranslated, f"untranslated in {lang}:{_listing(untranslated)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_has_no_fuzzy_entries(lang: str, catalogues: dict[str, Catalog]) -> None:
    catalogue = catalogues[lang]
    assert not catalogue.fuzzy, f"the header of {lang} is marked fuzzy; pybabel would skip it"
    fuzzy = {_msgid(m) for m in _messages(catalogue) if m.fuzzy}
    assert not fuzzy, f"fuzzy (unchecked) entries in {lang}:{_listing(fuzzy)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: str, catalogues: dict[str, Catalog]) -> None:
    wrong = set()
    for message in _messages(catalogues[lang]):
        # A plural form may follow the singular msgid or the plural one (e.g. without %(num)d).
        allowed = {_placeholders(msgid) for msgid in _forms(message.id)}
        for form in _forms(message.string):
            if form and _placeholders(form) not in allowed:
                wrong.add(f"{_msgid(message)} -> {form}")
    assert not wrong, f"placeholders changed in {lang}:{_listing(wrong)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_compiles(lang: str, catalogues: dict[str, Catalog]) -> None:
    catalogue = catalogues[lang]
    assert catalogue.locale is not None and str(catalogue.locale) == lang
    problems = {f"{_msgid(m)}: {'; '.join(map(str, errors))}" for m, errors in catalogue.check()}
    assert not problems, f"babel finds errors in {lang}:{_listing(problems)}"
    write_mo(io.BytesIO(), catalogue)


def test_german_is_swiss(catalogues: dict[str, Catalog]) -> None:
    with_eszett = {
        _msgid(m) for m in _messages(catalogues["de"]) if any("ß" in f for f in _forms(m.string))
    }
    assert not with_eszett, f"Swiss German writes ss, not ß:{_listing(with_eszett)}"
