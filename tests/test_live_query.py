"""Screening across real nodes: synced denials found locally, live queries answered by policy,
a peer outside the policy refused without any signal, a hung peer reported as timed out."""

from __future__ import annotations


import pytest
from federation_support import Federation, HungPeer, NodeDB, add_peer, init_data_dir, peer, wait_for
from nodeproc import NodeProcess, free_port

from federation.errors import MalformedMessage
from node import live_query
from node.exchange import Exchange
from node.keyring import IDENTITY_NAME
from node.runtime import NodeRuntime
from node.screening_service import PartyQuery

PEERS_FOR_DEADLINE = 30


PARTY = {"role": "end_user", "names": [{"text": "Huaxin Electronics (HK) Limited", "original": True}],
         "country": "HK", "identifiers": []}
EXPORTER = {"role": "exporter", "names": [{"text": "Melita Precision Ltd"}], "country": "MT"}

MT_POLICY = """version: 1
groups:
  sync-partners: {members: [DE]}
  query-partners: {members: [TN]}
  everyone: {members: [DE, TN, FR]}
views:
  no-exporter: {redact: [ref], redact_roles: [exporter]}
rules:
  - name: share-with-de
    match: {record_type: denial, peer_group: sync-partners}
    action: share
    view: no-exporter
  - name: tn-may-ask
    match: {record_type: denial, status: active, peer_group: query-partners}
    action: answer
    answer: hit
inbound:
  - name: in
    peer_group: everyone
    record_types: denial
    max_bytes: 262144
"""


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    fed = Federation(root, ("MT", "DE", "TN", "FR"), settings={"TN": {"peer_timeout_seconds": 2.0}}).init()
    (fed["MT"].data_dir / "policy.yaml").write_text(MT_POLICY, encoding="utf-8")
    fed.peer_all()
    hung_port = free_port()
    hung = NodeProcess(root / "nl", "NL", "Netherlands", port=hung_port)
    peer(fed["TN"], hung)
    fed.start()
    hung_server = HungPeer(hung_port)
    yield fed
    hung_server.close()
    fed.close()


def screen(fed, node_id, name, live=False):
    response = fed.api(node_id).post(fed.url(node_id, "/api/v1/screen"), json={"name": name, "live": live}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_synced_denial_is_found_by_screening_at_the_peer(federation):
    fed = federation
    doc = fed.publish("MT", parties=[PARTY, EXPORTER], destination_country="HK")
    fed.wait_visible("DE", doc["uid"])

    def hit_at_de():
        hits = screen(fed, "DE", "Huaxin Electronics HK Ltd")["results"][0]["hits"]
        return [h for h in hits if h["uid"] == doc["uid"]]

    hits = wait_for(hit_at_de, 60, "the synced party to be screenable at DE", interval=0.5)
    assert hits[0]["origin"] == "MT" and hits[0]["matched_name"] == "Huaxin Electronics (HK) Limited"
    exporter = screen(fed, "DE", "Melita Precision Ltd")["results"][0]["hits"]
    assert [h for h in exporter if h["uid"] == doc["uid"]] == []  # the withheld exporter never reached DE
    assert fed.get("TN", doc["uid"]) is None  # not synced to TN


def test_live_query_answer_only_refusal_and_timeout(federation):
    fed = federation
    doc = fed.publish("MT", parties=[{**PARTY, "names": [{"text": "Orion Dual Systems FZE"}], "country": "AE"},
                                     EXPORTER], destination_country="AE")
    wait_for(lambda: screen(fed, "MT", "Orion Dual Systems FZE")["results"][0]["hits"], 60,
             "MT to index its own denial", interval=0.5)

    answer = screen(fed, "TN", "Orion Dual Systems FZE", live=True)
    live = answer["live"]
    assert "MT" in live["answered"], live
    mt_hits = live["answered"]["MT"][0]["hits"]
    assert [h["ref"] for h in mt_hits] == [doc["ref"]]
    assert type(mt_hits[0]["score"]) is float  # a number, as local hits have
    assert "record" not in mt_hits[0]  # hit level only: no content
    assert live["timed_out"] == ["NL"]
    assert live["elapsed_ms"] < 2000 + 1500

    refused = screen(fed, "FR", "Orion Dual Systems FZE", live=True)["live"]
    assert "MT" in refused["refused"] and "MT" not in refused["answered"]
    nothing = screen(fed, "FR", "Completely Unknown Name Trading", live=True)["live"]
    assert "MT" in nothing["refused"]  # the same refusal whether or not there is a hit


    mt = NodeDB(fed["MT"])
    assert mt.value("SELECT count(*) FROM refusals WHERE code = 'query_not_allowed' AND peer = 'FR'") >= 2
    assert mt.value("SELECT count(*) FROM audit_log WHERE action = 'query.answer' AND target = 'TN'") >= 1
    assert mt.value("SELECT count(*) FROM disclosures WHERE channel = 'query' AND peer = 'TN' AND uid = ?",
                    (doc["uid"],)) == 1
    tn = NodeDB(fed["TN"])
    assert tn.value("SELECT count(*) FROM audit_log WHERE action = 'query.ask'") >= 1


def test_a_live_answer_reveals_no_party_or_field_the_view_withholds(federation):
    """DE's view leaves out exporters and the national reference: a live query on the exporter's name is no
    hit (a hit would tell DE who the exporter is), and a hit on the end-user carries no reference."""
    fed = federation
    end_user = {**PARTY, "names": [{"text": "Borealis Lasertech Oy"}], "country": "FI"}
    exporter = {**EXPORTER, "names": [{"text": "Valletta Opticals Ltd"}]}
    doc = fed.publish("MT", parties=[end_user, exporter], destination_country="FI")
    wait_for(lambda: screen(fed, "MT", "Valletta Opticals Ltd")["results"][0]["hits"], 60,
             "MT to index its own denial", interval=0.5)

    live = screen(fed, "DE", "Valletta Opticals Ltd", live=True)["live"]
    assert "MT" in live["answered"], live
    assert [hit for hit in live["answered"]["MT"][0]["hits"] if hit["uid"] == doc["uid"]] == []

    live = screen(fed, "DE", "Borealis Lasertech Oy", live=True)["live"]
    (hit,) = [hit for hit in live["answered"]["MT"][0]["hits"] if hit["uid"] == doc["uid"]]
    assert hit["matched_name"] == "Borealis Lasertech Oy"
    assert [party["role"] for party in hit["record"]["parties"]] == ["end_user"]
    assert hit["ref"] is None and "ref" not in hit["record"]


def test_a_party_member_the_protocol_does_not_know_is_ignored_by_the_answering_node(federation):
    """docs/protocol.md: a receiver ignores members it does not know (a later version may add some), while
    the local API refuses them."""
    import time
    import uuid

    fed = federation
    runtime = NodeRuntime(fed["TN"].data_dir)
    try:
        exchange = Exchange(runtime)
        asker = live_query.LiveQuery(exchange)
        (mt,) = [p for p in exchange.peers() if p.node_id == "MT"]
        body = {"parties": [{"names": ["Orion Dual Systems FZE"], "country": None, "identifiers": [],
                             "kind": "organisation"}], "threshold": None, "request_id": uuid.uuid4().hex}
        outcome, answers = asker._ask_one(mt, body, time.monotonic() + 20, exchange.sender())
        asker.stop()
    finally:
        runtime.close()
    assert outcome == "answered" and [a["query"] for a in answers] == [0], (outcome, answers)
    local = fed.api("TN").post(fed.url("TN", "/api/v1/screen"), timeout=30,
                               json={"parties": [{"name": "Orion Dual Systems FZE", "kind": "organisation"}]})
    assert local.status_code == 400 and local.json()["fields"] == {"parties.0.kind": "unknown field"}


@pytest.mark.parametrize("answer", [
    {"answers": [{"query": 0, "hits": []}, {"query": 1, "hits": []}], "request_id": "other"},  # another query's
    {"answers": [{"query": 0, "hits": []}, {"query": 1, "hits": []}]},  # no request id
    {"answers": [{"query": 0, "hits": []}], "request_id": "q1"},  # one party missing
    {"answers": [{"query": 1, "hits": []}, {"query": 0, "hits": []}], "request_id": "q1"},  # out of order
    {"answers": [{"query": 0}, {"query": 1, "hits": []}], "request_id": "q1"},  # no hits
    {"answers": [{"query": 0, "hits": ["MT/DEN/1"]}, {"query": 1, "hits": []}], "request_id": "q1"},
    {"answers": "none", "request_id": "q1"},
    {"answers": [{"query": 0, "hits": [{"hit": True, "score": "high"}]}, {"query": 1, "hits": []}], "request_id": "q1"},
    {"answers": [{"query": 0, "hits": [{"hit": True, "score": "NaN"}]}, {"query": 1, "hits": []}], "request_id": "q1"},
    {"answers": [{"query": 0, "hits": [{"hit": True, "score": "1e999"}]}, {"query": 1, "hits": []}], "request_id": "q1"},
])
def test_an_answer_not_to_this_query_or_not_well_formed_is_not_taken(answer):
    body = {"parties": [{"names": ["A Trading"]}, {"names": ["B Trading"]}], "request_id": "q1"}
    with pytest.raises(MalformedMessage):
        live_query.answers_to(body, answer)
    good = {"answers": [{"query": 0, "hits": [{"hit": True, "score": "0.9100"}]}, {"query": 1, "hits": []}],
            "request_id": "q1"}
    assert live_query.answers_to(body, good) == [{"query": 0, "hits": [{"hit": True, "score": 0.91}]},
                                                 {"query": 1, "hits": []}]


def test_time_before_sending_counts_against_the_peer_timeout(tmp_path):
    """The per-peer timeout is a deadline from the start of the ask: preparing (sealing and signing)
    the requests to many peers takes longer than a very short timeout, and the requests that could
    only go out after it are not sent; the answer is not delayed by them."""
    init_data_dir(tmp_path / "mt", "MT")
    hung = {}
    for n in range(PEERS_FOR_DEADLINE):
        node_id = f"P{n:02d}"
        port = free_port()
        keys = init_data_dir(tmp_path / node_id.lower(), node_id, port=port)
        add_peer(tmp_path / "mt", (tmp_path / node_id.lower() / IDENTITY_NAME, keys.fingerprint()))
        hung[node_id] = HungPeer(port)
    runtime = NodeRuntime(tmp_path / "mt")
    asker = live_query.LiveQuery(Exchange(runtime))
    timeout = 0.02
    try:
        answer = asker.ask([PartyQuery(["Orion Dual Systems FZE"], "AE")], timeout=timeout)
        assert sorted(answer["timed_out"]) == sorted(hung) and answer["answered"] == {}
        assert answer["elapsed_ms"] < (timeout + live_query.GRACE_SECONDS) * 1000 + 300
        sent = sum(server.connections for server in hung.values())
        assert sent < PEERS_FOR_DEADLINE  # some requests were never sent: preparing them outlasted the deadline
        assert NodeDB(tmp_path / "mt").value("SELECT count(*) FROM audit_log WHERE action = 'query.ask'") == 1
    finally:
        asker.stop()
        runtime.close()
        for server in hung.values():
            server.close()
