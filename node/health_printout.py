"""The federation overview as plain text for ``cordon health`` (same data as the dashboard and its JSON)."""

from __future__ import annotations


def duration(seconds) -> str:
    """Whole seconds as a short human text: "in step", "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    if seconds == 0:
        return "in step"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def moment(stamp: str | None, missing: str = "never") -> str:
    """A node timestamp shortened to the second: "2026-03-02 10:00:05Z"."""
    if not stamp:
        return missing
    return stamp.replace("T", " ")[:19] + "Z" if len(stamp) >= 19 and stamp[10:11] == "T" else stamp


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
            for line in [header, *rows]]


def counts(mapping: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(mapping.items())) or "none"


def render(data: dict) -> str:
    return render_coordinator(data) if data["role"] == "coordinator" else render_member(data)


def render_coordinator(data: dict) -> str:
    summary = data["summary"]
    lines = [f"Federation health at {data['generated_at']} (coordinator {data['node_id']}, "
             f"protocol {data['protocol_version']})",
             f"Last poll: {moment(data['last_poll_at'])}   up {summary['up']} · degraded {summary['degraded']} · "
             f"down {summary['down']}" + (f" · not polled {summary['unknown']}" if summary["unknown"] else ""), ""]
    if not data["members"]:
        lines.append("No members: add each with 'cordon peers add FILE --fingerprint FP'.")
        return "\n".join(lines)
    rows = []
    for member in data["members"]:
        rows.append([member["node_id"], member["status"] + (" (stale)" if member["stale"] and member["polled_at"] else ""),
                     moment(member["polled_at"]),
                     f"{member['elapsed_ms']} ms" if member["elapsed_ms"] is not None else "-",
                     member["software_version"] or "-", member["protocol_version"] or "-",
                     "-" if member["overdue_consultations"] is None else str(member["overdue_consultations"]),
                     ", ".join(member["reasons"])])
    lines += table(["MEMBER", "STATUS", "POLLED", "ANSWER", "SOFTWARE", "PROTOCOL", "OVERDUE", "WHY"], rows)
    nodes = data["lag"]["nodes"]
    if len(nodes) > 1:
        lines += ["", "Sync lag (row: origin, column: receiver; * measured from the receiver's last pull)"]
        matrix = []
        for origin in nodes:
            cells = [origin]
            for receiver in nodes:
                if origin == receiver:
                    cells.append("-")
                    continue
                cell = data["lag"]["rows"][origin][receiver]
                text = duration(cell["lag_seconds"]) + ("*" if cell["basis"] == "receiver" else "")
                if cell["failures"]:
                    text += f" ({cell['failures']} failing)"
                cells.append(text)
            matrix.append(cells)
        lines += table(["", *nodes], matrix)
    timely = data["timeliness"]
    lines += ["", f"Notification timeliness (last {timely['window_days']} days): "
              + (f"median {duration(timely['median_seconds'])} over {len(timely['pairs'])} pair(s), "
                 f"{timely['records']} version(s)" if timely["pairs"] else "no versions arrived")]
    for pair in timely["pairs"]:
        lines.append(f"  {pair['origin']} -> {pair['receiver']}: {pair['count']} version(s), median "
                     f"{duration(pair['median_seconds'])}, p90 {duration(pair['p90_seconds'])}, "
                     f"slowest {duration(pair['max_seconds'])}")
    lines += [""] + keys_lines(data["keys_expiring"])
    consult = data["consultations"]
    lines.append(f"Overdue consultations: {consult['overdue']}"
                 + "".join(f"; {node} {count}" for node, count in consult["by_member"].items() if count)
                 + (f" (not reported by {', '.join(consult['not_reported'])})" if consult["not_reported"] else ""))
    mismatches = data["version_mismatches"]
    lines.append("Protocol mismatches: " + (", ".join(f"{m['node_id']} speaks {m['protocol_version']}"
                                                      for m in mismatches) or "none"))
    points = data["history"]["points"]
    if points:
        lines.append(f"Last {data['history']['hours']} h: longest wait {duration(max(p['max_lag_seconds'] for p in points))}, "
                     f"most failures at once {max(p['failures'] for p in points)}, "
                     f"members down at worst {max(p['down'] for p in points)}")
    return "\n".join(lines)


def keys_lines(keys: list[dict]) -> list[str]:
    if not keys:
        return ["Keys expiring within 30 days: none"]
    return ["Keys expiring within 30 days:"] + [
        f"  {key['node_id']} {key['use']} {key['kid']} ends {moment(key['not_after'])} ({key['expires_in_days']} days)"
        for key in keys]


def render_member(data: dict) -> str:
    records = data["records"]
    denial = records.get("denial", {})
    uptime = data.get("uptime_seconds")
    lines = [f"Node {data['node_id']} ({data['role']}), software {data['software_version']}, "
             f"protocol {data['protocol_version']}" + (f", up {duration(uptime)}" if uptime else ""),
             f"Denials: own {counts(denial.get('own', {}))}; received {counts(denial.get('received', {}))}"]
    for record_type, by_status in records.items():
        if record_type != "denial":
            lines.append(f"{record_type.capitalize()}s: {counts(by_status)}")
    consult = data["consultations"]
    lines.append("Overdue consultations: " + (str(consult["overdue"]) if consult["available"] else "not kept here"))
    lines.append("Refusals in the last 24 h: " + counts(data["refusals_24h"]))
    lines += keys_lines(data["keys_expiring"])
    lines.append("")
    if not data["peers"]:
        lines.append("No member peers.")
        return "\n".join(lines)
    rows = [[peer["node_id"], duration(peer["lag_seconds"]), str(peer["outbox_depth"]),
             moment(peer["last_push_ok"]), moment(peer["last_pull_ok"]), moment(peer["last_received"]),
             f"{peer['push_failures']}/{peer['pull_failures']}", moment(peer["next_attempt_at"], "-")]
            for peer in data["peers"]]
    lines += table(["PEER", "BEHIND BY", "OUTBOX", "LAST PUSH", "LAST PULL", "LAST RECEIVED", "FAILS P/P",
                    "NEXT RETRY"], rows)
    return "\n".join(lines)
