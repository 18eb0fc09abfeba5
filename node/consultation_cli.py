"""``cordon consult``: no-undercut consultations from the command line.

The commands act on the data directory like every ``cordon`` command, and
send what the other side must learn at once (a peer that is down gets it
later from the ``deliver-consultations`` job)::

    cordon consult open --denial UID|REF --transaction tx.json [--days 30] [--text "..."]
    cordon consult open --licence MT/LIC/2026/0001        # from the licence's undercut flag
    cordon consult list [--status open] [--direction inbox] [--overdue]
    cordon consult show UID
    cordon consult reply UID --position maintain_objection --text "..."
    cordon consult outcome UID granted|denied [--text "..."]
    cordon consult withdraw UID --reason "..."
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import click

from .consultation_terms import DIRECTIONS, OUTCOMES, POSITIONS, STATUSES
from .command_group import CordonGroup, actor, fail


DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CORDON_DATA_DIR",
    default=Path("./cordon-data"), show_default=True, show_envvar=True, help="The node's data directory.",
)


def runtime_for(data_dir: Path):
    from .runtime import NodeRuntime
    from .schema import migrate

    runtime = NodeRuntime(data_dir)
    migrate(runtime.db())
    return runtime


def registry_for(runtime):
    from .consultations import ConsultationRegistry

    return ConsultationRegistry(runtime.db(), runtime.node_id, consultation_days=runtime.settings.consultation_days)


def deliver(runtime, doc: dict) -> dict:
    from .consultation_delivery import ConsultationCourier

    peer = doc["consulted_state"] if doc["direction"] == "outbox" else doc["requesting_state"]
    ConsultationCourier(runtime).deliver(peer, force=True)
    return registry_for(runtime).require(doc["uid"])


def delivery_line(state: str | None) -> str:
    return {"delivered": "delivered", "refused": "REFUSED by the peer",
            "pending": "queued: the peer did not answer; it is sent again later"}.get(state or "", "-")


def summary(doc: dict) -> str:
    other = doc["consulted_state"] if doc["direction"] == "outbox" else doc["requesting_state"]
    arrow = "->" if doc["direction"] == "outbox" else "<-"
    refs = ", ".join(doc.get("denial_refs") or []) or ", ".join(doc["denial_uids"])
    outcome = f"  outcome {doc['outcome']['outcome']}" if doc.get("outcome") else ""
    return (f"{doc['uid']}  {doc['direction']:6} {arrow} {other:8} {doc['status']:9} due {doc['response_due'][:10]}  "
            f"{refs}{outcome}")


@click.group(cls=CordonGroup)
def consult():
    """No-undercut consultations with the states that denied an essentially identical transaction."""
    os.umask(0o077)


def denial_uid(rt, value: str) -> str:
    """A denial's uid as given, or looked up by its national reference among the denials this node holds."""
    rows = rt.db().execute("SELECT uid FROM denials WHERE ref = ?", [value]).fetchall()
    if len(rows) > 1:
        fail(f"--denial {value}: several denials have that reference; give the uid")
    if not rows:
        try:
            uuid.UUID(value)
        except ValueError:
            fail(f"--denial {value}: this node holds no denial with that reference, and it is not a uid")
    return rows[0][0] if rows else value


@consult.command("open")
@DATA_DIR
@click.option("--denial", "denials", multiple=True,
              help="the consulted state's denial: its uid, or its reference if this node holds it "
                   "(repeatable).")
@click.option("--consulted-state", default=None, help="Node id of the denying state, if this node does not hold "
                                                       "the denial (a live-query hit).")
@click.option("--transaction", "transaction_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="JSON file: the proposed transaction, denial-shaped.")
@click.option("--licence", "licence_number", default=None,
              help="This node's licence; without --transaction, its undercut flag supplies denial and transaction.")
@click.option("--days", "response_days", type=int, default=None,
              help="Reply deadline in days (default: consultation_days).")
@click.option("--text", default=None, help="Covering note, sent as the first message.")
def consult_open(data_dir, denials, consulted_state, transaction_file, licence_number, response_days, text):
    """Open a consultation and send it to the denying state."""
    rt = runtime_for(data_dir)
    body: dict = {}
    if transaction_file:
        try:
            body["transaction"] = json.loads(transaction_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            fail(f"{transaction_file}: not a JSON file ({exc})")
    elif licence_number:
        body = licence_request(rt, licence_number, denials)
    else:
        fail("give --transaction FILE, or --licence NUMBER of a flagged licence")
    if denials:
        body["denial_uids"] = [denial_uid(rt, value) for value in denials]
    if consulted_state:
        body["consulted_state"] = consulted_state.upper()
    if licence_number:
        body["licence_number"] = licence_number
    if response_days is not None:
        body["response_days"] = response_days
    if text:
        body["text"] = text
    registry = registry_for(rt)
    doc = deliver(rt, registry.open(body, actor=actor()))
    if doc["delivery"]["state"] == "refused":
        registry.discard_refused(doc["uid"], actor=actor())
        fail(f"{doc['consulted_state']} refused the consultation: under its sharing policy this node may not see "
             "that denial; nothing was opened")
    click.echo(f"opened consultation {doc['uid']} with {doc['consulted_state']}, reply due {doc['response_due']}")
    click.echo(f"delivery: {delivery_line(doc['delivery']['state'])}")


def licence_request(rt, number: str, denials) -> dict:
    from .licence_flags import LicenceFlags
    from .licences import LicenceRegistry
    from .screening_service import ScreeningService

    if LicenceRegistry(rt.db(), rt.node_id).table.find_by_key(rt.node_id, number) is None:
        fail(f"--licence {number}: this node holds no licence of that number")
    flags = [f for f in LicenceFlags(rt.db(), rt.node_id, ScreeningService(rt)).flags_for(number)
             if not denials or f["denial_uid"] in denials]
    offers = [f["open_consultation"] for f in flags if f["open_consultation"]]
    if not offers:
        consulted = sorted({f["consultation_uid"] for f in flags if f["consultation_uid"]})
        if consulted:
            fail(f"licence {number}: its undercut flag(s) are consulted on already, in {', '.join(consulted)} "
                 "(cordon consult show UID)")
        fail(f"licence {number} has no undercut flag to consult on; give --denial and --transaction")
    return dict(offers[0]["body"])


@consult.command("list")
@DATA_DIR
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--direction", type=click.Choice(DIRECTIONS), default=None,
              help="inbox: this node is consulted; outbox: this node asked.")
@click.option("--overdue", is_flag=True, help="Only consultations past their reply deadline without an answer.")
@click.option("--limit", type=int, default=50)
@click.option("--json", "as_json", is_flag=True)
def consult_list(data_dir, status, direction, overdue, limit, as_json):
    """List consultations, newest first."""
    items, _ = registry_for(runtime_for(data_dir)).list(actor=actor(), status=status, direction=direction,
                                                        overdue="true" if overdue else None, limit=limit)
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    for doc in items:
        click.echo(summary(doc))
    if not items:
        click.echo("no consultations")


@consult.command("show")
@DATA_DIR
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True)
def consult_show(data_dir, uid, as_json):
    """Show one consultation and its thread."""
    doc = registry_for(runtime_for(data_dir)).get(uid, actor=actor())
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo(summary(doc))
    similarity = doc.get("similarity") or {}
    click.echo(f"similarity: {similarity.get('score')} ({', '.join(similarity.get('matched_fields') or []) or '-'})")
    tx = doc["transaction"]
    click.echo(f"transaction: {tx.get('item_description')} -> {tx.get('destination_country')}")
    for message in doc.get("messages") or []:
        sent = f" [{message['delivery']}]" if message.get("delivery") else ""
        click.echo(f"  {message['at'][:19]}  {message['from']:8} {message['position']:18} {message.get('text') or ''}"
                   f"{sent}")
    if doc.get("outcome"):
        click.echo(f"outcome: {doc['outcome']['outcome']} at {doc['outcome']['at'][:19]}")
    if doc.get("post_facto_notice"):
        click.echo(f"post-facto notice: {doc['post_facto_notice'].get('text')}")


@consult.command("reply")
@DATA_DIR
@click.argument("uid")
@click.option("--position", type=click.Choice(POSITIONS), required=True,
              help="The consulted state answers no_objection, maintain_objection, request_info or info; "
                   "the requesting state sends info or request_info.")
@click.option("--text", default=None, help="The message; required for info, request_info and maintain_objection.")
def consult_reply(data_dir, uid, position, text):
    """Reply in a consultation's thread."""
    rt = runtime_for(data_dir)
    doc = deliver(rt, registry_for(rt).reply(uid, {"position": position, "text": text}, actor=actor()))
    click.echo(f"{position} added to {uid}; status {doc['status']}; "
               f"delivery: {delivery_line(doc['messages'][-1].get('delivery'))}")


@consult.command("outcome")
@DATA_DIR
@click.argument("uid")
@click.argument("outcome", type=click.Choice(OUTCOMES))
@click.option("--text", default=None, help="Reasons; the post-facto notice's text when granted despite an objection.")
@click.option("--licence", "licence_number", default=None, help="This node's licence the decision concerns.")
def consult_outcome(data_dir, uid, outcome, text, licence_number):
    """Record the licensing decision and close the consultation on both sides."""
    rt = runtime_for(data_dir)
    body = {"outcome": outcome, "text": text, **({"licence_number": licence_number} if licence_number else {})}
    doc = deliver(rt, registry_for(rt).record_outcome(uid, body, actor=actor()))
    notice = " with the post-facto notice" if doc.get("post_facto_notice") else ""
    click.echo(f"{uid} closed: {outcome}{notice}; delivery: {delivery_line(doc['outcome'].get('delivery'))}")


@consult.command("withdraw")
@DATA_DIR
@click.argument("uid")
@click.option("--reason", required=True, help="Why the consultation is withdrawn (sent to the consulted state).")
def consult_withdraw(data_dir, uid, reason):
    """Withdraw a consultation this node opened."""
    rt = runtime_for(data_dir)
    doc = deliver(rt, registry_for(rt).withdraw(uid, {"reason": reason}, actor=actor()))
    click.echo(f"{uid} withdrawn; delivery: {delivery_line(doc['withdrawal'].get('delivery'))}")


if __name__ == "__main__":
    consult()
