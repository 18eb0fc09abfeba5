"""Server-side sessions for the web pages, the app's secret key, and per-session CSRF tokens.

The browser holds only a random session id, signed with the app's secret key
(``web_secret`` in the data directory, created on first use with mode 0600);
the session's data lives in ``web_sessions`` under the SHA-256 of that id, so
a copy of the database holds no live session. A session ends after
:data:`IDLE_SECONDS` without a request or :data:`MAX_AGE_SECONDS` after it
began, when its user signs out, and when the user is disabled. The cookie is
``HttpOnly``, ``SameSite=Lax`` and ``Secure`` when the node's URL is https;
its name carries the node id, so several nodes on one host keep apart.

``flask.session`` works as usual; :meth:`ServerSession.regenerate` gives the
session a new id (call it at sign-in). :func:`csrf_token` is the token every
POST form carries; :func:`csrf_valid` checks a submitted one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from flask import Flask, session
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import CallbackDict

from .database import write_transaction

SECRET_NAME = "web_secret"
IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 3600
TOUCH_SECONDS = 30
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"


def load_secret(data_dir: Path) -> bytes:
    """The app's secret key: read from ``web_secret``, or created there (mode 0600) on first use."""
    path = Path(data_dir) / SECRET_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text(encoding="ascii").strip()
        if len(text) < 64:
            raise RuntimeError(f"{path} is damaged: it should hold a 64-character hex key") from None
        return bytes.fromhex(text)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key


def sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii")).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid: str | None = None, seen: int = 0):
        def changed(_self):
            self.modified = True

        super().__init__(initial, changed)
        self.sid = sid
        self.seen = seen
        self.new = sid is None
        self.modified = False
        self.rotate = False

    def regenerate(self) -> None:
        """Give this session a new id when it is saved (against session fixation)."""
        self.rotate = True
        self.modified = True


class SessionStore:
    """The ``web_sessions`` table: one row per session, keyed by the digest of its id."""

    def __init__(self, db):
        self.db = db

    def load(self, sid: str, now: int) -> tuple[dict, int] | None:
        row = self.db.execute("SELECT data, created_at, last_seen FROM web_sessions WHERE sid_hash = ?",
                              [sid_digest(sid)]).fetchone()
        if row is None:
            return None
        data, created, seen = row
        if now - seen > IDLE_SECONDS or now - created > MAX_AGE_SECONDS:
            with write_transaction(self.db):
                self.db.execute("DELETE FROM web_sessions WHERE sid_hash = ?", [sid_digest(sid)])
            return None
        return json.loads(data), seen

    def save(self, sid: str, data: dict, now: int, *, new: bool) -> None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        user = (data.get("user") or {}).get("name") if isinstance(data.get("user"), dict) else None
        with write_transaction(self.db):
            if new:
                self.db.execute("DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
                                [now - IDLE_SECONDS, now - MAX_AGE_SECONDS])
                self.db.execute("INSERT INTO web_sessions (sid_hash, user_name, data, created_at, last_seen) "
                                "VALUES (?, ?, ?, ?, ?)", [sid_digest(sid), user, text, now, now])
            else:
                self.db.execute("UPDATE web_sessions SET user_name = ?, data = ?, last_seen = ? WHERE sid_hash = ?",
                                [user, text, now, sid_digest(sid)])

    def touch(self, sid: str, now: int) -> None:
        with write_transaction(self.db):
            self.db.execute("UPDATE web_sessions SET last_seen = ? WHERE sid_hash = ?", [now, sid_digest(sid)])

    def delete(self, sid: str) -> None:
        with write_transaction(self.db):
            self.db.execute("DELETE FROM web_sessions WHERE sid_hash = ?", [sid_digest(sid)])


class ServerSessionInterface(SessionInterface):
    def __init__(self, cookie_name: str, secure: bool):
        self.cookie_name = cookie_name
        self.secure = secure

    def get_cookie_name(self, app) -> str:
        return self.cookie_name

    @staticmethod
    def store(app) -> SessionStore:
        return SessionStore(app.extensions["cordon"].db())

    @staticmethod
    def signer(app) -> Signer:
        return Signer(app.secret_key, salt="cordon-web-session", digest_method=hashlib.sha256)

    def open_session(self, app, request) -> ServerSession:
        if "HTTP_COOKIE" not in request.environ:  # API clients send none: nothing to parse or load
            return ServerSession()
        cookie = request.cookies.get(self.cookie_name)
        if cookie:
            try:
                sid = self.signer(app).unsign(cookie).decode("ascii")
            except (BadSignature, UnicodeDecodeError):
                sid = None
            if sid:
                found = self.store(app).load(sid, int(time.time()))
                if found is not None:
                    return ServerSession(found[0], sid, found[1])
        return ServerSession()

    def save_session(self, app, sess: ServerSession, response) -> None:
        if sess or sess.sid is not None:
            response.vary.add("Cookie")
        store = self.store(app)
        now = int(time.time())
        options = {"path": "/", "httponly": True, "samesite": "Lax", "secure": self.secure}
        if not sess:
            if sess.sid is not None:
                store.delete(sess.sid)
                response.delete_cookie(self.cookie_name, **options)
            return
        if sess.rotate and sess.sid is not None:
            store.delete(sess.sid)
            sess.sid = None
        if sess.sid is None:
            sess.sid = secrets.token_urlsafe(32)
            store.save(sess.sid, dict(sess), now, new=True)
            cookie = self.signer(app).sign(sess.sid.encode("ascii")).decode("ascii")
            response.set_cookie(self.cookie_name, cookie, **options)
        elif sess.modified:
            store.save(sess.sid, dict(sess), now, new=False)
        elif now - sess.seen >= TOUCH_SECONDS:
            store.touch(sess.sid, now)


def install_sessions(app: Flask) -> None:
    runtime = app.extensions["cordon"]
    app.secret_key = load_secret(runtime.data_dir)
    secure = runtime.settings.base_url.startswith("https:")
    name = "cordon_" + "".join(ch for ch in runtime.node_id.lower() if ch.isalnum()) + "_session"
    app.session_interface = ServerSessionInterface(name, secure)


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_valid(submitted) -> bool:
    expected = session.get(CSRF_KEY)
    return bool(expected) and isinstance(submitted, str) and hmac.compare_digest(submitted, expected)
