"""Bad input from peers, against real node processes: refused with a bare 401, nothing stored,
every refusal counted by code in the receiving node's ``refusals`` table.

A rogue peer speaks as MT with MT's real keys (loaded from its data directory) to DE and
breaks exactly one thing per request.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from federation_support import NodeDB, RoguePeer, start_federation, update_settings, wait_for

from federation.canonical import canonical_bytes
from federation.keys import SIG, key_id, new_signing_key
from node.config import read_settings

REFUSED_BODY = {"error": "refused", "message": "the request was refused", "fields": {}}
PUSH = "/federation/v1/push"
CHANGES = "/federation/v1/changes"


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    federation = start_federation(tmp_path_factory.mktemp("refusals"), ("MT", "DE", "TN"))
    yield federation
    federation.close()


@pytest.fixture
def rogue(fed):
    return RoguePeer(fed["MT"], fed["DE"])


@pytest.fixture
def de(fed):
    return NodeDB(fed["DE"])


def assert_refused(response, db: NodeDB, code: str, before: dict, *, path: str):
    """A bare 401, and exactly one more refusal of ``code`` counted for ``path``."""
    assert response.status_code == 401, response.text
    assert response.json() == REFUSED_BODY
    assert code not in response.text
    after = db.refusal_codes()
    assert after.get(code, 0) == before.get(code, 0) + 1, (before, after)
    assert sum(after.values()) == sum(before.values()) + 1, (before, after)
    assert db.refusals(code, path) >= 1


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


# -- the request itself is refused ---------------------------------------------------------


def test_a_valid_push_is_stored(rogue, de, fed):
    """The baseline every other case breaks one thing of."""
    view = rogue.view()
    response = rogue.push([rogue.item(view)])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    assert fed.get("DE", view["uid"])["origin"] == "MT"


def test_unknown_key(rogue, de, fed):
    stranger = new_signing_key()
    view = rogue.view()
    before = de.refusal_codes()
    response = rogue.push([rogue.item(view)], key=stranger, kid=key_id(SIG, bytes(stranger.verify_key)))
    assert_refused(response, de, "unknown_key", before, path=PUSH)
    assert de.stored_nothing(view["uid"])
    # The log says who the request claims to come from, and that the claim is not verified.
    wait_for(lambda: "from MT (as it claims; not verified): unknown_key" in fed["DE"].log(), 10, "the claim in the log")


def test_wrong_destination(rogue, de):
    view = rogue.view()
    before = de.refusal_codes()
    response = rogue.push([rogue.item(view)], destination="TN")
    assert_refused(response, de, "wrong_destination", before, path=PUSH)
    assert de.stored_nothing(view["uid"])


@pytest.mark.parametrize("breakage", ["other_key_same_kid", "flipped_byte"])
def test_bad_request_signature(rogue, de, breakage):
    view = rogue.view()
    if breakage == "other_key_same_kid":
        url, headers, raw = rogue.signed(PUSH, rogue.seal([rogue.item(view)]), key=new_signing_key(),
                                         kid=rogue.sig_kid)
    else:
        url, headers, raw = rogue.signed(PUSH, rogue.seal([rogue.item(view)]))
        label, value = headers["Signature"].split("=", 1)
        signature = bytearray(base64.b64decode(value.strip(":")))
        signature[10] ^= 0x01
        headers["Signature"] = f"{label}=:{base64.b64encode(bytes(signature)).decode()}:"
    before = de.refusal_codes()
    assert_refused(rogue.send(url, headers, raw), de, "bad_signature", before, path=PUSH)
    assert de.stored_nothing(view["uid"])


def test_changed_target_uri_breaks_the_signature(rogue, de, fed):
    """A request signed for one route and sent to another does not verify."""
    view = rogue.view()
    url, headers, raw = rogue.signed(PUSH, rogue.seal([rogue.item(view)]), url=rogue.target_url + CHANGES)
    before = de.refusal_codes()
    response = rogue.send(rogue.target_url + PUSH, headers, raw)
    assert_refused(response, de, "bad_signature", before, path=PUSH)
    assert de.stored_nothing(view["uid"])


def test_replayed_request(rogue, de, fed):
    first = rogue.view()
    url, headers, raw = rogue.signed(PUSH, rogue.seal([rogue.item(first)]))
    assert rogue.send(url, headers, raw).status_code == 200
    received_at = de.holds(first["uid"])["received"][0][4]

    before = de.refusal_codes()
    assert_refused(rogue.send(url, headers, raw), de, "replay", before, path=PUSH)
    assert de.holds(first["uid"])["received"][0][4] == received_at

    # The same nonce on a new, correctly signed request with other content is a replay too.
    nonce = headers["Signature-Input"].split('nonce="', 1)[1].split('"', 1)[0]
    second = rogue.view()
    before = de.refusal_codes()
    assert_refused(rogue.push([rogue.item(second)], nonce=nonce), de, "replay", before, path=PUSH)
    assert de.stored_nothing(second["uid"])


@pytest.mark.parametrize("offset", [-3600, -301, 3600])
def test_stale_created(rogue, de, offset):
    view = rogue.view()
    before = de.refusal_codes()
    response = rogue.push([rogue.item(view)], created=now_utc() + dt.timedelta(seconds=offset))
    assert_refused(response, de, "stale_request", before, path=PUSH)
    assert de.stored_nothing(view["uid"])


def test_body_not_matching_its_digest(rogue, de):
    signed_view, sent_view = rogue.view(), rogue.view()
    url, headers, _ = rogue.signed(PUSH, rogue.seal([rogue.item(signed_view)]))
    other = canonical_bytes(rogue.seal([rogue.item(sent_view)]))
    before = de.refusal_codes()
    assert_refused(rogue.send(url, headers, other), de, "digest_mismatch", before, path=PUSH)
    assert de.stored_nothing(signed_view["uid"]) and de.stored_nothing(sent_view["uid"])


@pytest.mark.parametrize("how", ["addressed_to_tn", "relabelled_for_de"])
def test_batch_sealed_to_another_node(rogue, de, fed, how):
    view = rogue.view()
    tn = RoguePeer.recipient_for(RoguePeer(fed["TN"], fed["TN"]).keyring.document)
    envelope = rogue.seal([rogue.item(view)], recipient=tn)
    if how == "relabelled_for_de":
        envelope = {**envelope, "recipient": "DE", "recipient_kid": rogue.recipient.enc_kid}
    before = de.refusal_codes()
    assert_refused(rogue.post(PUSH, envelope), de, "seal_invalid", before, path=PUSH)
    assert de.stored_nothing(view["uid"])


def test_request_without_signature(rogue, de):
    view = rogue.view()
    url, headers, raw = rogue.signed(PUSH, rogue.seal([rogue.item(view)]))
    del headers["Signature"], headers["Signature-Input"]
    before = de.refusal_codes()
    assert_refused(rogue.send(url, headers, raw), de, "signature_missing", before, path=PUSH)
    assert de.stored_nothing(view["uid"])


@pytest.mark.parametrize("case", ["unknown_key", "wrong_destination", "stale_request", "bad_signature"])
def test_pull_requests_are_refused_the_same_way_and_disclose_nothing(rogue, de, fed, case):
    """DE holds a record it shares with MT; a bad pull request gets none of it."""
    own = fed.publish("DE")
    disclosed_before = de.value("SELECT count(*) FROM disclosures WHERE channel = 'pull'")
    options = {
        "unknown_key": lambda: {"key": (k := new_signing_key()), "kid": key_id(SIG, bytes(k.verify_key))},
        "wrong_destination": lambda: {"destination": "TN"},
        "stale_request": lambda: {"created": now_utc() - dt.timedelta(hours=2)},
        "bad_signature": lambda: {"key": new_signing_key()},
    }[case]()
    before = de.refusal_codes()
    response = rogue.post(CHANGES, {"cursor": None, "limit": 100}, **options)
    assert_refused(response, de, case, before, path=CHANGES)
    assert "ciphertext" not in response.text and own["ref"] not in response.text
    assert de.value("SELECT count(*) FROM disclosures WHERE channel = 'pull'") == disclosed_before


@pytest.mark.parametrize("body", [{"cursor": 12}, {"cursor": "1_000"}, {"cursor": " 5"}, {"cursor": "12.5"},
                                  {"cursor": "5", "stored": "9"}, {"cursor": "5", "stored": 3}, {"limit": True},
                                  {"limit": 0}, {"limit": 5001}, {"limit": "10"}])
def test_a_pull_with_a_bad_cursor_or_limit_is_answered_400_naming_the_fields(rogue, de, body):
    disclosed_before = de.value("SELECT count(*) FROM disclosures WHERE channel = 'pull'")
    response = rogue.post(CHANGES, body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "validation_failed"
    assert set(error["fields"]) == {"cursor", "stored", "limit"}
    assert "ciphertext" not in response.text
    assert de.value("SELECT count(*) FROM disclosures WHERE channel = 'pull'") == disclosed_before
    assert rogue.post(CHANGES, {"cursor": "0", "limit": 1}).status_code == 200


# -- the request is valid, one record inside it is not ------------------------------------------


def test_bad_signature_on_one_record_inside_a_valid_batch(rogue, de, fed):
    good1, bad, good2 = rogue.view(), rogue.view(), rogue.view()
    decoy = rogue.view()
    forged = rogue.item(bad)
    header, _payload, signature = forged.split(".")
    # The payload of another record under the signature made for this one.
    tampered = ".".join([header, rogue.item(decoy).split(".")[1], signature])
    before = de.refusal_codes()
    response = rogue.push([rogue.item(good1), tampered, rogue.item(good2)])
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["stored"] == 2 and receipt["refused"] == 1
    assert receipt["refused_by_code"] == {"bad_signature": 1}
    assert de.stored_nothing(bad["uid"]) and de.stored_nothing(decoy["uid"])
    assert fed.get("DE", good1["uid"]) and fed.get("DE", good2["uid"])
    after = de.refusal_codes()
    assert after.get("bad_signature", 0) == before.get("bad_signature", 0) + 1
    assert de.refusals("bad_signature", "batch-item") >= 1


def test_a_record_whose_indexed_fields_are_not_text_is_refused_alone(rogue, de, fed):
    """Signed and canonical, but with a list where a country belongs (or a party name that is a number):
    each is refused as malformed, and the rest of the batch is stored."""
    good = rogue.view()
    listed = rogue.view(destination_country=["RU"])
    named = rogue.view()
    named["parties"][0]["names"][0]["text"] = 7
    before = de.refusal_codes()
    response = rogue.push([rogue.item(listed), rogue.item(good), rogue.item(named)])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1 and response.json()["refused_by_code"] == {"malformed": 2}
    assert de.stored_nothing(listed["uid"]) and de.stored_nothing(named["uid"])
    assert fed.get("DE", good["uid"])
    assert de.refusal_codes().get("malformed", 0) == before.get("malformed", 0) + 2


BAD_CONTENT = [
    ("uid", "not-a-uuid"), ("uid", "4F6C2A8E-3B1D-4E9A-9C7F-2D5E8A1B6C30"), ("version", 0), ("version", -5),
    ("status", "revoked"), ("status", "expired"), ("destination_country", "Narnia"),
    ("destination_country", "QQ"), ("sensitivity", "secret"), ("ref", ""), ("ref", "MT/DEN\n1"),
    ("regimes", "NSG"), ("denied_on", "yesterday"), ("denied_on", "2026-02-30"), ("review_due", "20290302"),
    ("created_at", "2026-13-45T00:00:00Z"), ("updated_at", "soon"), ("parties.role", "villain"),
    ("parties.kind", "robot"),
]


@pytest.mark.parametrize("field, value", BAD_CONTENT)
def test_a_record_whose_content_no_denial_holds_is_refused_alone(rogue, de, fed, field, value):
    """Signed and canonical, but a field the receiver stores, indexes or shows as structure holds what no
    denial holds there (an identity that is no UUID or version, a revoked status outside a tombstone, an
    unknown country, a date that is none): refused as malformed, the rest of the batch stored."""
    bad, good = rogue.view(), rogue.view()
    if field.startswith("parties."):
        bad["parties"][0][field.split(".")[1]] = value
    else:
        bad[field] = value
    before = de.refusal_codes()
    response = rogue.push([rogue.item(bad), rogue.item(good)])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1 and response.json()["refused_by_code"] == {"malformed": 1}
    assert de.stored_nothing(bad["uid"]) and fed.get("DE", good["uid"])
    assert de.refusal_codes().get("malformed", 0) == before.get("malformed", 0) + 1


def test_a_record_reusing_a_held_reference_is_refused_alone(rogue, de, fed):
    """A new uid under the ``ref`` of a record DE holds from MT (or of another item of the same batch):
    that item is refused as ``ref_conflict``, the rest of the batch is stored and the held record is
    untouched (it used to fail the whole batch with a 500, which the pusher retries for ever)."""
    held = rogue.view()
    assert rogue.push([rogue.item(held)]).json()["stored"] == 1
    before_doc = fed.get("DE", held["uid"])
    before = de.refusal_codes()
    clash, good, twin, twin_clash = rogue.view(), rogue.view(), rogue.view(), rogue.view()
    clash["ref"], twin_clash["ref"] = held["ref"], twin["ref"]
    response = rogue.push([rogue.item(clash), rogue.item(good), rogue.item(twin), rogue.item(twin_clash)])
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2, "unchanged": 0, "dropped": 0, "refused": 2,
                               "refused_by_code": {"ref_conflict": 2}}
    assert de.stored_nothing(clash["uid"]) and de.stored_nothing(twin_clash["uid"])
    assert fed.get("DE", good["uid"]) and fed.get("DE", twin["uid"])
    assert fed.get("DE", held["uid"]) == before_doc
    assert de.refusal_codes().get("ref_conflict", 0) == before.get("ref_conflict", 0) + 2
    # The held record's newer version keeps its reference and is stored as usual.
    newer = {**held, "version": 2, "reason_text": "Second assessment."}
    assert rogue.push([rogue.item(newer)]).json()["stored"] == 1
    assert fed.get("DE", held["uid"])["version"] == 2


def test_record_signed_by_a_key_that_is_not_the_origins(rogue, de, fed):
    """An item signed by TN's real key under TN's kid, inside MT's batch: MT's identity does not list it."""
    tn = RoguePeer(fed["TN"], fed["DE"])
    good, alien = rogue.view(), rogue.view()
    before = de.refusal_codes()
    response = rogue.push([rogue.item(good), rogue.item(alien, sender=tn.sender)])
    assert response.status_code == 200
    assert response.json()["refused_by_code"] == {"unknown_key": 1}
    assert de.stored_nothing(alien["uid"]) and fed.get("DE", good["uid"])
    assert de.refusal_codes().get("unknown_key", 0) == before.get("unknown_key", 0) + 1


def test_record_claiming_another_origin(rogue, de, fed):
    claimed, good = rogue.view(origin="TN"), rogue.view()
    before = de.refusal_codes()
    response = rogue.push([rogue.item(claimed), rogue.item(good)])
    assert response.status_code == 200
    assert response.json()["stored"] == 1 and response.json()["refused_by_code"] == {"relay_refused": 1}
    assert de.stored_nothing(claimed["uid"])
    assert fed.get("DE", good["uid"])["origin"] == "MT"
    assert de.refusal_codes().get("relay_refused", 0) == before.get("relay_refused", 0) + 1


def test_record_taking_over_another_origins_uid(rogue, de, fed):
    """MT sends a newer version of a uid that DE holds from TN: refused, TN's copy untouched."""
    tn_record = fed.publish("TN")
    held = fed.wait_visible("DE", tn_record["uid"])
    before = de.refusal_codes()
    response = rogue.push([rogue.item(rogue.view(tn_record["uid"], version=9))])
    assert response.status_code == 200
    assert response.json()["refused_by_code"] == {"origin_conflict": 1}
    assert fed.get("DE", tn_record["uid"]) == held
    assert de.value("SELECT origin FROM received WHERE uid = ?", [tn_record["uid"]]) == "TN"
    assert de.refusal_codes().get("origin_conflict", 0) == before.get("origin_conflict", 0) + 1


def test_record_addressed_to_another_recipient(rogue, de):
    """An item signed for TN, put in a batch sealed to DE: refused, not stored."""
    view = rogue.view()
    before = de.refusal_codes()
    response = rogue.push([rogue.item(view, recipient="TN")])
    assert response.status_code == 200
    assert response.json()["refused_by_code"] == {"relay_refused": 1}
    assert de.stored_nothing(view["uid"])
    assert de.refusal_codes().get("relay_refused", 0) == before.get("relay_refused", 0) + 1


# -- repeats and stale versions are harmless no-ops ---------------------------------------------


def test_older_version_after_a_newer_one_is_a_no_op(rogue, de, fed):
    newer = rogue.view(version=2, reason_text="Second assessment.")
    older = {**newer, "version": 1, "reason_text": "First assessment."}
    newer_rev = rogue.next_rev() + 10
    assert rogue.push([rogue.item(newer, rev=newer_rev)]).json()["stored"] == 1
    state = de.holds(newer["uid"])
    before = de.refusal_codes()

    receipt = rogue.push([rogue.item(older, rev=newer_rev - 5)]).json()
    assert receipt == {"stored": 0, "unchanged": 1, "dropped": 0, "refused": 0, "refused_by_code": {}}
    # The same version again under an older change-log position is no newer either.
    receipt = rogue.push([rogue.item({**newer, "reason_text": "Changed."}, rev=newer_rev - 1)]).json()
    assert receipt["unchanged"] == 1 and receipt["stored"] == 0
    assert de.holds(newer["uid"]) == state
    doc = fed.get("DE", newer["uid"])
    assert doc["version"] == 2 and doc["reason_text"] == "Second assessment."
    assert de.refusal_codes() == before


def test_duplicate_batch_is_a_no_op(rogue, de, fed):
    views = [rogue.view() for _ in range(3)]
    envelope = rogue.seal([rogue.item(view) for view in views])
    assert rogue.post(PUSH, envelope).json()["stored"] == 3
    state = [de.holds(view["uid"]) for view in views]
    totals = de.value("SELECT count(*) FROM denial_versions"), de.value("SELECT count(*) FROM received")
    before = de.refusal_codes()

    receipt = rogue.post(PUSH, envelope).json()  # the same sealed batch in a new, valid request
    assert receipt == {"stored": 0, "unchanged": 3, "dropped": 0, "refused": 0, "refused_by_code": {}}
    assert [de.holds(view["uid"]) for view in views] == state
    assert (de.value("SELECT count(*) FROM denial_versions"), de.value("SELECT count(*) FROM received")) == totals
    assert de.refusal_codes() == before


def test_tombstone_then_stale_record_does_not_resurrect(rogue, de, fed):
    view = rogue.view()
    rev = rogue.next_rev() + 10
    assert rogue.push([rogue.item(view, rev=rev)]).json()["stored"] == 1
    tombstone = {"uid": view["uid"], "origin": "MT", "version": 2, "status": "revoked", "reason": "revoked"}
    assert rogue.push([rogue.item(tombstone, kind="tombstone", rev=rev + 1)]).json()["dropped"] == 1
    assert rogue.push([rogue.item(view, rev=rev)]).json()["unchanged"] == 1
    assert fed.get("DE", view["uid"]) is None
    held = de.holds(view["uid"])
    assert held["denials"] == [] and held["versions"] == []
    assert held["received"][0][3] == "tombstone" and held["received"][0][5] is None


def test_refusals_are_logged_without_content(fed, rogue):
    """The receiving node's log names the refusal code, never the record."""
    view = rogue.view(reason_text="Vessel Zhemchug-Bravo-7731 for diversion")
    rogue.push([rogue.item(view)], destination="TN")
    wait_for(lambda: "wrong_destination" in fed["DE"].log(), 10, "the refusal in DE's log")
    log = fed["DE"].log()
    assert "Zhemchug-Bravo-7731" not in log and "Tekhnoprom" not in log and "Технопром" not in log



def test_the_signed_target_uri_is_the_path_as_sent_with_its_percent_encoding(rogue, de):
    """A consultation's uid may be written in any form UUID accepts, braces included, which travel
    percent-encoded: the receiver checks the signature over the target URI as sent, not as decoded."""
    before = de.refusal_codes()
    path = "/federation/v1/consultations/%7B" + str(uuid.uuid4()) + "%7D/messages"
    response = rogue.post(path, rogue.seal([]))
    assert response.status_code != 401, response.text
    assert de.refusal_codes() == before
    # The same request signed over the decoded path is not the request sent.
    url = rogue.target_url + path.replace("%7B", "{").replace("%7D", "}")
    _url, headers, raw = rogue.signed(path, rogue.seal([]), url=url)
    assert rogue.send(rogue.target_url + path, headers, raw).status_code == 401
    assert de.refusal_codes().get("bad_signature", 0) == before.get("bad_signature", 0) + 1


def test_a_base_url_written_with_a_trailing_slash_still_authenticates_peers(fed, rogue, de):
    """Peers sign the target URI as the receiver's base URL without a trailing slash plus the path; a node
    whose cordon.toml spells its base URL with one accepts their requests all the same."""
    base_url = read_settings(fed["DE"].data_dir).base_url
    fed.stop("DE")
    update_settings(fed["DE"].data_dir, base_url=base_url + "/")
    fed.start("DE")
    try:
        view = rogue.view()
        before = de.refusal_codes()
        response = rogue.push([rogue.item(view)])
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == 1
        assert de.refusal_codes() == before
    finally:
        fed.stop("DE")
        update_settings(fed["DE"].data_dir, base_url=base_url)
        fed.start("DE")
