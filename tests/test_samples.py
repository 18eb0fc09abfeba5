"""Sample data: deterministic, in the API input shape, multilingual."""

import re
from datetime import date
from decimal import Decimal

from node import samples

TODAY = date(2026, 5, 1)
REGIMES = {"WA-DU", "WA-ML", "NSG", "AG", "MTCR", "EU-DU", "NATIONAL"}
REASONS = {"wmd_risk", "military_end_use", "diversion_risk", "embargo", "human_rights",
           "regional_stability", "other"}
ROLES = {"end_user", "consignee", "intermediate_consignee", "broker", "purchaser", "exporter"}


def check_party(party):
    assert party["role"] in ROLES
    assert re.fullmatch(r"[A-Z]{2}", party["country"])
    assert party["names"] and all(n["text"].strip() for n in party["names"])
    assert all(n["script"] in ("Latn", "Cyrl", "Arab") for n in party["names"])
    assert sum(n["original"] for n in party["names"]) == 1
    for ident in party["identifiers"]:
        assert ident["scheme"] and ident["value"]


def test_denials_are_deterministic_per_seed():
    a = list(samples.denials(30, "MT", seed=3, today=TODAY))
    b = list(samples.denials(30, "MT", seed=3, today=TODAY))
    c = list(samples.denials(30, "MT", seed=4, today=TODAY))
    assert a == b
    assert a != c


def test_denials_have_the_input_shape():
    records = list(samples.denials(200, "DE", seed=1, start_seq=5, today=TODAY))
    assert records[0]["ref"] == "DE/DEN/2026/000005"
    for r in records:
        assert set(r["regimes"]) <= REGIMES and r["regimes"]
        assert set(r["reason_codes"]) <= REASONS and r["reason_codes"]
        assert r["sensitivity"] in ("public", "restricted", "confidential")
        assert Decimal(r["quantity"]) > 0 and Decimal(r["value"]) > 0
        assert r["catch_all"] == (r["catch_all_basis"] is not None)
        assert r["catch_all"] or r["control_entries"]
        denied = date.fromisoformat(r["denied_on"])
        assert TODAY - denied < (TODAY - date(2022, 5, 1)) and denied <= TODAY
        roles = [p["role"] for p in r["parties"]]
        assert "end_user" in roles and "exporter" in roles
        for p in r["parties"]:
            check_party(p)


def test_names_are_multilingual_with_legal_forms():
    names = [n for r in samples.denials(400, "TN", seed=2, today=TODAY)
             for p in r["parties"] for n in p["names"]]
    scripts = {n["script"] for n in names}
    assert scripts == {"Latn", "Cyrl", "Arab"}
    texts = " ".join(n["text"] for n in names)
    for form in ("ООО", "OOO", "LLC", "GmbH", "SARL", "شركة"):
        assert form in texts, form
    # an original-script name comes with a Latin spelling beside it
    cyrillic_parties = [p for r in samples.denials(100, "TN", seed=2, today=TODAY) for p in r["parties"]
                        if p["names"][0]["script"] == "Cyrl"]
    assert cyrillic_parties and all(any(n["script"] == "Latn" for n in p["names"]) for p in cyrillic_parties)


def test_licences_have_the_input_shape():
    records = list(samples.licences(50, "MT", seed=1, today=TODAY))
    assert records == list(samples.licences(50, "MT", seed=1, today=TODAY))
    assert records[0]["number"] == "MT/LIC/2026/000001"
    for r in records:
        assert r["type"] in ("individual", "global", "general", "large_project")
        check_party(r["exporter"])
        assert r["valid_from"] < r["valid_to"]
        for line in r["lines"]:
            assert re.fullmatch(r"\d{8}", line["cn_code"])
            assert Decimal(line["quantity"]) > 0 and Decimal(line["value"]) > 0


def test_lei_check_digits_are_valid():
    import random

    rng = random.Random(1)
    for _ in range(20):
        lei = samples.lei(rng)
        assert len(lei) == 20
        assert int("".join(str(int(c, 36)) for c in lei)) % 97 == 1


def test_demo_denials_share_parties_across_states():
    demos = {o: samples.demo_denials(o, today=TODAY) for o in ("MT", "DE", "TN")}
    for origin, records in demos.items():
        assert len(records) == 12
        assert len({r["ref"] for r in records}) == 12
        for r in records:
            for p in r["parties"]:
                check_party(p)
    spellings = {o: {n["text"] for r in recs for p in r["parties"] for n in p["names"]}
                 for o, recs in demos.items()}
    assert "Mohammed Ali Hassan Al-Rashid" in spellings["MT"]
    assert "Muhammad Ali Hasan al-Raschid" in spellings["DE"]
    assert "Mohamed Ali Hassen Rachid" in spellings["TN"]
    other = samples.demo_denials("GR", today=TODAY)
    assert len(other) == 12 and other[0]["ref"].startswith("GR/DEN/")


def test_demo_parties_screen_across_the_federation():
    from node.screening import Query, ScreeningIndex, normalise_name

    index = ScreeningIndex()
    for origin in ("MT", "DE"):
        for r in samples.demo_denials(origin, today=TODAY):
            for i, p in enumerate(r["parties"]):
                index.add(f"{r['ref']}#{i}", [normalise_name(n["text"], p["kind"]) for n in p["names"]],
                          {"country": p["country"], "identifiers": p["identifiers"]})
    tn = {p["names"][0]["text"]: p for r in samples.demo_denials("TN", today=TODAY) for p in r["parties"]}
    for name in ("Mohamed Ali Hassen Rachid", "Spetstechnika OOO", "El Nour General Trading Co."):
        p = tn[name]
        hits = index.search(Query(names=[n["text"] for n in p["names"]], kind=p["kind"],
                                  country=p["country"]), threshold=0.8)
        origins = {h.entry_key.split("/")[0] for h in hits}
        assert origins == {"MT", "DE"}, (name, [(h.entry_key, h.score) for h in hits])
