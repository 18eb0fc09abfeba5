"""Denials as rows: validating a body, and the rows that store a denial document.

Nothing here reads or writes the database. ``cordon denials import`` prepares
its rows with :class:`DenialPreparer` in two worker processes (see
:mod:`node.importer`) while the main process writes the chunks before; the
registry (:mod:`node.denials`) prepares in its own process for the API and
for small files. A prepared row holds strings and tuples only, so it crosses
between processes cheaply.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

from marshmallow import fields

from . import json_text, party_names
from .errors import NodeError, ReadOnlyRecord, ValidationFailed
from .record_table import content_hash, dumps, iso, new_uid
from .schemas import DENIAL_STATUSES, DenialInput, load_body
from .timestamps import add_years

INPUT = DenialInput()
INPUT_FIELDS = tuple(INPUT.fields)
INPUT_KEYS = frozenset(INPUT_FIELDS)
EXPORTED_FIELDS = frozenset(("uid", "origin", "version", "status", "revoked_reason", "created_at", "updated_at"))


class StoredDenial(NamedTuple):
    """What storing one denial document writes: its ``denials`` row (``UPSERT`` parameters; the
    document's JSON is the last) and its ``party_names`` rows."""

    row: tuple
    names: list[tuple]

    @property
    def uid(self) -> str:
        return self.row[0]

    @property
    def origin(self) -> str:
        return self.row[1]

    @property
    def version(self) -> int:
        return self.row[3]

    @property
    def text(self) -> str:
        return self.row[-1]


class Prepared(NamedTuple):
    """One valid import row: its reference, the status it has in the file and, for an active row,
    the record it creates when its reference is new. Its validated content is in that record's
    document; a row without one has it as compact JSON in ``content`` (half the text to send
    between processes for the usual row)."""

    ref: str
    status: str
    content: str | None
    new: StoredDenial | None

    def content_doc(self) -> dict:
        """The row's validated content."""
        if self.content is not None:
            return json_text.loads(self.content)
        return content_of(json_text.loads(self.new.text))


_SHOWN_FIRST = ("uid", "origin", "ref", "version", "status")
_SHOWN_LAST = ("revoked_reason", "created_at", "updated_at")
SHOWN_KEYS = (*_SHOWN_FIRST, *(f for f in INPUT_FIELDS if f not in _SHOWN_FIRST + _SHOWN_LAST), *_SHOWN_LAST)


def in_shown_order(doc: dict) -> dict:
    """``doc`` with its keys in one order whatever its source (written here, amended, or received as
    canonical JSON with sorted keys): identity and state first, then the content fields as the schema
    lists them, then the times; any other key after them. Parties, their names and identifiers, and
    control list entries are ordered as their schemas list their fields; ``key_parameters``, whose
    names the officer chose, keeps the order it has."""
    return _in_order(doc, SHOWN_KEYS, INPUT.fields)


def _in_order(value, keys, fields_by_name):
    if not isinstance(value, dict):
        return value
    position = {key: index for index, key in enumerate(keys)}
    shown = {}
    for key, item in sorted(value.items(), key=lambda kv: position.get(kv[0], len(position))):
        field = fields_by_name.get(key)
        inner = getattr(field, "inner", field)  # a List's element field, or the field itself
        if isinstance(inner, fields.Nested):
            nested = inner.schema.fields
            item = ([_in_order(element, nested, nested) for element in item] if isinstance(item, list)
                    else _in_order(item, nested, nested))
        shown[key] = item
    return shown


def party_text(doc: dict) -> str:
    """Folded party names, for the list filter ``party=``."""
    names = [n["text"] for p in doc.get("parties", []) for n in p.get("names", [])]
    return " | ".join(names).casefold()


def stored_form(doc: dict, text: str | None = None, stamp: str | None = None, digest: str | None = None
                ) -> StoredDenial:
    """The rows storing ``doc``. ``text``: its stored JSON when the caller has it (a received
    record is stored as the canonical JSON its origin signed); ``stamp``: the created / updated
    time for a received view that leaves them out (its ``ref`` may be left out too: the uid
    stands in); ``digest``: the row's ``content_hash`` when the caller has one (a received
    record's is the SHA-256 of the signed view), else that of the content fields."""
    text = dumps(doc) if text is None else text
    row = (doc["uid"], doc["origin"], doc.get("ref") or doc["uid"], doc["version"], doc["status"],
           doc.get("sensitivity", "restricted"), doc.get("destination_country"), json.dumps(doc.get("regimes", [])),
           doc.get("denied_on"), doc.get("review_due"), doc.get("created_at") or stamp,
           doc.get("updated_at") or stamp, party_text(doc), digest or content_hash(doc), text)
    return StoredDenial(row, party_names.rows_of(doc))


def content_of(doc: dict) -> dict:
    """The content :meth:`DenialPreparer.new_doc` made ``doc`` of, its keys in their order: the
    document's input fields, but ``notified_at`` when it comes after ``updated_at`` (filled in by
    ``new_doc``, not given)."""
    content = {key: value for key, value in doc.items() if key in INPUT_KEYS}
    if "notified_at" in content and list(doc)[-2:] == ["updated_at", "notified_at"]:
        del content["notified_at"]
    return content


class DenialPreparer:
    """Validates denial bodies for this node and prepares import rows."""

    def __init__(self, node_id: str, review_years: int = 3):
        self.node_id = node_id
        self.review_years = review_years

    def validate(self, data) -> dict:
        loaded, doc = load_body(INPUT, data, "denial")
        if "review_due" not in doc:
            doc["review_due"] = add_years(loaded["denied_on"], self.review_years).isoformat()
        return doc

    def new_doc(self, content: dict, now: dt.datetime) -> dict:
        stamp = iso(now)
        doc = {"uid": new_uid(), "origin": self.node_id, "version": 1, "status": "active",
               **content, "created_at": stamp, "updated_at": stamp}
        doc.setdefault("notified_at", stamp)
        return doc

    def prepare_many(self, rows: list, now: dt.datetime) -> list:
        """For each row, its :class:`Prepared` form or the :class:`NodeError` rejecting it."""
        out = []
        for data in rows:
            try:
                data, status = self.exported_fields(data)
                content = self.validate(data)
            except NodeError as exc:
                out.append(exc)
                continue
            if status == "active":
                out.append(Prepared(content["ref"], status, None, stored_form(self.new_doc(content, now))))
            else:
                out.append(Prepared(content["ref"], status, json_text.dumps(content), None))
        return out

    def exported_fields(self, data) -> tuple[dict, str]:
        """Split off what a node assigns to a record; returns (input fields, status in the row)."""
        if not isinstance(data, dict) or not EXPORTED_FIELDS & data.keys():
            return data, "active"
        status, origin = data.get("status", "active"), data.get("origin", self.node_id)
        data = {k: v for k, v in data.items() if k not in EXPORTED_FIELDS}
        if origin != self.node_id:
            raise ReadOnlyRecord(f"this row belongs to {origin}; only its origin can import it",
                                 fields={"origin": f"{origin} is not this node ({self.node_id})"})
        if status not in DENIAL_STATUSES:
            raise ValidationFailed("unknown status", fields={"status": f"must be one of {', '.join(DENIAL_STATUSES)}"})
        return data, status
