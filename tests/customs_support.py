"""Test support for customs: licences dated around today, declarations, MRNs.

Public API::

    today() -> date
    customs_licence(number, **overrides) -> dict          # licence valid from a year ago to a year ahead
    declaration(serial, **overrides) -> dict               # a check body that line 1 accepts
    mrn(serial, country="MT") -> str                       # a valid MRN with this serial
    check_url(number) -> str
"""

from __future__ import annotations

import datetime as dt

from conftest import sample_licence

from node.customs_schemas import make_mrn

NUMBER = "MT/LIC/2026/0100"


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def customs_licence(number: str = NUMBER, **overrides) -> dict:
    base = {"number": number, "valid_from": (today() - dt.timedelta(days=365)).isoformat(),
            "valid_to": (today() + dt.timedelta(days=365)).isoformat()}
    return sample_licence(**{**base, **overrides})


def mrn(serial, country: str = "MT") -> str:
    return make_mrn(today().year, country, str(serial))


def declaration(serial=1, **overrides) -> dict:
    body = {"declaration_ref": mrn(serial), "line_no": 1, "cn_code": "84581110", "quantity": "2", "unit": "pcs",
            "value": "100000.00", "currency": "EUR", "destination": "TN", "customs_office": "MT000101",
            "declared_at": f"{today().isoformat()}T00:00:00Z"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def check_url(number: str = NUMBER) -> str:
    return f"/api/v1/licences/{number}/checks"
