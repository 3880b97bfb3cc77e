"""`portal storage gc` from the operator's side: objects no row points at (a process died after
storing them) go once they are older than the grace period; everything a row names stays."""

from __future__ import annotations

import io
import subprocess

from sqlalchemy import select

from storage.blobs import Blob
from tests.conftest import login
from tests.functional.test_core_loop import deliver_letter
from tests.functional.test_verify_cli import run_verify
from tests.support.services import portal_executable


def run_gc(runtime, *args, cwd):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    result = subprocess.run(
        [portal_executable(), "storage", "gc", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_orphans_are_collected_after_the_grace_period(client, demo, pdf, runtime, tmp_path):
    login(client, demo["clerk"])
    assert deliver_letter(client, demo["resident"]["ahvn13"], pdf("Brief")).status_code == 302
    store = runtime.objects.store
    with runtime.sessions() as session:
        kept = set(session.scalars(select(Blob.key)))
    assert kept and kept <= set(store.iter_keys())
    # What a process killed between storing and committing leaves: an object, no row.
    orphan = runtime.objects.put(io.BytesIO(b"%PDF-1.7 never committed")).key

    young = run_gc(runtime, cwd=tmp_path)  # the default grace period: 24 hours
    assert "1 orphaned but younger than 24 h (kept)" in young
    assert store.exists(orphan)

    listed = run_gc(runtime, "--older-than-hours", "0", "--dry-run", cwd=tmp_path)
    assert f"orphan {orphan}" in listed
    assert "1 orphaned (would delete)" in listed
    assert store.exists(orphan)

    collected = run_gc(runtime, "--older-than-hours", "0", cwd=tmp_path)
    assert f"deleted {orphan}" in collected
    assert f"{len(kept) + 1} object(s) scanned, 1 orphaned (deleted)" in collected
    assert not store.exists(orphan)
    assert set(store.iter_keys()) == kept
    verified = run_verify(runtime, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout


def test_a_negative_grace_period_is_refused(runtime, tmp_path):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    result = subprocess.run(
        [portal_executable(), "storage", "gc", "--older-than-hours", "-1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "-1" in result.stderr and "Traceback" not in result.stderr
