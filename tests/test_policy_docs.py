"""docs/policies.md stays true: its examples parse, its vocabulary is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies import PolicyInvalid, parse_policy
from policies.rule_parser import INBOUND_KEYS, MATCH_KEYS, RULE_KEYS
from policies.vocabulary import (
    ACTIONS,
    LICENCE_TYPES,
    PARTY_ROLES,
    REGIMES,
    SENSITIVITIES,
    STATUSES,
    VIEW_PATHS,
)

DOC = (Path(__file__).resolve().parent.parent / "docs" / "policies.md").read_text()

# The file behind the sample error output in the docs.
SAMPLE = """\
version: 1
groups:
  med: [TN, MA]
  eu: [DE, FR, UK]
views:
  full:
    redact: []
rules:
  - description: EU denials
    name: share-eu
    match:
      peer_group: ue
    action: shar
    view: full
  - description: the same name again
    match: {}
    action: withhold
    name: share-eu
"""


def yaml_blocks():
    return re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)


def test_complete_yaml_examples_in_the_docs_parse():
    complete = [block for block in yaml_blocks() if block.startswith("version: 1")]
    assert complete
    for block in complete:
        parse_policy(block, "docs.yaml")


@pytest.mark.parametrize("section", ["groups", "views", "rules", "inbound"])
def test_section_examples_in_the_docs_parse(section):
    blocks = [block for block in yaml_blocks() if block.startswith(f"{section}:")]
    assert blocks
    head = "version: 1\ngroups:\n  eu: [DE]\n  nordic: [SE]\n  wassenaar: [FR]\n" if section != "groups" else "version: 1\n"
    views = "views:\n  notification: {redact: []}\n" if section == "rules" else ""
    for block in blocks:
        parse_policy(head + views + block, "docs.yaml")


def test_sample_error_output_is_what_the_engine_prints():
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(SAMPLE, "site.yaml")
    printed = str(caught.value)
    assert printed in DOC


@pytest.mark.parametrize(
    "word",
    sorted(
        set(MATCH_KEYS) | set(RULE_KEYS) | set(INBOUND_KEYS) | set(VIEW_PATHS) | set(REGIMES)
        | set(SENSITIVITIES) | set(LICENCE_TYPES) | set(PARTY_ROLES) | set(ACTIONS)
        | STATUSES["denial"] | STATUSES["licence"]
    ),
)
def test_every_key_field_and_value_is_documented(word):
    blocks = re.findall(r"```.*?```", DOC, flags=re.S)
    spans = re.findall(r"`[^`\n]+`", re.sub(r"```.*?```", "", DOC, flags=re.S))
    code = "\n".join(blocks + spans)
    assert re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w-])", code), f"{word} is not documented"
