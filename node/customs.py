"""Customs checks at the border: a declaration checked against a licence of this node, the
shipment written off the licence line's balance, reversals, history and the mismatch report.

One check is one ``BEGIN IMMEDIATE`` transaction: the idempotency look-up, the
licence and line read, the decision, the write-off, the stored answer and
the audit entry commit together or not at all, so parallel checks against
one line queue on SQLite's write lock and the balance can neither go below
zero nor lose a write-off. Balances are decimal strings computed with
:class:`decimal.Decimal`.

The declaration reference (MRN) is the idempotency key: every answer is
stored, and the same declaration sent again gets the same answer without a
second write-off. Results, strongest first (every reason found is listed):

    denied_party_hit   a declared party matches an active denial this node can see
    licence_invalid    the licence is suspended, revoked, expired, exhausted or not yet valid
    mismatch           CN code, unit, currency, destination or line not covered by the licence
    exceeds_balance    quantity or value above the line's remaining balance
    accepted           the line's balance was written off

An unknown licence is a 404 and malformed input a 400 naming the field;
neither is stored, and neither touches a balance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
from decimal import Decimal

import sqlite_utils
from marshmallow import ValidationError

from .audit import AuditLog
from .check_store import CheckStore, Line, dec, plain, to_json
from .customs_schemas import CheckInput, ReversalInput, declared_day, mrn_problem
from .database import write_transaction
from .errors import Conflict, NotFound, ValidationFailed
from .licences import LicenceRegistry
from .schema_compiler import GiveUp, compile_dumper, compile_loader
from .schemas import PartySchema, flatten_errors, to_json_doc
from .timestamps import to_iso, utc_now

CHECK_INPUT = CheckInput()
REVERSAL_INPUT = ReversalInput()
PARTIES = PartySchema(many=True)
FUTURE_SKEW = dt.timedelta(days=1)
# What a denied-party hit tells the customs officer (the screening service's explanation).
HIT_FIELDS = ("uid", "origin", "ref", "score", "threshold", "matched_name", "query_name", "party_role",
              "regimes", "signals")

# reason code -> result it leads to; the order of RESULT_ORDER is precedence.
RESULT_ORDER = ("denied_party_hit", "licence_invalid", "mismatch", "exceeds_balance")
REASON_RESULTS = {
    "denied_party": "denied_party_hit",
    "suspended": "licence_invalid", "revoked": "licence_invalid", "expired": "licence_invalid",
    "exhausted": "licence_invalid", "not_yet_valid": "licence_invalid",
    "no_such_line": "mismatch", "cn_code_not_covered": "mismatch", "unit_differs": "mismatch",
    "currency_differs": "mismatch", "destination_not_covered": "mismatch",
    "quantity_exceeds_balance": "exceeds_balance", "value_exceeds_balance": "exceeds_balance",
}


@functools.cache
def fast_declaration():
    """The compiled fast path of :class:`CheckInput` (loader) and of one party (document); it only
    accepts, and gives up to marshmallow, which names every bad field, at the first doubt."""
    return compile_loader(CHECK_INPUT), compile_dumper(PartySchema())


def canon(number: Decimal | None) -> str | None:
    """A decimal in its shortest plain form, so that "2" and "2.00" compare equal."""
    return None if number is None else format(number.normalize(), "f")


@dataclasses.dataclass
class Outcome:
    """What a check or reversal returns: the answer, whether it was a replay, and the licence
    document when its status changed (exhausted, or valid again), for change subscribers.
    ``text`` is the answer's JSON as stored (a check's answer is given again byte for byte)."""

    answer: dict
    replayed: bool = False
    licence_changed: dict | None = None
    text: str | None = None


def reason(code: str, field: str, message: str) -> dict:
    return {"code": code, "field": field, "message": message}


class CustomsDesk:
    """Checks, write-offs, reversals and reports against this node's own licences."""

    def __init__(self, db: sqlite_utils.Database, node_id: str, *, screening=None, lock=None):
        self.db = db
        self.node_id = node_id
        self.screening = screening
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.licences = LicenceRegistry(db, node_id)
        self.store = CheckStore(db, node_id)
        self.audit = AuditLog(db)

    # -- input ----------------------------------------------------------------
    def validate(self, data, now: dt.datetime) -> dict:
        if not isinstance(data, dict):
            raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
        load, party_document = fast_declaration()
        try:
            loaded = load(data)
            parties = [party_document(party) for party in loaded["parties"]]
        except GiveUp:
            try:
                loaded = CHECK_INPUT.load(data)
            except ValidationError as exc:
                raise ValidationFailed("the declaration is not valid",
                                       fields=flatten_errors(exc.messages)) from None
            parties = to_json_doc(PARTIES, loaded.get("parties") or [])
        problems = {}
        if loaded["declared_at"] > now + FUTURE_SKEW:
            problems["declared_at"] = "must not be in the future"
        if loaded.get("value") is not None and not loaded.get("currency"):
            problems["currency"] = "required with value"
        if loaded.get("currency") and loaded.get("value") is None:
            problems["value"] = "required with currency"
        if problems:
            raise ValidationFailed("the declaration is not valid", fields=problems)
        loaded["parties"] = parties
        return loaded

    @staticmethod
    def fingerprint(number: str, declared: dict, declared_at: str | None = None) -> str:
        body = {
            "licence_number": number, "declaration_ref": declared["declaration_ref"],
            "line_no": declared["line_no"], "cn_code": declared["cn_code"],
            "quantity": canon(declared["quantity"]), "unit": declared["unit"].strip().casefold(),
            "value": canon(declared.get("value")), "currency": declared.get("currency"),
            "destination": declared["destination"], "parties": declared["parties"],
            "customs_office": declared["customs_office"],
            "declared_at": declared_at or to_iso(declared["declared_at"]),
        }
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # -- checks ---------------------------------------------------------------
    def check(self, number: str, data, *, actor: str, now: dt.datetime | None = None) -> Outcome:
        now = now or utc_now()
        declared = self.validate(data, now)
        declared_at, checked_at = to_iso(declared["declared_at"]), to_iso(now)
        fingerprint = self.fingerprint(number, declared, declared_at)
        hits, screened = self._screen(declared["parties"])
        with self.lock, write_transaction(self.db):
            existing = self.store.check_row(declared["declaration_ref"])
            if existing is not None:
                text = self._replay(existing, fingerprint, actor, now)
                return Outcome(json.loads(text), replayed=True, text=text)
            licence = self.store.licence(number)
            line = self.store.line(licence["uid"], declared["line_no"])
            if line is not None and line.value is not None and declared.get("value") is None:
                raise ValidationFailed("the declaration is not valid", fields={
                    "value": f"required: line {line.line_no} of licence {number} is limited in value"})
            reasons = self._denied_parties(hits) + self._validity(licence, declared) + \
                self._coverage(licence, line, declared)
            if line is not None and not any(r["code"] in ("unit_differs", "currency_differs") for r in reasons):
                reasons += self._balance(line, declared)
            result = next((r for r in RESULT_ORDER if any(REASON_RESULTS[x["code"]] == r for x in reasons)),
                          "accepted")
            changed = None
            before = line.balance() if line else None
            after, written = before, None
            status = self._effective_status(licence, declared)
            if result == "accepted":
                quantity, value = declared["quantity"], declared.get("value") if line.value is not None else None
                new_q = line.balance_quantity - quantity
                new_v = line.balance_value - value if value is not None else line.balance_value
                if new_q < 0 or (new_v is not None and new_v < 0):
                    raise Conflict("the write-off would take the balance below zero")  # guarded above
                self.store.set_balance(licence["uid"], line.line_no, new_q, new_v)
                after = line.balance(new_q, new_v)
                written = {"quantity": plain(quantity), "value": plain(value)}
                line_used_up = new_q <= 0 or (new_v is not None and new_v <= 0)
                if line_used_up and self.store.all_used_up(licence["uid"]):
                    self.licences.mark_exhausted(licence["uid"], now, actor)
                    changed = self.licences.find(number)
                    status = "exhausted"
            answer = {
                "declaration_ref": declared["declaration_ref"], "licence_number": number,
                "line_no": declared["line_no"], "result": result, "reasons": reasons,
                "balance_before": before, "balance_after": after, "written_off": written,
                "licence_status": status, "hits": hits, "parties_screened": screened,
                "customs_office": declared["customs_office"], "declared_at": declared_at,
                "checked_at": checked_at,
            }
            if not screened and declared["parties"]:
                answer["reasons"] = reasons + [reason(
                    "parties_not_screened", "parties",
                    "no screening service runs on this node: the declared parties were not screened")]
            text = to_json(answer)
            self.store.insert(
                declaration_ref=declared["declaration_ref"], kind="check", licence_uid=licence["uid"],
                licence_number=number, line_no=declared["line_no"], customs_office=declared["customs_office"],
                result=result, cn_code=declared["cn_code"], destination=declared["destination"],
                quantity=plain(declared["quantity"]), unit=declared["unit"], value=plain(declared.get("value")),
                currency=declared.get("currency"), written_quantity=written["quantity"] if written else "0",
                written_value=written["value"] if written else None,
                problem_fields=sorted({r["field"] for r in reasons if REASON_RESULTS[r["code"]] == "mismatch"}),
                declared_at=declared_at, checked_at=checked_at, actor=actor,
                request_hash=fingerprint, answer=text)
            self.audit.append(actor=actor, action="customs.check", target=licence["uid"], at=now, detail={
                "number": number, "declaration_ref": declared["declaration_ref"], "line_no": declared["line_no"],
                "result": result})
        return Outcome(answer, licence_changed=changed, text=text)

    def _screen(self, parties: list[dict]) -> tuple[list[dict], bool]:
        service = self.screening
        if service is None or not hasattr(service, "screen_parties"):
            return [], False
        hits = []
        for index, party in enumerate(parties):
            for hit in service.screen_parties([party]) or []:
                if hit.get("status", "active") != "active":
                    continue
                hits.append({"party": index, **{k: hit[k] for k in HIT_FIELDS if k in hit}})
        return hits, True

    @staticmethod
    def _denied_parties(hits: list[dict]) -> list[dict]:
        return [reason("denied_party", f"parties.{hit['party']}",
                       f"'{hit.get('query_name')}' matches '{hit.get('matched_name')}' of denial "
                       f"{hit.get('ref') or hit.get('uid')} ({hit.get('origin')}), score {hit.get('score')}")
                for hit in hits]

    @staticmethod
    def _effective_status(licence: dict, declared: dict | None = None) -> str:
        status = licence["status"]
        if status == "valid" and declared is not None and \
                declared_day(declared["declared_at"]).isoformat() > licence["valid_to"]:
            return "expired"
        return status

    @staticmethod
    def _validity(licence: dict, declared: dict) -> list[dict]:
        status, number = licence["status"], licence["number"]
        if status in ("suspended", "revoked", "expired", "exhausted"):
            why = {"suspended": "is suspended", "revoked": "is revoked", "expired": "has expired",
                   "exhausted": "is exhausted: its whole balance has been written off"}[status]
            return [reason(status, "licence_number", f"licence {number} {why}")]
        day = declared_day(declared["declared_at"]).isoformat()
        if day > licence["valid_to"]:
            return [reason("expired", "declared_at", f"licence {number} was valid until {licence['valid_to']}; "
                                                      f"the declaration is of {day}")]
        if day < licence["valid_from"]:
            return [reason("not_yet_valid", "declared_at", f"licence {number} is valid from "
                                                            f"{licence['valid_from']}; the declaration is of {day}")]
        return []

    @staticmethod
    def _coverage(licence: dict, line: Line | None, declared: dict) -> list[dict]:
        found = []
        number = licence["number"]
        if line is None:
            found.append(reason("no_such_line", "line_no", f"licence {number} has no line {declared['line_no']}"))
        else:
            if not declared["cn_code"].startswith(line.cn_code):
                found.append(reason("cn_code_not_covered", "cn_code",
                                    f"line {line.line_no} covers CN {line.cn_code}, not {declared['cn_code']}"))
            if declared["unit"].strip().casefold() != line.unit.strip().casefold():
                found.append(reason("unit_differs", "unit",
                                    f"line {line.line_no} is licensed in '{line.unit}', not '{declared['unit']}'"))
            if declared.get("value") is not None and line.currency and declared.get("currency") != line.currency:
                found.append(reason("currency_differs", "currency",
                                    f"line {line.line_no} is licensed in {line.currency}, "
                                    f"not {declared.get('currency')}"))
        if declared["destination"] not in licence["destinations"]:
            found.append(reason("destination_not_covered", "destination",
                                f"licence {number} covers {', '.join(licence['destinations'])}, "
                                f"not {declared['destination']}"))
        return found

    @staticmethod
    def _balance(line: Line, declared: dict) -> list[dict]:
        found = []
        if declared["quantity"] > line.balance_quantity:
            found.append(reason("quantity_exceeds_balance", "quantity",
                                f"{plain(declared['quantity'])} {line.unit} declared; line {line.line_no} has "
                                f"{plain(line.balance_quantity)} {line.unit} left"))
        value = declared.get("value")
        if line.balance_value is not None and value is not None and value > line.balance_value:
            found.append(reason("value_exceeds_balance", "value",
                                f"{plain(value)} {declared.get('currency') or ''} declared; line {line.line_no} "
                                f"has {plain(line.balance_value)} {line.currency or ''} left".replace("  ", " ")))
        return found

    def _replay(self, row: dict, fingerprint: str, actor: str, now: dt.datetime) -> str:
        """The stored answer's JSON text, for a repeat of the same declaration."""
        ref = row["declaration_ref"]
        if row["request_hash"] != fingerprint:
            raise Conflict(f"declaration {ref} was already checked with different particulars",
                           fields={"declaration_ref": f"already used for another check on {row['checked_at']}"})
        reversal = self.store.reversal_of(row["id"])
        if reversal is not None:
            raise Conflict(f"declaration {ref} was checked and later reversed; a new declaration needs a new "
                           "reference", fields={"declaration_ref": f"reversed on {reversal['checked_at']}"})
        self.audit.append(actor=actor, action="customs.check.repeat", target=row["licence_uid"], at=now,
                          detail={"number": row["licence_number"], "declaration_ref": ref})
        return row["answer"]

    # -- reversal -------------------------------------------------------------
    def reverse(self, number: str, declaration_ref: str, data, *, actor: str,
                now: dt.datetime | None = None) -> Outcome:
        """Post-clearance invalidation: give the written-off quantity and value back to the line."""
        now = now or utc_now()
        ref = (declaration_ref or "").strip().upper()
        problem = mrn_problem(ref)
        if problem:
            raise ValidationFailed("the declaration reference is not valid", fields={"declaration_ref": problem})
        if not isinstance(data, dict):
            raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
        try:
            given = REVERSAL_INPUT.load(data)
        except ValidationError as exc:
            raise ValidationFailed("the reversal is not valid", fields=flatten_errors(exc.messages)) from None
        changed = None
        with self.lock, write_transaction(self.db):
            licence = self.store.licence(number)
            row = self.store.check_row(ref)
            if row is None or row["licence_uid"] != licence["uid"]:
                raise NotFound(f"no check of declaration {ref} against licence {number}",
                               fields={"declaration_ref": "no such check on this licence"})
            earlier = self.store.reversal_of(row["id"])
            if earlier is not None:
                raise Conflict(f"the check of declaration {ref} was already reversed",
                               fields={"declaration_ref": f"already reversed on {earlier['checked_at']}"})
            if row["result"] != "accepted":
                raise Conflict(f"the check of declaration {ref} was answered {row['result']}: nothing was "
                               "written off, so there is nothing to reverse",
                               fields={"declaration_ref": f"answered {row['result']}; nothing to reverse"})
            line = self.store.line(licence["uid"], row["line_no"])
            back_q, back_v = Decimal(row["written_quantity"]), dec(row["written_value"])
            new_q = line.balance_quantity + back_q
            new_v = line.balance_value + back_v if (line.balance_value is not None and back_v is not None) \
                else line.balance_value
            if new_q > line.quantity or (new_v is not None and line.value is not None and new_v > line.value):
                raise Conflict("the reversal would take the balance above the licensed amount",
                               fields={"declaration_ref": "inconsistent with the line's licensed amount"})
            self.store.set_balance(licence["uid"], line.line_no, new_q, new_v)
            status = licence["status"]
            if status == "exhausted":
                changed = self._replenish(licence["uid"], now, actor)
                status = changed["status"]
            answer = {
                "declaration_ref": ref, "licence_number": number, "line_no": line.line_no,
                "reversal_of": {"result": row["result"], "checked_at": row["checked_at"]},
                "reversed_at": to_iso(now), "reason": given["reason"].strip(),
                "customs_office": given.get("customs_office"),
                "restored": {"quantity": plain(back_q), "value": plain(back_v)},
                "balance_before": line.balance(), "balance_after": line.balance(new_q, new_v),
                "licence_status": status,
            }
            self.store.insert(
                declaration_ref=ref, kind="reversal", reversal_of=row["id"], licence_uid=licence["uid"],
                licence_number=number, line_no=line.line_no,
                customs_office=given.get("customs_office") or row["customs_office"], result="reversed",
                cn_code=row["cn_code"], destination=row["destination"], quantity=row["quantity"], unit=row["unit"],
                value=row["value"], currency=row["currency"], written_quantity="0", declared_at=row["declared_at"],
                checked_at=to_iso(now), actor=actor, request_hash="", answer=answer)
            self.audit.append(actor=actor, action="customs.reversal", target=licence["uid"], at=now, detail={
                "number": number, "declaration_ref": ref, "line_no": line.line_no})
        return Outcome(answer, licence_changed=changed)

    def _replenish(self, uid: str, now: dt.datetime, actor: str) -> dict:
        """An exhausted licence with balance again (after a reversal) is valid again: a new version."""
        current = self.licences.table.require(uid)
        doc = self.licences._bump(current, now, status="valid")  # noqa: SLF001 - the registry's own versioning
        self.audit.append(actor=actor, action="licence.replenished", target=uid,
                          detail={"number": doc["number"], "version": doc["version"]}, at=now)
        return self.licences.with_balances(doc)
