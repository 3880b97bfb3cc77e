"""The installed `portal` command and a worker load *our* `mailbox`, not the standard library's,
from any directory (DESIGN.md, "The mailbox name"); migrations go up and down on both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from app.migrate import downgrade, upgrade
from tests.support.services import portal_executable

ROOT = Path(__file__).resolve().parents[2]


def test_installed_portal_imports_our_mailbox_from_elsewhere(tmp_path, runtime):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    result = subprocess.run(
        [portal_executable(), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "worker" in result.stdout and "verify" in result.stdout
    # The console script's interpreter, started the way it starts, sees our package.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import app; import mailbox; "
            "print(mailbox.__file__); "
            "from mailbox.models import Delivery; print(Delivery.__name__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [str(ROOT / "mailbox" / "__init__.py"), "Delivery"]


def test_worker_process_runs_our_mailbox_jobs(tmp_path, runtime):
    # What an rq worker does with a job: import the function by its dotted path, from elsewhere.
    # (In the services profile the core-loop test also has a real `portal worker` do it.)
    code = (
        "import app; from storage.jobs import resolve; "
        "f = resolve('mailbox.jobs.issue_receipt'); print(f.__module__, f.__code__.co_filename)"
    )
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mailbox.jobs", str(ROOT / "mailbox" / "jobs.py")]


def test_migrations_downgrade_to_base_and_upgrade_again(runtime):
    engine = runtime.engine
    upgrade(engine)
    assert "journal_entries" in inspect(engine).get_table_names()
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {"case_files", "journal_entries", "deliveries", "blobs"} <= set(
        inspect(engine).get_table_names()
    )


def test_the_migrations_build_the_schema_the_models_describe(runtime):
    """A model changed without its migration (or the reverse) shows up here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.db import Base

    upgrade(runtime.engine)
    with runtime.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_message_documents_get_their_position_and_lose_it_again(runtime):
    engine = runtime.engine
    downgrade(engine, "e59c7610e311")
    assert "position" not in {c["name"] for c in inspect(engine).get_columns("message_documents")}
    upgrade(engine)
    columns = {c["name"]: c for c in inspect(engine).get_columns("message_documents")}
    assert columns["position"]["nullable"] is False
