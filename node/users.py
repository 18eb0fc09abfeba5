"""People who sign in to the node's web pages, their roles, and sign-in checks.

A user has one role, named like the API scopes (:data:`node.clients.SCOPES`):
``read``, ``publish``, ``customs``, ``admin`` or ``coordinator``. Passwords
are kept only as scrypt hashes (:mod:`node.passwords`). Consecutive failed
sign-ins are counted; after :data:`MAX_FAILURES` of them the account is locked
for :data:`LOCK_MINUTES`, and every failure, lock, sign-in and sign-out is
audited. Disabling a user ends their open sessions at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import secrets
import re

import sqlite_utils

from .audit import AuditLog
from .clients import SCOPES
from .database import write_transaction
from .errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from .passwords import check_secret, hash_secret
from .timestamps import parse_iso, to_iso, utc_now

ROLES = SCOPES
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_FAILURES = 5
LOCK_MINUTES = 15
#: What every refused sign-in says (whether the name exists, or the account is locked, is not told).
SIGN_IN_FAILED = "unknown user name or wrong password"


@functools.cache
def decoy_hash() -> str:
    """Checked against when the name is unknown, so a wrong name costs as much time as a wrong password."""
    return hash_secret(secrets.token_urlsafe(16))


@dataclasses.dataclass
class User:
    name: str
    role: str
    created_at: str
    disabled_at: str | None
    failed_logins: int
    locked_until: str | None
    last_login_at: str | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def actor(self) -> str:
        return f"user:{self.name}"


def password_problem(name: str, password) -> str | None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"use at most {MAX_PASSWORD} characters"
    if password.strip().casefold() == (name or "").casefold():
        return "must not be the user name"
    return None


COLUMNS = "name, role, created_at, disabled_at, failed_logins, locked_until, last_login_at"


class UserRegistry:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.audit = AuditLog(db)

    # -- administration ---------------------------------------------------------
    def create(self, name: str, role: str, password: str, *, actor: str) -> User:
        problems = {}
        if not NAME_RE.match(name or ""):
            problems["name"] = "use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        if role not in ROLES:
            problems["role"] = f"must be one of {', '.join(ROLES)}"
        reason = password_problem(name, password)
        if reason:
            problems["password"] = reason
        if problems:
            raise ValidationFailed("invalid user", fields=problems)
        digest = hash_secret(password)
        now = to_iso(utc_now())
        with write_transaction(self.db):
            if self.db.execute("SELECT 1 FROM users WHERE name = ? COLLATE NOCASE", [name]).fetchone():
                raise Conflict(f"a user named {name!r} already exists", fields={"name": "already exists"})
            self.db.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                            [name, role, digest, now])
            self.audit.append(actor=actor, action="user.create", target=f"user:{name}", detail={"role": role})
        return self.get(name)

    def disable(self, name: str, *, actor: str) -> User:
        with write_transaction(self.db):
            user = self.require(name)
            if not user.active:
                raise Conflict(f"user {user.name!r} is already disabled", fields={"name": "already disabled"})
            self.db.execute("UPDATE users SET disabled_at = ? WHERE name = ?", [to_iso(utc_now()), user.name])
            ended = self.db.execute("DELETE FROM web_sessions WHERE user_name = ?", [user.name]).rowcount
            self.audit.append(actor=actor, action="user.disable", target=user.actor(),
                              detail={"sessions_ended": ended})
        return self.get(user.name)

    def enable(self, name: str, *, actor: str) -> User:
        """Let a disabled user sign in again (with their password as it was; failed sign-ins start from 0)."""
        with write_transaction(self.db):
            user = self.require(name)
            if user.active:
                raise Conflict(f"user {user.name!r} is not disabled", fields={"name": "already active"})
            self.db.execute("UPDATE users SET disabled_at = NULL, failed_logins = 0, locked_until = NULL "
                            "WHERE name = ?", [user.name])
            self.audit.append(actor=actor, action="user.enable", target=user.actor())
        return self.get(user.name)

    def set_password(self, name: str, password: str, *, actor: str) -> User:
        user = self.require(name)
        reason = password_problem(user.name, password)
        if reason:
            raise ValidationFailed("invalid password", fields={"password": reason})
        digest = hash_secret(password)
        with write_transaction(self.db):
            self.db.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL "
                            "WHERE name = ?", [digest, user.name])
            ended = self.db.execute("DELETE FROM web_sessions WHERE user_name = ?", [user.name]).rowcount
            self.audit.append(actor=actor, action="user.password", target=user.actor(),
                              detail={"sessions_ended": ended})
        return self.get(user.name)

    # -- reads ------------------------------------------------------------------
    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise NotFound(f"no user {name!r}", fields={"name": "no such user"})
        return user

    def get(self, name: str) -> User | None:
        row = self.db.execute(f"SELECT {COLUMNS} FROM users WHERE name = ? COLLATE NOCASE", [name or ""]).fetchone()
        return User(*row) if row else None

    def list(self) -> list[User]:
        return [User(*row) for row in self.db.execute(f"SELECT {COLUMNS} FROM users ORDER BY name").fetchall()]

    # -- signing in -------------------------------------------------------------
    def authenticate(self, name: str, password: str, *, now: dt.datetime | None = None) -> User:
        """The user if ``password`` is theirs and the account is active and not locked; else Unauthenticated.

        Each attempt is counted as a failure before the password is checked (and the count set back when it
        is right), so guesses sent at once never get more than :data:`MAX_FAILURES` passwords checked before
        the lock. The message never says whether the name exists, nor whether the account is locked."""
        now = now or utc_now()
        name = (name or "").strip()
        row = self.db.execute("SELECT name, password_hash, disabled_at FROM users WHERE name = ? COLLATE NOCASE",
                              [name]).fetchone()
        if row is None:
            check_secret(password or "", decoy_hash())
            with write_transaction(self.db):
                self.audit.append(actor="web", action="user.login_failed", target="",
                                  detail={"reason": "unknown_name", "name_digest": self.audit.digest(name)},
                                  at=now)
            raise Unauthenticated(SIGN_IN_FAILED)
        stored_name, digest, disabled_at = row
        with write_transaction(self.db):
            failures, locked_until = self.db.execute("SELECT failed_logins, locked_until FROM users WHERE name = ?",
                                                     [stored_name]).fetchone()
            locked = bool(locked_until) and parse_iso(locked_until) > now
            if locked:
                self.audit.append(actor=f"user:{stored_name}", action="user.login_failed", target="",
                                  detail={"reason": "locked"}, at=now)
            else:
                failures = (0 if locked_until else failures) + 1  # an expired lock starts the count again
                lock = to_iso(now + dt.timedelta(minutes=LOCK_MINUTES)) if failures >= MAX_FAILURES else None
                self.db.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE name = ?",
                                [failures, lock, stored_name])
        if locked:
            check_secret(password or "", decoy_hash())  # as long as any other refusal
            raise Unauthenticated(SIGN_IN_FAILED)
        good = check_secret(password or "", digest)
        if good and disabled_at is None:
            with write_transaction(self.db):
                self.db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ? "
                                "WHERE name = ?", [to_iso(now), stored_name])
                self.audit.append(actor=f"user:{stored_name}", action="user.login", target="", at=now)
            return self.get(stored_name)
        with write_transaction(self.db):
            self.db.execute("UPDATE users SET last_failed_at = ? WHERE name = ?", [to_iso(now), stored_name])
            if disabled_at is not None:
                self.audit.append(actor=f"user:{stored_name}", action="user.login_failed", target="",
                                  detail={"reason": "disabled"}, at=now)
            else:
                self.audit.append(actor=f"user:{stored_name}", action="user.login_failed", target="",
                                  detail={"reason": "wrong_password", "failures": failures}, at=now)
            if failures >= MAX_FAILURES:
                self.audit.append(actor=f"user:{stored_name}", action="user.locked", target="",
                                  detail={"minutes": LOCK_MINUTES}, at=now)
        raise Unauthenticated(SIGN_IN_FAILED)

    def record_logout(self, name: str) -> None:
        with write_transaction(self.db):
            self.audit.append(actor=f"user:{name}", action="user.logout", target="")
