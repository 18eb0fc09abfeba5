"""Keys: Ed25519 signing keys, X25519 encryption keys and their metadata.

Public API::

    new_signing_key() -> nacl.signing.SigningKey
    new_encryption_key() -> nacl.public.PrivateKey
    key_id(use, public: bytes) -> str
    KeyInfo(kid, use, public, not_before, not_after=None, status="active",
            revoked_at=None)                      # frozen value object
    KeyInfo.for_key(private_key, not_before, not_after=None) -> KeyInfo
    KeyInfo.to_dict() / KeyInfo.from_dict(d)
    KeyInfo.retired() / KeyInfo.revoked(at)       # changed copies
    KeyInfo.valid_at(unix_seconds) -> bool        # inside not_before/not_after
    save_private_key(path, private_key) -> str    # kid; file mode 0600, never overwrites
    load_private_key(path) -> SigningKey | PrivateKey
    b64u_encode(data) -> str / b64u_decode(text) -> bytes
    format_time(moment) -> "2026-11-28T08:00:00Z" / parse_time(text) -> datetime
    unix_seconds(moment) -> int                   # datetime or int

Key ids: ``"ed25519:"`` or ``"x25519:"`` followed by the first 16 characters
of the unpadded base64url SHA-256 of the raw 32-byte public key (96 bits).
A key id is therefore derived from the key, and ``KeyInfo.from_dict``
refuses metadata whose kid does not match its public key.

Metadata dictionaries are JWK-shaped (RFC 7517 / RFC 8037) so that a JOSE
library can take them as they are::

    {"kid": "ed25519:...", "use": "sig", "kty": "OKP", "crv": "Ed25519",
     "x": "<base64url public key>", "not_before": "2026-11-28T08:00:00Z",
     "not_after": null, "status": "active", "revoked_at": null}

``use`` is ``"sig"`` (Ed25519) or ``"enc"`` (X25519). ``status`` is
``active``, ``retired`` (still verifies what it signed, signs nothing new)
or ``revoked`` (signatures made at or after ``revoked_at`` are refused).
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import json
import os
import re
import stat
from datetime import datetime, timezone

import pybase64
from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from federation.errors import KeyFileError, KeyFileInsecure, MalformedMessage

SIG = "sig"
ENC = "enc"
ACTIVE = "active"
RETIRED = "retired"
REVOKED = "revoked"

_CURVES = {SIG: "Ed25519", ENC: "X25519"}
_PREFIXES = {SIG: "ed25519:", ENC: "x25519:"}
_STATUSES = (ACTIVE, RETIRED, REVOKED)
_TIME_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_B64U_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_FIELDS = ("kid", "use", "kty", "crv", "x", "not_before", "not_after", "status", "revoked_at")


# -- encodings -----------------------------------------------------------------


def b64u_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 section 5)."""
    return pybase64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict inverse of ``b64u_encode``; raises ``MalformedMessage``.

    Refuses padding, the standard alphabet's ``+`` and ``/``, whitespace and
    non-zero trailing bits, so every byte string has exactly one text form.
    """
    if not isinstance(text, str) or not text.isascii():
        raise MalformedMessage("not unpadded base64url")
    remainder = len(text) % 4
    if remainder == 1 or "+" in text or "/" in text or "=" in text:
        raise MalformedMessage("not unpadded base64url")
    try:
        data = pybase64.b64decode(text + "=" * (-remainder % 4) if remainder else text, altchars=b"-_",
                                  validate=True)
    except (binascii.Error, ValueError):
        raise MalformedMessage("not unpadded base64url") from None
    if remainder and _B64U_ALPHABET.index(text[-1]) & (0x0F if remainder == 2 else 0x03):
        raise MalformedMessage("base64url text is not in canonical form")
    return data


def format_time(moment: datetime) -> str:
    """UTC ISO-8601 with seconds and a Z suffix: ``2026-11-28T08:00:00Z``."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse a timestamp written by ``format_time``; raises ``MalformedMessage``."""
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise MalformedMessage("timestamp must look like 2026-11-28T08:00:00Z")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise MalformedMessage("timestamp is not a valid date and time") from None


def unix_seconds(moment) -> int:
    """Whole seconds since the epoch for an aware datetime or an int."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return int(moment.timestamp())
    if isinstance(moment, int) and not isinstance(moment, bool):
        return moment
    raise TypeError("expected an aware datetime or integer seconds")


# -- keys ------------------------------------------------------------------------


def new_signing_key() -> SigningKey:
    """A fresh random Ed25519 signing key."""
    return SigningKey.generate()


def new_encryption_key() -> PrivateKey:
    """A fresh random X25519 private key."""
    return PrivateKey.generate()


def key_id(use: str, public: bytes) -> str:
    """Derive the key id of a raw 32-byte public key for ``use`` sig or enc."""
    if use not in _PREFIXES:
        raise ValueError("use must be 'sig' or 'enc'")
    return _PREFIXES[use] + b64u_encode(hashlib.sha256(bytes(public)).digest())[:16]


def _public_of(private_key) -> tuple[str, bytes]:
    if isinstance(private_key, SigningKey):
        return SIG, bytes(private_key.verify_key)
    if isinstance(private_key, PrivateKey):
        return ENC, bytes(private_key.public_key)
    raise TypeError("expected a nacl SigningKey or PrivateKey")


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """Public metadata of one key, as listed in an identity document."""

    kid: str
    use: str
    public: str
    not_before: str
    not_after: str | None = None
    status: str = ACTIVE
    revoked_at: str | None = None
    _not_before_s: int = dataclasses.field(init=False, repr=False, compare=False, default=0)
    _not_after_s: int | None = dataclasses.field(init=False, repr=False, compare=False, default=None)
    _revoked_at_s: int | None = dataclasses.field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        if self.use not in _CURVES:
            raise MalformedMessage("key use must be 'sig' or 'enc'")
        raw = b64u_decode(self.public)
        if len(raw) != 32:
            raise MalformedMessage("public key must be 32 bytes")
        if self.kid != key_id(self.use, raw):
            raise MalformedMessage("kid does not match the public key")
        not_before = unix_seconds(parse_time(self.not_before))
        not_after = None if self.not_after is None else unix_seconds(parse_time(self.not_after))
        if not_after is not None and not_after <= not_before:
            raise MalformedMessage("key not_after must be later than not_before")
        if self.status not in _STATUSES:
            raise MalformedMessage("key status must be active, retired or revoked")
        if (self.status == REVOKED) != (self.revoked_at is not None):
            raise MalformedMessage("revoked_at is set exactly when status is revoked")
        revoked_at = None if self.revoked_at is None else unix_seconds(parse_time(self.revoked_at))
        object.__setattr__(self, "_not_before_s", not_before)
        object.__setattr__(self, "_not_after_s", not_after)
        object.__setattr__(self, "_revoked_at_s", revoked_at)

    @classmethod
    def for_key(cls, private_key, not_before, not_after=None) -> "KeyInfo":
        """Metadata for a private key; times may be datetimes or timestamp strings."""
        use, raw = _public_of(private_key)
        return cls(
            kid=key_id(use, raw),
            use=use,
            public=b64u_encode(raw),
            not_before=_as_text(not_before),
            not_after=None if not_after is None else _as_text(not_after),
        )

    @property
    def public_bytes(self) -> bytes:
        return b64u_decode(self.public)

    def verify_key(self) -> VerifyKey:
        if self.use != SIG:
            raise MalformedMessage("not a signing key")
        return VerifyKey(self.public_bytes)

    def public_key(self) -> PublicKey:
        if self.use != ENC:
            raise MalformedMessage("not an encryption key")
        return PublicKey(self.public_bytes)

    def valid_at(self, seconds: int) -> bool:
        """True if ``seconds`` lies in [not_before, not_after)."""
        if seconds < self._not_before_s:
            return False
        return self._not_after_s is None or seconds < self._not_after_s

    def revoked_since(self) -> int | None:
        """Revocation time in unix seconds, or None if not revoked."""
        return self._revoked_at_s

    def retired(self) -> "KeyInfo":
        return dataclasses.replace(self, status=RETIRED, revoked_at=None)

    def revoked(self, at) -> "KeyInfo":
        return dataclasses.replace(self, status=REVOKED, revoked_at=_as_text(at))

    def to_dict(self) -> dict:
        return {
            "kid": self.kid,
            "use": self.use,
            "kty": "OKP",
            "crv": _CURVES[self.use],
            "x": self.public,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "status": self.status,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_dict(cls, data) -> "KeyInfo":
        """Strictly parse a metadata dict; raises ``MalformedMessage``."""
        if not isinstance(data, dict) or set(data) != set(_FIELDS):
            raise MalformedMessage("key metadata must have exactly the fields %s" % ", ".join(_FIELDS))
        if data["kty"] != "OKP" or data["crv"] != _CURVES.get(data["use"]):
            raise MalformedMessage("key kty/crv do not match its use")
        for name in ("kid", "use", "x", "not_before", "status"):
            if not isinstance(data[name], str):
                raise MalformedMessage("key field %s must be a string" % name)
        for name in ("not_after", "revoked_at"):
            if data[name] is not None and not isinstance(data[name], str):
                raise MalformedMessage("key field %s must be a string or null" % name)
        return cls(
            kid=data["kid"],
            use=data["use"],
            public=data["x"],
            not_before=data["not_before"],
            not_after=data["not_after"],
            status=data["status"],
            revoked_at=data["revoked_at"],
        )


def _as_text(moment) -> str:
    if isinstance(moment, str):
        parse_time(moment)
        return moment
    return format_time(moment)


# -- private key files -----------------------------------------------------------


def save_private_key(path, private_key) -> str:
    """Write a private key to a new file with mode 0600; return its kid.

    The file must not exist yet (O_EXCL): a key is never overwritten. The
    content is JSON ``{"kid", "use", "d"}`` with ``d`` the base64url seed.
    """
    use, raw_public = _public_of(private_key)
    kid = key_id(use, raw_public)
    body = json.dumps({"kid": kid, "use": use, "d": b64u_encode(bytes(private_key))})
    try:
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyFileError("cannot create key file: %s" % exc.strerror) from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, body.encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return kid


def load_private_key(path):
    """Read a key file written by ``save_private_key``.

    Refuses (``KeyFileInsecure``) a file that group or others may read or
    write, and (``KeyFileError``) a file whose content is not a key or whose
    kid does not match the key it holds.
    """
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise KeyFileError("cannot open key file: %s" % exc.strerror) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError("key file is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileInsecure("key file mode %o allows group/other access" % stat.S_IMODE(info.st_mode))
        raw = b""
        while chunk := os.read(fd, 4096):
            raw += chunk
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
        seed = b64u_decode(data["d"])
        key = SigningKey(seed) if data["use"] == SIG else PrivateKey(seed) if data["use"] == ENC else None
    except (ValueError, KeyError, TypeError, MalformedMessage):  # nacl errors subclass these
        key = None
    if key is None:
        raise KeyFileError("key file content is not a Cordon private key")
    use, raw_public = _public_of(key)
    if data.get("kid") != key_id(use, raw_public):
        raise KeyFileError("key file kid does not match its key")
    return key


__all__ = [
    "SIG",
    "ENC",
    "ACTIVE",
    "RETIRED",
    "REVOKED",
    "KeyInfo",
    "new_signing_key",
    "new_encryption_key",
    "key_id",
    "save_private_key",
    "load_private_key",
    "b64u_encode",
    "b64u_decode",
    "format_time",
    "parse_time",
    "unix_seconds",
]
