"""Tampered exports fail: a real case file exported once in each packaging, then changed as an
attacker would (hypothesis draws what and where): one byte of any file, a journal line removed,
added, moved or doubled, two documents swapped, one dropped, a file added. Where the change is
deeper than the checksums, the attacker also rewrites the manifests (or metadata.xml, with the
writer's own function), so that the journal and document checks must catch it alone.

Both `check_export` and the independent checker (tools/verify_export.py) must report it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from casefiles.export.ech0160 import metadata_xml
from casefiles.export_check import check_export
from tests.support.export_packages import CHECKER, Exports, real_exports

PACKAGINGS = ("bagit", "ech0160")
PAYLOAD = {"bagit": "data", "ech0160": "content"}
BOUNDED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failing example is small already
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _load_checker() -> Any:
    spec = importlib.util.spec_from_file_location("verify_export", CHECKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


independent = _load_checker()


@pytest.fixture(scope="session")
def exports(runtime, tmp_path_factory) -> Exports:
    return real_exports(runtime, tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tampered")


class Package:
    """An export's files in memory (name below the root -> bytes), to change and zip again."""

    def __init__(self, path: Path, packaging: str) -> None:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
            self.root = names[0].split("/")[0]
            self.files = {n.split("/", 1)[1]: archive.read(n) for n in names}
        self.packaging = packaging
        self.payload = PAYLOAD[packaging]
        export = json.loads(self.files[f"{self.payload}/export.json"])
        self.case = f"{self.payload}/{export['cases'][0]['path']}"

    def documents(self) -> list[str]:
        return sorted(n for n in self.files if n.startswith(f"{self.case}/documents/"))

    def reseal(self) -> None:
        """What an attacker who knows the format does: the checksums made to fit again."""
        if self.packaging == "bagit":
            data = sorted(n for n in self.files if n.startswith("data/"))
            self.files["manifest-sha256.txt"] = _manifest(self.files, data)
            tags = ["bag-info.txt", "bagit.txt", "manifest-sha256.txt"]
            self.files["tagmanifest-sha256.txt"] = _manifest(self.files, tags)
            return
        export = json.loads(self.files["content/export.json"])
        cases = [json.loads(self.files[f"content/{c['path']}/case.json"]) for c in export["cases"]]
        listed = [(n, _sha(d)) for n, d in self.files.items() if n != "header/metadata.xml"]
        self.files["header/metadata.xml"] = metadata_xml(listed, export, cases)

    def write(self, path: Path) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files.items():
                archive.writestr(f"{self.root}/{name}", data)
        return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(files: dict[str, bytes], names: list[str]) -> bytes:
    # As the bagit library writes them: each line "<sha256>  <path>", the lines sorted.
    return "".join(sorted(f"{_sha(files[n])}  {n}\n" for n in names)).encode()


def assert_fails(package: Package, path: Path, *, deep: str | None = None) -> None:
    package.write(path)
    report = check_export(path)
    failed = [item.name for item in report.failures]
    assert failed, "check_export did not notice"
    if deep is not None:  # the manifests were made to fit: the deeper check caught it
        assert any(name.endswith(deep) for name in failed), failed
    problems, _ = independent.verify(str(path), None)
    assert problems, "the independent checker did not notice"


def test_the_untouched_packages_pass_and_reseal_is_faithful(exports, workdir):
    for packaging in PACKAGINGS:
        package = Package(exports.zips[packaging], packaging)
        original = dict(package.files)
        package.reseal()
        assert package.files == original  # so a resealed tampering differs only by itself
        path = package.write(workdir / f"untouched-{packaging}.zip")
        assert check_export(path).ok
        assert independent.verify(str(path), None)[0] == []


@BOUNDED
@given(
    packaging=st.sampled_from(PACKAGINGS),
    which=st.integers(min_value=0),
    where=st.integers(min_value=0),
    xor=st.integers(min_value=1, max_value=255),
)
def test_one_flipped_byte_in_any_file_fails(exports, workdir, packaging, which, where, xor):
    package = Package(exports.zips[packaging], packaging)
    names = sorted(n for n, d in package.files.items() if d)
    name = names[which % len(names)]
    data = bytearray(package.files[name])
    data[where % len(data)] ^= xor
    package.files[name] = bytes(data)
    assert_fails(package, workdir / "flipped.zip")


JOURNAL_CHANGES = ("remove", "add", "reorder", "duplicate")


@BOUNDED
@given(
    packaging=st.sampled_from(PACKAGINGS),
    change=st.sampled_from(JOURNAL_CHANGES),
    at=st.integers(min_value=0),
    reseal=st.booleans(),
)
def test_a_journal_line_removed_added_moved_or_doubled_fails(
    exports, workdir, packaging, change, at, reseal
):
    package = Package(exports.zips[packaging], packaging)
    name = f"{package.case}/journal.jsonl"
    lines = package.files[name].splitlines(keepends=True)
    entries = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "entry"]
    i = entries[at % len(entries)]
    if change == "remove":
        del lines[i]
    elif change == "duplicate":
        lines.insert(i, lines[i])
    elif change == "reorder":
        j = entries[(at + 1) % len(entries)]
        lines[i], lines[j] = lines[j], lines[i]
    else:  # a forged entry after the last: hashed and linked right, but not signed by the seal
        last = json.loads(lines[entries[-1]])
        forged = {**last, "seq": last["seq"] + 1, "prev_hash": last["entry_hash"]}
        forged["action"], forged["payload"] = "note.added", {"text": "nachträglich"}
        hashed = {k: forged[k] for k in independent.HASHED}
        forged["entry_hash"] = _sha(_canonical(hashed))
        lines.insert(entries[-1] + 1, _canonical(forged) + b"\n")
    package.files[name] = b"".join(lines)
    if reseal:
        package.reseal()
    assert_fails(package, workdir / "journal.zip", deep="journal" if reseal else None)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


DOCUMENT_CHANGES = ("swap", "drop", "extra")


@BOUNDED
@given(
    packaging=st.sampled_from(PACKAGINGS),
    change=st.sampled_from(DOCUMENT_CHANGES),
    at=st.integers(min_value=0),
    reseal=st.booleans(),
)
def test_documents_swapped_dropped_or_added_fail(exports, workdir, packaging, change, at, reseal):
    package = Package(exports.zips[packaging], packaging)
    documents = package.documents()
    first = documents[at % len(documents)]
    if change == "swap":
        second = documents[(at + 1) % len(documents)]
        files = package.files
        files[first], files[second] = files[second], files[first]
    elif change == "drop":
        del package.files[first]
    else:
        extra = f"{package.case}/documents/{uuid.uuid4()}/beilage.pdf"
        package.files[extra] = package.files[first]
    if reseal:
        package.reseal()
    assert_fails(package, workdir / "documents.zip", deep="documents" if reseal else None)


def test_an_extra_file_anywhere_fails(exports, workdir):
    for packaging in PACKAGINGS:
        package = Package(exports.zips[packaging], packaging)
        package.files[f"{package.payload}/notes.txt"] = b"unlisted"
        assert_fails(package, workdir / f"extra-{packaging}.zip")
        package.files = dict(Package(exports.zips[packaging], packaging).files)
        package.files["extra.txt"] = b"beside the payload"
        assert_fails(package, workdir / f"extra2-{packaging}.zip")
