"""Properties over generated policies and records.

For every generated policy and record: nothing a decision withholds appears
in its view (redacted fields, parties of redacted roles, fields outside the
vocabulary), withhold yields nothing and answer-hit only identity and the
reference, the decision equals a plain re-statement of the precedence
rules, and the input record is never changed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policies import KEPT_FIELDS, PolicyInvalid, parse_policy
from policies.vocabulary import (
    FIELDS,
    LICENCE_TYPES,
    LINE_FIELDS,
    PARTY_FIELDS,
    PARTY_ROLES,
    REGIMES,
    SENSITIVITIES,
    STATUSES,
    VIEW_PATHS,
)

PEERS = ["DE", "FR", "IT", "TN", "US", "NO", "OSCE-CPC"]
COUNTRIES = ["IR", "CN", "RU", "CL", "PE", "KP"]
ALL_STATUSES = sorted(STATUSES["denial"] | STATUSES["licence"])
REFERENCE = {"denial": "ref", "licence": "number"}
UNKNOWN_FIELD = "internal_note"


sometimes = st.integers(0, 2).map(lambda n: n == 0)  # a condition is present a third of the time


def subset(values, min_size=1):
    return st.lists(st.sampled_from(sorted(values)), min_size=min_size, max_size=len(values), unique=True)


# --- policies ------------------------------------------------------------------


@st.composite
def groups(draw):
    count = draw(st.integers(0, 4))
    out = {}
    for i in range(count):
        members = draw(subset(PEERS))
        includes = draw(st.lists(st.sampled_from([f"g{j}" for j in range(i)]), unique=True)) if i else []
        out[f"g{i}"] = {"members": members, "include": includes} if includes else members
    return out


@st.composite
def view_spec(draw):
    mode = draw(st.sampled_from(["allow", "redact"]))
    paths = sorted(VIEW_PATHS - KEPT_FIELDS) if mode == "redact" else sorted(VIEW_PATHS)
    spec = {mode: draw(st.lists(st.sampled_from(paths), unique=True, max_size=12))}
    roles = draw(st.lists(st.sampled_from(PARTY_ROLES), unique=True, max_size=3))
    if roles:
        spec["redact_roles"] = roles
    return spec


@st.composite
def match_spec(draw, group_names):
    match = {}
    record_type = draw(st.sampled_from([None, "denial", "licence", ["denial", "licence"]]))
    if record_type is not None:
        match["record_type"] = record_type
    explicit = {record_type} if isinstance(record_type, str) else set(record_type or [])
    types = explicit or {"denial", "licence"}
    if types == {"denial"} or (not explicit and draw(st.booleans())):
        if draw(sometimes):
            match["regimes"] = draw(subset(REGIMES))
            types = {"denial"}
    if "regimes" not in match and types != {"denial"} and (explicit <= {"licence"}):
        if draw(sometimes):
            match["licence_type"] = draw(subset(LICENCE_TYPES))
            types = {"licence"}
    if draw(sometimes):
        if explicit and len(types) == 2:
            status = draw(subset(STATUSES["denial"])) + draw(subset(STATUSES["licence"]))
        else:
            status = draw(subset(set().union(*(STATUSES[t] for t in types))))
        match["status"] = sorted(set(status))
    if draw(sometimes):
        match["sensitivity"] = draw(subset(SENSITIVITIES))
    if draw(sometimes):
        match["destination_country"] = draw(subset(COUNTRIES))
    if draw(sometimes):
        match["peers"] = draw(subset(PEERS))
    if group_names and draw(sometimes):
        match["peer_group"] = draw(subset(group_names))
    return match


@st.composite
def policy_spec(draw):
    spec = {"version": 1, "groups": draw(groups())}
    spec["views"] = {f"v{i}": draw(view_spec()) for i in range(draw(st.integers(0, 3)))}
    rules = []
    for i in range(draw(st.integers(0, 8))):
        rule = {"name": f"r{i}", "match": draw(match_spec(sorted(spec["groups"])))}
        rule["action"] = draw(st.sampled_from(["share", "answer", "withhold"]))
        if rule["action"] == "answer":
            rule["answer"] = draw(st.sampled_from(["hit", "detail"]))
        if rule["action"] == "share" or rule.get("answer") == "detail":
            if spec["views"] and draw(st.booleans()):
                rule["view"] = draw(st.sampled_from(sorted(spec["views"])))
            else:
                rule["view"] = draw(view_spec())
        rules.append(rule)
    spec["rules"] = rules
    return spec


# --- records --------------------------------------------------------------------


def text():
    return st.text(alphabet="abcXYZ é漢", min_size=0, max_size=6)


@st.composite
def party(draw):
    role = draw(st.sampled_from([*PARTY_ROLES, "stranger", None]))
    item = {sub: draw(text()) for sub in PARTY_FIELDS if sub != "role" and draw(st.booleans())}
    item["names"] = [{"text": draw(text()), "script": "Latn", "original": True}]
    item["secret"] = "party secret"
    if role is not None:
        item["role"] = role
    return item


@st.composite
def record(draw):
    record_type = draw(st.sampled_from(["denial", "licence"]))
    rec = {name: f"<{name}>" for name in FIELDS[record_type] if draw(st.integers(0, 4))}
    rec.update(uid="u-1", origin="MT", version=draw(st.integers(1, 9)), updated_at="2026-01-01T00:00:00Z")
    rec["status"] = draw(st.sampled_from(ALL_STATUSES + ["unknown"]))
    rec["sensitivity"] = draw(st.sampled_from([*SENSITIVITIES, "top-secret"]))
    rec["parties"] = draw(st.lists(party(), max_size=5))
    rec[UNKNOWN_FIELD] = "never leaves"
    if record_type == "denial":
        rec["regimes"] = draw(st.lists(st.sampled_from(REGIMES), unique=True, max_size=3))
        rec["destination_country"] = draw(st.sampled_from(COUNTRIES))
    else:
        rec["type"] = draw(st.sampled_from(LICENCE_TYPES))
        rec["destinations"] = draw(st.lists(st.sampled_from(COUNTRIES), unique=True, max_size=3))
        rec["exporter"] = {"names": [{"text": "Exporter", "script": "Latn", "original": True}]}
        rec["lines"] = [
            {**{sub: f"<{sub}>" for sub in LINE_FIELDS}, "line_no": n, "secret": "line secret"}
            for n in range(draw(st.integers(0, 3)))
        ]
    return record_type, rec


# --- an independent statement of the semantics -----------------------------------------


def as_list(value):
    return [value] if isinstance(value, str) else list(value)


def resolve(spec_groups):
    resolved = {}

    def members(name):
        if name not in resolved:
            body = spec_groups[name]
            found = set(body if isinstance(body, list) else body.get("members", []))
            for included in [] if isinstance(body, list) else body.get("include", []):
                found |= members(included)
            resolved[name] = found
        return resolved[name]

    for name in spec_groups:
        members(name)
    return resolved


def rule_types(match):
    explicit = "record_type" in match
    types = set(as_list(match["record_type"])) if explicit else {"denial", "licence"}
    if "regimes" in match:
        types.discard("licence")
    if "licence_type" in match:
        types.discard("denial")
    if "status" in match and not explicit:
        types = {t for t in types if set(match["status"]) & STATUSES[t]}
    return types


def oracle_matches(rule, rec, record_type, peer, resolved):
    match = rule["match"]
    if record_type not in rule_types(match):
        return False
    if "peers" in match or "peer_group" in match:
        allowed = set(match.get("peers", []))
        for name in match.get("peer_group", []):
            allowed |= resolved[name]
        if peer not in allowed:
            return False
    if "sensitivity" in match and rec.get("sensitivity") not in match["sensitivity"]:
        return False
    if "status" in match and rec.get("status") not in match["status"]:
        return False
    if "regimes" in match and not set(rec.get("regimes", [])) & set(match["regimes"]):
        return False
    if "destination_country" in match:
        wanted = set(match["destination_country"])
        if record_type == "denial" and rec.get("destination_country") not in wanted:
            return False
        if record_type == "licence" and not set(rec.get("destinations", [])) & wanted:
            return False
    if "licence_type" in match and rec.get("type") not in match["licence_type"]:
        return False
    return True


def oracle_decision(spec, rec, record_type, peer):
    resolved = resolve(spec["groups"])
    matched = [r for r in spec["rules"] if oracle_matches(r, rec, record_type, peer, resolved)]
    withhold = [r for r in matched if r["action"] == "withhold"]
    share = [r for r in matched if r["action"] == "share"]
    answer = [r for r in matched if r["action"] == "answer"]
    if withhold:
        return "withhold", None, withhold, matched
    if share:
        return "share", None, share, matched
    if answer:
        hits = [r for r in answer if r["answer"] == "hit"]
        winners = hits or answer
        return "answer", winners[0]["answer"], winners, matched
    return "withhold", None, [], matched


def view_of(spec, rule):
    return spec["views"][rule["view"]] if isinstance(rule["view"], str) else rule["view"]


# --- the properties ---------------------------------------------------------------------------


def check_view_respects(view, spec_view, record_type):
    roles = set(spec_view.get("redact_roles", []))
    if "allow" in spec_view:
        allowed = set(spec_view["allow"])
        top = {path.split(".")[0] for path in allowed}
        assert set(view) <= KEPT_FIELDS | top
        for container, key in (("parties", "role"), ("lines", "line_no")):
            if container in view and container not in allowed:
                subs = {p.split(".", 1)[1] for p in allowed if p.startswith(container + ".")}
                for item in view[container]:
                    assert set(item) <= subs | {key}
    else:
        redacted = set(spec_view["redact"])
        assert not (set(view) & redacted)
        for container in ("parties", "lines"):
            subs = {p.split(".", 1)[1] for p in redacted if p.startswith(container + ".")}
            for item in view.get(container, []):
                assert not (set(item) & subs)
    for item in view.get("parties", []):
        assert item.get("role") not in roles
    if "exporter" in roles:
        assert "exporter" not in view


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=policy_spec(), generated=st.lists(record(), min_size=1, max_size=10), peer=st.sampled_from(PEERS + ["ZZ"]))
def test_views_never_leak_what_the_decision_withholds(spec, generated, peer):
    policy = parse_policy(yaml.safe_dump(spec, sort_keys=False), "generated.yaml")
    for record_type, rec in generated:
        before = copy.deepcopy(rec)
        decision = policy.decide(rec, record_type, peer)
        view = decision.view(rec)
        assert rec == before
        assert decision.view(rec, copy=False) == view and rec == before  # sharing values changes no field
        event(f"{decision.action} {decision.answer_level} winners={min(len(decision.winning_rules), 2)}")

        action, level, winners, matched = oracle_decision(spec, rec, record_type, peer)
        assert decision.action == action
        assert decision.answer_level == level
        assert decision.winning_rules == tuple(r["name"] for r in winners)
        assert decision.rules == tuple(r["name"] for r in matched)

        # Never anything outside the vocabulary, never a party of unknown role.
        assert UNKNOWN_FIELD not in view
        assert set(view) <= FIELDS[record_type]
        for item in view.get("parties", []):
            assert item.get("role") in PARTY_ROLES and "secret" not in item
        for item in view.get("lines", []):
            assert "secret" not in item

        if action == "withhold":
            assert view == {}
        elif action == "answer" and level == "hit":
            assert set(view) <= KEPT_FIELDS | {REFERENCE[record_type]}
        else:
            for rule in winners:
                check_view_respects(view, view_of(spec, rule), record_type)
        # What is shown is shown unchanged.
        for key in set(view) - {"parties", "lines"}:
            assert view[key] == rec[key]
        for key in KEPT_FIELDS & set(rec):
            if action != "withhold":
                assert view[key] == rec[key]

        report = policy.explain(rec, record_type, peer)
        assert [r["name"] for r in report["rules"] if r["matched"]] == list(decision.rules)
        assert report["view"] == view


# --- the parser never fails with anything but PolicyInvalid -------------------------------

SHIPPED_TEXT = (Path(__file__).resolve().parent.parent / "policies" / "examples" / "eu-dual-use.yaml").read_text()
TOKENS = [
    "version: 1\n", "rules:\n", "  - ", "name: r\n", "match: {}\n", "action: share\n", "view: v\n",
    "groups:\n", "  eu: [DE]\n", "views:\n", "  v: {redact: []}\n", "include: [eu]\n", "&a ", "*a",
    "<<: ", "? [x]\n: y\n", "!!binary aGk=\n", "!custom x\n", "[", "]", "{", "}", ":", "- ", "\t",
    "null\n", "~\n", "NO\n", "0x10\n", "'\n", '"\n', "---\n", "\n", "    ", "peer_group: eu\n",
]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(TOKENS), max_size=40),
    cut=st.integers(0, len(SHIPPED_TEXT)),
    insert=st.sampled_from(TOKENS),
)
def test_parser_only_ever_raises_policy_invalid(pieces, cut, insert):
    for text in ("".join(pieces), SHIPPED_TEXT[:cut] + insert + SHIPPED_TEXT[cut:]):
        try:
            parse_policy(text, "fuzz.yaml")
        except PolicyInvalid as exc:
            assert exc.issues
            for issue in exc.issues:
                assert issue.file == "fuzz.yaml" and issue.line >= 1 and issue.key and issue.message
