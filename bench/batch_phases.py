"""Where a batch request spends its time: each phase of POST /deliveries/batch, timed.

    .venv/bin/python -m bench.batch_phases --batches 5      (or: make bench-phases)

Runs the portal in this process on a fresh PostgreSQL database and a folder store, seeds the
residents, then sends `--batches` requests of 1000 letters (30 KB PDFs) through Flask's test
client, one after the other. The functions of the batch path are wrapped with timers; the table
gives seconds a batch for each, the first (warm-up) batch left out. Phases nest: `run_batch`
holds all the others, `_write` holds the storing, the journal and the inserts.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `mailbox` must be ours, not the standard library's

from app.config import Config  # noqa: E402
from app.factory import create_app  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from bench.world import base_pdf, batch_bodies, create_database, portal_env, seed  # noqa: E402

# (module, function): looked up through the module at call time, so wrapping them there works.
PHASES = [
    ("app.api.batch", "run_batch"),
    ("app.api.batch", "read_json_body"),
    ("app.api.batch", "_item_digest"),
    ("app.api.batch", "_checked"),
    ("app.api.batch_files", "decode"),
    ("casefiles.documents", "_inspect"),  # the intake policy, in its child process
    ("app.api.batch", "_claim"),
    ("mailbox.bulk", "_check"),
    ("mailbox.bulk", "_write"),
    ("mailbox.bulk", "store_blobs"),
    ("mailbox.bulk", "new_journal"),
    ("mailbox.bulk", "insert_rows"),
    ("app.api.batch", "_finish"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5, help="timed batches of 1000 letters")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="portal-phases-", dir=ROOT.parent))
    database_url, drop_database = create_database()
    try:
        os.environ.update(portal_env(work, database_url))
        portal = str(Path(sys.executable).parent / "portal")
        subprocess.run([portal, "db", "upgrade"], check=True, cwd=work, capture_output=True)
        runtime = Runtime(Config.from_env())
        letters = 1000 * (args.batches + 1)
        world = seed(runtime, letters, with_email=False)
        bodies = batch_bodies(world["numbers"], base_pdf(), 1000)
        runtime.close()
        app = create_app(Config.from_env())
        client = app.test_client()
        headers = {"Authorization": f"Bearer {world['api_key']}"}
        gc.freeze()  # as bench/gunicorn_conf.py does for the workers
        spent: Counter[str] = Counter()
        for module, name in PHASES:
            _time(module, name, spent)
        totals = []
        for n, body in enumerate(bodies):
            if n == 1:
                spent.clear()  # the first batch warms caches up: not counted
            started = time.perf_counter()
            response = client.post(
                "/api/v1/deliveries/batch",
                data=body,
                headers=headers,
                content_type="application/json",
            )
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            totals.append(time.perf_counter() - started)
        timed = len(bodies) - 1
        print(f"{timed} batches of 1000 letters, in-process, PostgreSQL + folder store")
        print(f"{sum(totals[1:]) / timed:8.3f} s  the whole request")
        for key, seconds in sorted(spent.items(), key=lambda item: -item[1]):
            print(f"{seconds / timed:8.3f} s  {key}")
        app.extensions["portal"].close()
        return 0
    finally:
        drop_database()
        shutil.rmtree(work, ignore_errors=True)


def _time(module_name: str, name: str, spent: Counter[str]) -> None:
    module = importlib.import_module(module_name)
    original: Callable[..., Any] = getattr(module, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[f"{module_name}.{name}"] += time.perf_counter() - started

    setattr(module, name, timed)


if __name__ == "__main__":
    sys.exit(main())
