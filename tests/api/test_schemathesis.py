"""The API against its own document: schemathesis (CLI) generates requests from
/api/v1/openapi.json and sends them, with the demo authority's real API key, to the portal
served on a real port; every check on. Bounded for CI: a fixed seed and a fixed number of
examples per operation, so a run is the same run every time (45-75 s a profile here).

Positive cases that deliver get a real PDF and a registered recipient, and client-side
idempotency keys of their own (tests/api/schemathesis_hooks.py says why); negative cases are
sent as generated. To explore further by hand: ST_MAX_EXAMPLES=200 ST_SEED=7 pytest this file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_pdf

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SEED = int(os.environ.get("ST_SEED", "20261201"))
MAX_EXAMPLES = int(os.environ.get("ST_MAX_EXAMPLES", "30"))


def test_every_generated_request_gets_an_answer_the_document_promises(live_server, demo, tmp_path):
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(make_pdf("Schemathesis"))
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "PORTAL_ST_AHVN13": demo["resident"]["ahvn13"],
        "PORTAL_ST_PDF": str(letter),
    }
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{live_server}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {demo['api_client']['api_key']}",
        "--checks",
        "all",
        "--mode",
        "all",  # positive and negative data
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "1",  # one request at a time: the embedded profile is one SQLite file
        "--request-timeout",
        "60",
        "--no-color",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = result.stdout + result.stderr
    summary = re.search(r"Test cases:\s*\n\s*(.+)", output)
    # Shown with -rP and kept in the JUnit report: how much was tried, and how long it took.
    print(output[output.find("Test Phases:") :])
    assert result.returncode == 0, output[-30_000:]
    assert summary is not None and " passed" in summary.group(1), output[-5_000:]
    assert "failed" not in summary.group(1) and "errored" not in summary.group(1), summary
