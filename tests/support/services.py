"""Throwaway services for the `services` test profile: PostgreSQL database, Redis, S3, worker.

Each is taken from an environment variable when given, otherwise started from local binaries.
When neither works the tests skip with the reason, unless PORTAL_REQUIRE_SERVICES=1 (CI), where
that is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

REQUIRE = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(f"service unavailable (set it up or see README): {reason}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_database() -> tuple[str, Callable[[], None]]:
    """A fresh database on the PostgreSQL server; dropped again by the returned function."""
    import psycopg

    admin = os.environ.get("PORTAL_TEST_POSTGRES", "postgresql://127.0.0.1:5432/postgres")
    name = f"portal_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {admin}: {exc}")
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def redis_server(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A private redis-server on a free port, or the one PORTAL_TEST_REDIS_URL names."""
    given = os.environ.get("PORTAL_TEST_REDIS_URL")
    if given:
        return given, lambda: None
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed and PORTAL_TEST_REDIS_URL is not set")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_port(port, proc)

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return url, stop


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            unavailable(f"process on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    unavailable(f"nothing listens on port {port} after {timeout}s")


def portal_executable() -> str:
    """The installed `portal` console script of this virtualenv."""
    candidate = Path(sys.executable).parent / "portal"
    if not candidate.exists():
        pytest.fail("the `portal` console script is not installed (pip install -e .)")
    return str(candidate)


def start_worker(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """`portal worker`, run from another directory, like an operator would."""
    full_env = {**os.environ, **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [portal_executable(), "worker"],
            env=full_env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
