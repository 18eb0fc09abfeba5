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


# -- precision: what distinguishes names --------------------------------------

def test_a_different_family_name_is_a_conflict_not_a_gap():
    assert score("Mohammed Ali Al-Rashid", "Mohammed Ali Al-Khatib") < DEFAULT_THRESHOLD
    assert score("Mohammed Al-Rashid", "Mohammed Ali Al-Rashid") >= DEFAULT_THRESHOLD


@pytest.mark.parametrize("a,b", [("Al Noor General Trading LLC", "Al Fajr General Trading LLC"),
                                 ("Nordtronix Precision Machinery Ltd", "Geotronix Precision Machinery Ltd"),
                                 ("شركة الفرات للنقل", "شركة الواحة للنقل"),
                                 ("Alborz Sanat Co.", "Damavand Sanat Co.")])
def test_companies_sharing_only_business_words_do_not_match(a, b):
    assert score(a, b, None) < DEFAULT_THRESHOLD


@pytest.mark.parametrize("a,b", [("ООО «Спецтехника»", "ООО «Гидротехника»"),
                                 ("АО «Геотехника»", "АО «Биотехника»"),
                                 ("Mikrokompleks JSC", "Gidrokompleks JSC"),
                                 ("Peter Schmidt", "Peter Schneider")])
def test_names_alike_only_in_a_shared_ending_do_not_match(a, b):
    assert score(a, b, None) < DEFAULT_THRESHOLD


@pytest.mark.parametrize("a,b", [("Spetstekhnika LLC", "Speztechnika LLC"),
                                 ("Sergei Viktorovich Kuznetsov", "Sergej Wiktorowitsch Kusnezow"),
                                 ("Biotekhnika JSC", "Boitekhnika JSC"),
                                 ("Asianet Optics Ltd", "Aisanet Optics Ltd")])
def test_transliteration_and_typo_variants_still_match(a, b):
    assert score(a, b, None) >= DEFAULT_THRESHOLD


def test_patronymic_does_not_align_with_a_family_name():
    comparison = compare_names(normalise_name("Aleksandr Dmitrievich Smirnov", "person"),
                               normalise_name("Александр Дмитриев", "person"))
    assert "dmitrievich" not in {p.query for p in comparison.parts}
    assert comparison.score < DEFAULT_THRESHOLD


@pytest.mark.parametrize("a,b", [("Kavosh Sanat Co.", "شرکت کاوش صنعت"),
                                 ("Arya Fanavari Co.", "شرکت آریا فناوری"),
                                 ("Aftab Saze Company", "شرکت آفتاب سازه"),
                                 ("Al Furat Transport Company", "شركة الفرات للنقل"),
                                 ("Ali Bagheri", "علی باقری")])
def test_persian_and_arabic_script_against_latin_spellings(a, b):
    assert score(a, b, None) >= DEFAULT_THRESHOLD


def test_ambiguous_arabic_letters_align_with_either_spelling():
    for latin in ("Al-Dhaheri", "Al-Zahiri"):
        comparison = compare_names(normalise_name(f"Aly Hend {latin}", "person"),
                                   normalise_name("علي هند الظاهري", "person"))
        assert len(comparison.parts) == 3, latin


def test_short_name_symbols_need_some_likeness():
    assert score("Ye Chen", "Chen Jie") < DEFAULT_THRESHOLD
    assert score("Wang Wei", "Wong Wei") >= DEFAULT_THRESHOLD


# -- the index: rarity, candidates, thresholds --------------------------------

def _crowded_index():
    """A list where "Mohammed" and "Ali" are everywhere and family names are rare."""
    idx = ScreeningIndex()
    families = ["Al-Khatib", "Haddad", "Najjar", "Al-Tamimi", "Al-Zoubi", "Al-Obeidi", "Al-Jubouri",
                "Al-Dulaimi", "Khoury", "Trabelsi", "Al-Masri", "Al-Halabi", "Al-Baghdadi", "Al-Kubaisi",
                "Al-Omari", "Al-Qahtani", "Al-Shammari", "Al-Dosari", "Al-Ghamdi", "Al-Zahrani"]
    alone = [normalise_name(f"Mohammed {f}", "person") for f in families]
    with_ali = [normalise_name(f"Ali {g} {f}", "person")
                for g in ("Omar", "Khaled", "Youssef", "Karim") for f in families]
    both = [normalise_name(f"Mohammed Ali {f}", "person") for f in families]
    for n in range(1000):
        idx.add(f"a{n}", [alone[n % len(alone)]], {})
        idx.add(f"b{n}", [with_ali[n % len(with_ali)]], {})
    for n in range(200):
        idx.add(f"c{n}", [both[n % len(both)]], {})
    idx.add("target", [normalise_name("Mohammed Ali Al-Rashid", "person")], {})
    return idx


def test_common_name_parts_prove_less_than_rare_ones():
    idx = _crowded_index()

    def target_score(text):
        hits = idx.search(Query(names=[text], kind="person"), threshold=0.0, limit=300)
        return next(h.score for h in hits if h.entry_key == "target")

    missing_common = target_score("Mohammed Al-Rashid")
    missing_rare = target_score("Mohammed Ali")
    assert missing_common >= DEFAULT_THRESHOLD > missing_rare
    assert missing_common - missing_rare > 0.1


def test_a_name_listed_many_times_does_not_hide_other_spellings():
    idx = ScreeningIndex()
    for n in range(40):
        idx.add(f"same{n}", [normalise_name("Spetsmash JSC")], {})
    idx.add("other", [normalise_name("AO Spezmasch")], {})
    keys = [h.entry_key for h in idx.search(Query(names=["Spetsmash"]), threshold=0.0, limit=100)]
    assert "other" in keys and len(keys) == 41


def test_threshold_only_filters(index):
    for text in ("Mohamed Ali Hassen Rachid", "Spetstechnika OOO", "Al Nour Trading", "Peter Schmid",
                 "محمد علي حسن"):
        query = Query(names=[text])
        everything = index.search(query, threshold=0.0, limit=50)
        for threshold in (0.5, 0.7, DEFAULT_THRESHOLD, 0.9):
            expected = [(h.entry_key, h.score) for h in everything if h.score >= threshold]
            got = [(h.entry_key, h.score) for h in index.search(Query(names=[text]), threshold=threshold,
                                                                limit=50)]
            assert got == expected, (text, threshold)


def test_removed_names_leave_the_rarity_counts(index):
    query = Query(names=["Peter Schmidt"], kind="person")
    before = index.search(query, threshold=0.0)[0].score
    for n in range(30):
        index.add(f"p{n}", [normalise_name(f"Peter Nobody{n}x", "person")], {})
    index.remove("d4#0")
    index.add("d4#0", [normalise_name("Peter Schmidt", "person")], {"country": "DE"})
    for n in range(30):
        index.remove(f"p{n}")
    after = index.search(Query(names=["Peter Schmidt"], kind="person"), threshold=0.0)[0]
    assert after.entry_key == "d4#0" and after.score == before


def test_parts_added_later_are_found_by_a_query_seen_before(index):
    query = ["Karl Webber"]
    assert index.search(Query(names=query, kind="person"), threshold=DEFAULT_THRESHOLD) == []
    index.add("late", [normalise_name("Karl Weber", "person")], {})
    assert [h.entry_key for h in index.search(Query(names=query, kind="person"),
                                              threshold=DEFAULT_THRESHOLD)] == ["late"]
