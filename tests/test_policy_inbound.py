"""Inbound limits: which record types and sizes this node accepts from whom."""

from __future__ import annotations

import textwrap

from policies import parse_policy

POLICY = textwrap.dedent(
    """\
    version: 1
    groups:
      eu: [DE, FR, IT]
      customs: [CH, "NO"]
      partners:
        include: [eu, customs]
    inbound:
      - name: eu-denials
        peer_group: eu
        record_types: denial
        max_bytes: 262144
      - name: big-fr-denials
        peers: [FR]
        record_types: [denial]
        max_bytes: 1048576
      - name: partner-licences
        peer_group: partners
        record_types: [licence]
        max_bytes: 65536
    """
)


def test_accepts_within_limit_and_names_the_entry():
    policy = parse_policy(POLICY, "in.yaml")
    ok, reason = policy.accepts("DE", "denial", 1000)
    assert ok is True
    assert "eu-denials" in reason and "262144" in reason


def test_refuses_a_record_over_the_limit():
    policy = parse_policy(POLICY, "in.yaml")
    ok, reason = policy.accepts("DE", "denial", 262145)
    assert ok is False
    assert "262145-byte denial from DE exceeds the 262144-byte limit" in reason
    assert policy.accepts("DE", "denial", 262144)[0] is True


def test_the_largest_limit_among_covering_entries_applies():
    policy = parse_policy(POLICY, "in.yaml")
    ok, reason = policy.accepts("FR", "denial", 500_000)
    assert ok is True and "big-fr-denials" in reason
    assert policy.accepts("IT", "denial", 500_000)[0] is False


def test_record_types_not_listed_are_refused():
    policy = parse_policy(POLICY, "in.yaml")
    ok, reason = policy.accepts("CH", "denial", 10)
    assert ok is False
    assert reason == "no inbound entry accepts denial records from CH"
    assert policy.accepts("CH", "licence", 10)[0] is True
    assert policy.accepts("NO", "licence", 10)[0] is True
    assert policy.accepts("DE", "licence", 10)[0] is True  # via the included eu group


def test_unknown_peers_are_refused():
    policy = parse_policy(POLICY, "in.yaml")
    ok, reason = policy.accepts("TN", "denial", 10)
    assert ok is False and "TN" in reason


def test_unknown_record_type_and_bad_sizes_are_refused_not_raised():
    policy = parse_policy(POLICY, "in.yaml")
    assert policy.accepts("DE", "consultation", 10) == (
        False, "unknown record type 'consultation'; only denial, licence exist"
    )
    assert policy.accepts("DE", "denial", -1)[0] is False
    assert policy.accepts("DE", "denial", "10")[0] is False
    assert policy.accepts("DE", "denial", True)[0] is False


def test_no_inbound_section_accepts_nothing():
    policy = parse_policy("version: 1\ngroups:\n  eu: [DE]\n", "in.yaml")
    assert policy.accepts("DE", "denial", 1)[0] is False
    assert policy.accepts("DE", "licence", 1)[0] is False


def test_entry_without_peers_covers_any_peer():
    policy = parse_policy(
        "version: 1\ninbound:\n  - {name: any, record_types: denial, max_bytes: 100}\n", "in.yaml"
    )
    assert policy.accepts("ZW", "denial", 100)[0] is True
    assert policy.accepts("OSCE-CPC", "denial", 101)[0] is False
    assert policy.accepts("ZW", "licence", 1)[0] is False


def test_takes_more_from_names_what_a_new_policy_accepts_that_the_earlier_refused():
    earlier = parse_policy(POLICY, "earlier.yaml")
    same = parse_policy(POLICY.replace("name: eu-denials", "name: eu-denials-renamed"), "same.yaml")
    larger = parse_policy(POLICY.replace("max_bytes: 262144", "max_bytes: 524288"), "larger.yaml")
    licences = parse_policy(POLICY.replace("peer_group: partners", "peers: [DE, FR, IT, CH, \"NO\", TN]"), "l.yaml")
    assert not same.takes_more_from("DE", earlier)
    assert larger.takes_more_from("DE", earlier) and not larger.takes_more_from("FR", earlier)  # FR's was larger
    assert not earlier.takes_more_from("DE", larger)  # narrower
    assert licences.takes_more_from("TN", earlier)
    assert not licences.takes_more_from("TN", earlier, ("denial",))  # only the types a node stores count
