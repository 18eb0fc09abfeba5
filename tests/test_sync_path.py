"""The sync path's shortcuts give exactly the bytes and rows of the plain way.

Items are signed over a payload assembled around the view's canonical bytes;
receivers slice the record's bytes back out of the verified payload. Both
must equal ``canonical_bytes`` of the same values, for any view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from wire_records import typical_denial

from federation.batch import Sender, encode_item, sign_item, verify_item
from federation.canonical import MAX_SAFE_INTEGER, canonical_bytes
from federation.keys import KeyInfo
from federation.record_signature import sign_record, verify_record, verify_record_bytes

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)
SIG_KEY = SigningKey.generate()
SIG_INFO = KeyInfo.for_key(SIG_KEY, NOW - dt.timedelta(days=1))
SENDER = Sender("MT", SIG_INFO.kid, SIG_KEY, "x25519:test", PrivateKey.generate())
KEYS = {SIG_INFO.kid: SIG_INFO}

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER), text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=20)


def view_with(extra: dict) -> dict:
    return {**extra, "uid": "u-1", "origin": "MT", "version": 2}


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(text, values, max_size=6), st.sampled_from(["record", "tombstone"]),
       st.integers(0, MAX_SAFE_INTEGER), st.sampled_from(["denial", "licence", "dénial\u2028"]))
def test_assembled_payload_is_the_canonical_payload(extra, kind, rev, record_type):
    view = view_with(extra)
    jws, view_bytes = encode_item(SENDER, kind=kind, record_type=record_type, recipient="DE", rev=rev, view=view,
                                  now=NOW)
    payload, _header, raw = verify_record_bytes(jws, KEYS.get)
    assert view_bytes == canonical_bytes(view)
    assert raw == canonical_bytes({"kind": kind, "type": record_type, "recipient": "DE", "rev": rev, "record": view})
    assert payload["record"] == json.loads(view_bytes)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(text, values, max_size=6))
def test_receiver_slices_exactly_the_signed_record_bytes(extra):
    view = view_with(extra)
    jws = sign_item(SENDER, kind="record", record_type="denial", recipient="DE", rev=7, view=view, now=NOW)
    item = verify_item(jws, sender="MT", me="DE", key_lookup=KEYS.get)
    assert item.record == view
    assert item.record_bytes == canonical_bytes(view)


def test_payload_with_extra_members_still_gives_the_record_bytes():
    view = typical_denial()
    payload = {"kind": "record", "type": "denial", "recipient": "DE", "rev": 3, "record": view, "zz": 1}
    jws = sign_record(payload, SIG_KEY, SIG_INFO.kid, NOW)
    item = verify_item(jws, sender="MT", me="DE", key_lookup=KEYS.get)
    assert item.record_bytes == canonical_bytes(view)


def test_sign_item_equals_signing_the_payload_dict():
    view = typical_denial()
    payload = {"kind": "record", "type": "denial", "recipient": "DE", "rev": 12, "record": view}
    assert sign_item(SENDER, kind="record", record_type="denial", recipient="DE", rev=12, view=view,
                     now=NOW) == sign_record(payload, SIG_KEY, SIG_INFO.kid, NOW)
    assert verify_record(sign_record(payload, SIG_KEY, SIG_INFO.kid, NOW), KEYS.get)[0] == payload


def test_view_hash_is_the_hash_of_the_signed_view():
    from node.outbound import view_hash

    view = typical_denial()
    _jws, view_bytes = encode_item(SENDER, kind="record", record_type="denial", recipient="DE", rev=1, view=view,
                                   now=NOW)
    assert hashlib.sha256(view_bytes).hexdigest() == view_hash(view)
