"""Settings of the interpreter's cyclic garbage collector for a node's processes.

Records travel as thousands of short-lived dicts and lists per batch. With the
interpreter's defaults a young-generation pass runs every 700 allocations,
and the passes over older generations walk everything the process holds:
modules, the Flask app, the screening name data. None of the node's own
structures depend on prompt collection of reference cycles (reference
counting frees them), so ``tune`` makes passes rarer and ``settle``, called
once a process has loaded what it keeps for its lifetime, moves those
objects out of the collector's view (``gc.freeze``).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
OLDER_THRESHOLDS = (20, 100)


def tune() -> None:
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


def settle() -> None:
    """Collect once, then leave everything alive now out of later passes."""
    gc.collect()
    gc.freeze()
