"""Generated case files export into packages that verify, and stop verifying when touched.

Hypothesis draws the case file: its subject (any letters, digits, punctuation and spaces), how
many further documents it has, whether its letter was opened (a receipt is filed) and a
document of its own with a hostile file name ("../", backslashes, dots, accents). Each case file
is exported in both packagings; each package is checked by the Library of Congress `bagit`
library or against the official eCH-0160 schema, by `portal verify`'s check, and by the
independent checker; then one byte of one member is flipped, and every check must fail.

Examples are few (each builds a real case file through the domain); test_export_tamper.py
draws the tamperings of one case file in depth."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import bagit
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from casefiles.export import write_export
from casefiles.export_check import check_export
from casefiles.models import CaseFile
from casefiles.operations import add_document
from tests.conftest import make_pdf
from tests.functional.test_export import check_sip, unpack
from tests.functional.test_export_tamper import independent
from tests.support.export_world import _accounts, _file, build_case

TEXT = st.characters(categories=["L", "N", "P", "Zs"])
HOSTILE_NAME = st.text(alphabet=st.sampled_from("abcÄé /\\.._-"), min_size=1, max_size=40).map(
    lambda name: name + ".pdf"
)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subject=st.text(alphabet=TEXT, min_size=1, max_size=80).filter(str.strip),
    documents=st.integers(min_value=0, max_value=2),
    receipt=st.booleans(),
    own_name=HOSTILE_NAME,
    flip=st.data(),
)
def test_generated_case_files_export_verify_and_fail_when_touched(
    runtime, tmp_path_factory, subject, documents, receipt, own_name, flip
):
    case_id = build_case(runtime, documents=documents, receipt=receipt, title=subject)
    clerk, _ = _accounts(runtime)
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        add_document(session, clerk, case, _file(own_name, "application/pdf", make_pdf("Akte")))
    folder = tmp_path_factory.mktemp("generated")
    for packaging in ("bagit", "ech0160"):
        package = folder / f"{packaging}.zip"
        with runtime.sessions() as session, package.open("wb") as out:
            write_export(session, runtime.keyring, [case_id], packaging, out)
        root = unpack(package, folder / packaging)
        if packaging == "bagit":
            bagit.Bag(str(root)).validate()
        else:
            check_sip(root)
        report = check_export(package)
        assert not report.failures, report.failures
        assert independent.verify(str(package), None)[0] == []

        tampered = folder / f"{packaging}-tampered.zip"
        with zipfile.ZipFile(package) as archive:
            members = [(i.filename, archive.read(i)) for i in archive.infolist() if not i.is_dir()]
        index = flip.draw(st.integers(0, len(members) - 1), label="member")
        name, data = members[index]
        offset = flip.draw(st.integers(0, max(len(data) - 1, 0)), label="offset")
        changed = bytearray(data or b"\0")
        changed[offset] ^= 0x01
        members[index] = (name, bytes(changed))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, content in members:
                archive.writestr(member, content)
        tampered.write_bytes(buffer.getvalue())
        assert check_export(tampered).failures, f"{packaging}: {name}@{offset} not noticed"
        # The independent checker does not rebuild metadata.xml (docs/export-format.md, "The
        # independent checker"): a changed letter in one of its texts is `portal verify`'s.
        noticed = independent.verify(str(tampered), None)[0]
        assert noticed or name.endswith("/header/metadata.xml")


def test_generated_file_names_stay_inside_the_package(tmp_path: Path) -> None:
    """The name a document is saved under can never leave its folder (export-format.md §2)."""
    from casefiles.export.collect import safe_filename

    for name in ("../../etc/passwd", "..", ".hidden", "a\\b", "a/b", "x\x00y", "é" * 300):
        safe = safe_filename(name)
        assert "/" not in safe and "\\" not in safe and not safe.startswith(".")
        assert 0 < len(safe) <= 120
