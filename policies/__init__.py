"""Cordon's declarative sharing-policy engine.

A policy file (YAML) decides what leaves a node, to which peer, in what
detail, and what the node accepts from its peers. See docs/policies.md.

    policy = load_policy("policies/examples/eu-dual-use.yaml")
    decision = policy.decide(record, "denial", "FR")
    decision.action, decision.view(record)
"""

from .decision import Decision
from .errors import Issue, PolicyError, PolicyInvalid, UnknownGroup, UnknownRecordType
from .policy import Policy, check_policy, load_policy, parse_policy
from .vocabulary import KEPT_FIELDS, RECORD_TYPES

__all__ = [
    "Decision",
    "Issue",
    "KEPT_FIELDS",
    "Policy",
    "PolicyError",
    "PolicyInvalid",
    "RECORD_TYPES",
    "UnknownGroup",
    "UnknownRecordType",
    "check_policy",
    "load_policy",
    "parse_policy",
]
