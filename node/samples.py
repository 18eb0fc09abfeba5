"""Realistic sample licences and denial notifications, in the local API input shape.

Deterministic per seed: `denials(n, origin, seed)` and `licences(n, origin,
seed)` yield the same records for the same arguments (and the same `today`).
Party names come in Latin, Cyrillic and Arabic script with Latin spellings
side by side (`original: true` on the original-script name), with company
legal forms of several languages. `demo_denials(origin)` returns a dozen
hand-written notifications for MT, DE and TN in which some parties recur
under different spellings across states; other origins get generated ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from rigour.text.translit import maybe_ascii

# --- name pools: "native|Latin spelling/Latin spelling" ---------------------
_AR_GIVEN = """محمد|Mohammed/Muhammad/Mohamed/Mohammad أحمد|Ahmed/Ahmad علي|Ali/Aly حسن|Hassan/Hasan/Hassen
حسين|Hussein/Hussain/Houcine خالد|Khaled/Khalid عمر|Omar/Umar يوسف|Youssef/Yusuf/Yousef إبراهيم|Ibrahim/Brahim
عبدالله|Abdullah/Abdallah عبدالرحمن|Abdulrahman/Abd_al-Rahman/Abderrahmane سعيد|Saeed/Said/Saïd كريم|Karim/Kareem
مصطفى|Mustafa/Moustafa/Mostafa طارق|Tariq/Tarek ناصر|Nasser/Nasir فيصل|Faisal/Faycal جمال|Jamal/Gamal
سامي|Sami/Samy وليد|Walid/Waleed ماجد|Majed/Majid رامي|Rami/Ramy زياد|Ziad/Ziyad عماد|Imad/Emad
بلال|Bilal/Belal منصور|Mansour/Mansur عادل|Adel/Adil نبيل|Nabil/Nabeel هشام|Hisham/Hichem
أيمن|Ayman/Aymen باسم|Bassem/Basim سليم|Salim/Selim رياض|Riad/Riyad فراس|Firas/Feras مراد|Mourad/Murad
حمزة|Hamza/Hamzah أنس|Anas/Anes ياسين|Yassine/Yasin عثمان|Othman/Uthman/Osman""".split()
_AR_FAMILY = """الرشيد|Al-Rashid/Rachid المنصوري|Al-Mansouri/Mansouri الحسيني|Al-Husseini/Husseini
العلي|Al-Ali الخطيب|Al-Khatib/Khatib الحداد|Haddad/Al-Haddad النجار|Najjar/Al-Najjar الشامي|Al-Shami/Chami
التميمي|Al-Tamimi/Tamimi الزعبي|Al-Zoubi/Zoubi العبيدي|Al-Obeidi/Obeidi الجبوري|Al-Jubouri/Jabouri
الدليمي|Al-Dulaimi/Dulaimi السعدي|Al-Saadi/Saadi القاسم|Al-Qassem/Kacem الخوري|Khoury/Al-Khouri
حداد|Haddad/Hadad عيسى|Issa/Aissa صالح|Saleh/Salah الطرابلسي|Trabelsi/Al-Tarabulsi بن_علي|Ben_Ali/Bin_Ali
الغنوشي|Ghannouchi/Al-Ghannushi المصري|Al-Masri/Masri الحلبي|Al-Halabi/Halabi البغدادي|Al-Baghdadi
الكبيسي|Al-Kubaisi/Kobeissi الهاشمي|Al-Hashemi/Hachemi العمري|Al-Omari/Omari الفارس|Al-Fares/Fares
الأحمد|Al-Ahmad يونس|Younes/Yunus مخلوف|Makhlouf/Makhluf""".split()
_FA_GIVEN = """محمد|Mohammad/Mohammed علی|Ali رضا|Reza/Reda حسین|Hossein/Hosein مهدی|Mehdi/Mahdi امیر|Amir
حمید|Hamid مجید|Majid سعید|Saeed/Said جواد|Javad/Jawad مسعود|Masoud/Massoud بهروز|Behrouz/Behruz
فرهاد|Farhad کامران|Kamran داوود|Davoud/Davood مرتضی|Morteza/Mortaza""".split()
_FA_FAMILY = """حسینی|Hosseini/Hoseini رضایی|Rezaei/Rezaee محمدی|Mohammadi/Mohamadi احمدی|Ahmadi کریمی|Karimi
موسوی|Mousavi/Musavi جعفری|Jafari/Jaafari صادقی|Sadeghi/Sadeqi رحیمی|Rahimi قاسمی|Ghasemi/Qasemi
کاظمی|Kazemi نوری|Nouri/Noori شریفی|Sharifi طاهری|Taheri باقری|Bagheri/Baqeri""".split()
_RU_GIVEN = """Сергей|Sergei/Sergey/Sergej Александр|Aleksandr/Alexander Дмитрий|Dmitry/Dmitri/Dmitrij
Андрей|Andrei/Andrey Алексей|Aleksei/Alexey Николай|Nikolai/Nikolay Игорь|Igor Олег|Oleg
Владимир|Vladimir/Wladimir Михаил|Mikhail/Michail Евгений|Evgeny/Yevgeniy/Jewgeni Виктор|Viktor/Victor
Юрий|Yuri/Yury/Juri Павел|Pavel/Pawel Роман|Roman Максим|Maksim/Maxim Артём|Artyom/Artem Денис|Denis
Антон|Anton Илья|Ilya/Ilja Константин|Konstantin Вадим|Vadim/Wadim""".split()
_RU_PATRONYMIC = """Сергеевич Александрович Викторович Николаевич Петрович Иванович Владимирович
Михайлович Юрьевич Олегович Андреевич Борисович Геннадьевич Анатольевич""".split()
_RU_FAMILY = """Кузнецов|Kuznetsov/Kusnezow/Kouznetsov Смирнов|Smirnov/Smirnow Иванов|Ivanov/Iwanow
Попов|Popov/Popow Соколов|Sokolov/Sokolow Лебедев|Lebedev/Lebedew Козлов|Kozlov/Koslow
Новиков|Novikov/Nowikow Морозов|Morozov/Morosow Волков|Volkov/Wolkow Зайцев|Zaitsev/Zaytsev/Saizew
Павлов|Pavlov/Pawlow Семёнов|Semyonov/Semenov Голубев|Golubev Виноградов|Vinogradov/Winogradow
Богданов|Bogdanov Воробьёв|Vorobyov/Vorobiev Фёдоров|Fyodorov/Fedorov Михайлов|Mikhailov/Michailow
Беляев|Belyaev/Beljajew Тарасов|Tarasov Белов|Belov/Below Комаров|Komarov Орлов|Orlov/Orlow
Киселёв|Kiselyov/Kiselev Макаров|Makarov Андреев|Andreev/Andreyev Ковалёв|Kovalyov/Kovalev
Ильин|Ilyin/Iljin Гусев|Gusev/Gussew Титов|Titov Кудрявцев|Kudryavtsev/Kudrjawzew
Баранов|Baranov Куликов|Kulikov Алексеев|Alekseev/Alexeyev Степанов|Stepanov Яковлев|Yakovlev/Jakowlew
Никитин|Nikitin Соловьёв|Solovyov/Soloviev Щербаков|Shcherbakov/Schtscherbakow""".split()
_TR = ("Mehmet Ahmet Mustafa Hasan Hüseyin Ali Murat Emre Burak Serkan Kemal Orhan Cem Levent Tolga",
       "Yılmaz Kaya Demir Şahin Çelik Yıldız Aydın Öztürk Arslan Doğan Kılıç Aslan Çetin Koç Kurt Polat")
_ZH = ("Wei Jun Hao Lei Qiang Ming Jian Tao Bo Yong Hui Xin Jie Gang Peng Chao Feng Lin",
       "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Gao Lin Luo")
_EU = ("Thomas Michael Andreas Stefan Peter Klaus Markus Joseph Paul Jean Pierre Marco Luca "
       "Giuseppe John David Mark Robert Karl Antoine Nicolas Matthias Anna Maria Claudia Elena Sophie",
       "Müller Schmidt Schneider Fischer Weber Wagner Becker Hoffmann Schulz Koch Borg Camilleri "
       "Vella Farrugia Zammit Galea Grech Rossi Russo Bianchi Ferrari Dubois Martin Bernard Laurent "
       "Smith Jones Taylor Brown Wilson Novak Kowalski Horvat")

# --- organisation pools ----------------------------------------------------
_BRAND_A = ("Nord Avia Tech Elektro Pro Inter Trans Euro Asia Sino Pars Gulf Delta Omega Alpha Vector "
            "Atlas Orion Titan Kron Vostok Polar Sigma Astra Nova Magna Terra Hydro Aero Metal Opti "
            "Sun Star Golden Micro Macro Kaspi Baltic Levant Sahara Oasis Rafid Falcon Zenith").split()
_BRAND_B = ("tronix mash prom com tek lab line wave port dyne tech flex net mar tor stan vision "
            "gard source field point bridge way star link max soft core form").split()
_SECTOR = [("Trading", "Handel"), ("Industrial Equipment", "Industrieausrüstung"),
           ("Electronics", "Elektronik"), ("Engineering", "Ingenieurbau"),
           ("Technologies", "Technologien"), ("Logistics", "Logistik"),
           ("Precision Machinery", "Präzisionsmaschinen"), ("Aerospace Components", "Luftfahrttechnik"),
           ("Chemicals", "Chemie"), ("Import Export", "Import Export")]
_RU_STEM_A = "Спец Техно Энерго Авиа Промо Электро Радио Нефте Газо Маш Снаб Строй Оптик Гидро Металл".split()
_RU_STEM_B = "техника снаб пром сервис систем прибор комплекс импорт монтаж торг маш лит".split()
_RU_FORMS = [("ООО", "OOO", "LLC"), ("АО", "AO", "JSC"), ("ЗАО", "ZAO", "CJSC"),
             ("ПАО", "PAO", "PJSC")]
_AR_ORG_WORD = """النور|Al_Noor/Al-Nour/El_Nour الأمل|Al_Amal/Al-Amal الفجر|Al_Fajr/Al-Fajer
الرافدين|Al_Rafidain/Al-Rafedain الخليج|Al_Khaleej/Al-Khalij الشرق|Al_Sharq/Al-Charq
النخبة|Al_Nukhba/Al-Nokhba البركة|Al_Baraka/Al-Barakah السلام|Al_Salam/Al-Salaam الهدى|Al_Huda/Al-Hoda
الريان|Al_Rayyan/Al-Rayan المستقبل|Al_Mustaqbal/Al-Moustakbal الأفق|Al_Ofok/Al-Ufuq الرواد|Al_Rowad/Al-Ruwad
الفرات|Al_Furat/Al-Forat الياسمين|Al_Yasmine/Al-Yasmin الصقر|Al_Saqr/Al-Sakr الواحة|Al_Waha/Al-Wahah
النجمة|Al_Najma/Al-Nejma الزيتونة|Al_Zaytouna/Zitouna""".split()
_AR_ORG_SECTOR = [("للتجارة العامة", "General Trading"), ("للصناعات الهندسية", "Engineering Industries"),
                  ("للتكنولوجيا", "Technology"), ("للاستيراد والتصدير", "Import & Export"),
                  ("للمعدات الصناعية", "Industrial Equipment")]
_FA_ORG_WORD = """پارس|Pars صنعت|Sanat/Sanaat تدبیر|Tadbir کاوش|Kavosh نوآوران|Noavaran آریا|Arya/Aria
سپهر|Sepehr پیشرو|Pishro/Pishrow فناوری|Fanavari مهندسی|Mohandesi البرز|Alborz کیان|Kian""".split()
_LEGAL = {"DE": ["GmbH", "AG", "GmbH & Co. KG"], "MT": ["Ltd", "Limited", "p.l.c."],
          "GB": ["Ltd", "Limited", "PLC"], "FR": ["SARL", "SA", "SAS"], "TN": ["SARL", "SA"],
          "IT": ["S.r.l.", "S.p.A."], "TR": ["A.Ş.", "Ltd. Şti."], "AE": ["LLC", "FZE", "FZCO", "L.L.C."],
          "CN": ["Co., Ltd.", "Co. Ltd"], "HK": ["Limited", "Co., Limited"], "SG": ["Pte. Ltd."],
          "MY": ["Sdn. Bhd."], "US": ["LLC", "Inc."], "IN": ["Pvt. Ltd.", "Private Limited"]}

# --- items and control entries ----------------------------------------------
# (regimes, [(list, entry)], description, key_parameters, hs, cn, unit, unit price EUR)
_ITEMS = [
    (["EU-DU", "WA-DU"], [("EU-DU", "3A001.a.2"), ("WA-DU", "3A001.a.2")],
     "Radiation-hardened microcircuits for space applications",
     {"total_dose_gy_si": "5000", "package": "ceramic flatpack"}, "854231", "85423190", "pcs", 420),
    (["EU-DU", "NSG"], [("EU-DU", "2B201.a"), ("NSG", "2B201")], "Five-axis milling machine",
     {"axes": "5", "positioning_accuracy_um": "4.5", "table_mm": "800x600"}, "845931", "84593100", "pcs", 380000),
    (["EU-DU", "NSG"], [("EU-DU", "3A225"), ("NSG", "3A225")], "Frequency changers (converters)",
     {"output_hz": "600-2000", "power_w": "40", "frequency_stability": "0.2%"}, "850440", "85044090", "pcs", 5200),
    (["EU-DU", "NSG"], [("EU-DU", "3A228.b"), ("NSG", "3A228")], "Triggered spark gaps",
     {"anode_delay_us": "15", "peak_current_a": "500"}, "853590", "85359000", "pcs", 1900),
    (["EU-DU", "AG"], [("EU-DU", "2B350.g"), ("AG", "2B350.g")], "Corrosion-resistant valves",
     {"material": "Hastelloy C-276", "nominal_size_mm": "25"}, "848180", "84818099", "pcs", 2600),
    (["EU-DU", "AG"], [("EU-DU", "2B352.f"), ("AG", "2B352")], "Class III biological safety cabinet",
     {"containment": "BSL-3", "airflow_m3h": "450"}, "841989", "84198998", "pcs", 48000),
    (["EU-DU", "AG"], [("EU-DU", "1C350.61"), ("AG", "1C350")], "Chemical precursor: triethanolamine",
     {"purity": "99%", "packaging": "200 l drums"}, "292215", "29221500", "kg", 3),
    (["EU-DU", "WA-DU"], [("EU-DU", "1C010.b"), ("WA-DU", "1C010.b")], "Carbon fibre tow",
     {"specific_modulus_m": "1.2e7", "tensile_mpa": "4900"}, "681511", "68151100", "kg", 85),
    (["EU-DU", "WA-DU"], [("EU-DU", "6A003.b.4"), ("WA-DU", "6A003.b.4")], "Thermal imaging cameras",
     {"array": "640x512 InGaAs", "frame_rate_hz": "60"}, "852580", "85258900", "pcs", 14000),
    (["EU-DU", "WA-DU"], [("EU-DU", "5A002.a"), ("WA-DU", "5A002.a")], "Network encryption appliances",
     {"algorithm": "AES-256", "throughput_gbps": "10"}, "851762", "85176200", "pcs", 9500),
    (["EU-DU", "MTCR"], [("EU-DU", "9A012.a"), ("MTCR", "1.A.2")], "Unmanned aerial vehicles",
     {"endurance_h": "8", "range_km": "300", "payload_kg": "25"}, "880622", "88062200", "pcs", 120000),
    (["EU-DU", "MTCR"], [("EU-DU", "7A003"), ("MTCR", "9.A.3")], "Inertial measurement units",
     {"gyro_bias_deg_h": "0.5", "accel_bias_mg": "0.1"}, "901420", "90142080", "pcs", 22000),
    (["EU-DU", "MTCR"], [("EU-DU", "9A101"), ("MTCR", "3.A.1")], "Lightweight turbojet engines",
     {"thrust_kn": "1.2", "mass_kg": "18"}, "841111", "84111100", "pcs", 95000),
    (["EU-DU", "MTCR"], [("EU-DU", "1C111.a"), ("MTCR", "4.C.2")], "Ammonium perchlorate",
     {"particle_size_um": "200", "purity": "99.5%"}, "282990", "28299010", "kg", 9),
    (["WA-ML"], [("WA-ML", "ML10")], "Military aircraft spare parts",
     {"platform": "rotary-wing", "part": "main rotor components"}, "880730", "88073000", "pcs", 7000),
    (["WA-ML"], [("WA-ML", "ML5")], "Fire control radar modules",
     {"band": "X", "range_km": "40"}, "852691", "85269120", "pcs", 160000),
    (["WA-ML"], [("WA-ML", "ML15")], "Night-vision goggles",
     {"generation": "3", "tube": "white phosphor"}, "900580", "90058000", "pcs", 6500),
    (["WA-ML"], [("WA-ML", "ML13")], "Ballistic body armour plates",
     {"protection_level": "NIJ IV"}, "630720", "63072000", "pcs", 450),
    (["WA-ML"], [("WA-ML", "ML3")], "Ammunition components (cartridge cases)",
     {"calibre_mm": "12.7"}, "930630", "93063090", "pcs", 2),
    (["EU-DU", "NSG"], [("EU-DU", "0B001.b.1"), ("NSG", "0B001")], "Gas centrifuge rotor tubes",
     {"material": "maraging steel", "diameter_mm": "145"}, "730490", "73049000", "pcs", 30000),
]
_NATIONAL = ("Laboratory equipment not listed, national catch-all", "841990", "84199085", "pcs", 12000)
_CATCH_ALL_BASIS = ["Art. 4(1)(a) Regulation (EU) 2021/821: WMD end use",
                    "Art. 4(1)(b) Regulation (EU) 2021/821: military end use in an embargoed country",
                    "Art. 5: cyber-surveillance items, human rights",
                    "National catch-all: information from intelligence services"]
_REASON_TEXT = {
    "wmd_risk": "Risk of contribution to a WMD or delivery-system programme.",
    "military_end_use": "End user is linked to the armed forces of the destination.",
    "diversion_risk": "Consignee is known to re-export to a destination of concern.",
    "embargo": "Destination under an arms embargo.",
    "human_rights": "Risk of use for internal repression.",
    "regional_stability": "Risk to regional peace, security and stability.",
    "other": "Inconsistencies in the end-user documentation."}
_END_USES = ["Research and development in a university laboratory",
             "Maintenance of civil aviation fleet", "Oil and gas pipeline monitoring",
             "Water treatment plant", "Production of agricultural chemicals",
             "Telecommunications network upgrade", "Border surveillance", "Civil power generation",
             "Manufacturing of automotive parts", "Search and rescue operations"]
_DESTINATIONS = ["RU"] * 6 + ["IR"] * 6 + ["SY"] * 3 + ["BY"] * 3 + ["AE"] * 5 + ["TR"] * 3 + \
    ["CN"] * 4 + ["HK"] * 3 + ["IQ", "LB", "EG", "LY", "SD", "PK", "MY", "SG", "KZ", "AM", "JO", "DZ"]
_LICENCE_DESTINATIONS = ["US", "CH", "NO", "JP", "KR", "AU", "CA", "IN", "BR", "TR", "AE", "SG",
                         "IL", "ZA", "MX", "SA", "EG", "MY"]
_TRANSIT = ["AE", "TR", "AM", "KZ", "GE", "HK", "SG", "MY", "RS", "OM"]
_AUTHORITIES = {
    "MT": ("Trade Services Directorate, Commerce Department", "Export control desk, +356 2122 0000"),
    "DE": ("Bundesamt für Wirtschaft und Ausfuhrkontrolle (BAFA)", "Referat 222, +49 6196 908 0000"),
    "TN": ("Ministère du Commerce et du Développement des Exportations",
           "Direction du commerce extérieur, +216 71 000 000"),
}
_CURRENCY = {"DE": "EUR", "MT": "EUR", "TN": "TND", "GB": "GBP", "US": "USD", "CH": "CHF"}
_CULTURE = {"RU": "ru", "BY": "ru", "KZ": "ru", "AM": "ru", "IR": "fa", "SY": "ar", "IQ": "ar", "LB": "ar",
            "EG": "ar", "LY": "ar", "SD": "ar", "AE": "ar", "JO": "ar", "OM": "ar", "TN": "ar",
            "DZ": "ar", "TR": "tr", "CN": "zh", "HK": "zh", "SG": "zh", "MY": "zh", "PK": "pk"}


def _pool(lines: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for item in lines:
        native, _, latin = item.partition("|")
        out.append((native.replace("_", " "), latin.replace("_", " ").split("/")))
    return out


_POOLS = {"ar_given": _pool(_AR_GIVEN), "ar_family": _pool(_AR_FAMILY), "fa_given": _pool(_FA_GIVEN),
          "fa_family": _pool(_FA_FAMILY), "ru_given": _pool(_RU_GIVEN), "ru_family": _pool(_RU_FAMILY),
          "ar_org": _pool(_AR_ORG_WORD), "fa_org": _pool(_FA_ORG_WORD)}


def _name(text: str, script: str, original: bool) -> dict:
    return {"text": text, "script": script, "original": original}


def _latin_variant(rng: random.Random, spellings: list[str], french: bool = False) -> str:
    if french and len(spellings) > 2:
        return spellings[-1]
    return rng.choice(spellings[:2]) if rng.random() < 0.8 else rng.choice(spellings)


def person_names(rng: random.Random, country: str) -> list[dict]:
    """Names of one person: original script first, Latin spellings after."""
    culture = _CULTURE.get(country, "eu")
    if culture in ("ar", "fa"):
        given, family = _POOLS[f"{culture}_given"], _POOLS[f"{culture}_family"]
        parts = [rng.choice(given), rng.choice(given) if rng.random() < 0.6 else None, rng.choice(family)]
        parts = [p for p in parts if p]
        french = country in ("TN", "DZ", "LB")
        native = " ".join(p[0] for p in parts)
        names = [_name(native, "Arab", True),
                 _name(" ".join(_latin_variant(rng, p[1], french) for p in parts), "Latn", False)]
        if rng.random() < 0.3:
            names.append(_name(" ".join(rng.choice(p[1]) for p in parts), "Latn", False))
        return _dedupe(names)
    if culture == "ru":
        g, f = rng.choice(_POOLS["ru_given"]), rng.choice(_POOLS["ru_family"])
        patronymic = rng.choice(_RU_PATRONYMIC) if rng.random() < 0.6 else None
        native = " ".join(x for x in (g[0], patronymic, f[0]) if x)
        latin = " ".join(x for x in (_latin_variant(rng, g[1]),
                                     maybe_ascii(patronymic) if patronymic else None,
                                     _latin_variant(rng, f[1])) if x)
        if rng.random() < 0.3:
            native = " ".join(x for x in (f[0], g[0], patronymic) if x)
        return _dedupe([_name(native, "Cyrl", True), _name(latin, "Latn", False)])
    given, family = {"tr": _TR, "zh": _ZH}.get(culture, _EU)
    if culture == "pk":
        given, family = ("Muhammad Ahmed Ali Imran Bilal Usman Tariq Asif Faisal Kamran",
                         "Khan Malik Qureshi Chaudhry Butt Sheikh Raza Siddiqui Akhtar Mirza")
    first = rng.choice(given.split())
    middle = rng.choice(given.split()) if rng.random() < 0.25 and culture != "zh" else None
    last = rng.choice(family.split())
    if culture == "zh" and rng.random() < 0.5:
        first = first + rng.choice(given.split()).lower()
    text = " ".join(x for x in (last, first) if x) if culture == "zh" else \
        " ".join(x for x in (first, middle, last) if x)
    return [_name(text, "Latn", True)]


def _dedupe(names: list[dict]) -> list[dict]:
    seen, out = set(), []
    for n in names:
        if n["text"] not in seen:
            seen.add(n["text"])
            out.append(n)
    return out


def _brand(rng: random.Random) -> str:
    return rng.choice(_BRAND_A) + rng.choice(_BRAND_B)


def organisation_names(rng: random.Random, country: str) -> list[dict]:
    """Names of one company, with legal forms in the country's languages."""
    culture = _CULTURE.get(country, "eu")
    if culture == "ru":
        stem = rng.choice(_RU_STEM_A) + rng.choice(_RU_STEM_B)
        if rng.random() < 0.4:
            stem = stem + "-" + rng.choice(_RU_STEM_A).capitalize()
        native_form, latin_form, english_form = rng.choice(_RU_FORMS)
        latin_stem = maybe_ascii(stem)
        names = [_name(f"{native_form} «{stem}»", "Cyrl", True),
                 _name(f"{latin_form} {latin_stem}", "Latn", False)]
        if rng.random() < 0.5:
            names.append(_name(f"{latin_stem} {english_form}", "Latn", False))
        return names
    if culture == "ar" and rng.random() < 0.7:
        word = rng.choice(_POOLS["ar_org"])
        family = rng.choice(_POOLS["ar_family"]) if rng.random() < 0.5 else None
        sector_ar, sector_en = rng.choice(_AR_ORG_SECTOR)
        legal_ar, legal_en = ("ذ.م.م", "LLC") if country == "AE" else ("", "Co.")
        core_ar = word[0] + (" " + family[0] if family else "")
        core_en = rng.choice(word[1]) + (" " + rng.choice(family[1]) if family else "")
        native = " ".join(x for x in ("شركة", core_ar, sector_ar, legal_ar) if x)
        return [_name(native, "Arab", True), _name(f"{core_en} {sector_en} {legal_en}", "Latn", False)]
    if culture == "fa":
        words = rng.sample(_POOLS["fa_org"], 2)
        native = "شرکت " + " ".join(w[0] for w in words)
        latin = " ".join(rng.choice(w[1]) for w in words) + " Co."
        return [_name(native, "Arab", True), _name(latin, "Latn", False)]
    legal = rng.choice(_LEGAL.get(country, ["Ltd", "LLC", "GmbH", "SARL", "Inc."]))
    sector_en, sector_de = rng.choice(_SECTOR)
    brand = _brand(rng)
    sector = sector_de if country == "DE" and rng.random() < 0.5 else sector_en
    if culture == "zh" and rng.random() < 0.6:
        city = rng.choice(["Shenzhen", "Shanghai", "Beijing", "Dalian", "Xi'an", "Hong Kong"])
        return [_name(f"{city} {brand} {sector} {legal}", "Latn", True)]
    if legal in ("SARL", "SA", "SAS") and rng.random() < 0.5:
        return [_name(f"{legal} {brand} {sector}", "Latn", True)]
    return [_name(f"{brand} {sector} {legal}", "Latn", True)]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def lei(rng: random.Random) -> str:
    """A syntactically valid LEI (ISO 17442, ISO 7064 mod 97-10 check digits)."""
    body = _digits(rng, 4) + "00" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
                                            for _ in range(12))
    numeric = "".join(str(int(c, 36)) for c in body + "00")
    return body + f"{98 - int(numeric) % 97:02d}"


def _identifiers(rng: random.Random, country: str, kind: str) -> list[dict]:
    if kind == "person":
        return [{"scheme": "passport", "value": rng.choice("ABCNPX") + _digits(rng, 8)}] \
            if rng.random() < 0.3 else []
    out = []
    if country in ("RU", "BY", "KZ"):
        out += [{"scheme": "company_register", "value": "1" + _digits(rng, 12)},
                {"scheme": "tax_id", "value": _digits(rng, 10)}]
    elif country == "DE":
        out.append({"scheme": "company_register", "value": f"HRB {_digits(rng, 5)}"})
    elif country in ("CN", "HK"):
        out.append({"scheme": "company_register", "value": "91" + _digits(rng, 16)})
    elif rng.random() < 0.6:
        out.append({"scheme": "company_register", "value": f"{country}-{_digits(rng, 7)}"})
    if rng.random() < 0.25:
        out.append({"scheme": "lei", "value": lei(rng)})
    return out


def party(rng: random.Random, role: str, country: str, kind: str | None = None) -> dict:
    """One party in the API input shape."""
    kind = kind or ("person" if rng.random() < 0.35 and role != "exporter" else "organisation")
    names = person_names(rng, country) if kind == "person" else organisation_names(rng, country)
    street = rng.choice(["Industrial Zone", "Free Zone", "Prospekt Mira", "Rue de la République",
                         "Sheikh Zayed Road", "Hauptstraße", "Triq il-Kbira", "Valiasr Street"])
    return {"role": role, "kind": kind, "names": names, "country": country,
            "address": f"{rng.randint(1, 240)} {street}, {country}",
            "identifiers": _identifiers(rng, country, kind)}


def parties(n: int, seed: int = 0) -> Iterator[dict]:
    """n foreign parties (end users, consignees, brokers) across destinations."""
    rng = random.Random(f"parties:{seed}")
    for _ in range(n):
        yield party(rng, rng.choice(["end_user", "consignee", "broker"]), rng.choice(_DESTINATIONS))


def _money(rng: random.Random, unit_price: float, quantity: int) -> str:
    value = unit_price * quantity * rng.uniform(0.7, 1.3)
    return f"{value:.2f}"


def _quantity(rng: random.Random, unit: str) -> int:
    return rng.randint(50, 20000) if unit == "kg" else rng.choice([1, 2, 4, 5, 10, 20, 50, 100, 250])


def denial(rng: random.Random, origin: str, seq: int, today: date) -> dict:
    """One generated denial notification."""
    destination = rng.choice(_DESTINATIONS)
    catch_all = rng.random() < 0.12
    if catch_all:
        regimes, entries = ["NATIONAL"], []
        description, hs, _cn, unit, price = _NATIONAL
        params = {"note": "not listed; end-use concern"}
    else:
        regimes, entries, description, params, hs, _cn, unit, price = rng.choice(_ITEMS)
    quantity = _quantity(rng, unit)
    reasons = {"wmd_risk"} if set(regimes) & {"NSG", "AG", "MTCR"} else set()
    if "WA-ML" in regimes:
        reasons.add("military_end_use")
    if destination in ("RU", "BY", "SY", "IR"):
        reasons.add("embargo")
    reasons.update(rng.sample(["diversion_risk", "regional_stability", "human_rights", "other"],
                              rng.randint(0, 2)))
    if not reasons:
        reasons.add("diversion_risk")
    party_list = [party(rng, "end_user", destination)]
    if rng.random() < 0.7:
        party_list.append(party(rng, "consignee", rng.choice([destination, *_TRANSIT])))
    if rng.random() < 0.25:
        party_list.append(party(rng, rng.choice(["broker", "intermediate_consignee"]),
                                rng.choice(_TRANSIT)))
    party_list.append(party(rng, "exporter", origin, "organisation"))
    authority, contact = _AUTHORITIES.get(origin, (f"National export control authority ({origin})",
                                                   f"Licensing desk, {origin}"))
    transit = sorted({p["country"] for p in party_list if p["role"] != "exporter"} - {destination})
    return {
        "ref": f"{origin}/DEN/2026/{seq:06d}",
        "issuing_authority": authority,
        "contact": contact,
        "regimes": list(regimes),
        "control_entries": [{"list": lst, "entry": e} for lst, e in entries],
        "catch_all": catch_all,
        "catch_all_basis": rng.choice(_CATCH_ALL_BASIS) if catch_all else None,
        "item_description": description,
        "key_parameters": dict(params),
        "hs_code": hs,
        "quantity": str(quantity),
        "unit": unit,
        "value": _money(rng, price, quantity),
        "currency": _CURRENCY.get(origin, "EUR"),
        "parties": party_list,
        "destination_country": destination,
        "transit_countries": transit,
        "stated_end_use": rng.choice(_END_USES),
        "reason_codes": sorted(reasons),
        "reason_text": " ".join(_REASON_TEXT[r] for r in sorted(reasons)),
        "denied_on": (today - timedelta(days=rng.randint(0, 4 * 365 - 1))).isoformat(),
        "sensitivity": rng.choices(["public", "restricted", "confidential"], [2, 6, 2])[0],
    }


def denials(n: int, origin: str, seed: int = 0, start_seq: int = 1, *,
            today: date | None = None) -> Iterator[dict]:
    """n generated denial notifications of `origin`, deterministic per seed and `today`."""
    rng = random.Random(f"denials:{origin}:{seed}")
    today = today or date.today()
    for seq in range(start_seq, start_seq + n):
        yield denial(rng, origin, seq, today)


def licences(n: int, origin: str, seed: int = 0, *, today: date | None = None) -> Iterator[dict]:
    """n generated export licences of `origin`, deterministic per seed and `today`."""
    rng = random.Random(f"licences:{origin}:{seed}")
    today = today or date.today()
    for seq in range(1, n + 1):
        kind = rng.choices(["individual", "global", "general", "large_project"], [7, 2, 1, 1])[0]
        destinations = sorted(set(rng.sample(_LICENCE_DESTINATIONS,
                                             rng.randint(1, 3 if kind == "individual" else 6))))
        lines = []
        for line_no, item in enumerate(rng.sample(_ITEMS, rng.randint(1, 3)), start=1):
            _regimes, entries, description, _params, _hs, cn, unit, price = item
            quantity = _quantity(rng, unit)
            lines.append({"line_no": line_no, "control_entry": entries[0][1], "cn_code": cn,
                          "description": description, "quantity": str(quantity), "unit": unit,
                          "value": _money(rng, price, quantity), "currency": _CURRENCY.get(origin, "EUR")})
        valid_from = today - timedelta(days=rng.randint(0, 700))
        exporter = party(rng, "exporter", origin, "organisation")
        yield {
            "number": f"{origin}/LIC/2026/{seq:06d}",
            "type": kind,
            "exporter": exporter,
            "parties": [party(rng, "end_user", destinations[0]),
                        *([party(rng, "consignee", destinations[0])] if rng.random() < 0.6 else [])],
            "destinations": destinations,
            "end_use": rng.choice(_END_USES),
            "valid_from": valid_from.isoformat(),
            "valid_to": (valid_from + timedelta(days=365 * rng.choice([1, 2, 3]))).isoformat(),
            "conditions": rng.sample(["End-user certificate required before each shipment",
                                      "No re-export without prior authorisation",
                                      "Post-shipment verification may be requested",
                                      "Report each shipment within 30 days"], rng.randint(0, 2)),
            "sensitivity": rng.choices(["public", "restricted", "confidential"], [1, 6, 3])[0],
            "lines": lines,
        }


# --- hand-written demo notifications ----------------------------------------
# Party spec: (role, kind, country, "name|script|original; ...", "scheme=value; ...")
_SHARED = {
    "rashid": ("person", "SY"), "spets": ("organisation", "RU"), "noor": ("organisation", "AE"),
    "kuznetsov": ("person", "RU"), "pars": ("organisation", "IR"), "huaxin": ("organisation", "HK"),
}
_DEMO = {
    "MT": [
        (0, "SY", "end_user", "rashid", "محمد علي حسن الرشيد|Arab|1; Mohammed Ali Hassan Al-Rashid|Latn|0",
         "passport=N01942871", "wmd_risk diversion_risk", 610),
        (4, "RU", "end_user", "spets", "OOO Spetstekhnika|Latn|1; Spetstekhnika LLC|Latn|0",
         "company_register=1027700123456", "embargo diversion_risk", 240),
        (10, "AE", "consignee", "noor", "شركة النور للتجارة العامة ذ.م.م|Arab|1; Al Noor General Trading LLC|Latn|0",
         "company_register=AE-1049283", "diversion_risk", 95),
        (8, "RU", "end_user", "kuznetsov", "Sergei Kuznetsov|Latn|1", "", "embargo military_end_use", 400),
        (9, "HK", "consignee", "huaxin", "Huaxin Electronics (HK) Limited|Latn|1",
         "lei=5493001KJTIIGC8Y1R12", "diversion_risk", 130),
        (14, "LY", "end_user", None, "Libyan Aviation Maintenance Services|Latn|1", "", "embargo", 820),
        (15, "EG", "end_user", None, "Nile Defence Electronics SAE|Latn|1", "", "regional_stability", 1010),
        (7, "PK", "end_user", None, "Kamran Aerotech (Pvt) Ltd|Latn|1", "", "wmd_risk", 300),
        (16, "TR", "consignee", None, "Anadolu Optik Savunma Ltd. Şti.|Latn|1", "", "diversion_risk", 55),
        (2, "IR", "end_user", None, "شرکت کاوش صنعت البرز|Arab|1; Kavosh Sanat Alborz Co.|Latn|0", "",
         "wmd_risk embargo", 700),
        (12, "SY", "end_user", None, "Scientific Studies and Research Center|Latn|1; مركز الدراسات والبحوث العلمية|Arab|0",
         "", "wmd_risk embargo", 1200),
        (18, "BY", "end_user", None, "ОАО «Минский приборный завод»|Cyrl|1; OAO Minsk Instrument Plant|Latn|0",
         "", "embargo military_end_use", 180),
    ],
    "DE": [
        (1, "SY", "end_user", "rashid", "Muhammad Ali Hasan al-Raschid|Latn|1", "", "wmd_risk", 330),
        (3, "RU", "end_user", "spets", "ООО «Спецтехника»|Cyrl|1; OOO Spezteknika|Latn|0",
         "company_register=1027700123456; tax_id=7701234567", "embargo wmd_risk", 150),
        (10, "AE", "consignee", "noor", "Al-Nour General Trading L.L.C.|Latn|1", "", "diversion_risk", 60),
        (8, "RU", "end_user", "kuznetsov", "Сергей Викторович Кузнецов|Cyrl|1; Sergej Viktorowitsch Kusnezow|Latn|0",
         "passport=C72219034", "embargo military_end_use", 510),
        (2, "IR", "end_user", "pars", "شرکت پارس تدبیر صنعت|Arab|1; Pars Tadbir Sanat Co.|Latn|0", "",
         "wmd_risk embargo", 880),
        (0, "CN", "end_user", "huaxin", "Shenzhen Huaxin Electronics Co., Ltd.|Latn|1",
         "lei=5493001KJTIIGC8Y1R12", "military_end_use", 45),
        (13, "RU", "end_user", None, "АО «Уралприборсервис»|Cyrl|1; AO Uralpriborservis|Latn|0", "",
         "embargo wmd_risk", 260),
        (11, "IR", "end_user", None, "Mehdi Rezaei|Latn|1; مهدی رضایی|Arab|0", "", "wmd_risk embargo", 990),
        (5, "IQ", "end_user", None, "Al-Rafidain Scientific Bureau|Latn|1", "", "wmd_risk", 1300),
        (19, "IR", "end_user", None, "Kalaye Electric Company|Latn|1", "", "wmd_risk embargo", 1400),
        (17, "BY", "end_user", None, "OAO Integral|Latn|1; ОАО «Интеграл»|Cyrl|0", "", "embargo", 75),
        (6, "SY", "consignee", None, "Hama Agricultural Chemicals Co.|Latn|1", "", "wmd_risk", 1050),
    ],
    "TN": [
        (0, "SY", "end_user", "rashid", "Mohamed Ali Hassen Rachid|Latn|1; محمد علي حسن رشيد|Arab|0", "",
         "wmd_risk diversion_risk", 200),
        (3, "RU", "consignee", "spets", "Spetstechnika OOO|Latn|1", "", "embargo", 420),
        (10, "AE", "end_user", "noor", "El Nour General Trading Co.|Latn|1",
         "company_register=AE-1049283", "diversion_risk", 35),
        (2, "IR", "end_user", "pars", "Pars Tadbir Sanaat|Latn|1", "", "wmd_risk embargo", 640),
        (14, "LY", "end_user", None, "Brigade 166 Logistics Command|Latn|1", "", "embargo regional_stability", 900),
        (16, "LY", "end_user", None, "Abdelhakim Ben Salah|Latn|1; عبد الحكيم بن صالح|Arab|0", "",
         "embargo military_end_use", 310),
        (9, "DZ", "consignee", None, "SARL Atlas Télécom Services|Latn|1", "", "human_rights", 150),
        (15, "SD", "end_user", None, "Khartoum Defence Industries Co.|Latn|1", "", "embargo", 1150),
        (11, "SY", "end_user", None, "Walid Makhlouf|Latn|1; وليد مخلوف|Arab|0", "", "embargo human_rights", 720),
        (4, "EG", "consignee", None, "Delta Chemicals Trading SAE|Latn|1", "", "diversion_risk", 480),
        (17, "LY", "end_user", None, "Mourad Trabelsi|Latn|1; مراد الطرابلسي|Arab|0", "", "embargo", 260),
        (12, "IR", "end_user", None, "Sepehr Aria Engineering|Latn|1", "", "wmd_risk embargo", 1300),
    ],
}
_DEMO_EXPORTERS = {"MT": "Melita Precision Components Ltd", "DE": "Rheintal Präzisionstechnik GmbH",
                   "TN": "Société Tunisienne d'Électronique SARL"}


def _demo_party(role: str, kind: str, country: str, names: str, idents: str) -> dict:
    parsed = []
    for chunk in names.split("; "):
        text, script, original = chunk.split("|")
        parsed.append(_name(text, script, original == "1"))
    identifiers = []
    for pair in filter(None, idents.split("; ")):
        scheme, value = pair.split("=")
        identifiers.append({"scheme": scheme, "value": value})
    return {"role": role, "kind": kind, "names": parsed, "country": country,
            "address": f"{country}", "identifiers": identifiers}


def demo_denials(origin: str, *, today: date | None = None) -> list[dict]:
    """A dozen plausible notifications of `origin`; generated ones for unknown origins."""
    today = today or date.today()
    specs = _DEMO.get(origin)
    if specs is None:
        return list(denials(12, origin, seed=7, today=today))
    rng = random.Random(f"demo:{origin}")
    out = []
    for seq, (item, destination, role, shared, names, idents, reasons, days) in enumerate(specs, 1):
        record = denial(rng, origin, seq, today)
        regimes, entries, description, params, hs, _cn, unit, price = _ITEMS[item]
        kind, country = _SHARED[shared] if shared else (
            "person" if len(names.split("|")[0].split()) <= 3 and "Co" not in names
            and not any(w in names for w in ("Ltd", "SAE", "OAO", "AO ", "SARL", "Center", "Command",
                                             "Bureau", "Company", "Services", "Engineering", "Co."))
            else "organisation", destination)
        quantity = _quantity(rng, unit)
        record.update({
            "regimes": list(regimes), "control_entries": [{"list": lst, "entry": e} for lst, e in entries],
            "catch_all": False, "catch_all_basis": None, "item_description": description,
            "key_parameters": dict(params), "hs_code": hs, "quantity": str(quantity), "unit": unit,
            "value": _money(rng, price, quantity), "destination_country": destination,
            "parties": [_demo_party(role, kind, country, names, idents),
                        _demo_party("exporter", "organisation", origin,
                                    f"{_DEMO_EXPORTERS[origin]}|Latn|1", "")],
            "transit_countries": [] if destination == country else [country],
            "reason_codes": sorted(reasons.split()),
            "reason_text": " ".join(_REASON_TEXT[r] for r in sorted(reasons.split())),
            "denied_on": (today - timedelta(days=days)).isoformat(),
        })
        out.append(record)
    return out
