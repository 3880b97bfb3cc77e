"""Browser tests: the portal served on a real port, driven by Debian's chromium through Playwright.

One chromium per session; every test gets fresh contexts (separate cookies), one per person.
Screenshots for the documentation are written only with PORTAL_SCREENSHOTS=1 (see `shot`).
"""

from __future__ import annotations

import asyncio
import contextlib
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
    "--lang=de-CH",  # the browser's own widgets (the file button) in the portal's language
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


class Chromium:
    """The session's browser. Between tests Playwright's event loop is parked.

    Playwright's sync API marks its asyncio loop as running in the main thread between its
    calls (playwright/_impl/_greenlets.py, wait_for_future). Left so while the session browser
    lives, every later test in the same process that calls asyncio.run() in the main thread
    (pyHanko signing and validating, receipts as in-process jobs) fails with "asyncio.run()
    cannot be called from a running event loop". So the loop is marked running only while a
    browser test uses it (`in_use`), the way Playwright itself leaves it after a sync call.
    """

    def __init__(self, playwright: Any, browser: Any) -> None:
        self.playwright = playwright
        self.browser = browser
        self.loop = asyncio.events._get_running_loop()
        assert self.loop is not None, (
            "Playwright no longer marks its loop running: revisit Chromium"
        )
        self.park()

    @staticmethod
    def park() -> None:
        asyncio.events._set_running_loop(None)

    def resume(self) -> None:
        asyncio.events._set_running_loop(self.loop)

    @contextlib.contextmanager
    def in_use(self) -> Iterator[Any]:
        self.resume()
        try:
            yield self.browser
        finally:
            self.park()

    def close(self) -> None:
        self.resume()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()  # ends the loop, which marks it as no longer running
            self.park()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """One headless chromium for the whole session (launching costs ~0.7 s)."""
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
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:
        playwright.stop()
        Chromium.park()
        _unavailable(f"chromium at {CHROMIUM} does not start: {exc}")
    session_browser = Chromium(playwright, browser)
    try:
        yield session_browser
    finally:
        session_browser.close()


@pytest.fixture
def new_page(chromium: Chromium, live_server: str) -> Iterator[Callable[..., Any]]:
    """new_page(viewport=...) opens a page in a fresh context: its own cookies, one per person.

    Every answer of the server is watched: a 5xx anywhere fails the test.
    """
    contexts: list[Any] = []
    server_errors: list[str] = []

    with chromium.in_use() as browser:

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

        try:
            yield open_page
        finally:
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
