"""The catalogue of API operations: routes, scopes and schemas declared once.

Each operation is registered on a blueprint together with the scope it needs
and the marshmallow schemas of its body and response; the OpenAPI document is
built from this catalogue, so what validates a request is what documents it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re

from flask import Blueprint, request
from marshmallow import Schema

from ..errors import ValidationFailed
from ..oauth import require_scope


@dataclasses.dataclass
class Operation:
    path: str
    method: str
    endpoint: str
    summary: str
    tag: str
    scopes: tuple[str, ...]
    body: type[Schema] | None
    response: type[Schema] | None
    status: int
    query: dict[str, str]
    many: bool


class ApiCatalogue:
    def __init__(self):
        self.operations: list[Operation] = []

    def blueprint(self, name: str, url_prefix: str) -> "ApiBlueprint":
        return ApiBlueprint(self, Blueprint(name, __name__, url_prefix=url_prefix))


class ApiBlueprint:
    def __init__(self, catalogue: ApiCatalogue, blueprint: Blueprint):
        self.catalogue = catalogue
        self.blueprint = blueprint

    def operation(self, rule: str, method: str, *, summary: str, tag: str, scopes: tuple[str, ...] = (),
                  body: type[Schema] | None = None, response: type[Schema] | None = None, status: int = 200,
                  query: dict[str, str] | None = None, many: bool = False):
        def decorator(view):
            checked = _known_query_only(view, frozenset(query or ()))
            wrapped = require_scope(*scopes)(checked) if scopes else checked
            self.blueprint.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
            self.catalogue.operations.append(Operation(
                path=(self.blueprint.url_prefix or "") + rule, method=method.lower(),
                endpoint=f"{self.blueprint.name}.{view.__name__}", summary=summary, tag=tag, scopes=scopes,
                body=body, response=response, status=status, query=query or {}, many=many,
            ))
            return wrapped

        return decorator


def _known_query_only(view, allowed: frozenset[str]):
    """``view``, refusing a query parameter the operation does not declare: a misspelt filter would
    otherwise be ignored, and the answer would look like the filtered one."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        unknown = sorted(set(request.args) - allowed)
        if unknown:
            takes = f"this route takes {', '.join(sorted(allowed))}" if allowed else "this route takes none"
            raise ValidationFailed("unknown query parameter(s)",
                                   fields={name: f"unknown query parameter; {takes}" for name in unknown})
        return view(*args, **kwargs)

    return checked


def json_body() -> object:
    """The request body parsed as JSON, or a clear error naming what is wrong with it."""
    raw = request.get_data(cache=True)
    if not raw:
        raise ValidationFailed("the request needs a JSON body", fields={"body": "empty"})
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8 text", fields={"body": "not UTF-8"}) from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            "the body is not valid JSON", fields={"body": f"{exc.msg} at line {exc.lineno} column {exc.colno}"}
        ) from None
    except RecursionError:
        raise ValidationFailed("the body nests too deeply", fields={"body": "nested too deeply"}) from None
    if _SURROGATE_ESCAPE.search(raw):  # rare: check that every \u escape made a character
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed("the body holds a \\u escape that is half of a character",
                                   fields={"body": "lone surrogate escape (\\ud800-\\udfff) outside a pair"}) from None
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def query_int_or_text(name: str, default: int | None) -> int | str | None:
    """A query parameter as an integer, or as the text given when it is none: the domain's check names it
    among the request's other bad filters."""
    value = request.args.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return value
