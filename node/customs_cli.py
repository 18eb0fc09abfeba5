"""Command line for customs: ``cordon customs check|reverse|history|mismatches`` and
``cordon licence verify``.

The commands act on the node's data directory directly, like the other
``cordon`` commands, with the actor ``cli:<user>`` in the audit trail.
``customs check`` exits 0 when the shipment was accepted and written off,
2 for any other answer; ``licence verify`` exits 0 when the peer confirmed the
licence, 2 when it did not (unknown there, not disclosed, refused or
unreachable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .command_group import CordonGroup, actor


DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CORDON_DATA_DIR",
    default=Path("./cordon-data"), show_default=True, show_envvar=True, help="The node's data directory.",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")


def node_app(data_dir: Path):
    """The node's app (not served), so that commands use the same services as the API."""
    from .app import create_app
    from .runtime import NodeRuntime
    from .schema import migrate

    setup = NodeRuntime(data_dir)
    migrate(setup.db())
    setup.close()
    return create_app(data_dir)


def emit(answer: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False) if as_json else text)


def balance_text(before: dict | None, after: dict | None, unit: str) -> str:
    if not before:
        return "  balance: (no such line)"
    text = f"  balance: {before['quantity']} -> {after['quantity']}" + (f" {unit}" if unit else "")
    if before.get("value") is not None:
        text += f"; value {before['value']} -> {after['value']}"
    return text


# -- customs ------------------------------------------------------------------------
@click.group(cls=CordonGroup)
def customs():
    """Customs: check declarations against this node's licences, reverse write-offs, reports."""


@customs.command("check")
@DATA_DIR
@click.argument("number")
@click.option("--declaration-ref", required=True,
              help="MRN of the declaration, 18 characters ending in a check digit (the idempotency key).")
@click.option("--line", "line_no", type=int, required=True, help="Licence line number.")
@click.option("--cn-code", required=True, help="Declared CN (8 digits) or TARIC (10 digits) code.")
@click.option("--quantity", required=True, help="Declared quantity, e.g. 2 or 12.5.")
@click.option("--unit", required=True, help="Unit of the quantity, as on the licence line.")
@click.option("--value", default=None, help="Declared value (needs --currency).")
@click.option("--currency", default=None, help="ISO 4217 code of the value.")
@click.option("--destination", required=True, help="Country of destination (ISO 3166-1 alpha-2).")
@click.option("--office", "customs_office", required=True, help="Customs office reference, e.g. MT000101.")
@click.option("--declared-at", default=None,
              help="Date/time of the declaration (default: now, or for a declaration already checked the time "
                   "given then, so the same command can be repeated). A repeat with other particulars is refused.")
@click.option("--parties", "parties_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="JSON file with a list of declared parties (screened against denials).")
@JSON
def customs_check(data_dir, number, declaration_ref, line_no, cn_code, quantity, unit, value, currency, destination,
                  customs_office, declared_at, parties_file, as_json):
    """Check a declaration against licence NUMBER and write it off if accepted."""
    from .customs import CustomsDesk
    from .timestamps import to_iso, utc_now

    app = node_app(data_dir)
    runtime = app.extensions["cordon"]
    if declared_at is None:
        # A repeat of the same command (a retry after a timeout) is the same declaration: keep its time.
        earlier = runtime.db().execute("SELECT declared_at FROM customs_checks WHERE declaration_ref = ? "
                                       "AND kind = 'check'", [declaration_ref]).fetchone()
        declared_at = earlier[0] if earlier else to_iso(utc_now())
    body = {"declaration_ref": declaration_ref, "line_no": line_no, "cn_code": cn_code, "quantity": quantity,
            "unit": unit, "destination": destination, "customs_office": customs_office,
            "declared_at": declared_at}
    if value is not None:
        body["value"] = value
    if currency is not None:
        body["currency"] = currency
    if parties_file is not None:
        try:
            body["parties"] = json.loads(parties_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.BadParameter(f"{parties_file} is not JSON ({exc})", param_hint="--parties") from None
    try:
        outcome = CustomsDesk(runtime.db(), runtime.node_id, screening=runtime.extension("screening")).check(
            number, body, actor=actor())
    finally:
        runtime.close()
    answer = outcome.answer
    lines = [f"{answer['declaration_ref']}  licence {number} line {line_no}: {answer['result'].upper()}"
             + ("  (repeat: the stored answer)" if outcome.replayed else ""),
             balance_text(answer["balance_before"], answer["balance_after"],
                          "" if any(r["field"] == "unit" for r in answer["reasons"]) else unit)]
    lines += [f"  - {r['field']}: {r['message']}" for r in answer["reasons"]]
    lines.append(f"  licence status: {answer['licence_status']}")
    emit(answer, as_json, "\n".join(lines))
    sys.exit(0 if answer["result"] == "accepted" else 2)


@customs.command("reverse")
@DATA_DIR
@click.argument("number")
@click.argument("declaration_ref")
@click.option("--reason", required=True, help="Why the write-off is invalidated.")
@click.option("--office", "customs_office", default=None, help="Customs office that invalidates it.")
@JSON
def customs_reverse(data_dir, number, declaration_ref, reason, customs_office, as_json):
    """Reverse the write-off of DECLARATION_REF on licence NUMBER (post-clearance invalidation)."""
    from .customs import CustomsDesk

    body = {"reason": reason}
    if customs_office:
        body["customs_office"] = customs_office
    app = node_app(data_dir)
    runtime = app.extensions["cordon"]
    try:
        answer = CustomsDesk(runtime.db(), runtime.node_id).reverse(number, declaration_ref, body,
                                                                    actor=actor()).answer
    finally:
        runtime.close()
    emit(answer, as_json, f"reversed {answer['declaration_ref']} on licence {number} line {answer['line_no']}: "
                          f"restored {answer['restored']['quantity']}"
                          f"\n{balance_text(answer['balance_before'], answer['balance_after'], '')}"
                          f"\n  licence status: {answer['licence_status']}")


@customs.command("history")
@DATA_DIR
@click.argument("number")
@click.option("--line", "line_no", type=int, default=None, help="Only this line.")
@click.option("--limit", type=int, default=50, show_default=True)
@JSON
def customs_history(data_dir, number, line_no, limit, as_json):
    """Write-off history of licence NUMBER, per line."""
    from .customs_reports import CheckReports

    app = node_app(data_dir)
    runtime = app.extensions["cordon"]
    try:
        history = CheckReports(runtime.db(), runtime.node_id).history(number, actor=actor(), line_no=line_no,
                                                                      limit=limit)
    finally:
        runtime.close()
    lines = [f"licence {number} ({history['licence_status']})"]
    for line in history["lines"]:
        lines.append(f"  line {line['line_no']}: {line['written_off_quantity']} of {line['quantity']} {line['unit']} "
                     f"written off, {line['balance_quantity']} left; {line['accepted']} accepted, "
                     f"{line['reversed']} reversed, {line['refused']} refused")
    for item in history["items"]:
        state = "reversed" if item.get("reversal") else item["result"]
        lines.append(f"  {item['declared_at'][:10]}  {item['declaration_ref']}  line {item['line_no']}  "
                     f"{item['quantity']} {item['unit']}  {item['customs_office']}  {state}")
    emit(history, as_json, "\n".join(lines))


@customs.command("mismatches")
@DATA_DIR
@click.option("--from", "start", default=None, help="First declaration date (default: 30 days before --to).")
@click.option("--to", "end", default=None, help="Last declaration date (default: today).")
@click.option("--office", default=None, help="Only this customs office.")
@JSON
def customs_mismatches(data_dir, start, end, office, as_json):
    """Mismatches (CN code, unit, currency, destination, line) per customs office over a period."""
    import datetime as dt

    from .customs_reports import CheckReports
    from .timestamps import utc_now

    try:
        last = dt.date.fromisoformat(end) if end else utc_now().date()
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=30)
    except ValueError:
        raise click.BadParameter("use dates such as 2026-05-01", param_hint="--from/--to") from None
    app = node_app(data_dir)
    runtime = app.extensions["cordon"]
    try:
        report = CheckReports(runtime.db(), runtime.node_id).mismatches(actor=actor(), start=first, end=last,
                                                                        office=office)
    finally:
        runtime.close()
    lines = [f"mismatches declared {report['from']} to {report['to']}"]
    if not report["offices"]:
        lines.append("  no checks in this period")
    for entry in report["offices"]:
        fields = ", ".join(f"{name} {count}" for name, count in entry["by_field"].items()) or "-"
        lines.append(f"  {entry['customs_office']:12} {entry['mismatches']:>5} of {entry['checks']:>5} checks "
                     f"({entry['rate']})  by field: {fields}")
    emit(report, as_json, "\n".join(lines))


# -- licence ------------------------------------------------------------------------
@click.group(cls=CordonGroup)
def licence():
    """Licences of other states: verify one with its issuing node."""


@licence.command("verify")
@DATA_DIR
@click.option("--peer", required=True, help="Node id of the issuing state, e.g. MT.")
@click.argument("number")
@JSON
def licence_verify(data_dir, peer, number, as_json):
    """Ask PEER whether its licence NUMBER is valid (signed and sealed; answered as its policy allows)."""
    from .licence_verification import LicenceVerifier
    from .runtime import NodeRuntime
    from .schema import migrate

    runtime = NodeRuntime(data_dir)
    migrate(runtime.db())
    try:
        answer = LicenceVerifier(runtime).ask(peer, number, actor=actor())
    finally:
        runtime.close()
    lines = [answer["message"]]
    view = answer.get("licence") or {}
    if view.get("valid_from") or view.get("valid_to"):
        lines.append(f"  valid {view.get('valid_from', '?')} to {view.get('valid_to', '?')}")
    if view.get("destinations"):
        lines.append(f"  destinations: {', '.join(view['destinations'])}")
    for line in view.get("lines") or []:
        balance = f", {line['balance_quantity']} left" if "balance_quantity" in line else ""
        lines.append(f"  line {line['line_no']}: CN {line.get('cn_code', '?')} {line.get('quantity', '?')} "
                     f"{line.get('unit', '')}{balance}")
    emit(answer, as_json, "\n".join(lines))
    sys.exit(0 if answer["outcome"] == "answered" else 2)
