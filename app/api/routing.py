"""GET /api/v1/routing: which authority is responsible for a service in a commune. Public and
read-only (no key), so that other portals and specialist applications use the same rules."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from app.api import bp
from app.api.problems import ApiProblem, ValidationFailed
from app.web import db
from catalogue import registry
from catalogue.routing import NotRoutable, route_for_commune
from directory.routing import get_commune

PARAMETERS = ("service", "bfs", "step")
SLUG = "^[a-z][a-z0-9-]{1,62}$"
NAME = "^[a-z][a-z0-9_]{0,62}$"


def _not_found(detail: str, code: str = "not_found") -> ApiProblem:
    return ApiProblem(404, "Not Found", detail, code=code)


def _arguments() -> tuple[str, int, str | None]:
    problems = [(name, "is not a known query parameter") for name in sorted(request.args)
                if name not in PARAMETERS]  # fmt: skip
    # ?bfs=1061&bfs=1024: answering for the first would answer a question not asked.
    problems += [(name, "is given more than once") for name in PARAMETERS
                 if len(request.args.getlist(name)) > 1]  # fmt: skip
    service_id = request.args.get("service")
    bfs_text = request.args.get("bfs")
    step_id = request.args.get("step")
    if service_id is None:
        problems.append(("service", "is required: the id of a service of the catalogue"))
    elif not re.fullmatch(SLUG, service_id):
        problems.append(("service", "must be a service id such as wohnsitzbestaetigung"))
    if bfs_text is None:
        problems.append(("bfs", "is required: the BFS number of a commune"))
    elif not re.fullmatch(r"[0-9]{1,4}", bfs_text) or int(bfs_text) == 0:
        problems.append(("bfs", "must be a BFS number from 1 to 9999"))
    if step_id is not None and not re.fullmatch(NAME, step_id):
        problems.append(("step", "must be a step id of the service"))
    if problems:
        raise ValidationFailed(problems)
    assert service_id is not None and bfs_text is not None
    return service_id, int(bfs_text), step_id


@bp.get("/routing", endpoint="routing")
def routing() -> dict[str, Any]:
    service_id, bfs, step_id = _arguments()
    service = registry.default().get(service_id)
    if service is None:
        raise _not_found(f"There is no service '{service_id}' in the catalogue.")
    step = None
    if step_id is not None:
        step = next((s for s in service.steps if s.id == step_id), None)
        if step is None:
            raise _not_found(f"The service '{service_id}' has no step '{step_id}'.")
    session = db()
    commune = get_commune(session, bfs)
    if commune is None:
        raise _not_found(f"There is no commune with BFS number {bfs} in the portal.")
    try:
        authority = route_for_commune(session, service, bfs, step)
    except NotRoutable as error:
        raise _not_found(str(error), code="not_routable") from None
    return {
        "service": service.id,
        "commune": {"bfs": commune.bfs, "name": commune.name},
        "authority": {
            "id": str(authority.id),
            "slug": authority.slug,
            "name": authority.name,
            "level": authority.level.value,
        },
    }


def _query(name: str, description: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


# The operation and its answer's shape, merged into the document by app/api/openapi.py.
PATHS: dict[str, Any] = {
    "/routing": {
        "get": {
            "operationId": "routeService",
            "summary": "Which authority is responsible for a service in a commune",
            "description": "Public and read-only: no API key needed. The rules are the "
            "catalogue's (the resident's commune, a regional office by table, or a fixed "
            "office). 404 when the service, the step or the commune is unknown, or when no "
            "office is recorded for it there (code not_routable).",
            "security": [],
            "parameters": [
                _query(
                    "service",
                    "A service id of the catalogue",
                    {"type": "string", "pattern": SLUG},
                    True,
                ),
                _query(
                    "bfs",
                    "The commune's official BFS number",
                    {"type": "integer", "minimum": 1, "maximum": 9999},
                    True,
                ),
                _query(
                    "step",
                    "A step of the service that has its own office (optional)",
                    {"type": "string", "pattern": NAME},
                    False,
                ),
            ],
            "responses": {
                "200": {
                    "description": "The responsible authority",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Routing"}}
                    },
                },
                **{
                    str(s): {"$ref": f"#/components/responses/Problem{s}"}
                    for s in (404, 405, 422, 503)
                },
            },
        }
    }
}
SCHEMAS: dict[str, Any] = {
    "Routing": {
        "type": "object",
        "required": ["service", "commune", "authority"],
        "additionalProperties": False,
        "properties": {
            "service": {"type": "string"},
            "commune": {
                "type": "object",
                "required": ["bfs", "name"],
                "additionalProperties": False,
                "properties": {"bfs": {"type": "integer"}, "name": {"type": "string"}},
            },
            "authority": {
                "type": "object",
                "required": ["id", "slug", "name", "level"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "slug": {"type": "string"},
                    "name": {"type": "string"},
                    "level": {
                        "type": "string",
                        "enum": ["commune", "canton", "federal", "company"],
                    },
                },
            },
        },
    }
}
