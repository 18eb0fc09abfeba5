"""The screening page: screen one party against every denial this node can see, with each hit
explained (matched name, signals, score against the threshold), and optionally ask every peer
live, showing which answered, timed out, refused or could not be reached."""

from __future__ import annotations

from flask import current_app, render_template, request

from ..errors import ValidationFailed
from ..party_names import pending
from ..screening import DEFAULT_THRESHOLD
from ..screening_service import audit_screening, parse_parties
from . import access

HITS_PER_PARTY = 10


def form_key(path: str) -> str:
    head = path.split(".", 1)[0]
    return {"name": "names", "names": "names", "parties": "names"}.get(head, head)


def read_threshold(text: str, problems: dict) -> float | None:
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        problems["threshold"] = "must be a number between 0.3 and 1.0, e.g. 0.8"
        return None
    if not 0.3 <= value <= 1.0:
        problems["threshold"] = "must be between 0.3 and 1.0"
    return value


def live_rows(live: dict) -> list[dict]:
    """One row per peer asked: its outcome and, when it answered, its hits."""
    rows = []
    for peer, answers in sorted(live.get("answered", {}).items()):
        hits = [hit for answer in answers for hit in answer.get("hits", [])]
        rows.append({"peer": peer, "outcome": "answered", "hits": hits})
    for outcome in ("timed_out", "refused", "unreachable"):
        rows.extend({"peer": peer, "outcome": outcome, "hits": []} for peer in live.get(outcome, []))
    return rows


def register(pages) -> None:
    @pages.route("/screen", methods=["GET", "POST"])
    @access.requires(*access.READ)
    def screen():
        values = {"names": "", "country": "", "threshold": "", "include_inactive": False, "live": False}
        if request.method == "GET":
            return render_template("ui/screen.html", title="Screening", values=values, errors={}, result=None,
                                   default_threshold=DEFAULT_THRESHOLD)
        form = request.form
        values = {"names": (form.get("names") or "").strip(), "country": (form.get("country") or "").strip(),
                  "threshold": (form.get("threshold") or "").strip(),
                  "include_inactive": form.get("include_inactive") == "yes", "live": form.get("live") == "yes"}
        problems: dict[str, str] = {}
        threshold = read_threshold(values["threshold"], problems)
        names = [line.strip() for line in values["names"].splitlines() if line.strip()]
        parties = []
        if not names:
            problems["names"] = "give the party's name (several spellings: one per line)"
        else:
            try:
                parties = parse_parties({"names": names, "country": values["country"] or None})
            except ValidationFailed as exc:
                for path, reason in exc.fields.items():
                    problems.setdefault(form_key(path), reason)
        if problems:
            return render_template("ui/screen.html", title="Screening", values=values, errors=problems,
                                   result=None, default_threshold=DEFAULT_THRESHOLD), 400
        runtime = access.runtime()
        db = runtime.db()
        service = runtime.extension("screening")
        try:
            hits = service.screen(db, parties, threshold=threshold, include_inactive=values["include_inactive"],
                                  limit=HITS_PER_PARTY)[0]
        except ValidationFailed as exc:
            return render_template("ui/screen.html", title="Screening", values=values,
                                   errors={form_key(k): v for k, v in exc.fields.items()}, result=None,
                                   default_threshold=DEFAULT_THRESHOLD), 400
        live = (current_app.extensions["cordon_live_query"].ask(parties, threshold=threshold, actor=access.actor())
                if values["live"] else None)
        audit_screening(db, access.actor(), parties, [hits], bool(live))
        result = {"hits": hits, "threshold": threshold if threshold is not None else DEFAULT_THRESHOLD,
                  "pending": pending(db), "live": live_rows(live) if live else None,
                  "elapsed_ms": live.get("elapsed_ms") if live else None, "own": runtime.node_id}
        return render_template("ui/screen.html", title="Screening", values=values, errors={}, result=result,
                               default_threshold=DEFAULT_THRESHOLD)
