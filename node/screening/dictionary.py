"""Cross-script name dictionary: spellings of one name share a cluster id.

Built once, on first use, from the `name-variants` tables (MIT): Arabic,
Persian, Russian, Turkish, Chinese, Korean, ... names with their native form
and their common Latin spellings. Every form goes through the same token
pipeline as stored names (`tokens_for_dictionary`, supplied by the caller),
so a lookup is one dict access per token:

    "muhammad", "mohammed", "mukhammad", transcription of "محمد"
        -> {"v:arabic:محمد", "v:persian:محمد"}
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

_LOCK = threading.Lock()
_INDEX: dict[str, frozenset[str]] | None = None


def _tables() -> dict[str, dict[str, dict]]:
    from name_variants import ALL_TABLES

    return ALL_TABLES


def build(token_keys: Callable[[str], list[str]]) -> dict[str, frozenset[str]]:
    """Build the dictionary index: token key -> cluster ids.

    `token_keys(form)` turns one dictionary form into the single token key it
    would have inside a stored name, or [] when the form is several tokens.
    """
    index: dict[str, set[str]] = {}
    for language, table in _tables().items():
        for storage_key, entry in table.items():
            cluster = f"v:{language}:{storage_key}"
            forms: Iterable[str] = [storage_key, *entry.get("forms", [])]
            for form in forms:
                for key in token_keys(form):
                    index.setdefault(key, set()).add(cluster)
    return {key: frozenset(ids) for key, ids in index.items()}


def clusters(key: str, token_keys: Callable[[str], list[str]]) -> frozenset[str]:
    """Cluster ids for one token key (empty when the name is not listed)."""
    global _INDEX
    index = _INDEX
    if index is None:
        with _LOCK:
            if _INDEX is None:
                _INDEX = build(token_keys)
            index = _INDEX
    return index.get(key, frozenset())
