"""Identity documents: self-signature, fingerprint, rotation and revocation."""

import copy
import datetime as dt
import re

import pytest

from federation.canonical import canonical_bytes
from federation.errors import IdentityInvalid, RotationInvalid
from federation.identity import (
    build_document,
    current_key,
    document_keys,
    fingerprint,
    next_document,
    sign_document,
    verify_not_older,
    verify_rotation,
    verify_self_signed,
)
from federation.keys import KeyInfo, b64u_encode, new_encryption_key, new_signing_key

T0 = "2026-11-28T08:00:00Z"
T1 = "2027-02-01T08:00:00Z"
T2 = "2027-03-01T08:00:00Z"


class Node:
    """A node's keys and its current identity document."""

    def __init__(self, node_id="MT"):
        self.sig = new_signing_key()
        self.enc = new_encryption_key()
        self.sig_info = KeyInfo.for_key(self.sig, T0)
        self.enc_info = KeyInfo.for_key(self.enc, T0)
        self.document = build_document(
            node_id=node_id,
            name="Malta Export Control",
            base_url="https://mt.cordon.example",
            role="member",
            serial=1,
            issued_at=T0,
            keys=[self.sig_info, self.enc_info],
        )
        self.signed = sign_document(self.document, [(self.sig_info.kid, self.sig)])


@pytest.fixture
def node():
    return Node()


def rotated(node):
    """New signing key; old one retired; signed by both."""
    new_sig = new_signing_key()
    new_info = KeyInfo.for_key(new_sig, T1)
    document = next_document(node.document, issued_at=T1, keys=[node.sig_info.retired(), node.enc_info, new_info])
    signed = sign_document(document, [(node.sig_info.kid, node.sig), (new_info.kid, new_sig)])
    return signed, new_sig, new_info


def test_self_signed_document_verifies(node):
    assert verify_self_signed(node.signed) == node.document
    assert node.document["serial"] == 1 and node.document["keys"][0]["use"] == "sig"
    assert set(document_keys(node.document)) == {node.sig_info.kid, node.enc_info.kid}
    assert current_key(node.document, "enc") == node.enc_info


def test_refuses_tampered_document(node):
    signed = copy.deepcopy(node.signed)
    signed["document"]["base_url"] = "https://attacker.example"
    with pytest.raises(IdentityInvalid) as caught:
        verify_self_signed(signed)
    assert caught.value.code == "identity_invalid"


def test_refuses_signature_by_unlisted_key(node):
    from federation.canonical import canonical_bytes
    from federation.keys import b64u_encode

    intruder = new_signing_key()
    intruder_kid = KeyInfo.for_key(intruder, T0).kid
    forged = b64u_encode(intruder.sign(canonical_bytes(node.document)).signature)
    for kid in (node.sig_info.kid, intruder_kid):
        with pytest.raises(IdentityInvalid):
            verify_self_signed({"document": node.document, "signatures": [{"kid": kid, "signature": forged}]})
    with pytest.raises(IdentityInvalid):
        sign_document(node.document, [(intruder_kid, intruder)])


def test_refuses_document_signed_only_by_retired_key(node):
    document = next_document(node.document, issued_at=T1, keys=[node.sig_info.retired(), node.enc_info, KeyInfo.for_key(new_signing_key(), T1)])
    signed = sign_document(document, [(node.sig_info.kid, node.sig)])
    with pytest.raises(IdentityInvalid):
        verify_self_signed(signed)


@pytest.mark.parametrize(
    "change",
    [
        {"node_id": "mt"},
        {"node_id": "M"},
        {"role": "observer"},
        {"serial": 0},
        {"serial": True},
        {"base_url": "ftp://mt.example"},
        {"name": " "},
        {"issued_at": "yesterday"},
        {"extra": "field"},
    ],
)
def test_refuses_malformed_documents(node, change):
    document = {**node.document, **change}
    with pytest.raises(IdentityInvalid):
        verify_self_signed({"document": document, "signatures": node.signed["signatures"]})


def test_refuses_documents_without_active_keys(node):
    with pytest.raises(IdentityInvalid):
        build_document(**{**node.document, "keys": [node.enc_info]})
    with pytest.raises(IdentityInvalid):
        build_document(**{**node.document, "keys": [node.sig_info]})
    with pytest.raises(IdentityInvalid):
        build_document(**{**node.document, "keys": [node.sig_info, node.sig_info, node.enc_info]})


def test_refuses_garbage_signatures(node):
    for signatures in ([], [{"kid": node.sig_info.kid, "signature": "AAAA"}], [{"kid": node.sig_info.kid}], "x"):
        with pytest.raises(IdentityInvalid):
            verify_self_signed({"document": node.document, "signatures": signatures})


def test_fingerprint_is_short_stable_and_key_bound(node):
    value = fingerprint(node.document)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}", value)
    assert fingerprint(copy.deepcopy(node.document)) == value
    assert fingerprint({**node.document, "name": "Other name"}) == value
    assert fingerprint({**node.document, "node_id": "NL"}) != value
    signed, _, _ = rotated(node)
    assert fingerprint(signed["document"]) != value
    assert Node("MT").document["node_id"] == "MT" and fingerprint(Node("MT").document) != value


def test_rotation_chain_is_accepted(node):
    signed, new_sig, new_info = rotated(node)
    document = verify_rotation(node.document, signed)
    assert document["serial"] == 2
    assert current_key(document, "sig") == new_info
    # The next change is signed by the new key alone and chains from document 2.
    third = next_document(document, issued_at=T2, base_url="https://mt2.cordon.example")
    assert verify_rotation(document, sign_document(third, [(new_info.kid, new_sig)]))["base_url"].startswith("https://mt2")


def test_rotation_refuses_new_key_alone(node):
    new_sig = new_signing_key()
    new_info = KeyInfo.for_key(new_sig, T1)
    document = next_document(node.document, issued_at=T1, keys=[node.sig_info.retired(), node.enc_info, new_info])
    with pytest.raises(RotationInvalid) as caught:
        verify_rotation(node.document, sign_document(document, [(new_info.kid, new_sig)]))
    assert caught.value.code == "rotation_invalid"


def test_rotation_refuses_other_node_and_old_serial(node):
    other = Node("NL")
    with pytest.raises(RotationInvalid):
        verify_rotation(node.document, other.signed)
    signed, _, _ = rotated(node)
    with pytest.raises(RotationInvalid):
        verify_rotation(signed["document"], node.signed)
    with pytest.raises(RotationInvalid):
        verify_rotation(node.document, node.signed)


def test_rotation_refuses_dropped_key(node):
    new_sig = new_signing_key()
    new_info = KeyInfo.for_key(new_sig, T1)
    document = next_document(node.document, issued_at=T1, keys=[new_info, node.enc_info])
    with pytest.raises(RotationInvalid):
        # The old key cannot sign: it is not listed any more.
        verify_rotation(node.document, sign_document(document, [(new_info.kid, new_sig)]))


def test_revocation_by_a_key_still_active(node):
    signed, new_sig, new_info = rotated(node)
    second = verify_rotation(node.document, signed)
    revocation = next_document(second, issued_at=T2, keys=[node.sig_info.revoked(T1), node.enc_info, new_info])
    third = verify_rotation(second, sign_document(revocation, [(new_info.kid, new_sig)]))
    assert document_keys(third)[node.sig_info.kid].status == "revoked"
    # A later document cannot bring the revoked key back.
    undo = next_document(third, issued_at=T2, keys=[node.sig_info.retired(), node.enc_info, new_info])
    with pytest.raises(RotationInvalid):
        verify_rotation(third, sign_document(undo, [(new_info.kid, new_sig)]))


def test_a_document_confirmed_anew_must_not_undo_the_trusted_one(node):
    signed, new_sig, new_info = rotated(node)
    second = verify_rotation(node.document, signed)
    revocation = next_document(second, issued_at=T2, keys=[node.sig_info.revoked(T1), node.enc_info, new_info])
    third = verify_rotation(second, sign_document(revocation, [(new_info.kid, new_sig)]))
    verify_not_older(third, third)  # the same document again
    verify_not_older(third, next_document(third, issued_at=T2))  # a later one
    with pytest.raises(RotationInvalid, match="serial 1 is older than the serial 3"):
        verify_not_older(third, node.document)
    with pytest.raises(RotationInvalid, match="differs from the document of the same serial"):
        verify_not_older(third, {**third, "name": "Malta"})
    for status in (node.sig_info.retired(), node.sig_info.revoked(T2)):  # unrevoked, or revoked at another time
        undo = next_document(third, issued_at=T2, keys=[status, node.enc_info, new_info])
        with pytest.raises(RotationInvalid, match="is not revoked alike"):
            verify_not_older(third, undo)
    # A node set up anew lists none of the trusted keys: nothing to undo, whatever its serial.
    verify_not_older(third, Node().document)


def test_revoked_key_cannot_approve_its_own_revocation_chain(node):
    # The compromised key revokes itself while adding an attacker key: refused,
    # because the only trusted signer is revoked by the new document.
    attacker = new_signing_key()
    attacker_info = KeyInfo.for_key(attacker, T1)
    document = next_document(node.document, issued_at=T1, keys=[node.sig_info.revoked(T1), node.enc_info, attacker_info])
    signed = sign_document(document, [(node.sig_info.kid, node.sig), (attacker_info.kid, attacker)])
    with pytest.raises(RotationInvalid):
        verify_rotation(node.document, signed)


def test_rotation_refuses_signer_retired_in_trusted_document(node):
    signed, new_sig, new_info = rotated(node)
    second = verify_rotation(node.document, signed)
    # The retired old key and a freshly added key sign: self-signed, but no
    # signer is active in the trusted document.
    extra = new_signing_key()
    extra_info = KeyInfo.for_key(extra, T2)
    third = next_document(second, issued_at=T2, keys=[*document_keys(second).values(), extra_info])
    third_signed = sign_document(third, [(node.sig_info.kid, node.sig), (extra_info.kid, extra)])
    assert verify_self_signed(third_signed) == third
    with pytest.raises(RotationInvalid):
        verify_rotation(second, third_signed)


@pytest.mark.parametrize("node_id", ["OSCE CPC", "A" * 33, "M", "mt"])
def test_a_document_with_a_node_id_no_node_can_have_is_refused_naming_it(node, node_id):
    document = {**node.document, "node_id": node_id}
    signature = b64u_encode(node.sig.sign(canonical_bytes(document)).signature)
    with pytest.raises(IdentityInvalid, match="node_id"):
        verify_self_signed({"document": document, "signatures": [{"kid": node.sig_info.kid, "signature": signature}]})


@pytest.mark.parametrize("node_id, role, refused", [
    ("XX", "member", "not an ISO 3166-1 alpha-2 country code"), ("UK", "member", "did you mean 'GB'"),
    ("1MT", "member", "not a node id"), ("EU", "coordinator", None), ("OSCE-CPC", "member", None),
    ("XK", "member", None),
])
def test_a_member_peer_has_an_id_a_policy_can_name(tmp_path, node_id, role, refused):
    """A member peer whose id no sharing policy could name (XX, a typo for GB, a leading digit) is not
    added, naming why; a coordinator, which no policy names, keeps any id a document may carry."""
    from node.config import Settings
    from node.datadir import initialise
    from node.errors import ValidationFailed
    from node.peers import PeerRegistry
    from node.runtime import NodeRuntime

    initialise(tmp_path / "mt", Settings(node_id="MT", name="Malta", base_url="http://127.0.0.1:8701"),
               dt.datetime.now(dt.timezone.utc))
    runtime = NodeRuntime(tmp_path / "mt")
    try:
        other = Node(node_id)
        other.document = {**other.document, "role": role}
        other.signed = sign_document(other.document, [(other.sig_info.kid, other.sig)])
        registry = PeerRegistry(runtime.db(), "MT")
        if refused:
            with pytest.raises(ValidationFailed, match=refused):
                registry.add(other.signed, fingerprint(other.document), actor="test")
            assert registry.get(node_id) is None
        else:
            assert registry.add(other.signed, fingerprint(other.document), actor="test").node_id == node_id
    finally:
        runtime.close()


def test_follow_chain_takes_every_step_from_the_trusted_document(node):
    """A rotation, then the revocation of the key rotated away from: the newest document is signed by the
    new key alone, which the trusted document does not list, so it does not chain from it directly; with
    the document in between it does. Junk and documents of no step are passed over; a chain reaching
    nothing newer is refused."""
    from federation.identity import follow_chain

    new_sig = new_signing_key()
    new_info = KeyInfo.for_key(new_sig, T1)
    second_doc = next_document(node.document, issued_at=T1, keys=[node.sig_info.retired(), node.enc_info, new_info])
    second = sign_document(second_doc, [(node.sig_info.kid, node.sig), (new_info.kid, new_sig)])
    third_doc = next_document(second_doc, issued_at=T2, keys=[node.sig_info.revoked(T2), node.enc_info, new_info])
    third = sign_document(third_doc, [(new_info.kid, new_sig)])
    with pytest.raises(RotationInvalid):
        verify_rotation(node.document, third)
    stranger = Node()
    junk = [None, {"document": {"serial": "3"}}, stranger.signed, {"document": {**third_doc, "serial": 9}}]
    assert follow_chain(node.document, [third, *junk, node.signed, second]) == third
    assert follow_chain(second_doc, [node.signed, second, third]) == third
    with pytest.raises(RotationInvalid):
        follow_chain(node.document, [third])
    for refused in ([], "chain", [node.signed] * 1001):
        with pytest.raises(RotationInvalid):
            follow_chain(node.document, refused)
