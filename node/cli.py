"""The ``cordon`` command line.

Every command takes ``--data-dir`` (or ``CORDON_DATA_DIR``). Commands act on
the local data directory directly, as the node's administrator; every change
they make is audited with the actor ``cli:<user>``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

import click

from .command_group import CordonGroup, actor, fail

DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CORDON_DATA_DIR",
    default=Path("./cordon-data"), show_default=True, show_envvar=True,
    help="The node's data directory.",
)
NOW = click.option("--now", default=None, help="Run as if it were this time (ISO-8601); what it changes is real: "
                   "a later time expires what is due by then.")


def parse_now(value: str | None) -> dt.datetime:
    from .timestamps import parse_iso, utc_now

    if not value:
        return utc_now()
    try:
        return parse_iso(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use an ISO-8601 date or timestamp, e.g. 2029-03-02T00:00:00Z",
                                 param_hint="'--now'") from None


def runtime_for(data_dir: Path):
    from .runtime import NodeRuntime
    from .schema import migrate

    rt = NodeRuntime(data_dir)
    migrate(rt.db())
    return rt


@click.group(cls=CordonGroup)
@click.version_option(package_name="cordon")
def main():
    """Cordon: a node for sharing strategic-trade-control information with peer states."""
    from .collector import tune

    os.umask(0o077)
    tune()


# -- node set-up ---------------------------------------------------------------
@main.command()
@DATA_DIR
@click.option("--node-id", required=True, help="ISO 3166-1 alpha-2 code of the state (MT), or a name (OSCE-CPC).")
@click.option("--name", required=True, help="Display name, e.g. Malta.")
@click.option("--url", "base_url", required=True, help="Base URL peers reach this node at.")
@click.option("--role", type=click.Choice(["member", "coordinator"]), default="member", show_default=True)
@click.option("--listen", default="", help="host:port to listen on (default: from --url).")
def init(data_dir, node_id, name, base_url, role, listen):
    """Create a data directory: settings, database, signing and encryption keys, identity."""
    from .config import Settings
    from .datadir import initialise
    from .timestamps import utc_now

    settings = Settings(node_id=node_id.upper(), name=name, base_url=base_url.rstrip("/"), role=role, listen=listen)
    keyring = initialise(data_dir, settings, utc_now())
    click.echo(f"Initialised node {settings.node_id} ({settings.name}) in {data_dir}")
    click.echo(f"  identity fingerprint: {keyring.fingerprint()}")
    click.echo(f"  next: cordon clients create NAME --scope read --data-dir {data_dir}")


@main.command()
@DATA_DIR
@click.option("--host", default=None, help="Override the listen host.")
@click.option("--port", type=int, default=None, help="Override the listen port.")
def serve(data_dir, host, port):
    """Run the node (waitress) and its scheduler until stopped with Ctrl-C or SIGTERM."""
    from .config import read_settings
    from .server import configure_logging
    from .server import serve as run

    settings = read_settings(data_dir)
    runtime_for(data_dir).close()
    configure_logging(settings)
    run(data_dir, host=host, port=port)


# -- API clients -----------------------------------------------------------------
@main.group()
def clients():
    """API clients (systems and scripts) and their scopes."""


@clients.command("create")
@DATA_DIR
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="read, publish, customs, admin or coordinator; repeat for several.")
def clients_create(data_dir, name, scopes):
    """Create a client; its secret is shown once and stored only hashed."""
    from .clients import ClientRegistry

    scopes = [s for value in scopes for s in value.replace(",", " ").split()]
    client, secret = ClientRegistry(runtime_for(data_dir).db()).create(name, scopes, actor=actor())
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"scopes:        {' '.join(client.scopes)}")
    click.echo("The secret is shown only now. Get a token with:")
    click.echo(f"  curl -u {client.client_id}:<secret> -d grant_type=client_credentials <node-url>/oauth/token")


@clients.command("list")
@DATA_DIR
def clients_list(data_dir):
    """List clients."""
    from .clients import ClientRegistry

    rows = ClientRegistry(runtime_for(data_dir).db()).list()
    if not rows:
        click.echo("no clients; create one with 'cordon clients create NAME --scope read'")
    for client in rows:
        state = "active" if client.active else f"revoked {client.revoked_at}"
        click.echo(f"{client.client_id}  {client.name:20}  {' '.join(client.scopes):30}  {state}")


@clients.command("revoke")
@DATA_DIR
@click.argument("name_or_id")
def clients_revoke(data_dir, name_or_id):
    """Revoke a client and every token it holds."""
    from .clients import ClientRegistry

    client = ClientRegistry(runtime_for(data_dir).db()).revoke(name_or_id, actor=actor())
    click.echo(f"revoked {client.client_id} ({client.name})")


# -- records ---------------------------------------------------------------------
def import_file(data_dir: Path, file: Path, kind: str):
    from . import importer
    from .database import BulkWork
    from .denials import DenialRegistry
    from .licences import LicenceRegistry

    rt = runtime_for(data_dir)
    db = rt.db()
    who = actor()
    try:
        if kind == "licence":
            registry = LicenceRegistry(db, rt.node_id)
        else:
            registry = DenialRegistry(db, rt.node_id, review_years=rt.settings.review_years)
        total = importer.count_lines(file)
        with contextlib.ExitStack() as stack:
            stack.enter_context(BulkWork(rt.data_dir))  # a serving node's name indexer waits meanwhile
            progress = None
            if total > importer.PIPELINE_LINES:
                progress = stack.enter_context(click.progressbar(
                    length=total, label=f"importing {file.name}", file=sys.stderr, show_pos=True)).update
            if kind == "denial" and total > importer.PIPELINE_LINES:
                report = importer.run_pipelined_import(
                    db, file, registry.preparer,
                    lambda prepared, now: registry.store_prepared(prepared, actor=who, now=now), progress=progress)
            else:
                rows = importer.read_rows(file, kind)
                if kind == "licence":
                    rows = importer.group_licence_rows(rows)
                report = importer.run_bulk_import(db, rows, lambda chunk: registry.import_many(chunk, actor=who),
                                                  progress=progress)
    except importer.RowError as exc:
        fail(str(exc))
    click.echo(f"{file.name}: {report.created} created, {report.amended} amended, "
               f"{report.unchanged} unchanged, {len(report.rejected)} rejected")
    for rejection in report.rejected[:200]:
        click.echo(f"  line {rejection.line}: {rejection.reason}", err=True)
    if len(report.rejected) > 200:
        click.echo(f"  ... and {len(report.rejected) - 200} more rejected rows", err=True)
    rt.close()
    return report


@main.group()
def denials():
    """Denial notifications: import, export, expiry."""


@denials.command("import")
@DATA_DIR
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def denials_import(data_dir, file):
    """Import denials from CSV or JSON Lines; the national reference is the key."""
    report = import_file(data_dir, file, "denial")
    sys.exit(2 if report.rejected else 0)


@denials.command("export")
@DATA_DIR
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default stdout).")
@click.option("--origin", default=None, help="Only records of this origin (default: this node's own).")
@click.option("--all-origins", is_flag=True, help="Also records received from peers.")
def denials_export(data_dir, output, origin, all_origins):
    """Export denials as JSON Lines."""
    from .audit import AuditLog
    from .database import write_transaction
    from .importer import export_jsonl

    if origin and all_origins:
        fail("give --origin or --all-origins, not both")
    rt = runtime_for(data_dir)
    db = rt.db()
    if all_origins:
        cursor = db.execute("SELECT doc FROM denials ORDER BY rowid")
    else:
        cursor = db.execute("SELECT doc FROM denials WHERE origin = ? ORDER BY rowid", [(origin or rt.node_id).upper()])
    docs = (json.loads(row[0]) for row in cursor)
    if output:
        with open(output, "w", encoding="utf-8") as out:
            count = export_jsonl(docs, out)
        click.echo(f"wrote {count} denials to {output}", err=True)
    else:
        count = export_jsonl(docs, sys.stdout)
    with write_transaction(db):
        AuditLog(db).append(actor=actor(), action="denial.export", detail={"count": count})


@denials.command("expire")
@DATA_DIR
@NOW
def denials_expire(data_dir, now):
    """Mark denials past their review date as expired (the daily job, run now)."""
    from .jobs import expire_denials

    result = expire_denials(runtime_for(data_dir), parse_now(now))
    click.echo(f"expired {result['expired']} denial(s)")


@main.group()
def licences():
    """Export licences: import."""


@licences.command("import")
@DATA_DIR
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def licences_import(data_dir, file):
    """Import licences from CSV (one row per line) or JSON Lines; the licence number is the key."""
    report = import_file(data_dir, file, "licence")
    sys.exit(2 if report.rejected else 0)


# -- identity, keys, peers, sync ------------------------------------------------
@main.command()
@DATA_DIR
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Also write the document to a file.")
def identity(data_dir, output):
    """Print this node's signed identity document and its fingerprint."""
    rt = runtime_for(data_dir)
    signed = rt.keyring.signed_identity()
    text = json.dumps(signed, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
    doc = signed["document"]
    click.echo(f"node {doc['node_id']} ({doc['name']}) at {doc['base_url']}, serial {doc['serial']}", err=True)
    click.echo(f"fingerprint: {rt.keyring.fingerprint()}", err=True)
    click.echo("Read the fingerprint to the peer's administrator by phone; they run "
               "'cordon peers add FILE --fingerprint ...'.", err=True)


@main.group()
def peers():
    """Peers: add (after confirming a fingerprint), list, remove."""


@peers.command("add")
@DATA_DIR
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fingerprint", required=True, help="The fingerprint the peer's administrator read to you.")
def peers_add(data_dir, file, fingerprint):
    """Add a peer from its identity document FILE; refuses if the fingerprint differs."""
    from .peers import PeerRegistry

    try:
        signed = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{file}: not a JSON identity document ({exc})")
    rt = runtime_for(data_dir)
    peer = PeerRegistry(rt.db(), rt.node_id).add(signed, fingerprint, actor=actor())
    click.echo(f"added peer {peer.node_id} ({peer.name}) at {peer.base_url}, fingerprint {peer.fingerprint}")
    click.echo(f"its identity: serial {peer.document['serial']}, issued {peer.document['issued_at']} (a peer that "
               "rotated its keys since hands out a later serial: 'cordon identity' on that node)")
    click.echo("Nothing is shared until the policy allows it: see 'cordon policy explain'.")


@peers.command("list")
@DATA_DIR
def peers_list(data_dir):
    """Peers and their sync state."""
    from .peers import PeerRegistry

    rt = runtime_for(data_dir)
    registry = PeerRegistry(rt.db(), rt.node_id)
    states = registry.states()
    head = rt.db().execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
    active = registry.active()
    if not active:
        click.echo("no peers; add one with 'cordon peers add FILE --fingerprint FP'")
    for peer in active:
        st = states.get(peer.node_id, {})
        click.echo(f"{peer.node_id:8} {peer.name:20} {peer.base_url}")
        click.echo(f"    identity:      serial {peer.document['serial']} of {peer.document['issued_at']}, "
                   f"fingerprint {peer.fingerprint}")
        if peer.role == "coordinator" or rt.settings.role == "coordinator":
            click.echo("    records:       none are exchanged with or by a coordinator (it polls members' health)")
            continue
        click.echo(f"    pushed to:     {st.get('last_push_ok') or 'never'}   (outbox: {head - (st.get('push_cursor') or 0)} change(s) after cursor)")
        click.echo(f"    pulled from:   {st.get('last_pull_ok') or 'never'}")
        click.echo(f"    received from: {st.get('last_received') or 'never'}")
        if st.get("failures"):
            click.echo(f"    push failures: {st['failures']} in a row; next try {st.get('next_attempt_at')} "
                       "('cordon sync --peer' tries at once)")
            click.echo(f"    last error:    {st.get('last_error')}")
        if st.get("pull_failures"):
            click.echo(f"    pull failures: {st['pull_failures']} in a row; last error: {st.get('last_pull_error')}")


@peers.command("remove")
@DATA_DIR
@click.argument("node_id")
def peers_remove(data_dir, node_id):
    """Stop all exchange with a peer."""
    from .peers import PeerRegistry

    rt = runtime_for(data_dir)
    peer = PeerRegistry(rt.db(), rt.node_id).remove(node_id, actor=actor())
    held = rt.db().execute("SELECT count(*) FROM denials WHERE origin = ?", [peer.node_id]).fetchone()[0]
    click.echo(f"removed peer {peer.node_id}: nothing is sent to it or accepted from it any more")
    if held:
        click.echo(f"the {held} denial(s) received from {peer.node_id} stay here, read-only, as they were last "
                   "received: no amendment or revocation reaches them until the peer is added again")


@main.command()
@DATA_DIR
@click.option("--peer", default=None, help="Only this peer.")
def sync(data_dir, peer):
    """Exchange with peers now: push our outbox, then pull their changes."""
    from .collector import settle
    from .exchange import Exchange

    rt = runtime_for(data_dir)
    exchange = Exchange(rt)
    settle()
    if rt.settings.role == "coordinator":
        fail("a coordinator exchanges no records; 'cordon health --poll' polls the members")
    failed = False
    for result in exchange.sync(peer.upper() if peer else None):
        push, pull = result["push"], result["pull"]
        push_text = f"sent {push.get('sent', 0)}" if push["ok"] else f"FAILED ({push.get('error') or push.get('skipped')})"
        if push.get("refused_by_peer"):
            push_text += " (refused by the peer: " + ", ".join(
                f"{code} {count}" for code, count in sorted(push["refused_by_peer"].items())) + ")"
        pull_text = (f"stored {pull['stored']}, dropped {pull['dropped']}, unchanged {pull['unchanged']}, "
                     f"refused {pull['refused']}") if pull["ok"] else f"FAILED ({pull['error']})"
        click.echo(f"{result['peer']}: push {push_text}; pull {pull_text}")
        failed = failed or not (push["ok"] and pull["ok"])
    sys.exit(1 if failed else 0)


@main.group()
def keys():
    """The node's keys: rotate, revoke."""


@keys.command("rotate")
@DATA_DIR
def keys_rotate(data_dir):
    """Make new keys, sign the new identity with the old key, and tell peers."""
    from .audit import AuditLog
    from .database import write_transaction
    from .exchange import Exchange
    from .timestamps import utc_now

    rt = runtime_for(data_dir)
    signed = rt.keyring.rotate(utc_now())
    with write_transaction(rt.db()):
        AuditLog(rt.db()).append(actor=actor(), action="keys.rotate", detail={"serial": signed["document"]["serial"]})
    click.echo(f"rotated keys; identity serial {signed['document']['serial']}, new fingerprint {rt.keyring.fingerprint()}")
    tell_peers(Exchange(rt))


@keys.command("revoke")
@DATA_DIR
@click.argument("kid")
def keys_revoke(data_dir, kid):
    """Revoke a key: peers refuse anything it signs after now."""
    from .audit import AuditLog
    from .database import write_transaction
    from .exchange import Exchange
    from .timestamps import utc_now

    rt = runtime_for(data_dir)
    signed = rt.keyring.revoke(kid, utc_now())
    with write_transaction(rt.db()):
        AuditLog(rt.db()).append(actor=actor(), action="keys.revoke", target=kid,
                                 detail={"serial": signed["document"]["serial"]})
    click.echo(f"revoked {kid}; identity serial {signed['document']['serial']}")
    tell_peers(Exchange(rt))


def tell_peers(exchange) -> None:
    """Announce the node's identity to every peer (its chain to a peer that needs it), and say how each went."""
    for peer_id, ok in exchange.announce().items():
        click.echo(f"  told {peer_id}: ok" if ok else
                   f"  told {peer_id}: not delivered now (the reason is logged above); it is told again with the "
                   "next push to it, or follows the chain when it next pulls")


@keys.command("list")
@DATA_DIR
def keys_list(data_dir):
    """This node's keys and their validity."""
    from federation.identity import document_keys

    rt = runtime_for(data_dir)
    for kid, info in document_keys(rt.keyring.document).items():
        click.echo(f"{kid:32} {info.use:4} {info.status:8} {info.not_before} .. {info.not_after or '-'}"
                   + (f" revoked {info.revoked_at}" if info.revoked_at else ""))


# -- sharing policy ---------------------------------------------------------------
@main.group()
def policy():
    """The sharing policy: check, explain, apply."""


def policy_issues_or_exit(path: Path, *, consequence: str = "; the policy in force is unchanged"):
    from policies import check_policy

    issues = check_policy(path)
    if issues:
        for issue in issues:
            click.secho(str(issue), fg="red", err=True)
        fail(f"{path}: {len(issues)} problem(s){consequence}")


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def policy_check(file):
    """Validate a policy file; report every problem with file, line and key."""
    from policies import load_policy

    policy_issues_or_exit(file, consequence="")  # a check touches no node
    loaded = load_policy(file)
    click.echo(f"{file}: ok ({len(loaded.group_names)} groups, {len(loaded.rule_names)} rules, {loaded.digest[:19]})")


@policy.command("explain")
@DATA_DIR
@click.option("--record", "ref", required=True,
              help="Reference or uid of one of this node's denials, or number or uid of one of its licences.")
@click.option("--peer", required=True, help="Peer node id.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Explain with this policy file instead of the one in force.")
def policy_explain(data_dir, ref, peer, policy_file):
    """Show the rules that match, the decision, and the exact view PEER would receive."""
    from policies import load_policy

    rt = runtime_for(data_dir)
    record_type = "denial"
    row = rt.db().execute("SELECT doc FROM denials WHERE origin = ? AND (ref = ? OR uid = ?)",
                          [rt.node_id, ref, ref]).fetchone()
    if not row:  # a licence: what a peer's customs would learn by verifying it
        record_type = "licence"
        row = rt.db().execute("SELECT doc FROM licences WHERE origin = ? AND (number = ? OR uid = ?)",
                              [rt.node_id, ref, ref]).fetchone()
    if not row:
        fail(f"no denial or licence of this node with reference, number or uid {ref!r}")
    if policy_file:
        policy_issues_or_exit(policy_file, consequence="")
    chosen = load_policy(policy_file) if policy_file else rt.policies.current()
    result = chosen.explain(json.loads(row[0]), record_type, peer.upper())
    click.echo(f"policy {result['policy']['source']} ({result['policy']['digest'][:19]})")
    if not rt.db().execute("SELECT 1 FROM peers WHERE node_id = ?", [peer.upper()]).fetchone():
        click.echo(f"note: {peer.upper()} is not a peer of this node; shown as the policy would treat it")
    click.echo(f"peer {result['peer']} is in groups: {', '.join(result['peer_groups']) or '(none)'}")
    for rule in result["rules"]:
        mark = "MATCH" if rule["matched"] else "     "
        why = "" if rule["matched"] else f"  ({'; '.join(rule['why_not'])})"
        click.echo(f"  {mark} line {rule['line']:>3}  {rule['name']} -> {rule['action']}{why}")
    decision = result["decision"]
    click.echo(f"decision: {decision.get('action')}" + (f" ({decision.get('answer_level')})" if decision.get("answer_level") else "")
               + f" - {decision.get('reason', '')}")
    click.echo("view the peer would receive:")
    click.echo(json.dumps(result["view"], indent=2, ensure_ascii=False) if result["view"] else "  (nothing)")


@policy.command("apply")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only show what would change, per peer.")
def policy_apply(data_dir, file, dry_run):
    """Put a policy in force: newly eligible records are pushed, others withdrawn by tombstone."""
    from policies import load_policy

    from . import policy_admin

    policy_issues_or_exit(file)
    rt = runtime_for(data_dir)
    if dry_run:
        result = policy_admin.plan(rt.db(), rt.node_id, load_policy(file), rt.policies.current())
    else:
        result = policy_admin.apply(rt.db(), rt.node_id, rt.data_dir, file, actor=actor())
    click.echo(("would apply" if dry_run else "applied") + f" {file} ({result.digest[:19]})")
    click.echo(f"  {'peer':8} {'shared':>8} {'new':>8} {'updated':>8} {'withdrawn':>9}")
    for impact in result.impacts:
        click.echo(f"  {impact.peer:8} {impact.shared:>8} {impact.newly_shared:>8} {impact.updated:>8} {impact.withdrawn:>9}")
    if not dry_run:
        click.echo(f"  {len(result.affected_uids)} record(s) queued for re-delivery; a running node sends them within seconds")
    if result.pull_again:
        click.echo(f"  {'the next pull would fetch' if dry_run else 'the next pull fetches'} everything again from "
                   f"{', '.join(result.pull_again)}: the inbound rules now take what the earlier ones refused")


@main.command()
@DATA_DIR
@click.option("--peer", required=True, help="Peer node id.")
@click.option("--record", "ref", default=None, help="Only this reference or uid.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def disclosures(data_dir, peer, ref, limit):
    """What a peer received from this node: record, version, view, when and how."""
    rt = runtime_for(data_dir)
    sql = ("SELECT d.at, d.channel, d.kind, d.uid, coalesce(n.ref, ''), d.version, d.view_hash FROM disclosures d "
           "LEFT JOIN denials n ON n.uid = d.uid WHERE d.peer = ?")
    args: list = [peer.upper()]
    if ref:
        sql += " AND (d.uid = ? OR n.ref = ?)"
        args += [ref, ref]
    sql += " ORDER BY d.id DESC LIMIT ?"
    args.append(limit)
    rows = rt.db().execute(sql, args).fetchall()
    if not rows:
        known = rt.db().execute("SELECT 1 FROM peers WHERE node_id = ?", [peer.upper()]).fetchone()
        ever = rt.db().execute("SELECT 1 FROM disclosures WHERE peer = ? LIMIT 1", [peer.upper()]).fetchone()
        if not known and not ever:  # a former peer's disclosures stay listed
            fail(f"{peer.upper()} is not a peer of this node, and nothing was ever disclosed to it")
        click.echo(f"nothing was disclosed to {peer.upper()}" + (f" about {ref}" if ref else ""))
    for at, channel, kind, uid, reference, version, vhash in rows:
        click.echo(f"{at}  {channel:15} {kind:9} {reference or uid:22} v{version}  view {vhash[:12]}")


# -- screening ----------------------------------------------------------------------
def read_party_file(path: Path):
    """Parties to screen from CSV (name, aliases, country, identifiers); bad rows are reported, not fatal."""
    import csv

    from .errors import ValidationFailed
    from .screening_service import parse_parties

    good, bad = [], []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "name" not in [f.strip() for f in reader.fieldnames]:
            fail(f"{path}: the first line must be a header with at least a 'name' column")
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            names = [row.get("name", "")] + [a.strip() for a in row.get("aliases", "").split(";") if a.strip()]
            item = {"names": names}
            if row.get("country"):
                item["country"] = row["country"]
            if row.get("identifiers"):
                item["identifiers"] = [{"scheme": p.split(":", 1)[0].strip(), "value": p.split(":", 1)[1].strip()}
                                       for p in row["identifiers"].split(";") if ":" in p]
            try:
                party = parse_parties(item)[0]
                party.line = reader.line_num
                good.append(party)
            except ValidationFailed as exc:
                bad.append((reader.line_num, "; ".join(f"{k}: {v}" for k, v in exc.fields.items())))
    return good, bad


@main.command()
@DATA_DIR
@click.argument("name", required=False)
@click.option("--country", default=None, help="Country of the party (ISO alpha-2): raises or lowers scores.")
@click.option("--file", "party_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV of parties: name, aliases (;-separated), country, identifiers (SCHEME:VALUE;...).")
@click.option("--live", is_flag=True, help="Also ask every peer, in parallel.")
@click.option("--threshold", type=float, default=None, help="Alert threshold (default: see docs/screening.md).")
@click.option("--all", "include_inactive", is_flag=True, help="Also show revoked and expired denials.")
@click.option("--json", "as_json", is_flag=True, help="Print the full answer as JSON.")
def screen(data_dir, name, country, party_file, live, threshold, include_inactive, as_json):
    """Screen a party (or a CSV of parties) against every denial this node can see."""
    from .errors import ValidationFailed
    from .jobs import index_names
    from .screening_service import ScreeningService, audit_screening, parse_parties
    from .timestamps import utc_now

    if not name and not party_file:
        fail("give a NAME or --file parties.csv")
    rt = runtime_for(data_dir)
    bad = []
    if party_file:
        parties, bad = read_party_file(party_file)
    else:
        try:
            parties = parse_parties({"name": name, **({"country": country} if country else {})})
        except ValidationFailed as exc:
            fail(f"cannot screen {name!r}: " + "; ".join(f"{k} {v}" for k, v in exc.fields.items()))
    if parties:  # on stderr, so that --json output stays clean
        click.echo("loading the name tables screening needs (this can take up to about 20 s)...", err=True)
    index_names(rt, utc_now())  # names stored since the node last indexed them (loads the tables too)
    service = ScreeningService(rt)
    rt.extensions["screening"] = service
    results = service.screen(rt.db(), parties, threshold=threshold, include_inactive=include_inactive) if parties else []
    live_answer = None
    if live and parties:
        from .exchange import Exchange
        from .live_query import LiveQuery

        asker = LiveQuery(Exchange(rt))
        live_answer = asker.ask(parties, threshold=threshold, actor=actor())
        asker.stop()
    if parties:
        audit_screening(rt.db(), actor(), parties, results, live_answer is not None)
    if as_json:
        click.echo(json.dumps({"results": [{"query": p.names, "hits": h} for p, h in zip(parties, results)],
                               "rejected": [{"line": line, "reason": r} for line, r in bad], "live": live_answer},
                              indent=2, ensure_ascii=False))
    else:
        for party, hits in zip(parties, results):
            where = f"line {party.line}: " if party.line else ""
            label = " / ".join(party.names) + (f" ({party.country})" if party.country else "")
            if not hits:
                click.echo(f"{where}{label}: no hit")
                continue
            click.echo(f"{where}{label}: {len(hits)} hit(s)")
            for hit in hits:
                signals = ", ".join(f"{s['name']} {s['contribution']:+.2f}" for s in hit["signals"])
                click.echo(f"  {hit['score']:.2f} (threshold {hit['threshold']:.2f})  {hit['origin']} {hit['ref']} "
                           f"[{hit['status']}] {hit['party_role']}: \"{hit['matched_name']}\" "
                           f"matched \"{hit['query_name']}\"")
                if signals:
                    click.echo(f"       signals: {signals}")
        for line, reason in bad:
            click.echo(f"line {line}: not screened: {reason}", err=True)
        if live_answer:
            click.echo(f"live: answered {', '.join(sorted(live_answer['answered'])) or '-'}, "
                       f"timed out {', '.join(live_answer['timed_out']) or '-'}, "
                       f"refused {', '.join(live_answer['refused']) or '-'}, "
                       f"unreachable {', '.join(live_answer['unreachable']) or '-'} ({live_answer['elapsed_ms']} ms)")
            for peer_id, answers in sorted(live_answer["answered"].items()):
                for answer in answers:
                    for hit in answer["hits"]:
                        detail = " (detail shared)" if "record" in hit else ""
                        click.echo(f"  {peer_id}: hit {hit['ref'] or hit['uid']} score {float(hit['score']):.2f} for "
                                   f"{' / '.join(parties[answer['query']].names)}{detail}")
    if bad:
        sys.exit(2)


# -- audit, backup, jobs ---------------------------------------------------------
@main.group()
def audit():
    """The hash-chained audit trail."""


@audit.command("verify")
@DATA_DIR
@click.option("--anchor", metavar="SEQ:HASH", default=None,
              help="A head printed by an earlier verify and kept elsewhere: check that entry still has that hash "
                   "(detects a log cut back or rewritten with its hashes recomputed).")
def audit_verify(data_dir, anchor):
    """Check the hash chain; name any edited, deleted or reordered entry."""
    from .audit import AuditLog

    kept = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if seq.isascii() and seq.isdigit() and re.fullmatch(r"[0-9a-fA-F]{1,15}", digest):
            fail(f"--anchor: the hash after the colon has {len(digest)} hex digits; give at least the 16 "
                 "that 'cordon audit verify' prints")
        if not (seq.isascii() and seq.isdigit() and re.fullmatch(r"[0-9a-fA-F]{16,64}", digest)):
            fail("--anchor: expected SEQ:HASH as 'cordon audit verify' prints the head (e.g. 1234:9f86d081884c7d65)")
        kept = (int(seq), digest)
    report = AuditLog(runtime_for(data_dir).db()).verify(anchor=kept)
    if report.ok:
        head = AuditLog(runtime_for(data_dir).db()).entries(after=max(report.entries - 1, 0), limit=1)
        tail = f"; head: {head[0]['seq']}:{head[0]['hash'][:16]} (keep it elsewhere; check later with --anchor)" \
            if head else ""
        click.echo(f"audit log intact: {report.entries} entries{tail}"
                   + (f"; entry {kept[0]} still has the hash kept" if kept else ""))
        return
    for problem in report.problems:
        click.secho(problem, fg="red", err=True)
    fail(f"audit log broken: {len(report.problems)} problem(s) in {report.entries} entries")


@audit.command("list")
@DATA_DIR
@click.option("--after", type=click.IntRange(min=0), default=None,
              help="The entries after this sequence number (default: the latest entries).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, help="At most this many entries (default 50).")
@click.option("--action", default=None, help="Only this action, e.g. denial.create.")
@click.option("--actor", default=None, help="Only this actor, e.g. user:maria or a client id.")
@click.option("--target", default=None, help="Only this target, e.g. a record uid.")
def audit_list(data_dir, after, limit, action, actor, target):
    """Print audit entries, oldest first: the latest ones, or those after --after."""
    from .audit import AuditLog

    entries = AuditLog(runtime_for(data_dir).db()).entries(
        after=after or 0, limit=limit, action=action, actor=actor, target=target, latest=after is None)
    if not entries:
        click.echo("no entries" + (" match" if action or actor or target else ""))
    for entry in entries:
        click.echo(f"{entry['seq']:>7}  {entry['at']}  {entry['actor']:24}  {entry['action']:22}  {entry['target']}  "
                   f"{json.dumps(entry['detail'], ensure_ascii=False)}")


@main.command()
@DATA_DIR
@click.argument("path", type=click.Path(path_type=Path))
def backup(data_dir, path):
    """Copy the live node (database, settings, keys, identity) to a new directory PATH."""
    from .backup import make_backup

    summary = make_backup(runtime_for(data_dir), path, actor=actor())
    click.echo(f"backup written to {path}: {summary}")


@main.command()
@DATA_DIR
@click.option("--poll", is_flag=True, help="On a coordinator: poll every member now, then print.")
@click.option("--json", "as_json", is_flag=True, help="Print the overview as JSON (as GET /api/v1/federation/health).")
def health(data_dir, poll, as_json):
    """Federation health: on a coordinator every member from the latest poll; on a member this node and its peers."""
    from .federation_overview import overview
    from .health_printout import render
    from .member_poll import poll_members
    from .timestamps import utc_now

    rt = runtime_for(data_dir)
    if poll:
        polled = poll_members(rt, utc_now())
        if "skipped" in polled:
            fail(f"--poll: {polled['skipped']}; only a coordinator polls its members")
    data = overview(rt, utc_now())
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render(data))


@main.group()
def jobs():
    """Scheduled jobs, run on demand."""


@jobs.command("run")
@DATA_DIR
@click.argument("name")
@NOW
def jobs_run(data_dir, name, now):
    """Run one scheduled job now."""
    from .jobs import JOBS

    if name not in JOBS:
        fail(f"no job {name!r}; jobs: {', '.join(sorted(JOBS))}")
    result = JOBS[name](runtime_for(data_dir), parse_now(now))
    click.echo(json.dumps(result, ensure_ascii=False))


@jobs.command("list")
@DATA_DIR
def jobs_list(data_dir):
    """List scheduled jobs and when they run."""
    from .config import read_settings
    from .jobs import JOBS, triggers

    when = triggers(read_settings(data_dir))
    for name in sorted(JOBS):
        click.echo(f"{name:28} {schedule_text(when[name]) if name in when else 'on demand only'}")


def schedule_text(trigger: dict) -> str:
    """A job's trigger in words: 'every 60 s', 'daily at 02:15 UTC', 'hourly at minute 05'."""
    if trigger.get("trigger") == "interval":
        seconds = trigger.get("seconds", 0) + 60 * trigger.get("minutes", 0) + 3600 * trigger.get("hours", 0)
        return f"every {seconds} s"
    if trigger.get("trigger") == "cron" and "hour" in trigger:
        return f"daily at {trigger['hour']:02d}:{trigger.get('minute', 0):02d} UTC"
    if trigger.get("trigger") == "cron":
        return f"hourly at minute {trigger.get('minute', 0):02d}"
    return str(trigger)


def attach_groups() -> None:
    """Command groups kept in their own modules."""
    from .consultation_cli import consult
    from .customs_cli import customs, licence
    from .users_cli import users

    for group in (customs, licence, consult, users):
        main.add_command(group)


attach_groups()


if __name__ == "__main__":
    main()
