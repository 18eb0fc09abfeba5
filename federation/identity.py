"""Identity documents: who a node is and which keys speak for it.

Public API::

    build_document(*, node_id, name, base_url, role, serial, issued_at, keys) -> dict
    next_document(document, *, issued_at, keys=None, name=None, base_url=None, role=None) -> dict
    sign_document(document, signers) -> signed dict   # signers: [(kid, SigningKey), ...]
    verify_self_signed(signed) -> document            # raises IdentityInvalid
    verify_rotation(trusted_document, new_signed) -> document   # raises RotationInvalid
    verify_not_older(trusted_document, document)      # raises RotationInvalid
    document_keys(document) -> {kid: KeyInfo}
    current_key(document, use) -> KeyInfo             # "sig" or "enc"
    fingerprint(document) -> "XXXX-XXXX-XXXX-XXXX-XXXX"

A document is a dict with exactly the fields ``node_id``, ``name``,
``base_url``, ``role`` (``member`` or ``coordinator``), ``serial`` (integer
that grows with every change), ``issued_at`` (timestamp) and ``keys`` (list
of key metadata dicts, see ``federation.keys``; retired and revoked keys stay
listed). The signed form is::

    {"document": {...},
     "signatures": [{"kid": "ed25519:...", "signature": "<base64url>"}]}

where each signature is Ed25519 over ``canonical_bytes(document)``.

A document is *self-signed* when every listed signature verifies with a
signing key listed in the document and at least one of them comes from a key
that is ``active`` and inside its validity window at ``issued_at``.

A *rotation* (any change: new keys, retirement, revocation, new name or URL)
is accepted from a trusted document only if the new one is self-signed,
has the same node id and a higher serial, still lists every key of the
trusted document with the same public key, keeps revoked keys revoked, and
carries a signature by a key that is active in the trusted document, valid
at the new ``issued_at`` and not revoked by the new document.

A document confirmed out of band in place of one trusted before (a peer
added again after it was removed) need not chain from it, but must not undo
it: when the two share a key, ``verify_not_older`` refuses a lower serial,
another document under the same serial, and a key the trusted document
revoked listed as not revoked or revoked at another time. A document with
none of the trusted one's keys (the node was set up anew) is taken as it is.

The fingerprint is what two administrators read to each other: SHA-256 over
``node_id`` (UTF-8), one zero byte and the raw current signing public key;
its first 100 bits written in Crockford base32, in five groups of four.
"""

from __future__ import annotations

import hashlib
import re

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from federation.canonical import canonical_bytes
from federation.errors import FederationError, IdentityInvalid, RotationInvalid
from federation.keys import ACTIVE, ENC, REVOKED, SIG, KeyInfo, b64u_decode, b64u_encode, parse_time, unix_seconds

ROLES = ("member", "coordinator")
_FIELDS = ("node_id", "name", "base_url", "role", "serial", "issued_at", "keys")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# Any node id an identity document may carry (earlier documents included); what a member's id must be
# besides, so that a sharing policy can name it, is policies.node_ids.
NODE_ID_RE = re.compile(r"\A[A-Z0-9][A-Z0-9-]{1,31}\Z")

def build_document(*, node_id, name, base_url, role, serial, issued_at, keys) -> dict:
    """Assemble and validate a document; ``keys`` are KeyInfo objects or dicts."""
    document = {
        "node_id": node_id,
        "name": name,
        "base_url": base_url,
        "role": role,
        "serial": serial,
        "issued_at": issued_at,
        "keys": [key.to_dict() if isinstance(key, KeyInfo) else dict(key) for key in keys],
    }
    _parse(document)
    return document


def next_document(document, *, issued_at, keys=None, name=None, base_url=None, role=None) -> dict:
    """The successor of ``document`` with serial + 1 and the given changes."""
    current = _parse(document)
    return build_document(
        node_id=document["node_id"],
        name=document["name"] if name is None else name,
        base_url=document["base_url"] if base_url is None else base_url,
        role=document["role"] if role is None else role,
        serial=document["serial"] + 1,
        issued_at=issued_at,
        keys=current.values() if keys is None else keys,
    )


def sign_document(document, signers) -> dict:
    """Sign ``document`` with each ``(kid, SigningKey)`` in ``signers``."""
    keys = _parse(document)
    message = canonical_bytes(document)
    signatures = []
    for kid, signing_key in signers:
        if not isinstance(signing_key, SigningKey):
            raise TypeError("signers must be (kid, nacl SigningKey) pairs")
        listed = keys.get(kid)
        if listed is None or listed.use != SIG or listed.public_bytes != bytes(signing_key.verify_key):
            raise IdentityInvalid("signer %s is not a signing key listed in the document" % kid)
        signatures.append({"kid": kid, "signature": b64u_encode(signing_key.sign(message).signature)})
    if not signatures:
        raise IdentityInvalid("a document needs at least one signature")
    return {"document": document, "signatures": signatures}


def verify_self_signed(signed) -> dict:
    """Return the document if ``signed`` is properly self-signed."""
    document, keys, signers = _verify_signatures(signed)
    issued = unix_seconds(parse_time(document["issued_at"]))
    if not any(keys[kid].status == ACTIVE and keys[kid].valid_at(issued) for kid in signers):
        raise IdentityInvalid("no signature by a key active in the document")
    return document


def verify_rotation(trusted_document, new_signed) -> dict:
    """Return the new document if it chains from ``trusted_document``."""
    trusted_keys = _parse(trusted_document)
    document = verify_self_signed(new_signed)
    new_keys = document_keys(document)
    if document["node_id"] != trusted_document["node_id"]:
        raise RotationInvalid("node id changed from %s" % trusted_document["node_id"])
    if document["serial"] <= trusted_document["serial"]:
        raise RotationInvalid("serial %d is not above the trusted %d" % (document["serial"], trusted_document["serial"]))
    for kid, old in trusted_keys.items():
        new = new_keys.get(kid)
        if new is None or new.public != old.public or new.use != old.use:
            raise RotationInvalid("key %s of the trusted document is no longer listed" % kid)
        if old.status == REVOKED and (new.status != REVOKED or new.revoked_at != old.revoked_at):
            raise RotationInvalid("revoked key %s is not kept revoked" % kid)
    issued = unix_seconds(parse_time(document["issued_at"]))
    message = canonical_bytes(document)
    for entry in new_signed["signatures"]:
        old = trusted_keys.get(entry["kid"])
        if old is None or old.use != SIG or old.status != ACTIVE or not old.valid_at(issued):
            continue
        if new_keys[entry["kid"]].status == REVOKED:
            continue
        if _signature_ok(old, message, entry["signature"]):
            return document
    raise RotationInvalid("not signed by a key active in the trusted document")


MAX_CHAIN = 256  # identities one node issues in its life: a rotation every year or two, a few revocations


def follow_chain(trusted_document, chain) -> dict:
    """The newest signed document of ``chain`` (signed identity documents of one node, in any order) that
    can be reached from ``trusted_document`` by ``verify_rotation`` steps, each from the last one reached:
    a peer that missed several rotations, or a rotation and then the revocation of the key that signed it,
    follows every step. Raises RotationInvalid (the last step's reason) when no newer document is reached."""
    if not isinstance(chain, list) or not chain:
        raise RotationInvalid("a chain is a non-empty list of signed identity documents")

    def serial(signed):
        document = signed.get("document") if isinstance(signed, dict) else None
        value = document.get("serial") if isinstance(document, dict) else None
        return value if type(value) is int else -1

    # Another node's documents and those not newer than the trusted one are passed over before any
    # signature is checked; at most MAX_CHAIN of the rest are walked.
    newer = [signed for signed in chain if serial(signed) > trusted_document["serial"]
             and signed["document"].get("node_id") == trusted_document["node_id"]]
    if len(newer) > MAX_CHAIN:
        raise RotationInvalid(f"a chain holds at most {MAX_CHAIN} documents newer than the trusted one")
    current, reached, reason = trusted_document, None, "no document newer than the trusted one"
    for signed in sorted(newer, key=serial):
        if serial(signed) <= current["serial"]:
            continue
        try:
            current, reached = verify_rotation(current, signed), signed
        except (FederationError, KeyError, TypeError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, FederationError) else "a document of the chain is malformed"
    if reached is None:
        raise RotationInvalid(reason)
    return reached


def verify_not_older(trusted_document, document) -> None:
    """Refuse ``document`` (already verified as self-signed) if it would undo ``trusted_document``: a lower
    serial, another document with the same serial, or a key the trusted one revoked that it does not.
    A document sharing no key with the trusted one (the node was set up anew) undoes nothing."""
    trusted_keys = _parse(trusted_document)
    keys = _parse(document)
    if not keys.keys() & trusted_keys.keys():
        return  # no key in common: a node set up anew (its new fingerprint was confirmed), nothing to undo
    serial, trusted_serial = document["serial"], trusted_document["serial"]
    if serial < trusted_serial:
        raise RotationInvalid("serial %d is older than the serial %d trusted before" % (serial, trusted_serial))
    if serial == trusted_serial and canonical_bytes(document) != canonical_bytes(trusted_document):
        raise RotationInvalid("serial %d differs from the document of the same serial trusted before" % serial)
    for kid, old in trusted_keys.items():
        new = keys.get(kid)
        if old.status == REVOKED and new is not None and (new.status != REVOKED or new.revoked_at != old.revoked_at):
            raise RotationInvalid("key %s, revoked in the document trusted before, is not revoked alike" % kid)


def document_keys(document) -> dict:
    """All keys listed in ``document`` by kid (validates the document)."""
    return _parse(document)


def current_key(document, use: str) -> KeyInfo:
    """The newest active key for ``use`` ("sig" or "enc").

    Among active keys valid at ``issued_at`` (or, if none is, among all
    active keys) the one with the latest ``not_before``, ties broken by kid.
    """
    active = [key for key in _parse(document).values() if key.use == use and key.status == ACTIVE]
    issued = unix_seconds(parse_time(document["issued_at"]))
    candidates = [key for key in active if key.valid_at(issued)] or active
    return max(candidates, key=lambda key: (key.not_before, key.kid))


def fingerprint(document) -> str:
    """Short, human-comparable fingerprint of node id and current signing key."""
    key = current_key(document, SIG)
    digest = hashlib.sha256(document["node_id"].encode("utf-8") + b"\x00" + key.public_bytes).digest()
    bits = int.from_bytes(digest[:13], "big") >> 4  # first 100 bits
    chars = [_CROCKFORD[(bits >> (5 * (19 - index))) & 31] for index in range(20)]
    return "-".join("".join(chars[start : start + 4]) for start in range(0, 20, 4))


def _parse(document) -> dict:
    """Validate the document shape; return its keys by kid."""
    if not isinstance(document, dict) or set(document) != set(_FIELDS):
        raise IdentityInvalid("document must have exactly the fields %s" % ", ".join(_FIELDS))
    node_id = document["node_id"]
    if not isinstance(node_id, str) or not NODE_ID_RE.match(node_id):
        raise IdentityInvalid("node_id must be 2-32 characters A-Z, 0-9 and '-'")
    name = document["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise IdentityInvalid("name must be a non-empty string of at most 200 characters")
    base_url = document["base_url"]
    if not isinstance(base_url, str) or not re.match(r"\Ahttps?://[^\s/?#]+(/[^\s?#]*)?\Z", base_url):
        raise IdentityInvalid("base_url must be an http or https URL without query")
    if document["role"] not in ROLES:
        raise IdentityInvalid("role must be member or coordinator")
    serial = document["serial"]
    if type(serial) is not int or serial < 1:
        raise IdentityInvalid("serial must be a positive integer")
    keys = document["keys"]
    if not isinstance(keys, list) or not keys:
        raise IdentityInvalid("keys must be a non-empty list")
    try:
        parse_time(document["issued_at"])
        infos = [KeyInfo.from_dict(entry) for entry in keys]
    except FederationError as exc:
        raise IdentityInvalid("invalid entry: %s" % exc) from None
    by_kid = {info.kid: info for info in infos}
    if len(by_kid) != len(infos):
        raise IdentityInvalid("a key is listed twice")
    for use in (SIG, ENC):
        if not any(info.use == use and info.status == ACTIVE for info in infos):
            raise IdentityInvalid("document has no active %s key" % use)
    return by_kid


def _verify_signatures(signed):
    if not isinstance(signed, dict) or set(signed) != {"document", "signatures"}:
        raise IdentityInvalid("signed document must have exactly document and signatures")
    document = signed["document"]
    keys = _parse(document)
    entries = signed["signatures"]
    if not isinstance(entries, list) or not entries:
        raise IdentityInvalid("signatures must be a non-empty list")
    message = canonical_bytes(document)
    signers = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"kid", "signature"}:
            raise IdentityInvalid("each signature has exactly kid and signature")
        kid = entry["kid"]
        key = keys.get(kid) if isinstance(kid, str) else None
        if key is None or key.use != SIG:
            raise IdentityInvalid("signature by a key not listed as a signing key")
        if kid in signers:
            raise IdentityInvalid("key %s signed twice" % kid)
        if not _signature_ok(key, message, entry["signature"]):
            raise IdentityInvalid("signature by %s does not verify" % kid)
        signers.append(kid)
    return document, keys, signers


def _signature_ok(key: KeyInfo, message: bytes, signature) -> bool:
    try:
        raw = b64u_decode(signature)
        if len(raw) != 64:
            return False
        key.verify_key().verify(message, raw)
        return True
    except (BadSignatureError, FederationError, ValueError, TypeError):
        return False


__all__ = [
    "ROLES",
    "build_document",
    "next_document",
    "sign_document",
    "verify_self_signed",
    "verify_rotation",
    "verify_not_older",
    "document_keys",
    "current_key",
    "fingerprint",
]
