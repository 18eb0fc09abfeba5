"""HTTP Message Signatures (RFC 9421) with Ed25519, and Cordon's profile of them.

Public API, Cordon profile::

    sign_request(method, url, headers, body, *, key, keyid, destination, now,
                 nonce=None) -> {"Content-Digest", "Cordon-Destination",
                                 "Signature-Input", "Signature"}
    verify_request(method, url, headers, body, *, key_lookup, expected_destination,
                   nonce_registry, now, window_seconds=300) -> keyid
    NonceRegistry          # Protocol: remember(keyid, nonce, created) -> bool

General RFC 9421 building blocks (any covered components)::

    signature_base(method, url, headers, components, params) -> str
    signature_params(components, params) -> str     # the inner list serialized
    component_value(name, method, url, headers) -> str
    parse_dictionary(text) -> {key: (value, params)}    # RFC 8941 dictionary
    serialize_item(value) -> str                        # RFC 8941 bare item

``headers`` is a mapping (or a list of pairs) of field names to a value or a
list of values; names are matched case-insensitively. ``params`` is a
sequence of ``(name, value)`` pairs kept in the given order; values are int,
str, bool or bytes. Derived components supported: ``@method``,
``@target-uri``, ``@authority``, ``@scheme``, ``@path``, ``@query``,
``@request-target``; component parameters (``;sf``, ``;key``, ``;req`` ...)
are not supported and refused. A header field is covered by its lowercased
name with the value of each field line trimmed of surrounding spaces and
tabs and several field lines joined by ``", "``.

Cordon covers ``("@method" "@target-uri" "content-digest"
"cordon-destination")`` with the parameters ``created``, ``keyid``,
``nonce`` (at least 128 random bits, base64url) and ``alg="ed25519"``, under
the label ``sig1``. ``verify_request`` checks in this order and raises the
first failure: ``SignatureMissing`` (no Signature-Input/Signature, no
signature covering the four components, a missing parameter or covered
field), ``MalformedMessage`` (unparseable fields or parameters of the wrong
type, alg other than ed25519), ``WrongDestination``, ``StaleRequest``
(``created`` more than ``window_seconds`` away from ``now``, or past
``expires``), ``UnknownKey`` (``key_lookup(keyid)`` is None),
``KeyNotValid`` (a ``KeyInfo`` whose not_before / not_after window does not
hold ``created``), ``DigestMismatch``, ``BadSignature`` and, last, ``Replay`` when
``nonce_registry.remember`` reports the nonce as seen, so that a forged
request never uses up a nonce.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Protocol
from urllib.parse import urlsplit

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from federation.content_digest import content_digest, verify_content_digest
from federation.errors import (
    BadSignature,
    KeyNotValid,
    MalformedMessage,
    Replay,
    SignatureMissing,
    StaleRequest,
    UnknownKey,
    WrongDestination,
)
from federation.keys import SIG, KeyInfo, b64u_encode, unix_seconds

LABEL = "sig1"
ALG = "ed25519"
DESTINATION_HEADER = "Cordon-Destination"
COVERED = ("@method", "@target-uri", "content-digest", "cordon-destination")
NONCE_BYTES = 16
_NONCE_RE = re.compile(r"\A[A-Za-z0-9_-]{22,128}\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_INTEGER_RE = re.compile(r"-?[0-9]{1,15}")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e]*")
_KEY_RE = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_STRING_RE = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_TOKEN_RE = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_BYTES_RE = re.compile(r":([A-Za-z0-9+/=]*):")
_UNESCAPE_RE = re.compile(r"\\(.)")


class NonceRegistry(Protocol):
    """Remembers request nonces for at least the accepted clock window."""

    def remember(self, keyid: str, nonce: str, created: int) -> bool:
        """Record the nonce; return False if it was already recorded for keyid."""


class Token(str):
    """An RFC 8941 token (as opposed to a string)."""


# -- Cordon profile -------------------------------------------------------------


def sign_request(method, url, headers, body: bytes, *, key: SigningKey, keyid: str, destination: str, now, nonce=None) -> dict:
    """Sign a request; return the header fields to add to it."""
    if nonce is None:
        nonce = b64u_encode(secrets.token_bytes(NONCE_BYTES))
    if not _NONCE_RE.match(nonce):
        raise ValueError("nonce must be 22-128 base64url characters (at least 128 bits)")
    added = {"Content-Digest": content_digest(body), DESTINATION_HEADER: destination}
    fields = _field_lines(headers)
    for name, value in added.items():
        fields[name.lower()] = [value]
    params = [("created", unix_seconds(now)), ("keyid", keyid), ("nonce", nonce), ("alg", ALG)]
    base = _base(method, url, fields, COVERED, params)
    signature = key.sign(base).signature
    added["Signature-Input"] = LABEL + "=" + signature_params(COVERED, params)
    added["Signature"] = LABEL + "=" + serialize_item(signature)
    return added


def verify_request(
    method,
    url,
    headers,
    body: bytes,
    *,
    key_lookup,
    expected_destination: str,
    nonce_registry: NonceRegistry,
    now,
    window_seconds: int = 300,
) -> str:
    """Check a signed request; return the keyid that signed it."""
    fields = _field_lines(headers)
    if "signature-input" not in fields or "signature" not in fields:
        raise SignatureMissing("request has no Signature-Input or Signature")
    inputs = parse_dictionary(", ".join(fields["signature-input"]))
    signatures = parse_dictionary(", ".join(fields["signature"]))
    label, components, params = _find_cordon_signature(inputs, signatures)
    values = dict(params)
    for name in ("created", "keyid", "nonce", "alg"):
        if name not in values:
            raise SignatureMissing("signature parameter %s is missing" % name)
    created, keyid, nonce = values["created"], values["keyid"], values["nonce"]
    if type(created) is not int or type(keyid) is not str or type(nonce) is not str:
        raise MalformedMessage("created must be an integer, keyid and nonce strings")
    if values["alg"] != ALG or type(values["alg"]) is not str:
        raise MalformedMessage("signature alg must be ed25519")
    if not _NONCE_RE.match(nonce):
        raise MalformedMessage("nonce must be 22-128 base64url characters")
    expires = values.get("expires")
    if expires is not None and type(expires) is not int:
        raise MalformedMessage("expires must be an integer")

    destination = _joined(fields, "cordon-destination")
    if destination != expected_destination:
        raise WrongDestination("request is addressed to another node")

    moment = unix_seconds(now)
    if abs(moment - created) > window_seconds or (expires is not None and moment >= expires):
        raise StaleRequest("request created %d s from now" % (created - moment))

    found = key_lookup(keyid)
    verify_key = _verify_key(found)
    if verify_key is None:
        raise UnknownKey("no request signing key %s" % keyid)
    if isinstance(found, KeyInfo) and not found.valid_at(created):
        raise KeyNotValid("key %s was not valid at created %d" % (keyid, created))

    verify_content_digest(_joined(fields, "content-digest"), body)

    signature = signatures[label][0]
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise BadSignature("signature %s is not a 64-byte sequence" % label)
    base = _base(method, url, fields, components, params)
    try:
        verify_key.verify(base, signature)
    except BadSignatureError:
        raise BadSignature("request signature by %s does not verify" % keyid) from None

    if not nonce_registry.remember(keyid, nonce, created):
        raise Replay("nonce already seen for %s" % keyid)
    return keyid


def _find_cordon_signature(inputs, signatures):
    for label, (value, params) in inputs.items():
        if not isinstance(value, list) or label not in signatures:
            continue
        if any(type(item) is not str or item_params for item, item_params in value):
            continue  # another party's signature using features Cordon does not use
        components = [item for item, _ in value]
        if set(COVERED) <= set(components):
            return label, components, list(params.items())
    raise SignatureMissing("no signature covers %s" % " ".join(COVERED))


def _verify_key(found):
    if found is None:
        return None
    if isinstance(found, VerifyKey):
        return found
    if isinstance(found, KeyInfo):
        return found.verify_key() if found.use == SIG else None
    if isinstance(found, (bytes, bytearray)) and len(found) == 32:
        return VerifyKey(bytes(found))
    raise TypeError("key_lookup must return a VerifyKey, a sig KeyInfo, 32 bytes or None")


# -- signature base ---------------------------------------------------------------


def signature_base(method, url, headers, components, params) -> str:
    """The RFC 9421 signature base for the given components and parameters."""
    return _base(method, url, _field_lines(headers), components, params).decode("ascii")


def signature_params(components, params) -> str:
    """Serialize the covered components and parameters as an inner list."""
    inner = "(" + " ".join(serialize_item(str(name)) for name in components) + ")"
    return inner + _serialize_params(params)


def component_value(name: str, method, url, headers) -> str:
    """The value of one covered component in a request."""
    return _component(name, method, url, _field_lines(headers))


def _base(method, url, fields, components, params) -> bytes:
    if len(set(components)) != len(components):
        raise MalformedMessage("a component is covered twice")
    lines = []
    for name in components:
        if name == "@signature-params":
            raise MalformedMessage("@signature-params cannot be covered")
        lines.append(serialize_item(str(name)) + ": " + _component(name, method, url, fields))
    lines.append('"@signature-params": ' + signature_params(components, params))
    text = "\n".join(lines)
    if not text.isascii():
        raise MalformedMessage("signature base must be ASCII")
    return text.encode("ascii")


def _component(name, method, url, fields) -> str:
    if not name.startswith("@"):
        if name != name.lower():
            raise MalformedMessage("field names are covered in lowercase")
        return _joined(fields, name)
    if name == "@method":
        return method
    if name == "@target-uri":
        return url
    parts = urlsplit(url)
    if name == "@authority":
        host = (parts.hostname or "").lower()
        if ":" in host:
            host = "[" + host + "]"
        port = parts.port
        if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
            host += ":%d" % port
        return host
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return (parts.path or "/") + ("?" + parts.query if parts.query else "")
    raise MalformedMessage("unsupported derived component %s" % name)


def _field_lines(headers) -> dict:
    """Lowercased field name -> list of field line values."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        for one in values:
            if not isinstance(one, str) or "\r" in one or "\n" in one:
                raise MalformedMessage("header %s has an invalid value" % name.lower())
            fields.setdefault(name.lower(), []).append(one.strip(" \t"))
    return fields


def _joined(fields, name) -> str:
    if name not in fields:
        raise SignatureMissing("covered field %s is missing" % name)
    return ", ".join(fields[name])


# -- RFC 8941 structured fields -------------------------------------------------------


def serialize_item(value) -> str:
    """Serialize a bare item: int, str (string), Token, bytes or bool."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > 999_999_999_999_999:
            raise ValueError("integer out of structured field range")
        return str(value)
    if isinstance(value, Token):
        return str(value)
    if isinstance(value, str):
        if not _PRINTABLE_RE.fullmatch(value):
            raise ValueError("structured field strings are printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (bytes, bytearray)):
        return ":" + base64.b64encode(bytes(value)).decode("ascii") + ":"
    raise TypeError("unsupported structured field item %s" % type(value).__name__)


def _serialize_params(params) -> str:
    out = []
    for name, value in params:
        out.append(";" + name if value is True else ";" + name + "=" + serialize_item(value))
    return "".join(out)


def parse_dictionary(text: str) -> dict:
    """Parse an RFC 8941 dictionary; members are ``(value, params)`` pairs.

    ``value`` is a bare item or, for an inner list, a list of
    ``(item, params)`` pairs; ``params`` is a dict in received order.
    Decimals are not supported. Raises ``MalformedMessage``.
    """
    return _Parser(text).dictionary()


class _Parser:
    def __init__(self, text: str):
        if not isinstance(text, str) or not text.isascii():
            raise MalformedMessage("structured field must be ASCII text")
        self.text = text.strip(" ")
        self.pos = 0

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _fail(self, what):
        raise MalformedMessage("structured field: %s at offset %d" % (what, self.pos))

    def dictionary(self) -> dict:
        members: dict = {}
        while self.pos < len(self.text):
            key = self._key()
            if self._peek() == "=":
                self.pos += 1
                value = self._inner_list() if self._peek() == "(" else self._bare_item()
            else:
                value = True
            members[key] = (value, self._params())
            self._skip(" \t")
            if self.pos >= len(self.text):
                return members
            if self._peek() != ",":
                self._fail("expected ','")
            self.pos += 1
            self._skip(" \t")
            if self.pos >= len(self.text):
                self._fail("trailing comma")
        return members

    def _skip(self, chars):
        while self._peek() and self._peek() in chars:
            self.pos += 1

    def _key(self) -> str:
        return self._match(_KEY_RE, "expected a key").group()

    def _match(self, pattern, what):
        match = pattern.match(self.text, self.pos)
        if match is None:
            self._fail(what)
        self.pos = match.end()
        return match

    def _params(self) -> dict:
        params: dict = {}
        while self._peek() == ";":
            self.pos += 1
            self._skip(" ")
            name = self._key()
            if self._peek() == "=":
                self.pos += 1
                params[name] = self._bare_item()
            else:
                params[name] = True
        return params

    def _inner_list(self) -> list:
        self.pos += 1
        items = []
        while True:
            self._skip(" ")
            if self._peek() == ")":
                self.pos += 1
                return items
            item = self._bare_item()
            items.append((item, self._params()))
            if self._peek() not in (" ", ")"):
                self._fail("expected ' ' or ')' in inner list")

    def _bare_item(self):
        char = self._peek()
        if char == "-" or char.isdigit():
            return self._integer()
        if char == '"':
            return self._string()
        if char == ":":
            return self._bytes()
        if char == "?":
            return self._boolean()
        if char.isalpha() or char == "*":
            return self._token()
        self._fail("expected an item")

    def _integer(self) -> int:
        value = int(self._match(_INTEGER_RE, "bad integer").group())
        if self._peek() == ".":
            self._fail("decimals are not supported")
        return value

    def _string(self) -> str:
        return _UNESCAPE_RE.sub(r"\1", self._match(_STRING_RE, "bad string").group(1))

    def _bytes(self) -> bytes:
        chunk = self._match(_BYTES_RE, "bad byte sequence").group(1)
        try:
            return base64.b64decode(chunk, validate=True)
        except (binascii.Error, ValueError):
            self._fail("byte sequence is not base64")

    def _boolean(self) -> bool:
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            self._fail("bad boolean")
        self.pos += 2
        return value == "1"

    def _token(self) -> Token:
        return Token(self._match(_TOKEN_RE, "bad token").group())


__all__ = [
    "LABEL",
    "ALG",
    "COVERED",
    "DESTINATION_HEADER",
    "NonceRegistry",
    "Token",
    "sign_request",
    "verify_request",
    "signature_base",
    "signature_params",
    "component_value",
    "parse_dictionary",
    "serialize_item",
]
