"""Sealed envelopes: NaCl Box (X25519 + XSalsa20-Poly1305) from node to node.

Public API::

    seal(plaintext, *, sender, recipient, sender_key, sender_kid,
         recipient_public, recipient_kid) -> envelope dict
    open_envelope(envelope, *, me, my_keys, sender_public_lookup) -> plaintext

An envelope is the JSON object::

    {"v": 1, "sender": "MT", "recipient": "NL",
     "sender_kid": "x25519:...", "recipient_kid": "x25519:...",
     "nonce": "<base64url, 24 bytes>", "ciphertext": "<base64url>"}

The box is ``crypto_box(inner, nonce, recipient_public, sender_private)``
(Poly1305 tag first, as libsodium and PyNaCl produce it) and the boxed
``inner`` bytes are ``canonical_bytes(header) + b"\\n" + plaintext`` with
``header = {"v", "sender", "recipient", "sender_kid", "recipient_kid"}``.
After opening, the receiver compares the inner header with the outer fields,
so an envelope whose names or kids were swapped is refused even where the
same pair of keys would open it. The nonce is 24 random bytes per envelope.

``open_envelope`` raises ``SealInvalid`` for a malformed envelope, an
envelope addressed to another node or to a kid not in ``my_keys``, a
ciphertext that does not open (tampered, wrong keys) and a header mismatch;
``UnknownKey`` when ``sender_public_lookup(sender, sender_kid)`` returns
None. Public keys may be given as ``nacl.public.PublicKey``, an ``enc``
``KeyInfo`` or 32 raw bytes. The lookup answers only for encryption keys the receiver trusts for
that sender (from its identity document, not revoked).
"""

from __future__ import annotations

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey
from nacl.utils import random

from federation.canonical import canonical_bytes
from federation.errors import FederationError, SealInvalid, UnknownKey
from federation.keys import KeyInfo, b64u_decode, b64u_encode

VERSION = 1
NONCE_BYTES = Box.NONCE_SIZE
_FIELDS = frozenset(("v", "sender", "recipient", "sender_kid", "recipient_kid", "nonce", "ciphertext"))


def seal(
    plaintext: bytes,
    *,
    sender: str,
    recipient: str,
    sender_key: PrivateKey,
    sender_kid: str,
    recipient_public,
    recipient_kid: str,
) -> dict:
    """Encrypt ``plaintext`` from ``sender`` to ``recipient``."""
    header = _header(sender, recipient, sender_kid, recipient_kid)
    nonce = random(NONCE_BYTES)
    inner = canonical_bytes(header) + b"\n" + bytes(plaintext)
    boxed = Box(sender_key, _public(recipient_public)).encrypt(inner, nonce)
    envelope = dict(header)
    envelope["nonce"] = b64u_encode(nonce)
    envelope["ciphertext"] = b64u_encode(boxed.ciphertext)
    return envelope


def open_envelope(envelope: dict, *, me: str, my_keys: dict, sender_public_lookup) -> bytes:
    """Decrypt an envelope addressed to ``me``; ``my_keys`` maps kid to PrivateKey."""
    if not isinstance(envelope, dict) or envelope.keys() != _FIELDS:
        raise SealInvalid("envelope does not have the version 1 fields")
    if type(envelope["v"]) is not int or envelope["v"] != VERSION:
        raise SealInvalid("envelope does not have the version 1 fields")
    if not all(isinstance(envelope[name], str) for name in _FIELDS - {"v"}):
        raise SealInvalid("envelope fields must be strings")
    if envelope["recipient"] != me:
        raise SealInvalid("envelope is addressed to another node")
    private = my_keys.get(envelope["recipient_kid"])
    if private is None:
        raise SealInvalid("envelope is sealed to an unknown key of this node")
    sender_public = sender_public_lookup(envelope["sender"], envelope["sender_kid"])
    if sender_public is None:
        raise UnknownKey("no encryption key %s for %s" % (envelope["sender_kid"], envelope["sender"]))
    try:
        nonce = b64u_decode(envelope["nonce"])
        ciphertext = b64u_decode(envelope["ciphertext"])
    except FederationError:
        raise SealInvalid("envelope nonce or ciphertext is not base64url") from None
    if len(nonce) != NONCE_BYTES:
        raise SealInvalid("envelope nonce has the wrong length")
    try:
        inner = Box(private, _public(sender_public)).decrypt(ciphertext, nonce)
    except (CryptoError, ValueError, TypeError):
        raise SealInvalid("envelope does not open") from None
    header = _header(envelope["sender"], envelope["recipient"], envelope["sender_kid"], envelope["recipient_kid"])
    expected = canonical_bytes(header) + b"\n"
    if not inner.startswith(expected):
        raise SealInvalid("envelope header does not match the sealed header")
    return inner[len(expected) :]


def _header(sender, recipient, sender_kid, recipient_kid) -> dict:
    return {
        "v": VERSION,
        "sender": sender,
        "recipient": recipient,
        "sender_kid": sender_kid,
        "recipient_kid": recipient_kid,
    }


def _public(value) -> PublicKey:
    if isinstance(value, PublicKey):
        return value
    if isinstance(value, KeyInfo):
        return value.public_key()
    if isinstance(value, (bytes, bytearray)) and len(value) == PublicKey.SIZE:
        return PublicKey(bytes(value))
    raise TypeError("expected a nacl PublicKey, an enc KeyInfo or 32 raw bytes")


__all__ = ["VERSION", "seal", "open_envelope"]
