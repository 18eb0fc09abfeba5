"""Push keeps each body within what the peer accepts: a backlog larger than the peer's body limit
still arrives by push (split into smaller batches), with no failure left on the peer's state.

Real ``cordon serve`` processes; the push is run on demand with ``cordon jobs run push-peers``.
"""

from __future__ import annotations

import json

from federation_support import NodeDB, start_federation

BACKLOG = 25


def test_a_backlog_bigger_than_the_peers_body_limit_arrives_by_push(tmp_path):
    federation = start_federation(tmp_path, ("MT", "DE"), settings={"DE": {"max_body_bytes": 16_384}})
    try:
        federation.stop("DE")
        published = [federation.publish("MT") for _ in range(BACKLOG)]  # pushes fail while DE is down
        federation.start("DE")
        out = federation["MT"].cli("jobs", "run", "push-peers").stdout
        result = json.loads(out)["peers"]
        assert [peer["ok"] for peer in result] == [True], result
        received = NodeDB(federation["DE"])
        assert received.value("SELECT count(*) FROM denials WHERE origin = 'MT'") == BACKLOG
        assert {row[0] for row in received.rows("SELECT uid FROM received")} == {doc["uid"] for doc in published}
        assert "POST /federation/v1/push 413" in federation["DE"].log()  # the first, too large, attempt
        state = NodeDB(federation["MT"]).peer_state("DE")
        assert state["failures"] == 0 and state["last_error"] is None
    finally:
        federation.close()
