"""Exceptions raised by the policy engine.

Hierarchy::

    PolicyError                 root: every error this package raises
    ├── PolicyInvalid           a policy file cannot be used; ``.issues`` lists every problem
    ├── UnknownGroup            ``Policy.peers_in_group`` asked about a group the policy lacks
    └── UnknownRecordType       ``Policy.decide`` / ``explain`` called with a record type
                                other than ``denial`` or ``licence``

``Issue`` is a plain value (not an exception): one problem found in a policy
file, located by file name, 1-based line number and the dotted path of the
offending key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a policy file: where it is and what is wrong."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"


class PolicyError(Exception):
    """Root of every error raised by the ``policies`` package."""


class PolicyInvalid(PolicyError):
    """A policy file has one or more problems; all of them are in ``issues``."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.issues)
        noun = "problem" if count == 1 else "problems"
        head = f"invalid policy: {count} {noun}"
        return "\n".join([head, *(str(issue) for issue in self.issues)])

    def __str__(self) -> str:
        return self._render()


class UnknownGroup(PolicyError):
    """The policy defines no group of that name."""


class UnknownRecordType(PolicyError):
    """The record type is neither ``denial`` nor ``licence``."""
