"""Screening speed: normalisation throughput, index build, single and batch search.

    .venv/bin/python bench/screening_speed.py [--names 100000] [--single 500] [--batch 1000]

Party names come from node.samples.denials (all parties, every name of each).
Their NameForms are serialised to JSON (as the node stores them in SQLite) and
the index is built from those stored forms, without recomputing anything.
Queries mix names of listed parties (half of them spelled differently) and
names of parties that are not listed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import date

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from node import samples  # noqa: E402
from node.screening import NameForms, Query, ScreeningIndex, normalise_name  # noqa: E402

TODAY = date(2026, 5, 1)


def listed_parties(target_names: int):
    """(entry_key, party) pairs until `target_names` party names are collected."""
    count = 0
    for record in samples.denials(10 ** 9, "MT", seed=1, today=TODAY):
        for i, party in enumerate(record["parties"]):
            yield f"{record['ref']}#{i}", party
            count += len(party["names"])
            if count >= target_names:
                return


def query_for(party: dict, rng: random.Random) -> Query:
    names = [n["text"] for n in party["names"]]
    name = rng.choice(names)
    tokens = name.split()
    if len(tokens) > 1 and rng.random() < 0.5:
        rng.shuffle(tokens)
    if rng.random() < 0.5 and len(tokens[0]) > 4:
        t = tokens[0]
        k = rng.randrange(1, len(t) - 1)
        tokens[0] = t[:k] + t[k + 1] + t[k] + t[k + 2:]
    return Query(names=[" ".join(tokens)], country=party["country"], kind=party.get("kind"))


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=None)
    args = parser.parse_args()
    from node.screening import DEFAULT_THRESHOLD

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    rows = []

    t0 = time.perf_counter()
    normalise_name("Warm Up", "person")
    normalise_name("Warm Up LLC", "organisation")
    rows.append(("one-time name-data load (rigour tagger, dictionary)", f"{time.perf_counter() - t0:.1f} s"))

    parties = list(listed_parties(args.names))
    stored: list[tuple[str, list[str], dict]] = []
    n_names = 0
    t0 = time.perf_counter()
    for key, party in parties:
        forms = [json.dumps(normalise_name(n["text"], party.get("kind")).to_dict(), ensure_ascii=False)
                 for n in party["names"]]
        n_names += len(forms)
        meta = {"country": party["country"], "identifiers": party["identifiers"], "role": party["role"]}
        stored.append((key, forms, meta))
    elapsed = time.perf_counter() - t0
    rows.append(("party names", f"{n_names:,} ({len(parties):,} parties)"))
    rows.append(("normalisation + JSON (import cost)", f"{n_names / elapsed:,.0f} names/s ({elapsed:.1f} s)"))

    index = ScreeningIndex()
    t0 = time.perf_counter()
    for key, forms, meta in stored:
        index.add(key, [NameForms.from_dict(json.loads(f)) for f in forms], meta)
    index.refresh()
    rows.append(("index build from stored forms", f"{time.perf_counter() - t0:.2f} s"))

    rng = random.Random(5)
    foreign = [p for _, p in parties if p["role"] != "exporter"]
    unlisted = list(samples.parties(args.single + args.batch, seed=99))
    queries = []
    for i in range(args.single + args.batch):
        if i % 2 == 0:
            queries.append(query_for(rng.choice(foreign), rng))
        else:
            p = unlisted[i]
            queries.append(Query(names=[p["names"][-1]["text"]], country=p["country"], kind=p["kind"]))
    single, batch = queries[:args.single], queries[args.single:]

    timings, hits = [], 0
    for query in single:
        t0 = time.perf_counter()
        result = index.search(query, threshold=threshold, limit=10)
        timings.append((time.perf_counter() - t0) * 1000)
        hits += bool(result)
    rows.append(("single search p50 / p95 / p99",
                 f"{percentile(timings, .5):.1f} / {percentile(timings, .95):.1f} / "
                 f"{percentile(timings, .99):.1f} ms (mean {statistics.mean(timings):.1f})"))
    rows.append(("single searches with a hit", f"{hits}/{len(single)}"))

    t0 = time.perf_counter()
    results = index.search_many(batch, threshold=threshold, limit=10)
    elapsed = time.perf_counter() - t0
    rows.append((f"batch of {len(batch)} parties (search_many)",
                 f"{elapsed:.1f} s ({elapsed / len(batch) * 1000:.1f} ms/party, "
                 f"{sum(bool(r) for r in results)} with a hit)"))

    t0 = time.perf_counter()
    key, forms, meta = stored[0]
    index.remove(key)
    index.refresh()
    index.add(key, [NameForms.from_dict(json.loads(f)) for f in forms], meta)
    index.refresh()
    rows.append(("remove + re-add one entry (two snapshot updates)",
                 f"{(time.perf_counter() - t0) * 1000:.0f} ms"))

    width = max(len(r[0]) for r in rows)
    print(f"screening speed, threshold {threshold}, cpu count {os.cpu_count()}")
    print("-" * (width + 40))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
