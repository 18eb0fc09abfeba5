"""Every kind of policy-file error is reported with file, line and key."""

from __future__ import annotations

import textwrap

import pytest

from policies import Issue, PolicyInvalid, check_policy, load_policy, parse_policy

FILE = "site.yaml"

GOOD_HEAD = """\
version: 1
groups:
  eu: [DE, FR, IT]
  med: [TN, MA]
views:
  no-exporter:
    redact: [contact]
    redact_roles: [exporter]
"""


def issues_of(text: str) -> list[Issue]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(textwrap.dedent(text), FILE)
    return caught.value.issues


def find(issues: list[Issue], line: int, key: str, fragment: str) -> Issue:
    for issue in issues:
        if issue.line == line and issue.key == key and fragment in issue.message:
            return issue
    listing = "\n".join(str(issue) for issue in issues)
    raise AssertionError(f"no issue at line {line} key {key} with {fragment!r}; got:\n{listing}")


def assert_issue(text: str, line: int, key: str, fragment: str) -> None:
    issues = issues_of(text)
    issue = find(issues, line, key, fragment)
    assert str(issue).startswith(f"{FILE}:{line}: {key}: ")


# --- YAML itself ---------------------------------------------------------


def test_malformed_yaml_reports_the_line_of_the_problem():
    text = "version: 1\nrules:\n  - name: a\n    match: {record_type: denial\n    action: share\n"
    issues = issues_of(text)
    assert len(issues) == 1
    assert issues[0].key == "(yaml)"
    assert "malformed YAML" in issues[0].message
    assert issues[0].line in (4, 5, 6)


def test_tab_indentation_is_malformed_yaml():
    issues = issues_of("version: 1\ngroups:\n\teu: [DE]\n")
    assert issues[0].key == "(yaml)" and issues[0].line == 3


def test_empty_file_is_an_issue():
    assert_issue("", 1, "(top)", "empty policy")
    assert_issue("# only a comment\n", 1, "(top)", "empty policy")


def test_top_level_must_be_a_mapping():
    assert_issue("- version: 1\n", 1, "(top)", "expected a mapping, got a list")


def test_two_documents_are_refused():
    issues = issues_of("version: 1\n---\nversion: 1\n")
    assert issues[0].key == "(yaml)"


def test_merge_keys_are_refused():
    text = """\
    version: 1
    views:
      base: &base
        redact: [contact]
      other:
        <<: *base
        redact_roles: [exporter]
    """
    assert_issue(text, 6, "views.other.<<", "merge keys are not supported")


# --- version and top level ------------------------------------------------


def test_missing_version():
    assert_issue("rules: []\n", 1, "version", "missing required key")


def test_unsupported_version():
    assert_issue("version: 2\n", 1, "version", "unsupported policy version 2")


def test_version_of_wrong_type():
    assert_issue('version: "1"\n', 1, "version", "expected an integer, got the string '1'")


def test_unknown_top_level_key_with_suggestion():
    assert_issue("version: 1\ngroup: {}\n", 2, "group", "did you mean 'groups'?")


# --- unknown keys at every level -----------------------------------------


@pytest.mark.parametrize(
    "text, line, key",
    [
        (GOOD_HEAD + "  v2:\n    redact: []\n    hide: [contact]\n", 11, "views.v2.hide"),
        ("version: 1\ngroups:\n  g:\n    members: [DE]\n    includes: [x]\n", 5, "groups.g.includes"),
        (
            GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: withhold\n    priority: 3\n",
            13,
            "rules.r.priority",
        ),
        (
            GOOD_HEAD + "rules:\n  - name: r\n    match:\n      regime: [NSG]\n    action: withhold\n",
            12,
            "rules.r.match.regime",
        ),
        (
            "version: 1\ninbound:\n  - name: i\n    record_types: denial\n    max_bytes: 10\n"
            "    max_size: 5\n",
            6,
            "inbound.i.max_size",
        ),
    ],
)
def test_unknown_keys_are_reported_at_every_level(text, line, key):
    assert_issue(text, line, key, "unknown key")


def test_unknown_match_key_suggests_the_right_one():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match:\n      regime: [NSG]\n    action: withhold\n"
    assert_issue(text, 12, "rules.r.match.regime", "did you mean 'regimes'?")


# --- wrong types -----------------------------------------------------------


def test_rules_must_be_a_list():
    assert_issue("version: 1\nrules:\n  r: {}\n", 3, "rules", "expected a list, got a mapping")


def test_match_must_be_a_mapping():
    text = "version: 1\nrules:\n  - name: r\n    match: [denial]\n    action: withhold\n"
    assert_issue(text, 4, "rules.r.match", "expected a mapping, got a list")


def test_group_members_must_be_strings():
    assert_issue("version: 1\ngroups:\n  g: [DE, 12]\n", 3, "groups.g", "expected a string, got the integer 12")


def test_max_bytes_must_be_an_integer():
    text = "version: 1\ninbound:\n  - name: i\n    record_types: denial\n    max_bytes: 10kb\n"
    assert_issue(text, 5, "inbound.i.max_bytes", "expected an integer, got the string '10kb'")


def test_max_bytes_must_be_positive():
    text = "version: 1\ninbound:\n  - name: i\n    record_types: denial\n    max_bytes: 0\n"
    assert_issue(text, 5, "inbound.i.max_bytes", "positive")


def test_rule_name_must_be_a_string():
    text = "version: 1\nrules:\n  - name: [a]\n    match: {}\n    action: withhold\n"
    assert_issue(text, 3, "rules[1].name", "expected a string, got a list")


def test_view_must_be_name_or_mapping():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: share\n    view: [contact]\n"
    assert_issue(text, 13, "rules.r.view", "expected a view name or an inline view")


# --- missing keys ------------------------------------------------------------


def test_rule_missing_keys_are_each_reported():
    issues = issues_of("version: 1\nrules:\n  - name: r\n")
    find(issues, 3, "rules.r.match", "missing required key")
    find(issues, 3, "rules.r.action", "missing required key")


def test_inbound_missing_keys_are_each_reported():
    issues = issues_of("version: 1\ninbound:\n  - peers: [DE]\n")
    for key in ("name", "record_types", "max_bytes"):
        find(issues, 3, f"inbound[1].{key}", "missing required key")


# --- unknown references ----------------------------------------------------------


def test_unknown_group_in_rule():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {peer_group: ue}\n    action: withhold\n"
    issue = find(issues_of(text), 11, "rules.r.match.peer_group", "unknown group 'ue'")
    assert "did you mean 'eu'?" in issue.message
    assert "known groups: eu, med" in issue.message


def test_unknown_group_in_include():
    text = "version: 1\ngroups:\n  g:\n    members: [DE]\n    include: [nowhere]\n"
    assert_issue(text, 5, "groups.g.include", "unknown group 'nowhere'")


def test_unknown_group_in_inbound():
    text = (
        "version: 1\ninbound:\n  - name: i\n    peer_group: eu\n"
        "    record_types: denial\n    max_bytes: 10\n"
    )
    assert_issue(text, 4, "inbound.i.peer_group", "unknown group 'eu'; known groups: none defined")


def test_unknown_view():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: share\n    view: no-exportr\n"
    issue = find(issues_of(text), 13, "rules.r.view", "unknown view 'no-exportr'")
    assert "did you mean 'no-exporter'?" in issue.message


# --- unknown vocabulary values -----------------------------------------------------


def rule_with(match_line: str, action: str = "withhold") -> str:
    return GOOD_HEAD + f"rules:\n  - name: r\n    match:\n      {match_line}\n    action: {action}\n"


@pytest.mark.parametrize(
    "match_line, key, fragment",
    [
        ("regimes: [WA-DU, WASSENAAR]", "regimes", "unknown regime 'WASSENAAR'"),
        ("status: [active, withdrawn]", "status", "unknown status 'withdrawn'"),
        ("sensitivity: secret", "sensitivity", "unknown sensitivity 'secret'"),
        ("record_type: license", "record_type", "unknown record type 'license' (did you mean 'licence'?)"),
        ("licence_type: open", "licence_type", "unknown licence type 'open'"),
    ],
)
def test_unknown_vocabulary_values(match_line, key, fragment):
    assert_issue(rule_with(match_line), 12, f"rules.r.match.{key}", fragment)


def test_unknown_action():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: publish\n"
    assert_issue(text, 12, "rules.r.action", "unknown action 'publish'")


def test_unknown_answer_level():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: answer\n    answer: full\n"
    assert_issue(text, 13, "rules.r.answer", "unknown answer level 'full'")


def test_unknown_party_role_in_view():
    text = "version: 1\nviews:\n  v:\n    redact: []\n    redact_roles: [exporter, shipper]\n"
    assert_issue(text, 5, "views.v.redact_roles", "unknown party role 'shipper'")


def test_unknown_field_in_view():
    text = "version: 1\nviews:\n  v:\n    allow: [ref, parties.email]\n"
    assert_issue(text, 4, "views.v.allow", "unknown field 'parties.email'")


# --- country codes and node ids ------------------------------------------------------


def test_invalid_destination_country():
    assert_issue(rule_with("destination_country: [CN, XX]"), 12, "rules.r.match.destination_country",
                 "'XX' is not an ISO 3166-1 alpha-2 country code")


def test_lower_case_country_gets_a_hint():
    assert_issue(rule_with("destination_country: ir"), 12, "rules.r.match.destination_country",
                 "did you mean 'IR'?")


def test_uk_is_not_an_iso_code():
    assert_issue("version: 1\ngroups:\n  g: [DE, UK]\n", 3, "groups.g", "did you mean 'GB'?")


def test_lower_case_node_id():
    assert_issue("version: 1\ngroups:\n  g: [de]\n", 3, "groups.g", "node ids are upper case: write 'DE'")


def test_malformed_node_id():
    assert_issue(rule_with("peers: [OSCE CPC]"), 12, "rules.r.match.peers", "is not a node id")


def test_non_state_node_ids_are_accepted():
    policy = parse_policy("version: 1\ngroups:\n  coordinators: [OSCE-CPC]\n", FILE)
    assert policy.peers_in_group("coordinators") == {"OSCE-CPC"}


def test_norway_stays_a_string():
    policy = parse_policy("version: 1\ngroups:\n  nordic: [NO, SE, DK, FI, IS]\n", FILE)
    assert "NO" in policy.peers_in_group("nordic")
    assert policy.groups_of("NO") == {"nordic"}


# --- duplicates ------------------------------------------------------------------------


def test_duplicate_group_name():
    text = "version: 1\ngroups:\n  eu: [DE]\n  med: [TN]\n  eu: [FR]\n"
    assert_issue(text, 5, "groups.eu", "duplicate key (first defined at line 3)")


def test_duplicate_view_name():
    text = "version: 1\nviews:\n  v: {redact: []}\n  v: {allow: [ref]}\n"
    assert_issue(text, 4, "views.v", "duplicate key")


def test_duplicate_rule_name():
    text = (
        "version: 1\nrules:\n  - name: r\n    match: {}\n    action: withhold\n"
        "  - name: r\n    match: {}\n    action: withhold\n"
    )
    assert_issue(text, 6, "rules.r.name", "duplicate rule name (first used at line 3)")


def test_duplicate_key_inside_a_rule():
    text = "version: 1\nrules:\n  - name: r\n    match: {}\n    action: share\n    action: withhold\n"
    assert_issue(text, 6, "rules.r.action", "duplicate key (first defined at line 5)")


def test_duplicate_inbound_name():
    text = (
        "version: 1\ninbound:\n"
        "  - {name: i, record_types: denial, max_bytes: 10}\n"
        "  - {name: i, record_types: licence, max_bytes: 10}\n"
    )
    assert_issue(text, 4, "inbound.i.name", "duplicate inbound entry name")


def test_duplicate_group_member():
    assert_issue("version: 1\ngroups:\n  g:\n    - DE\n    - FR\n    - DE\n", 6, "groups.g", "DE is listed twice (first at line 4)")


# --- cycles ---------------------------------------------------------------------------


def test_self_include_is_a_cycle():
    assert_issue("version: 1\ngroups:\n  g: {members: [DE], include: [g]}\n", 3, "groups.g.include",
                 "group include cycle: g -> g")


def test_three_group_cycle():
    text = """\
    version: 1
    groups:
      a: {members: [DE], include: [b]}
      b: {include: [c]}
      c: {include: [a]}
    """
    issues = issues_of(text)
    cycles = [issue for issue in issues if "cycle" in issue.message]
    assert len(cycles) == 1
    assert cycles[0].line == 5 and cycles[0].key == "groups.c.include"
    assert "a -> b -> c -> a" in cycles[0].message


# --- rules that can never match -------------------------------------------------------------


def test_status_that_does_not_exist_for_the_record_type():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match:\n      record_type: licence\n      status: active\n    action: withhold\n"
    assert_issue(text, 13, "rules.r.match.status", "status 'active' does not exist for licence records")


def test_status_that_misses_one_of_the_listed_types():
    text = (
        GOOD_HEAD
        + "rules:\n  - name: r\n    match:\n      record_type: [denial, licence]\n"
        "      status: active\n    action: withhold\n"
    )
    assert_issue(text, 13, "rules.r.match.status", "never matches a licence")


def test_peer_group_without_peers():
    text = "version: 1\ngroups:\n  nobody: []\nrules:\n  - name: r\n    match: {peer_group: nobody}\n    action: withhold\n"
    assert_issue(text, 6, "rules.r.match.peer_group", "resolves to no peers")


def test_group_of_empty_groups_resolves_to_no_peers():
    text = (
        "version: 1\ngroups:\n  a: []\n  b: {include: [a]}\n"
        "rules:\n  - name: r\n    match: {peer_group: b}\n    action: withhold\n"
    )
    assert_issue(text, 7, "rules.r.match.peer_group", "resolves to no peers")


@pytest.mark.parametrize("key", ["destination_country", "regimes", "status", "sensitivity", "peers", "peer_group", "record_type"])
def test_empty_lists_never_match(key):
    assert_issue(rule_with(f"{key}: []"), 12, f"rules.r.match.{key}", "an empty list never matches")


def test_regimes_on_a_licence_rule():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match:\n      record_type: licence\n      regimes: [NSG]\n    action: withhold\n"
    assert_issue(text, 13, "rules.r.match.regimes", "licences carry no regimes")


def test_licence_type_on_a_denial_rule():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match:\n      record_type: denial\n      licence_type: global\n    action: withhold\n"
    assert_issue(text, 13, "rules.r.match.licence_type", "never matches a denial")


def test_regimes_and_licence_type_together_match_nothing():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match:\n      regimes: [NSG]\n      licence_type: global\n    action: withhold\n"
    assert_issue(text, 12, "rules.r.match", "no record type can satisfy this match")


# --- views and actions ----------------------------------------------------------------------


def test_view_with_allow_and_redact():
    assert_issue("version: 1\nviews:\n  v:\n    allow: [ref]\n    redact: [contact]\n", 5, "views.v.redact", "either allow or redact")


def test_view_with_neither_allow_nor_redact():
    assert_issue("version: 1\nviews:\n  v:\n    redact_roles: [exporter]\n", 4, "views.v", "needs allow")


def test_identity_fields_cannot_be_redacted():
    assert_issue("version: 1\nviews:\n  v:\n    redact: [contact, uid]\n", 4, "views.v.redact", "uid is an identity field")


def test_party_role_cannot_be_named_in_a_view():
    assert_issue("version: 1\nviews:\n  v:\n    redact: [parties.role]\n", 4, "views.v.redact", "use redact_roles")


def test_share_rule_without_view():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: share\n"
    assert_issue(text, 12, "rules.r.view", "a share rule needs a view")


def test_answer_detail_without_view():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: answer\n    answer: detail\n"
    assert_issue(text, 12, "rules.r.view", "answer: detail rule needs a view")


def test_withhold_rule_with_view():
    text = GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: withhold\n    view: no-exporter\n"
    assert_issue(text, 13, "rules.r.view", "a withhold rule shows nothing")


def test_answer_hit_with_view():
    text = (
        GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: answer\n    answer: hit\n"
        "    view: no-exporter\n"
    )
    assert_issue(text, 14, "rules.r.view", "the view would never be used")


def test_answer_level_on_a_share_rule():
    text = (
        GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: share\n    answer: detail\n"
        "    view: no-exporter\n"
    )
    assert_issue(text, 13, "rules.r.answer", "answer applies only to action answer")


def test_inline_view_errors_are_located_inside_the_rule():
    text = (
        GOOD_HEAD + "rules:\n  - name: r\n    match: {}\n    action: share\n"
        "    view:\n      allow: [ref, licence_number]\n"
    )
    assert_issue(text, 14, "rules.r.view.allow", "unknown field 'licence_number'")


# --- every issue at once, and the rendering ----------------------------------------------------


def test_all_issues_are_reported_together_sorted_by_line():
    text = """\
    version: 1
    groups:
      eu: [DE, fr]
    views:
      v:
        redact: [nonsense]
    rules:
      - name: a
        match: {peer_group: nope, status: bogus}
        action: shout
        view: missing
    inbound:
      - {name: i, record_types: consultation, max_bytes: -1}
    """
    issues = issues_of(text)
    lines = [issue.line for issue in issues]
    assert lines == sorted(lines)
    keys = {issue.key for issue in issues}
    assert {
        "groups.eu",
        "views.v.redact",
        "rules.a.match.peer_group",
        "rules.a.match.status",
        "rules.a.action",
        "rules.a.view",
        "inbound.i.record_types",
        "inbound.i.max_bytes",
    } <= keys


def test_str_of_policy_invalid_lists_every_issue():
    text = "version: 1\ncolour: blue\nrules:\n  - name: r\n    match: {}\n    action: nope\n"
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, FILE)
    rendered = str(caught.value).splitlines()
    assert rendered[0] == "invalid policy: 2 problems"
    assert rendered[1].startswith("site.yaml:2: colour: unknown key")
    assert rendered[2].startswith("site.yaml:6: rules.r.action: unknown action 'nope'")


# --- files ---------------------------------------------------------------------------------------


def test_load_policy_names_the_file_in_every_issue(tmp_path):
    path = tmp_path / "node-policy.yaml"
    path.write_text("version: 1\nrules:\n  - name: r\n    match: {}\n    action: nope\n")
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    assert str(caught.value.issues[0]).startswith(f"{path}:5: rules.r.action: ")


def test_missing_file_is_an_issue(tmp_path):
    issues = check_policy(tmp_path / "absent.yaml")
    assert len(issues) == 1
    assert issues[0].key == "(file)" and "cannot read policy file" in issues[0].message


def test_non_utf8_file_is_an_issue(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\ndescription: caf\xe9\n")
    issues = check_policy(path)
    assert [(issue.line, issue.key) for issue in issues] == [(2, "(file)")]


def test_check_policy_returns_nothing_for_a_good_file(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_HEAD)
    assert check_policy(path) == []
