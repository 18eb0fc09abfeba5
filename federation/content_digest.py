"""Content-Digest (RFC 9530) for request and response bodies.

Public API::

    content_digest(body: bytes) -> str                 # "sha-256=:<base64>:"
    verify_content_digest(value: str, body: bytes) -> None   # raises DigestMismatch

The field value is an RFC 8941 dictionary whose members are byte sequences
(standard base64 with padding between colons) keyed by algorithm. Cordon
writes ``sha-256`` only. The verifier parses the dictionary, ignores
algorithms it does not know, checks every ``sha-256`` and ``sha-512`` member
present and requires at least one of them; any failure (unparseable value,
no known algorithm, a wrong digest) is ``DigestMismatch``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from federation.errors import DigestMismatch

_ALGORITHMS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_KEY = r"[a-z*][a-z0-9_\-.*]*"
_BYTES = r":[A-Za-z0-9+/=]*:"
_PARAM = r";[ ]*" + _KEY + r"(?:=(?:[^;,\s]+))?"
_MEMBER = re.compile(r"(" + _KEY + r")=(" + _BYTES + r")((?:" + _PARAM + r")*)")
_OTHER_MEMBER = re.compile(_KEY + r"(?:=[^,]*)?")


def content_digest(body: bytes) -> str:
    """The Content-Digest value for ``body`` using sha-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def verify_content_digest(value: str, body: bytes) -> None:
    """Raise ``DigestMismatch`` unless ``value`` is a correct digest of ``body``."""
    if not isinstance(value, str) or not value.strip():
        raise DigestMismatch("Content-Digest is missing")
    checked = 0
    for member in _split_members(value):
        match = _MEMBER.fullmatch(member)
        if match is None:
            if _OTHER_MEMBER.fullmatch(member) is None:
                raise DigestMismatch("Content-Digest is not a structured dictionary")
            continue
        algorithm = match.group(1)
        if algorithm not in _ALGORITHMS:
            continue
        try:
            claimed = base64.b64decode(match.group(2)[1:-1], validate=True)
        except (binascii.Error, ValueError):
            raise DigestMismatch("Content-Digest %s is not base64" % algorithm) from None
        if not hmac.compare_digest(claimed, _ALGORITHMS[algorithm](body).digest()):
            raise DigestMismatch("body does not match its %s Content-Digest" % algorithm)
        checked += 1
    if not checked:
        raise DigestMismatch("Content-Digest has no sha-256 or sha-512 member")


def _split_members(value: str) -> list[str]:
    # Byte sequences hold no commas; other members are only skipped, so a
    # plain split is exact enough for the members that are checked.
    return [member.strip(" \t") for member in value.split(",")]


__all__ = ["content_digest", "verify_content_digest"]
