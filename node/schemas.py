"""Marshmallow schemas: the one definition of every request and response body.

The same schemas validate requests and generate the OpenAPI document
(:mod:`node.api.openapi`). Field names follow ``docs/data-model.md``.
Quantities and money are decimal strings, never floats: signed payloads are
canonical JSON, which has no room for binary fractions.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from policies.vocabulary import COUNTRY_CODES

from .errors import ValidationFailed
from .schema_compiler import GiveUp, compile_schema
from .timestamps import to_iso

REGIMES = ("WA-DU", "WA-ML", "NSG", "AG", "MTCR", "EU-DU", "NATIONAL")
PARTY_KINDS = ("person", "organisation")
ROLES = ("end_user", "consignee", "intermediate_consignee", "broker", "purchaser", "exporter")
REASON_CODES = (
    "wmd_risk", "military_end_use", "diversion_risk", "embargo", "human_rights", "regional_stability", "other",
)
SENSITIVITIES = ("public", "restricted", "confidential")
DENIAL_STATUSES = ("active", "revoked", "expired")
LICENCE_TYPES = ("individual", "global", "general", "large_project")
LICENCE_STATUSES = ("valid", "suspended", "revoked", "expired", "exhausted")
REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/._ -]{0,63}\Z")
SCRIPT_RE = re.compile(r"^[A-Z][a-z]{3}\Z")
PLAIN_AMOUNT_RE = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,6})?\Z")
# Words that follow a licence number in a route (/api/v1/licences/<number>/<word>...); a test
# keeps this list in step with the routes.
LICENCE_SUB_ROUTES = ("history", "suspend", "reinstate", "revoke", "flags", "checks", "reversal", "verify")


def text(required=False, max_len=500, **kw):
    return fields.String(
        required=required,
        validate=validate.Length(min=1 if required else 0, max=max_len),
        **kw,
    )


class Country(fields.String):
    """An ISO 3166-1 alpha-2 country code, upper-cased on load."""

    def __init__(self, **kw):
        kw.setdefault("metadata", {}).setdefault("description", "ISO 3166-1 alpha-2 country code")
        super().__init__(**kw)

    def _deserialize(self, value, attr, data, **kw):
        code = super()._deserialize(value, attr, data, **kw).strip().upper()
        if len(code) != 2 or code not in country_codes():
            raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    def fast_deserialize(self, value):
        """``_deserialize`` for a str naming a country (every code is two letters); GiveUp otherwise."""
        if type(value) is not str:
            raise GiveUp
        code = value.strip().upper()
        if code not in country_codes():
            raise GiveUp
        return code


class Timestamp(fields.DateTime):
    """An ISO-8601 timestamp, written back as the node writes every time: UTC with a trailing ``Z``."""

    def _serialize(self, value, attr, obj, **kw):
        return None if value is None else to_iso(value)


class Amount(fields.Decimal):
    """A non-negative decimal given as a string or an integer; always returned as a string."""

    def __init__(self, positive=False, **kw):
        kw.setdefault("metadata", {}).setdefault("description", "decimal number as a string, e.g. \"150000.00\"")
        super().__init__(as_string=True, places=None, allow_nan=False, **kw)
        self.positive = positive

    def _deserialize(self, value, attr, data, **kw):
        if isinstance(value, bool):
            raise ValidationError("must be a decimal number")
        try:
            number = super()._deserialize(value, attr, data, **kw)
        except ValidationError:
            raise ValidationError("must be a decimal number such as \"12.50\"") from None
        if number < 0 or (self.positive and number == 0):
            raise ValidationError("must be greater than zero" if self.positive else "must not be negative")
        if number.as_tuple().exponent < -6 or number.adjusted() > 15:
            raise ValidationError("too many digits")
        return number

    def fast_deserialize(self, value):
        """``_deserialize`` for a str of at most 16 digits with at most 6 after a point (the
        exponent and size limits hold), or such an int; GiveUp otherwise."""
        if type(value) is str:
            if PLAIN_AMOUNT_RE.match(value) is None:
                raise GiveUp
        elif type(value) is not int or not 0 <= value < 10**16:
            raise GiveUp
        number = decimal.Decimal(value)
        if self.positive and not number:
            raise GiveUp
        return number


class NameSchema(Schema):
    text = text(required=True, max_len=300)
    script = fields.String(validate=validate.Regexp(SCRIPT_RE, error="must be an ISO 15924 code such as Latn, Cyrl, Arab"))
    original = fields.Boolean(load_default=False)

    @post_load
    def fill_script(self, data, **kw):
        data["text"] = " ".join(data["text"].split())
        if not data["text"]:
            raise ValidationError("must not be blank", "text")
        if "script" not in data:
            data["script"] = guess_script(data["text"])
        return data


class IdentifierSchema(Schema):
    scheme = text(required=True, max_len=40)
    value = text(required=True, max_len=100)


class PartySchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    kind = fields.String(validate=validate.OneOf(PARTY_KINDS), allow_none=True,
                         metadata={"description": "person or organisation; screening compares names by kind"})
    names = fields.List(fields.Nested(NameSchema), required=True, validate=validate.Length(min=1, max=50))
    country = Country()
    address = text(max_len=500)
    identifiers = fields.List(fields.Nested(IdentifierSchema), load_default=list, validate=validate.Length(max=20))


class ControlEntrySchema(Schema):
    list = fields.String(required=True, validate=validate.OneOf(REGIMES))
    entry = text(required=True, max_len=40)


def addressable_number(value: str) -> None:
    """A licence number is part of its URL (``/api/v1/licences/<number>``), so every part between
    slashes must be a real path segment and the last must not name one of the licence sub-routes."""
    parts = value.split("/")
    if any(part.strip() in ("", ".", "..") for part in parts):
        raise ValidationError("must not have an empty, '.' or '..' part between slashes")
    reserved = [part for part in parts[1:] if part in LICENCE_SUB_ROUTES]
    if reserved:
        raise ValidationError(f"must not have '{reserved[0]}' as a part after a slash: it names a licence sub-route")


def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code, and XK (Kosovo): the codes a sharing policy names too."""
    return COUNTRY_CODES


@functools.cache
def currency_codes() -> frozenset[str]:
    """Every ISO 4217 alphabetic currency code, current or retired (a record may be older than the euro in
    its country): the Unicode CLDR list that Babel carries, read on first use."""
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def currency_code(value) -> None:
    if value not in currency_codes():
        raise ValidationError("must be an ISO 4217 currency code such as EUR")


def currency_field() -> fields.String:
    """A ``currency`` next to a ``value``: see :func:`value_needs_currency`."""
    return fields.String(validate=currency_code, allow_none=True, metadata={
        "description": "ISO 4217 currency code (current or retired), e.g. EUR; required with value"})


def value_needs_currency(data: dict) -> dict[str, list[str]]:
    """The rule between ``value`` and ``currency``: an amount means nothing without its currency."""
    if data.get("value") is not None and not data.get("currency"):
        return {"currency": ["required with value"]}
    return {}


def unique(values):
    if len(values) != len(set(map(str, values))):
        raise ValidationError("must not repeat a value")


class DenialInput(Schema):
    """A denial notification as a licensing officer writes it."""

    ref = fields.String(required=True, validate=validate.Regexp(REF_RE, error="must be 1-64 letters, digits and / . _ - (the national reference)"))
    issuing_authority = text(required=True, max_len=200)
    contact = text(max_len=200)
    regimes = fields.List(fields.String(validate=validate.OneOf(REGIMES)), required=True, validate=[validate.Length(min=1), unique])
    control_entries = fields.List(fields.Nested(ControlEntrySchema), load_default=list, validate=validate.Length(max=50))
    catch_all = fields.Boolean(load_default=False)
    catch_all_basis = text(max_len=500, allow_none=True)
    item_description = text(required=True, max_len=2000)
    key_parameters = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=80)), values=fields.String(validate=validate.Length(max=200)), load_default=dict)
    hs_code = fields.String(validate=validate.Regexp(r"^\d{4,10}\Z", error="must be 4-10 digits"), allow_none=True)
    quantity = Amount(positive=True, allow_none=True)
    unit = text(max_len=20, allow_none=True)
    value = Amount(allow_none=True)
    currency = currency_field()
    parties = fields.List(fields.Nested(PartySchema), required=True, validate=validate.Length(
        min=1, max=30, error="give at least one party, and at most 30"))
    destination_country = Country(required=True)
    transit_countries = fields.List(Country(), load_default=list)
    stated_end_use = text(max_len=2000, allow_none=True)
    reason_codes = fields.List(fields.String(validate=validate.OneOf(REASON_CODES)), required=True, validate=[validate.Length(min=1), unique])
    reason_text = text(max_len=4000, allow_none=True)
    denied_on = fields.Date(required=True)
    notified_at = Timestamp(allow_none=True)
    review_due = fields.Date(allow_none=True)
    sensitivity = fields.String(load_default="restricted", validate=validate.OneOf(SENSITIVITIES))
    supersedes = fields.UUID(allow_none=True)

    @validates_schema
    def check_consistency(self, data, partial=False, **kw):
        problems = self.consistency_problems(data)
        if problems:
            raise ValidationError(problems)

    @staticmethod
    def consistency_problems(data: dict) -> dict[str, list[str]]:
        """The rules between fields, over the fields that loaded (``load_body`` also runs them when some
        fields did not, so every bad field is named at once)."""
        problems = {}
        if data.get("catch_all") and not data.get("catch_all_basis"):
            problems["catch_all_basis"] = ["required when catch_all is true"]
        denied_on, review_due = data.get("denied_on"), data.get("review_due")
        if denied_on and denied_on > dt.date.today() + dt.timedelta(days=1):
            problems["denied_on"] = ["must not be in the future"]
        if denied_on and review_due and review_due <= denied_on:
            problems["review_due"] = ["must be after denied_on"]
        if data.get("parties") and all(p["role"] == "exporter" for p in data["parties"]):
            problems["parties"] = ["need at least one party other than the exporter"]
        problems.update(value_needs_currency(data))
        return problems


class DenialRecord(DenialInput):
    """A stored denial notification, as the API returns it."""

    uid = fields.UUID(required=True)
    origin = fields.String(required=True, metadata={"description": "node id of the state that owns the record"})
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(DENIAL_STATUSES))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    revoked_reason = fields.String(allow_none=True)


class DenialRevoke(Schema):
    reason = text(required=True, max_len=2000)


class LicenceLineInput(Schema):
    line_no = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9999))
    control_entry = text(max_len=40, allow_none=True)
    cn_code = fields.String(required=True, validate=validate.Regexp(r"^\d{6,10}\Z", error="must be a CN code of 6-10 digits"))
    description = text(max_len=1000, allow_none=True)
    quantity = Amount(positive=True, required=True)
    unit = text(required=True, max_len=20)
    value = Amount(allow_none=True)
    currency = currency_field()

    @validates_schema
    def check_value(self, data, partial=False, **kw):
        problems = value_needs_currency(data)
        if problems:
            raise ValidationError(problems)


class LicenceInput(Schema):
    """An export licence as the licensing authority records it."""

    number = fields.String(required=True, validate=[
        validate.Regexp(REF_RE, error="must be 1-64 letters, digits and / . _ - (the licence number)"),
        addressable_number,
    ])
    type = fields.String(required=True, validate=validate.OneOf(LICENCE_TYPES))
    exporter = fields.Nested(PartySchema, required=True)
    parties = fields.List(fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=30))
    destinations = fields.List(Country(), required=True, validate=[validate.Length(min=1), unique])
    end_use = text(max_len=2000, allow_none=True)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(required=True)
    conditions = fields.List(fields.String(validate=validate.Length(max=2000)), load_default=list)
    sensitivity = fields.String(load_default="restricted", validate=validate.OneOf(SENSITIVITIES))
    lines = fields.List(fields.Nested(LicenceLineInput), required=True, validate=validate.Length(min=1, max=500))

    @validates_schema
    def check_consistency(self, data, partial=False, **kw):
        problems = {}
        if data.get("valid_from") and data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            problems["valid_to"] = ["must not be before valid_from"]
        numbers = [line["line_no"] for line in data.get("lines") or []]
        if len(numbers) != len(set(numbers)):
            problems["lines"] = ["line_no must be unique"]
        if data.get("exporter") and data["exporter"].get("role") != "exporter":
            problems["exporter"] = ["role must be 'exporter'"]
        if problems:
            raise ValidationError(problems)


class LicenceLineRecord(LicenceLineInput):
    balance_quantity = fields.String(required=True)
    balance_value = fields.String(allow_none=True)


class LicenceRecord(LicenceInput):
    uid = fields.UUID(required=True)
    origin = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(LICENCE_STATUSES))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    status_reason = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(LicenceLineRecord), required=True)


class StatusChange(Schema):
    reason = text(required=True, max_len=2000)


class AuditEntry(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    target = fields.String()
    detail = fields.Dict()
    hash = fields.String()


class Page(Schema):
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as ?cursor= for the next page; null at the end"})


class DenialPage(Page):
    items = fields.List(fields.Nested(DenialRecord))


class LicencePage(Page):
    items = fields.List(fields.Nested(LicenceRecord))


class AuditPage(Page):
    items = fields.List(fields.Nested(AuditEntry))


class ErrorBody(Schema):
    error = fields.String(required=True, metadata={"description": "stable error code"})
    message = fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    fields_ = fields.Dict(data_key="fields", required=True, metadata={"description": "field path -> reason"})


SCRIPT_RANGES = (
    (0x0400, 0x052F, "Cyrl"),
    (0x0600, 0x06FF, "Arab"),
    (0x0750, 0x077F, "Arab"),
    (0x0590, 0x05FF, "Hebr"),
    (0x0370, 0x03FF, "Grek"),
    (0x4E00, 0x9FFF, "Hani"),
    (0x0530, 0x058F, "Armn"),
    (0x10A0, 0x10FF, "Geor"),
)


def guess_script(value: str) -> str:
    if value.isascii():
        return "Latn"
    for char in value:
        point = ord(char)
        for low, high, script in SCRIPT_RANGES:
            if low <= point <= high:
                return script
    return "Latn"


def flatten_errors(messages, prefix="") -> dict[str, str]:
    """Turn marshmallow's nested error dict into ``{"parties.0.country": "reason"}``."""
    flat: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "body"
            flat.update(flatten_errors(value, path))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "body"] = "; ".join(messages)
        else:
            for item in messages:
                flat.update(flatten_errors(item, prefix))
    else:
        flat[prefix or "body"] = str(messages)
    return flat


@functools.cache
def _compiled(schema: Schema):
    return compile_schema(schema)


def load_document(schema: Schema, data) -> tuple[dict, dict]:
    """``(loaded, to_json_doc(schema, loaded))`` for ``data``; raises marshmallow's ``ValidationError``.

    Valid bodies take the compiled fast path (:mod:`node.schema_compiler`); anything it
    cannot vouch for goes through marshmallow itself, which names every bad field."""
    try:
        return _compiled(schema)(data)
    except GiveUp:
        loaded = schema.load(data)
        return loaded, to_json_doc(schema, loaded)


def load_body(schema: Schema, data, what: str) -> tuple[dict, dict]:
    """:func:`load_document` for a body that must be an object; raises ``ValidationFailed`` ("the
    ``what`` is not valid") naming every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", fields={"body": "expected an object"})
    try:
        return load_document(schema, data)
    except ValidationError as exc:
        problems = flatten_errors(exc.messages)
        between = getattr(schema, "consistency_problems", None)
        if between is not None and isinstance(exc.valid_data, dict):
            # marshmallow checks the rules between fields only when every field loaded
            for name, reasons in between(exc.valid_data).items():
                if not any(path == name or path.startswith(name + ".") for path in problems):
                    problems[name] = "; ".join(reasons)
        raise ValidationFailed(f"the {what} is not valid", fields=problems) from None


def to_json_doc(schema: Schema, loaded: dict) -> dict:
    """Render loaded values (dates, decimals, UUIDs) back to plain JSON values."""
    return _plain(schema.dump(loaded))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value
