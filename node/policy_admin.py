"""Changing the sharing policy in force, and seeing what it changes.

``plan`` compares a candidate policy with what every peer holds (the
disclosure ledger): how many records each peer would newly receive, have
updated, or have withdrawn, and from which peers the candidate's inbound
rules take what the policy in force refused. ``apply`` installs the policy
(only if it checks clean), appends a re-evaluation entry to the change log
for every record whose outcome changes for some peer, so push and pull
deliver the new views and the withdrawal tombstones (to every peer: a peer
whose view did not change receives the same view again, a harmless
repeat), resets the pull cursor of each peer it now takes more from, so the
next pull fetches that peer's records again from the start and stores what
was refused before, and audits the change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import sqlite_utils

from policies import Policy, load_policy

from .audit import AuditLog
from .database import write_transaction
from .keyring import write_private_file
from .outbound import SYNCED_TYPES, view_hash
from .peers import PeerRegistry
from .policy_store import POLICY_NAME, PolicyStore
from .timestamps import to_iso, utc_now


@dataclasses.dataclass
class PeerImpact:
    peer: str
    shared: int = 0
    newly_shared: int = 0
    updated: int = 0
    withdrawn: int = 0


@dataclasses.dataclass
class PolicyPlan:
    digest: str
    impacts: list[PeerImpact]
    affected_uids: list[str]
    pull_again: list[str] = dataclasses.field(default_factory=list)


def own_records(db: sqlite_utils.Database, node_id: str):
    for uid, text in db.execute("SELECT uid, doc FROM denials WHERE origin = ? AND status = 'active'", [node_id]):
        yield uid, json.loads(text)


def plan(db: sqlite_utils.Database, node_id: str, policy: Policy, earlier: Policy | None = None) -> PolicyPlan:
    """What putting ``policy`` in force changes; ``earlier``: the policy in force, whose inbound rules the
    candidate's are compared with."""
    active = PeerRegistry(db, node_id).active()
    peers = [p.node_id for p in active]
    pull_again = [p.node_id for p in active if p.role != "coordinator" and earlier is not None
                  and policy.takes_more_from(p.node_id, earlier, SYNCED_TYPES)]
    holdings: dict[tuple[str, str], tuple[str, str]] = {}
    for peer, uid, kind, vhash in db.execute("SELECT peer, uid, kind, view_hash FROM holdings"):
        holdings[(peer, uid)] = (kind, vhash)
    impacts = {peer: PeerImpact(peer) for peer in peers}
    affected: set[str] = set()
    for uid, doc in own_records(db, node_id):
        for peer in peers:
            decision = policy.decide(doc, SYNCED_TYPES[0], peer)
            held = holdings.get((peer, uid))
            holds = held is not None and held[0] == "record"
            impact = impacts[peer]
            if decision.action == "share":
                impact.shared += 1
                if not holds:
                    impact.newly_shared += 1
                    affected.add(uid)
                elif held[1] != view_hash(decision.view(doc)):
                    impact.updated += 1
                    affected.add(uid)
            elif holds:
                impact.withdrawn += 1
                affected.add(uid)
    return PolicyPlan(policy.digest, list(impacts.values()), sorted(affected), pull_again)


def apply(db: sqlite_utils.Database, node_id: str, data_dir: Path, source: Path, *, actor: str,
          now: dt.datetime | None = None) -> PolicyPlan:
    """Install the policy in ``source`` (raises PolicyInvalid and changes nothing if it does not check)."""
    now = now or utc_now()
    policy = load_policy(source)
    text = Path(source).read_text(encoding="utf-8")
    with write_transaction(db):
        result = plan(db, node_id, policy, PolicyStore(data_dir).current())
        stamp = to_iso(now)
        rows = db.execute(
            "SELECT uid, version FROM denials WHERE origin = ? AND uid IN (SELECT value FROM json_each(?))",
            [node_id, json.dumps(result.affected_uids)]).fetchall()
        db.conn.executemany("INSERT INTO changes (record_type, uid, version, at) VALUES ('denial', ?, ?, ?)",
                            [(uid, version, stamp) for uid, version in rows])
        # A new epoch: a pull running meanwhile stores its records but leaves the cursor reset (node.inbound).
        db.conn.executemany("UPDATE peer_state SET pull_cursor = NULL, pull_epoch = pull_epoch + 1 WHERE node_id = ?",
                            [(peer,) for peer in result.pull_again])
        AuditLog(db).append(actor=actor, action="policy.apply", target=policy.digest,
                            detail={"source": str(source), "records_reevaluated": len(rows),
                                    "peers": {i.peer: {"new": i.newly_shared, "updated": i.updated,
                                                       "withdrawn": i.withdrawn} for i in result.impacts},
                                    "pull_again": result.pull_again}, at=now)
        write_private_file(Path(data_dir) / POLICY_NAME, text)
    return result
