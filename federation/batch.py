"""Batches of signed record views, sealed to one recipient.

An *item* is a compact JWS (``federation.record_signature``) whose payload is::

    {"kind": "record" | "tombstone", "type": "denial", "recipient": "DE",
     "rev": 1234, "record": {...view...}}

``record`` is exactly the view the recipient may see (after policy
redaction); a tombstone's record holds only ``uid``, ``origin``, ``version``,
``status`` and ``reason`` (``revoked``, ``expired`` or ``withdrawn``).
``rev`` is the origin's change-log position that caused the item: for one
record, a receiver applies an item only if ``(version, rev)`` is above what
it holds, so repeats and stale retries are harmless no-ops.

A *batch* is the canonical JSON object::

    {"sender": "MT", "recipient": "DE", "items": [jws, ...], "after": "..." (optional),
     "next_cursor": "..." | null, "more": true | false}

``after`` is the cursor the batch continues from: it holds every change for
the recipient after ``after`` up to ``next_cursor``, so a receiver whose own
pull cursor lies in that range has received all of it once it is stored.

sealed to the recipient with ``federation.envelope.seal``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re

import orjson

from .canonical import MAX_SAFE_INTEGER, canonical_bytes, canonical_bytes_of_parsed
from .envelope import open_envelope, seal
from .errors import FederationError, MalformedMessage
from .record_signature import sign_canonical, verify_record_bytes

KINDS = ("record", "tombstone")
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # a UUID, as RFC 9562 writes it
TOMBSTONE_REASONS = ("revoked", "expired", "withdrawn")


class RelayRefused(FederationError):
    """An item names an origin other than the node that sent it, or another recipient."""

    code = "relay_refused"


@dataclasses.dataclass(frozen=True)
class Sender:
    """What a node needs to sign items and seal batches."""

    node_id: str
    sig_kid: str
    sig_key: object
    enc_kid: str
    enc_key: object


@dataclasses.dataclass(frozen=True)
class Recipient:
    node_id: str
    enc_kid: str
    enc_public: object


@dataclasses.dataclass
class Item:
    kind: str
    type: str
    rev: int
    record: dict
    kid: str
    iat: int
    record_bytes: bytes | None = None  # canonical JSON of ``record``, as signed (a slice of the verified payload)
    framed: bool = False  # the signed payload is exactly ``item_payload(kind, recipient, rev, type, record_bytes)``

    @property
    def uid(self) -> str:
        return self.record["uid"]

    @property
    def version(self) -> int:
        return self.record["version"]


@dataclasses.dataclass
class Batch:
    sender: str
    items: list[str]
    next_cursor: str | None
    more: bool
    after: str | None = None


def tombstone_view(record: dict, reason: str) -> dict:
    if reason not in TOMBSTONE_REASONS:
        raise ValueError(f"unknown tombstone reason {reason}")
    return {"uid": record["uid"], "origin": record["origin"], "version": record["version"],
            "status": reason, "reason": reason}


def sign_item(sender: Sender, *, kind: str, record_type: str, recipient: str, rev: int, view: dict, now) -> str:
    return encode_item(sender, kind=kind, record_type=record_type, recipient=recipient, rev=rev, view=view,
                       now=now)[0]


def encode_item(sender: Sender, *, kind: str, record_type: str, recipient: str, rev: int, view: dict,
                now, parsed: bool = False) -> tuple[str, bytes]:
    """Sign one item; return the compact JWS and the canonical bytes of ``view`` inside it.

    The view is encoded once: the payload's canonical JSON is assembled around
    those bytes (its five member names sort as kind, recipient, record, rev,
    type), so a caller can hash exactly what was signed without encoding again.
    ``parsed``: the view holds only values a JSON parser returns (see
    ``canonical_bytes_of_parsed``).
    """
    if not isinstance(view, dict):
        raise TypeError("a record view is a dict")
    record = (canonical_bytes_of_parsed if parsed else canonical_bytes)(view)
    payload = item_payload(kind, recipient, rev, record_type, record)
    return sign_canonical(payload, sender.sig_key, sender.sig_kid, now), record


def item_payload(kind: str, recipient: str, rev: int, record_type: str, record: bytes) -> bytes:
    """An item's canonical payload around ``record``, the canonical bytes of its view: what is signed (a
    holder of a view's bytes rebuilds a signed item from them and the signature's detached form)."""
    head, tail = _frame(kind, recipient, rev, record_type)
    return head + record + tail


def _frame(kind, recipient, rev, record_type) -> tuple[bytes, bytes]:
    """The canonical payload's bytes before and after the record's value."""
    strings = type(kind) is str and type(recipient) is str and type(record_type) is str
    head = (_cached_head if strings else _head)(kind, recipient)
    type_tail = (_cached_type_tail if strings else _type_tail)(record_type)
    # A non-negative safe integer's canonical form is its decimal digits (bool is not int here).
    rev_bytes = str(rev).encode() if type(rev) is int and 0 <= rev <= MAX_SAFE_INTEGER else canonical_bytes(rev)
    return head, b',"rev":' + rev_bytes + type_tail


def _head(kind, recipient) -> bytes:
    return b'{"kind":' + canonical_bytes(kind) + b',"recipient":' + canonical_bytes(recipient) + b',"record":'


def _type_tail(record_type) -> bytes:
    return b',"type":' + canonical_bytes(record_type) + b"}"


# A node sends and receives few kinds, recipients and types: their parts are encoded once each.
_cached_head = functools.lru_cache(maxsize=256)(_head)
_cached_type_tail = functools.lru_cache(maxsize=64)(_type_tail)


def verify_item(jws: str, *, sender: str, me: str, key_lookup) -> Item:
    """Verify one item from ``sender`` addressed to ``me``; raise a FederationError if it must be refused."""
    payload, header, raw = verify_record_bytes(jws, key_lookup)
    try:
        kind, record_type, recipient, rev, record = (
            payload["kind"], payload["type"], payload["recipient"], payload["rev"], payload["record"])
        if kind not in KINDS or not isinstance(record, dict) or type(rev) is not int or rev < 0:
            raise KeyError
        uid, version = record.get("uid"), record.get("version")
        if not (type(uid) is str and _UID.fullmatch(uid)) or type(version) is not int or version < 1:
            raise KeyError
        if not isinstance(record_type, str) or not isinstance(record.get("origin"), str):
            raise KeyError
    except (KeyError, TypeError):
        raise MalformedMessage("item payload lacks kind, type, recipient, rev or record identity (a UUID uid, "
                               "a version from 1, an origin)") from None
    if recipient != me:
        raise RelayRefused(f"item addressed to {recipient}, not {me}")
    if record["origin"] != sender:
        raise RelayRefused(f"item of origin {record['origin']} sent by {sender}")
    if kind == "tombstone" and record.get("reason") not in TOMBSTONE_REASONS:
        raise MalformedMessage("tombstone without a known reason")
    return Item(kind, record_type, rev, record, header["kid"], header["iat"], *_record_slice(raw, payload))


def _record_slice(raw: bytes, payload: dict) -> tuple[bytes, bool]:
    """The record's canonical bytes inside a verified canonical payload, and whether the payload is exactly
    the item's frame around them (else, with extra members, the record is encoded again)."""
    head, tail = _frame(payload["kind"], payload["recipient"], payload["rev"], payload["type"])
    if len(payload) == 5 and raw.startswith(head) and raw.endswith(tail):
        return raw[len(head): len(raw) - len(tail)], True
    return canonical_bytes(payload["record"]), False


def seal_batch(sender: Sender, recipient: Recipient, items: list[str], next_cursor: str | None, more: bool, *,
               after: str | None = None) -> dict:
    body = batch_bytes(sender.node_id, recipient.node_id, items, next_cursor, more, after=after)
    return seal(body, sender=sender.node_id, recipient=recipient.node_id, sender_key=sender.enc_key,
                sender_kid=sender.enc_kid, recipient_public=recipient.enc_public, recipient_kid=recipient.enc_kid)


def batch_bytes(sender: str, recipient: str, items: list[str], next_cursor: str | None, more: bool, *,
                after: str | None = None) -> bytes:
    """The canonical JSON of a batch object (``after`` left out when None).

    Items are compact JWS, made only of base64url characters and dots, so
    each one's JSON string is the item between quotes: the items array is
    written directly (about ten times faster than encoding 1 MB of strings)
    and the other members, which sort after ``items`` (all but ``after``,
    which sorts before), through ``canonical_bytes``. An item with a comma
    is written directly too (canonical JSON writes a comma as it is); a list
    with any other item, or any item that is not a string, takes
    ``canonical_bytes`` whole.
    """
    members = {"sender": sender, "recipient": recipient, "next_cursor": next_cursor, "more": more}
    try:
        joined = '","'.join(items).encode("ascii") if type(items) is list else None
    except (TypeError, UnicodeEncodeError):
        joined = None
    # The items are written as they are when, JWS characters and commas left out, only the separators'
    # quotes remain (a comma inside an item would be written as it is anyway).
    if joined is None or joined.translate(None, _JWS_CHARACTERS_AND_COMMA) != b'""' * max(len(items) - 1, 0):
        return canonical_bytes({**members, "items": items, **({} if after is None else {"after": after})})
    rest = canonical_bytes(members)
    head = b"{" if after is None else b'{"after":' + canonical_bytes(after) + b","
    array = (b'["', joined, b'"]') if items else (b"[]",)
    return b"".join((head, b'"items":', *array, b",", rest[1:]))


_JWS_CHARACTERS_AND_COMMA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.,"


def cursor_position(cursor) -> int:
    """The change-log position a Cordon cursor stands for (its decimal digits); null or "" is the start.
    Raises ``ValueError`` for anything else."""
    if cursor is None or cursor == "":
        return 0
    if type(cursor) is not str or not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise ValueError(cursor)
    return int(cursor)


def continues_from(batch: Batch, cursor) -> bool:
    """Whether ``batch`` answers a pull asked from ``cursor``: its ``after`` is that cursor and its
    ``next_cursor`` (when given) is a cursor not before it. An answer recorded from an earlier pull and
    replayed, or one for another cursor, is not."""
    try:
        if batch.after is None or cursor_position(batch.after) != cursor_position(cursor):
            return False
        return batch.next_cursor is None or cursor_position(batch.next_cursor) >= cursor_position(batch.after)
    except ValueError:
        return False


def open_batch(envelope: dict, *, me: str, my_keys: dict, sender_public_lookup) -> Batch:
    plaintext = open_envelope(envelope, me=me, my_keys=my_keys, sender_public_lookup=sender_public_lookup)
    try:
        body = orjson.loads(plaintext)
        items, sender = body["items"], body["sender"]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise KeyError
        if sender != envelope.get("sender") or body.get("recipient") != me:
            raise KeyError
    except (ValueError, KeyError, TypeError):
        raise MalformedMessage("batch body is not a Cordon batch") from None
    after = body.get("after")
    return Batch(sender, items, body.get("next_cursor"), bool(body.get("more")),
                 after if isinstance(after, str) else None)


def seal_json(sender: Sender, recipient: Recipient, body: dict) -> dict:
    """Seal any JSON message (query answers, verification answers) to a recipient."""
    return seal(canonical_bytes(body), sender=sender.node_id, recipient=recipient.node_id, sender_key=sender.enc_key,
                sender_kid=sender.enc_kid, recipient_public=recipient.enc_public, recipient_kid=recipient.enc_kid)


def open_json(envelope: dict, *, me: str, my_keys: dict, sender_public_lookup) -> dict:
    plaintext = open_envelope(envelope, me=me, my_keys=my_keys, sender_public_lookup=sender_public_lookup)
    try:
        body = json.loads(plaintext)
    except ValueError:
        raise MalformedMessage("sealed body is not JSON") from None
    if not isinstance(body, dict):
        raise MalformedMessage("sealed body is not a JSON object")
    return body
