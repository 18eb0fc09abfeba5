"""Cost of a policy decision plus view, with a realistic policy.

The policy has 10 groups (some including others) and 30 rules over both
record types; records are generated denials and licences with several
parties and lines. Prints decisions per second and microseconds per
decision, for decide() alone and for decide() followed by view().

    .venv/bin/python bench/policy_decision.py [--records 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies import parse_policy  # noqa: E402
from policies.vocabulary import LICENCE_TYPES, PARTY_ROLES, REGIMES, SENSITIVITIES, STATUSES  # noqa: E402

EU = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
WASSENAAR_NON_EU = "AR AU CA IN JP MX NZ NO KR RU ZA CH TR UA GB US".split()
MED = "DZ EG IL JO LB MA PS TN".split()
EFTA = ["IS", "LI", "NO", "CH"]
DESTINATIONS = "IR KP SY CN RU PK BY VE AE TR IN BR".split()


def build_policy_text(rng: random.Random) -> str:
    groups = {
        "eu": EU,
        "wassenaar-other": WASSENAAR_NON_EU,
        "wassenaar": {"members": [], "include": ["eu", "wassenaar-other"]},
        "med": MED,
        "efta": EFTA,
        "eu-customs": {"members": [], "include": ["eu"]},
        "all-customs": {"members": [], "include": ["eu-customs", "efta"]},
        "nsg-core": ["US", "GB", "FR", "DE", "JP", "CA"],
        "mtcr-partners": ["US", "GB", "FR", "DE", "IT", "JP", "KR", "AU"],
        "outreach": {"members": ["OSCE-CPC"], "include": ["med"]},
    }
    views = {
        "full": {"redact": []},
        "no-exporter": {"redact": ["contact"], "redact_roles": ["exporter"]},
        "summary": {
            "allow": ["ref", "regimes", "destination_country", "control_entries",
                      "parties.names", "parties.country"],
            "redact_roles": ["exporter", "broker"],
        },
        "licence-check": {
            "allow": ["number", "valid_from", "valid_to", "destinations", "parties.names",
                      "lines.cn_code", "lines.quantity", "lines.unit"],
            "redact_roles": ["exporter"],
        },
        "licence-balance": {
            "allow": ["number", "valid_from", "valid_to", "destinations", "parties.names",
                      "lines.cn_code", "lines.quantity", "lines.unit",
                      "lines.balance_quantity", "lines.balance_value"],
            "redact_roles": ["exporter"],
        },
    }
    group_names = list(groups)
    rules = []
    for i in range(30):
        if i % 3 == 2:  # licence rules
            match = {"record_type": "licence", "peer_group": rng.choice(["eu-customs", "efta", "all-customs"])}
            if rng.random() < 0.5:
                match["status"] = rng.sample(sorted(STATUSES["licence"]), 2)
            if rng.random() < 0.3:
                match["licence_type"] = rng.sample(LICENCE_TYPES, 2)
            action = rng.choice(["answer", "answer", "withhold"])
            rule = {"name": f"licence-{i}", "match": match, "action": action}
            if action == "answer":
                rule["answer"] = "detail"
                rule["view"] = rng.choice(["licence-check", "licence-balance"])
        else:
            match = {"record_type": "denial", "regimes": rng.sample(REGIMES, rng.randint(1, 3)),
                     "peer_group": rng.choice(group_names)}
            if rng.random() < 0.5:
                match["sensitivity"] = rng.sample(SENSITIVITIES, 2)
            if rng.random() < 0.3:
                match["destination_country"] = rng.sample(DESTINATIONS, 4)
            action = rng.choices(["share", "answer", "withhold"], [5, 3, 1])[0]
            rule = {"name": f"denial-{i}", "match": match, "action": action}
            if action == "share":
                rule["view"] = rng.choice(["full", "no-exporter", "summary"])
            elif action == "answer":
                rule["answer"] = rng.choice(["hit", "detail"])
                if rule["answer"] == "detail":
                    rule["view"] = "summary"
        rules.append(rule)
    spec = {"version": 1, "groups": groups, "views": views, "rules": rules}
    return yaml.safe_dump(spec, sort_keys=False)


def party(rng: random.Random, role: str) -> dict:
    return {
        "role": role,
        "names": [
            {"text": f"Company {rng.randint(1, 10**6)} Ltd", "script": "Latn", "original": True},
            {"text": "Компания", "script": "Cyrl", "original": False},
        ],
        "country": rng.choice(DESTINATIONS),
        "address": f"{rng.randint(1, 999)} Industrial Road",
        "identifiers": [{"scheme": "LEI", "value": f"{rng.getrandbits(64):020d}"}],
    }


def denial(rng: random.Random, n: int) -> dict:
    return {
        "uid": f"00000000-0000-4000-8000-{n:012d}", "origin": "MT", "version": rng.randint(1, 5),
        "type": "denial", "status": rng.choice(sorted(STATUSES["denial"])),
        "sensitivity": rng.choice(SENSITIVITIES),
        "regimes": rng.sample(REGIMES, rng.randint(1, 2)),
        "destination_country": rng.choice(DESTINATIONS),
        "ref": f"MT/DEN/2026/{n:05d}", "issuing_authority": "Trade Services", "contact": "desk@example.mt",
        "control_entries": [{"list": "EU-DU", "entry": "3A001.a.2"}, {"list": "WA-ML", "entry": "ML10"}],
        "catch_all": False, "item_description": "microcircuits", "key_parameters": {"dose": "5000"},
        "hs_code": "854239", "quantity": "200", "unit": "pieces", "value": "18000.00", "currency": "EUR",
        "transit_countries": ["AE"], "stated_end_use": "satellites", "reason_codes": ["wmd_risk"],
        "reason_text": "risk of diversion", "denied_on": "2026-01-12", "notified_at": "2026-01-13T09:00:00Z",
        "review_due": "2029-01-12", "created_at": "2026-01-13T09:00:00Z", "updated_at": "2026-01-13T09:00:00Z",
        "parties": [party(rng, role) for role in rng.sample(PARTY_ROLES, 3)],
    }


def licence(rng: random.Random, n: int) -> dict:
    return {
        "uid": f"00000000-0000-4000-9000-{n:012d}", "origin": "MT", "version": 1,
        "number": f"MT/LIC/2026/{n:05d}", "type": rng.choice(LICENCE_TYPES),
        "status": rng.choice(sorted(STATUSES["licence"])), "sensitivity": rng.choice(SENSITIVITIES),
        "exporter": party(rng, "exporter"), "parties": [party(rng, "exporter"), party(rng, "consignee")],
        "destinations": rng.sample(DESTINATIONS, 2), "end_use": "civil", "valid_from": "2026-01-01",
        "valid_to": "2027-01-01", "conditions": ["no re-export"],
        "lines": [
            {"line_no": k, "control_entry": "6A003", "cn_code": "90258080", "description": "camera",
             "quantity": "10", "unit": "pieces", "value": "9000", "currency": "EUR",
             "balance_quantity": "4", "balance_value": "3600"}
            for k in range(1, 4)
        ],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    text = build_policy_text(rng)
    started = time.perf_counter()
    policy = parse_policy(text, "bench.yaml")
    parse_ms = (time.perf_counter() - started) * 1000
    peers = sorted({p for g in policy.group_names for p in policy.peers_in_group(g)} | {"ZZ", "CN"})
    work = []
    for n in range(args.records):
        if n % 3 == 2:
            work.append((licence(rng, n), "licence", rng.choice(peers)))
        else:
            work.append((denial(rng, n), "denial", rng.choice(peers)))

    actions: dict[str, int] = {}
    for record, record_type, peer in work:  # warm-up, and the action mix
        decision = policy.decide(record, record_type, peer)
        actions[decision.action] = actions.get(decision.action, 0) + 1

    def timed(with_view: bool) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            if with_view:
                for record, record_type, peer in work:
                    policy.decide(record, record_type, peer).view(record)
            else:
                for record, record_type, peer in work:
                    policy.decide(record, record_type, peer)
            best = min(best, time.perf_counter() - started)
        return best

    print(f"policy: {len(policy.group_names)} groups, {len(policy.rules)} rules, {len(peers)} peers; "
          f"parsed and checked in {parse_ms:.1f} ms")
    print(f"records: {len(work)} (denials and licences); actions: "
          + ", ".join(f"{k} {v}" for k, v in sorted(actions.items())))
    for label, with_view in (("decide", False), ("decide+view", True)):
        seconds = timed(with_view)
        print(f"{label:12s} {len(work) / seconds:12,.0f} records/s  {seconds / len(work) * 1e6:8.2f} µs/record")


if __name__ == "__main__":
    main()
