"""A specialist application's mass mailing as a careful client sends it: batches through
`POST /api/v1/deliveries/batch`, each item with its own idempotency key, and a batch that failed
sent again with the same keys: after its Retry-After on a 503, after a pause on a connection
that broke. Everything the client saw is counted, for the fault suite and `bench/faults.py`.

Also a resident who opens letters in the browser (what makes the portal issue receipts).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PATH = "/api/v1/deliveries/batch"
BROKEN_PAUSE = 0.5  # seconds before a batch whose connection broke is sent again
DONE = {201}  # an item's status once delivered (a replay of an earlier answer is 201 too)


@dataclass
class ClientReport:
    statuses: Counter[int] = field(default_factory=Counter)  # HTTP status of every answer
    items: Counter[int] = field(default_factory=Counter)  # status of every item answered
    connection_errors: int = 0  # no answer: refused, reset, closed mid-request
    without_retry_after: int = 0  # 503 answers that did not say when to come back
    unexpected: list[str] = field(default_factory=list)  # answers other than 200 and 503
    accepted: int = 0  # batches whose every item was delivered
    replayed: int = 0  # items answered from an earlier attempt's stored answer
    finished_at: float = 0.0  # time.monotonic() of the last batch accepted


class Mailing:
    """Sends `bodies` over `clients` connections until every item of each is delivered."""

    def __init__(self, base_url: str, api_key: str, bodies: list[bytes], clients: int = 2) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.bodies = bodies
        self.clients = clients
        self.report = ClientReport()
        self._lock = threading.Lock()
        self._next = 0
        self._progress = threading.Condition(self._lock)

    def run(self, timeout: float) -> ClientReport:
        deadline = time.monotonic() + timeout
        threads = [
            threading.Thread(target=self._client, args=(deadline,), name=f"mailing-{n}")
            for n in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.report.accepted < len(self.bodies):
            raise TimeoutError(
                f"{self.report.accepted} of {len(self.bodies)} batches after {timeout} s: "
                f"{self.report}"
            )
        return self.report

    def wait_accepted(self, batches: int, timeout: float = 120) -> None:
        """Until `batches` batches are accepted (a fault starts mid-run)."""
        with self._progress:
            if not self._progress.wait_for(lambda: self.report.accepted >= batches, timeout):
                raise TimeoutError(f"{batches} batches not accepted within {timeout} s")

    def probe(self, body: bytes) -> str:
        """Send `body` once, outside the mailing; what came back, e.g. "503 Retry-After: 5"."""
        try:
            status, retry_after, _ = self._post(body)
        except (OSError, http.client.HTTPException) as error:
            return f"connection error: {error!r}"
        return f"{status} Retry-After: {retry_after}"

    def _client(self, deadline: float) -> None:
        while True:
            with self._lock:
                index, self._next = self._next, self._next + 1
            if index >= len(self.bodies):
                return
            self._send_until_done(self.bodies[index], deadline)
            with self._progress:
                self.report.accepted += 1
                self.report.finished_at = time.monotonic()
                self._progress.notify_all()

    def _send_until_done(self, body: bytes, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                status, retry_after, payload = self._post(body)
            except (OSError, http.client.HTTPException):
                # The web worker died mid-request, or nothing listened: send it again.
                with self._lock:
                    self.report.connection_errors += 1
                time.sleep(BROKEN_PAUSE)
                continue
            with self._lock:
                self.report.statuses[status] += 1
            if status == 200 and self._take(payload):
                return
            if status == 503:
                if retry_after is None:
                    with self._lock:
                        self.report.without_retry_after += 1
                time.sleep(float(retry_after or 1))
                continue
            if status != 200:
                with self._lock:
                    self.report.unexpected.append(f"{status}: {payload[:300]!r}")
            time.sleep(1)  # an item not delivered yet (a key another request holds): later

    def _take(self, payload: bytes) -> bool:
        """Count the items' answers; whether every item is delivered."""
        results = json.loads(payload)["results"]
        with self._lock:
            for result in results:
                self.report.items[result["status"]] += 1
                self.report.replayed += bool(result.get("replayed"))
                if result["status"] not in DONE | {409, 503}:
                    self.report.unexpected.append(f"item {result['status']}: {result}")
        return all(result["status"] in DONE for result in results)

    def _post(self, body: bytes) -> tuple[int, str | None, bytes]:
        # A connection per request: gunicorn's sync workers close each one anyway.
        conn = http.client.HTTPConnection(self.host, self.port, timeout=180)
        try:
            conn.request("POST", PATH, body=body, headers=self.headers)
            answer = conn.getresponse()
            return answer.status, answer.getheader("Retry-After"), answer.read()
        finally:
            conn.close()


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Resident:
    """A resident in a browser: a login session (cookies) on the portal at `base_url`."""

    def __init__(self, base_url: str, login: str, password: str) -> None:
        self.base_url = base_url
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        token = self._token("/login")
        self._post("/login", {"login": login, "password": password, "csrf_token": token})

    def open_letter(self, delivery_id: str) -> None:
        """Open the letter, as the button on its page does: that delivers it, legally."""
        page = f"/messages/{delivery_id}"
        self._post(f"{page}/open", {"csrf_token": self._token(page)})

    def _token(self, path: str) -> str:
        with self._opener.open(self.base_url + path, timeout=30) as answer:
            found = _CSRF.search(answer.read().decode())
        if found is None:
            raise AssertionError(f"no form on {path}")
        return found.group(1)

    def _post(self, path: str, form: dict[str, str]) -> None:
        data = urllib.parse.urlencode(form).encode()
        # Redirects are followed; an error status raises urllib's HTTPError.
        with self._opener.open(self.base_url + path, data=data, timeout=30) as answer:
            answer.read()
