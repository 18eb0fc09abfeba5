"""Node ids that a sharing policy can name: the one rule for members.

A member's node id is a state's ISO 3166-1 alpha-2 code (``MT``; ``XK``
too), or an upper-case name of 3-32 letters, digits and hyphens beginning
with a letter (``OSCE-CPC``). The same rule holds for sharing policies,
``cordon init`` of a member, ``cordon peers add`` of a member and the API's
``origin`` filter, so a member that can be peered with can also be named in
a policy. (A coordinator exchanges no records and no policy names it: its id
only has to be one an identity document may carry, ``federation.identity``.)
"""

from __future__ import annotations

import re

from .vocabulary import COUNTRY_CODE_HINTS, COUNTRY_CODES

PATTERN = re.compile(r"[A-Z][A-Z0-9-]{1,31}")
RULE = "a state's ISO 3166-1 alpha-2 code such as 'DE', or an upper-case name such as 'OSCE-CPC'"


def node_id_problem(value) -> str | None:
    """Why ``value`` is not a node id, or None when it is one."""
    if type(value) is not str or not value.isascii() or not PATTERN.fullmatch(value):
        return f"{value!r} is not a node id ({RULE})"
    if len(value) == 2 and value not in COUNTRY_CODES:
        return country_problem(value)
    return None


def is_node_id(value) -> bool:
    return node_id_problem(value) is None


def country_problem(value: str) -> str:
    """The message for a two-letter code that ISO 3166-1 does not assign, with the code meant if known."""
    hint = COUNTRY_CODE_HINTS.get(value.upper())
    if hint is None and value.upper() in COUNTRY_CODES:
        hint = value.upper()
    tail = f" (did you mean {hint!r}?)" if hint else ""
    return f"{value!r} is not an ISO 3166-1 alpha-2 country code{tail}"
