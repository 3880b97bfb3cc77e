"""The API's description: valid OpenAPI 3.1, public, and in step with the routes."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.api.support import API


def test_openapi_document_validates_and_needs_no_key(app):
    response = app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for name in ("DeliveryMetadata", "Delivery", "Problem", "BatchRequest", "BatchResponse"):
        assert name in spec["components"]["schemas"]


def test_every_route_is_described(app):
    spec = app.test_client().get(f"{API}/openapi.json").get_json()
    described = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routed = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API)), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API) and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed == described
