"""NameForms: normalisation and JSON round trip."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.screening import FORMS_VERSION, InvalidForms, NameForms, normalise_name
from node.screening.transcription import abjad_skeleton, skeleton


def test_legal_forms_leave_the_tokens_and_become_classes():
    for text in ("Romashka Limited", "Romashka Ltd", "Romashka LLC", "OOO Romashka", "ООО Ромашка"):
        forms = normalise_name(text, "organisation")
        assert forms.tokens == ("romashka",), text
        assert forms.legal == ("LLC",), text


def test_person_prefix_removed():
    forms = normalise_name("Dr. John Smith", "person")
    assert forms.tokens == ("john", "smith")


def test_cyrillic_is_transliterated_and_arabic_is_flagged_abjad():
    cyr = normalise_name("Мухаммад Али", "person")
    assert cyr.tokens == ("muhammad", "ali")
    assert cyr.abjad == (False, False)
    arab = normalise_name("محمد علي", "person")
    assert arab.abjad == (True, True)
    assert arab.skeletons[0] == "mhmd"


def test_skeletons_agree_across_scripts():
    assert skeleton("Muhammad") == skeleton("mohammed") == skeleton("mukhammad") == abjad_skeleton("محمد")
    assert skeleton("fatima") == abjad_skeleton("فاطمة")
    assert skeleton("zahra") == abjad_skeleton("زهراء")


def test_cross_script_dictionary_symbol_shared():
    latin = normalise_name("Mohammed", "person")
    arabic = normalise_name("محمد", "person")
    assert set(latin.symbols[0]) & set(arabic.symbols[0])


def test_abd_compounds_are_joined_and_article_dropped():
    a = normalise_name("Abd al-Rahman al-Mansouri", "person")
    b = normalise_name("Abdulrahman Mansouri", "person")
    assert len(a.tokens) == len(b.tokens) == 2
    assert "mansouri" in a.tokens


def test_business_words_have_low_weight():
    forms = normalise_name("Nord Avia Trading GmbH", "organisation")
    weights = dict(zip(forms.tokens, forms.weights))
    assert weights["trading"] < weights["nord"]
    assert forms.key == "avia nord"


def test_unknown_kind_rejected():
    with pytest.raises(ValueError):
        normalise_name("X", "vessel")


def test_empty_name_gives_empty_forms():
    assert normalise_name("  ,. ", None).is_empty


def test_round_trip_through_json():
    forms = normalise_name("شركة النور للتجارة العامة ذ.م.م", None)
    text = json.dumps(forms.to_dict(), ensure_ascii=False)
    back = NameForms.from_dict(json.loads(text))
    assert back == forms
    assert back.key == forms.key and back.index_keys == forms.index_keys


def test_from_dict_rejects_bad_documents():
    data = normalise_name("John Smith", "person").to_dict()
    with pytest.raises(InvalidForms):
        NameForms.from_dict({**data, "version": 99})
    with pytest.raises(InvalidForms):
        NameForms.from_dict({**data, "weights": [1.0]})
    with pytest.raises(InvalidForms):
        NameForms.from_dict({k: v for k, v in data.items() if k != "tokens"})


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=40), st.sampled_from([None, "person", "organisation"]))
def test_any_text_normalises_and_round_trips(text, kind):
    forms = normalise_name(text, kind)
    back = NameForms.from_dict(json.loads(json.dumps(forms.to_dict())))
    assert back == forms
    assert len(forms.tokens) == len(forms.skeletons) == len(forms.weights)


def test_persian_names_keep_their_alef_lam():
    persian = normalise_name("شرکت البرز گستر", None)
    arabic = normalise_name("شركة النور", None)
    assert "albrz" in persian.tokens
    assert "nwr" in arabic.tokens


def test_business_words_of_both_scripts_share_a_class():
    latin = normalise_name("Al Furat Transport Company", None)
    arabic = normalise_name("شركة الفرات للنقل", None)
    assert "o:TRANSPORT" in latin.symbols[latin.tokens.index("transport")]
    assert "o:TRANSPORT" in arabic.symbols[arabic.tokens.index("nql")]
    persian = normalise_name("شرکت کاوش صنعت", None)
    assert persian.weights[persian.tokens.index("shrkt")] < 1.0
    assert "o:INDUSTRY" in normalise_name("Kavosh Sanat Co.", None).symbols[1]


@pytest.mark.parametrize("text,legal", [("Falcon A.Ş.", "JSC"), ("Falcon Pvt. Ltd.", "LLC"),
                                        ("Falcon Ltd. Şti.", "LLC")])
def test_legal_forms_rigour_leaves_as_words_are_legal_forms(text, legal):
    forms = normalise_name(text, None)
    assert forms.tokens == ("falcon",)
    assert legal in forms.legal


def test_skeleton_folds_letters_of_one_arabic_letter():
    assert skeleton("Bagheri") == abjad_skeleton("باقری")
    assert skeleton("Ghasemi") == skeleton("Qasemi")


def test_forms_of_the_previous_version_still_load():
    data = normalise_name("John Smith", "person").to_dict()
    old = NameForms.from_dict({**data, "version": 1})
    assert old.version == 1 and old.tokens == ("john", "smith")
    assert normalise_name("John Smith", "person").version == FORMS_VERSION
