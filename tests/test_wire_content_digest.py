"""Content-Digest (RFC 9530)."""

import base64
import hashlib

import pytest

from federation.content_digest import content_digest, verify_content_digest
from federation.errors import DigestMismatch

BODY = b'{"hello": "world"}'


def test_rfc9530_example_value():
    assert content_digest(BODY) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    verify_content_digest(content_digest(BODY), BODY)


def test_accepts_sha512_other_algorithms_and_parameters():
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    verify_content_digest("sha-512=:%s:" % sha512, BODY)
    verify_content_digest("unixsum=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:;p=1", BODY)
    verify_content_digest(" sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:,sha-512=:%s: " % sha512, BODY)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AAAA:",  # one of two wrong
        "sha-256=:AAAA:",
        "md5=:AAAA:",  # nothing Cordon knows
        "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",  # not a byte sequence
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:",  # bad padding
        "SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        "sha-256=:!!:",
    ],
)
def test_refuses(value):
    with pytest.raises(DigestMismatch) as caught:
        verify_content_digest(value, BODY)
    assert caught.value.code == "digest_mismatch"


def test_refuses_changed_body():
    with pytest.raises(DigestMismatch):
        verify_content_digest(content_digest(BODY), BODY + b"\n")
