"""Marshmallow schemas of consultations and licence flags: what the API accepts and returns.

The proposed transaction is denial-shaped, with the denial's own field
definitions (parties, control entries, amounts as decimal strings).
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .consultation_terms import (  # the vocabulary, also importable from here
    CONSULTED_ONLY,
    DIRECTIONS,
    MAX_DAYS,
    MAX_TEXT,
    MIN_DAYS,
    OUTCOMES,
    POSITIONS,
    STATUSES,
)
from .schemas import (
    REF_RE,
    Amount,
    ControlEntrySchema,
    Country,
    PartySchema,
    currency_field,
    text,
    value_needs_currency,
)



class ProposedTransaction(Schema):
    """The transaction a state proposes to licence, described like a denial."""

    parties = fields.List(fields.Nested(PartySchema), required=True, validate=validate.Length(min=1, max=30))
    destination_country = Country(required=True)
    transit_countries = fields.List(Country(), load_default=list)
    control_entries = fields.List(fields.Nested(ControlEntrySchema), load_default=list,
                                  validate=validate.Length(max=50))
    catch_all = fields.Boolean(load_default=False)
    item_description = text(required=True, max_len=2000)
    key_parameters = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=80)),
                                 values=fields.String(validate=validate.Length(max=200)), load_default=dict)
    hs_code = fields.String(validate=validate.Regexp(r"^\d{4,10}\Z", error="must be 4-10 digits"), allow_none=True)
    quantity = Amount(positive=True, allow_none=True)
    unit = text(max_len=20, allow_none=True)
    value = Amount(allow_none=True)
    currency = currency_field()
    stated_end_use = text(max_len=2000, allow_none=True)

    @validates_schema
    def check_parties(self, data, partial=False, **kw):
        problems = value_needs_currency(data)
        if data.get("parties") and all(p["role"] == "exporter" for p in data["parties"]):
            problems["parties"] = ["need at least one party other than the exporter"]
        if problems:
            raise ValidationError(problems)


class ConsultationOpen(Schema):
    """Open a consultation from a hit: the denial(s) and the transaction this state proposes to licence."""

    denial_uids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=20),
                              metadata={"description": "uids of the consulted state's denial(s)"})
    consulted_state = fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9-]{1,31}\Z", error="must be a node id"),
                                    metadata={"description": "needed only when this node does not hold the denial "
                                                             "(a live-query hit); otherwise the denial's origin"})
    transaction = fields.Nested(ProposedTransaction, required=True)
    response_days = fields.Integer(strict=True, validate=validate.Range(min=MIN_DAYS, max=MAX_DAYS),
                                   metadata={"description": f"reply deadline in days ({MIN_DAYS}-{MAX_DAYS}); "
                                                            "default: the consultation_days setting"})
    text = text(max_len=MAX_TEXT, metadata={"description": "covering note, sent as the first message"})
    licence_number = fields.String(validate=validate.Regexp(REF_RE, error="must be a licence number"),
                                   metadata={"description": "this node's licence (application) concerned; local only"})


class ConsultationReply(Schema):
    position = fields.String(required=True, validate=validate.OneOf(POSITIONS))
    text = text(max_len=MAX_TEXT, allow_none=True)


class ConsultationOutcome(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    text = text(max_len=MAX_TEXT, allow_none=True,
                metadata={"description": "reasons; sent as the post-facto notice when granted despite an objection"})
    licence_number = fields.String(validate=validate.Regexp(REF_RE, error="must be a licence number"))


class ConsultationWithdraw(Schema):
    reason = text(required=True, max_len=MAX_TEXT)


class ConsultationMessage(Schema):
    uid = fields.UUID()
    from_ = fields.String(data_key="from", metadata={"description": "node id of the sender"})
    position = fields.String(validate=validate.OneOf(POSITIONS))
    text = fields.String(allow_none=True)
    at = fields.DateTime()
    delivery = fields.String(metadata={"description": "pending | delivered | refused (messages this node sent)"})


class ConsultationRecord(Schema):
    uid = fields.UUID()
    requesting_state = fields.String()
    consulted_state = fields.String()
    direction = fields.String(validate=validate.OneOf(DIRECTIONS),
                              metadata={"description": "outbox: this node asked; inbox: this node is consulted"})
    denial_uids = fields.List(fields.UUID())
    denial_refs = fields.List(fields.String())
    transaction = fields.Nested(ProposedTransaction)
    similarity = fields.Dict(metadata={"description": "{score, matched_fields, by_denial}"})
    opened_at = fields.DateTime()
    response_due = fields.DateTime()
    status = fields.String(validate=validate.OneOf(STATUSES))
    messages = fields.List(fields.Nested(ConsultationMessage))
    outcome = fields.Dict(allow_none=True, metadata={"description": "{outcome: granted | denied, text, at}"})
    post_facto_notice = fields.Dict(allow_none=True)
    delivery = fields.Dict(metadata={"description": "delivery of the opening to the consulted state (outbox)"})
    licence_number = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class ConsultationPage(Schema):
    items = fields.List(fields.Nested(ConsultationRecord))
    next_cursor = fields.String(allow_none=True)


class LicenceFlag(Schema):
    denial_uid = fields.UUID()
    denial_origin = fields.String()
    denial_ref = fields.String()
    score = fields.Float()
    matched_fields = fields.List(fields.String())
    parties = fields.List(fields.Dict())
    control_entries = fields.List(fields.String())
    flagged_at = fields.DateTime()
    consultation_uid = fields.UUID(allow_none=True)
    open_consultation = fields.Dict(allow_none=True,
                                    metadata={"description": "the POST /api/v1/consultations request to send"})


class LicenceFlagList(Schema):
    licence_number = fields.String()
    items = fields.List(fields.Nested(LicenceFlag))


__all__ = [
    "CONSULTED_ONLY", "DIRECTIONS", "MAX_DAYS", "MAX_TEXT", "MIN_DAYS", "OUTCOMES", "POSITIONS", "STATUSES",
    "ConsultationMessage", "ConsultationOpen", "ConsultationOutcome", "ConsultationPage", "ConsultationRecord",
    "ConsultationReply", "ConsultationWithdraw", "LicenceFlag", "LicenceFlagList", "ProposedTransaction",
]
