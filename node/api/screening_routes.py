"""``/api/v1/screen``: screen parties against every denial this node can see, optionally asking peers live."""

from __future__ import annotations

from flask import current_app, g, jsonify
from marshmallow import Schema, fields

from ..errors import ValidationFailed
from ..oauth import READ_SCOPES
from ..party_names import pending
from ..screening_service import audit_screening, parse_parties
from .catalogue import ApiCatalogue, json_body


class ScreenParty(Schema):
    name = fields.String(metadata={"description": "one name, any script (or names, not both)"})
    names = fields.List(fields.String(), metadata={"description": "several names of the same party (instead of name)"})
    country = fields.String(metadata={"description": "ISO 3166-1 alpha-2"})
    identifiers = fields.List(fields.Dict(), metadata={"description": "[{scheme, value}], e.g. LEI"})


class ScreenRequest(ScreenParty):
    parties = fields.List(fields.Nested(ScreenParty), metadata={"description": "a batch of parties; not with name or names (refused, never half-screened)"})
    threshold = fields.Float(metadata={"description": "0.3-1.0; default from docs/screening.md"})
    include_inactive = fields.Boolean(metadata={"description": "also show revoked and expired denials"})
    live = fields.Boolean(metadata={"description": "also ask every peer, in parallel"})
    limit = fields.Integer(metadata={"description": "hits per party, 1-50 (default 10)"})


class ScreenResponse(Schema):
    threshold = fields.Float()
    results = fields.List(fields.Dict())
    pending_names = fields.Integer()
    live = fields.Dict()


def option(body: dict, name: str, kind, default):
    value = body.get(name, default)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValidationFailed(f"{name} has the wrong type", fields={name: f"expected {kind.__name__}"})
    return value


def register(catalogue: ApiCatalogue):
    api = catalogue.blueprint("screening", "/api/v1")

    @api.operation("/screen", "POST", summary="Screen one party or a batch against every denial this node can see",
                   tag="screening", scopes=READ_SCOPES, body=ScreenRequest, response=ScreenResponse)
    def screen():
        body = json_body()
        if not isinstance(body, dict):
            raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
        known = set(ScreenRequest().fields)
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValidationFailed("unknown field(s)", fields={k: "unknown field" for k in unknown})
        problems: dict[str, str] = {}  # every bad field is named at once

        def checked(name, kind, default):
            try:
                return option(body, name, kind, default)
            except ValidationFailed as exc:
                problems.update(exc.fields)
                return default

        threshold = checked("threshold", float, None)
        if threshold is not None and not 0.3 <= threshold <= 1.0:
            problems["threshold"] = "must be between 0.3 and 1.0"
        limit = checked("limit", int, 10)
        if not 1 <= limit <= 50:
            problems["limit"] = "must be between 1 and 50"
        include_inactive = checked("include_inactive", bool, False)
        live = checked("live", bool, False)
        try:
            parties = parse_parties(body)
        except ValidationFailed as exc:
            problems.update(exc.fields)
        if problems:
            raise ValidationFailed("the screening request has bad fields", fields=problems)
        runtime = current_app.extensions["cordon"]
        service = runtime.extension("screening")
        db = runtime.db()
        results = service.screen(db, parties, threshold=threshold, include_inactive=include_inactive, limit=limit)
        answer = {
            "threshold": results and results[0] and results[0][0]["threshold"] or threshold or service_threshold(),
            "results": [{"query": {"names": p.names, "country": p.country}, "hits": hits}
                        for p, hits in zip(parties, results)],
            "pending_names": pending(db),
        }
        if live:
            answer["live"] = current_app.extensions["cordon_live_query"].ask(parties, threshold=threshold,
                                                                             actor=g.actor)
        audit_screening(db, g.actor, parties, results, bool(answer.get("live")))
        return jsonify(answer)

    return api.blueprint


def service_threshold() -> float:
    from ..screening import DEFAULT_THRESHOLD

    return DEFAULT_THRESHOLD
