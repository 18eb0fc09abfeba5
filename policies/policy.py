"""The loaded policy: decisions, explanations, inbound checks, groups.

``load_policy`` / ``parse_policy`` return a ``Policy`` or raise
``PolicyInvalid`` with every issue; ``check_policy`` returns the issues.

A ``Policy`` is immutable after loading. Rules are indexed by peer and
record type up front, so ``decide`` only evaluates the rules that can apply
to that peer, each as a few frozenset lookups. The outcome for a given set
of matching rules is cached (a benign, idempotent cache: concurrent callers
may compute the same value twice, never a different one), so the method is
safe to call from many threads.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from .decision import Decision, Outcome, settle
from .errors import Issue, PolicyInvalid, UnknownGroup, UnknownRecordType
from .inbound import Inbound
from .parser import Parts, parse_document
from .rules import Rule
from .vocabulary import RECORD_TYPES

_OUTCOME_CACHE_LIMIT = 65536


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Policy:
    """A checked, compiled sharing policy. Build it with ``load_policy`` or ``parse_policy``."""

    def __init__(self, parts: Parts, *, source: str, digest: str):
        self.source = source
        self.digest = digest
        self.description = parts.description
        self._groups = parts.groups
        self.rules: tuple[Rule, ...] = tuple(parts.rules)
        self.view_names: tuple[str, ...] = tuple(parts.views)
        self._inbound = Inbound(parts.inbound)

        known: set[str] = set(parts.groups.memberships)
        for rule in self.rules:
            if rule.peer_set is not None:
                known |= rule.peer_set
        self._anyone = self._table(None)
        self._by_peer = {peer: self._table(peer) for peer in known}
        # record type -> bitmask of matching rule indexes -> outcome
        self._outcomes: dict[str, dict[int, Outcome]] = {rt: {} for rt in RECORD_TYPES}

    def _table(self, peer: str | None) -> dict[str, tuple[Rule, ...]]:
        return {
            record_type: tuple(
                rule
                for rule in self.rules
                if record_type in rule.record_types
                and (rule.peer_set is None or (peer is not None and peer in rule.peer_set))
            )
            for record_type in RECORD_TYPES
        }

    # --- decisions -------------------------------------------------------

    def decide(self, record: dict, record_type: str, peer: str) -> Decision:
        """What of ``record`` (of ``record_type``) may leave this node for ``peer``."""
        if not isinstance(record, dict):
            raise TypeError(f"record must be a dict, got {type(record).__name__}")
        table = self._by_peer.get(peer, self._anyone)
        candidates = table.get(record_type)
        if candidates is None:
            raise UnknownRecordType(
                f"unknown record type {record_type!r}; one of: {', '.join(RECORD_TYPES)}"
            )
        matched = 0
        for rule in candidates:
            if rule.matches_record(record, record_type):
                matched |= 1 << rule.index
        outcomes = self._outcomes[record_type]
        outcome = outcomes.get(matched)
        if outcome is None:
            outcome = settle([r for r in candidates if matched >> r.index & 1], record_type)
            if len(outcomes) < _OUTCOME_CACHE_LIMIT:
                outcomes[matched] = outcome
        return Decision(outcome, record_type, peer)

    def explain(self, record: dict, record_type: str, peer: str) -> dict[str, Any]:
        """Every rule with whether it matched and why not, the decision and the exact view."""
        decision = self.decide(record, record_type, peer)
        rules = []
        for rule in self.rules:
            why_not = rule.why_not(record, record_type, peer)
            rules.append(
                {
                    "name": rule.name,
                    "line": rule.line,
                    "action": rule.action,
                    "answer_level": rule.answer_level,
                    "view": rule.view_name or ("(inline)" if rule.projections else None),
                    "matched": not why_not,
                    "why_not": why_not,
                }
            )
        return {
            "policy": {"source": self.source, "digest": self.digest},
            "record_type": record_type,
            "peer": peer,
            "peer_groups": sorted(self.groups_of(peer)),
            "rules": rules,
            "decision": decision.as_dict(),
            "view": decision.view(record),
        }

    def accepts(self, peer: str, record_type: str, size_bytes: int) -> tuple[bool, str]:
        """Whether this node takes a record of that type and size from ``peer``, and why."""
        return self._inbound.accepts(peer, record_type, size_bytes)

    def takes_more_from(self, peer: str, earlier: "Policy", record_types=RECORD_TYPES) -> bool:
        """Whether this policy accepts from ``peer`` something ``earlier`` refused: one of ``record_types`` it
        did not take, or larger records of one."""
        for record_type in record_types:
            now, before = self._inbound.limit(peer, record_type), earlier._inbound.limit(peer, record_type)
            if now is not None and (before is None or now > before):
                return True
        return False

    # --- groups ----------------------------------------------------------

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self._groups.members)

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    def peers_in_group(self, name: str) -> frozenset[str]:
        """Every node id in the group, includes flattened."""
        try:
            return self._groups.peers_in(name)
        except KeyError:
            raise UnknownGroup(f"no group named {name!r} in policy {self.source}") from None

    def groups_of(self, peer: str) -> frozenset[str]:
        """Every group the peer belongs to, directly or through includes."""
        return self._groups.groups_of(peer)

    def __repr__(self) -> str:
        return f"<Policy {self.source} {self.digest[:19]} rules={len(self.rules)}>"


def parse_policy(text: str, filename: str = "<policy>") -> Policy:
    """Parse policy text; raise ``PolicyInvalid`` listing every issue."""
    if not isinstance(text, str):
        raise TypeError("policy text must be a str")
    parts = parse_document(text, filename)
    return Policy(parts, source=filename, digest=_digest(text.encode("utf-8")))


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and parse a policy file; raise ``PolicyInvalid`` listing every issue.

    ``Policy.digest`` is the sha256 of the file's bytes.
    """
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PolicyInvalid([Issue(filename, 1, "(file)", f"cannot read policy file: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyInvalid([Issue(filename, line, "(file)", "policy files must be UTF-8 text")]) from None
    parts = parse_document(text, filename)
    return Policy(parts, source=filename, digest=_digest(data))


def check_policy(path: str | os.PathLike[str]) -> list[Issue]:
    """Every issue in the policy file; [] when it loads cleanly."""
    try:
        load_policy(path)
    except PolicyInvalid as exc:
        return exc.issues
    return []


__all__ = ["Policy", "parse_policy", "load_policy", "check_policy"]
