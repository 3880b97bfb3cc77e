"""`portal catalogue check|list` from the operator's side: the installed command, run from
another directory, on the shipped catalogue and on a folder with broken declarations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from catalogue import loader, registry
from tests.support.services import portal_executable


def portal(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [portal_executable(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_shipped_catalogue_checks_clean_and_lists_every_service(tmp_path: Path) -> None:
    checked = portal("catalogue", "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == ""
    count = len(registry.default().all())
    assert checked.stderr.strip() == f"{count} service(s) ok"
    listed = portal("catalogue", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == count
    line = next(line for line in lines if line.startswith("wohnsitzbestaetigung "))
    assert line.split() == ["wohnsitzbestaetigung", "Wohnsitzbestätigung", "commune", "commune",
                            "einwohnerdienste"]  # fmt: skip
    french = portal("catalogue", "list", "--language", "fr", cwd=tmp_path)
    assert "Attestation de domicile" in french.stdout


def test_broken_files_are_printed_with_file_line_and_field_and_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "services"
    folder.mkdir()
    good = loader.SHIPPED_DIR / "wohnsitzbestaetigung.yaml"
    shutil.copy(good, folder)
    text = good.read_text(encoding="utf-8")
    # No Italian title: a missing translation.
    (folder / "ohne-italienisch.yaml").write_text(
        text.replace("id: wohnsitzbestaetigung", "id: ohne-italienisch").replace(
            "  it: Attestato di domicilio\n", "", 1
        ),
        encoding="utf-8",
    )
    # A follow-up that does not exist.
    (folder / "folge.yaml").write_text(
        text.replace("id: wohnsitzbestaetigung", "id: folge").replace(
            "retention:", "follow_ups: [gibt-es-nicht]\nretention:"
        ),
        encoding="utf-8",
    )
    (folder / "syntax.yaml").write_text("id: syntax\ntitle: {de: [\n", encoding="utf-8")
    result = portal("catalogue", "check", "services", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    follow_up_line = 1 + next(
        i for i, line in enumerate((folder / "folge.yaml").read_text().splitlines())
        if "gibt-es-nicht" in line
    )  # fmt: skip
    assert lines == [
        f"services/folge.yaml:{follow_up_line}: follow_ups[0]: "
        "follow-up 'gibt-es-nicht' is not a service of the catalogue",
        "services/ohne-italienisch.yaml:7: title: missing translation 'it'",
        "services/syntax.yaml:3: YAML syntax: " + lines[2].split("YAML syntax: ", 1)[1],
    ]
    assert result.stderr.strip() == "3 error(s) in 3 file(s); 1 service(s) ok"


def test_a_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    result = portal("catalogue", "check", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
