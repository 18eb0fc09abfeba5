"""The closed vocabulary a policy is written in.

Record types, statuses, sensitivities, regimes, party roles, the fields of
each record type (the only fields a view can ever let through), and the ISO
3166-1 alpha-2 country codes. Everything here is a constant; the policy parser
checks policy files against it and the engine projects records onto it.
"""

from __future__ import annotations

import re

DENIAL = "denial"
LICENCE = "licence"
RECORD_TYPES: tuple[str, ...] = (DENIAL, LICENCE)

STATUSES: dict[str, frozenset[str]] = {
    DENIAL: frozenset({"active", "revoked", "expired"}),
    LICENCE: frozenset({"valid", "suspended", "revoked", "expired", "exhausted"}),
}
ALL_STATUSES: frozenset[str] = frozenset().union(*STATUSES.values())

SENSITIVITIES: tuple[str, ...] = ("public", "restricted", "confidential")

REGIMES: tuple[str, ...] = ("WA-DU", "WA-ML", "NSG", "AG", "MTCR", "EU-DU", "NATIONAL")

LICENCE_TYPES: tuple[str, ...] = ("individual", "global", "general", "large_project")

PARTY_ROLES: tuple[str, ...] = (
    "end_user",
    "consignee",
    "intermediate_consignee",
    "broker",
    "purchaser",
    "exporter",
)

ACTIONS: tuple[str, ...] = ("share", "answer", "withhold")
ANSWER_LEVELS: tuple[str, ...] = ("hit", "detail")

# Fields that survive every view: the record's identity and everything a
# tombstone (revocation, expiry, "no longer visible to you") needs.
KEPT_FIELDS: frozenset[str] = frozenset(
    {"uid", "origin", "version", "status", "type", "updated_at"}
)

# The field carrying the human-facing reference, released at answer level "hit".
REFERENCE_FIELD: dict[str, str] = {DENIAL: "ref", LICENCE: "number"}

PARTY_FIELDS: tuple[str, ...] = ("role", "kind", "names", "country", "address", "identifiers")
LINE_FIELDS: tuple[str, ...] = (
    "line_no",
    "control_entry",
    "cn_code",
    "description",
    "quantity",
    "unit",
    "value",
    "currency",
    "balance_quantity",
    "balance_value",
)
# Inside a visible party / licence line these always stay: they identify it.
PARTY_KEY = "role"
LINE_KEY = "line_no"

# Container fields whose items a view can trim by sub-field.
NESTED_FIELDS: dict[str, tuple[str, ...]] = {"parties": PARTY_FIELDS, "lines": LINE_FIELDS}

DENIAL_FIELDS: tuple[str, ...] = (
    "uid",
    "origin",
    "version",
    "type",
    "status",
    "sensitivity",
    "regimes",
    "destination_country",
    "parties",
    "ref",
    "issuing_authority",
    "contact",
    "control_entries",
    "catch_all",
    "catch_all_basis",
    "item_description",
    "key_parameters",
    "hs_code",
    "quantity",
    "unit",
    "value",
    "currency",
    "transit_countries",
    "stated_end_use",
    "reason_codes",
    "reason_text",
    "denied_on",
    "notified_at",
    "review_due",
    "supersedes",
    "created_at",
    "updated_at",
)

LICENCE_FIELDS: tuple[str, ...] = (
    "uid",
    "origin",
    "version",
    "type",
    "status",
    "sensitivity",
    "number",
    "exporter",
    "parties",
    "destinations",
    "end_use",
    "valid_from",
    "valid_to",
    "conditions",
    "lines",
    "created_at",
    "updated_at",
)

FIELDS: dict[str, frozenset[str]] = {
    DENIAL: frozenset(DENIAL_FIELDS),
    LICENCE: frozenset(LICENCE_FIELDS),
}
ALL_FIELDS: frozenset[str] = FIELDS[DENIAL] | FIELDS[LICENCE]

# Every path a view may name: top-level fields plus "parties.<sub>" and
# "lines.<sub>" (the key sub-fields role / line_no cannot be named: they
# always stay while the item is visible).
VIEW_PATHS: frozenset[str] = ALL_FIELDS | frozenset(
    f"{container}.{sub}"
    for container, subs in NESTED_FIELDS.items()
    for sub in subs
    if sub not in (PARTY_KEY, LINE_KEY)
)

# ISO 3166-1 alpha-2 officially assigned codes (249), plus XK (Kosovo), a
# user-assigned code used by the EU and most licensing authorities.
COUNTRY_CODES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ
    BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR
    CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
    PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
    SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR
    TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    XK
    """.split()
)

# Codes people write that ISO does not assign, with the code they mean.
COUNTRY_CODE_HINTS: dict[str, str] = {"UK": "GB", "EL": "GR"}

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
