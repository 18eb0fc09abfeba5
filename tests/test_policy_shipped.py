"""The policy files shipped with Cordon load cleanly and do what their comments say."""

from __future__ import annotations

from pathlib import Path

import pycountry
import pytest

from policies import KEPT_FIELDS, check_policy, load_policy
from policies.vocabulary import COUNTRY_CODES

ROOT = Path(__file__).resolve().parent.parent / "policies"
SHIPPED = sorted([ROOT / "default.yaml", *sorted((ROOT / "examples").glob("*.yaml"))])

WASSENAAR = set(
    "AR AU AT BE BG CA HR CZ DK EE FI FR DE GR HU IN IE IT JP LV LT LU MT MX NL NZ "
    "NO PL PT KR RO RU SK SI ZA ES SE CH TR UA GB US".split()
)
EU = set("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())


def test_the_expected_files_are_shipped():
    names = {path.relative_to(ROOT).as_posix() for path in SHIPPED}
    assert {
        "default.yaml",
        "examples/wassenaar.yaml",
        "examples/eu-dual-use.yaml",
        "examples/customs-verification.yaml",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_policy_checks_clean(path):
    assert check_policy(path) == []
    policy = load_policy(path)
    assert policy.digest.startswith("sha256:")
    assert policy.description


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_policy_explains_itself_in_comments(path):
    text = path.read_text()
    assert text.lstrip().startswith("#")
    assert sum(1 for line in text.splitlines() if line.strip().startswith("#")) >= 5


def test_country_codes_match_iso_3166():
    assert COUNTRY_CODES == {c.alpha_2 for c in pycountry.countries} | {"XK"}


def denial(**overrides):
    record = {
        "uid": "u-1", "origin": "MT", "version": 1, "status": "active", "updated_at": "2026-01-01T00:00:00Z",
        "sensitivity": "restricted", "regimes": ["WA-DU"], "destination_country": "IR",
        "ref": "MT/DEN/2026/0001", "contact": "desk@example.mt", "item_description": "machine tool",
        "parties": [
            {"role": "exporter", "names": [{"text": "Exporter Ltd", "script": "Latn", "original": True}]},
            {"role": "end_user", "names": [{"text": "End User Co", "script": "Latn", "original": True}]},
        ],
    }
    record.update(overrides)
    return record


def licence(**overrides):
    record = {
        "uid": "l-1", "origin": "DE", "version": 2, "status": "valid", "updated_at": "2026-01-01T00:00:00Z",
        "sensitivity": "restricted", "number": "DE/2026/17", "type": "individual",
        "exporter": {"names": [{"text": "Exporter GmbH", "script": "Latn", "original": True}]},
        "parties": [
            {"role": "exporter", "names": [{"text": "Exporter GmbH", "script": "Latn", "original": True}]},
            {"role": "consignee", "names": [{"text": "Consignee AG", "script": "Latn", "original": True}], "country": "CH", "address": "Basel"},
        ],
        "destinations": ["CH"], "valid_from": "2026-01-01", "valid_to": "2027-01-01",
        "lines": [{"line_no": 1, "cn_code": "84571010", "quantity": "5", "unit": "pieces",
                   "balance_quantity": "3", "balance_value": "30000"}],
    }
    record.update(overrides)
    return record


PEERS = sorted(WASSENAAR | EU | {"TN", "MA", "IL", "CN", "IS", "LI", "OSCE-CPC"})


def test_default_shares_nothing_and_accepts_nothing():
    policy = load_policy(ROOT / "default.yaml")
    for peer in PEERS:
        assert policy.decide(denial(), "denial", peer).action == "withhold"
        assert policy.decide(licence(), "licence", peer).action == "withhold"
        assert policy.accepts(peer, "denial", 1)[0] is False


def test_wassenaar_groups_and_sharing():
    policy = load_policy(ROOT / "examples" / "wassenaar.yaml")
    assert policy.peers_in_group("wassenaar") == WASSENAAR
    record = denial()
    for peer in PEERS:
        decision = policy.decide(record, "denial", peer)
        if peer in WASSENAAR:
            assert decision.action == "share", peer
            view = decision.view(record)
            assert [p["role"] for p in view["parties"]] == ["end_user"]
            assert view["contact"] == record["contact"]
        else:
            assert decision.action == "withhold", peer
        assert policy.decide(licence(), "licence", peer).action == "withhold"
    confidential = policy.decide(denial(sensitivity="confidential"), "denial", "FR")
    assert (confidential.action, confidential.answer_level) == ("answer", "hit")
    assert policy.decide(denial(regimes=["EU-DU"]), "denial", "FR").action == "withhold"
    assert policy.decide(denial(regimes=["WA-ML"], status="revoked"), "denial", "US").action == "share"
    assert policy.accepts("JP", "denial", 10_000)[0] is True
    assert policy.accepts("CN", "denial", 10)[0] is False


def test_eu_dual_use_sharing():
    policy = load_policy(ROOT / "examples" / "eu-dual-use.yaml")
    assert policy.peers_in_group("eu") == EU
    record = denial(regimes=["EU-DU", "WA-DU"], sensitivity="confidential")
    decision = policy.decide(record, "denial", "FR")
    assert decision.action == "share"
    view = decision.view(record)
    assert [p["role"] for p in view["parties"]] == ["end_user"]
    assert view["contact"] == record["contact"] and view["item_description"] == record["item_description"]

    partner = policy.decide(denial(regimes=["EU-DU"]), "denial", "TN")
    assert (partner.action, partner.answer_level) == ("answer", "hit")
    assert set(partner.view(denial())) <= KEPT_FIELDS | {"ref"}
    assert policy.decide(record, "denial", "TN").action == "withhold"  # confidential
    assert policy.decide(denial(regimes=["EU-DU"], status="revoked"), "denial", "TN").action == "withhold"
    assert policy.decide(denial(regimes=["EU-DU"]), "denial", "US").action == "withhold"
    assert policy.decide(denial(regimes=["NSG"]), "denial", "FR").action == "withhold"
    assert policy.accepts("DE", "denial", 100)[0] is True
    assert policy.accepts("TN", "denial", 100)[0] is False


def test_customs_verification_answers_licences_only():
    policy = load_policy(ROOT / "examples" / "customs-verification.yaml")
    record = licence()
    for peer in PEERS:
        assert policy.decide(record, "licence", peer).action != "share"
        assert policy.decide(denial(), "denial", peer).action == "withhold"
        assert policy.accepts(peer, "licence", 1)[0] is False

    eu = policy.decide(record, "licence", "FR")
    assert (eu.action, eu.answer_level) == ("answer", "detail")
    eu_view = eu.view(record)
    assert eu_view["lines"][0]["balance_quantity"] == "3"
    assert "exporter" not in eu_view
    assert [p["role"] for p in eu_view["parties"]] == ["consignee"]
    assert "address" not in eu_view["parties"][0]

    efta = policy.decide(record, "licence", "NO")
    assert (efta.action, efta.answer_level) == ("answer", "detail")
    line = efta.view(record)["lines"][0]
    assert "balance_quantity" not in line and "balance_value" not in line
    assert line["cn_code"] == "84571010"

    secret = policy.decide(licence(sensitivity="confidential", status="suspended"), "licence", "CH")
    assert (secret.action, secret.answer_level) == ("answer", "hit")
    assert secret.view(licence(status="suspended")) == {
        "uid": "l-1", "origin": "DE", "version": 2, "status": "suspended", "type": "individual",
        "updated_at": "2026-01-01T00:00:00Z", "number": "DE/2026/17",
    }
    assert policy.decide(record, "licence", "US").action == "withhold"
