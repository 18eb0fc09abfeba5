"""Errors raised by the screening engine.

    ScreeningError                 root of this package
    +-- InvalidForms               stored NameForms cannot be read back
    +-- InvalidQuery               a query has no usable name, or a bad field
"""


class ScreeningError(Exception):
    """Root of every error the screening engine raises."""


class InvalidForms(ScreeningError):
    """A stored NameForms document is malformed or of an unknown version."""


class InvalidQuery(ScreeningError):
    """A query cannot be screened (no name, unknown kind, bad threshold)."""
