"""For operators: /healthz, /readyz and /metrics.

- `/healthz`: the process answers. Nothing else is touched, so a restart is never ordered
  because a dependency is away.
- `/readyz`: the database, the object store and Redis (when configured) each answer within
  PORTAL_OPS_TIMEOUT seconds: 200, else 503 naming the part that did not, so that a load
  balancer sends no requests meanwhile.
- `/metrics`: Prometheus' text format, only for `Authorization: Bearer <PORTAL_METRICS_TOKEN>`.
  Without that setting it does not exist (404): the figures (endpoints, volumes, queue depths)
  are nobody's business on the internet, and a token works behind any proxy, where a list of
  client addresses would depend on how many proxies set X-Forwarded-For.

None of them needs a login or opens the request's transaction (app/web.py `db()`): a database
that is away must make /readyz say so, not turn its answer into an error page.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app import web
from app.metrics import (
    ENDPOINT_KEY,
    HttpMetrics,
    ScrapeCollector,
    multiprocess_dir,
    multiprocess_registry,
)
from app.probes import Probes

bp = Blueprint("ops", __name__)
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class _State:
    registry: CollectorRegistry  # this process's request figures (single-process mode)
    multiprocess_dir: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    probes: Probes | None = None


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    http = HttpMetrics(registry)
    # Around everything else, so that error pages and unmatched URLs are counted as well.
    app.wsgi_app = http.wrap(app.wsgi_app)  # type: ignore[method-assign]
    app.teardown_request(_name_endpoint)
    state = _State(registry, multiprocess_dir())
    if state.multiprocess_dir is None:
        registry.register(ScrapeCollector(_probes))
    app.extensions["portal_ops"] = state
    app.register_blueprint(bp)


def _name_endpoint(_error: BaseException | None) -> None:
    # Teardown runs for every request, answered or failed; a URL that matched no rule is
    # "unmatched", never its path (ids in labels would make a series per case file).
    rule = request.url_rule
    request.environ[ENDPOINT_KEY] = rule.endpoint if rule is not None else "unmatched"


def _probes() -> Probes:
    """The probes of the app's runtime (asked each time: tests may give the app another)."""
    state: _State = current_app.extensions["portal_ops"]
    runtime = web.runtime()
    with state.lock:
        if state.probes is None or state.probes.runtime is not runtime:
            state.probes = Probes(runtime, runtime.config.ops_timeout)
        return state.probes


@bp.get("/healthz")
def healthz() -> tuple[Response, int, dict[str, str]]:
    return jsonify(status="ok"), 200, _NO_STORE


@bp.get("/readyz")
def readyz() -> tuple[Response, int, dict[str, str]]:
    probes = _probes()
    looks = {"database": probes.check_database, "objects": probes.check_objects}
    if probes.runtime.config.redis_url:
        looks["redis"] = probes.check_redis
    # Named apart from the scrape's looks: a look still running is shared only by the same look.
    outcomes = probes.run({f"ready-{name}": look for name, look in looks.items()})
    parts = {}
    for name in looks:
        outcome = outcomes[f"ready-{name}"]
        parts[name] = "ok" if outcome.ok else f"unreachable: {outcome.error}"
    ready = all(answer == "ok" for answer in parts.values())
    return jsonify(parts), 200 if ready else 503, _NO_STORE


@bp.get("/metrics")
def metrics() -> Response:
    token = web.runtime().config.metrics_token
    if not token:
        return Response("Not Found\n", 404, mimetype="text/plain")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        challenge = {"WWW-Authenticate": 'Bearer realm="metrics"', **_NO_STORE}
        return Response("Unauthorized\n", 401, challenge, mimetype="text/plain")
    state: _State = current_app.extensions["portal_ops"]
    registry = state.registry
    if state.multiprocess_dir is not None:
        registry = multiprocess_registry(state.multiprocess_dir)
        registry.register(ScrapeCollector(_probes))
    return Response(generate_latest(registry), 200, _NO_STORE, content_type=CONTENT_TYPE_LATEST)
