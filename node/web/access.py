"""Who may see which page: the signed-in user, role checks, CSRF checks, error pages, headers.

Roles carry the same rights as the API scopes of the same name:

============  ==========================================================
page          roles
============  ==========================================================
denials       read, publish, admin (the API's read scopes)
publish       publish
screening     read, publish, admin
licences      read, publish, customs, admin
peers         read, publish, admin
consultations read, publish, admin; replying and opening need publish
audit trail   admin
============  ==========================================================
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, session, url_for

from ..errors import NodeError
from ..users import UserRegistry
from ..web_sessions import CSRF_FIELD, csrf_valid

READ = ("read", "publish", "admin")
PUBLISH = ("publish",)
LICENCES = ("read", "publish", "customs", "admin")
PEERS = READ
CONSULTATIONS = READ
AUDIT = ("admin",)

STATUS = {"validation_failed": 400, "unauthenticated": 401, "forbidden": 403, "not_found": 404,
          "conflict": 409, "read_only_record": 409, "payload_too_large": 413}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def runtime():
    return current_app.extensions["cordon"]


def current_user() -> dict | None:
    """``{"name", "role"}`` of the signed-in user, or None. A disabled user's session was already ended."""
    user = session.get("user")
    return user if isinstance(user, dict) and user.get("name") and user.get("role") else None


def actor() -> str:
    return f"user:{g.user['name']}"


def may(*roles: str) -> bool:
    user = current_user()
    return bool(user) and user["role"] in roles


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//') is followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def requires(*roles: str):
    """The view needs a signed-in user holding one of ``roles``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                target = request.full_path if request.method == "GET" else request.path
                return redirect(url_for("ui.login", next=target.rstrip("?")))
            if user["role"] not in roles:
                return refusal(403, "Not allowed for your role",
                               f"Your role ({user['role']}) cannot use this page; it needs one of: "
                               f"{', '.join(roles)}.")
            g.user = user
            return view(*args, **kwargs)

        wrapped.roles = roles
        return wrapped

    return decorator


def refusal(status: int, title: str, message: str):
    return render_template("ui/error.html", title=title, message=message), status


def check_request() -> None:
    """Before every page: a POST must carry this session's CSRF token."""
    if request.method == "POST" and not csrf_valid(request.form.get(CSRF_FIELD)):
        abort(400, description="csrf")


def secure_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers["Cache-Control"] = "no-store"
    return response


def install_errors(blueprint) -> None:
    @blueprint.errorhandler(NodeError)
    def node_error(exc: NodeError):
        status = STATUS.get(exc.code, 500)
        return refusal(status, "Not found" if status == 404 else "The request was refused", exc.message)

    @blueprint.errorhandler(400)
    def bad_request(exc):
        if getattr(exc, "description", "") == "csrf":
            return refusal(400, "The form could not be accepted",
                           "The form was not sent from this site's current session (it may have expired). "
                           "Go back, reload the page and submit it again.")
        return refusal(400, "Bad request", "The request could not be understood.")

    @blueprint.errorhandler(413)
    def too_large(exc):
        return refusal(413, "Too large", "The form was larger than this node accepts.")


def users() -> UserRegistry:
    return UserRegistry(runtime().db())
