"""`portal storage gc` runs by itself: from `portal scheduler` (rq's cron) with Redis, or from the
embedded server's background loop without it, with the grace period it is given."""

from __future__ import annotations

import io
import os
import subprocess

from sqlalchemy import select

from storage.blobs import Blob
from tests.conftest import login, wait_for
from tests.functional.test_core_loop import deliver_letter
from tests.support.services import free_port, portal_executable


def test_orphans_are_collected_without_anyone_asking(client, demo, pdf, runtime, tmp_path):
    login(client, demo["clerk"])
    assert deliver_letter(client, demo["resident"]["ahvn13"], pdf("Brief")).status_code == 302
    store = runtime.objects.store
    with runtime.sessions() as session:
        kept = set(session.scalars(select(Blob.key)))
    # What a process killed between storing and committing leaves: an object, no row.
    orphan = runtime.objects.put(io.BytesIO(b"%PDF-1.7 never committed")).key
    assert store.exists(orphan)

    env = {**os.environ, **runtime.config.as_env(), "PORTAL_GC_GRACE_HOURS": "0"}
    if runtime.queue is not None:
        command = [portal_executable(), "scheduler"]
    else:
        command = [portal_executable(), "serve", "--port", str(free_port())]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: not store.exists(orphan), timeout=60)
    finally:
        proc.terminate()
        proc.wait(10)
    assert set(store.iter_keys()) == kept
