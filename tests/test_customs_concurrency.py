"""Many customs offices write off one licence line at once, against a real ``cordon serve``
with one serving process and with two: the balance never goes below zero, no write-off is
lost or doubled, repeats stay repeats."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from decimal import Decimal

import pytest
import requests
from customs_support import customs_licence, declaration, mrn
from nodeproc import NodeProcess

from node.config import read_settings, write_settings

NUMBER = "MT/LIC/2026/0300"


@pytest.fixture(scope="module", params=[1, 2], ids=["one-serving-process", "two-serving-processes"])
def node(tmp_path_factory, request):
    process = NodeProcess(tmp_path_factory.mktemp("customs") / "mt", "MT", "Malta")
    settings = read_settings(process.data_dir)
    write_settings(process.data_dir, dataclasses.replace(settings, server_workers=request.param))
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def sessions(node):
    publish = node.session("publish", "read")
    token = node.token("customs")
    return publish, token


def fire(url: str, token: str, bodies: list[dict]) -> list[requests.Response]:
    """Send every body at once: one thread and one keep-alive session each, released together."""
    start = threading.Barrier(len(bodies))

    def send(body):
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer " + token
            session.get(url.split("/api/")[0] + "/healthz", timeout=10)  # connect before the race
            start.wait(timeout=30)
            return session.post(url, json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def make_licence(node, publish, number: str, quantity: str) -> str:
    body = customs_licence(number, lines=[{"line_no": 1, "cn_code": "84581110", "quantity": quantity, "unit": "pcs"}])
    response = publish.post(node.url + "/api/v1/licences", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return node.url + f"/api/v1/licences/{number}/checks"


def licence_state(node, publish, number: str) -> tuple[str, str]:
    doc = publish.get(node.url + f"/api/v1/licences/{number}", timeout=10).json()
    return doc["lines"][0]["balance_quantity"], doc["status"]


def test_thirty_parallel_checks_on_ten_units_accept_exactly_ten(node, sessions):
    publish, token = sessions
    url = make_licence(node, publish, NUMBER, "10")
    bodies = [declaration(100 + i, quantity="1", value=None, currency=None) for i in range(30)]
    repeats = [dict(bodies[i]) for i in (0, 1, 2, 3, 4)]
    responses = fire(url, token, bodies + repeats)
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    answers = [r.json() for r in responses]
    by_ref: dict[str, list[dict]] = {}
    for answer in answers:
        by_ref.setdefault(answer["declaration_ref"], []).append(answer)
    assert len(by_ref) == 30
    for ref, same in by_ref.items():
        assert all(a == same[0] for a in same), f"a repeat of {ref} was answered differently"
    results = [same[0]["result"] for same in by_ref.values()]
    assert results.count("accepted") == 10
    assert set(results) - {"accepted"} <= {"licence_invalid", "exceeds_balance"}
    accepted = [same[0] for same in by_ref.values() if same[0]["result"] == "accepted"]
    afters = sorted(Decimal(a["balance_after"]["quantity"]) for a in accepted)
    assert afters == [Decimal(n) for n in range(10)], "each accepted write-off saw the one before it"
    assert all(Decimal(a["balance_after"]["quantity"]) >= 0 for a in answers)
    assert licence_state(node, publish, NUMBER) == ("0", "exhausted")

    history = publish.get(url, timeout=10).json()
    assert history["lines"][0]["accepted"] == 10 and history["lines"][0]["refused"] == 20
    assert len(history["items"]) == 30


def test_uneven_parallel_checks_and_reversals_keep_the_books_exact(node, sessions):
    publish, token = sessions
    number = "MT/LIC/2026/0301"
    url = make_licence(node, publish, number, "40")
    quantities = [Decimal(q) for q in ("1", "2.5", "3", "0.5", "4", "2", "1.5", "5", "3.5", "2") * 3]
    bodies = [declaration(200 + i, quantity=str(q), value=None, currency=None) for i, q in enumerate(quantities)]
    answers = [r.json() for r in fire(url, token, bodies)]
    written = sum((Decimal(a["written_off"]["quantity"]) for a in answers if a["result"] == "accepted"), Decimal(0))
    assert written <= 40
    assert Decimal(licence_state(node, publish, number)[0]) == 40 - written

    accepted = [a["declaration_ref"] for a in answers if a["result"] == "accepted"][:6]
    reversals = [{"reason": "post-clearance invalidation"} for _ in accepted]
    reversal_urls = [f"{url}/{ref}/reversal" for ref in accepted]
    new_checks = [declaration(300 + i, quantity="1", value=None, currency=None) for i in range(6)]
    barrier = threading.Barrier(len(reversals) + len(new_checks))

    def send(target, body):
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer " + token
            barrier.wait(timeout=30)
            return session.post(target, json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(send, target, body) for target, body in zip(reversal_urls, reversals)]
        futures += [pool.submit(send, url, body) for body in new_checks]
        done = [f.result() for f in futures]
    assert all(r.status_code == 201 for r in done), [r.text for r in done]
    restored = sum((Decimal(r.json()["restored"]["quantity"]) for r in done[:6]), Decimal(0))
    taken = sum((Decimal(r.json()["written_off"]["quantity"]) for r in done[6:] if r.json()["result"] == "accepted"),
                Decimal(0))
    balance = Decimal(licence_state(node, publish, number)[0])
    assert balance == 40 - written + restored - taken and balance >= 0

    again = fire(f"{url}/{accepted[0]}/reversal", token, [{"reason": "twice"}] * 4)
    assert sorted(r.status_code for r in again) == [409] * 4
    assert Decimal(licence_state(node, publish, number)[0]) == balance
    assert mrn(200) in {a["declaration_ref"] for a in answers}
