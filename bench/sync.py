"""Benchmark: initial sync of N denials between two real nodes, the in-process cost of the
same work, publish-to-visible latency by push, and the policy decision cost.

    .venv/bin/python bench/sync.py                     # 100,000 denials, both policies, 1 run
    .venv/bin/python bench/sync.py --n 20000 --runs 3 --policy share
    .venv/bin/python bench/sync.py --workdir /tmp/sync-bench   # keeps (and reuses) the loaded origin

1. Generates N denials (``node.samples.denials``) as JSON Lines and loads them
   into a fresh origin node MT with ``cordon denials import``; normalises their
   party names (``cordon jobs run index-names``) so the origin starts quiet.
   The loaded data directory is a template copied for every run.
2. Per run and policy: a copy of MT and a fresh DE, each its own data
   directory and keys, peered both ways with confirmed fingerprints, started as
   separate ``cordon serve`` processes. MT's policy is either ``share`` (every
   denial to DE, exporter withheld) or ``realistic`` (10 groups, 30 rules:
   ``bench/policy_decision.py``); DE accepts denials from MT. Scheduled pull
   and the idle push timer are set to an hour so nothing but the measured
   exchange moves records (a publish through the API still wakes the push
   worker at once).
3. Times ``cordon sync --peer MT`` run on DE (a separate process, as an
   administrator would run it): from its start until it returns with every
   record verified and stored; then counts DE's rows (denials, received,
   verified signatures) against what MT's policy lets DE see. CPU seconds of
   the sync process, MT's server and DE's server (whose name indexer waits
   while the pull runs, then normalises the received names) are reported
   too: on a shared, loaded machine wall time depends on neighbours.
4. Publish-to-visible latency by push: ``--latency`` denials published one by
   one through MT's API; DE's API is polled every 10 ms until each shows up.
5. In-process, on copies of the same data directories taken before the run
   (DE as it was before the sync): the real classes, no HTTP:
   ``Exchange.serve_changes`` (load, policy decision and view, sign each item,
   seal, disclosure ledger) -> JSON encode/decode -> ``RecordIntake.open``
   -> ``RecordIntake.store`` (verify each item, store), batch after batch.
   Prints the cost per record and its ratio to the end-to-end figure, and the
   per-record cost of the primitives alone and of the policy decision.

Asserts that every record arrived; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from federation_support import share_policy  # noqa: E402
from policy_decision import build_policy_text  # noqa: E402

from federation.batch import encode_item, verify_item  # noqa: E402
from node.clients import ClientRegistry  # noqa: E402
from node.collector import settle, tune  # noqa: E402
from node.config import read_settings, write_settings  # noqa: E402
from node.database import DB_NAME, connect  # noqa: E402
from node.exchange import Exchange  # noqa: E402
from node.runtime import NodeRuntime  # noqa: E402
from node.samples import denials  # noqa: E402
from node.timestamps import utc_now  # noqa: E402
from policies import parse_policy  # noqa: E402

POLICY_SEED = 7  # the seed bench/policy_decision.py uses by default
QUIET = {"sync_interval_seconds": 86_400, "push_interval_seconds": 3_600}


def realistic_policy_text() -> str:
    return build_policy_text(random.Random(POLICY_SEED))


def policy_text(mode: str) -> str:
    return share_policy(["MT", "DE"]) if mode == "share" else realistic_policy_text()


# -- node processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cordon(*args, data_dir: Path) -> str:
    """Run a ``cordon`` command as an administrator would; return its stdout and stderr."""
    command = [sys.executable, "-m", "node.cli", *map(str, args), "--data-dir", str(data_dir)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cordon {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


class Node:
    """One ``cordon serve`` process with its own data directory."""

    def __init__(self, data_dir: Path, node_id: str, name: str):
        self.data_dir, self.node_id = data_dir, node_id
        if not (data_dir / "cordon.toml").exists():
            cordon("init", "--node-id", node_id, "--name", name, "--url", f"http://127.0.0.1:{free_port()}",
                   data_dir=data_dir)
        self.port = read_settings(data_dir).listen_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def settings(self, **changes) -> None:
        write_settings(self.data_dir, dataclasses.replace(read_settings(self.data_dir), **changes))

    def identity(self) -> tuple[Path, str]:
        path = self.data_dir.parent / f"{self.node_id}-identity.json"
        out = cordon("identity", "--output", path, data_dir=self.data_dir)
        return path, re.search(r"fingerprint: ([0-9A-Z-]+)", out).group(1)

    def add_peer(self, other: "Node") -> None:
        path, fingerprint = other.identity()
        cordon("peers", "add", path, "--fingerprint", fingerprint, data_dir=self.data_dir)

    def start(self, timeout: float = 180.0) -> None:
        log = open(self.data_dir.parent / f"{self.node_id}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--data-dir", str(self.data_dir)],
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited; see {log.name}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.node_id} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def session(self, *scopes: str) -> requests.Session:
        db = connect(self.data_dir / DB_NAME)
        try:
            client, secret = ClientRegistry(db).create(f"bench{random.randrange(10**9)}", list(scopes), actor="bench")
        finally:
            db.conn.close()
        response = requests.post(self.url + "/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client.client_id, secret), timeout=60)
        response.raise_for_status()
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + response.json()["access_token"]
        return session

    def count(self, sql: str) -> int:
        conn = sqlite3.connect(f"file:{self.data_dir / DB_NAME}?mode=ro", uri=True, timeout=60)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()


# -- the loaded origin -------------------------------------------------------------------


def template(workdir: Path, n: int, seed: int) -> tuple[Path, dict]:
    """MT's data directory with N imported, name-indexed denials (reused when already there)."""
    base = workdir / f"template-mt-{n}-{seed}"
    marker = base / "ready.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        print(f"reusing loaded origin {base} (import took {info['import_s']:.1f} s)", file=sys.stderr)
        return base / "mt", info
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    source = base / "denials.jsonl"
    with open(source, "w", encoding="utf-8") as out:
        for doc in denials(n, "MT", seed):
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    data_dir = base / "mt"
    cordon("init", "--node-id", "MT", "--name", "Malta", "--url", f"http://127.0.0.1:{free_port()}",
           data_dir=data_dir)
    started = time.perf_counter()
    cordon("denials", "import", source, data_dir=data_dir)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    cordon("jobs", "run", "index-names", data_dir=data_dir)
    index_s = time.perf_counter() - started
    info = {"n": n, "import_s": import_s, "index_s": index_s, "bytes": source.stat().st_size}
    marker.write_text(json.dumps(info))
    print(f"imported {n:,} denials in {import_s:.1f} s ({n / import_s:,.0f}/s); "
          f"names normalised in {index_s:.1f} s", file=sys.stderr)
    return data_dir, info


def copy_data_dir(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("ready.json"))


# -- process measurements -----------------------------------------------------------------


def _stat(pid) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live child processes (a node may run its name indexer as one)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(entry)
        except OSError:
            continue
        if int(entry) == pid:  # its own time and that of children it has already reaped
            total += sum(int(value) for value in fields[11:15])
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_idle(nodes, timeout: float = 900.0) -> float:
    """Wait until every node process uses under 5% of a core for two seconds in a row."""
    started = time.monotonic()
    calm = 0
    last = {node.node_id: cpu_seconds(node.proc.pid) for node in nodes}
    while time.monotonic() - started < timeout:
        time.sleep(1.0)
        now = {node.node_id: cpu_seconds(node.proc.pid) for node in nodes}
        busy = max(now[k] - last[k] for k in now)
        last = now
        calm = calm + 1 if busy < 0.05 else 0
        if calm >= 2:
            break
    return time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# -- one run ---------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    mode: str
    changes: int
    expected: int
    sync_s: float
    sync_cpu: float
    origin_cpu: float
    receiver_server_cpu: float
    latencies_ms: list[float]
    timeouts: int
    inproc: dict
    primitives: dict

    @property
    def rate(self) -> float:
        return self.expected / self.sync_s


def own_docs(data_dir: Path) -> list[dict]:
    rt = NodeRuntime(data_dir)
    try:
        return [json.loads(text) for (text,) in rt.db().execute("SELECT doc FROM denials WHERE origin = 'MT'")]
    finally:
        rt.close()


def shared_count(docs: list[dict], policy) -> int:
    return sum(1 for doc in docs if doc["status"] not in ("revoked", "expired")
               and policy.decide(doc, "denial", "DE").action == "share")


def latency_docs(count: int, policy) -> list[dict]:
    """Fresh denials (new references) that the policy in force shares with DE."""
    chosen = []
    for index, doc in enumerate(denials(count * 20 + 50, "MT", 4242)):
        doc["ref"] = f"MT/DEN/LAT/{index:06d}"
        if policy.decide({**doc, "status": "active", "uid": "x", "origin": "MT", "version": 1},
                         "denial", "DE").action == "share":
            chosen.append(doc)
        if len(chosen) == count:
            break
    return chosen


def push_latency(mt: Node, de: Node, sessions, docs: list[dict],
                 warmup: int = 3) -> tuple[list[float], int]:
    publisher, reader = sessions
    latencies, timeouts = [], 0
    for index, doc in enumerate(docs):
        started = time.perf_counter()
        response = publisher.post(mt.url + "/api/v1/denials", json=doc, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"publish failed: {response.status_code} {response.text[:200]}")
        uid = response.json()["uid"]
        while True:
            if reader.get(f"{de.url}/api/v1/denials/{uid}", timeout=30).status_code == 200:
                elapsed = (time.perf_counter() - started) * 1000
                break
            if time.perf_counter() - started > 30:
                elapsed = None
                break
            time.sleep(0.01)
        if index >= warmup:
            if elapsed is None:
                timeouts += 1
            else:
                latencies.append(elapsed)
    return latencies, timeouts


def in_process(mt_dir: Path, de_dir: Path, batch_size: int, limit: int) -> dict:
    """The exchange's real classes without HTTP: serve_changes, then open and store, batch after batch,
    until ``limit`` records are stored (or the change log ends). The garbage collector is set as in the
    node's processes (``node.collector``), so this process's own data (every origin document, for the
    counts) is not walked by it either."""
    mt_rt, de_rt = NodeRuntime(mt_dir), NodeRuntime(de_dir)
    try:
        sender, receiver = Exchange(mt_rt), Exchange(de_rt)
        intake = receiver.intake()
        tune()
        settle()
        labels = ["serve (load, decide, view, sign, seal, ledger)", "transport JSON encode+decode",
                  "open (unseal)", "store (verify each, write)"]
        timings = dict.fromkeys(labels, 0.0)
        cpu = dict.fromkeys(labels, 0.0)
        cursor, stored, items = "0", 0, 0
        clock = time.perf_counter
        while True:
            now = utc_now()
            marks = [(clock(), time.process_time())]
            envelope = sender.serve_changes("DE", {"cursor": cursor, "limit": batch_size}, now)
            marks.append((clock(), time.process_time()))
            envelope = json.loads(json.dumps(envelope))
            marks.append((clock(), time.process_time()))
            batch = intake.open("MT", envelope)
            marks.append((clock(), time.process_time()))
            receipt = intake.store("MT", batch, utc_now(), cursor_update=batch.next_cursor or cursor)
            marks.append((clock(), time.process_time()))
            for label, before, after in zip(labels, marks, marks[1:]):
                timings[label] += after[0] - before[0]
                cpu[label] += after[1] - before[1]
            stored += receipt.stored
            items += len(batch.items)
            if receipt.refused:
                raise RuntimeError(f"in-process store refused {len(receipt.refused)} item(s)")
            cursor = batch.next_cursor or cursor
            if not batch.more or stored >= limit:
                break
        held = de_rt.db().execute("SELECT count(*) FROM denials WHERE origin = 'MT'").fetchone()[0]
        return {"timings": timings, "cpu": cpu, "total_s": sum(timings.values()), "cpu_s": sum(cpu.values()),
                "stored": stored, "items": items, "held": held}
    finally:
        mt_rt.close()
        de_rt.close()


def primitives(mt_dir: Path, de_dir: Path, docs: list[dict], policy, sample: int = 3000) -> dict:
    """Per-record cost of the policy decision + view, signing one item and verifying one item."""
    mt_rt, de_rt = NodeRuntime(mt_dir), NodeRuntime(de_dir)
    try:
        sender = Exchange(mt_rt).sender()
        keys = Exchange(de_rt).registry().require("MT").keys()
        chosen = docs[:sample]
        now = utc_now()
        clock = time.process_time  # CPU time: the machine may be shared
        started = clock()
        decisions = [policy.decide(doc, "denial", "DE") for doc in chosen]
        decide_s = clock() - started
        started = clock()
        views = [d.view(doc) for d, doc in zip(decisions, chosen) if d.action == "share"]
        view_s = clock() - started
        started = clock()
        # As the outbox signs: views of parsed documents (federation.canonical.canonical_bytes_of_parsed).
        jws = [encode_item(sender, kind="record", record_type="denial", recipient="DE", rev=i + 1, view=v, now=now,
                           parsed=True)[0] for i, v in enumerate(views)]
        sign_s = clock() - started
        started = clock()
        for item in jws:
            verify_item(item, sender="MT", me="DE", key_lookup=keys.get)
        verify_s = clock() - started
        count = max(1, len(views))
        return {"decide_us": decide_s / len(chosen) * 1e6, "view_us": view_s / count * 1e6,
                "sign_us": sign_s / count * 1e6, "verify_us": verify_s / count * 1e6}
    finally:
        mt_rt.close()
        de_rt.close()


def one_run(workdir: Path, template_dir: Path, mode: str, run: int, latency_n: int, batch_size: int | None,
            docs: list[dict], inproc_limit: int) -> RunResult:
    base = workdir / f"run-{mode}-{run}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    mt_dir, de_dir = base / "mt", base / "de"
    copy_data_dir(template_dir, mt_dir)
    mt, de = Node(mt_dir, "MT", "Malta"), Node(de_dir, "DE", "Germany")
    extra = {"sync_batch_size": batch_size} if batch_size else {}
    for node in (mt, de):
        node.settings(**QUIET, **extra)
    (mt_dir / "policy.yaml").write_text(policy_text(mode), encoding="utf-8")
    (de_dir / "policy.yaml").write_text(share_policy(["MT", "DE"]), encoding="utf-8")
    mt.add_peer(de)
    de.add_peer(mt)
    copy_data_dir(de_dir, base / "de-inproc")
    policy = parse_policy(policy_text(mode), "policy.yaml")
    expected = shared_count(docs, policy)
    try:
        mt.start()
        de.start()
        settle = wait_idle([mt, de])
        print(f"[{mode} run {run}] nodes up and idle after {settle:.0f} s; syncing {expected:,} of "
              f"{len(docs):,} records", file=sys.stderr)
        # Tokens first: the receiver's name indexer may hold the interpreter for a while once names arrive.
        sessions = (mt.session("read", "publish"), de.session("read")) if latency_n else None
        cpu_mt, cpu_de_server, cpu_children = cpu_seconds(mt.proc.pid), cpu_seconds(de.proc.pid), children_cpu()
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "node.cli", "sync", "--peer", "MT", "--data-dir", str(de_dir)],
                                cwd=ROOT, capture_output=True, text=True)
        sync_s = time.perf_counter() - started
        sync_cpu = children_cpu() - cpu_children
        origin_cpu = cpu_seconds(mt.proc.pid) - cpu_mt
        receiver_server_cpu = cpu_seconds(de.proc.pid) - cpu_de_server
        if result.returncode != 0:
            raise RuntimeError(f"cordon sync failed: {result.stdout}\n{result.stderr}")
        counts = {"denials": de.count("SELECT count(*) FROM denials WHERE origin = 'MT'"),
                  "received": de.count("SELECT count(*) FROM received WHERE origin = 'MT'"),
                  "verified": de.count("SELECT count(*) FROM received WHERE origin = 'MT' AND signature IS NOT NULL")}
        if any(value != expected for value in counts.values()):
            raise RuntimeError(f"DE holds {counts}, expected {expected} each; sync said {result.stdout}")
        print(f"[{mode} run {run}] {expected:,} records in {sync_s:.1f} s = {expected / sync_s:,.0f}/s "
              f"(cpu: sync {sync_cpu:.1f} s, MT {origin_cpu:.1f} s, DE server {receiver_server_cpu:.1f} s)",
              file=sys.stderr)
        latencies, timeouts = push_latency(mt, de, sessions, latency_docs(latency_n + 3, policy)) if latency_n else ([], 0)
    finally:
        mt.stop()
        de.stop()
    inproc = in_process(mt_dir, base / "de-inproc", read_settings(de_dir).sync_batch_size, inproc_limit)
    if inproc["held"] != inproc["stored"] or inproc["stored"] < min(expected, inproc_limit):
        raise RuntimeError(f"in-process: DE copy holds {inproc['held']} of {inproc['stored']} stored, "
                           f"{expected} expected")
    prims = primitives(mt_dir, base / "de-inproc", docs, policy)
    shutil.rmtree(base, ignore_errors=True)
    return RunResult(mode, len(docs), expected, sync_s, sync_cpu, origin_cpu, receiver_server_cpu, latencies,
                     timeouts, inproc, prims)


# -- report ------------------------------------------------------------------------------------


def report(mode: str, results: list[RunResult], n: int) -> None:
    med = statistics.median
    rates = [r.rate for r in results]
    middle = sorted(results, key=lambda r: r.rate)[len(results) // 2]
    per = lambda seconds, r: seconds / r.expected * 1e6  # noqa: E731 - µs per delivered record
    e2e_us = 1e6 / med(rates)
    per_stored = lambda seconds, r: seconds / r.inproc["stored"] * 1e6  # noqa: E731
    inproc_wall = med(per_stored(r.inproc["total_s"], r) for r in results)
    inproc_cpu = med(per_stored(r.inproc["cpu_s"], r) for r in results)
    e2e_cpu = med(per(r.sync_cpu + r.origin_cpu, r) for r in results)
    lat = [ms for r in results for ms in r.latencies_ms]
    policy = "every denial shared with DE, exporter withheld" if mode == "share" else "10 groups, 30 rules"
    print()
    print(f"== policy: {mode} ({policy}); {len(results)} run(s), median shown")
    print(f"{'records in the change log / shared with DE':56} {n:>9,} / {middle.expected:,}")
    print(f"{'END TO END  cordon sync --peer MT, wall':56} {med(r.sync_s for r in results):>9.1f} s")
    print(f"{'  rate':56} {med(rates):>9,.0f} records/s  (runs: " + ", ".join(f"{x:,.0f}" for x in rates) + ")")
    print(f"{'  per record, wall':56} {e2e_us:>9.1f} µs")
    print(f"{'  cpu: receiving sync process':56} {med(r.sync_cpu for r in results):>9.1f} s")
    print(f"{'  cpu: origin server (serving the pulls)':56} {med(r.origin_cpu for r in results):>9.1f} s")
    print(f"{'  cpu: receiver server (name indexer waits meanwhile)':56} "
          f"{med(r.receiver_server_cpu for r in results):>9.1f} s")
    print(f"{'  cpu per record, sync process + origin server':56} {e2e_cpu:>9.1f} µs")
    print(f"{'IN PROCESS  serve + open + store, per record, wall':56} {inproc_wall:>9.1f} µs  "
          f"({middle.inproc['stored']:,} records)")
    print(f"{'  per record, cpu':56} {inproc_cpu:>9.1f} µs")
    for label in middle.inproc["cpu"]:
        print(f"{'    cpu: ' + label:56} {med(per_stored(r.inproc['cpu'][label], r) for r in results):>9.1f} µs")
    print(f"{'RATIO end to end / in process, wall':56} {e2e_us / inproc_wall:>9.2f}")
    print(f"{'RATIO end to end / in process, cpu':56} {e2e_cpu / inproc_cpu:>9.2f}")
    for key, label in (("decide_us", "policy decide, per record"), ("view_us", "policy view, per shared record"),
                       ("sign_us", "sign one item (canonical + Ed25519 + JWS)"),
                       ("verify_us", "verify one item (JWS + canonical parse)")):
        print(f"{'  cpu, primitive: ' + label:56} {med(r.primitives[key] for r in results):>9.1f} µs")
    if lat:
        print(f"{'PUSH publish-to-visible at DE, p50':56} {med(lat):>9.0f} ms")
        print(f"{'  p95':56} {percentile(lat, 95):>9.0f} ms  ({len(lat)} publishes, "
              f"{sum(r.timeouts for r in results)} timed out)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="denials loaded into the origin")
    parser.add_argument("--runs", type=int, default=1, help="runs per policy (median shown)")
    parser.add_argument("--policy", choices=("share", "realistic", "both"), default="both")
    parser.add_argument("--latency", type=int, default=50, help="publishes timed for push latency (0: skip)")
    parser.add_argument("--batch-size", type=int, default=None, help="sync_batch_size for both nodes "
                        "(default: the nodes' setting)")
    parser.add_argument("--inproc-limit", type=int, default=20_000,
                        help="records measured in process (from the start of the change log)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the loaded origin here and reuse it")
    args = parser.parse_args()

    os.umask(0o077)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cordon-sync-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    template_dir, info = template(workdir, args.n, args.seed)
    docs = own_docs(template_dir)
    modes = ("share", "realistic") if args.policy == "both" else (args.policy,)
    results: dict[str, list[RunResult]] = {mode: [] for mode in modes}
    for run in range(1, args.runs + 1):
        for mode in modes:
            results[mode].append(one_run(workdir, template_dir, mode, run, args.latency, args.batch_size, docs,
                                         args.inproc_limit))
    print()
    print(f"Cordon sync benchmark: {args.n:,} denials ({info['bytes'] / 1e6:.0f} MB as JSON Lines), "
          f"imported at {args.n / info['import_s']:,.0f}/s; load average now {os.getloadavg()[0]:.1f}")
    for mode in modes:
        report(mode, results[mode], args.n)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
