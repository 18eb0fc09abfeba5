"""Decisions: precedence, groups, matching, views, explain, digest, threads."""

from __future__ import annotations

import copy
import hashlib
import textwrap
import threading

import pytest

from policies import (
    KEPT_FIELDS,
    PolicyError,
    UnknownGroup,
    UnknownRecordType,
    load_policy,
    parse_policy,
)


def policy_of(text: str):
    return parse_policy(textwrap.dedent(text), "test.yaml")


def denial(**overrides) -> dict:
    record = {
        "uid": "6f1c2c1e-0000-4000-8000-000000000001",
        "origin": "MT",
        "version": 3,
        "type": "denial",
        "status": "active",
        "sensitivity": "restricted",
        "regimes": ["EU-DU", "WA-DU"],
        "destination_country": "IR",
        "ref": "MT/DEN/2026/0007",
        "issuing_authority": "Trade Services Directorate",
        "contact": {"name": "Licensing desk", "email": "den@example.mt"},
        "control_entries": [{"list": "EU-DU", "entry": "3A001.a.2"}],
        "catch_all": False,
        "item_description": "radiation-hardened microcircuits",
        "key_parameters": {"total_dose_gy": "5000"},
        "hs_code": "854239",
        "quantity": "200",
        "unit": "pieces",
        "value": "180000.00",
        "currency": "EUR",
        "transit_countries": ["AE"],
        "stated_end_use": "satellite bus",
        "reason_codes": ["wmd_risk"],
        "reason_text": "end user linked to missile programme",
        "denied_on": "2026-01-12",
        "notified_at": "2026-01-13T09:00:00Z",
        "review_due": "2029-01-12",
        "created_at": "2026-01-13T09:00:00Z",
        "updated_at": "2026-02-01T10:00:00Z",
        "parties": [
            {
                "role": "exporter",
                "names": [{"text": "Melita Microsystems Ltd", "script": "Latn", "original": True}],
                "country": "MT",
                "address": "Triq il-Kbira, Qormi",
                "identifiers": [{"scheme": "EORI", "value": "MT12345678"}],
            },
            {
                "role": "end_user",
                "names": [
                    {"text": "شركة الفجر", "script": "Arab", "original": True},
                    {"text": "Al Fajr Company", "script": "Latn", "original": False},
                ],
                "country": "IR",
                "address": "Tehran",
                "identifiers": [],
            },
        ],
        "internal_note": "never leaves the node",
    }
    record.update(overrides)
    return record


def licence(**overrides) -> dict:
    record = {
        "uid": "6f1c2c1e-0000-4000-8000-0000000000aa",
        "origin": "DE",
        "version": 1,
        "number": "DE/IL/2026/0042",
        "type": "individual",
        "status": "valid",
        "sensitivity": "restricted",
        "exporter": {"role": "exporter", "names": [{"text": "Rhein Optik GmbH", "script": "Latn", "original": True}]},
        "parties": [
            {"role": "exporter", "names": [{"text": "Rhein Optik GmbH", "script": "Latn", "original": True}], "country": "DE"},
            {"role": "consignee", "names": [{"text": "Andes Vision SA", "script": "Latn", "original": True}], "country": "CL", "address": "Santiago"},
        ],
        "destinations": ["CL", "PE"],
        "end_use": "mining survey",
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
        "conditions": ["no re-export"],
        "lines": [
            {
                "line_no": 1,
                "control_entry": "6A003.b.4",
                "cn_code": "90258080",
                "description": "thermal camera",
                "quantity": "10",
                "unit": "pieces",
                "value": "95000.00",
                "currency": "EUR",
                "balance_quantity": "6",
                "balance_value": "57000.00",
            }
        ],
        "created_at": "2026-01-01T08:00:00Z",
        "updated_at": "2026-03-01T08:00:00Z",
    }
    record.update(overrides)
    return record


BASE = """\
version: 1
groups:
  eu: [DE, FR, IT]
  nordic: [SE, FI, DK, "NO", IS]
  europe:
    members: [CH, GB]
    include: [eu, nordic]
  everyone:
    members: [US]
    include: [europe]
views:
  full: {redact: []}
  no-exporter:
    redact: [contact]
    redact_roles: [exporter]
  summary:
    allow: [ref, regimes, destination_country, parties.names, parties.country]
    redact_roles: [exporter]
"""


# --- default ------------------------------------------------------------------


def test_no_rules_means_withhold_with_empty_view():
    policy = policy_of("version: 1\n")
    decision = policy.decide(denial(), "denial", "FR")
    assert decision.action == "withhold"
    assert decision.answer_level is None
    assert decision.rules == () and decision.winning_rules == ()
    assert decision.view(denial()) == {}
    assert "No rule matches this denial for peer FR" in decision.reason
    assert "default" in decision.reason


def test_a_rule_for_another_peer_does_not_apply():
    policy = policy_of(BASE + "rules:\n  - {name: s, match: {peer_group: eu}, action: share, view: full}\n")
    assert policy.decide(denial(), "denial", "TN").action == "withhold"
    assert policy.decide(denial(), "denial", "FR").action == "share"


# --- precedence -------------------------------------------------------------------


PRECEDENCE = BASE + """\
rules:
  - name: answer-everyone
    match: {peer_group: everyone}
    action: answer
    answer: detail
    view: summary
  - name: share-eu
    match: {peer_group: eu}
    action: share
    view: no-exporter
  - name: withhold-confidential
    match: {sensitivity: confidential}
    action: withhold
  - name: share-europe-eu-du
    match: {regimes: EU-DU, peer_group: europe}
    action: share
    view: summary
"""


def test_withhold_beats_share_and_answer():
    policy = policy_of(PRECEDENCE)
    decision = policy.decide(denial(sensitivity="confidential"), "denial", "DE")
    assert decision.action == "withhold"
    assert decision.rules == ("answer-everyone", "share-eu", "withhold-confidential", "share-europe-eu-du")
    assert decision.winning_rules == ("withhold-confidential",)
    assert decision.view(denial()) == {}
    assert "withhold beats share and answer" in decision.reason


def test_share_beats_answer_and_views_intersect():
    policy = policy_of(PRECEDENCE)
    record = denial()
    decision = policy.decide(record, "denial", "DE")
    assert decision.action == "share"
    assert decision.answer_level is None
    assert decision.winning_rules == ("share-eu", "share-europe-eu-du")
    view = decision.view(record)
    # no-exporter ∩ summary: only the summary fields, no contact, no exporter
    assert set(view) == KEPT_FIELDS | {"ref", "regimes", "destination_country", "parties"}
    assert [party["role"] for party in view["parties"]] == ["end_user"]
    assert set(view["parties"][0]) == {"role", "names", "country"}
    assert "in the fields all their views allow" in decision.reason


def test_only_share_rule_gives_its_own_view():
    policy = policy_of(PRECEDENCE)
    record = denial(regimes=["NSG"])
    decision = policy.decide(record, "denial", "DE")
    assert decision.winning_rules == ("share-eu",)
    view = decision.view(record)
    assert "contact" not in view and "item_description" in view
    assert [party["role"] for party in view["parties"]] == ["end_user"]
    assert view["parties"][0]["address"] == "Tehran"


def test_answer_when_no_share_matches():
    policy = policy_of(PRECEDENCE)
    decision = policy.decide(denial(regimes=["NSG"]), "denial", "US")
    assert decision.action == "answer" and decision.answer_level == "detail"
    assert decision.winning_rules == ("answer-everyone",)
    assert "not sent by sync" in decision.reason


def test_hit_beats_detail():
    policy = policy_of(
        BASE
        + """\
rules:
  - {name: detail, match: {peer_group: everyone}, action: answer, answer: detail, view: full}
  - {name: hit, match: {peer_group: nordic}, action: answer, answer: hit}
"""
    )
    record = denial()
    assert policy.decide(record, "denial", "US").answer_level == "detail"
    decision = policy.decide(record, "denial", "SE")
    assert decision.answer_level == "hit"
    assert decision.rules == ("detail", "hit") and decision.winning_rules == ("hit",)
    assert decision.view(record) == {key: record[key] for key in KEPT_FIELDS | {"ref"}}


def test_answer_defaults_to_hit():
    policy = policy_of(BASE + "rules:\n  - {name: a, match: {}, action: answer}\n")
    decision = policy.decide(licence(), "licence", "ZZ-NODE")
    assert decision.action == "answer" and decision.answer_level == "hit"
    assert set(decision.view(licence())) == KEPT_FIELDS | {"number"}


def test_rule_order_does_not_change_the_outcome():
    rules = [
        "  - {name: w, match: {status: revoked}, action: withhold}\n",
        "  - {name: s, match: {peer_group: eu}, action: share, view: full}\n",
        "  - {name: a, match: {}, action: answer}\n",
    ]
    forward = policy_of(BASE + "rules:\n" + "".join(rules))
    backward = policy_of(BASE + "rules:\n" + "".join(reversed(rules)))
    for record in (denial(), denial(status="revoked")):
        for peer in ("DE", "US", "TN"):
            one = forward.decide(record, "denial", peer)
            two = backward.decide(record, "denial", peer)
            assert (one.action, one.answer_level, set(one.winning_rules)) == (
                two.action, two.answer_level, set(two.winning_rules)
            )
            assert one.view(record) == two.view(record)


# --- groups --------------------------------------------------------------------------


def test_group_includes_are_flattened():
    policy = policy_of(BASE)
    assert policy.peers_in_group("europe") == {"CH", "GB", "DE", "FR", "IT", "SE", "FI", "DK", "NO", "IS"}
    assert policy.peers_in_group("everyone") == policy.peers_in_group("europe") | {"US"}
    assert policy.groups_of("FR") == {"eu", "europe", "everyone"}
    assert policy.groups_of("US") == {"everyone"}
    assert policy.groups_of("TN") == frozenset()
    assert set(policy.group_names) == {"eu", "nordic", "europe", "everyone"}


def test_unknown_group_lookup_raises():
    with pytest.raises(UnknownGroup):
        policy_of(BASE).peers_in_group("asean")
    assert issubclass(UnknownGroup, PolicyError)


def test_rule_on_an_including_group_reaches_included_members():
    policy = policy_of(BASE + "rules:\n  - {name: s, match: {peer_group: everyone}, action: share, view: full}\n")
    for peer in ("US", "CH", "DE", "NO"):
        assert policy.decide(denial(), "denial", peer).action == "share"


def test_peers_and_peer_group_are_a_union():
    policy = policy_of(
        BASE + "rules:\n  - {name: s, match: {peers: [TN, OSCE-CPC], peer_group: nordic}, action: share, view: full}\n"
    )
    for peer, expected in (("TN", "share"), ("OSCE-CPC", "share"), ("IS", "share"), ("DE", "withhold")):
        assert policy.decide(denial(), "denial", peer).action == expected


# --- matching -----------------------------------------------------------------------------


MATCHING = BASE + """\
rules:
  - name: by-destination
    match: {record_type: denial, destination_country: [IR, KP]}
    action: answer
  - name: by-regime
    match: {regimes: [NSG, MTCR]}
    action: answer
  - name: by-status
    match: {status: [valid, suspended]}
    action: answer
  - name: licence-by-destination
    match: {record_type: licence, destination_country: PE, licence_type: [individual, global]}
    action: answer
"""


def test_each_condition_matches_as_written():
    policy = policy_of(MATCHING)
    assert policy.decide(denial(), "denial", "DE").rules == ("by-destination",)
    assert policy.decide(denial(destination_country="CN"), "denial", "DE").rules == ()
    assert policy.decide(denial(destination_country="CN", regimes=["AG", "MTCR"]), "denial", "DE").rules == ("by-regime",)
    assert policy.decide(licence(), "licence", "DE").rules == ("by-status", "licence-by-destination")
    assert policy.decide(licence(status="revoked"), "licence", "DE").rules == ("licence-by-destination",)
    assert policy.decide(licence(destinations=["CL"]), "licence", "DE").rules == ("by-status",)
    assert policy.decide(licence(type="general"), "licence", "DE").rules == ("by-status",)


def test_status_without_record_type_narrows_to_the_types_that_have_it():
    policy = policy_of(MATCHING)
    rule = next(rule for rule in policy.rules if rule.name == "by-status")
    assert rule.record_types == {"licence"}
    regime_rule = next(rule for rule in policy.rules if rule.name == "by-regime")
    assert regime_rule.record_types == {"denial"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"regimes": "NSG"},
        {"regimes": None},
        {"regimes": [["NSG"]]},
        {"sensitivity": ["public"]},
        {"destination_country": {"code": "IR"}},
        {"status": None},
    ],
)
def test_malformed_record_values_never_match(overrides):
    policy = policy_of(
        BASE
        + """\
rules:
  - {name: s, match: {regimes: NSG, sensitivity: public, destination_country: IR, status: active}, action: share, view: full}
"""
    )
    good = denial(regimes=["NSG"], sensitivity="public")
    assert policy.decide(good, "denial", "DE").action == "share"
    bad = dict(good, **overrides)
    assert policy.decide(bad, "denial", "DE").action == "withhold"


def test_unknown_record_type_raises():
    policy = policy_of(BASE)
    with pytest.raises(UnknownRecordType):
        policy.decide(denial(), "consultation", "DE")
    with pytest.raises(UnknownRecordType):
        policy.explain(denial(), "license", "DE")


def test_record_must_be_a_dict():
    with pytest.raises(TypeError):
        policy_of(BASE).decide([("uid", "x")], "denial", "DE")


# --- views -------------------------------------------------------------------------------------


def share_with(view_yaml: str, record_type: str = "denial"):
    text = BASE + "rules:\n  - name: s\n    match: {record_type: %s}\n    action: share\n    view:\n%s" % (
        record_type,
        textwrap.indent(textwrap.dedent(view_yaml), "      "),
    )
    return policy_of(text)


def test_redact_view_drops_named_fields_and_unknown_fields():
    record = denial()
    view = share_with("redact: [reason_text, key_parameters]\n").decide(record, "denial", "DE").view(record)
    assert "reason_text" not in view and "key_parameters" not in view
    assert "internal_note" not in view  # not in the vocabulary: never leaves
    assert view["item_description"] == record["item_description"]
    assert len(view["parties"]) == 2


def test_allow_view_keeps_only_named_fields_and_identity():
    record = denial()
    view = share_with("allow: [ref, hs_code]\n").decide(record, "denial", "DE").view(record)
    assert set(view) == KEPT_FIELDS | {"ref", "hs_code"}


def test_identity_fields_survive_even_an_empty_allow_list():
    record = denial()
    view = share_with("allow: []\n").decide(record, "denial", "DE").view(record)
    assert view == {key: record[key] for key in KEPT_FIELDS}


def test_nested_party_fields_can_be_redacted():
    record = denial()
    view = share_with("redact: [parties.address, parties.identifiers]\n").decide(record, "denial", "DE").view(record)
    for party in view["parties"]:
        assert set(party) == {"role", "names", "country"}
    assert view["parties"][1]["names"] == record["parties"][1]["names"]


def test_nested_party_fields_can_be_allowed():
    record = denial()
    view = share_with("allow: [parties.names]\nredact_roles: [exporter]\n").decide(record, "denial", "DE").view(record)
    assert set(view) == KEPT_FIELDS | {"parties"}
    assert view["parties"] == [{"role": "end_user", "names": record["parties"][1]["names"]}]


def test_parties_of_unknown_role_or_shape_never_leave():
    record = denial(parties=[{"role": "handler", "names": []}, "not a party", {"names": []}, {"role": "broker"}])
    view = share_with("redact: []\n").decide(record, "denial", "DE").view(record)
    assert view["parties"] == [{"role": "broker"}]


def test_redacting_exporter_role_also_drops_licence_exporter_field():
    record = licence()
    view = share_with("redact: []\nredact_roles: [exporter]\n", "licence").decide(record, "licence", "DE").view(record)
    assert "exporter" not in view
    assert [party["role"] for party in view["parties"]] == ["consignee"]


def test_licence_balance_visibility_is_a_view_field():
    record = licence()
    with_balance = share_with("redact: []\n", "licence").decide(record, "licence", "DE").view(record)
    without = share_with("redact: [lines.balance_quantity, lines.balance_value]\n", "licence").decide(
        record, "licence", "DE"
    ).view(record)
    assert with_balance["lines"][0]["balance_quantity"] == "6"
    assert "balance_quantity" not in without["lines"][0] and "balance_value" not in without["lines"][0]
    assert without["lines"][0]["line_no"] == 1 and without["lines"][0]["cn_code"] == "90258080"


def test_line_allow_list_keeps_line_numbers():
    record = licence()
    view = share_with("allow: [lines.cn_code]\n", "licence").decide(record, "licence", "DE").view(record)
    assert view["lines"] == [{"line_no": 1, "cn_code": "90258080"}]


def test_view_never_mutates_and_never_aliases_the_record():
    record = denial()
    before = copy.deepcopy(record)
    decision = share_with("redact: [contact]\nredact_roles: [exporter]\n").decide(record, "denial", "DE")
    view = decision.view(record)
    assert record == before
    view["parties"][0]["names"].append({"text": "X", "script": "Latn", "original": False})
    view["regimes"].append("NSG")
    view["key_parameters"]["x"] = 1
    assert record == before
    shared = decision.view(record, copy=False)  # for a view serialized at once: values kept whole are shared
    assert shared == decision.view(record) and shared["regimes"] is record["regimes"]
    assert "contact" not in shared and record == before


def test_a_view_works_for_both_record_types():
    policy = policy_of(BASE + "rules:\n  - {name: s, match: {}, action: share, view: no-exporter}\n")
    denial_view = policy.decide(denial(), "denial", "DE").view(denial())
    licence_view = policy.decide(licence(), "licence", "DE").view(licence())
    assert "contact" not in denial_view and "exporter" not in licence_view
    assert licence_view["lines"][0]["balance_value"] == "57000.00"
    assert policy.decide(denial(), "denial", "DE").fields >= KEPT_FIELDS


def test_decision_lists_redacted_roles():
    policy = policy_of(BASE + "rules:\n  - {name: s, match: {}, action: share, view: no-exporter}\n")
    assert policy.decide(denial(), "denial", "DE").redacted_roles == {"exporter"}


# --- explain --------------------------------------------------------------------------------------


def test_explain_gives_every_rule_with_why_not_and_the_view():
    policy = policy_of(PRECEDENCE)
    record = denial(regimes=["NSG"])
    report = policy.explain(record, "denial", "US")
    assert [rule["name"] for rule in report["rules"]] == list(policy.rule_names)
    by_name = {rule["name"]: rule for rule in report["rules"]}
    assert by_name["answer-everyone"]["matched"] is True and by_name["answer-everyone"]["why_not"] == []
    assert by_name["share-eu"]["why_not"] == ["peer US is not in groups eu"]
    assert by_name["withhold-confidential"]["why_not"] == [
        "sensitivity 'restricted' is not one of confidential"
    ]
    assert by_name["share-europe-eu-du"]["why_not"] == [
        "peer US is not in groups europe",
        "regimes (NSG) include none of EU-DU",
    ]
    assert report["decision"]["action"] == "answer"
    assert report["decision"]["winning_rules"] == ["answer-everyone"]
    assert report["view"] == policy.decide(record, "denial", "US").view(record)
    assert report["peer_groups"] == ["everyone"]
    assert report["policy"]["digest"] == policy.digest


def test_explain_agrees_with_decide_on_licences():
    policy = policy_of(MATCHING)
    report = policy.explain(licence(status="revoked"), "licence", "DE")
    matched = [rule["name"] for rule in report["rules"] if rule["matched"]]
    assert matched == ["licence-by-destination"]
    assert report["decision"]["rules"] == matched
    reasons = {rule["name"]: rule["why_not"] for rule in report["rules"]}
    assert reasons["by-destination"] == ["applies to denial records, not licence"]


# --- digest -----------------------------------------------------------------------------------------


def test_digest_is_sha256_of_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    data = (BASE + "rules: []\n").encode()
    path.write_bytes(data)
    policy = load_policy(path)
    assert policy.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert parse_policy(data.decode(), "other.yaml").digest == policy.digest
    assert parse_policy(data.decode() + "# changed\n", "p.yaml").digest != policy.digest
    assert policy.source == str(path)


# --- threads ---------------------------------------------------------------------------------------


def test_concurrent_decisions_agree_with_sequential_ones():
    policy = policy_of(PRECEDENCE)
    peers = ["DE", "FR", "US", "SE", "TN", "CH"]
    records = [
        denial(uid=f"u{i}", sensitivity=s, regimes=r)
        for i, (s, r) in enumerate(
            (s, r)
            for s in ("public", "restricted", "confidential")
            for r in (["EU-DU"], ["NSG"], ["WA-ML", "EU-DU"])
        )
    ]

    def outcome(record, peer):
        decision = policy.decide(record, "denial", peer)
        return decision.action, decision.answer_level, decision.winning_rules, decision.view(record)

    expected = {(r["uid"], p): outcome(r, p) for r in records for p in peers}
    fresh = policy_of(PRECEDENCE)  # empty caches, so threads race to fill them
    policy = fresh
    errors: list[str] = []

    def work():
        for _ in range(50):
            for record in records:
                for peer in peers:
                    if outcome(record, peer) != expected[(record["uid"], peer)]:
                        errors.append(f"{record['uid']} {peer}")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
