"""Keys, key metadata and private key files."""

import hashlib
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from federation.errors import KeyFileError, KeyFileInsecure, MalformedMessage
from federation.keys import (
    KeyInfo,
    b64u_decode,
    b64u_encode,
    format_time,
    key_id,
    load_private_key,
    new_encryption_key,
    new_signing_key,
    parse_time,
    save_private_key,
    unix_seconds,
)


def test_key_id_is_derived_from_the_public_key():
    key = new_signing_key()
    raw = bytes(key.verify_key)
    kid = key_id("sig", raw)
    assert kid == "ed25519:" + b64u_encode(hashlib.sha256(raw).digest())[:16]
    assert kid == key_id("sig", raw)
    enc = new_encryption_key()
    assert key_id("enc", bytes(enc.public_key)).startswith("x25519:")
    assert len(key_id("enc", bytes(enc.public_key))) == len("x25519:") + 16


def test_key_info_round_trip_and_jwk_shape():
    key = new_signing_key()
    info = KeyInfo.for_key(key, datetime(2026, 11, 28, 8, tzinfo=timezone.utc), "2028-11-28T08:00:00Z")
    data = info.to_dict()
    assert data["kty"] == "OKP" and data["crv"] == "Ed25519" and data["use"] == "sig"
    assert b64u_decode(data["x"]) == bytes(key.verify_key)
    assert data["not_before"] == "2026-11-28T08:00:00Z"
    assert KeyInfo.from_dict(data) == info
    enc = KeyInfo.for_key(new_encryption_key(), "2026-11-28T08:00:00Z")
    assert enc.to_dict()["crv"] == "X25519" and enc.use == "enc"
    assert KeyInfo.from_dict(enc.to_dict()) == enc


def test_key_info_validity_and_status_changes():
    info = KeyInfo.for_key(new_signing_key(), "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
    start = unix_seconds(parse_time("2026-01-01T00:00:00Z"))
    end = unix_seconds(parse_time("2027-01-01T00:00:00Z"))
    assert not info.valid_at(start - 1) and info.valid_at(start) and info.valid_at(end - 1) and not info.valid_at(end)
    revoked = info.revoked("2026-06-01T00:00:00Z")
    assert revoked.status == "revoked" and revoked.revoked_since() == unix_seconds(parse_time("2026-06-01T00:00:00Z"))
    assert info.retired().status == "retired" and info.retired().revoked_at is None


@pytest.mark.parametrize(
    "change",
    [
        {"kid": "ed25519:AAAAAAAAAAAAAAAA"},
        {"x": "AAAA"},
        {"use": "enc"},
        {"crv": "X25519"},
        {"status": "lost"},
        {"status": "revoked"},
        {"revoked_at": "2026-06-01T00:00:00Z"},
        {"not_before": "2026-01-01"},
        {"not_after": "2025-01-01T00:00:00Z"},
        {"extra": 1},
    ],
)
def test_key_info_from_dict_refuses(change):
    data = KeyInfo.for_key(new_signing_key(), "2026-01-01T00:00:00Z").to_dict()
    data.update(change)
    with pytest.raises(MalformedMessage):
        KeyInfo.from_dict(data)


def test_base64url_is_strict():
    assert b64u_encode(b"\xfb\xff") == "-_8"
    assert b64u_decode("-_8") == b"\xfb\xff"
    for bad in ["-_8=", "+/8", "a", "-_9", "ab cd"]:
        with pytest.raises(MalformedMessage):
            b64u_decode(bad)


def test_timestamps():
    moment = datetime(2026, 11, 28, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2026-11-28T08:00:00Z"
    assert parse_time("2026-11-28T08:00:00Z") == datetime(2026, 11, 28, 8, tzinfo=timezone.utc)
    for bad in ["2026-11-28 08:00:00Z", "2026-11-28T08:00:00+00:00", "2026-13-28T08:00:00Z"]:
        with pytest.raises(MalformedMessage):
            parse_time(bad)
    with pytest.raises(ValueError):
        format_time(datetime(2026, 11, 28))


@pytest.mark.parametrize("make", [new_signing_key, new_encryption_key])
def test_private_key_file_round_trip(tmp_path, make):
    key = make()
    path = tmp_path / "node.key"
    kid = save_private_key(path, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_private_key(path)
    assert type(loaded) is type(key) and bytes(loaded) == bytes(key)
    public = loaded.verify_key if isinstance(loaded, SigningKey) else loaded.public_key
    assert kid == key_id("sig" if isinstance(loaded, SigningKey) else "enc", bytes(public))


def test_private_key_file_mode_ignores_a_loose_umask(tmp_path):
    old = os.umask(0)
    try:
        save_private_key(tmp_path / "k", new_signing_key())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o600


def test_private_key_file_is_never_overwritten(tmp_path):
    path = tmp_path / "node.key"
    first = new_signing_key()
    save_private_key(path, first)
    with pytest.raises(KeyFileError):
        save_private_key(path, new_signing_key())
    assert bytes(load_private_key(path)) == bytes(first)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_refuses_key_file_open_to_others(tmp_path, mode):
    path = tmp_path / "node.key"
    save_private_key(path, new_signing_key())
    os.chmod(path, mode)
    with pytest.raises(KeyFileInsecure) as caught:
        load_private_key(path)
    assert caught.value.code == "key_file_insecure"


def test_refuses_key_file_with_wrong_content(tmp_path):
    garbage = tmp_path / "garbage.key"
    fd = os.open(garbage, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key")
    os.close(fd)
    with pytest.raises(KeyFileError):
        load_private_key(garbage)
    mismatched = tmp_path / "mismatched.key"
    fd = os.open(mismatched, os.O_WRONLY | os.O_CREAT, 0o600)
    other = PrivateKey.generate()
    os.write(fd, ('{"kid": "x25519:AAAAAAAAAAAAAAAA", "use": "enc", "d": "%s"}' % b64u_encode(bytes(other))).encode())
    os.close(fd)
    with pytest.raises(KeyFileError):
        load_private_key(mismatched)
    with pytest.raises(KeyFileError):
        load_private_key(tmp_path / "missing.key")
