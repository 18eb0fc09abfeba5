"""``/api/v1/audit``: the audit trail, for administrators."""

from __future__ import annotations

from flask import current_app, jsonify, request

from ..audit import AuditLog
from ..errors import ValidationFailed
from ..record_table import page_problems
from ..schemas import AuditPage
from .catalogue import ApiCatalogue, query_int_or_text


def register(catalogue: ApiCatalogue):
    api = catalogue.blueprint("audit", "/api/v1/audit")

    @api.operation("", "GET", summary="Audit entries in order, after a sequence number", tag="audit",
                   scopes=("admin",), response=AuditPage,
                   query={"after": "sequence number to start after (default 0)", "limit": "1-1000",
                          "action": "e.g. denial.create", "actor": "client id or user", "target": "record uid"})
    def list_audit():
        limit, after = query_int_or_text("limit", 100), query_int_or_text("after", 0)
        problems = page_problems(limit, None, max_limit=1000)
        if type(after) is not int or after < 0:
            problems["after"] = "must be a whole number, 0 or more"
        if problems:
            raise ValidationFailed("invalid audit filter", fields=problems)
        log = AuditLog(current_app.extensions["cordon"].db())
        items = log.entries(after=after, limit=limit, action=request.args.get("action"),
                            actor=request.args.get("actor"), target=request.args.get("target"))
        next_cursor = str(items[-1]["seq"]) if len(items) == limit else None
        return jsonify({"items": items, "next_cursor": next_cursor})

    @api.operation("/verify", "GET", summary="Check the audit hash chain", tag="audit", scopes=("admin",))
    def verify_audit():
        report = AuditLog(current_app.extensions["cordon"].db()).verify()
        return jsonify({"ok": report.ok, "entries": report.entries, "problems": report.problems})

    return api.blueprint
