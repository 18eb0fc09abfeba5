"""Denial pages: the list with filters and pagination, one denial with its version history,
and the forms to publish, amend and revoke."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for

from ..denials import DenialRegistry
from ..errors import Conflict, NodeError, ValidationFailed
from ..schemas import DENIAL_STATUSES, REGIMES
from . import access, denial_form

PAGE_SIZE = 25
FILTERS = ("status", "regime", "country", "party", "origin")
HIDDEN_IN_DIFF = ("version", "updated_at", "created_at", "status", "notified_at")


def registry() -> DenialRegistry:
    runtime = access.runtime()
    return DenialRegistry(runtime.db(), runtime.node_id, review_years=runtime.settings.review_years)


def announce(doc: dict) -> None:
    current_app.extensions["cordon_events"].record_changed("denial", doc)


def version_changes(versions: list[dict]) -> list[dict]:
    """Each version with the fields that differ from the one before it."""
    rows, previous = [], None
    for doc in versions:
        if previous is None:
            changed = ["first version"]
        else:
            keys = sorted((set(doc) | set(previous)) - set(HIDDEN_IN_DIFF))
            changed = [denial_form.LABELS.get(k, k) for k in keys if doc.get(k) != previous.get(k)]
            if doc.get("status") != previous.get("status"):
                changed.insert(0, f"status: {previous.get('status')} → {doc.get('status')}")
        rows.append({"doc": doc, "changed": changed})
        previous = doc
    return rows


def render_form(mode: str, values: dict, errors: dict, *, doc: dict | None = None, message: str | None = None,
                status: int = 200):
    title = "Publish a denial" if mode == "new" else f"Amend denial {doc['ref']}"
    summary = [{"key": key, "label": denial_form.label(key), "message": text} for key, text in errors.items()]
    return render_template("ui/denial_form.html", title=title, mode=mode, values=values, errors=errors,
                           summary=summary, doc=doc, message=message, choices=denial_form.CHOICES), status


def all_problems(problems: dict[str, str], doc: dict, rows: list[int]) -> None:
    """Add to the form's own problems (what could not be read) those the registry finds in the rest, so
    that one submission names every field to mend."""
    try:
        registry().validate(doc)
    except NodeError as exc:
        for key, reason in denial_form.form_errors(exc.fields, rows).items():
            problems.setdefault(key, reason)


def register(pages) -> None:
    @pages.route("/denials")
    @access.requires(*access.READ)
    def denials():
        args = request.args
        filters = {name: (args.get(name) or "").strip() for name in FILTERS}
        errors, items, cursor = {}, [], None
        try:
            items, cursor = registry().list(actor=access.actor(), cursor=args.get("cursor") or None,
                                            limit=PAGE_SIZE, **{k: v or None for k, v in filters.items()})
        except ValidationFailed as exc:
            errors = exc.fields
        status = 400 if errors else 200
        return render_template("ui/denials.html", title="Denials", items=items, next_cursor=cursor,
                               filters=filters, errors=errors, statuses=DENIAL_STATUSES, regimes=REGIMES,
                               paged=bool(args.get("cursor")), own=access.runtime().node_id), status

    @pages.route("/denials/new", methods=["GET", "POST"])
    @access.requires(*access.PUBLISH)
    def publish():
        if request.method == "GET":
            return render_form("new", denial_form.values_from_doc(None), {})
        values, doc, problems, rows = denial_form.read_form(request.form)
        if request.form.get("action") == "add_party":
            values["parties"].append(denial_form.blank_party())
            return render_form("new", values, {})
        if problems:
            all_problems(problems, doc, rows)
            return render_form("new", values, problems, message="The denial was not published.", status=400)
        try:
            created = registry().create(doc, actor=access.actor())
        except NodeError as exc:
            return render_form("new", values, denial_form.form_errors(exc.fields, rows),
                               message=f"The denial was not published: {exc.message}.", status=400)
        announce(created)
        flash(f"Denial {created['ref']} was published (version 1).")
        return redirect(url_for("ui.denial", uid=created["uid"]))

    @pages.route("/denials/<uid>")
    @access.requires(*access.READ)
    def denial(uid):
        reg = registry()
        doc = reg.get(uid, actor=access.actor())
        versions = reg.history(uid, actor=access.actor())
        own = doc["origin"] == access.runtime().node_id and g.user["role"] in access.PUBLISH
        return render_template("ui/denial.html", title=f"Denial {doc['ref']}", doc=doc,
                               history=version_changes(versions), editable=own and doc["status"] == "active",
                               revocable=own and doc["status"] != "revoked")

    @pages.route("/denials/<uid>/amend", methods=["GET", "POST"])
    @access.requires(*access.PUBLISH)
    def amend(uid):
        reg = registry()
        if request.method == "GET":  # a form that cannot succeed is not offered
            current = reg.amendable(uid)
            values = denial_form.values_from_doc(current)
            values["version"] = str(current["version"])
            return render_form("amend", values, {}, doc=current)
        current = reg.table.require(uid)
        values, doc, problems, rows = denial_form.read_form(request.form, known=current)
        doc["ref"] = values["ref"] = current["ref"]
        values["version"] = request.form.get("version") or ""
        if request.form.get("action") == "add_party":
            values["parties"].append(denial_form.blank_party())
            return render_form("amend", values, {}, doc=current)
        if problems:
            all_problems(problems, doc, rows)
            return render_form("amend", values, problems, doc=current, message="The denial was not amended.",
                               status=400)
        changed = denial_form.changes(current, doc)
        if not changed:
            return render_form("amend", values, {}, doc=current, status=400,
                               message="Nothing was changed, so no new version was made.")
        if not (values["version"].isascii() and values["version"].isdigit()):
            # Without the version the form was opened at, a change made since could be overwritten unseen.
            values["version"] = str(current["version"])
            return render_form("amend", values, {}, doc=current, status=400,
                               message=f"The denial was not amended: the form did not say which version it was "
                                       f"opened at. It is now at version {current['version']}: check your changes "
                                       f"below against it, then submit again.")
        try:
            amended = reg.amend(uid, changed, actor=access.actor(), expected_version=int(values["version"]))
        except NodeError as exc:
            message = f"The denial was not amended: {exc.message}."
            if isinstance(exc, Conflict) and "version" in exc.fields:
                message = (f"The denial was not amended: someone changed it since you opened this form "
                           f"(it is now at version {current['version']}). Your changes are kept below; "
                           f"compare them with the current version, then submit again.")
                values["version"] = str(current["version"])
            return render_form("amend", values, denial_form.form_errors(
                {k: v for k, v in exc.fields.items() if k not in ("version", "status", "origin")}, rows),
                doc=current, message=message, status=409 if isinstance(exc, Conflict) else 400)
        announce(amended)
        flash(f"Denial {amended['ref']} was amended (version {amended['version']}).")
        return redirect(url_for("ui.denial", uid=uid))

    @pages.route("/denials/<uid>/revoke", methods=["GET", "POST"])
    @access.requires(*access.PUBLISH)
    def revoke(uid):
        reg = registry()
        if request.method == "GET":  # a form that cannot succeed is not offered
            current = reg.revocable(uid)
            return render_template("ui/revoke.html", title=f"Revoke denial {current['ref']}", doc=current,
                                   reason="", errors={}, message=None)
        current = reg.table.require(uid)
        reason = (request.form.get("reason") or "").strip()
        try:
            revoked = reg.revoke(uid, reason, actor=access.actor())
        except NodeError as exc:
            status = 409 if isinstance(exc, Conflict) else 400
            return render_template("ui/revoke.html", title=f"Revoke denial {current['ref']}", doc=current,
                                   reason=reason, errors=exc.fields,
                                   message=f"The denial was not revoked: {exc.message}."), status
        announce(revoked)
        flash(f"Denial {revoked['ref']} was revoked (version {revoked['version']}).")
        return redirect(url_for("ui.denial", uid=uid))
