"""The node's web pages for its own users, server-rendered under ``/ui``.

``install(app)`` sets up server-side sessions (:mod:`node.web_sessions`),
registers the ``ui`` blueprint and the template globals every page uses
(``csrf_token()``, ``current_user()``, ``may(*roles)``, ``node``, ``nav``).
Pages need a signed-in user (``cordon users create``) whose role allows them
(:mod:`node.web.access`); every POST form carries the session's CSRF token;
every write is audited with the actor ``user:<name>``.

    /ui/login, /ui/logout                    sign in and out
    /ui/                                     start page: what your role can do
    /ui/denials[/new|/<uid>[/amend|/revoke]] denials: list, detail and history, publish, amend, revoke
    /ui/screen                               screening with explained hits, optionally asking peers live
    /ui/consultations[/<uid>]                consultation inbox and outbox, thread, reply
    /ui/licences[/<number>]                  licences and their customs write-off history
    /ui/peers                                peers and their sync state
    /ui/audit                                the audit trail (admin)

Templates live in ``node/templates/`` (``layout.html`` and ``ui/``), the
stylesheet in ``node/static/cordon.css``. Pages use no JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, make_response, redirect, request, url_for

from ..error_responses import http_error
from ..timestamps import parse_iso
from ..web_sessions import CSRF_FIELD, csrf_token, install_sessions
from . import access

NAV = (
    ("Denials", "ui.denials", access.READ),
    ("Publish", "ui.publish", access.PUBLISH),
    ("Screening", "ui.screen", access.READ),
    ("Consultations", "ui.consultations", access.CONSULTATIONS),
    ("Licences", "ui.licences", access.LICENCES),
    ("Peers", "ui.peers", access.PEERS),
    ("Audit trail", "ui.audit", access.AUDIT),
)


def blueprint() -> Blueprint:
    from . import auth_pages, consultation_pages, denial_pages, record_pages, screening_pages

    pages = Blueprint("ui", __name__, url_prefix="/ui")
    pages.before_request(access.check_request)
    pages.after_request(access.secure_headers)
    access.install_errors(pages)
    for module in (auth_pages, denial_pages, screening_pages, consultation_pages, record_pages):
        module.register(pages)
    return pages


PAGE_ERRORS = {
    404: ("Not found", "There is no such page on this node. Use the menu, or go back to the start page."),
    405: ("Not allowed", "This page cannot be used that way. Use the menu, or go back to the start page."),
}


def not_a_page(exc):
    """No such route, or not with this method: a page under ``/ui`` (a person with a browser asked), the JSON
    error shape elsewhere."""
    if request.path == "/ui" or request.path.startswith("/ui/"):
        response = make_response(access.refusal(exc.code, *PAGE_ERRORS[exc.code]))
        if exc.code == 405:
            response.headers["Allow"] = exc.get_response().headers.get("Allow", "")
        return access.secure_headers(response)
    return http_error(exc)


def nav_items() -> list[dict]:
    user = access.current_user()
    if user is None:
        return []
    items = [{"label": label, "endpoint": endpoint} for label, endpoint, roles in NAV
             if user["role"] in roles and endpoint in current_app.view_functions]
    if user["role"] == "coordinator":
        dashboard = coordinator_endpoint()
        if dashboard:
            items.append({"label": "Federation health", "endpoint": dashboard})
    return items


def coordinator_endpoint() -> str | None:
    """The endpoint serving ``/coordinator`` (the coordinator's dashboard), if this app has one."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule.rstrip("/") == "/coordinator" and "GET" in rule.methods:
            return rule.endpoint
    return None


def when(value) -> str:
    """An ISO-8601 timestamp as people read it: ``2026-03-02 14:05:09 UTC`` (anything else unchanged)."""
    if not value:
        return "—"
    try:
        return parse_iso(str(value)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(value)


def install(app: Flask) -> None:
    install_sessions(app)
    app.register_blueprint(blueprint())
    app.add_url_rule("/", "root", lambda: redirect(url_for("ui.home")))
    app.register_error_handler(404, not_a_page)
    app.register_error_handler(405, not_a_page)
    app.add_template_filter(when, "when")
    settings = app.extensions["cordon"].settings

    @app.context_processor
    def page_globals():
        return {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD, "current_user": access.current_user,
                "may": access.may, "node": {"id": settings.node_id, "name": settings.name, "role": settings.role},
                "nav": nav_items}
