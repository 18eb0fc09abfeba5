"""Screening quality: recall on known variants at a fixed alert rate on non-listed names.

    .venv/bin/python bench/screening_quality.py [--listed 4000] [--positives 1500] [--negatives 4000]

The bench generates two populations of parties, persons and companies of
Arabic, Persian, Russian, Turkish, Chinese, Pakistani and European culture:

- listed parties, one name each in the index (stored and queried as the node
  does: `normalise_name(text)` without a kind, queries with name and country);
- non-listed parties: genuinely different parties. Family names, company
  brands and company words are split in two disjoint halves (spellings that
  look alike, by consonant skeleton or Jaro-Winkler >= 0.88, stay in the same
  half), one half for each population. Given names, patronymics, business
  words, sector phrases, cities and legal forms are shared, as in real life:
  a non-listed "Mohammed Ali Al-Khatib" meets a listed "Mohammed Ali
  Al-Rashid", a non-listed "Damavand Sanat Co." a listed "Alborz Sanat Co.".

Given names come from the `name-variants` tables (Arabic, Persian, Russian,
Turkish, Chinese) with their native script and Latin spellings; family names
from the same tables where they have them, and from the lists below.

Positive queries, each aimed at one listed party, by kind of variation:
  script      the party's name in its other script (Arabic / Persian / Cyrillic
              original against the Latin spelling, either way)
  spelling    each part spelled another known way (Mohammed -> Muhammad,
              Al-Rashid -> Rasheed, Spetstekhnika -> Speztechnika)
  typo        one edit (swap, drop, double, replace) in the longest part
  reorder     name parts in reverse order
  dropped     a middle name left out (persons), the sector words left out
              (companies: "Nordtronix" for "Nordtronix Precision Machinery Ltd")
  legal_form  the company's legal form replaced (Ltd / LLC / GmbH / OOO ...)
For each query the score of its target (positives) or its best hit
(negatives) is taken; the thresholds giving a 1% and a 0.1% alert rate on
the non-listed names are derived and recall at each is reported per script
and per kind. Caveat: the engine's cross-script dictionary is built from the
same name-variants tables, so given-name spellings are not an independent
test; family names, company names and typos are.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from name_variants import ALL_TABLES  # noqa: E402
from rapidfuzz.distance import OSA, JaroWinkler  # noqa: E402

from node.screening import DEFAULT_THRESHOLD, Query, ScreeningIndex, normalise_name  # noqa: E402
from node.screening.transcription import skeleton  # noqa: E402

# --- pools: "native|Latin/Latin" (native "-" when the name is Latin only) -----
AR_FAMILY = """الرشيد|Al-Rashid/Rasheed/Al-Rachid المنصوري|Al-Mansouri/Mansouri/Al-Mansoori
الحسيني|Al-Husseini/Husseini/El-Husseini الخطيب|Al-Khatib/Khatib/El-Khatib الحداد|Al-Haddad/Haddad
النجار|Al-Najjar/Najjar/Nadjar الشامي|Al-Shami/Chami/Shami التميمي|Al-Tamimi/Tamimi/Temimi
الزعبي|Al-Zoubi/Zoubi/Al-Zubi العبيدي|Al-Obeidi/Obeidi/Al-Ubaydi الجبوري|Al-Jubouri/Jabouri/Al-Jabouri
الدليمي|Al-Dulaimi/Dulaimi/Al-Dulaymi السعدي|Al-Saadi/Saadi/Essaadi الخوري|Al-Khouri/Khoury/Khouri
الطرابلسي|Trabelsi/Al-Tarabulsi/Tarabulsi المصري|Al-Masri/Masri/El-Masry الحلبي|Al-Halabi/Halabi
البغدادي|Al-Baghdadi/Baghdadi الكبيسي|Al-Kubaisi/Kubaisi/Kobeissi الهاشمي|Al-Hashemi/Hashimi/Hachemi
العمري|Al-Omari/Omari/El-Omari العنزي|Al-Anazi/Anazi/Al-Enezi القحطاني|Al-Qahtani/Qahtani/Al-Kahtani
الشمري|Al-Shammari/Shammari/Al-Shamari الدوسري|Al-Dosari/Dosari/Al-Dossary الغامدي|Al-Ghamdi/Ghamdi
الزهراني|Al-Zahrani/Zahrani العتيبي|Al-Otaibi/Otaibi/Al-Utaybi المطيري|Al-Mutairi/Mutairi/Al-Mutayri
الحربي|Al-Harbi/Harbi السويدي|Al-Suwaidi/Suwaidi/Al-Suwaydi الكعبي|Al-Kaabi/Kaabi/Al-Kabi
النعيمي|Al-Nuaimi/Nuaimi/Al-Naimi الظاهري|Al-Dhaheri/Dhaheri/Al-Zahiri المري|Al-Marri/Marri
الكواري|Al-Kuwari/Kuwari البدوي|Al-Badawi/Badawi/Badaoui الجزائري|Al-Jazairi/Jazairi/Djazairi
التونسي|Al-Tounsi/Tounsi/Tunisi المغربي|Al-Maghribi/Maghrebi/Meghribi اليمني|Al-Yamani/Yamani/Al-Yemeni
الحمصي|Al-Homsi/Homsi/Hmissi الدمشقي|Al-Dimashqi/Dimashki/Demechki الموصلي|Al-Mosuli/Mosuli/Al-Mawsili
البصري|Al-Basri/Basri الأنصاري|Al-Ansari/Ansari القرشي|Al-Qurashi/Qurashi/Kourachi
العلوي|Al-Alawi/Alaoui/Alawi الإدريسي|Al-Idrissi/Idrissi/El-Idrisi الفاسي|Al-Fassi/Fassi/El-Fasi
مخلوف|Makhlouf/Makhluf الربيعي|Al-Rubaie/Rubaie/Al-Rubaii البرغوثي|Barghouti/Al-Barghouthi
الطويل|Al-Tawil/Tawil/Taouil الصباغ|Al-Sabbagh/Sabbagh/Sebbagh العطار|Al-Attar/Attar/El-Attar
الكردي|Al-Kurdi/Kurdi العراقي|Al-Iraqi/Iraqi الزين|Al-Zein/Zein/El-Zein الرفاعي|Al-Rifai/Rifai/Refaie
الفلاحي|Al-Falahi/Falahi الجنابي|Al-Janabi/Janabi الزبيدي|Al-Zubaidi/Zubaidi/Zbidi
الشيباني|Al-Shaibani/Shaibani/Chaibani""".split()
FA_FAMILY = """کریمی|Karimi/Karimy جعفری|Jafari/Jaafari صادقی|Sadeghi/Sadeqi رحیمی|Rahimi
قاسمی|Ghasemi/Qasemi کاظمی|Kazemi/Kazimi نوری|Nouri/Noori شریفی|Sharifi طاهری|Taheri
باقری|Bagheri/Baqeri حیدری|Heidari/Heydari مرادی|Moradi عباسی|Abbasi نجفی|Najafi
زمانی|Zamani عزیزی|Azizi امینی|Amini ابراهیمی|Ebrahimi/Ibrahimi صالحی|Salehi
سلطانی|Soltani/Sultani رستمی|Rostami اکبری|Akbari قربانی|Ghorbani/Qorbani یوسفی|Yousefi/Yusefi
اسدی|Asadi کیانی|Kiani/Kiyani تهرانی|Tehrani شیرازی|Shirazi اصفهانی|Esfahani/Isfahani
فرهادی|Farhadi بهرامی|Bahrami جلالی|Jalali خسروی|Khosravi/Khosrowi میرزایی|Mirzaei/Mirzayi""".split()
RU_GIVEN = {"Александр", "Дмитрий", "Сергей", "Андрей", "Алексей", "Михаил", "Николай", "Владимир",
            "Иван", "Павел"}
RU_NOT_FAMILY = {"Наталья", "Елена", "Ольга", "Татьяна", "Ирина", "Светлана", "Анна", "Екатерина", "Мария",
                 "Людмила", "Путин", "Ельцин", "Горбачёв", "Жириновский", "Зеленський", "Порошенко", "Пушкин",
                 "Достоевский", "Толстой", "Чехов", "Тимошенко", "Кличко", "Лужков", "Бандера"}
RU_GIVEN_EXTRA = """Игорь|Igor Олег|Oleg Юрий|Yuri/Yury/Iouri Виктор|Viktor/Victor Евгений|Evgeny/Yevgeny/Jewgeni
Максим|Maksim/Maxim Роман|Roman Денис|Denis Антон|Anton Константин|Konstantin/Constantin Вадим|Vadim/Wadim
Борис|Boris Геннадий|Gennady/Gennadiy Анатолий|Anatoly/Anatoliy Пётр|Pyotr/Petr/Piotr""".split()
EU_GIVEN = ("Thomas Michael Andreas Stefan Peter Klaus Markus Joseph Paul Jean Pierre Marco Luca Giuseppe "
            "John David Mark Robert Karl Antoine Nicolas Matthias Anna Maria Claudia Elena Sophie Hans "
            "Franz Johann Martin Frank Carlos Miguel Javier Pablo Antonio Francesco Alessandro Lorenzo "
            "Henrik Lars Jan Tomasz").split()
EU_FAMILY = ("Müller Schmidt Schneider Fischer Weber Wagner Becker Hoffmann Schulz Koch Richter Klein Wolf "
             "Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange Werner Krause Lehmann Borg Camilleri "
             "Vella Farrugia Zammit Galea Grech Rossi Russo Bianchi Ferrari Esposito Romano Colombo Ricci "
             "Marino Greco Gallo Conti Dubois Bernard Laurent Moreau Lefebvre Leroy Fournier Girard Bonnet "
             "Smith Jones Taylor Brown Wilson Evans Roberts Walker Wright Thompson Novak Kowalski Horvat "
             "Wiśniewski Kowalczyk Garcia Fernandez Lopez Martinez Sanchez Perez Gonzalez Rodriguez "
             "Visser Bakker Andersson Johansson Karlsson Eriksson Larsson Hansen Nielsen Pedersen").split()
PK_GIVEN = "Muhammad Ahmed Ali Imran Bilal Usman Tariq Asif Faisal Kamran Zubair Naveed Shahid Junaid".split()
PK_FAMILY = ("Khan Malik Qureshi Chaudhry Butt Sheikh Raza Siddiqui Akhtar Mirza Abbasi Bhatti Rana Gill "
             "Awan Cheema Javed Hashmi Rizvi Baig").split()
TR_FAMILY = {"çelik", "şahin", "yıldız", "öztürk", "kaya", "demir", "doğan", "arslan", "aydın", "özdemir",
             "şimşek", "güler", "çetin", "koç", "erdoğan", "gündüz", "bulut", "aktaş", "yılmaz", "polat"}
BRAND_PREFIX = ("Nord Avia Elektro Inter Trans Euro Asia Sino Gulf Delta Omega Alpha Vector Atlas Orion "
                "Titan Kron Vostok Polar Sigma Astra Nova Magna Terra Hydro Aero Metal Opti Sun Star Golden "
                "Micro Macro Kaspi Baltic Levant Sahara Oasis Falcon Zenith Vertex Apex Helio Quantum Cobalt "
                "Argon Boreal Cyclo Dyna Ferro Luma Navi Petro Quarz Radi Stella Ultra Volta Xeno Yukon "
                "Zircon Iris Lynx Condor Meridian Pioneer Summit Crystal Granit Saturn").split()
BRAND_SUFFIX = ("tronix mash prom com tek lab line wave port dyne flex net mar tor stan vision gard source "
                "field point bridge way link max soft core form").split()
SECTORS = ["Trading", "Industrial Equipment", "Electronics", "Engineering", "Technologies", "Logistics",
           "Precision Machinery", "Aerospace Components", "Chemicals", "Import Export", "Marine Services",
           "Energy Systems", "Optics", "Metals", "Instruments", "Automation"]
CITIES = ["Shenzhen", "Shanghai", "Beijing", "Dalian", "Xi'an", "Tianjin", "Ningbo", "Chengdu"]
RU_STEM_A = ("Спец Техно Энерго Авиа Промо Электро Радио Нефте Газо Снаб Строй Оптик Гидро Металл Агро "
             "Био Гео Квант Лазер Микро Нано Сибир Урал Волга Байкал Север Вектор Альфа Титан Крон").split()
RU_STEM_B = "техника снаб пром сервис систем прибор комплекс импорт монтаж торг маш лит".split()
RU_FORMS = [("ООО", "OOO", "LLC"), ("АО", "AO", "JSC"), ("ЗАО", "ZAO", "CJSC"), ("ПАО", "PAO", "PJSC")]
AR_ORG_WORD = """النور|Al_Noor/Al-Nour/El_Nour الأمل|Al_Amal/Al-Amal الفجر|Al_Fajr/Al-Fajer
الرافدين|Al_Rafidain/Al-Rafedain الخليج|Al_Khaleej/Al-Khalij الشرق|Al_Sharq/Al-Charq
النخبة|Al_Nukhba/Al-Nokhba البركة|Al_Baraka/Al-Barakah السلام|Al_Salam/Al-Salaam الهدى|Al_Huda/Al-Hoda
الريان|Al_Rayyan/Al-Rayan المستقبل|Al_Mustaqbal/Al-Moustakbal الأفق|Al_Ofok/Al-Ufuq الرواد|Al_Rowad/Al-Ruwad
الفرات|Al_Furat/Al-Forat الصقر|Al_Saqr/Al-Sakr الواحة|Al_Waha/Al-Wahah النجمة|Al_Najma/Al-Nejma
الزيتونة|Al_Zaytouna/Zitouna الأرز|Al_Arz/Al-Arze الوفاق|Al_Wefaq/Al-Wifaq الاتحاد|Al_Ittihad/Al-Etihad
القمة|Al_Qimma/Al-Kimma الصفا|Al_Safa/Al-Safaa المروة|Al_Marwa/Al-Marwah الأندلس|Al_Andalus/Andalous
القدس|Al_Quds/Al-Kuds النيل|Al_Nil/Al-Nile الجزيرة|Al_Jazeera/Al-Jazira السنابل|Al_Sanabel/Al-Sanabil
الكوثر|Al_Kawthar/Al-Kawsar البيان|Al_Bayan/Al-Bayane النصر|Al_Nasr/Al-Nassr العز|Al_Ezz/Al-Izz
الدانة|Al_Dana/Al-Danah الغدير|Al_Ghadir/Al-Ghadeer الصمود|Al_Sumud/Al-Somoud""".split()
AR_SECTORS = [("للتجارة العامة", "General Trading"), ("للصناعات الهندسية", "Engineering Industries"),
              ("للتكنولوجيا", "Technology"), ("للاستيراد والتصدير", "Import & Export"),
              ("للمعدات الصناعية", "Industrial Equipment"), ("للمقاولات", "Contracting"),
              ("للنقل", "Transport"), ("للخدمات النفطية", "Oilfield Services")]
FA_ORG_WORD = """پارس|Pars تدبیر|Tadbir کاوش|Kavosh نوآوران|Noavaran آریا|Arya/Aria سپهر|Sepehr
پیشرو|Pishro/Pishrow البرز|Alborz کیان|Kian دماوند|Damavand زاگرس|Zagros خزر|Khazar/Khazer
آفتاب|Aftab ستاره|Setareh/Setare نگین|Negin رهنما|Rahnama فراز|Faraz میهن|Mihan/Mihane""".split()
FA_ORG_GENERIC = """صنعت|Sanat/Sanaat فناوری|Fanavari مهندسی|Mohandesi صنایع|Sanaye/Sanayeh
توسعه|Tosee/Toseeh گستر|Gostar سازه|Sazeh/Saze""".split()
LEGAL = {"DE": ["GmbH", "AG"], "MT": ["Ltd", "Limited"], "GB": ["Ltd", "Limited", "PLC"],
         "FR": ["SARL", "SA", "SAS"], "IT": ["S.r.l.", "S.p.A."], "TR": ["A.Ş.", "Ltd. Şti."],
         "AE": ["LLC", "FZE", "FZCO"], "CN": ["Co., Ltd.", "Co. Ltd"], "HK": ["Limited", "Co., Limited"],
         "SG": ["Pte. Ltd."], "MY": ["Sdn. Bhd."], "PK": ["Pvt. Ltd.", "Private Limited"]}
LEGAL_SWAP = ["Ltd", "Limited", "LLC", "GmbH", "OOO", "SARL", "Inc.", "JSC", "Co., Ltd."]
COUNTRIES = {"ar": "SY IQ LB EG LY AE JO DZ TN".split(), "fa": ["IR"], "ru": ["RU", "BY", "KZ"],
             "tr": ["TR"], "zh": ["CN", "HK", "SG", "MY"], "pk": ["PK"], "eu": "DE FR IT MT GB".split()}
CULTURES = ["ar"] * 30 + ["fa"] * 12 + ["ru"] * 25 + ["tr"] * 6 + ["zh"] * 12 + ["pk"] * 5 + ["eu"] * 10
RU_LATIN = {  # two romanisations of Cyrillic: English-style and German-style
    "а": "a a", "б": "b b", "в": "v w", "г": "g g", "д": "d d", "е": "e e", "ё": "yo jo", "ж": "zh sch",
    "з": "z s", "и": "i i", "й": "y j", "к": "k k", "л": "l l", "м": "m m", "н": "n n", "о": "o o",
    "п": "p p", "р": "r r", "с": "s s", "т": "t t", "у": "u u", "ф": "f f", "х": "kh ch", "ц": "ts z",
    "ч": "ch tsch", "ш": "sh sch", "щ": "shch schtsch", "ъ": "- -", "ы": "y y", "ь": "- -", "э": "e e",
    "ю": "yu ju", "я": "ya ja"}


Part = tuple  # (native or "", [Latin spellings])


def pool(items: list[str]) -> list[Part]:
    out = []
    for item in items:
        native, _, latin = item.partition("|")
        out.append(("" if native == "-" else native.replace("_", " "),
                    [x.replace("_", " ") for x in latin.split("/")]))
    return out


def table(name: str, keep=lambda key: True, latin_only=False) -> list[Part]:
    out = []
    for key, entry in ALL_TABLES[name].items():
        forms = [f.title() for f in entry.get("forms", []) if f.isascii() and f.replace("-", "").isalpha()]
        if forms and keep(key):
            out.append(("" if latin_only else key, forms[:4]))
    return out


def romanise(text: str, system: int) -> str:
    out = []
    for char in text:
        low = char.lower()
        latin = RU_LATIN.get(low, low).split()[system] if low in RU_LATIN else char
        latin = "" if latin == "-" else latin
        out.append(latin.capitalize() if char != low else latin)
    return "".join(out)


def patronymic(given: str) -> str:
    irregular = {"Михаил": "Михайлович", "Павел": "Павлович", "Пётр": "Петрович", "Дмитрий": "Дмитриевич"}
    if given in irregular:
        return irregular[given]
    if given.endswith("ий"):
        return given[:-2] + "ьевич"
    if given.endswith(("й", "ь")):
        return given[:-1] + "евич"
    return given + "ович"


def _plain(spelling: str) -> tuple[str, str]:
    text = re.sub(r"^(al|el)[- ]", "", spelling.lower())
    return text, skeleton(text)


_CLUSTERS: dict[str, set[str]] = {}


def clusters_of(spelling: str) -> set[str]:
    """name-variants entries listing this spelling (the same name for the dictionary)."""
    if not _CLUSTERS:
        for language, entries in ALL_TABLES.items():
            for key, entry in entries.items():
                for form in [key, *entry.get("forms", [])]:
                    _CLUSTERS.setdefault(form.lower(), set()).add(f"{language}:{key}")
    return _CLUSTERS.get(_plain(spelling)[0], set())


def split_halves(items: list[Part], tag=lambda item: "") -> tuple[list[Part], list[Part]]:
    """Two disjoint halves; items with look-alike spellings stay together.

    Look-alike: the same spelling, the same consonant skeleton of three
    letters or more, Jaro-Winkler >= 0.88 between spellings of five letters
    or more, one edit apart (four letters or more: a one-letter typo of a
    listed name is that name), or spellings the name-variants tables list as
    one name.
    """
    parent = list(range(len(items)))
    plain = [[_plain(s) for s in spellings] for _, spellings in items]
    clusters = [set().union(*(clusters_of(s) for s in spellings)) for _, spellings in items]

    def alike(a: str, sa: str, b: str, sb: str) -> bool:
        return a == b or (sa == sb and len(sa) >= 3) or (
            min(len(a), len(b)) >= 5 and JaroWinkler.similarity(a, b) >= 0.88) or (
            min(len(a), len(b)) >= 4 and OSA.distance(a, b) <= 1)

    def similar(i: int, j: int) -> bool:
        return bool(clusters[i] & clusters[j]) or any(
            alike(a, sa, b, sb) for a, sa in plain[i] for b, sb in plain[j])

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if similar(i, j):
                parent[root(i)] = root(j)
    groups: dict[int, list[Part]] = defaultdict(list)
    for i, item in enumerate(items):
        groups[root(i)].append(item)
    halves: tuple[list[Part], list[Part]] = ([], [])
    load: list[Counter] = [Counter(), Counter()]
    for group in sorted(groups.values(), key=len, reverse=True):
        tags = Counter(tag(item) for item in group)
        side = min((0, 1), key=lambda s: sum(load[s][t] * n for t, n in tags.items()))
        halves[side].extend(group)
        load[side].update(tags)
    order = {id(item): k for k, item in enumerate(items)}
    return (sorted(halves[0], key=lambda item: order[id(item)]),
            sorted(halves[1], key=lambda item: order[id(item)]))


_CUMULATIVE: dict[int, list[float]] = {}


def draw(rng: random.Random, items: list):
    """A pool item, frequent names first: weight 1 / rank ** 0.9 in pool order (Zipf-like)."""
    cum = _CUMULATIVE.get(id(items))
    if cum is None or len(cum) != len(items):
        total, cum = 0.0, []
        for rank in range(1, len(items) + 1):
            total += rank ** -0.9
            cum.append(total)
        _CUMULATIVE[id(items)] = cum
    return rng.choices(items, cum_weights=cum)[0]


class Population:
    """Pools for one side: shared given names and business words, own family names and brands."""

    def __init__(self, side: int) -> None:
        ar_given = table("arabic")
        self.given = {
            "ar": ar_given, "fa": table("persian", lambda k: not k.endswith("ی") or len(k) < 5),
            "ru": table("russian", lambda k: k in RU_GIVEN) + pool(RU_GIVEN_EXTRA),
            "tr": table("turkish", lambda k: k not in TR_FAMILY, latin_only=True),
            "zh": table("chinese_given", latin_only=True),
            "pk": [("", [g]) for g in PK_GIVEN], "eu": [("", [g]) for g in EU_GIVEN]}
        family = {
            "ar": pool(AR_FAMILY),
            "fa": pool(FA_FAMILY) + table("persian", lambda k: k.endswith("ی") and len(k) >= 5),
            "ru": table("russian", lambda k: k not in RU_GIVEN and k not in RU_NOT_FAMILY),
            "tr": table("turkish", lambda k: k in TR_FAMILY, latin_only=True),
            "zh": [(k, f[:2]) for k, f in table("chinese")],
            "pk": [("", [f]) for f in PK_FAMILY], "eu": [("", [f]) for f in EU_FAMILY]}
        tagged = [(f"{c}\t{p[0]}\t{p[1][0]}", p[1]) for c, parts in family.items() for p in parts]
        own = {name for name, _ in split_halves(tagged, lambda item: item[0].split("\t")[0])[side]}
        self.family = {c: [p for p in parts if f"{c}\t{p[0]}\t{p[1][0]}" in own]
                       for c, parts in family.items()}
        # Latin brand prefixes and Russian stems in one split: "Avia" and "Авиа" go together.
        stems = [("", [b]) for b in BRAND_PREFIX] + [(s, [romanise(s, 0)]) for s in RU_STEM_A]
        own_stems = split_halves(stems)[side]
        self.brand = [p for p in own_stems if not p[0]]
        self.ru_stem = [p for p in own_stems if p[0]]
        self.ar_word = split_halves(pool(AR_ORG_WORD))[side]
        self.fa_word = split_halves(pool(FA_ORG_WORD))[side]

    def party(self, rng: random.Random) -> dict:
        culture = rng.choice(CULTURES)
        country = rng.choice(COUNTRIES[culture])
        if rng.random() < 0.45:
            return self.person(rng, culture, country)
        return self.company(rng, culture, country)

    def person(self, rng, culture, country) -> dict:
        given, family = self.given[culture], self.family[culture]
        if culture in ("ar", "fa"):
            parts = [draw(rng, given)] + ([draw(rng, given)] if rng.random() < 0.6 else []) + [draw(rng, family)]
        elif culture == "ru":
            first = draw(rng, given)
            parts = [first]
            if rng.random() < 0.6:
                father = draw(rng, given)[0]
                parts.append((patronymic(father), [romanise(patronymic(father), 0),
                                                   romanise(patronymic(father), 1)]))
            parts.append(draw(rng, family))
        elif culture == "zh":
            first = draw(rng, given)
            if rng.random() < 0.5:
                second = draw(rng, given)
                first = ("", [a + b.lower() for a, b in zip(first[1], second[1] * 2)])
            parts = [draw(rng, family), first] if rng.random() < 0.5 else [first, draw(rng, family)]
            parts = [("", p[1]) for p in parts]
        else:
            parts = [draw(rng, given)] + ([draw(rng, given)] if rng.random() < 0.25 else []) + [draw(rng, family)]
        return {"kind": "person", "culture": culture, "country": country, "parts": parts, "legal": None,
                "sector": None}

    def company(self, rng, culture, country) -> dict:
        legal = rng.choice(LEGAL.get(country, ["Ltd", "LLC", "GmbH", "SARL", "Inc."]))
        if culture == "ru":
            stem = draw(rng, self.ru_stem)[0] + rng.choice(RU_STEM_B)
            form = rng.choice(RU_FORMS)
            parts = [(f"«{stem}»", [romanise(stem, 0), romanise(stem, 1)])]
            return {"kind": "organisation", "culture": culture, "country": country, "parts": parts,
                    "legal": (form[0], [form[1], form[2]]), "sector": None}
        if culture == "ar" and rng.random() < 0.8:
            parts = [draw(rng, self.ar_word)]
            if rng.random() < 0.4:
                parts.append(draw(rng, self.family["ar"]))
            sector = rng.choice(AR_SECTORS)
            legal_part = ("ذ.م.م", ["LLC", "L.L.C."]) if country == "AE" else ("", ["Co.", "Company"])
            return {"kind": "organisation", "culture": culture, "country": country, "parts": parts,
                    "legal": legal_part, "sector": (sector[0], [sector[1]]), "prefix": ("شركة", "")}
        if culture == "fa":
            parts = [draw(rng, self.fa_word), rng.choice(pool(FA_ORG_GENERIC))]
            return {"kind": "organisation", "culture": culture, "country": country, "parts": parts,
                    "legal": ("", ["Co.", "Company"]), "sector": None, "prefix": ("شرکت", "")}
        brand = draw(rng, self.brand)[1][0]
        if rng.random() < 0.75:
            brand += rng.choice(BRAND_SUFFIX)
        elif rng.random() < 0.6:
            brand += " " + rng.choice(BRAND_SUFFIX).title()
        sector = rng.choice(SECTORS)
        parts = [("", [w]) for w in brand.split()]
        if culture == "zh" and rng.random() < 0.6:
            parts = [("", [rng.choice(CITIES)])] + parts
        return {"kind": "organisation", "culture": culture, "country": country, "parts": parts,
                "legal": ("", [legal]), "sector": ("", [sector])}


def render(party: dict, script: str, rng: random.Random, respell: bool = False,
           pick: dict | None = None) -> str:
    """The party's name in `script` ("native" or "latin"); `pick` keeps chosen spellings."""
    pick = {} if pick is None else pick
    words = []

    def latin(key, spellings):
        again = respell and isinstance(key, int) and len(spellings) > 1
        if key not in pick or again:
            choices = ([s for s in spellings if s != pick.get(key)] if again else []) or spellings
            pick[key] = rng.choice(choices[:2]) if rng.random() < 0.8 else rng.choice(choices)
        return pick[key]

    native = script == "native"
    prefix = party.get("prefix")
    if native and prefix:
        words.append(prefix[0])
    legal = party.get("legal")
    legal_word = (legal[0] if native else latin("legal", legal[1])) if legal else ""
    legal_first = bool(legal) and party["culture"] == "ru" and legal_word in (legal[0], legal[1][0])
    if legal_first:
        words.append(legal_word)
    for k, (nat, spellings) in enumerate(party["parts"]):
        words.append(nat if native else latin(k, spellings))
    sector = party.get("sector")
    if sector:
        words.append(sector[0] if native else sector[1][0])
    if legal and not legal_first:
        words.append(legal_word)
    return " ".join(w for w in words if w)


def scripts_of(party: dict) -> list[str]:
    native = all(n for n, _ in party["parts"])
    return ["native", "latin"] if native else ["latin"]


def script_code(party: dict, script: str) -> str:
    if script == "latin":
        return "Latn"
    return "Cyrl" if party["culture"] == "ru" else "Arab"


def typo(rng: random.Random, text: str) -> str:
    tokens = text.split()
    i = max(range(len(tokens)), key=lambda k: len(tokens[k]))
    t = tokens[i]
    if len(t) < 4:
        return text
    k = rng.randrange(1, len(t) - 1)
    op = rng.choice(["swap", "drop", "double", "replace"])
    if op == "swap":
        t = t[:k] + t[k + 1] + t[k] + t[k + 2:]
    elif op == "drop":
        t = t[:k] + t[k + 1:]
    elif op == "double":
        t = t[:k] + t[k] + t[k:]
    else:
        t = t[:k] + rng.choice("aeioulnrst" if t.isascii() else [c for c in t if c.isalpha()]) + t[k + 1:]
    tokens[i] = t
    return " ".join(tokens)


def variant(rng: random.Random, party: dict, script: str, pick: dict) -> tuple[str, str, str] | None:
    """(kind, query script, query text) for one listed party, or None."""
    kinds = ["typo", "reorder"]
    if len(scripts_of(party)) > 1:
        kinds += ["script"] * 3
    if script == "latin" and any(len(s) > 1 for _, s in party["parts"]):
        kinds += ["spelling"] * 2
    if party["kind"] == "person" and len(party["parts"]) >= 3:
        kinds.append("dropped")
    if party["kind"] == "organisation" and party.get("sector") and party["culture"] not in ("ar", "fa"):
        kinds.append("dropped")
    if party["kind"] == "organisation" and script == "latin" and party.get("legal"):
        kinds.append("legal_form")
    kind = rng.choice(kinds)
    text = render(party, script, rng, pick=pick)
    if kind == "script":
        other = "latin" if script == "native" else "native"
        return kind, script_code(party, other), render(party, other, rng, pick=dict(pick))
    if kind == "spelling":
        query = render(party, "latin", rng, respell=True, pick=dict(pick))
        return (kind, "Latn", query) if query != text else None
    if kind == "typo":
        query = typo(rng, text)
    elif kind == "reorder":
        query = " ".join(reversed(text.split()))
    elif kind == "dropped":
        if party["kind"] == "organisation":
            shorter, kept = dict(party, sector=None), dict(pick)
        else:
            shorter = dict(party, parts=party["parts"][:1] + party["parts"][2:])
            kept = {k: v for k, v in pick.items() if not isinstance(k, int)}
            kept.update({(k - 1 if k > 1 else k): v for k, v in pick.items()
                         if isinstance(k, int) and k != 1})
        query = render(shorter, script, rng, pick=kept)
    else:
        core = render(dict(party, legal=None), script, rng, pick=dict(pick))
        query = f"{core} {rng.choice(LEGAL_SWAP)}" if rng.random() < 0.6 else f"{rng.choice(LEGAL_SWAP)} {core}"
    return (kind, script_code(party, script), query) if query != text else None


def build_sets(args, rng):
    listed_pop, other_pop = Population(0), Population(1)
    listed, positives = [], []
    for i in range(args.listed):
        party = listed_pop.party(rng)
        script = rng.choice(scripts_of(party))
        pick: dict = {}
        text = render(party, script, rng, pick=pick)
        key = f"L{i}"
        listed.append((key, text, party))
        found = variant(rng, party, script, pick)
        if found:
            positives.append((*found, key, party))
    negatives = []
    for _ in range(args.negatives):
        party = other_pop.party(rng)
        script = rng.choice(scripts_of(party))
        negatives.append((script_code(party, script), render(party, script, rng), party))
    rng.shuffle(positives)
    return listed, positives[:args.positives], negatives


def alert_threshold(scores: list[float], rate: float) -> float:
    """Smallest threshold at which at most `rate` of the scores alert."""
    ordered = sorted(scores, reverse=True)
    allowed = int(rate * len(ordered))
    if allowed >= len(ordered):
        return 0.0
    return round(ordered[allowed] + 0.0001, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listed", type=int, default=4000)
    parser.add_argument("--positives", type=int, default=1500)
    parser.add_argument("--negatives", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=0,
                        help="print the N highest-scoring non-listed names and the N worst variants")
    parser.add_argument("--also", type=float, nargs="*", default=[],
                        help="more thresholds to report (e.g. --also 0.75 0.85)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    listed, positives, negatives = build_sets(args, rng)
    index = ScreeningIndex()
    for key, text, party in listed:
        index.add(key, [normalise_name(text)], {"country": party["country"], "text": text})
    index.refresh()
    pos_q = [Query(names=[q], country=p["country"]) for _, _, q, _, p in positives]
    neg_q = [Query(names=[q], country=p["country"]) for _, q, p in negatives]
    pos_hits = index.search_many(pos_q, threshold=0.0, limit=200)
    neg_hits = index.search_many(neg_q, threshold=0.0, limit=1)
    pos_scores = []
    for (_, _, _, target, _), hits in zip(positives, pos_hits):
        pos_scores.append(next((h.score for h in hits if h.entry_key == target), 0.0))
    neg_scores = [hits[0].score if hits else 0.0 for hits in neg_hits]
    elapsed = time.perf_counter() - t0

    t1, t01 = alert_threshold(neg_scores, 0.01), alert_threshold(neg_scores, 0.001)
    thresholds = [("1% alerts", t1), ("0.1% alerts", t01), ("default", DEFAULT_THRESHOLD)]
    thresholds += [("at", t) for t in args.also]
    print(f"screening quality: {len(listed)} listed names, {len(positives)} variant queries, "
          f"{len(negatives)} non-listed queries ({elapsed:.0f} s)")
    print("threshold for a 1% alert rate on non-listed names:   ", t1)
    print("threshold for a 0.1% alert rate on non-listed names: ", t01)
    default_rate = sum(s >= DEFAULT_THRESHOLD for s in neg_scores) / len(neg_scores)
    print(f"alert rate at the default threshold {DEFAULT_THRESHOLD}: {default_rate:.2%}")
    print()
    groups = defaultdict(list)
    for (kind, script, _, _, _), score in zip(positives, pos_scores):
        groups[("kind", kind)].append(score)
        groups[("script", script)].append(score)
        groups[("all", "all")].append(score)
    header = f"{'group':<22}{'n':>6}" + "".join(f"{name + ' @' + str(t):>22}" for name, t in thresholds)
    print("recall")
    print(header)
    print("-" * len(header))
    for group in sorted(groups, key=lambda g: (g[0] != "all", g[0], g[1])):
        scores = groups[group]
        cells = "".join(f"{sum(s >= t for s in scores) / len(scores):>22.1%}" for _, t in thresholds)
        print(f"{group[0] + ':' + group[1]:<22}{len(scores):>6}{cells}")
    neg_groups = defaultdict(list)
    for (script, _, party), score in zip(negatives, neg_scores):
        neg_groups[("script", script)].append(score)
        neg_groups[("kind", party["kind"])].append(score)
    print()
    print("alert rate on non-listed names")
    print(f"{'group':<22}{'n':>6}" + "".join(f"{name + ' @' + str(t):>22}" for name, t in thresholds))
    for group in sorted(neg_groups):
        scores = neg_groups[group]
        cells = "".join(f"{sum(s >= t for s in scores) / len(scores):>22.2%}" for _, t in thresholds)
        print(f"{group[0] + ':' + group[1]:<22}{len(scores):>6}{cells}")
    if args.show:
        print()
        ranked = sorted(zip(neg_scores, negatives, neg_hits), key=lambda x: -x[0])[:args.show]
        for score, (_, text, _), hits in ranked:
            print(f"{score:.3f}  {text}  ->  {hits[0].meta['text'] if hits else ''}")
        misses = sorted(zip(pos_scores, positives), key=lambda x: x[0])[:args.show]
        print()
        for score, (kind, _, q, target, _) in misses:
            listed_text = next(t for k, t, _ in listed if k == target)
            print(f"{score:.3f}  {kind:<10} {q}  ->  {listed_text}")


if __name__ == "__main__":
    main()
