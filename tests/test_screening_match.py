"""Name comparison and the screening index."""

import threading

import pytest

from node.screening import (
    DEFAULT_THRESHOLD,
    InvalidQuery,
    Query,
    ScreeningIndex,
    compare_names,
    normalise_name,
)


def score(a, b, kind="person"):
    return compare_names(normalise_name(a, kind), normalise_name(b, kind)).score


@pytest.mark.parametrize("variant", ["Mohammed Ali Hassan", "Мухаммад Али Хасан", "محمد علي حسن",
                                     "Mohamed Ali Hasan", "Hassan Muhammad Ali"])
def test_named_variants_match(variant):
    assert score(variant, "Muhammad Ali Hassan") >= DEFAULT_THRESHOLD


@pytest.mark.parametrize("a,b", [("Romashka Limited", "Romashka Ltd"), ("Romashka Limited", "Romashka LLC"),
                                 ("Romashka Limited", "OOO Romashka"), ("Romashka LLC", "ООО «Ромашка»")])
def test_legal_form_variants_match(a, b):
    assert score(a, b, None) >= 0.95


def test_missing_middle_name_still_matches():
    assert score("John Smith", "John Kevin Smith") >= DEFAULT_THRESHOLD
    assert score("Sergei Kuznetsov", "Sergei Viktorovich Kuznetsov") >= DEFAULT_THRESHOLD


def test_subset_name_does_not_flood():
    assert score("Mohammed", "Mohammed Ali Hassan") < DEFAULT_THRESHOLD
    assert score("Trading LLC", "Nord Avia Trading LLC", None) < DEFAULT_THRESHOLD


@pytest.mark.parametrize("a,b", [("Peter Schmidt", "Muhammad Ali Hassan"),
                                 ("Mohammed Ali Hassan", "Mohammed Omar Khalil"),
                                 ("Nord Avia Technologies", "Sahara Marine Logistics"),
                                 ("Ivan Petrov", "Ivana Petrovic Horvat")])
def test_unrelated_names_do_not_match(a, b):
    assert score(a, b) < DEFAULT_THRESHOLD


def test_known_different_given_names_are_not_aligned():
    comparison = compare_names(normalise_name("Ali Hassan", "person"), normalise_name("Ali Hussein", "person"))
    assert ("hassan", "hussein") not in {(p.query, p.stored) for p in comparison.parts}


@pytest.fixture
def index():
    idx = ScreeningIndex()
    entries = {
        "d1#0": (["محمد علي حسن الرشيد", "Mohammed Ali Hassan Al-Rashid"], "person", "SY",
                 [{"scheme": "passport", "value": "N01942871"}]),
        "d2#0": (["ООО «Спецтехника»", "OOO Spetstekhnika"], "organisation", "RU",
                 [{"scheme": "company_register", "value": "1027700123456"}]),
        "d3#0": (["Al Noor General Trading LLC"], "organisation", "AE", []),
        "d4#0": (["Peter Schmidt"], "person", "DE", []),
    }
    for key, (names, kind, country, idents) in entries.items():
        idx.add(key, [normalise_name(n, kind) for n in names],
                {"uid": key, "country": country, "identifiers": idents, "role": "end_user"})
    return idx


def test_search_finds_cross_script_variant_with_explanation(index):
    hits = index.search(Query(names=["Muhammad Ali Hasan al-Raschid"], kind="person"),
                        threshold=DEFAULT_THRESHOLD)
    assert [h.entry_key for h in hits] == ["d1#0"]
    hit = hits[0]
    assert hit.threshold == DEFAULT_THRESHOLD
    assert hit.query_name == "Muhammad Ali Hasan al-Raschid"
    assert hit.matched_name in ("محمد علي حسن الرشيد", "Mohammed Ali Hassan Al-Rashid")
    assert {s.name for s in hit.signals} >= {"aligned_parts", "token_sort_ratio"}
    assert hit.parts and all(p.how for p in hit.parts)
    assert hit.meta["uid"] == "d1#0"
    assert hit.to_dict()["signals"][0]["contribution"] > 0


def test_arabic_query_finds_latin_entry(index):
    hits = index.search(Query(names=["شركة النور للتجارة العامة"]), threshold=DEFAULT_THRESHOLD)
    assert hits and hits[0].entry_key == "d3#0"


def test_country_raises_and_lowers_score(index):
    query = dict(names=["Spetztechnika"], kind="organisation")
    base = index.search(Query(**query), threshold=0.0)[0]
    same = index.search(Query(**query, country="RU"), threshold=0.0)[0]
    other = index.search(Query(**query, country="CN"), threshold=0.0)[0]
    assert other.score < base.score < same.score
    assert "country_match" in {s.name for s in same.signals}
    assert "country_mismatch" in {s.name for s in other.signals}


def test_identifier_match_is_strong_and_conflict_lowers(index):
    match = index.search(Query(names=["Completely Renamed Holding"], kind="organisation",
                               identifiers=[{"scheme": "company_register", "value": "1027700 123456"}]),
                         threshold=DEFAULT_THRESHOLD)
    assert match and match[0].entry_key == "d2#0" and match[0].score >= 0.95
    assert "identifier_match" in {s.name for s in match[0].signals}
    plain = index.search(Query(names=["Spetstekhnika"], kind="organisation"), threshold=0.0)[0]
    conflict = index.search(Query(names=["Spetstekhnika"], kind="organisation",
                                  identifiers=[{"scheme": "company_register", "value": "999"}]),
                            threshold=0.0)[0]
    assert conflict.score < plain.score
    assert "identifier_conflict" in {s.name for s in conflict.signals}


def test_unrelated_query_has_no_hit(index):
    assert index.search(Query(names=["Giuseppe Verdi"], kind="person"), threshold=DEFAULT_THRESHOLD) == []


def test_add_replace_and_remove(index):
    query = Query(names=["Peter Schmidt"], kind="person")
    assert index.search(query, threshold=DEFAULT_THRESHOLD)[0].entry_key == "d4#0"
    index.add("d4#0", [normalise_name("Karl Weber", "person")], {"country": "DE"})
    assert index.search(Query(names=["Peter Schmidt"], kind="person"), threshold=DEFAULT_THRESHOLD) == []
    assert index.search(Query(names=["Karl Weber"]), threshold=DEFAULT_THRESHOLD)[0].entry_key == "d4#0"
    index.remove("d4#0")
    assert "d4#0" not in index
    assert index.search(Query(names=["Karl Weber"]), threshold=DEFAULT_THRESHOLD) == []
    assert len(index) == 3


def test_slots_are_reused_after_remove(index):
    before = index.name_count
    index.remove("d3#0")
    index.add("d5#0", [normalise_name("Sahara Marine Logistics Ltd", "organisation")], {})
    assert index.name_count == before
    assert index.search(Query(names=["Sahara Marine Logistics"]), threshold=0.8)[0].entry_key == "d5#0"


def test_search_many_equals_single_searches(index):
    queries = [Query(names=[n]) for n in ("Mohamed Ali Hassen Rachid", "Spetstechnika OOO", "Nobody Here")]
    batch = index.search_many(queries, threshold=0.7)
    single = [index.search(Query(names=list(q.names)), threshold=0.7) for q in queries]
    assert [[h.entry_key for h in r] for r in batch] == [[h.entry_key for h in r] for r in single]
    assert batch[0] and batch[1] and not batch[2]


def test_bad_queries_rejected(index):
    with pytest.raises(InvalidQuery):
        index.search(Query(names=[]), threshold=0.5)
    with pytest.raises(InvalidQuery):
        index.search(Query(names=["x"]), threshold=1.5)
    with pytest.raises(InvalidQuery):
        index.search(Query(names=["x"], kind="ship"), threshold=0.5)


def test_concurrent_searches_with_mutation(index):
    errors, results = [], []

    def searcher():
        try:
            for _ in range(30):
                results.append(index.search(Query(names=["Mohammed Ali Hassan Al Rashid"]), threshold=0.8))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(30):
        index.add(f"x{i}", [normalise_name(f"Filler Name {i}", "person")], {})
        index.remove(f"x{i - 1}")
    for t in threads:
        t.join()
    assert not errors
    assert all(r and r[0].entry_key == "d1#0" for r in results)
