"""Party-name screening: normalise names once, search them fast, explain every hit.

Pure Python over values: no web framework, no database. The node stores each
party name's `NameForms.to_dict()` next to the record, rebuilds a
`ScreeningIndex` from those at start-up, and screens `Query` objects against
it. See docs/screening.md for how matching works and how the default
threshold was chosen.
"""

from node.screening.errors import InvalidForms, InvalidQuery, ScreeningError
from node.screening.forms import FORMS_VERSION, NameForms, normalise_name
from node.screening.index import Query, ScreeningIndex
from node.screening.scorer import Hit, PartMatch, Signal, compare_names

#: Default alert threshold, chosen with bench/screening_quality.py.
DEFAULT_THRESHOLD = 0.85

__all__ = [
    "DEFAULT_THRESHOLD",
    "FORMS_VERSION",
    "Hit",
    "InvalidForms",
    "InvalidQuery",
    "NameForms",
    "PartMatch",
    "Query",
    "ScreeningError",
    "ScreeningIndex",
    "Signal",
    "compare_names",
    "normalise_name",
]
