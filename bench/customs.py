"""Customs write-offs per second against one licence line, over real HTTP.

Starts a real ``cordon serve`` on a fresh data directory, records one licence,
then runs 8 concurrent clients (one persistent keep-alive HTTP/1.1 connection
each) that send checks against the same licence line for a fixed time. A
share of the checks are repeats of a declaration already sent (the
idempotency path). Afterwards it checks the books: the balance must equal the
licensed quantity minus exactly one write-off per distinct accepted
declaration, every declaration must be stored once, and no repeat may have
written anything off.

Prints, per run and as the median of the runs: checks per second, p50 / p95 /
p99 latency of one check, the CPU time the server process and the clients (this
process) spent per check, the 1-minute load average during the run (the machine
may be shared: CPU per check is the figure that does not depend on other work),
and the book-keeping verdict. Each run waits until the node has finished its
start-up work (the screening warm-up runs in the background) before measuring.

    .venv/bin/python bench/customs.py [--clients 8] [--seconds 10] [--runs 3] [--repeats 0.05] [--parties]
                                      [--server-threads N] [--workers 1 2]

``--workers 1 2`` runs each number of serving processes (the node's
``server_workers`` setting) in turn, run by run, and prints the median of each
and their ratio; server CPU then counts every serving process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.clients import ClientRegistry  # noqa: E402
from node.config import Settings  # noqa: E402
from node.customs_schemas import make_mrn  # noqa: E402
from node.database import DB_NAME  # noqa: E402
from node.datadir import initialise  # noqa: E402
from node.licences import LicenceRegistry  # noqa: E402
from node.runtime import NodeRuntime  # noqa: E402

NUMBER = "MT/LIC/2026/BENCH"
LICENSED = Decimal("1000000000")
PATH = "/api/v1/licences/" + NUMBER + "/checks"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(root: Path, server_threads: int | None = None, workers: int = 1) -> tuple[Path, int, str, str]:
    port = free_port()
    data_dir = root / "mt"
    extra = {"server_threads": server_threads} if server_threads else {}
    extra["server_workers"] = workers
    initialise(data_dir, Settings(node_id="MT", name="Malta", base_url=f"http://127.0.0.1:{port}", **extra),
               dt.datetime.now(dt.timezone.utc))
    runtime = NodeRuntime(data_dir)
    today = dt.datetime.now(dt.timezone.utc).date()
    LicenceRegistry(runtime.db(), "MT").create({
        "number": NUMBER, "type": "global",
        "exporter": {"role": "exporter", "names": [{"text": "Melita Precision Ltd"}], "country": "MT"},
        "destinations": ["TN", "MA"], "valid_from": (today - dt.timedelta(days=30)).isoformat(),
        "valid_to": (today + dt.timedelta(days=700)).isoformat(),
        "lines": [{"line_no": 1, "cn_code": "84581110", "quantity": str(LICENSED), "unit": "pcs"}],
    }, actor="bench")
    client, secret = ClientRegistry(runtime.db()).create("bench-customs", ["customs"], actor="bench")
    runtime.close()
    return data_dir, port, client.client_id, secret


def start_server(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "serve", "--data-dir", str(data_dir)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    deadline = time.monotonic() + 120  # cordon serve loads the screening name data before it listens
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the node did not start; see {log_path}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serving_pids(pid: int) -> list[int]:
    """The node's serving processes: ``pid`` and the worker processes it started (not its name indexer)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"node.worker_pool" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def serving_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def settle(pid: int, *, busy: float = 0.1, window: float = 0.5, limit: float = 60.0) -> None:
    """Wait until the server has done its start-up work (the screening warm-up runs in the background
    after the node answers): its CPU use over ``window`` seconds falls below ``busy`` of one core."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < busy * window:
            return


def token(port: int, client_id: str, secret: str) -> str:
    import base64

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    conn.request("POST", "/oauth/token", body="grant_type=client_credentials",
                 headers={"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"})
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body["access_token"]


class Worker(threading.Thread):
    def __init__(self, index: int, port: int, bearer: str, stop_at: float, repeats: float, parties: bool,
                 start: threading.Barrier):
        super().__init__(daemon=True)
        self.index, self.port, self.bearer = index, port, bearer
        self.stop_at, self.repeats, self.parties, self.start_barrier = stop_at, repeats, parties, start
        self.latencies: list[float] = []
        self.sent: dict[str, str] = {}      # declaration ref -> result of its first answer
        self.repeated: list[tuple[str, str]] = []  # (ref, result of the repeat)
        self.errors: list[str] = []
        self.rng = random.Random(index)
        self.year = dt.datetime.now(dt.timezone.utc).year

    def body(self, ref: str) -> bytes:
        body = {"declaration_ref": ref, "line_no": 1, "cn_code": "84581110", "quantity": "1", "unit": "pcs",
                "destination": "TN", "customs_office": f"MT00010{self.index}",
                "declared_at": dt.datetime.now(dt.timezone.utc).date().isoformat()}
        if self.parties:
            body["parties"] = [{"role": "consignee", "names": [{"text": "Sfax Industrial Components SARL"}],
                                "country": "TN"}]
        return json.dumps(body).encode()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": "Bearer " + self.bearer, "Content-Type": "application/json"}
        self.start_barrier.wait()
        serial = 0
        while time.monotonic() < self.stop_at:
            if self.sent and self.rng.random() < self.repeats:
                ref, repeat = self.rng.choice(list(self.sent)), True
            else:
                serial += 1
                ref, repeat = make_mrn(self.year, "MT", f"{self.index:02d}{serial:011d}"), False
            started = time.perf_counter()
            try:
                conn.request("POST", PATH, body=self.body(ref), headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            self.latencies.append(time.perf_counter() - started)
            if response.status != 201:
                self.errors.append(f"{response.status} {payload[:120]!r}")
                continue
            result = json.loads(payload)["result"]
            if repeat:
                self.repeated.append((ref, result))
            else:
                self.sent[ref] = result
        conn.close()


def one_run(clients: int, seconds: float, repeats: float, parties: bool, server_threads: int | None = None,
            workers: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="cordon-bench-customs-") as tmp:
        root = Path(tmp)
        data_dir, port, client_id, secret = prepare(root, server_threads, workers)
        proc = start_server(data_dir, port, root / "serve.log")
        try:
            pids = [proc.pid]
            deadline = time.monotonic() + 60
            while len(pids) < workers and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = serving_pids(proc.pid)
            for pid in pids:
                settle(pid)
            bearer = token(port, client_id, secret)
            warm = Worker(99, port, bearer, time.monotonic() + 1.0, 0.0, parties, threading.Barrier(1))
            warm.run()
            barrier = threading.Barrier(clients + 1)
            stop_at = time.monotonic() + seconds + 0.2
            workers = [Worker(i, port, bearer, stop_at, repeats, parties, barrier) for i in range(clients)]
            for worker in workers:
                worker.start()
            server_cpu = serving_cpu(pids)
            client_cpu = time.process_time()
            barrier.wait()
            began = time.monotonic()
            loads = []
            while any(worker.is_alive() for worker in workers):
                loads.append(os.getloadavg()[0])
                time.sleep(0.5)
            for worker in workers:
                worker.join()
            elapsed = time.monotonic() - began
            server_cpu = serving_cpu(pids) - server_cpu
            client_cpu = time.process_time() - client_cpu
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        conn = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
        balance = Decimal(conn.execute("SELECT balance_quantity FROM licence_lines").fetchone()[0])
        stored = conn.execute("SELECT count(*), count(DISTINCT declaration_ref) FROM customs_checks "
                              "WHERE kind = 'check'").fetchone()
        written = Decimal(conn.execute("SELECT coalesce(sum(CAST(written_quantity AS INTEGER)), 0) "
                                       "FROM customs_checks WHERE kind = 'check'").fetchone()[0])
        conn.close()
    latencies = sorted(x for w in workers for x in w.latencies)
    sent = {ref: result for w in workers + [warm] for ref, result in w.sent.items()}
    accepted = sum(1 for result in sent.values() if result == "accepted")
    repeats_done = [r for w in workers for r in w.repeated]
    total = sum(len(w.latencies) for w in workers)
    books = {
        "balance_is_licensed_minus_accepted": balance == LICENSED - accepted,
        "written_off_equals_accepted": written == accepted,
        "every_declaration_stored_once": stored[0] == stored[1] == len(sent),
        "repeats_answered_as_first": all(sent[ref] == result for ref, result in repeats_done),
    }
    return {
        "checks": total, "repeats": len(repeats_done), "seconds": round(elapsed, 2),
        "checks_per_second": round(total / elapsed, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 1), "p95_ms": round(1000 * percentile(latencies, 95), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
        "server_cpu_ms_per_check": round(1000 * server_cpu / max(total, 1), 2),
        "client_cpu_ms_per_check": round(1000 * client_cpu / max(total, 1), 2),
        "load_average": round(statistics.mean(loads), 1) if loads else float("nan"),
        "errors": sum(len(w.errors) for w in workers + [warm]), "books_ok": all(books.values()), "books": books,
        "serving_processes": len(pids),
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def summary(runs: list[dict]) -> str:
    return (f"{statistics.median(r['checks_per_second'] for r in runs)} checks/s, "
            f"p50 {statistics.median(r['p50_ms'] for r in runs)} ms, "
            f"p95 {statistics.median(r['p95_ms'] for r in runs)} ms, "
            f"p99 {statistics.median(r['p99_ms'] for r in runs)} ms, "
            f"server CPU {statistics.median(r['server_cpu_ms_per_check'] for r in runs)} ms/check, "
            f"client CPU {statistics.median(r['client_cpu_ms_per_check'] for r in runs)} ms/check, "
            f"load {statistics.median(r['load_average'] for r in runs)}; "
            f"books {'ok in every run' if all(r['books_ok'] for r in runs) else 'WRONG'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=float, default=0.05, help="share of checks that repeat a declaration")
    parser.add_argument("--parties", action="store_true", help="declare one party per check (screened)")
    parser.add_argument("--server-threads", type=int, default=None,
                        help="the node's server_threads setting (default: the setting's default)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="the node's server_workers setting; several values are run in turn")
    args = parser.parse_args()
    runs: dict[int, list[dict]] = {w: [] for w in args.workers}
    for number in range(1, args.runs + 1):
        for workers in args.workers:
            result = one_run(args.clients, args.seconds, args.repeats, args.parties, args.server_threads, workers)
            runs[workers].append(result)
            print(f"run {number}, {workers} serving process(es): {result['checks']} checks "
                  f"({result['repeats']} repeats) in {result['seconds']} s: "
                  f"{result['checks_per_second']}/s, p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
                  f"p99 {result['p99_ms']} ms, server CPU {result['server_cpu_ms_per_check']} ms/check, "
                  f"client CPU {result['client_cpu_ms_per_check']} ms/check, "
                  f"load {result['load_average']}, errors {result['errors']}, "
                  f"books {'ok' if result['books_ok'] else 'WRONG'}"
                  + ("" if result["books_ok"] else f" {result['books']}"), flush=True)
    for workers, results in runs.items():
        print(f"median of {len(results)} runs with {args.clients} clients, {workers} serving process(es)"
              f"{' (one party screened per check)' if args.parties else ''}: {summary(results)}")
    if len(args.workers) > 1:
        base = statistics.median(r["checks_per_second"] for r in runs[args.workers[0]])
        for workers in args.workers[1:]:
            other = statistics.median(r["checks_per_second"] for r in runs[workers])
            print(f"checks/s with {workers} serving processes / with {args.workers[0]}: {other / base:.2f}")
    if not all(r["books_ok"] for results in runs.values() for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
