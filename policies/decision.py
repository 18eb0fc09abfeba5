"""The result of asking a policy about one record for one peer.

Precedence, applied to the rules that match:

1. any matching ``withhold`` rule wins: nothing leaves;
2. else any matching ``share`` rule: the record is sent by sync, in the
   intersection of the views of all matching share rules;
3. else any matching ``answer`` rule: the record is revealed only in answer
   to a live query; ``hit`` beats ``detail``; at ``detail`` the view is the
   intersection of the views of all matching detail rules;
4. else (nothing matches): withhold.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import ANSWER, HIT, SHARE, WITHHOLD, Rule
from .views import ALL_ROLES, EMPTY, Projection


@dataclass(frozen=True)
class Outcome:
    """The peer-independent part of a decision (cached by matched rules)."""

    action: str
    answer_level: str | None
    rules: tuple[str, ...]
    winning_rules: tuple[str, ...]
    projection: Projection


def settle(matched: list[Rule], record_type: str) -> Outcome:
    """Apply the precedence to the rules that matched, in policy order."""
    names = tuple(rule.name for rule in matched)
    by_action: dict[str, list[Rule]] = {SHARE: [], ANSWER: [], WITHHOLD: []}
    for rule in matched:
        by_action[rule.action].append(rule)

    if by_action[WITHHOLD]:
        winners = by_action[WITHHOLD]
        return Outcome(WITHHOLD, None, names, _names(winners), EMPTY)
    if by_action[SHARE]:
        winners = by_action[SHARE]
        return Outcome(SHARE, None, names, _names(winners), _meet(winners, record_type))
    if by_action[ANSWER]:
        hits = [rule for rule in by_action[ANSWER] if rule.answer_level == HIT]
        winners = hits or by_action[ANSWER]
        level = winners[0].answer_level
        return Outcome(ANSWER, level, names, _names(winners), _meet(winners, record_type))
    return Outcome(WITHHOLD, None, names, (), EMPTY)


def _names(rules: list[Rule]) -> tuple[str, ...]:
    return tuple(rule.name for rule in rules)


def _meet(rules: list[Rule], record_type: str) -> Projection:
    projection = rules[0].projection(record_type)
    for rule in rules[1:]:
        projection = projection.meet(rule.projection(record_type))
    return projection


def _quote(names: tuple[str, ...]) -> str:
    noun = "rule" if len(names) == 1 else "rules"
    return f"{noun} " + ", ".join(f"'{name}'" for name in names)


class Decision:
    """What may leave this node: ``action``, ``answer_level`` and ``view()``.

    ``action`` is "share", "answer" or "withhold"; ``answer_level`` is "hit"
    or "detail" for "answer", else None. ``rules`` names every matching rule
    in policy order, ``winning_rules`` those that decided. Immutable.
    """

    __slots__ = ("_outcome", "record_type", "peer")

    def __init__(self, outcome: Outcome, record_type: str, peer: str):
        self._outcome = outcome
        self.record_type = record_type
        self.peer = peer

    @property
    def action(self) -> str:
        return self._outcome.action

    @property
    def answer_level(self) -> str | None:
        return self._outcome.answer_level

    @property
    def rules(self) -> tuple[str, ...]:
        return self._outcome.rules

    @property
    def winning_rules(self) -> tuple[str, ...]:
        return self._outcome.winning_rules

    @property
    def fields(self) -> frozenset[str]:
        """Top-level fields the view may contain (empty when withheld)."""
        return self._outcome.projection.fields

    @property
    def party_fields(self) -> frozenset[str]:
        """Fields kept inside each visible party (empty when withheld)."""
        return self._outcome.projection.party_fields

    def shows_party(self, role) -> bool:
        """True if a match on a party of this role may be answered: at level ``hit`` a party of any known
        role (the answer names no party), otherwise a party the view shows. A party without a known role,
        never."""
        if not isinstance(role, str):
            return False
        if self._outcome.action == ANSWER and self._outcome.answer_level == HIT:
            return role in ALL_ROLES
        return role in self._outcome.projection.roles

    @property
    def redacted_roles(self) -> frozenset[str]:
        """Party roles that never appear in the view."""
        return ALL_ROLES - self._outcome.projection.roles

    @property
    def reason(self) -> str:
        outcome = self._outcome
        kind = self.record_type
        if outcome.action == WITHHOLD and not outcome.winning_rules:
            return (
                f"No rule matches this {kind} for peer {self.peer}, "
                "so it is withheld (nothing leaves by default)."
            )
        winners = _quote(outcome.winning_rules)
        if outcome.action == WITHHOLD:
            return f"Withheld from {self.peer} by {winners} (withhold beats share and answer)."
        if outcome.action == SHARE:
            tail = " in the fields all their views allow" if len(outcome.winning_rules) > 1 else ""
            return f"Shared with {self.peer} by sync under {winners}{tail}."
        if outcome.answer_level == HIT:
            return (
                f"Answerable to a live query from {self.peer} at hit level only "
                f"(hit/no-hit and reference) under {winners}."
            )
        tail = " in the fields all their views allow" if len(outcome.winning_rules) > 1 else ""
        return (
            f"Answerable to a live query from {self.peer} in detail under {winners}{tail}; "
            "not sent by sync."
        )

    def view(self, record: dict, *, copy: bool = True) -> dict:
        """The redacted copy the peer may see; {} when withheld. Never mutates ``record``. With
        ``copy=False`` the values kept whole are shared with ``record`` (see ``Projection.apply``)."""
        if self._outcome.action == WITHHOLD:
            return {}
        return self._outcome.projection.apply(record, copy=copy)

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "answer_level": self.answer_level,
            "rules": list(self.rules),
            "winning_rules": list(self.winning_rules),
            "reason": self.reason,
        }

    def __repr__(self) -> str:
        level = f" {self.answer_level}" if self.answer_level else ""
        return f"<Decision {self.action}{level} for {self.peer} by {list(self.winning_rules)}>"
