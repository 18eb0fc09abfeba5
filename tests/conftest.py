from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.umask(0o077)

from node.app import create_app  # noqa: E402
from node.clients import ClientRegistry  # noqa: E402
from node.config import Settings  # noqa: E402
from node.datadir import initialise  # noqa: E402


# Every version of every denial held: the current ones (``denials``) and the earlier ones (``denial_versions``).
EVERY_DENIAL_VERSION = "(SELECT uid, version, doc FROM denial_versions UNION ALL SELECT uid, version, doc FROM denials)"


def sample_denial(ref="MT/DEN/2026/0001", **overrides) -> dict:
    denial = {
        "ref": ref,
        "issuing_authority": "Malta Trade Services, Export Control Unit",
        "contact": "exportcontrol@example.mt",
        "regimes": ["NSG", "EU-DU"],
        "control_entries": [{"list": "NSG", "entry": "2B201"}, {"list": "EU-DU", "entry": "2B201.a"}],
        "item_description": "Five-axis machine tools with positioning accuracy below 6 micrometres",
        "key_parameters": {"axes": "5", "accuracy_um": "4"},
        "hs_code": "845710",
        "quantity": "2",
        "unit": "pcs",
        "value": "840000.00",
        "currency": "EUR",
        "parties": [
            {"role": "end_user", "names": [{"text": "ООО Технопром", "original": True},
                                           {"text": "Tekhnoprom LLC"}], "country": "RU",
             "identifiers": [{"scheme": "OGRN", "value": "1027700132195"}]},
            {"role": "exporter", "names": [{"text": "Melita Precision Ltd"}], "country": "MT"},
        ],
        "destination_country": "RU",
        "reason_codes": ["wmd_risk", "diversion_risk"],
        "reason_text": "End user linked to a missile programme procurement network.",
        "denied_on": "2026-03-02",
    }
    denial.update(overrides)
    return denial


def sample_licence(number="MT/LIC/2026/0001", **overrides) -> dict:
    licence = {
        "number": number,
        "type": "individual",
        "exporter": {"role": "exporter", "names": [{"text": "Melita Precision Ltd"}], "country": "MT"},
        "parties": [{"role": "end_user", "names": [{"text": "Sfax Industrial Components SARL"}], "country": "TN"}],
        "destinations": ["TN"],
        "end_use": "Maintenance of textile machinery",
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
        "lines": [
            {"line_no": 1, "control_entry": "2B001", "cn_code": "84581110", "description": "CNC lathe",
             "quantity": "10", "unit": "pcs", "value": "500000.00", "currency": "EUR"},
            {"line_no": 2, "cn_code": "84669340", "description": "Spare parts", "quantity": "200", "unit": "kg"},
        ],
    }
    licence.update(overrides)
    return licence


@pytest.fixture
def node_dir(tmp_path) -> Path:
    data_dir = tmp_path / "mt"
    settings = Settings(node_id="MT", name="Malta", base_url="http://127.0.0.1:8701")
    initialise(data_dir, settings, dt.datetime.now(dt.timezone.utc))
    return data_dir


@pytest.fixture
def app(node_dir):
    application = create_app(node_dir)
    yield application
    application.extensions["cordon"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def bearer(app, client):
    """bearer("read", "publish") -> headers with a fresh token holding those scopes."""
    counter = {"n": 0}

    def make(*scopes):
        counter["n"] += 1
        registry = ClientRegistry(app.extensions["cordon"].db())
        c, secret = registry.create(f"client{counter['n']}", list(scopes), actor="test")
        response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(c.client_id, secret))
        assert response.status_code == 200, response.get_json()
        return {"Authorization": "Bearer " + response.get_json()["access_token"]}

    return make
