"""Record signatures: compact JWS (RFC 7515) with EdDSA / Ed25519 (RFC 8037).

Public API::

    sign_record(view: dict, signing_key, kid, now) -> str        # compact JWS
    sign_canonical(payload: bytes, signing_key, kid, now) -> str  # payload already canonical
    verify_record(jws: str, key_lookup) -> (view: dict, header: dict)
    verify_record_bytes(jws, key_lookup) -> (view, header, payload bytes)

The protected header is the canonical JSON of
``{"alg": "EdDSA", "iat": <unix seconds>, "kid": <kid>, "typ": "cordon-record+jws"}``
and the payload is ``canonical_bytes(view)``, both unpadded base64url. Any
JOSE library verifies the result with the signer's public key as the JWK
``{"kty": "OKP", "crv": "Ed25519", "x": ...}``.

``verify_record`` checks the exact characters received, in this order, and
raises the first failure:

* ``MalformedMessage``: not three base64url parts, header fields other than
  exactly alg/iat/kid/typ, wrong alg or typ, iat not a non-negative integer;
  ``NotCanonical`` if the header is not canonical JSON;
* ``UnknownKey``: ``key_lookup(kid)`` returned None or a non-signing key;
* ``KeyRevoked``: the key is revoked and ``iat >= revoked_at``;
* ``KeyNotValid``: ``iat`` is outside [not_before, not_after);
* ``BadSignature``: the Ed25519 signature does not verify;
* ``NotCanonical``: the payload is not canonical JSON of a JSON object.

``key_lookup(kid)`` returns the signer's ``federation.keys.KeyInfo`` (taken
from the origin's trusted identity document) or None.
"""

from __future__ import annotations

import functools

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from federation.canonical import canonical_bytes, parse_canonical
from federation.errors import BadSignature, KeyNotValid, KeyRevoked, MalformedMessage, NotCanonical, UnknownKey
from federation.keys import REVOKED, SIG, b64u_decode, b64u_encode, unix_seconds

ALG = "EdDSA"
TYP = "cordon-record+jws"
_HEADER_FIELDS = frozenset(("alg", "iat", "kid", "typ"))


def sign_record(view: dict, signing_key: SigningKey, kid: str, now) -> str:
    """Sign the canonical JSON of ``view``; ``now`` is an aware datetime or unix seconds."""
    if not isinstance(view, dict):
        raise TypeError("a record view is a dict")
    return sign_canonical(canonical_bytes(view), signing_key, kid, now)


def sign_canonical(payload: bytes, signing_key: SigningKey, kid: str, now) -> str:
    """Sign ``payload``, which the caller built as the canonical JSON of a JSON object.

    For callers that assemble canonical bytes from canonical parts (a batch item
    wraps the view's bytes) and so encode each value once; ``sign_record`` is
    ``sign_canonical(canonical_bytes(view), ...)``.
    """
    signing_input = (_encoded_header(kid, unix_seconds(now)) + "." + b64u_encode(payload)).encode("ascii")
    signature = signing_key.sign(signing_input).signature
    return signing_input.decode("ascii") + "." + b64u_encode(signature)


def verify_record(jws: str, key_lookup) -> tuple[dict, dict]:
    """Verify a compact JWS made by ``sign_record``; return ``(view, header)``."""
    view, header, _payload = verify_record_bytes(jws, key_lookup)
    return view, header


def verify_record_bytes(jws: str, key_lookup) -> tuple[dict, dict, bytes]:
    """``verify_record`` that also returns the verified payload bytes (the canonical JSON of the view)."""
    if not isinstance(jws, str) or not jws.isascii() or jws.count(".") != 2:
        raise MalformedMessage("record signature is not a compact JWS")
    header_part, payload_part, signature_part = jws.split(".")
    kid, iat = _decoded_header(header_part)

    key = key_lookup(kid)
    if key is None or key.use != SIG:
        raise UnknownKey("no signing key %s" % kid)
    if key.status == REVOKED and iat >= key.revoked_since():
        raise KeyRevoked("key %s was revoked at %s" % (kid, key.revoked_at))
    if not key.valid_at(iat):
        raise KeyNotValid("key %s was not valid at iat %d" % (kid, iat))

    signature = b64u_decode(signature_part)
    if len(signature) != 64:
        raise BadSignature("signature by %s has the wrong length" % kid)
    signing_input = jws[: len(header_part) + 1 + len(payload_part)].encode("ascii")
    try:
        _verifier(key.public).verify(signing_input, signature)
    except BadSignatureError:
        raise BadSignature("signature by %s does not verify" % kid) from None

    payload = b64u_decode(payload_part)
    view = parse_canonical(payload)
    if not isinstance(view, dict):
        raise NotCanonical("record payload is not a JSON object")
    return view, {"alg": ALG, "iat": iat, "kid": kid, "typ": TYP}, payload


def detached(jws: str) -> str:
    """``jws`` with its payload left out (RFC 7515 appendix F): ``header..signature``, for a holder that
    keeps the payload's bytes anyway."""
    header_part, _payload_part, signature_part = jws.split(".")
    return header_part + ".." + signature_part


def attached(detached_jws: str, payload: bytes) -> str:
    """The compact JWS again from its detached form and the payload's bytes (verify it as any other)."""
    header_part, empty, signature_part = detached_jws.split(".")
    if empty:
        raise MalformedMessage("the JWS already holds a payload")
    return header_part + "." + b64u_encode(payload) + "." + signature_part


# Items of one batch share their header (same signer, same second), so both
# directions keep a small cache of encoded and decoded headers.


@functools.lru_cache(maxsize=64)
def _verifier(public: str) -> VerifyKey:
    return VerifyKey(b64u_decode(public))


@functools.lru_cache(maxsize=256)
def _encoded_header(kid: str, iat: int) -> str:
    return b64u_encode(canonical_bytes({"alg": ALG, "iat": iat, "kid": kid, "typ": TYP}))


@functools.lru_cache(maxsize=256)
def _decoded_header(header_part: str) -> tuple[str, int]:
    header = parse_canonical(b64u_decode(header_part))
    if not isinstance(header, dict) or header.keys() != _HEADER_FIELDS:
        raise MalformedMessage("JWS header must have exactly alg, iat, kid and typ")
    if header["alg"] != ALG or header["typ"] != TYP:
        raise MalformedMessage("JWS alg must be EdDSA and typ %s" % TYP)
    kid, iat = header["kid"], header["iat"]
    if not isinstance(kid, str) or type(iat) is not int or iat < 0:
        raise MalformedMessage("JWS kid must be a string and iat non-negative integer seconds")
    return kid, iat


__all__ = ["ALG", "TYP", "sign_record", "sign_canonical", "verify_record", "verify_record_bytes", "detached",
           "attached"]
