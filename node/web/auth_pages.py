"""Signing in and out, and the start page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from ..errors import Unauthenticated
from ..users import LOCK_MINUTES, MAX_FAILURES
from ..web_sessions import CSRF_KEY, csrf_token
from . import access


def register(pages) -> None:
    @pages.route("/login", methods=["GET", "POST"])
    def login():
        target = access.safe_next(request.values.get("next"))
        if request.method == "GET":
            if access.current_user():
                return redirect(target or url_for("ui.home"))
            return login_page(name="", error=None, next=target)
        name = (request.form.get("name") or "").strip()
        password = request.form.get("password") or ""
        if not name or not password:
            fields = {k: "Enter your " + label for k, label in (("name", "user name"), ("password", "password"))
                      if not request.form.get(k)}
            return login_page(name=name, fields=fields, error="Enter your user name and password.", next=target), 400
        try:
            user = access.users().authenticate(name, password)
        except Unauthenticated as exc:
            return login_page(name=name, fields={}, error=exc.message[0].upper() + exc.message[1:] + ".",
                              next=target), 401
        session.clear()
        session.regenerate()
        session["user"] = {"name": user.name, "role": user.role}
        session.pop(CSRF_KEY, None)
        csrf_token()
        return redirect(target or url_for("ui.home"))

    @pages.route("/logout", methods=["POST"])
    def logout():
        user = access.current_user()
        if user:
            access.users().record_logout(user["name"])
        session.clear()
        session.regenerate()
        flash("You have signed out.")
        return redirect(url_for("ui.login"))

    @pages.route("/")
    @access.requires("read", "publish", "customs", "admin", "coordinator")
    def home():
        return render_template("ui/home.html", title="Start")


def login_page(**values):
    """The sign-in page, which says when an account locks."""
    return render_template("ui/login.html", title="Sign in", max_failures=MAX_FAILURES, lock_minutes=LOCK_MINUTES,
                           **values)
