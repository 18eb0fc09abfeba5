"""Benchmark: bulk import of denials, then list and get latency against the served node.

    .venv/bin/python bench/import.py              # 100,000 denials, 3 import runs
    .venv/bin/python bench/import.py --n 20000 --runs 1

1. Generates N realistic denials (``node.samples.denials``: multilingual party
   names, several parties each) into a JSON Lines file.
2. Imports the file with ``cordon denials import`` run in this process (the
   real command: validation, storage, version history, change log, audit
   entry per row), into a fresh data directory per run; reports records/s,
   CPU time per record (the figure the machine's load changes least) of this
   process, which writes, and of the worker process the command starts to
   read and prepare the rows, and the load average. Then imports the same
   file again (nothing changes) and reports that too.
3. Starts ``cordon serve`` on the last data directory and measures, over one
   keep-alive HTTP connection, a filtered list page
   (``?status=active&country=IR&limit=50``) and a get-by-uid of random records.

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from node.cli import main as cordon  # noqa: E402
from node.clients import ClientRegistry  # noqa: E402
from node.config import Settings  # noqa: E402
from node.database import DB_NAME, connect  # noqa: E402
from node.datadir import initialise  # noqa: E402
from node.samples import denials  # noqa: E402

LIST_URL = "/api/v1/denials?status=active&country=IR&limit=50"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate(path: Path, n: int, origin: str, seed: int) -> float:
    started = time.perf_counter()
    with open(path, "w", encoding="utf-8") as out:
        for doc in denials(n, origin, seed):
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return time.perf_counter() - started


def new_node(data_dir: Path, port: int) -> None:
    settings = Settings(node_id="MT", name="Malta", base_url=f"http://127.0.0.1:{port}")
    initialise(data_dir, settings, dt.datetime.now(dt.timezone.utc))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_import(data_dir: Path, path: Path) -> tuple[float, float, float, float]:
    """``cordon denials import PATH`` in this process; returns (wall seconds, CPU seconds of this
    process, CPU seconds of its worker process, load average over the last minute at the end)."""
    started, cpu, worker_cpu = time.perf_counter(), time.process_time(), children_cpu()
    try:
        cordon(["denials", "import", str(path), "--data-dir", str(data_dir)], standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"import exited with {exc.code}") from None
    return (time.perf_counter() - started, time.process_time() - cpu, children_cpu() - worker_cpu,
            os.getloadavg()[0])


def count_rows(data_dir: Path) -> dict:
    db = connect(data_dir / DB_NAME)
    try:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("denials", "denial_versions", "changes", "audit_log")}
    finally:
        db.conn.close()


def start_node(data_dir: Path, port: int) -> subprocess.Popen:
    log = open(data_dir.parent / "serve.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--data-dir", str(data_dir)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited; see {data_dir.parent / 'serve.log'}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("node did not answer within 60 s")


def token(data_dir: Path, base: str) -> str:
    db = connect(data_dir / DB_NAME)
    try:
        client, secret = ClientRegistry(db).create(f"bench{random.randrange(10**6)}", ["read"], actor="bench")
    finally:
        db.conn.close()
    response = requests.post(base + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client.client_id, secret), timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def latencies(session: requests.Session, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        started = time.perf_counter()
        response = session.get(url, timeout=30)
        out.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:200]}")
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="denials to generate and import")
    parser.add_argument("--runs", type=int, default=3, help="import runs (each into a fresh node); median shown")
    parser.add_argument("--requests", type=int, default=300, help="HTTP requests per measured call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp dir)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cordon-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.umask(0o077)
    path = workdir / "denials.jsonl"
    gen_s = generate(path, args.n, "MT", args.seed)
    print(f"generated {args.n:,} denials ({path.stat().st_size / 1e6:.1f} MB) in {gen_s:.1f} s", file=sys.stderr)

    port = free_port()
    import_times, cpu_times, worker_times, loads, data_dir = [], [], [], [], None
    for run in range(args.runs):
        data_dir = workdir / f"node{run}"
        new_node(data_dir, port)
        seconds, cpu, worker_cpu, load = timed_import(data_dir, path)
        import_times.append(seconds)
        cpu_times.append(cpu)
        worker_times.append(worker_cpu)
        loads.append(load)
        rows = count_rows(data_dir)
        if rows["denials"] != args.n or rows["denial_versions"] != 0 or rows["changes"] != args.n:
            raise RuntimeError(f"run {run + 1}: expected {args.n} denials and changes and no earlier versions, "
                               f"got {rows}")
        print(f"run {run + 1}: {seconds:.1f} s, {args.n / seconds:,.0f} records/s, "
              f"{cpu / args.n * 1e6:.0f} us CPU per record (+ {worker_cpu / args.n * 1e6:.0f} in the worker), "
              f"load average {load:.1f} "
              f"({rows['audit_log']:,} audit entries)", file=sys.stderr)
    before = count_rows(data_dir)
    reimport_s, reimport_cpu, reimport_worker, reimport_load = timed_import(data_dir, path)
    if count_rows(data_dir) != before:
        raise RuntimeError("re-import wrote records, versions, changes or audit entries")
    print(f"re-import: {reimport_s:.1f} s, {reimport_cpu / args.n * 1e6:.0f} us CPU per record "
          f"(+ {reimport_worker / args.n * 1e6:.0f} in the worker), load average {reimport_load:.1f}", file=sys.stderr)

    proc = start_node(data_dir, port)
    try:
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + token(data_dir, base)
        db = connect(data_dir / DB_NAME)
        uids = [r[0] for r in db.execute("SELECT uid FROM denials ORDER BY random() LIMIT ?", [args.requests])]
        db.conn.close()
        latencies(session, [base + LIST_URL] * 20 + [f"{base}/api/v1/denials/{u}" for u in uids[:20]])  # warm up
        list_ms = latencies(session, [base + LIST_URL] * args.requests)
        get_ms = latencies(session, [f"{base}/api/v1/denials/{u}" for u in uids])
        page = session.get(base + LIST_URL, timeout=30).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    median = statistics.median(import_times)
    print()
    print(f"Cordon import and read benchmark: {args.n:,} denials, {os.cpu_count()} CPUs, "
          f"{args.runs} import run(s)")
    print(f"{'measure':46} {'value':>14}")
    print(f"{'import, median wall time':46} {median:>12.1f} s")
    print(f"{'import rate (median run)':46} {args.n / median:>10,.0f} rec/s")
    print(f"{'import runs':46} {', '.join(f'{t:.1f}' for t in import_times):>14}")
    print(f"{'import CPU per record, median':46} {statistics.median(cpu_times) / args.n * 1e6:>10.0f} us")
    print(f"{'  + in the worker process, median':46} {statistics.median(worker_times) / args.n * 1e6:>10.0f} us")
    print(f"{'load average (1 min) at the end of each run':46} {', '.join(f'{x:.1f}' for x in loads):>14}")
    print(f"{'re-import of the same file (all unchanged)':46} {reimport_s:>12.1f} s")
    print(f"{'re-import CPU per record':46} {reimport_cpu / args.n * 1e6:>10.0f} us")
    print(f"{'  + in the worker process':46} {reimport_worker / args.n * 1e6:>10.0f} us")
    print(f"{'list ?status=active&country=IR&limit=50  p50':46} {statistics.median(list_ms):>11.1f} ms")
    print(f"{'list ?status=active&country=IR&limit=50  p95':46} {percentile(list_ms, 95):>11.1f} ms")
    print(f"{'get /api/v1/denials/<uid>  p50':46} {statistics.median(get_ms):>11.1f} ms")
    print(f"{'get /api/v1/denials/<uid>  p95':46} {percentile(get_ms, 95):>11.1f} ms")
    print(f"{'items on the list page':46} {len(page['items']):>14}")
    print(f"({args.requests} requests each over one keep-alive connection; files in {workdir})")


if __name__ == "__main__":
    main()
