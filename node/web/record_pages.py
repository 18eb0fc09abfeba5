"""Licences with their customs write-off history, peers with their sync state, and the audit trail."""

from __future__ import annotations

from flask import render_template, request

from ..audit import AuditLog
from ..errors import ValidationFailed
from ..licences import LicenceRegistry
from ..peers import PeerRegistry
from ..schemas import LICENCE_STATUSES
from . import access

PAGE_SIZE = 25
AUDIT_PAGE = 50


def licence_registry() -> LicenceRegistry:
    runtime = access.runtime()
    return LicenceRegistry(runtime.db(), runtime.node_id)


def write_offs(number: str, cursor: str | None) -> dict:
    """The licence's customs write-off history, newest first, with a summary per line."""
    from ..customs_reports import CheckReports

    runtime = access.runtime()
    return CheckReports(runtime.db(), runtime.node_id).history(number, actor=access.actor(), cursor=cursor,
                                                               limit=PAGE_SIZE)


def peer_rows() -> list[dict]:
    runtime = access.runtime()
    db = runtime.db()
    registry = PeerRegistry(db, runtime.node_id)
    states = registry.states()
    rows = []
    for peer in registry.active():
        state = states.get(peer.node_id, {})
        depth, oldest = db.execute("SELECT count(*), min(at) FROM changes WHERE seq > ?",
                                   [state.get("push_cursor") or 0]).fetchone()
        failing = (state.get("failures") or 0) + (state.get("pull_failures") or 0)
        rows.append({"peer": peer, "state": state, "outbox": depth, "oldest": oldest,
                     "health": "failing" if failing else ("in sync" if not depth else "sending")})
    return rows


def register(pages) -> None:
    @pages.route("/licences")
    @access.requires(*access.LICENCES)
    def licences():
        status = (request.args.get("status") or "").strip()
        errors, items, cursor = {}, [], None
        try:
            items, cursor = licence_registry().list(actor=access.actor(), status=status or None,
                                                    cursor=request.args.get("cursor") or None, limit=PAGE_SIZE)
        except ValidationFailed as exc:
            errors = exc.fields
        return render_template("ui/licences.html", title="Licences", items=items, next_cursor=cursor,
                               status=status, statuses=LICENCE_STATUSES, errors=errors,
                               paged=bool(request.args.get("cursor"))), 400 if errors else 200

    @pages.route("/licences/<path:number>")
    @access.requires(*access.LICENCES)
    def licence(number):
        doc = licence_registry().get(number, actor=access.actor())
        history = write_offs(number, request.args.get("cursor") or None)
        return render_template("ui/licence.html", title=f"Licence {doc['number']}", doc=doc, history=history)

    @pages.route("/peers")
    @access.requires(*access.PEERS)
    def peers():
        return render_template("ui/peers.html", title="Peers", rows=peer_rows())

    @pages.route("/audit")
    @access.requires(*access.AUDIT)
    def audit():
        args = request.args
        filters = {name: (args.get(name) or "").strip() for name in ("action", "actor", "target")}
        log = AuditLog(access.runtime().db())
        try:
            after = max(0, int(args.get("after") or 0))
        except ValueError:
            after = 0
        # Unfiltered, the latest entries, with earlier pages before them; filtered, the first matches, with
        # later pages after them (entries are paged forward only).
        latest = "after" not in args and not any(filters.values())
        entries = log.entries(after=after, limit=AUDIT_PAGE, latest=latest,
                              **{k: v or None for k, v in filters.items()})
        if latest and entries:
            after = entries[0]["seq"] - 1
        report = log.verify() if args.get("verify") == "1" else None
        more = not latest and len(entries) == AUDIT_PAGE
        return render_template("ui/audit.html", title="Audit trail", entries=entries, filters=filters,
                               after=after, next_after=entries[-1]["seq"] if more else None,
                               previous_after=max(0, after - AUDIT_PAGE) if after and not any(filters.values()) else None,
                               report=report)
