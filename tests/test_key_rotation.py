"""Key rotation and revocation across three real nodes.

MT rotates its keys with `cordon keys rotate` while TN is down; DE is told at once, TN on
MT's next push. MT rotates once more while TN is down; TN learns it by pulling. Then MT
revokes its first signing key: anything signed by it after the revocation time is refused,
what it signed before still verifies. The tests run in this order on one federation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from federation_support import NAMES, NodeDB, RoguePeer, identity_file, init_data_dir, start_federation
from nodeproc import NodeProcess

from federation.batch import Sender
from federation.identity import current_key, document_keys, sign_document
from federation.keys import ENC, SIG, b64u_decode, parse_time, unix_seconds
from federation.record_signature import verify_record
from node.exchange import Exchange
from node.keyring import Keyring
from node.runtime import NodeRuntime


@dataclasses.dataclass
class Rotation:
    before: dict  # published and delivered before the rotation
    old_kid: str
    new_kid: str
    output: str


def signing_kid(node) -> str:
    return current_key(Keyring(node.data_dir).document, SIG).kid


def jws_kid(jws: str) -> str:
    return json.loads(b64u_decode(jws.split(".")[0]))["kid"]


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("rotation"), ("MT", "DE", "TN"))
    yield federation
    federation.close()


@pytest.fixture(scope="module")
def rotated(fed) -> Rotation:
    before = fed.publish("MT")
    for peer_id in ("DE", "TN"):
        fed.wait_visible(peer_id, before["uid"])
    old_kid = signing_kid(fed["MT"])
    fed.stop("TN")
    output = fed["MT"].cli("keys", "rotate").stdout
    fed.start("TN")
    return Rotation(before, old_kid, signing_kid(fed["MT"]), output)


def test_rotation_makes_new_keys_and_tells_the_reachable_peers(fed, rotated):
    assert rotated.new_kid != rotated.old_kid
    assert "identity serial 2" in rotated.output
    assert "told DE: ok" in rotated.output and "told TN: not delivered now" in rotated.output
    keys = document_keys(Keyring(fed["MT"].data_dir).document)
    assert keys[rotated.old_kid].status == "retired" and keys[rotated.new_kid].status == "active"
    listing = fed["MT"].cli("keys", "list").stdout
    assert rotated.old_kid in listing and rotated.new_kid in listing and "retired" in listing


def test_peers_accept_the_new_identity_through_the_chain(fed, rotated):
    de = NodeDB(fed["DE"])
    document = de.peer_document("MT")
    assert document["serial"] >= 2
    keys = document_keys(document)
    assert keys[rotated.new_kid].status == "active" and keys[rotated.old_kid].status in ("retired", "revoked")
    assert de.value("SELECT fingerprint FROM peers WHERE node_id = 'MT'") == Keyring(fed["MT"].data_dir).fingerprint()
    assert de.value("SELECT count(*) FROM audit_log WHERE action = 'peer.identity' AND target = 'MT' "
                    "AND actor = 'peer:MT'") >= 1


def test_an_identity_not_chained_from_the_trusted_one_is_refused(fed, rotated, tmp_path):
    """A look-alike MT identity (fresh keys, self-signed) is not accepted by DE."""
    impostor = init_data_dir(tmp_path / "impostor", "MT")
    forged = impostor.signed_identity()
    rogue = RoguePeer(fed["MT"], fed["DE"])
    de = NodeDB(fed["DE"])
    trusted = de.peer_document("MT")
    before = de.refusal_codes()
    response = rogue.post("/federation/v1/identity", forged)
    assert response.status_code == 401
    assert de.peer_document("MT") == trusted
    assert de.refusal_codes().get("rotation_invalid", 0) == before.get("rotation_invalid", 0) + 1


def test_records_signed_before_the_rotation_still_verify(fed, rotated):
    de = NodeDB(fed["DE"])
    jws = de.signed_item(rotated.before["uid"], "DE")
    assert jws_kid(jws) == rotated.old_kid
    view, _ = verify_record(jws, document_keys(de.peer_document("MT")).get)
    assert view["record"]["uid"] == rotated.before["uid"]
    # Delivered again after the rotation (inside a batch sealed and signed with the new keys) it is
    # accepted as what it is: a repeat, not a refusal.
    rogue = RoguePeer(fed["MT"], fed["DE"])
    assert rogue.sig_kid == rotated.new_kid
    refusals = de.refusal_codes()
    receipt = rogue.push([jws]).json()
    assert receipt["unchanged"] == 1 and receipt["refused"] == 0
    assert de.refusal_codes() == refusals


def test_a_request_signed_by_the_retired_key_is_refused(fed, rotated):
    """A retired key still verifies what it signed but signs nothing new: a request made with it after the
    identity that retired it was issued is refused (and counted); one it made just before, still within
    the clock window, is accepted, as a request in flight during the rotation would be."""
    de = NodeDB(fed["DE"])
    trusted = de.peer_document("MT")
    assert document_keys(trusted)[rotated.old_kid].status == "retired"
    retired_at = parse_time(trusted["issued_at"])
    rogue = RoguePeer(fed["MT"], fed["DE"])
    old_key = Keyring(fed["MT"].data_dir).private(rotated.old_kid)
    stray = rogue.view()
    before = de.refusals("key_not_valid", "/federation/v1/push")
    response = rogue.push([rogue.item(stray)], key=old_key, kid=rotated.old_kid)
    assert response.status_code == 401
    assert de.stored_nothing(stray["uid"])
    assert de.refusals("key_not_valid", "/federation/v1/push") == before + 1

    assert dt.datetime.now(dt.timezone.utc) - retired_at < dt.timedelta(seconds=240)  # inside the window
    in_flight = rogue.push([rogue.item(stray)], key=old_key, kid=rotated.old_kid,
                           created=retired_at - dt.timedelta(seconds=1))
    assert in_flight.status_code == 200 and in_flight.json()["stored"] == 1


def test_a_record_signed_by_the_retired_key_after_the_rotation_is_refused(fed, rotated):
    """Records as requests: a retired key signs nothing new. An item it signed after the identity that
    retired it was issued is refused alone (``key_not_valid``) inside a batch sent with the new keys; one
    it signed before (a push in flight during the rotation) is stored."""
    de = NodeDB(fed["DE"])
    retired_at = parse_time(de.peer_document("MT")["issued_at"])
    rogue = RoguePeer(fed["MT"], fed["DE"])
    old = Sender("MT", rotated.old_kid, Keyring(fed["MT"].data_dir).private(rotated.old_kid), rogue.enc_kid,
                 rogue.enc_key)
    late, in_flight, good = rogue.view(), rogue.view(), rogue.view()
    before = de.refusal_codes()
    receipt = rogue.push([rogue.item(late, sender=old, now=retired_at + dt.timedelta(seconds=5)),
                          rogue.item(in_flight, sender=old, now=retired_at - dt.timedelta(seconds=1)),
                          rogue.item(good)]).json()
    assert receipt["stored"] == 2 and receipt["refused_by_code"] == {"key_not_valid": 1}, receipt
    assert de.stored_nothing(late["uid"])
    assert fed.get("DE", in_flight["uid"]) and fed.get("DE", good["uid"])
    assert de.refusal_codes().get("key_not_valid", 0) == before.get("key_not_valid", 0) + 1


def test_new_records_flow_both_ways_with_the_new_keys(fed, rotated):
    after = fed.publish("MT")
    for peer_id in ("DE", "TN"):
        fed.wait_visible(peer_id, after["uid"])
        jws = NodeDB(fed[peer_id]).signed_item(after["uid"], peer_id)
        assert jws_kid(jws) == rotated.new_kid
    # Peers now seal to MT's new encryption key; MT opens what they send.
    from_de = fed.publish("DE")
    assert fed.wait_visible("MT", from_de["uid"])["origin"] == "DE"
    assert NodeDB(fed["MT"]).refusals("seal_invalid") == 0


def test_a_peer_down_during_the_rotation_learns_it_on_the_next_push(fed, rotated):
    tn = NodeDB(fed["TN"])
    doc = fed.publish("MT")
    copy = fed.wait_visible("TN", doc["uid"])
    assert copy["version"] == 1
    assert tn.peer_document("MT")["serial"] >= 2
    assert current_key(tn.peer_document("MT"), SIG).kid == rotated.new_kid
    assert tn.value("SELECT count(*) FROM audit_log WHERE action = 'peer.identity' AND actor = 'peer:MT'") >= 1
    assert jws_kid(tn.signed_item(doc["uid"], "TN")) == rotated.new_kid


def test_a_peer_down_during_a_rotation_learns_it_when_it_pulls(fed, rotated):
    """MT rotates twice while TN is down and has nothing to push; TN's own pull fetches MT's
    identity and accepts it through the chain, skipping the identity in between: every key MT has
    not revoked signs each new identity, the one TN trusts among them."""
    tn = NodeDB(fed["TN"])
    fed.stop("TN")
    trusted_kid = current_key(tn.peer_document("MT"), SIG).kid
    for _ in range(2):
        output = fed["MT"].cli("keys", "rotate").stdout
        assert "told TN: not delivered now" in output
    newest = signing_kid(fed["MT"])
    signed = Keyring(fed["MT"].data_dir).signed_identity()
    serial = signed["document"]["serial"]
    assert {newest, trusted_kid} <= {entry["kid"] for entry in signed["signatures"]}
    fed.start("TN")
    announced = fed["TN"].log().count("POST /federation/v1/identity")
    assert tn.peer_document("MT")["serial"] == serial - 2

    out = fed["TN"].cli("sync", "--peer", "MT").stdout
    assert "FAILED" not in out, out
    assert tn.peer_document("MT")["serial"] == serial
    assert current_key(tn.peer_document("MT"), SIG).kid == newest
    assert fed["TN"].log().count("POST /federation/v1/identity") == announced  # learnt by pulling, not told

    doc = fed.publish("MT")
    fed.wait_visible("TN", doc["uid"])
    assert jws_kid(tn.signed_item(doc["uid"], "TN")) == newest


def test_a_node_that_rotated_while_a_peer_was_down_tells_it_when_its_pull_is_refused(fed, rotated):
    """MT rotates while TN is down and has nothing to push to it; MT's own pull, signed with the new key
    TN does not know yet, is refused; MT then announces its identity and pulls again."""
    tn = NodeDB(fed["TN"])
    fed.stop("TN")
    fed["MT"].cli("keys", "rotate")
    serial = Keyring(fed["MT"].data_dir).document["serial"]
    fed.start("TN")
    assert tn.peer_document("MT")["serial"] < serial
    announced = fed["TN"].log().count("POST /federation/v1/identity")

    out = fed["MT"].cli("sync", "--peer", "TN").stdout
    assert "push sent 0" in out and "pull stored" in out and "FAILED" not in out, out
    assert tn.peer_document("MT")["serial"] == serial
    assert fed["TN"].log().count("POST /federation/v1/identity") == announced + 1


def test_an_exchange_running_across_a_rotation_signs_what_follows_with_the_new_key(fed, rotated):
    """A peer client asks for the signing key at every request: one made before a rotation (a long push
    or pull) signs the requests after it with the new key, which the peers were told of, not with the
    retired one, which they would refuse."""
    runtime = NodeRuntime(fed["MT"].data_dir)
    try:
        exchange = Exchange(runtime)
        client = exchange.client(exchange.registry().require("DE"))
        assert client.post("/federation/v1/changes", {"cursor": None, "limit": 1}).status_code == 200
        before = signing_kid(fed["MT"])
        assert "told DE: ok" in fed["MT"].cli("keys", "rotate").stdout
        assert signing_kid(fed["MT"]) != before
        assert client.post("/federation/v1/changes", {"cursor": None, "limit": 1}).status_code == 200
    finally:
        runtime.close()


def test_a_revoked_key_signs_nothing_that_peers_accept(fed, rotated):
    mt_keyring = Keyring(fed["MT"].data_dir)
    serial = mt_keyring.document["serial"]
    refused = fed["MT"].cli("keys", "revoke", signing_kid(fed["MT"]), check=False)
    assert refused.returncode == 1 and "rotate first" in refused.stderr
    current_enc = current_key(mt_keyring.document, ENC).kid
    refused = fed["MT"].cli("keys", "revoke", current_enc, check=False)
    assert refused.returncode == 1 and "rotate first" in refused.stderr and "Traceback" not in refused.stderr
    assert Keyring(fed["MT"].data_dir).document["serial"] == serial  # nothing changed

    output = fed["MT"].cli("keys", "revoke", rotated.old_kid).stdout
    assert "told DE: ok" in output and "told TN: ok" in output
    de = NodeDB(fed["DE"])
    listed = document_keys(de.peer_document("MT"))[rotated.old_kid]
    assert listed.status == "revoked"
    revoked_at = unix_seconds(parse_time(listed.revoked_at))

    # A record signed by the revoked key now is refused; the rest of the batch is stored.
    rogue = RoguePeer(fed["MT"], fed["DE"])
    old = Sender("MT", rotated.old_kid, mt_keyring.private(rotated.old_kid), rogue.enc_kid, rogue.enc_key)
    late, good = rogue.view(), rogue.view()
    now = dt.datetime.now(dt.timezone.utc)
    assert unix_seconds(now) >= revoked_at
    before = de.refusal_codes()
    receipt = rogue.push([rogue.item(late, sender=old, now=now), rogue.item(good)]).json()
    assert receipt["stored"] == 1 and receipt["refused_by_code"] == {"key_revoked": 1}
    assert de.stored_nothing(late["uid"]) and fed.get("DE", good["uid"])
    assert de.refusal_codes().get("key_revoked", 0) == before.get("key_revoked", 0) + 1

    # A request signed with the revoked key is refused outright, and counted as such.
    before = de.refusals("key_revoked", "/federation/v1/push")
    stray = rogue.view()
    response = rogue.push([rogue.item(stray)], key=mt_keyring.private(rotated.old_kid), kid=rotated.old_kid)
    assert response.status_code == 401 and "key_revoked" not in response.text
    assert de.stored_nothing(stray["uid"])
    assert de.refusals("key_revoked", "/federation/v1/push") == before + 1

    # What the key signed before its revocation still verifies, and is still a harmless repeat.
    jws = de.signed_item(rotated.before["uid"], "DE")
    verify_record(jws, document_keys(de.peer_document("MT")).get)
    assert rogue.push([jws]).json()["unchanged"] == 1

    # And MT's records keep flowing, signed by the current key.
    doc = fed.publish("MT")
    for peer_id in ("DE", "TN"):
        fed.wait_visible(peer_id, doc["uid"])


def test_a_removed_peer_is_not_added_again_from_an_older_identity(tmp_path):
    """An identity document that would undo the one trusted before the peer was removed (an older serial, or
    a key revoked since listed unrevoked) is refused and changes nothing; the current one, or the identity
    of a node set up anew with keys of its own, is taken. Two nodes never started: the CLI alone."""
    nodes = {}
    for node_id in ("NL", "FR"):
        init_data_dir(tmp_path / node_id.lower(), node_id)
        nodes[node_id] = NodeProcess(tmp_path / node_id.lower(), node_id, NAMES[node_id])
    nl, fr = nodes["NL"], nodes["FR"]
    first, first_fp = identity_file(fr)
    first_kid = signing_kid(fr)
    fr.cli("keys", "rotate")
    fr.cli("keys", "revoke", first_kid)
    current, current_fp = identity_file(fr)
    assert json.loads(current.read_text())["document"]["serial"] == 3
    nl.cli("peers", "add", str(current), "--fingerprint", current_fp)
    nl.cli("peers", "remove", "FR")
    db = NodeDB(nl)
    snapshot = lambda: (db.rows("SELECT * FROM peers"), db.value("SELECT count(*) FROM audit_log"))  # noqa: E731

    before = snapshot()
    refused = nl.cli("peers", "add", str(first), "--fingerprint", first_fp, check=False)
    assert refused.returncode == 1
    assert "serial 1 is older than the serial 3 trusted before" in refused.stderr
    assert "nothing was added" in refused.stderr and "cordon identity" in refused.stderr
    assert snapshot() == before
    # The same serial with the revocation left out: a forgery of the key's holder, not the document trusted.
    keyring = Keyring(fr.data_dir)
    undone = json.loads(current.read_text())["document"]
    for key in undone["keys"]:
        if key["kid"] == first_kid:
            key["status"] = "retired"
            key["revoked_at"] = None
    forged = tmp_path / "undone.json"
    forged.write_text(json.dumps(sign_document(undone, [(signing_kid(fr), keyring.private(signing_kid(fr)))])))
    refused = nl.cli("peers", "add", str(forged), "--fingerprint", current_fp, check=False)
    assert refused.returncode == 1 and "differs from the document of the same serial" in refused.stderr
    assert snapshot() == before

    nl.cli("peers", "add", str(current), "--fingerprint", current_fp)
    assert db.rows("SELECT node_id, removed_at FROM peers") == [("FR", None)]
    nl.cli("peers", "remove", "FR")

    # FR set up anew: new keys, serial 1 again, a new fingerprint confirmed by phone.
    anew = tmp_path / "fr-anew"
    init_data_dir(anew, "FR")
    fresh, fresh_fp = identity_file(NodeProcess(anew, "FR", NAMES["FR"]))
    assert fresh_fp != current_fp
    added = nl.cli("peers", "add", str(fresh), "--fingerprint", fresh_fp).stdout
    assert "added peer FR" in added and "its identity: serial 1," in added


def test_a_peer_down_while_a_key_is_rotated_and_then_revoked_follows_the_whole_chain(tmp_path):
    """MT rotates and then revokes the key it rotated away from while DE is down (as `keys revoke` asks:
    rotate first). MT's newest identity is signed by the new key alone, which DE does not know: DE follows
    MT's chain of identities step by step, when MT announces it (on its next push) and when DE learns it
    by pulling, and the exchange goes on both ways without anyone removing or adding a peer."""
    fed = start_federation(tmp_path, ("MT", "DE"))
    try:
        de = NodeDB(fed["DE"])
        fed.wait_visible("DE", fed.publish("MT")["uid"])
        for learnt_by in ("push", "pull"):
            trusted = de.peer_document("MT")["serial"]
            fed.stop("DE")
            old_kid = signing_kid(fed["MT"])
            assert "told DE: not delivered now" in fed["MT"].cli("keys", "rotate").stdout
            assert "told DE: not delivered now" in fed["MT"].cli("keys", "revoke", old_kid).stdout
            newest = Keyring(fed["MT"].data_dir).signed_identity()
            assert [entry["kid"] for entry in newest["signatures"]] == [signing_kid(fed["MT"])]
            assert newest["document"]["serial"] == trusted + 2
            fed.start("DE")
            if learnt_by == "push":
                doc = fed.publish("MT")
                fed.wait_visible("DE", doc["uid"])
                # The 401 that made MT announce is a step, not a failure: no warning with a retry an hour on.
                log = fed["MT"].log()
                assert "push to DE refused with 401: this node announces its identity and tries once more" in log
                assert not [line for line in log.splitlines() if "WARNING" in line and "401" in line], log[-3000:]
            else:
                announced = fed["DE"].log().count("POST /federation/v1/identity ")
                out = fed["DE"].cli("sync", "--peer", "MT").stdout
                assert "FAILED" not in out, out
                assert fed["DE"].log().count("POST /federation/v1/identity ") == announced  # learnt, not told
            assert de.peer_document("MT")["serial"] == trusted + 2
            assert document_keys(de.peer_document("MT"))[old_kid].status == "revoked"
        doc = fed.publish("DE")
        fed.wait_visible("MT", doc["uid"])
    finally:
        fed.close()
