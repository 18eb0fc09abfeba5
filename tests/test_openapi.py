"""The OpenAPI document covers every route of the app and is a valid OpenAPI 3 document."""

from __future__ import annotations

import re

import pytest
from conftest import sample_denial, sample_licence

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def documented_routes(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item
            if method in ("get", "put", "post", "patch", "delete")}


def app_routes(app, *, everything: bool = False) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not everything and not (rule.rule.startswith("/api/v1") or rule.rule == "/oauth/token"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods - IGNORED_METHODS}
    return routes


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_every_route_is_documented_with_its_method(app, document):
    routes = app_routes(app)
    assert ("/api/v1/denials", "POST") in routes and ("/oauth/token", "POST") in routes
    missing = routes - documented_routes(document)
    assert not missing, f"routes missing from openapi.json: {sorted(missing)}"


def test_nothing_documented_that_the_app_does_not_serve(app, document):
    served = app_routes(app, everything=True)
    extra = documented_routes(document) - served
    assert not extra, f"documented but not served: {sorted(extra)}"


def test_guarded_operations_declare_bearer_security_and_error_responses(app, document):
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
            continue
        for method, operation in item.items():
            assert operation.get("security") == [{"bearer": []}], (path, method)
            assert {"400", "401", "403"} <= set(operation["responses"]), (path, method)
            assert operation["operationId"], (path, method)
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), "operationId must be unique"


def test_path_parameters_are_declared(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([a-z_]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, method)


def test_request_schemas_are_the_ones_that_validate(client, bearer, document):
    """The documented request body lists exactly the fields the API accepts."""
    schemas = document["components"]["schemas"]
    denial_props = set(schemas["DenialInput"]["properties"])
    assert set(sample_denial()) <= denial_props
    assert "uid" not in denial_props and "version" not in denial_props
    assert set(schemas["DenialInput"]["required"]) >= {"ref", "regimes", "parties", "destination_country"}
    licence_props = set(schemas["LicenceInput"]["properties"])
    assert set(sample_licence()) <= licence_props
    pub = bearer("publish")
    unknown = sorted({"colour", "uid", "version"} - denial_props)
    for field in unknown:
        response = client.post("/api/v1/denials", json=sample_denial(**{field: "x"}), headers=pub)
        assert response.status_code == 400 and field in response.get_json()["fields"], field
    ok = client.post("/api/v1/denials", json={k: v for k, v in sample_denial().items() if k in denial_props},
                     headers=pub)
    assert ok.status_code == 201
    error = schemas["Error"]
    assert set(error["properties"]) == {"error", "message", "fields"}


def test_document_is_valid_openapi_3(document):
    validator = pytest.importorskip("openapi_spec_validator")
    assert document["openapi"].startswith("3.")
    validator.validate(document)


def test_document_needs_no_token_and_is_stable(client):
    first = client.get("/api/v1/openapi.json").get_data()
    second = client.get("/api/v1/openapi.json").get_data()
    assert first == second
