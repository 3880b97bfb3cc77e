"""Fixtures for the API tests: the demo's specialist application and one of another authority."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from directory.api_clients import create_api_client, create_api_key
from directory.operations import find_authority
from tests.api.support import Api


@pytest.fixture
def api(app, demo) -> Api:
    return Api(app.test_client(), demo["api_client"]["api_key"])


@pytest.fixture
def other_api(app, demo, runtime) -> Api:
    """A specialist application of another authority (the cantonal tax office)."""
    with runtime.transaction() as session:
        authority = find_authority(session, "lu-steuern")
        client = create_api_client(session, authority, "Steuerregister")
        _key, token = create_api_key(session, client)
    return Api(app.test_client(), token)


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The session's app on 127.0.0.1 and a free port, for clients that speak real HTTP (a
    generated client, schemathesis)."""
    from tests.support.live import serve

    with serve(app) as url:
        yield url
