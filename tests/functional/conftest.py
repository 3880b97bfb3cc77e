"""Residents logged in over HTTP, shared by the ordering tests."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import login


@pytest.fixture
def anna(app: Any, demo: dict[str, Any]) -> FlaskClient:
    """Anna Muster, living in Luzern (BFS 1061)."""
    client = app.test_client()
    login(client, demo["resident"])
    return client


@pytest.fixture
def beat(app: Any, demo: dict[str, Any]) -> FlaskClient:
    """Beat Beispiel, living in Emmen (BFS 1024)."""
    client = app.test_client()
    login(client, demo["other_resident"])
    return client
