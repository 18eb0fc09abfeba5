"""The one JSON error shape, and the one place exceptions become HTTP responses.

Every error body is ``{"error": code, "message": text, "fields": {path: reason}}``.
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify
from werkzeug.exceptions import HTTPException

from .errors import NodeError

log = logging.getLogger("cordon.http")

STATUS = {
    "validation_failed": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "read_only_record": 409,
    "payload_too_large": 413,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers=None):
    response = jsonify({"error": code, "message": message, "fields": fields or {}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def install(app) -> None:
    @app.errorhandler(NodeError)
    def node_error(exc: NodeError):
        status = STATUS.get(exc.code, 500)
        headers = {"WWW-Authenticate": 'Bearer realm="cordon"'} if status == 401 else None
        return error_response(status, exc.code, exc.message, exc.fields, headers)

    app.register_error_handler(HTTPException, http_error)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error while handling a request")
        return error_response(500, "internal_error", "the node failed to handle this request; see its log")


def http_error(exc: HTTPException):
    """An HTTP error (no such route, wrong method, body too large ...) in the JSON error shape."""
    status = exc.code or 500
    code = HTTP_CODES.get(status, "http_error")
    message = exc.description or exc.name
    if status == 413:
        message = f"the request body is over the limit of {current_app.config.get('MAX_CONTENT_LENGTH')} bytes"
    elif status == 404:
        message = "no such route"
    elif status == 405:
        message = "this route does not accept that method"
    allow = exc.get_response().headers.get("Allow") if status == 405 else None
    return error_response(status, code, message, headers={"Allow": allow} if allow else None)
