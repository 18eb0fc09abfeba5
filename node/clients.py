"""API clients (machine and script accounts) and the bearer tokens issued to them.

A client's secret is shown once, at creation, and stored only as a scrypt
hash. Tokens are random, stored as SHA-256 hashes, and live at most an hour.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time

import sqlite_utils

from .audit import AuditLog
from .database import write_transaction
from .errors import Conflict, NotFound, ValidationFailed
from .passwords import check_secret, hash_secret
from .timestamps import to_iso, utc_now

SCOPES = ("read", "publish", "customs", "admin", "coordinator")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@dataclasses.dataclass
class Client:
    client_id: str
    name: str
    secret_hash: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclasses.dataclass
class Token:
    client_id: str
    scope: str
    issued_at: int
    expires_at: int


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ClientRegistry:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.audit = AuditLog(db)

    def create(self, name: str, scopes: list[str], *, actor: str) -> tuple[Client, str]:
        problems = {}
        if not NAME_RE.match(name or ""):
            problems["name"] = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        unknown = [s for s in scopes if s not in SCOPES]
        if not scopes:
            problems["scope"] = f"give at least one scope: {', '.join(SCOPES)}"
        elif unknown:
            problems["scope"] = f"unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}"
        if problems:
            raise ValidationFailed("invalid client", fields=problems)
        secret = secrets.token_urlsafe(32)
        client = Client(
            client_id="cl_" + secrets.token_hex(8),
            name=name,
            secret_hash=hash_secret(secret),
            scopes=tuple(dict.fromkeys(scopes)),
            created_at=to_iso(utc_now()),
            revoked_at=None,
        )
        with write_transaction(self.db):
            if self.db.execute("SELECT 1 FROM api_clients WHERE name = ?", [name]).fetchone():
                raise Conflict(f"a client named {name!r} already exists", fields={"name": "already exists"})
            self.db.execute(
                "INSERT INTO api_clients (client_id, name, secret_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                [client.client_id, name, client.secret_hash, " ".join(client.scopes), client.created_at],
            )
            self.audit.append(actor=actor, action="client.create", target=client.client_id,
                              detail={"name": name, "scopes": list(client.scopes)})
        return client, secret

    def get(self, client_id: str) -> Client | None:
        row = self.db.execute(
            "SELECT client_id, name, secret_hash, scopes, created_at, revoked_at FROM api_clients WHERE client_id = ?",
            [client_id],
        ).fetchone()
        if not row:
            return None
        return Client(row[0], row[1], row[2], tuple(row[3].split()), row[4], row[5])

    def list(self) -> list[Client]:
        rows = self.db.execute("SELECT client_id FROM api_clients ORDER BY created_at").fetchall()
        return [self.get(r[0]) for r in rows]

    def revoke(self, name_or_id: str, *, actor: str) -> Client:
        with write_transaction(self.db):
            row = self.db.execute(
                "SELECT client_id FROM api_clients WHERE (client_id = ? OR name = ?) AND revoked_at IS NULL",
                [name_or_id, name_or_id],
            ).fetchone()
            if not row:
                raise NotFound(f"no active client {name_or_id!r}")
            self.db.execute("UPDATE api_clients SET revoked_at = ? WHERE client_id = ?", [to_iso(utc_now()), row[0]])
            self.db.execute("DELETE FROM tokens WHERE client_id = ?", [row[0]])
            self.audit.append(actor=actor, action="client.revoke", target=row[0])
        return self.get(row[0])

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        client = self.get(client_id)
        if client is None or not client.active or not check_secret(secret, client.secret_hash):
            return None
        return client

    def store_token(self, client_id: str, text: str, scope: str, ttl: int, *, now: float | None = None) -> Token:
        """Store a newly issued bearer token (hashed) and audit its issue."""
        issued = int(now if now is not None else time.time())
        token = Token(client_id, scope, issued, issued + ttl)
        with write_transaction(self.db):
            self.db.execute("DELETE FROM tokens WHERE expires_at < ?", [issued])
            self.db.execute(
                "INSERT INTO tokens (token_hash, client_id, scope, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                [token_digest(text), client_id, scope, issued, issued + ttl],
            )
            self.audit.append(actor=client_id, action="token.issue", target=client_id,
                              detail={"scope": scope, "expires_in": ttl})
        return token

    def find_token(self, text: str) -> Token | None:
        row = self.db.execute(
            "SELECT t.client_id, t.scope, t.issued_at, t.expires_at FROM tokens t "
            "JOIN api_clients c ON c.client_id = t.client_id "
            "WHERE t.token_hash = ? AND c.revoked_at IS NULL",
            [token_digest(text)],
        ).fetchone()
        return Token(*row) if row else None
