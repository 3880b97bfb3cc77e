"""Browser tests: the portal served on a real port, driven by Debian's chromium through Playwright.

One chromium per session; every test gets fresh contexts (separate cookies), one per person.
Screenshots for the documentation are written only with PORTAL_SCREENSHOTS=1 (see `shot`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
REQUIRE = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest hook sees the whole session's items: mark only this folder's.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"BROWSER TESTS SKIPPED: {reason}")


class _QuietHandler(WSGIRequestHandler):
    """No access log per request: the test output stays readable."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The session's app on 127.0.0.1 and a free port, served by a background thread."""
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(
            f"{CHROMIUM} is missing (apt-get install -y chromium; never `playwright install`)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright is not installed ({exc}); pip install -e '.[test]'")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:
        playwright.stop()
        _unavailable(f"chromium at {CHROMIUM} does not start: {exc}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def new_page(browser: Any, live_server: str) -> Iterator[Callable[..., Any]]:
    """new_page(viewport=...) opens a page in a fresh context: its own cookies, one per person.

    Every answer of the server is watched: a 5xx anywhere fails the test.
    """
    contexts: list[Any] = []
    server_errors: list[str] = []

    def open_page(viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(
            base_url=live_server,
            viewport=viewport or DESKTOP,
            locale="de-CH",
            timezone_id="Europe/Zurich",
            accept_downloads=True,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "response",
            lambda r: server_errors.append(f"{r.status} {r.url}") if r.status >= 500 else None,
        )
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not server_errors, f"the server answered with errors: {server_errors}"


@pytest.fixture
def shot() -> Callable[[Any, str], None]:
    """shot(page, "inbox") saves docs/screenshots/inbox.png, only when PORTAL_SCREENSHOTS=1."""
    enabled = os.environ.get("PORTAL_SCREENSHOTS") == "1"

    def take(page: Any, name: str) -> None:
        if enabled:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
