"""Live queries between peers (Prüm style): "do you hold denials matching these parties?"

Asking side: :class:`LiveQuery` asks every peer in parallel with a per-peer
timeout and reports who answered, who timed out, who refused and who was
unreachable; a slow peer never delays the others beyond its timeout.

Answering side: :func:`answer_query` screens only this node's own active
records, keeps those the policy lets the asker see (share, or answer), and
answers hit / no-hit with reference and score, or the policy view where the
policy says ``detail``. A peer the policy does not let query at all is
refused before anything is screened, so it learns nothing, not even no-hit.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import math
import time
import uuid

from federation.batch import open_json, seal_json
from federation.errors import FederationError, MalformedMessage
from federation.peer_client import PeerRefused, PeerUnavailable

from .audit import AuditLog
from .database import write_transaction
from .exchange import echoing_request
from .inbound import PeerRequestRefused
from .outbound import view_hash
from .screening_service import ORIGIN_POOL, PartyQuery, names_digest, parse_parties
from .timestamps import to_iso

log = logging.getLogger("cordon.live_query")

QUERY_TYPE = "denial"
#: Hits answered per party at most.
MAX_HITS = 20
#: The party field each screening signal tells about (any other signal is about the names): an answer
#: names a signal only when the view keeps that field.
SIGNAL_FIELDS = {"country_match": "country", "country_mismatch": "country", "identifier_match": "identifiers",
                 "identifier_conflict": "identifiers"}


def may_query(policy, peer: str) -> bool:
    """True if any rule could disclose a denial to this peer (share or answer)."""
    return any(rule.action in ("share", "answer") and QUERY_TYPE in rule.record_types and rule.applies_to_peer(peer)
               for rule in policy.rules)


QUERY_PARTY_MEMBERS = ("names", "country", "identifiers")


def answer_query(runtime, peer_id: str, body: dict, now: dt.datetime) -> dict:
    policy = runtime.policies.current()
    if not may_query(policy, peer_id):
        raise PeerRequestRefused("query_not_allowed", peer_id, status=403)
    raw = body.get("parties")
    if isinstance(raw, list):  # the protocol's members of a party; a receiver ignores any other
        raw = [{key: item[key] for key in QUERY_PARTY_MEMBERS if key in item} if isinstance(item, dict) else item
               for item in raw]
    parties = parse_parties({"parties": raw})
    try:
        threshold = float(body["threshold"]) if body.get("threshold") is not None else None
    except (TypeError, ValueError):
        threshold = None
    service = runtime.extension("screening")
    db = runtime.db()
    # Own records only, and the policy decides per record: filter first, then keep the best MAX_HITS.
    results = service.screen(db, parties, threshold=threshold, limit=ORIGIN_POOL, origin=runtime.node_id)
    answers, ledger = [], []
    for index, hits in enumerate(results):
        shown = []
        for hit in hits:
            if len(shown) >= MAX_HITS:
                break
            row = db.execute("SELECT doc FROM denials WHERE uid = ?", [hit["uid"]]).fetchone()
            if row is None:
                continue
            doc = json.loads(row[0])
            decision = policy.decide(doc, QUERY_TYPE, peer_id)
            # A hit on a party the view leaves out (a withheld role) would tell the asker who that party is.
            if decision.action == "withhold" or not decision.shows_party(hit["party_role"]):
                continue
            # canonical JSON carries no floats: scores travel as decimal strings
            answer = {"ref": doc.get("ref") if "ref" in decision.fields else None, "uid": doc["uid"],
                      "score": f"{hit['score']:.4f}", "hit": True}
            if decision.action == "share" or decision.answer_level == "detail":
                view = decision.view(doc)
                answer["record"] = view
                kept = decision.party_fields if "parties" in decision.fields else frozenset()
                answer["matched_name"] = hit["matched_name"] if "names" in kept else None
                answer["signals"] = [s["name"] for s in hit["signals"] if SIGNAL_FIELDS.get(s["name"], "names") in kept]
                ledger.append((QUERY_TYPE, doc["uid"], doc["version"], 0, "detail", view_hash(view)))
            else:
                ledger.append((QUERY_TYPE, doc["uid"], doc["version"], 0, "hit", ""))
            shown.append(answer)
        answers.append({"query": index, "hits": shown})
    stamp = to_iso(now)
    with write_transaction(db):
        db.conn.executemany(
            "INSERT INTO disclosures (peer, record_type, uid, version, kind, view_hash, channel, at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'query', ?)",
            [(peer_id, rtype, uid, version, kind, vhash, stamp) for rtype, uid, version, _, kind, vhash in ledger])
        AuditLog(db).append(actor=f"peer:{peer_id}", action="query.answer", target=peer_id, detail={
            "parties": len(parties), "disclosed": [{"uid": e[1], "level": e[4]} for e in ledger][:100]}, at=now)
    return echoing_request(body, {"answers": answers, "node": runtime.node_id})


# How long after the deadline the asker still waits for a peer whose answer arrived in time to be opened.
GRACE_SECONDS = 0.2


class LiveQuery:
    """Asks every peer at once. The per-peer timeout (``peer_timeout_seconds``) is a deadline counted
    from the start of :meth:`ask`: sealing, signing and connecting are part of each peer's time, so
    the answer is back within the timeout (plus ``GRACE_SECONDS`` at most) however many peers there are."""

    def __init__(self, exchange, max_workers: int = 32):
        self.exchange = exchange
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cordon-query")

    def ask(self, parties: list[PartyQuery], *, threshold: float | None = None, timeout: float | None = None,
            actor: str = "live-query") -> dict:
        started = time.monotonic()
        runtime = self.exchange.runtime
        timeout = timeout or runtime.settings.peer_timeout_seconds
        deadline = started + timeout
        body = {"parties": [{"names": p.names, "country": p.country, "identifiers": p.identifiers} for p in parties],
                "threshold": None if threshold is None else f"{threshold:.4f}", "request_id": uuid.uuid4().hex}
        peers = self.exchange.peers()
        sender = self.exchange.sender()
        futures = {self.pool.submit(self._ask_one, peer, body, deadline, sender): peer.node_id for peer in peers}
        done, not_done = concurrent.futures.wait(
            futures, timeout=max(0.0, deadline + GRACE_SECONDS - time.monotonic()))
        answered, refused, unreachable = {}, [], []
        for future in done:
            peer_id = futures[future]
            outcome, value = future.result()
            if outcome == "answered":
                answered[peer_id] = value
            elif outcome == "refused":
                refused.append(peer_id)
            elif outcome == "timed_out":
                not_done.add(future)
            else:
                unreachable.append(peer_id)
        timed_out = sorted(futures[f] for f in not_done)
        result = {"answered": answered, "timed_out": timed_out, "refused": sorted(refused),
                  "unreachable": sorted(unreachable), "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}
        db = runtime.db()
        with write_transaction(db):
            audit = AuditLog(db)
            audit.append(actor=actor, action="query.ask", detail={
                "peers": sorted(futures.values()), "answered": sorted(answered), "timed_out": timed_out,
                "refused": sorted(refused), "query_digest": names_digest(audit, parties),
                "hits": {p: sum(len(a["hits"]) for a in v) for p, v in answered.items()}})
        return result

    def _ask_one(self, peer, body: dict, deadline: float, sender):
        exchange = self.exchange
        try:
            if deadline - time.monotonic() <= 0:
                return "timed_out", None  # waited in the pool past the deadline: not asked at all
            envelope = seal_json(sender, peer.recipient(), body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timed_out", None
            response = exchange.client(peer, timeout=remaining).post("/federation/v1/query", envelope,
                                                                     timeout=remaining)
            keyring = exchange.runtime.keyring
            opened = open_json(response.json(), me=exchange.node_id, my_keys=keyring.encryption_keys(),
                               sender_public_lookup=peer.sealing_key)
            return "answered", answers_to(body, opened)
        except PeerRefused:
            return "refused", None
        except PeerUnavailable as exc:
            return ("timed_out" if "Timeout" in str(exc) else "unreachable"), None
        except (FederationError, ValueError) as exc:
            log.warning("live query answer from %s refused: %s", peer.node_id, exc)
            return "unreachable", None

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def answers_to(body: dict, opened: dict) -> list:
    """The answers in a peer's opened answer to ``body``; raises ``MalformedMessage`` unless it echoes the
    query's ``request_id`` (an answer to another query, replayed, does not) and holds one entry per party,
    in order, each with a list of hits. Scores are read as numbers."""
    answers = opened.get("answers")
    if opened.get("request_id") != body["request_id"]:
        raise MalformedMessage("the answer is not to this query")
    if not isinstance(answers, list) or len(answers) != len(body["parties"]) or not all(
            isinstance(entry, dict) and entry.get("query") == index and isinstance(entry.get("hits"), list)
            and all(isinstance(hit, dict) for hit in entry["hits"]) for index, entry in enumerate(answers)):
        raise MalformedMessage("the answer does not hold one list of hits per party asked about")
    for entry in answers:
        for hit in entry["hits"]:
            if "score" in hit:  # a decimal string on the wire; a number here, as in this node's own hits
                try:
                    score = float(hit["score"])
                except (TypeError, ValueError):
                    score = math.nan
                if not math.isfinite(score):  # "NaN" and "1e999" read as floats, and JSON has no such number
                    raise MalformedMessage("a hit's score is not a number")
                hit["score"] = score
    return answers


def open_query(runtime, peer_id: str, envelope: dict) -> dict:
    peer = runtime.trust().peer(peer_id)
    try:
        return open_json(envelope, me=runtime.node_id, my_keys=runtime.keyring.encryption_keys(),
                         sender_public_lookup=peer.sealing_key if peer else (lambda sender, kid: None))
    except FederationError as exc:
        raise PeerRequestRefused(exc.code, peer_id) from None


def seal_answer(runtime, peer_id: str, answer: dict) -> dict:
    exchange = runtime.extension("exchange")
    peer = runtime.trust().peer(peer_id)
    return seal_json(exchange.sender(), peer.recipient(), answer)
