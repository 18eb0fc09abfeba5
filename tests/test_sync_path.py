"""The sync path's shortcuts give exactly the bytes and rows of the plain way.

Items are signed over a payload assembled around the view's canonical bytes;
receivers slice the record's bytes back out of the verified payload. Both
must equal ``canonical_bytes`` of the same values, for any view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from conftest import EVERY_DENIAL_VERSION
from federation_support import share_policy
from wire_records import typical_denial

from federation.batch import Sender, batch_bytes, encode_item, sign_item, verify_item
from federation.canonical import MAX_SAFE_INTEGER, canonical_bytes
from federation.keys import KeyInfo
from federation.record_signature import sign_record, verify_record, verify_record_bytes
from node import samples
from node.inbound import received_signature
from node.record_table import dumps

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)
SIG_KEY = SigningKey.generate()
SIG_INFO = KeyInfo.for_key(SIG_KEY, NOW - dt.timedelta(days=1))
SENDER = Sender("MT", SIG_INFO.kid, SIG_KEY, "x25519:test", PrivateKey.generate())
KEYS = {SIG_INFO.kid: SIG_INFO}

# Record uids are UUIDs; these tests name theirs.
UID = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"cordon-test:{name}")) for name in
       ('bare', 'extra', 'first', 'flagged', 'none', 'odd', 'plain', 'second')}

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER), text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=20)


def view_with(extra: dict) -> dict:
    return {**extra, "uid": "0192f5e4-7c2a-7d4b-9a55-0c6e2f1b8d90", "origin": "MT", "version": 2}


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(text, values, max_size=6), st.sampled_from(["record", "tombstone"]),
       st.integers(0, MAX_SAFE_INTEGER), st.sampled_from(["denial", "licence", "dénial\u2028"]))
def test_assembled_payload_is_the_canonical_payload(extra, kind, rev, record_type):
    view = view_with(extra)
    jws, view_bytes = encode_item(SENDER, kind=kind, record_type=record_type, recipient="DE", rev=rev, view=view,
                                  now=NOW)
    payload, _header, raw = verify_record_bytes(jws, KEYS.get)
    assert view_bytes == canonical_bytes(view)
    # The outbox's path for views made of parsed JSON signs the same bytes (Ed25519 is deterministic).
    assert encode_item(SENDER, kind=kind, record_type=record_type, recipient="DE", rev=rev, view=view, now=NOW,
                       parsed=True) == (jws, view_bytes)
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


# -- the real classes, two data directories, no HTTP ------------------------------------------



@pytest.fixture
def pair(tmp_path):
    from federation.identity import fingerprint
    from node.config import Settings
    from node.datadir import initialise
    from node.peers import PeerRegistry
    from node.runtime import NodeRuntime

    runtimes = {}
    for port, node_id in enumerate(("MT", "DE"), start=8801):
        data_dir = tmp_path / node_id.lower()
        initialise(data_dir, Settings(node_id=node_id, name=node_id, base_url=f"http://127.0.0.1:{port}"), NOW)
        (data_dir / "policy.yaml").write_text(share_policy(["MT", "DE"]), encoding="utf-8")
        runtimes[node_id] = NodeRuntime(data_dir)
    for adder, other in (("MT", "DE"), ("DE", "MT")):
        signed = runtimes[other].keyring.signed_identity()
        PeerRegistry(runtimes[adder].db(), adder).add(signed, fingerprint(signed["document"]), actor="test")
    yield runtimes
    for runtime in runtimes.values():
        runtime.close()


def publish(runtime, count: int, seed: int = 5) -> list[dict]:
    from node.denials import DenialRegistry

    registry = DenialRegistry(runtime.db(), runtime.node_id)
    return [registry.create(doc, actor="test") for doc in samples.denials(count, runtime.node_id, seed)]


def pull_in_process(runtimes, limit: int) -> int:
    from node.exchange import Exchange

    sender, intake = Exchange(runtimes["MT"]), Exchange(runtimes["DE"]).intake()
    cursor, batches = "0", 0
    while True:
        envelope = json.loads(json.dumps(sender.serve_changes("DE", {"cursor": cursor, "limit": limit}, NOW)))
        batch = intake.open("MT", envelope)
        receipt = intake.store("MT", batch, NOW, cursor_update=batch.next_cursor)
        assert not receipt.refused
        cursor, batches = batch.next_cursor, batches + 1
        if not batch.more:
            return batches


def held_rows(runtime, uid: str) -> dict:
    db = runtime.db()
    return {
        "doc": db.execute("SELECT doc FROM denials WHERE uid = ?", [uid]).fetchall(),
        "versions": db.execute(f"SELECT version, doc FROM {EVERY_DENIAL_VERSION} WHERE uid = ? ORDER BY version",
                               [uid]).fetchall(),
        "names": db.execute("SELECT party, role, text FROM party_names WHERE uid = ? ORDER BY id", [uid]).fetchall(),
        "feed": db.execute("SELECT count(*) FROM index_feed WHERE uid = ?", [uid]).fetchone()[0],
        "received": db.execute("SELECT version, rev, kind, signature IS NOT NULL FROM received WHERE uid = ?",
                               [uid]).fetchall(),
    }


def test_pulled_records_are_stored_as_the_plain_way_would(pair):
    published = publish(pair["MT"], 23)
    assert pull_in_process(pair, limit=5) == 5
    policy = pair["MT"].policies.current()
    for doc in published:
        view = json.loads(canonical_bytes(policy.decide(doc, "denial", "DE").view(doc)))  # as the receiver parses it
        expected = {**view, "status": view.get("status", "active")}
        rows = held_rows(pair["DE"], doc["uid"])
        assert rows["doc"] == [(dumps(expected),)]
        assert rows["versions"] == [(doc["version"], dumps(expected))]
        assert rows["names"] == [(index, party.get("role", ""), name["text"])
                                 for index, party in enumerate(expected.get("parties") or [])
                                 for name in party.get("names") or [] if name.get("text")]
        assert all(role != "exporter" for _, role, _ in rows["names"])
        assert rows["feed"] >= 1
        assert rows["received"][0][:3] == (doc["version"], rows["received"][0][1], "record")
    cursor = pair["DE"].db().execute("SELECT pull_cursor FROM peer_state WHERE node_id = 'MT'").fetchone()[0]
    assert int(cursor) == pair["MT"].db().execute("SELECT max(seq) FROM changes").fetchone()[0]


def test_one_batch_with_the_same_record_twice_and_a_tombstone_applies_in_order(pair):
    from federation.batch import seal_batch, tombstone_view
    from node.exchange import Exchange
    from node.peers import PeerRegistry

    exchange = Exchange(pair["MT"])
    sender, recipient = exchange.sender(), PeerRegistry(pair["MT"].db(), "MT").require("DE").recipient()
    first, second, bare = (dict(doc, origin="MT", status="active") for doc in samples.denials(3, "MT", 9))
    first.update(uid=UID["first"], version=1)
    second.update(uid=UID["second"], version=1)
    bare.update(uid=UID["bare"], version=1)
    del bare["status"]  # a view without status is stored as active
    amended = dict(first, version=2, item_description="amended")

    def item(kind, view, rev):
        return encode_item(sender, kind=kind, record_type="denial", recipient="DE", rev=rev, view=view, now=NOW)[0]

    items = [item("record", first, 1), item("record", second, 2), item("record", amended, 3),
             item("tombstone", tombstone_view(second, "revoked"), 4), item("record", bare, 5)]
    intake = Exchange(pair["DE"]).intake()
    receipt = intake.store("MT", intake.open("MT", seal_batch(sender, recipient, items, "5", False)), NOW)
    assert (receipt.stored, receipt.dropped, receipt.unchanged, receipt.refused) == (4, 1, 0, [])
    stored_bare = {**json.loads(canonical_bytes(bare)), "status": "active"}
    assert held_rows(pair["DE"], UID["bare"])["doc"] == [(dumps(stored_bare),)]
    kept = held_rows(pair["DE"], UID["first"])
    assert [json.loads(text)["item_description"] for (text,) in kept["doc"]] == ["amended"]
    assert [version for version, _ in kept["versions"]] == [1, 2]
    assert kept["received"] == [(2, 3, "record", 1)]
    gone = held_rows(pair["DE"], UID["second"])
    assert (gone["doc"], gone["versions"], gone["names"]) == ([], [], [])
    assert gone["received"] == [(1, 4, "tombstone", 0)]
    # The signed items are kept: detached where the stored document is the signed view, else whole.
    db, keys = pair["DE"].db(), PeerRegistry(pair["DE"].db(), "DE").require("MT").keys()
    kept_forms = dict(db.execute("SELECT uid, signature FROM received").fetchall())
    assert kept_forms[UID["first"]].split(".")[1] == "" and kept_forms[UID["bare"]] == items[4]
    assert received_signature(db, "DE", UID["first"]) == items[2]
    assert received_signature(db, "DE", UID["bare"]) == items[4]
    assert received_signature(db, "DE", UID["second"]) is None and received_signature(db, "DE", UID["none"]) is None
    signed, _ = verify_record(received_signature(db, "DE", UID["first"]), keys.get)
    assert (signed["rev"], signed["record"]["item_description"]) == (3, "amended")


def test_items_outside_the_usual_frame_keep_their_whole_signature_or_are_refused_alone(pair):
    from federation.batch import seal_batch
    from federation.record_signature import sign_canonical
    from node.exchange import Exchange
    from node.peers import PeerRegistry

    exchange = Exchange(pair["MT"])
    sender, recipient = exchange.sender(), PeerRegistry(pair["MT"].db(), "MT").require("DE").recipient()
    extra, odd, flagged, plain = (dict(doc, origin="MT", status="active", version=1)
                                  for doc in samples.denials(4, "MT", 13))
    for view, uid in ((extra, UID["extra"]), (odd, UID["odd"]), (flagged, UID["flagged"]), (plain, UID["plain"])):
        view["uid"] = uid
    odd["parties"] = "not a list of parties"

    def signed(payload):
        return sign_canonical(canonical_bytes(payload), sender.sig_key, sender.sig_kid, NOW)

    items = [
        # A payload member this receiver does not know: accepted, and the signed item kept whole.
        signed({"kind": "record", "type": "denial", "recipient": "DE", "rev": 1, "record": extra, "note": "later"}),
        encode_item(sender, kind="record", record_type="denial", recipient="DE", rev=2, view=odd, now=NOW)[0],
        signed({"kind": "record", "type": "denial", "recipient": "DE", "rev": True, "record": flagged}),
        encode_item(sender, kind="record", record_type="denial", recipient="DE", rev=4, view=plain, now=NOW)[0],
    ]
    intake = Exchange(pair["DE"]).intake()
    receipt = intake.store("MT", intake.open("MT", seal_batch(sender, recipient, items, "4", False)), NOW)
    assert receipt.stored == 2 and sorted(receipt.refused) == sorted([("?", "malformed"), (UID["odd"], "malformed")])
    db, keys = pair["DE"].db(), PeerRegistry(pair["DE"].db(), "DE").require("MT").keys()
    kept = dict(db.execute("SELECT uid, signature FROM received").fetchall())
    assert kept.keys() == {UID["extra"], UID["plain"]}
    assert kept[UID["extra"]] == items[0] and kept[UID["plain"]].split(".")[1] == ""
    for uid, jws in ((UID["extra"], items[0]), (UID["plain"], items[3])):
        assert received_signature(db, "DE", uid) == jws
        assert verify_record(jws, keys.get)[0]["record"]["uid"] == uid


def test_byte_budget_splits_batches_without_losing_or_repeating_changes(pair):
    from node.exchange import Exchange
    from node.peers import PeerRegistry

    published = publish(pair["MT"], 15, seed=11)
    builder = Exchange(pair["MT"]).builder()
    peer = PeerRegistry(pair["MT"].db(), "MT").require("DE")
    one = len(builder.build(peer, 0, 1, NOW).envelope["ciphertext"])
    budget = one * 2  # about two items' worth of signed bytes
    intake = Exchange(pair["DE"]).intake()
    after, seen, batches = 0, [], 0
    while True:
        out = builder.build(peer, after, 500, NOW, max_bytes=budget)
        assert out.size <= budget or len(out.entries) == 1
        assert out.last_seq > after
        seen += [entry[1] for entry in out.entries]
        intake.store("MT", intake.open("MT", out.envelope), NOW)
        after, batches = out.last_seq, batches + 1
        if not out.more:
            break
    assert batches > 3
    assert sorted(seen) == sorted(doc["uid"] for doc in published)
    held = pair["DE"].db().execute("SELECT count(*) FROM denials WHERE origin = 'MT'").fetchone()[0]
    assert held == len(published)


def test_push_budget_keeps_the_sealed_body_within_the_limit(pair):
    from federation.canonical import canonical_bytes as encode
    from node.exchange import Exchange
    from node.outbound import push_budget
    from node.peers import PeerRegistry

    publish(pair["MT"], 40, seed=12)
    builder = Exchange(pair["MT"]).builder()
    peer = PeerRegistry(pair["MT"].db(), "MT").require("DE")
    for limit in (16_384, 65_536):
        out = builder.build(peer, 0, 500, NOW, max_bytes=push_budget(limit))
        assert out.more and 1 < len(out.entries) < 40
        assert len(encode(out.envelope)) <= limit


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="abcXYZ019-_.,", max_size=30), text), max_size=6),
       st.one_of(st.none(), text), st.booleans(), st.one_of(st.none(), text))
def test_batch_bytes_are_the_canonical_batch(items, next_cursor, more, after):
    expected = canonical_bytes({"sender": "MT", "recipient": "DE", "items": items, "next_cursor": next_cursor,
                                "more": more, **({} if after is None else {"after": after})})
    assert batch_bytes("MT", "DE", items, next_cursor, more, after=after) == expected


def test_a_pull_cursor_reset_while_a_pull_runs_stays_reset(pair):
    """A pull stores each batch's cursor over the one it began from, or over one a push moved on since,
    never over one already beyond its own, and only while the pull epoch it began in lasts: ``cordon policy
    apply`` resets the cursor in a new epoch (to fetch again what the inbound rules refused), and a pull
    already running, even one that began at the start or from an earlier reset, stores its records but
    leaves the reset."""
    from node.exchange import Exchange

    publish(pair["MT"], 3)
    sender, intake = Exchange(pair["MT"]), Exchange(pair["DE"]).intake()
    db = pair["DE"].db()
    envelope = json.loads(json.dumps(sender.serve_changes("DE", {"cursor": None, "limit": 500}, NOW)))
    batch = intake.open("MT", envelope)
    new = batch.next_cursor

    def store_over(held, epoch, began):
        db.execute("UPDATE peer_state SET pull_cursor = ?, pull_epoch = ? WHERE node_id = 'MT'", [held, epoch])
        db.conn.commit()
        receipt = intake.store_verified("MT", intake.verify("MT", batch, NOW), NOW, cursor_update=new,
                                        cursor_from=began)
        assert receipt.stored + receipt.unchanged == 3
        return db.execute("SELECT pull_cursor FROM peer_state WHERE node_id = 'MT'").fetchone()[0]

    assert store_over(None, 1, (None, 0)) is None  # reset (epoch 1) while a pull from the start ran
    assert store_over(None, 2, (None, 1)) is None  # reset again while a pull from the first reset ran
    assert store_over(None, 2, (None, 2)) == new  # the pull that began from the reset
    assert store_over("1", 2, ("0", 2)) == new  # a push moved it on meanwhile, not as far as this batch
    assert store_over(str(int(new) + 5), 2, ("0", 2)) == str(int(new) + 5)  # a push took it further: kept
    assert db.execute("SELECT last_pull_ok FROM peer_state WHERE node_id = 'MT'").fetchone()[0] is not None
