"""The OpenAPI 3 document of the whole API, built from the operation catalogue and its schemas."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import jsonify

from ..schemas import ErrorBody
from .catalogue import ApiCatalogue

ERRORS = {
    "400": "invalid input: the body names each field and reason",
    "401": "missing, invalid or expired bearer token",
    "403": "the token lacks the scope",
    "404": "no such record",
    "409": "conflict: duplicate key, stale version or illegal state change",
    "413": "body over the size limit",
}


def openapi_path(rule: str) -> tuple[str, list[str]]:
    names = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule), names


def build_document(catalogue: ApiCatalogue, version: str, extra_paths: dict | None = None) -> dict:
    spec = APISpec(
        title="Cordon node API", version=version, openapi_version="3.0.3", plugins=[MarshmallowPlugin()],
        info={"description": "Local API of one Cordon node. Authenticate with OAuth 2.0 client credentials "
                             "at POST /oauth/token and send the bearer token."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorBody)
    registered = set()
    paths: dict[str, dict] = {}
    for op in catalogue.operations:
        path, names = openapi_path(op.path)
        operation = {
            "summary": op.summary,
            "operationId": op.endpoint.replace(".", "_"),
            "tags": [op.tag],
            "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
            + [{"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
               for n, d in op.query.items()],
            "responses": {str(op.status): {"description": "success"}},
        }
        if op.scopes:
            operation["security"] = [{"bearer": []}]
            operation["description"] = "Scopes (any one): " + ", ".join(op.scopes)
        for schema in (op.body, op.response):
            if schema is not None and schema.__name__ not in registered:
                spec.components.schema(schema.__name__, schema=schema)
                registered.add(schema.__name__)
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}}}
        if op.response is not None:
            ref = {"$ref": f"#/components/schemas/{op.response.__name__}"}
            body = {"type": "object", "properties": {"items": {"type": "array", "items": ref}}} if op.many else ref
            operation["responses"][str(op.status)]["content"] = {"application/json": {"schema": body}}
        for code, text in ERRORS.items():
            operation["responses"].setdefault(code, {"description": text, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}})
        paths.setdefault(path, {})[op.method] = operation
    for path, operations in {**paths, **(extra_paths or {})}.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


TOKEN_PATH = {
    "/oauth/token": {"post": {
        "summary": "Issue a bearer token (OAuth 2.0 client credentials, RFC 6749 section 4.4)",
        "operationId": "oauth_token", "tags": ["auth"],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["grant_type"], "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "scope": {"type": "string"}, "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}}}},
        "responses": {"200": {"description": "access_token, token_type, expires_in, scope"},
                      "400": {"description": "bad grant", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Error"}}}},
                      "401": {"description": "bad client credentials", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/healthz": {"get": {"summary": "Liveness: answers without a token and reveals no data",
                         "operationId": "healthz", "tags": ["health"],
                         "responses": {"200": {"description": "{\"status\": \"ok\"}"}}}},
    "/api/v1/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "tags": ["meta"],
                                     "responses": {"200": {"description": "OpenAPI 3 document"}}}},
}


def document_view(catalogue: ApiCatalogue, version: str):
    cache: dict = {}

    def openapi():
        if "doc" not in cache:
            cache["doc"] = build_document(catalogue, version, TOKEN_PATH)
        return jsonify(cache["doc"])

    return openapi
