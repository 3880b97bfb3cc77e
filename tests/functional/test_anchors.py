"""Anchors from the operator's side, through the installed `portal` run from another directory:
`portal anchor` time-stamps the heads, `portal anchor proof` proves one, `openssl ts -verify`
accepts the tokens, and `portal verify` finds a cut journal, a deleted case file and an edited
anchor, each named."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess

import pytest
from sqlalchemy import delete, select, update

from casefiles.anchor_check import trust_roots
from casefiles.anchor_proofs import check_inclusion_proof
from casefiles.anchors import Anchor, statement
from casefiles.models import CaseFile, JournalEntry
from directory.models import ConsentEntry, Party
from storage.db import Base
from tests.conftest import login, wait_for, wait_for_idle_worker
from tests.functional.test_core_loop import deliver_letter
from tests.support.services import free_port, portal_executable
from tests.support.tsa import tsa_root_file

JOURNAL = JournalEntry.__table__
CASES = CaseFile.__table__
ANCHORS = Anchor.__table__
PARTIES = Party.__table__
CONSENT = ConsentEntry.__table__


def run_portal(runtime, *args, cwd):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    return subprocess.run(
        [portal_executable(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def cases(client, demo, pdf, runtime):
    """Two delivered case files; the first is the one tampered with."""
    login(client, demo["clerk"])
    for n in (1, 2):
        response = deliver_letter(
            client, demo["resident"]["ahvn13"], pdf(f"Brief {n}"), subject=f"Brief {n}"
        )
        assert response.status_code == 302
    wait_for_idle_worker(runtime)  # its jobs may still write to the journals
    with runtime.sessions() as session:
        return [c.id for c in session.scalars(select(CaseFile).order_by(CaseFile.created_at))]


@pytest.fixture
def anchored(runtime, cases, tmp_path):
    made = run_portal(runtime, "anchor", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    # Two case files, and the consent chains of the two demo residents who consented.
    assert made.stdout.startswith("anchor 1: 4 head(s), all kept (a checkpoint), root ")
    return cases


def test_anchor_proves_heads_and_openssl_accepts_its_tokens(runtime, anchored, tmp_path):
    verified = run_portal(runtime, "verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "anchors: 1 checked, latest 1 time-stamped" in verified.stdout
    assert "2 case file(s) checked, 0 failed" in verified.stdout
    again = run_portal(runtime, "anchor", cwd=tmp_path)
    assert again.returncode == 0 and "no head moved since the last anchor" in again.stdout

    # The proof, checked from its JSON alone: RFC 9162 §2.1.3.2 in a few lines, then openssl.
    out = run_portal(runtime, "anchor", "proof", str(anchored[0]), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    proof = json.loads(out.stdout)
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, anchored[0])
        assert (proof["head_seq"], proof["head_hash"]) == (case.head_seq, case.head_hash)
    head = json.loads(proof["statement"])
    assert head["tree_size"] == 4 and head["prev_root"] == "0" * 64
    assert _root_from_proof(proof) == head["root"]
    (tmp_path / "statement.json").write_text(proof["statement"])
    (tmp_path / "token.der").write_bytes(base64.b64decode(proof["token"]))
    ca_file = tsa_root_file(runtime, tmp_path)
    checked = _openssl_ts_verify(tmp_path / "statement.json", tmp_path / "token.der", ca_file)
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr
    assert check_inclusion_proof(proof, trust_roots(runtime.keyring)) == []
    proof["head_seq"] -= 1
    assert check_inclusion_proof(proof, trust_roots(runtime.keyring))


def _root_from_proof(proof):
    def h(data):
        return hashlib.sha256(data).digest()

    fn, sn = proof["leaf_index"], json.loads(proof["statement"])["tree_size"] - 1
    r = h(b"\x00" + bytes.fromhex(proof["leaf"]))
    for p in map(bytes.fromhex, proof["inclusion_path"]):
        if fn & 1 or fn == sn:
            r = h(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r.hex()


def _openssl_ts_verify(data, token, ca_file):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(data), "-in", str(token), "-token_in",
         "-CAfile", str(ca_file)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_anchors_chain_and_keep_only_what_changed(runtime, anchored, client, demo, pdf, tmp_path):
    response = deliver_letter(client, demo["resident"]["ahvn13"], pdf("Brief 3"), subject="3")
    assert response.status_code == 302
    wait_for_idle_worker(runtime)
    made = run_portal(runtime, "anchor", cwd=tmp_path)
    assert made.stdout.startswith("anchor 2: 5 head(s), 1 changed"), made.stdout + made.stderr
    with runtime.sessions() as session:
        first, second = session.scalars(select(Anchor).order_by(Anchor.seq))
        assert second.prev_root_hash == first.root_hash
        assert len(second.changed_leaves) == 57
        # Every stored token covers its anchor's statement, for openssl too.
        ca_file = tsa_root_file(runtime, tmp_path)
        for anchor in (first, second):
            (tmp_path / "statement.json").write_bytes(statement(anchor))
            (tmp_path / "token.der").write_bytes(anchor.tsa_token)
            checked = _openssl_ts_verify(
                tmp_path / "statement.json", tmp_path / "token.der", ca_file
            )
            assert "Verification: OK" in checked.stdout, checked.stderr
    # An older anchor still proves what it held.
    old = run_portal(runtime, "anchor", "proof", str(anchored[1]), "--anchor", "1", cwd=tmp_path)
    assert check_inclusion_proof(json.loads(old.stdout), trust_roots(runtime.keyring)) == []
    listed = run_portal(runtime, "anchor", "list", cwd=tmp_path)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["1", "2"]


# Behind the domain's back, as someone with write access to the database would.
def _cut_journal_end(runtime, case_id):
    with runtime.engine.begin() as conn:
        kept = conn.execute(
            select(JOURNAL.c.seq, JOURNAL.c.entry_hash).where(
                (JOURNAL.c.case_id == case_id) & (JOURNAL.c.seq == 2)
            )
        ).one()
        conn.execute(delete(JOURNAL).where((JOURNAL.c.case_id == case_id) & (JOURNAL.c.seq > 2)))
        conn.execute(
            update(CASES).where(CASES.c.id == case_id).values(head_seq=2, head_hash=kept[1])
        )
    return ["FAILED", "anchored head (anchor 1)", "entries were removed and the head set back"]


def _delete_case_file(runtime, case_id):
    with runtime.engine.begin() as conn:
        _delete_with_dependants(conn, CASES, [case_id])
    return [f"case file {case_id}: is missing from the database (deleted): anchor 1 holds it"]


def _delete_with_dependants(conn, table, ids):
    """Delete rows of `table` by id, and first every row that refers to them, at any depth."""
    if not ids:
        return
    [key] = table.primary_key.columns
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column is key:
                referring = fk.parent
                if len(other.primary_key.columns) == 1:
                    [other_key] = other.primary_key.columns
                    found = conn.scalars(select(other_key).where(referring.in_(ids))).all()
                    if other is table:  # a reply refers to its message: no endless descent
                        found = [i for i in found if i not in ids]
                    _delete_with_dependants(conn, other, found)
                if other is not table:
                    conn.execute(delete(other).where(referring.in_(ids)))
    conn.execute(delete(table).where(key.in_(ids)))


def _edit_anchor_root(runtime, _case_id):
    with runtime.engine.begin() as conn:
        conn.execute(update(ANCHORS).where(ANCHORS.c.seq == 1).values(root_hash="ab" * 32))
    return [
        "anchor 1: its time-stamp covers other data",
        "anchor 1: its root abab",
        "is not the Merkle root of its 4 leaves",
    ]


@pytest.mark.parametrize(
    "tamper", [_cut_journal_end, _delete_case_file, _edit_anchor_root], ids=lambda f: f.__name__
)
def test_verify_names_what_the_anchors_contradict(runtime, anchored, tamper, tmp_path):
    target, untouched = anchored
    with runtime.sessions() as session:
        reference = session.get_one(CaseFile, untouched).reference
    expected = tamper(runtime, target)
    result = run_portal(runtime, "verify", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout
    assert f"{reference} {untouched}: ok" in result.stdout
    if tamper is _cut_journal_end:
        [failing] = [line for line in result.stdout.splitlines() if "FAILED" in line]
        assert str(target) in failing
    else:
        assert "anchors: 1 checked" in result.stdout and ": FAILED" in result.stdout


def test_anchoring_refuses_to_cover_a_cut_journal(runtime, anchored, tmp_path):
    _cut_journal_end(runtime, anchored[0])
    refused = run_portal(runtime, "anchor", cwd=tmp_path)
    assert refused.returncode == 1
    assert "not anchoring over what the last anchor contradicts" in refused.stderr
    assert f"case file {anchored[0]}: anchored entry" in refused.stderr
    with runtime.sessions() as session:
        assert session.scalars(select(Anchor.seq)).all() == [1]


def test_anchors_are_made_by_themselves(runtime, cases, tmp_path):
    """By `portal scheduler` (rq's cron, a worker runs it) or the embedded server's thread."""
    env = {**os.environ, **runtime.config.as_env(), "PORTAL_ANCHOR_INTERVAL": "1"}
    if runtime.queue is not None:
        command = [portal_executable(), "scheduler"]
    else:
        command = [portal_executable(), "serve", "--port", str(free_port())]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def anchored():
            with runtime.sessions() as session:
                return session.scalars(select(Anchor)).first()

        made = wait_for(anchored, timeout=30)
        assert made.tree_size == 4  # two case files, two consent chains
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_consent_chain_set_back_behind_its_anchor_is_detected(runtime, client, demo, tmp_path):
    """Consent is anchored like the journals: its legality rests on every grant and revocation."""
    login(client, demo["resident"])
    for choice in ("revoke", "give"):
        page = client.get("/settings").get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert (
            client.post("/settings", data={"consent": choice, "csrf_token": token}).status_code
            == 302
        )
    made = run_portal(runtime, "anchor", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    with runtime.engine.begin() as conn:
        party_id, seq = conn.execute(
            select(PARTIES.c.id, PARTIES.c.consent_head_seq).where(
                PARTIES.c.display_name == demo["resident"]["name"]
            )
        ).one()
        assert seq >= 2
        previous = conn.scalar(
            select(CONSENT.c.entry_hash).where(
                (CONSENT.c.party_id == party_id) & (CONSENT.c.seq == seq - 1)
            )
        )
        conn.execute(
            delete(CONSENT).where((CONSENT.c.party_id == party_id) & (CONSENT.c.seq == seq))
        )
        conn.execute(
            update(PARTIES)
            .where(PARTIES.c.id == party_id)
            .values(consent_head_seq=seq - 1, consent_head_hash=previous)
        )
    result = run_portal(runtime, "verify", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "consent chain" in result.stdout and "FAILED" in result.stdout, result.stdout
