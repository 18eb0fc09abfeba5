"""The denial form: what a licensing officer types, turned into a denial document and back.

Nested parts of a denial are typed as plain text, one item per line:
party names, identifiers (``SCHEME: value``), control entries (``NSG 2B201``)
and key parameters (``name = value``). Blank party rows are ignored.

:func:`read_form` returns the values exactly as submitted (so a refused form
shows everything again), the document built from them, and the problems the
form itself found; :func:`form_errors` places the registry's field errors
(``parties.0.names.1.text``) next to the form fields they concern.
"""

from __future__ import annotations

import re

from ..schemas import PARTY_KINDS, REASON_CODES, REGIMES, ROLES, SENSITIVITIES

MAX_PARTIES = 30
TEXT_FIELDS = ("ref", "issuing_authority", "contact", "item_description", "hs_code", "quantity", "unit", "value",
               "currency", "destination_country", "stated_end_use", "reason_text", "denied_on", "review_due",
               "catch_all_basis", "supersedes")
UPPER = ("currency", "destination_country")
LIST_FIELDS = ("regimes", "reason_codes")
MANAGED = TEXT_FIELDS + LIST_FIELDS + ("sensitivity", "catch_all", "transit_countries", "control_entries",
                                       "key_parameters", "parties")
EMPTY = {"contact": "", "regimes": [], "reason_codes": [], "transit_countries": [], "control_entries": [],
         "key_parameters": {}, "catch_all": False}

LABELS = {
    "ref": "National reference", "issuing_authority": "Issuing authority", "contact": "Contact",
    "regimes": "Regimes", "control_entries": "Control list entries", "catch_all": "Catch-all",
    "catch_all_basis": "Catch-all basis", "item_description": "Item description", "key_parameters": "Key parameters",
    "hs_code": "HS code", "quantity": "Quantity", "unit": "Unit", "value": "Value", "currency": "Currency",
    "destination_country": "Destination country", "transit_countries": "Transit countries",
    "stated_end_use": "Stated end use", "reason_codes": "Reasons", "reason_text": "Reason (text)",
    "denied_on": "Denied on", "review_due": "Review due", "sensitivity": "Sensitivity", "supersedes": "Supersedes",
    "parties": "Parties", "form": "Form",
}
PARTY_LABELS = {"role": "role", "kind": "kind", "names": "names", "country": "country", "address": "address",
                "identifiers": "identifiers"}
CHOICES = {"regimes": REGIMES, "reason_codes": REASON_CODES, "sensitivity": SENSITIVITIES, "roles": ROLES,
           "kinds": PARTY_KINDS}


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def blank_party() -> dict:
    return {"role": "", "kind": "", "names": "", "country": "", "address": "", "identifiers": ""}


def values_from_doc(doc: dict | None) -> dict:
    """Form values showing a stored denial (or an empty form with two party rows)."""
    doc = doc or {}
    values = {name: str(doc.get(name) or "") for name in TEXT_FIELDS}
    values.update(
        regimes=list(doc.get("regimes") or []), reason_codes=list(doc.get("reason_codes") or []),
        sensitivity=doc.get("sensitivity") or "restricted", catch_all=bool(doc.get("catch_all")),
        transit_countries=" ".join(doc.get("transit_countries") or []),
        control_entries="\n".join(f"{e['list']} {e['entry']}" for e in doc.get("control_entries") or []),
        key_parameters="\n".join(f"{k} = {v}" for k, v in (doc.get("key_parameters") or {}).items()),
    )
    parties = []
    for party in doc.get("parties") or []:
        parties.append({
            "role": party.get("role") or "", "kind": party.get("kind") or "",
            "names": "\n".join(n["text"] for n in party.get("names") or []),
            "country": party.get("country") or "", "address": party.get("address") or "",
            "identifiers": "\n".join(f"{i['scheme']}: {i['value']}" for i in party.get("identifiers") or []),
        })
    while len(parties) < 2:
        parties.append(blank_party())
    values["parties"] = parties
    return values


def read_form(form, known: dict | None = None) -> tuple[dict, dict, dict[str, str], list[int]]:
    """``(values, document, problems, party_rows)`` from a submitted form.

    ``known`` is the stored denial being amended: names typed exactly as stored keep
    their script and "original" mark. ``party_rows[i]`` is the form row of the document's
    i-th party, to place the registry's errors."""
    values = {name: (form.get(name) or "").strip() for name in TEXT_FIELDS}
    values.update(
        regimes=[v for v in form.getlist("regimes") if v], reason_codes=[v for v in form.getlist("reason_codes") if v],
        sensitivity=form.get("sensitivity") or "restricted", catch_all=form.get("catch_all") == "yes",
        transit_countries=(form.get("transit_countries") or "").strip(),
        control_entries=(form.get("control_entries") or "").strip(),
        key_parameters=(form.get("key_parameters") or "").strip(),
    )
    try:
        rows = max(1, min(int(form.get("party_rows") or 2), MAX_PARTIES))
    except ValueError:
        rows = 2
    values["parties"] = [{key: (form.get(f"party-{i}-{key}") or "").strip() for key in PARTY_LABELS}
                         for i in range(rows)]

    problems: dict[str, str] = {}
    doc: dict = {}
    for name in TEXT_FIELDS:
        if values[name]:
            doc[name] = values[name].upper() if name in UPPER else values[name]
    doc["regimes"] = values["regimes"]
    doc["reason_codes"] = values["reason_codes"]
    doc["sensitivity"] = values["sensitivity"]
    doc["catch_all"] = values["catch_all"]
    doc["transit_countries"] = [c.upper() for c in re.split(r"[\s,;]+", values["transit_countries"]) if c]
    entries = []
    for number, line in enumerate(lines(values["control_entries"]), 1):
        parts = re.split(r"[\s:]+", line, maxsplit=1)
        if len(parts) != 2 or not parts[1].strip():
            problems["control_entries"] = f"line {number}: write the regime, then the entry, e.g. NSG 2B201"
            continue
        entries.append({"list": parts[0].upper(), "entry": parts[1].strip()})
    doc["control_entries"] = entries
    parameters = {}
    for number, line in enumerate(lines(values["key_parameters"]), 1):
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if not sep or not key.strip():
            problems["key_parameters"] = f"line {number}: write name = value, e.g. accuracy_um = 4"
            continue
        parameters[key.strip()] = value.strip()
    doc["key_parameters"] = parameters

    known_names = {name["text"]: name for party in (known or {}).get("parties") or [] for name in party["names"]}
    parties, party_rows = [], []
    for row, party in enumerate(values["parties"]):
        if not any(party.values()):
            continue
        built = {"role": party["role"], "names": [dict(known_names.get(text) or {"text": text})
                                                  for text in lines(party["names"])]}
        if not party["role"]:
            problems[f"party-{row}-role"] = "choose the party's role"
        if not built["names"]:
            problems[f"party-{row}-names"] = "give at least one name"
        for key in ("kind", "address"):
            if party[key]:
                built[key] = party[key]
        if party["country"]:
            built["country"] = party["country"].upper()
        identifiers = []
        for number, line in enumerate(lines(party["identifiers"]), 1):
            scheme, sep, value = line.partition(":")
            if not sep or not scheme.strip() or not value.strip():
                problems[f"party-{row}-identifiers"] = f"line {number}: write SCHEME: value, e.g. LEI: 5493001KJTIIGC8Y1R12"
                continue
            identifiers.append({"scheme": scheme.strip(), "value": value.strip()})
        built["identifiers"] = identifiers
        parties.append(built)
        party_rows.append(row)
    if not parties:
        problems["parties"] = "give at least one party (the end user, for instance)"
    doc["parties"] = parties
    return values, doc, problems, party_rows


def form_key(path: str, party_rows: list[int]) -> str:
    """The form field showing the registry's error at ``path`` (e.g. ``parties.0.names.1.text``)."""
    head, _, rest = path.partition(".")
    if head == "parties" and rest:
        index, _, sub = rest.partition(".")
        if index.isdigit() and int(index) < len(party_rows):
            field = sub.split(".", 1)[0] or "role"
            return f"party-{party_rows[int(index)]}-{field if field in PARTY_LABELS else 'role'}"
        return "parties"
    if head in LABELS:
        return head
    return "form"


FRIENDLY = {
    "Missing data for required field.": "required",
    "Field may not be null.": "required",
    "Shorter than minimum length 1.": "choose or give at least one",
    "Not a valid date.": "not a valid date (YYYY-MM-DD)",
}


def form_errors(fields: dict[str, str], party_rows: list[int]) -> dict[str, str]:
    placed: dict[str, str] = {}
    for path, reason in fields.items():
        reason = FRIENDLY.get(reason, reason)
        key = form_key(path, party_rows)
        placed[key] = f"{placed[key]}; {reason}" if key in placed else reason
    return placed


def label(key: str) -> str:
    match = re.fullmatch(r"party-(\d+)-(\w+)", key)
    if match:
        return f"Party {int(match.group(1)) + 1}: {PARTY_LABELS.get(match.group(2), match.group(2))}"
    return LABELS.get(key, key)


def changes(current: dict, doc: dict) -> dict:
    """The fields an amendment changes: what differs from the stored denial; cleared fields emptied."""
    changed = {}
    for name in MANAGED:
        new, old = doc.get(name), current.get(name)
        if name == "catch_all":
            new, old = bool(new), bool(old)
        if new in (None, [], {}, "") and old in (None, [], {}, "", False):
            continue
        if new != old:
            changed[name] = new if new is not None else EMPTY.get(name)
    return changed
