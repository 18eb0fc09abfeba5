"""Screening parties against every denial this node can see: its own and those received.

The in-memory :class:`~node.screening.ScreeningIndex` is built from the
stored normalised forms and kept current by following ``index_feed``, so a
record written by any process (the API, an import, a pull) is searchable
once its names are normalised. Every hit explains itself.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading

import sqlite_utils

from .screening import DEFAULT_THRESHOLD, InvalidQuery, NameForms, Query, ScreeningIndex
from .errors import ValidationFailed
from .schemas import country_codes

ACTIVE = "active"
#: Hits searched for when filtering by origin, before the limit applies.
ORIGIN_POOL = 256
MAX_PARTIES = 5000


@dataclasses.dataclass
class PartyQuery:
    names: list[str]
    country: str | None = None
    identifiers: list[dict] = dataclasses.field(default_factory=list)
    line: int | None = None

    def label(self) -> str:
        return self.names[0] if self.names else ""


PARTY_FIELDS = frozenset(("name", "names", "country", "identifiers"))


def parse_parties(body: dict) -> list[PartyQuery]:
    """Accept {"name"/"names", "country", "identifiers"} or {"parties": [...]}; name each bad field.

    A name is never dropped: a party giving both ``name`` and ``names``, or a body giving ``parties``
    and a name besides, is refused (screening only some of what was asked would read as no hit)."""
    if "parties" in body:
        stray = sorted(key for key in ("name", "names") if key in body)
        if stray:
            raise ValidationFailed("give either parties or one party's name(s), not both",
                                   fields={key: "not allowed with parties" for key in stray})
    raw = body.get("parties") if "parties" in body else [body]
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("give a party (name) or a list of parties", fields={"parties": "expected a non-empty list"})
    if len(raw) > MAX_PARTIES:
        raise ValidationFailed("too many parties in one request", fields={"parties": f"at most {MAX_PARTIES}"})
    parties, problems = [], {}
    for index, item in enumerate(raw):
        prefix = f"parties.{index}." if "parties" in body else ""
        if not isinstance(item, dict):
            problems[prefix.rstrip(".") or "body"] = "expected an object"
            continue
        if prefix:  # the top level of a single-party body also holds a request's options
            for key in sorted(set(item) - PARTY_FIELDS):
                problems[prefix + key] = "unknown field"
        if "name" in item and "names" in item:
            problems[prefix + "names"] = "give name or names, not both"
            continue
        if "name" not in item and "names" not in item:
            problems[prefix + "name"] = "required (or names: several names of the same party)"
            continue
        names = item["names"] if "names" in item else [item["name"]]
        if not isinstance(names, list) or not names:
            problems[prefix + "names"] = "expected a non-empty list of names"
            continue
        clean = []
        for position, name in enumerate(names):
            text = name.get("text") if isinstance(name, dict) else name
            reason = name_problem(text)
            if reason:
                problems[prefix + ("name" if "name" in item else f"names.{position}")] = reason
            else:
                clean.append(" ".join(text.split()))
        country = item.get("country")
        if country is not None and (not isinstance(country, str) or country.strip().upper() not in country_codes()):
            problems[prefix + "country"] = "must be an ISO 3166-1 alpha-2 code"
        identifiers = item.get("identifiers") or []
        if not isinstance(identifiers, list) or not all(
                isinstance(i, dict) and isinstance(i.get("scheme"), str) and isinstance(i.get("value"), str)
                for i in identifiers):
            problems[prefix + "identifiers"] = "expected a list of {scheme, value}"
            identifiers = []
        if clean:
            parties.append(PartyQuery(clean, country.strip().upper() if isinstance(country, str) else None,
                                      identifiers))
    if problems:
        raise ValidationFailed("some parties cannot be screened", fields=problems)
    return parties


def name_problem(text) -> str | None:
    if not isinstance(text, str):
        return "must be a string"
    if not text.strip():
        return "a name is required"
    stripped = " ".join(text.split())
    if len(stripped) > 300:
        return "longer than 300 characters"
    letters = sum(ch.isalpha() for ch in stripped)
    if letters < 2:
        return "needs at least two letters"
    if letters / len(stripped) < 0.4:
        return "is mostly digits or symbols, not a name"
    return None


class ScreeningService:
    def __init__(self, runtime=None):
        self.runtime = runtime
        self.index = ScreeningIndex()
        self._cursor = 0
        self._lock = threading.Lock()
        self._keys_of: dict[str, list[str]] = {}

    @staticmethod
    def load_name_data() -> None:
        """Load what normalising a query needs: the organisation and the person-name taggers. Loading the
        person tagger holds the interpreter (about 11 s of CPU, once per process), so ``cordon serve`` does
        it before it listens (setting ``screening_warm_start``)."""
        from .screening import normalise_name

        normalise_name("Warm-up Trading Ltd", "organisation")
        normalise_name("John Smith", "person")

    def warm(self) -> None:
        """Build the index before the first query (run in the background at start)."""
        from .screening import normalise_name

        normalise_name("Warm-up Trading Ltd", "organisation")
        self.refresh(self.runtime.db())
        self.index.refresh()

    def screen_parties(self, parties: list[dict], *, threshold: float | None = None) -> list[dict]:
        return screen_parties_of(self, parties, threshold=threshold)

    def refresh(self, db: sqlite_utils.Database) -> None:
        with self._lock:
            rows = db.execute("SELECT seq, uid FROM index_feed WHERE seq > ? ORDER BY seq", [self._cursor]).fetchall()
            if not rows:
                return
            uids = list(dict.fromkeys(uid for _, uid in rows))
            for start in range(0, len(uids), 500):
                self._reload(db, uids[start:start + 500])
            self._cursor = rows[-1][0]

    def _reload(self, db, uids: list[str]) -> None:
        marks = ",".join("?" * len(uids))
        docs = {uid: json.loads(text) for uid, text in
                db.execute(f"SELECT uid, doc FROM denials WHERE uid IN ({marks})", uids)}
        names: dict[tuple[str, int], list] = collections.defaultdict(list)
        for uid, party, forms in db.execute(
                f"SELECT uid, party, forms FROM party_names WHERE uid IN ({marks}) ORDER BY id", uids):
            names[(uid, party)].append(forms)
        for uid in uids:
            for key in self._keys_of.get(uid, ()):
                self.index.remove(key)
            self._keys_of[uid] = []
            doc = docs.get(uid)
            if doc is None:
                continue
            for index, party in enumerate(doc.get("parties") or []):
                stored = [NameForms.from_dict(json.loads(f)) for f in names.get((uid, index), []) if f]
                if not stored:
                    continue
                key = f"{uid}#{index}"
                self.index.add(key, stored, {
                    "uid": uid, "origin": doc["origin"], "ref": doc.get("ref"), "status": doc.get("status"),
                    "role": party.get("role"), "country": party.get("country"),
                    "identifiers": party.get("identifiers") or [],
                    "destination_country": doc.get("destination_country"),
                    "regimes": doc.get("regimes") or [], "denied_on": doc.get("denied_on"),
                })
                self._keys_of[uid].append(key)

    def screen(self, db: sqlite_utils.Database, parties: list[PartyQuery], *, threshold: float | None = None,
               include_inactive: bool = False, limit: int = 10, origin: str | None = None) -> list[list[dict]]:
        """Hits per party, best first, at most ``limit``; with ``origin`` only records of that origin
        (filtered before the limit: a peer's answer is not crowded out by copies received from others)."""
        self.refresh(db)
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        if not 0.3 <= threshold <= 1.0:
            raise ValidationFailed("threshold out of range", fields={"threshold": "must be between 0.3 and 1.0"})
        queries = [Query(names=p.names, country=p.country, identifiers=p.identifiers) for p in parties]
        try:
            results = self.index.search_many(queries, threshold, limit * 3 if origin is None else ORIGIN_POOL)
        except InvalidQuery as exc:
            raise ValidationFailed(str(exc), fields={"parties": str(exc)}) from None
        out = []
        for hits in results:
            shown = []
            for hit in hits:
                if not include_inactive and hit.meta.get("status") != ACTIVE:
                    continue
                if origin is not None and hit.meta.get("origin") != origin:
                    continue
                shown.append(explain(hit))
                if len(shown) >= limit:
                    break
            out.append(shown)
        return out


def explain(hit) -> dict:
    meta = hit.meta
    return {
        "uid": meta["uid"], "origin": meta["origin"], "ref": meta.get("ref"), "status": meta.get("status"),
        "party_role": meta.get("role"), "party_country": meta.get("country"),
        "destination_country": meta.get("destination_country"), "regimes": meta.get("regimes"),
        "score": round(hit.score, 4), "threshold": hit.threshold,
        "query_name": hit.query_name, "matched_name": hit.matched_name, "name_score": round(hit.name_score, 4),
        "signals": [{"name": s.name, "value": s.value, "contribution": round(s.contribution, 4), "detail": s.detail}
                    for s in hit.signals],
        "parts": [{"query": p.query, "stored": p.stored, "similarity": round(p.similarity, 4), "how": p.how}
                  for p in hit.parts],
    }


def screen_parties_of(service: ScreeningService, parties: list[dict], *, threshold: float | None = None) -> list[dict]:
    """Hits for record-shaped parties ({role, names: [{text}], country, identifiers}); used at the border."""
    queries = []
    for party in parties or []:
        names = [n.get("text") for n in party.get("names") or [] if isinstance(n, dict) and n.get("text")]
        if names:
            queries.append(PartyQuery(names, party.get("country"), party.get("identifiers") or []))
    if not queries:
        return []
    results = service.screen(service.runtime.db(), queries, threshold=threshold)
    return [hit for hits in results for hit in hits]


def names_digest(audit, parties: list[PartyQuery]) -> str:
    """What audit entries keep of the names screened: a short keyed digest (``AuditLog.digest``), never the
    names. Call inside a write transaction."""
    return audit.digest(json.dumps([p.names for p in parties], ensure_ascii=False))


def audit_screening(db: sqlite_utils.Database, actor: str, parties: list[PartyQuery], results: list[list[dict]],
                    live: bool) -> None:
    """Audit one screening (API, web page or CLI): counts, hit uids and a digest of the names, never the names."""
    from .audit import AuditLog
    from .database import write_transaction

    with write_transaction(db):
        audit = AuditLog(db)
        audit.append(actor=actor, action="screen", detail={
            "parties": len(parties), "hits": sum(len(h) for h in results), "query_digest": names_digest(audit, parties),
            "hit_uids": sorted({hit["uid"] for hits in results for hit in hits})[:50], "live": live})
