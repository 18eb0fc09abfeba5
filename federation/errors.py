"""Errors raised by the federation package.

Every refusal of something received from the wire is a ``FederationError``.
Each class carries a stable short ``code`` so that the node can count
refusals per kind and answer without detail. Messages name keys, node ids
and fields, never record content.

Hierarchy::

    FederationError                 federation_error
    ├── MalformedMessage            malformed
    ├── NotCanonical                not_canonical
    ├── BadSignature                bad_signature
    ├── SignatureMissing            signature_missing
    ├── UnknownKey                  unknown_key
    ├── KeyRevoked                  key_revoked
    ├── KeyNotValid                 key_not_valid
    ├── Replay                      replay
    ├── StaleRequest                stale_request
    ├── WrongDestination            wrong_destination
    ├── DigestMismatch              digest_mismatch
    ├── SealInvalid                 seal_invalid
    ├── IdentityInvalid             identity_invalid
    │   └── RotationInvalid         rotation_invalid
    └── KeyFileError                key_file
        └── KeyFileInsecure         key_file_insecure

``RotationInvalid`` is an ``IdentityInvalid``: a refused rotation is a refused
identity document. ``KeyFileInsecure`` is raised when a private key file can
be read by group or others.
"""

from __future__ import annotations


class FederationError(Exception):
    """Root of every error raised by the federation package."""

    code = "federation_error"


class MalformedMessage(FederationError):
    """A structure received from the wire does not have the expected shape."""

    code = "malformed"


class NotCanonical(FederationError):
    """A value cannot be, or bytes are not, canonical JSON (RFC 8785)."""

    code = "not_canonical"


class BadSignature(FederationError):
    """A signature does not verify."""

    code = "bad_signature"


class SignatureMissing(FederationError):
    """A request lacks its signature, a signature parameter or a covered field."""

    code = "signature_missing"


class UnknownKey(FederationError):
    """A key id is not known for the claimed signer or recipient."""

    code = "unknown_key"


class KeyRevoked(FederationError):
    """A signature was made by a revoked key at or after its revocation time."""

    code = "key_revoked"


class KeyNotValid(FederationError):
    """A signature was made outside the key's not_before / not_after window."""

    code = "key_not_valid"


class Replay(FederationError):
    """A request nonce was already seen."""

    code = "replay"


class StaleRequest(FederationError):
    """A request was created outside the accepted clock window."""

    code = "stale_request"


class WrongDestination(FederationError):
    """A request names another node as its destination."""

    code = "wrong_destination"


class DigestMismatch(FederationError):
    """A body does not match its Content-Digest."""

    code = "digest_mismatch"


class SealInvalid(FederationError):
    """A sealed envelope cannot be opened by this node or was tampered with."""

    code = "seal_invalid"


class IdentityInvalid(FederationError):
    """An identity document is malformed or not properly self-signed."""

    code = "identity_invalid"


class RotationInvalid(IdentityInvalid):
    """A new identity document does not chain from the trusted one."""

    code = "rotation_invalid"


class KeyFileError(FederationError):
    """A private key file cannot be written or read."""

    code = "key_file"


class KeyFileInsecure(KeyFileError):
    """A private key file is readable or writable by group or others."""

    code = "key_file_insecure"


__all__ = [
    "FederationError",
    "MalformedMessage",
    "NotCanonical",
    "BadSignature",
    "SignatureMissing",
    "UnknownKey",
    "KeyRevoked",
    "KeyNotValid",
    "Replay",
    "StaleRequest",
    "WrongDestination",
    "DigestMismatch",
    "SealInvalid",
    "IdentityInvalid",
    "RotationInvalid",
    "KeyFileError",
    "KeyFileInsecure",
]
