"""`portal verify PATH` and the independent checker (tools/verify_export.py) on real exports of
both packagings, run as a stranger would: another folder, another HOME, no PORTAL_* settings,
and nothing written anywhere; pinned and unpinned trust; files that are not exports."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app.cli import cli
from casefiles.export_check import NotAnExport, check_export
from tests.support.export_packages import (
    THIRD_PARTY,
    Exports,
    files_under,
    independent_check,
    portal_verify,
    real_exports,
)

PACKAGINGS = ("bagit", "ech0160")


@pytest.fixture(scope="session")
def exports(runtime, tmp_path_factory) -> Exports:
    return real_exports(runtime, tmp_path_factory.mktemp("exports"))


@pytest.fixture
def stranger(tmp_path: Path) -> tuple[Path, Path]:
    """An empty working folder and an empty HOME."""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_a_real_export_verifies_offline_and_writes_nothing(exports, stranger, packaging):
    cwd, home = stranger
    package = cwd.parent / f"{packaging}.zip"
    shutil.copy(exports.zips[packaging], package)
    before = files_under(cwd, home, cwd.parent)

    run = portal_verify(str(package), cwd=cwd, home=home)

    assert run.code == 0, run.out + run.err
    assert f"{packaging} export" in run.out
    assert "FAILED" not in run.out
    assert "journal:" in run.out and "documents:" in run.out and "PDF signatures:" in run.out
    assert "CA SHA-256 fingerprint:" in run.out and "trust not pinned" in run.out
    assert THIRD_PARTY.split(" (")[0] in run.out or "third party" in run.out
    if packaging == "ech0160":
        assert "metadata.xml (rebuilt): the same bytes" in run.out
    assert files_under(cwd, home, cwd.parent) == before  # no instance, database, key, cache

    independent = independent_check(str(package), cwd=cwd, home=home)
    assert independent.code == 0, independent.out + independent.err
    assert files_under(cwd, home, cwd.parent) == before


def test_the_report_names_every_check(exports):
    report = check_export(exports.zips["bagit"])
    names = [item.name for item in report.items]
    reference = report.cases[0]
    for expected in (
        "bagit.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
        "export.json",
        f"{reference} journal",
        f"{reference} documents",
        f"{reference} PDF signatures",
        f"{reference} anchor",
    ):
        assert expected in names, names
    assert report.ok and not report.trust_pinned and len(report.ca_fingerprint or "") == 64
    assert any("third party" in note for note in report.notes), report.notes


def verify_in_process(*args: str) -> Result:
    """The same `portal verify`, through click in this process (the subprocess tests above
    cover the console script itself): cheaper for the many cases below."""
    return CliRunner().invoke(cli, ["verify", *args])


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_pinning_the_right_ca_passes_another_fails(exports, stranger, packaging):
    cwd, home = stranger
    (cwd / "ca.pem").write_bytes(exports.ca_pem)
    (cwd / "other.pem").write_bytes(exports.other_ca_pem)
    package = str(exports.zips[packaging])

    right = verify_in_process(package, "--ca", str(cwd / "ca.pem"))
    assert right.exit_code == 0, right.output
    assert "(pinned (--ca))" in right.output and "trust not pinned" not in right.output
    assert independent_check(package, "--ca", "ca.pem", cwd=cwd, home=home).code == 0

    wrong = verify_in_process(package, "--ca", str(cwd / "other.pem"))
    assert wrong.exit_code == 1, wrong.output
    assert "FAILED  trust: the package's CA is not the one given" in wrong.output
    # The seals were not issued by the CA given either: their journal fails with it.
    last = wrong.output.splitlines()[-1]
    assert last.startswith("FAILED: ") and "trust" in last and "journal" in last, last
    other = independent_check(package, "--ca", "other.pem", cwd=cwd, home=home)
    assert other.code == 1 and "CA" in other.out


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _bomb() -> bytes:
    # 20 MiB of zeros deflate to ~20 KiB: a ratio near 1000, on a member over 1 MiB.
    return _zip({"pkg/bagit.txt": b"BagIt-Version: 1.0\n", "pkg/data/x": bytes(20 << 20)})


def _liar() -> bytes:
    """A member whose headers say 1,000 bytes and whose data inflates to 10 MiB."""
    real = _zip({"pkg/bagit.txt": b"BagIt-Version: 1.0\n", "pkg/data/x": bytes(10 << 20)})
    return real.replace(struct.pack("<I", 10 << 20), struct.pack("<I", 1000))


BAD_INPUT = {
    "a text file": (lambda real: b"not a zip at all\n", "not a readable zip"),
    "a truncated zip": (lambda real: real[: len(real) // 2], "zip"),
    "a path escaping the folder": (
        lambda real: _zip({"pkg/bagit.txt": b"x", "pkg/../evil": b"x"}),
        "unsafe path",
    ),
    "an absolute path": (lambda real: _zip({"/etc/evil": b"x"}), "unsafe path"),
    "a zip bomb": (lambda real: _bomb(), "zip bomb"),
    "a member larger than it says": (lambda real: _liar(), "more than the zip says"),
    "an empty zip": (lambda real: _zip({}), "empty"),
    "an unknown layout": (lambda real: _zip({"pkg/readme.txt": b"hello"}), "no known layout"),
    "two root folders": (lambda real: _zip({"a/bagit.txt": b"x", "b/x": b"x"}), "top-level"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_what_is_not_an_export_exits_2_with_a_message(exports, stranger, case, monkeypatch):
    cwd, home = stranger
    make, message = BAD_INPUT[case]
    bad = cwd.parent / "bad.zip"
    bad.write_bytes(make(exports.zips["bagit"].read_bytes()))
    assert bad.stat().st_size < 1 << 20  # small files, however much they claim
    monkeypatch.chdir(cwd)
    before = files_under(cwd, home, cwd.parent)

    run = verify_in_process(str(bad))
    assert run.exit_code == 2, run.output
    assert "not an export" in run.stderr and message in run.stderr, run.stderr
    with pytest.raises(NotAnExport):
        check_export(bad)
    independent = independent_check(str(bad), cwd=cwd, home=home)
    assert independent.code == 2 and "Traceback" not in independent.err, independent.err
    assert files_under(cwd, home, cwd.parent) == before  # nothing extracted, nothing written


@pytest.mark.parametrize("case", ["a truncated zip", "a zip bomb"])
def test_the_console_script_exits_2_on_what_is_not_an_export(exports, stranger, case):
    cwd, home = stranger
    make, message = BAD_INPUT[case]
    bad = cwd.parent / "bad.zip"
    bad.write_bytes(make(exports.zips["bagit"].read_bytes()))
    before = files_under(cwd, home, cwd.parent)
    run = portal_verify(str(bad), cwd=cwd, home=home)
    assert run.code == 2 and message in run.err and "Traceback" not in run.err, run.err
    assert files_under(cwd, home, cwd.parent) == before


def test_a_missing_file_or_bad_ca_exits_2(exports, tmp_path):
    missing = verify_in_process(str(tmp_path / "no-such-export.zip"))
    assert missing.exit_code == 2 and "neither a case file id nor a file" in missing.stderr
    (tmp_path / "garbage.pem").write_text("not a certificate")
    package = str(exports.zips["bagit"])
    bad_ca = verify_in_process(package, "--ca", str(tmp_path / "garbage.pem"))
    assert bad_ca.exit_code == 2 and "not a PEM certificate" in bad_ca.stderr
    absent_ca = verify_in_process(package, "--ca", str(tmp_path / "absent.pem"))
    assert absent_ca.exit_code == 2 and "absent.pem" in absent_ca.stderr
