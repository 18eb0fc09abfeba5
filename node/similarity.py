"""How alike a proposed transaction is to a denial: the "essentially identical" test of no-undercut.

A transaction is denial-shaped (parties, destination, control entries, item,
key parameters, HS code, quantity, value). It is essentially identical to a
denial when

- a party matches a denial party by screening (names in any script, country
  and identifiers as signals; the screening threshold decides),
- the destination is the same, and
- a control entry overlaps: equal, or one is a sub-item of the other
  (``2B201`` covers ``2B201.a``); for a catch-all denial without control
  entries, the first six digits of the HS / CN code agree instead.

The score is a weighted sum in [0, 1]: parties 0.5 (the best party score),
destination 0.2, control entries 0.2 (share of the denial's entries matched),
key parameters and HS code 0.1. ``matched_fields`` names what agreed.
Nothing here reads storage: callers hand in the records and the party hits.
"""

from __future__ import annotations

import re

from .screening import DEFAULT_THRESHOLD, Query, ScreeningIndex, normalise_name

PARTY_WEIGHT = 0.5
DESTINATION_WEIGHT = 0.2
ENTRY_WEIGHT = 0.2
DETAIL_WEIGHT = 0.1
TARGETED_FLOOR = 0.3


def entry_key(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


def entries_overlap(first: str, second: str) -> bool:
    """Equal entries, or one a dotted sub-item of the other ("3A001" and "3A001.a.2"; not "ML1" and "ML10")."""
    a, b = entry_key(first), entry_key(second)
    if not a or not b:
        return False
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def entry_texts(transaction: dict) -> list[str]:
    return [e.get("entry", "") for e in transaction.get("control_entries") or [] if isinstance(e, dict)]


def destinations_of(transaction: dict) -> set[str]:
    found = set(transaction.get("destinations") or [])
    if transaction.get("destination_country"):
        found.add(transaction["destination_country"])
    return {c.upper() for c in found if isinstance(c, str)}


def hs_prefix(code) -> str:
    digits = re.sub(r"\D", "", str(code or ""))
    return digits[:6] if len(digits) >= 6 else ""


def screened_parties(parties) -> list[dict]:
    """The parties that screening compares: every role except the exporter."""
    return [p for p in parties or [] if isinstance(p, dict) and p.get("role") != "exporter"]


def party_queries(parties) -> list[Query]:
    queries = []
    for party in screened_parties(parties):
        names = [n.get("text") for n in party.get("names") or [] if isinstance(n, dict) and n.get("text")]
        if names:
            queries.append(Query(names=names, country=party.get("country"),
                                 identifiers=party.get("identifiers") or [], kind=party.get("kind")))
    return queries


def targeted_party_hits(parties, denial: dict, stored_forms: dict | None = None) -> list[dict]:
    """Score the transaction's parties against one denial's parties only (whatever the score).

    ``stored_forms`` maps a party's position in the denial to the name forms stored for it
    (``party_names``); names without stored forms are normalised here."""
    index = ScreeningIndex()
    for position, party in enumerate(denial.get("parties") or []):
        if not isinstance(party, dict) or party.get("role") == "exporter":
            continue
        forms = (stored_forms or {}).get(position) or [
            normalise_name(n["text"], party.get("kind")) for n in party.get("names") or []
            if isinstance(n, dict) and n.get("text")]
        if forms:
            index.add(f"{denial.get('uid')}#{position}", forms, {
                "uid": denial.get("uid"), "role": party.get("role"), "country": party.get("country"),
                "identifiers": party.get("identifiers") or []})
    queries = party_queries(parties)
    if not queries or not len(index):
        return []
    hits = []
    for results in index.search_many(queries, TARGETED_FLOOR, 5):
        for hit in results:
            hits.append({"uid": hit.meta["uid"], "score": round(hit.score, 4), "threshold": DEFAULT_THRESHOLD,
                         "query_name": hit.query_name, "matched_name": hit.matched_name,
                         "party_role": hit.meta.get("role")})
    return hits


def assess(transaction: dict, denial: dict, party_hits: list[dict]) -> dict:
    """Compare a transaction with one denial, given the screening hits of its parties on that denial."""
    matched: list[str] = []
    threshold = min((h.get("threshold") or DEFAULT_THRESHOLD for h in party_hits), default=DEFAULT_THRESHOLD)
    strong = [h for h in party_hits if h["score"] >= threshold]
    party_score = max((h["score"] for h in party_hits), default=0.0)
    if strong:
        matched.append("parties")
    destination = (denial.get("destination_country") or "").upper()
    same_destination = bool(destination) and destination in destinations_of(transaction)
    if same_destination:
        matched.append("destination_country")
    denial_entries = entry_texts(denial)
    proposed = entry_texts(transaction)
    overlapping = sorted({d for d in denial_entries for p in proposed if entries_overlap(d, p)})
    if overlapping:
        matched.append("control_entries")
    entry_share = len(overlapping) / len(denial_entries) if denial_entries else 0.0
    denial_hs = hs_prefix(denial.get("hs_code"))
    proposed_hs = {hs_prefix(c) for c in [transaction.get("hs_code"), *transaction.get("cn_codes", [])]} - {""}
    same_hs = bool(denial_hs) and denial_hs in proposed_hs
    if same_hs:
        matched.append("hs_code")
        if not denial_entries:
            entry_share = 1.0
    denial_params = {k: str(v).strip().casefold() for k, v in (denial.get("key_parameters") or {}).items()}
    proposed_params = {k: str(v).strip().casefold() for k, v in (transaction.get("key_parameters") or {}).items()}
    same_params = [k for k, v in denial_params.items() if proposed_params.get(k) == v]
    if denial_params and len(same_params) == len(denial_params):
        matched.append("key_parameters")
    detail_share = (0.5 if same_hs else 0.0) + (0.5 * len(same_params) / len(denial_params) if denial_params else 0.0)
    score = (PARTY_WEIGHT * party_score + DESTINATION_WEIGHT * same_destination + ENTRY_WEIGHT * entry_share
             + DETAIL_WEIGHT * detail_share)
    items_agree = bool(overlapping) or (not denial_entries and same_hs)
    best = sorted(party_hits, key=lambda h: -h["score"])[:5]
    return {
        "denial_uid": denial.get("uid"),
        "score": round(min(score, 1.0), 4),
        "matched_fields": matched,
        "essentially_identical": bool(strong) and same_destination and items_agree,
        "parties": [{"query_name": h["query_name"], "matched_name": h["matched_name"], "score": h["score"],
                     "role": h.get("party_role")} for h in best],
        "control_entries": overlapping,
    }


def combine(assessments: list[dict]) -> dict:
    """One similarity for a consultation about several denials: the best, with each denial's own."""
    if not assessments:
        return {"score": None, "matched_fields": [], "by_denial": {}}
    best = max(assessments, key=lambda a: a["score"])
    return {"score": best["score"], "matched_fields": best["matched_fields"],
            "essentially_identical": any(a["essentially_identical"] for a in assessments),
            "by_denial": {a["denial_uid"]: {k: v for k, v in a.items() if k != "denial_uid"} for a in assessments}}


def licence_transaction(licence: dict, denial: dict | None = None) -> dict:
    """A licence seen as a denial-shaped transaction (for comparison, and as a consultation body).

    With ``denial``, the transaction keeps the lines whose control entries overlap the denial's
    (all lines if none does), the destination it shares, and each entry's list from the denial."""
    lines = licence.get("lines") or []
    denial_entries = (denial or {}).get("control_entries") or []
    chosen = [line for line in lines if any(entries_overlap(line.get("control_entry"), d.get("entry"))
                                            for d in denial_entries)] or lines
    destinations = list(licence.get("destinations") or [])
    destination = (denial or {}).get("destination_country")
    if destination not in destinations:
        destination = destinations[0] if destinations else None
    entries, seen = [], set()
    for line in chosen:
        text = line.get("control_entry")
        if not text or entry_key(text) in seen:
            continue
        seen.add(entry_key(text))
        listed = next((d["list"] for d in denial_entries if entries_overlap(text, d.get("entry"))), None)
        entries.append({"list": listed or guess_list(text), "entry": text})
    described = "; ".join(line["description"] for line in chosen if line.get("description"))
    transaction = {
        "parties": screened_parties(licence.get("parties")),
        "destination_country": destination,
        "control_entries": entries,
        "item_description": described or f"items of licence {licence.get('number')}",
    }
    codes = [line.get("cn_code") for line in chosen if line.get("cn_code")]
    if codes:
        transaction["hs_code"] = hs_prefix(codes[0]) or None
    if len(chosen) == 1:
        line = chosen[0]
        for field in ("quantity", "unit", "value", "currency"):
            if line.get(field) is not None:
                transaction[field] = line[field]
    if licence.get("end_use"):
        transaction["stated_end_use"] = licence["end_use"]
    return {k: v for k, v in transaction.items() if v not in (None, [], "")} | {"parties": transaction["parties"]}


def comparable_licence(licence: dict) -> dict:
    """Everything of a licence the comparison reads, in transaction terms (all destinations, all lines)."""
    lines = licence.get("lines") or []
    return {
        "parties": licence.get("parties") or [],
        "destinations": licence.get("destinations") or [],
        "control_entries": [{"entry": line["control_entry"]} for line in lines if line.get("control_entry")],
        "cn_codes": [line["cn_code"] for line in lines if line.get("cn_code")],
    }


def guess_list(entry: str) -> str:
    text = entry_key(entry)
    if text.startswith("ml"):
        return "WA-ML"
    if re.match(r"^\d[a-e]\d{3}", text):
        return "EU-DU"
    return "NATIONAL"
