"""A real case file's journal, dumped by the installed `portal journal dump` from another
directory, passes the independent checker (tests/support/journal_checker.py); one flipped byte
in a payload value makes it fail and name the entry."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.api.support import Api, b64, letter, open_as_resident
from tests.conftest import make_pdf, wait_for
from tests.support import journal_checker
from tests.support.services import portal_executable

SUBJECT = "Gesuch für Müller: Baubewilligung Nr. 2026-17"


def run_portal(runtime, *args, cwd):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    return subprocess.run(
        [portal_executable(), *args], env=env, cwd=cwd, capture_output=True, timeout=120
    )


def deliver(api: Api, demo, how: str) -> dict:
    """One letter through the API, alone or as a mailing of one (the bulk path)."""
    metadata = letter(demo, subject=SUBJECT, appeal_period_days=30)
    document = make_pdf("Verfügung für Müller")
    if how == "single":
        created = api.deliver(metadata, files=[("verfuegung.pdf", document)])
        assert created.status_code == 201, created.get_data(as_text=True)
        return created.get_json()
    item = {
        "ref": "one",
        "metadata": metadata,
        "files": [{"filename": "verfuegung.pdf", "content_base64": b64(document)}],
    }
    response = api.post_json("/deliveries/batch", {"items": [item]})
    assert response.status_code == 200, response.get_data(as_text=True)
    [result] = response.get_json()["results"]
    assert result["status"] == 201, result
    return result


def flip_a_payload_byte(lines: list[bytes], value: str) -> tuple[list[bytes], str]:
    """Flip the lowest bit of the first byte of `value` where an entry's payload holds it;
    returns the lines and the entry's name as the checker gives it."""
    for n, line in enumerate(lines):
        entry = json.loads(line)
        if entry["type"] == "entry" and value in entry["payload"].values():
            at = line.index(json.dumps(value, ensure_ascii=False).encode()) + 1
            changed = bytearray(line)
            changed[at] ^= 0x01
            return [*lines[:n], bytes(changed), *lines[n + 1 :]], (
                f"entry {entry['seq']} ({entry['action']})"
            )
    raise AssertionError(f"no entry's payload holds {value!r}")


@pytest.mark.parametrize("how", ["single", "batch"])
def test_a_dumped_journal_passes_the_independent_checker(app, demo, runtime, tmp_path, how):
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    created = deliver(api, demo, how)
    open_as_resident(app, demo["resident"], created["delivery_id"])
    wait_for(lambda: api.get(f"/deliveries/{created['delivery_id']}/receipt").status_code == 200)

    result = run_portal(runtime, "journal", "dump", created["case_id"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.splitlines()
    ca = x509.load_pem_x509_certificate(
        runtime.keyring.ca_certificate.public_bytes(serialization.Encoding.PEM)
    )
    report = journal_checker.check(lines, ca)
    assert report.ok, report.problems
    assert report.case_id == created["case_id"]
    actions = [json.loads(line)["action"] for line in lines if b'"type":"entry"' in line]
    assert actions[0] == "case.opened" and actions[-1] == "receipt.issued"
    assert "delivery.opened" in actions and report.entries == len(actions)

    # As an archivist would run it: the script alone, on the dump as a file.
    dump = tmp_path / "journal.jsonl"
    dump.write_bytes(result.stdout)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    script = Path(journal_checker.__file__)
    ok = subprocess.run(
        [sys.executable, "-I", str(script), str(dump), "--ca", str(tmp_path / "ca.pem")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("ok")

    tampered, entry = flip_a_payload_byte(lines, SUBJECT)
    report = journal_checker.check(tampered, ca)
    assert report.problems == [f"{entry}: content does not match its hash"]


def test_dumping_an_unknown_case_file_fails(runtime, tmp_path):
    unknown = run_portal(
        runtime, "journal", "dump", "00000000-0000-4000-8000-000000000000", cwd=tmp_path
    )
    assert unknown.returncode == 2 and b"no case file" in unknown.stderr
    bad = run_portal(runtime, "journal", "dump", "D-2026-1", cwd=tmp_path)
    assert bad.returncode == 2 and b"not a case file id" in bad.stderr


def test_the_checker_imports_nothing_of_the_portal():
    source = Path(journal_checker.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}
