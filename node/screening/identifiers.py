"""Party identifiers (registry numbers, tax ids, LEI, EORI, passports).

Two identifiers are the same when their scheme and their value agree after
normalisation: scheme lower-case with separators folded to "_", value
upper-case letters and digits only ("HRB 12 345" == "hrb12345").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_SCHEME = re.compile(r"[^a-z0-9]+")
_VALUE = re.compile(r"[^A-Z0-9]+")

SCHEME_ALIASES = {
    "registry": "company_register",
    "registration": "company_register",
    "register": "company_register",
    "reg_no": "company_register",
    "company_registry": "company_register",
    "vat": "tax_id",
    "tin": "tax_id",
    "inn": "tax_id",
    "legal_entity_identifier": "lei",
}


def normalise_scheme(scheme: str) -> str:
    key = _SCHEME.sub("_", str(scheme).lower()).strip("_")
    return SCHEME_ALIASES.get(key, key)


def normalise_value(value: str) -> str:
    return _VALUE.sub("", str(value).upper())


def identifier_keys(identifiers: Iterable[Mapping]) -> set[tuple[str, str]]:
    """Normalised (scheme, value) pairs; unusable entries are skipped."""
    keys = set()
    for ident in identifiers or ():
        if not isinstance(ident, Mapping):
            continue
        scheme = normalise_scheme(ident.get("scheme", ""))
        value = normalise_value(ident.get("value", ""))
        if scheme and value:
            keys.add((scheme, value))
    return keys


def compare(query: set[tuple[str, str]], stored: set[tuple[str, str]]):
    """Return (matching pairs, conflicting schemes).

    A scheme conflicts when both sides carry it and no value of it agrees.
    """
    matches = sorted(query & stored)
    matched_schemes = {scheme for scheme, _ in matches}
    q_schemes = {scheme for scheme, _ in query}
    s_schemes = {scheme for scheme, _ in stored}
    conflicts = sorted((q_schemes & s_schemes) - matched_schemes)
    return matches, conflicts
