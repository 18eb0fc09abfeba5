"""Marshmallow schemas of customs checks, reversals, reports and licence verification.

The same schemas validate the requests and document them in the OpenAPI
document. Quantities and money are decimal strings, as everywhere in Cordon.

A declaration reference is the customs movement reference number (MRN) of
the Union Customs Code: 18 characters, ``YY CC NNNNNNNNNNNNN K`` - two digits
of the year, the ISO 3166-1 alpha-2 code of the declaring state, 13 letters
or digits, and a check character computed over the first 17 with the
ISO 6346 algorithm (:func:`mrn_check_character`). It is the idempotency key
of a check.
"""

from __future__ import annotations

import datetime as dt
import re

from marshmallow import Schema, ValidationError, fields, validate

from .schemas import Amount, Country, PartySchema, currency_code, text
from .timestamps import parse_iso

MRN_RE = re.compile(r"^[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[0-9]\Z")
OFFICE_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{1,15}\Z")
RESULTS = ("accepted", "exceeds_balance", "licence_invalid", "mismatch", "denied_party_hit")
VERIFY_STATUSES = ("valid", "expired", "suspended", "revoked", "exhausted")
VERIFY_OUTCOMES = ("answered", "not_confirmed", "refused", "unavailable")

# ISO 6346 letter values: A=10 upwards, skipping the multiples of 11.
_LETTER_VALUES: dict[str, int] = {}
_value = 10
for _letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _value % 11 == 0:
        _value += 1
    _LETTER_VALUES[_letter] = _value
    _value += 1
del _value, _letter


def mrn_check_character(first17: str) -> str:
    """The check character of an MRN (ISO 6346 over the first 17 characters)."""
    total = 0
    for position, char in enumerate(first17):
        number = int(char) if char.isdigit() else _LETTER_VALUES[char]
        total += number * (2 ** position)
    return str(total % 11 % 10)


def mrn_problem(value: str) -> str | None:
    """Why ``value`` is not a well-formed MRN, or None."""
    if not MRN_RE.match(value):
        return ("must be an MRN of 18 characters: year (2 digits), country code (2 letters), "
                "13 letters or digits, check digit")
    if mrn_check_character(value[:17]) != value[17]:
        return f"check digit is wrong: an MRN starting {value[:17]} ends in {mrn_check_character(value[:17])}"
    return None


def make_mrn(year: int, country: str, serial: str) -> str:
    """Build a valid MRN from a year, a country code and up to 13 letters/digits (zero-padded)."""
    body = f"{year % 100:02d}{country.upper()}{serial.upper():0>13}"
    if not MRN_RE.match(body + "0"):
        raise ValueError(f"cannot build an MRN from {year}, {country}, {serial}")
    return body + mrn_check_character(body)


class DeclarationRef(fields.String):
    """An MRN, upper-cased and trimmed on load, check digit verified."""

    def __init__(self, **kw):
        kw.setdefault("metadata", {}).setdefault(
            "description", "MRN: YY + country code + 13 letters/digits + ISO 6346 check digit (18 characters)")
        super().__init__(**kw)

    def _deserialize(self, value, attr, data, **kw):
        ref = super()._deserialize(value, attr, data, **kw).strip().upper()
        problem = mrn_problem(ref)
        if problem:
            raise ValidationError(problem)
        return ref


class Moment(fields.String):
    """An ISO-8601 date or timestamp, returned as a timezone-aware UTC datetime."""

    def __init__(self, **kw):
        kw.setdefault("metadata", {}).setdefault("description", "ISO-8601 date or timestamp (UTC if no offset)")
        super().__init__(**kw)

    def _deserialize(self, value, attr, data, **kw):
        raw = super()._deserialize(value, attr, data, **kw)
        try:
            return parse_iso(raw.strip())
        except ValueError:
            raise ValidationError("must be an ISO-8601 date or timestamp, e.g. 2026-05-04T10:30:00Z") from None


class OfficeRef(fields.String):
    def __init__(self, **kw):
        kw.setdefault("metadata", {}).setdefault(
            "description", "customs office reference: country code + national office code, e.g. MT000101")
        super().__init__(**kw)

    def _deserialize(self, value, attr, data, **kw):
        office = super()._deserialize(value, attr, data, **kw).strip().upper()
        if not OFFICE_RE.match(office):
            raise ValidationError("must be a customs office reference: 2-letter country code and up to 15 "
                                  "letters or digits, e.g. MT000101")
        return office


class CheckInput(Schema):
    """A customs declaration (one goods item) checked against a line of a licence of this node."""

    declaration_ref = DeclarationRef(required=True)
    line_no = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9999))
    cn_code = fields.String(required=True, validate=validate.Regexp(
        r"^\d{8}(\d{2})?\Z", error="must be the declared CN code (8 digits) or TARIC code (10 digits)"))
    quantity = Amount(positive=True, required=True)
    unit = text(required=True, max_len=20)
    value = Amount(allow_none=True)
    currency = fields.String(validate=currency_code, allow_none=True, metadata={
        "description": "ISO 4217 currency code (current or retired), e.g. EUR; given with value, as the line's"})
    destination = Country(required=True)
    parties = fields.List(fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=30))
    customs_office = OfficeRef(required=True)
    declared_at = Moment(required=True)


class Balance(Schema):
    quantity = fields.String(required=True)
    value = fields.String(allow_none=True)


class Reason(Schema):
    code = fields.String(required=True, metadata={"description": "stable reason code"})
    field = fields.String(required=True, metadata={"description": "the declaration field concerned"})
    message = fields.String(required=True)


class PartyHit(Schema):
    party = fields.Integer(metadata={"description": "index of the declared party that matched"})
    uid = fields.String()
    origin = fields.String()
    ref = fields.String(allow_none=True)
    score = fields.Float()
    threshold = fields.Float()
    matched_name = fields.String()
    query_name = fields.String()
    party_role = fields.String(allow_none=True, metadata={"description": "role of the matched party in the denial"})
    regimes = fields.List(fields.String())
    signals = fields.List(fields.Dict(), metadata={"description": "what raised or lowered the score"})


class ReversalInfo(Schema):
    reversed_at = fields.String()
    reason = fields.String()
    customs_office = fields.String(allow_none=True)
    restored = fields.Nested(Balance)
    balance_after = fields.Nested(Balance)


class CheckAnswer(Schema):
    """The answer to a check; stored, and given again unchanged for the same declaration reference."""

    declaration_ref = fields.String(required=True)
    licence_number = fields.String(required=True)
    line_no = fields.Integer(required=True)
    result = fields.String(required=True, validate=validate.OneOf(RESULTS))
    reasons = fields.List(fields.Nested(Reason), required=True)
    balance_before = fields.Nested(Balance, allow_none=True)
    balance_after = fields.Nested(Balance, allow_none=True)
    written_off = fields.Nested(Balance, allow_none=True)
    licence_status = fields.String(required=True)
    hits = fields.List(fields.Nested(PartyHit))
    parties_screened = fields.Boolean(required=True)
    customs_office = fields.String(required=True)
    declared_at = fields.String(required=True)
    checked_at = fields.String(required=True)


class CheckRecord(CheckAnswer):
    """A stored check as history lists it: the answer, what was declared, and any reversal."""

    quantity = fields.String()
    unit = fields.String()
    value = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    cn_code = fields.String()
    destination = fields.String()
    reversal = fields.Nested(ReversalInfo, allow_none=True)


class ReversalInput(Schema):
    reason = text(required=True, max_len=2000)
    customs_office = OfficeRef()


class ReversalAnswer(Schema):
    """The answer to a reversal: what went back to the line, and the balance before and after."""

    declaration_ref = fields.String(required=True)
    licence_number = fields.String(required=True)
    line_no = fields.Integer(required=True)
    reversal_of = fields.Dict(required=True, metadata={"description": "result and checked_at of the check"})
    reversed_at = fields.String(required=True)
    reason = fields.String(required=True)
    customs_office = fields.String(allow_none=True)
    restored = fields.Nested(Balance, required=True)
    balance_before = fields.Nested(Balance, required=True)
    balance_after = fields.Nested(Balance, required=True)
    licence_status = fields.String(required=True)


class LineSummary(Schema):
    line_no = fields.Integer()
    cn_code = fields.String()
    unit = fields.String()
    quantity = fields.String()
    balance_quantity = fields.String()
    written_off_quantity = fields.String()
    value = fields.String(allow_none=True)
    balance_value = fields.String(allow_none=True)
    accepted = fields.Integer(metadata={"description": "accepted checks not reversed"})
    reversed = fields.Integer()
    refused = fields.Integer(metadata={"description": "checks answered with anything but accepted"})


class CheckHistory(Schema):
    licence_number = fields.String()
    licence_status = fields.String()
    lines = fields.List(fields.Nested(LineSummary))
    items = fields.List(fields.Nested(CheckRecord))
    next_cursor = fields.String(allow_none=True)


class MismatchItem(Schema):
    declaration_ref = fields.String()
    licence_number = fields.String()
    line_no = fields.Integer()
    fields_ = fields.List(fields.String(), data_key="fields")
    declared_at = fields.String()


class OfficeMismatches(Schema):
    customs_office = fields.String()
    checks = fields.Integer()
    mismatches = fields.Integer()
    rate = fields.String(metadata={"description": "mismatches / checks, 4 decimals"})
    by_field = fields.Dict(keys=fields.String(), values=fields.Integer())
    items = fields.List(fields.Nested(MismatchItem))


class MismatchReport(Schema):
    from_ = fields.String(data_key="from")
    to = fields.String()
    offices = fields.List(fields.Nested(OfficeMismatches))


class VerifyInput(Schema):
    peer = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z][A-Za-z0-9-]{1,31}\Z", error="must be the node id of a peer, e.g. MT"))
    number = fields.String(required=True, validate=validate.Length(min=1, max=64))


class VerifyAnswer(Schema):
    peer = fields.String(required=True)
    number = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(VERIFY_OUTCOMES), metadata={
        "description": "answered: the issuer confirmed the licence; not_confirmed: unknown to the issuer or not "
                       "disclosed to this node; refused: the issuer did not accept the request (peering); "
                       "unavailable: no usable answer"})
    status = fields.String(allow_none=True, validate=validate.OneOf(VERIFY_STATUSES))
    answer_level = fields.String(allow_none=True)
    licence = fields.Dict(allow_none=True, metadata={"description": "the fields the issuer's policy discloses"})
    answered_at = fields.String(allow_none=True)
    message = fields.String()


def declared_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.timezone.utc).date()
