"""Sealed envelopes (NaCl Box)."""

import pytest

from federation.canonical import canonical_bytes
from federation.envelope import open_envelope, seal
from federation.errors import SealInvalid, UnknownKey
from federation.keys import KeyInfo, b64u_decode, b64u_encode, key_id, new_encryption_key
from wire_records import typical_denial


class Party:
    def __init__(self, node_id):
        self.node_id = node_id
        self.key = new_encryption_key()
        self.kid = key_id("enc", bytes(self.key.public_key))


@pytest.fixture
def mt():
    return Party("MT")


@pytest.fixture
def nl():
    return Party("NL")


PLAINTEXT = canonical_bytes({"records": [typical_denial()]})


def sealed(sender, recipient, plaintext=PLAINTEXT):
    return seal(
        plaintext,
        sender=sender.node_id,
        recipient=recipient.node_id,
        sender_key=sender.key,
        sender_kid=sender.kid,
        recipient_public=recipient.key.public_key,
        recipient_kid=recipient.kid,
    )


def opened(envelope, recipient, *senders, lookup=None):
    table = {(party.node_id, party.kid): party.key.public_key for party in senders}
    return open_envelope(
        envelope,
        me=recipient.node_id,
        my_keys={recipient.kid: recipient.key},
        sender_public_lookup=lookup or (lambda sender, kid: table.get((sender, kid))),
    )


def test_round_trip(mt, nl):
    envelope = sealed(mt, nl)
    assert set(envelope) == {"v", "sender", "recipient", "sender_kid", "recipient_kid", "nonce", "ciphertext"}
    assert envelope["v"] == 1 and envelope["sender"] == "MT" and envelope["recipient"] == "NL"
    assert envelope["sender_kid"] == mt.kid and envelope["recipient_kid"] == nl.kid
    assert len(b64u_decode(envelope["nonce"])) == 24
    assert opened(envelope, nl, mt) == PLAINTEXT
    assert opened(sealed(mt, nl, b""), nl, mt) == b""


def test_nothing_in_clear_and_fresh_nonce(mt, nl):
    first, second = sealed(mt, nl), sealed(mt, nl)
    assert first["nonce"] != second["nonce"] and first["ciphertext"] != second["ciphertext"]
    raw = b64u_decode(first["ciphertext"])
    assert b"Golden Bridge" not in raw and "Golden Bridge" not in str(first)


def test_accepts_key_info_and_raw_public_keys(mt, nl):
    info = KeyInfo.for_key(nl.key, "2026-01-01T00:00:00Z")
    envelope = seal(
        PLAINTEXT, sender="MT", recipient="NL", sender_key=mt.key, sender_kid=mt.kid,
        recipient_public=info, recipient_kid=nl.kid,
    )
    assert opened(envelope, nl, lookup=lambda sender, kid: bytes(mt.key.public_key)) == PLAINTEXT


def test_refuses_envelope_sealed_to_another_node(mt, nl):
    de = Party("DE")
    envelope = sealed(mt, nl)
    with pytest.raises(SealInvalid) as caught:
        opened(envelope, de, mt)
    assert caught.value.code == "seal_invalid"
    # Readdressed to DE: still sealed to NL's key, which DE does not hold.
    with pytest.raises(SealInvalid):
        opened({**envelope, "recipient": "DE", "recipient_kid": de.kid}, de, mt)


def test_refuses_tampered_ciphertext_and_nonce(mt, nl):
    envelope = sealed(mt, nl)
    raw = bytearray(b64u_decode(envelope["ciphertext"]))
    raw[40] ^= 1
    with pytest.raises(SealInvalid):
        opened({**envelope, "ciphertext": b64u_encode(bytes(raw))}, nl, mt)
    with pytest.raises(SealInvalid):
        opened({**envelope, "ciphertext": b64u_encode(bytes(raw[:-1]))}, nl, mt)
    with pytest.raises(SealInvalid):
        opened({**envelope, "nonce": b64u_encode(bytes(24))}, nl, mt)
    with pytest.raises(SealInvalid):
        opened({**envelope, "nonce": b64u_encode(bytes(12))}, nl, mt)


def test_refuses_swapped_header_even_when_the_box_opens(mt, nl):
    # A lookup that answers by kid alone returns MT's key for any sender name,
    # so the box opens; the sealed header still names MT.
    by_kid = {mt.kid: mt.key.public_key}
    envelope = {**sealed(mt, nl), "sender": "DE"}
    with pytest.raises(SealInvalid) as caught:
        opened(envelope, nl, lookup=lambda sender, kid: by_kid.get(kid))
    assert "header" in str(caught.value)


def test_refuses_box_from_another_sender_key(mt, nl):
    impostor = Party("MT")
    envelope = {**sealed(impostor, nl), "sender_kid": mt.kid}
    with pytest.raises(SealInvalid):
        opened(envelope, nl, mt)


def test_refuses_unknown_sender_key(mt, nl):
    with pytest.raises(UnknownKey) as caught:
        opened(sealed(mt, nl), nl)
    assert caught.value.code == "unknown_key"


def test_refuses_unknown_recipient_kid(mt, nl):
    other = Party("NL")
    with pytest.raises(SealInvalid):
        opened(sealed(mt, other), nl, mt)


@pytest.mark.parametrize(
    "change",
    [{"v": 2}, {"v": True}, {"v": "1"}, {"nonce": 5}, {"ciphertext": "!!"}, {"extra": 1}],
)
def test_refuses_malformed_envelopes(mt, nl, change):
    with pytest.raises(SealInvalid):
        opened({**sealed(mt, nl), **change}, nl, mt)
    envelope = sealed(mt, nl)
    del envelope["nonce"]
    with pytest.raises(SealInvalid):
        opened(envelope, nl, mt)
