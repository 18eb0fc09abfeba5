"""Screening speed: normalisation throughput, index build, single and batch search.

    .venv/bin/python bench/screening_speed.py [--names 100000] [--single 500] [--batch 1000]
                                              [--runs 3] [--forms-cache /tmp/forms.jsonl]

Party names come from node.samples.denials (all parties, every name of each).
Their NameForms are serialised to JSON (as the node stores them in SQLite) and
the index is built from those stored forms, without recomputing anything.
Queries mix names of listed parties (half of them spelled differently) and
names of parties that are not listed; each query is normalised at search
time, as in the node.

Single searches and the batch are run `--runs` times; each run prints wall
time, CPU time of this process and the load average, and the summary gives
the median over runs. On a shared machine the wall time depends on the load:
the CPU time per search is the figure that does not.

`--forms-cache` keeps the stored forms in a file between runs (keyed by the
normalisation code and the arguments), so repeated runs skip normalisation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from node import samples  # noqa: E402
from node.screening import NameForms, Query, ScreeningIndex, normalise_name  # noqa: E402

TODAY = date(2026, 5, 1)
_NORMALISATION = ("forms.py", "transcription.py", "dictionary.py")


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


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cache_key(names: int) -> str:
    digest = hashlib.sha256(str(names).encode())
    package = Path(__file__).resolve().parent.parent / "node" / "screening"
    for name in _NORMALISATION:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:16]


def stored_forms(parties, cache: str | None, names: int) -> tuple[list, float | None]:
    """[(key, [forms JSON], meta)] and the normalisation time (None when read from cache)."""
    key = cache_key(names)
    if cache and Path(cache).exists():
        lines = Path(cache).read_text(encoding="utf-8").splitlines()
        if lines and lines[0] == key:
            return [json.loads(line) for line in lines[1:]], None
    stored = []
    t0 = time.perf_counter()
    for entry_key, party in parties:
        forms = [json.dumps(normalise_name(n["text"], party.get("kind")).to_dict(), ensure_ascii=False)
                 for n in party["names"]]
        meta = {"country": party["country"], "identifiers": party["identifiers"], "role": party["role"]}
        stored.append((entry_key, forms, meta))
    elapsed = time.perf_counter() - t0
    if cache:
        Path(cache).write_text(key + "\n" + "\n".join(json.dumps(s, ensure_ascii=False) for s in stored),
                               encoding="utf-8")
    return stored, elapsed


def queries_for(parties, single: int, batch: int) -> tuple[list, list]:
    rng = random.Random(5)
    foreign = [p for _, p in parties if p["role"] != "exporter"]
    unlisted = list(samples.parties(single + batch, seed=99))
    out = []
    for i in range(single + batch):
        if i % 2 == 0:
            out.append(query_for(rng.choice(foreign), rng))
        else:
            p = unlisted[i]
            out.append(Query(names=[p["names"][-1]["text"]], country=p["country"], kind=p["kind"]))
    return out[:single], out[single:]


def fresh(queries: list[Query]) -> list[Query]:
    """Copies without normalised forms: every run normalises its queries again."""
    return [Query(names=list(q.names), country=q.country, kind=q.kind) for q in queries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--forms-cache", default=None)
    args = parser.parse_args()
    from node.screening import DEFAULT_THRESHOLD

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    rows = []

    t0 = time.perf_counter()
    normalise_name("Warm Up", "person")
    normalise_name("Warm Up LLC", "organisation")
    rows.append(("one-time name-data load (rigour tagger, dictionary)", f"{time.perf_counter() - t0:.1f} s"))

    parties = list(listed_parties(args.names))
    stored, elapsed = stored_forms(parties, args.forms_cache, args.names)
    n_names = sum(len(forms) for _, forms, _ in stored)
    rows.append(("party names", f"{n_names:,} ({len(parties):,} parties)"))
    if elapsed is not None:
        rows.append(("normalisation + JSON (import cost)",
                     f"{n_names / elapsed:,.0f} names/s ({elapsed:.1f} s, load {load()})"))

    index = ScreeningIndex()
    t0, c0 = time.perf_counter(), time.process_time()
    for key, forms, meta in stored:
        index.add(key, [NameForms.from_dict(json.loads(f)) for f in forms], meta)
    index.refresh()
    rows.append(("index build from stored forms (JSON decode included)",
                 f"{time.perf_counter() - t0:.2f} s wall, {time.process_time() - c0:.2f} s CPU"))

    single, batch = queries_for(parties, args.single, args.batch)
    runs = []
    for run in range(1, args.runs + 1):
        before = load()
        timings, cpu, hits = [], [], 0
        for query in fresh(single):
            t0, c0 = time.perf_counter(), time.process_time()
            result = index.search(query, threshold=threshold, limit=10)
            timings.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            hits += bool(result)
        t0, c0 = time.perf_counter(), time.process_time()
        results = index.search_many(fresh(batch), threshold=threshold, limit=10)
        wall, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
        runs.append({"p50": percentile(timings, .5), "p95": percentile(timings, .95),
                     "p99": percentile(timings, .99), "cpu": statistics.mean(cpu),
                     "batch": wall, "batch_cpu": batch_cpu})
        rows.append((f"run {run}: single p50 / p95 / p99 (mean CPU)",
                     f"{runs[-1]['p50']:.1f} / {runs[-1]['p95']:.1f} / {runs[-1]['p99']:.1f} ms "
                     f"({runs[-1]['cpu']:.1f} ms CPU), {hits}/{len(single)} with a hit, load {before}"))
        rows.append((f"run {run}: batch of {len(batch)} parties (search_many)",
                     f"{wall:.1f} s wall, {batch_cpu:.1f} s CPU, "
                     f"{sum(bool(r) for r in results)} with a hit, load {load()}"))

    def median(field: str) -> float:
        return statistics.median(r[field] for r in runs)

    rows.append((f"median of {len(runs)}: single p50 / p95 / p99",
                 f"{median('p50'):.1f} / {median('p95'):.1f} / {median('p99'):.1f} ms "
                 f"({median('cpu'):.1f} ms CPU per search)"))
    rows.append((f"median of {len(runs)}: batch of {len(batch)} parties",
                 f"{median('batch'):.1f} s wall ({median('batch_cpu'):.1f} s CPU)"))

    t0 = time.perf_counter()
    key, forms, meta = stored[0]
    index.remove(key)
    index.refresh()
    index.add(key, [NameForms.from_dict(json.loads(f)) for f in forms], meta)
    index.refresh()
    rows.append(("remove + re-add one entry (two snapshot updates)",
                 f"{(time.perf_counter() - t0) * 1000:.0f} ms"))

    width = max(len(r[0]) for r in rows)
    print(f"screening speed, threshold {threshold}, cpu count {os.cpu_count()}, "
          f"load at end {load()}")
    print("-" * (width + 60))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
