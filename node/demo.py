"""``make demo``: a local federation of three nodes (Malta, Germany, Tunisia) on loopback.

Each node gets its own data directory under ``.demo/``, keys, sample
denials and licences with multilingual party names, an API client and the
demo sharing policy; the nodes are peered with each other (fingerprints
confirmed, as an administrator would) and served by ``cordon serve``.
The script prints the URLs and ready tokens, shows records crossing, and
stops all three nodes cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

NODES = [("MT", "Malta", 8701), ("DE", "Germany", 8702), ("TN", "Tunisia", 8703)]
ROOT = Path(__file__).resolve().parent.parent
DEMO_USERS = [("officer", "publish"), ("analyst", "read"), ("customs", "customs"), ("admin", "admin")]
DEMO_PASSWORD = "demo-password-only"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def choose_ports() -> list[int]:
    ports = [p for _, _, p in NODES]
    if all(port_free(p) for p in ports):
        return ports
    chosen = []
    for _ in NODES:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            chosen.append(sock.getsockname()[1])
    return chosen


def prepare(base: Path, ports: list[int]) -> dict:
    from .clients import ClientRegistry
    from .config import Settings
    from .datadir import initialise
    from .denials import DenialRegistry
    from .importer import run_bulk_import
    from .licences import LicenceRegistry
    from .peers import PeerRegistry
    from .policy_admin import apply as apply_policy
    from .policy_store import shipped_policy
    from .runtime import NodeRuntime
    from .samples import demo_denials, licences
    from .timestamps import utc_now
    from .users import UserRegistry

    now = utc_now()
    info = {}
    for (node_id, name, _), port in zip(NODES, ports):
        data_dir = base / node_id.lower()
        keyring = initialise(data_dir, Settings(node_id=node_id, name=name, base_url=f"http://127.0.0.1:{port}"), now)
        info[node_id] = {"dir": data_dir, "port": port, "name": name, "identity": keyring.signed_identity(),
                         "fingerprint": keyring.fingerprint()}
    for node_id, node in info.items():
        runtime = NodeRuntime(node["dir"])
        db = runtime.db()
        registry = PeerRegistry(db, node_id)
        for other_id, other in info.items():
            if other_id != node_id:
                registry.add(other["identity"], other["fingerprint"], actor="demo")
        apply_policy(db, node_id, node["dir"], shipped_policy("examples/mediterranean-demo.yaml"), actor="demo")
        denials = DenialRegistry(db, node_id)
        rows = ((i, d) for i, d in enumerate(demo_denials(node_id), start=1))
        report = run_bulk_import(db, rows, lambda chunk: denials.import_many(chunk, actor="demo"))
        for rejection in report.rejected:
            print(f"  {node_id}: sample denial {rejection.line} rejected: {rejection.reason}")
        licence_registry = LicenceRegistry(db, node_id)
        rows = ((i, d) for i, d in enumerate(licences(5, node_id, seed=3), start=1))
        report = run_bulk_import(db, rows, lambda chunk: licence_registry.import_many(chunk, actor="demo"))
        for rejection in report.rejected:
            print(f"  {node_id}: sample licence {rejection.line} rejected: {rejection.reason}")
        licence_registry.expire_due(now=now, actor="demo")
        client, secret = ClientRegistry(db).create("demo", ["read", "publish", "customs", "admin", "coordinator"],
                                                   actor="demo")
        node["client"] = (client.client_id, secret)
        users = UserRegistry(db)
        for user_name, role in DEMO_USERS:
            users.create(user_name, role, DEMO_PASSWORD, actor="demo")
        runtime.close()
    return info


def start(info: dict) -> dict[str, subprocess.Popen]:
    procs = {}
    for node_id, node in info.items():
        log = open(node["dir"] / "node.log", "ab")
        procs[node_id] = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "serve", "--data-dir", str(node["dir"])],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    print("Starting the three nodes (each first loads its name data for screening: up to a minute) ...", flush=True)
    deadline = time.monotonic() + 240
    for node_id, node in info.items():
        url = f"http://127.0.0.1:{node['port']}"
        while True:
            problem = None
            if procs[node_id].poll() is not None:
                problem = f"node {node_id} failed to start; see {node['dir'] / 'node.log'}"
            elif time.monotonic() > deadline:
                problem = f"node {node_id} did not answer within 240 s; see {node['dir'] / 'node.log'}"
            if problem:
                for proc in procs.values():
                    if proc.poll() is None:
                        proc.terminate()
                raise SystemExit(problem)
            try:
                if requests.get(url + "/healthz", timeout=0.5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        node["url"] = url
    return procs


def token(node: dict) -> str:
    response = requests.post(node["url"] + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=node["client"], timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def counts(node: dict, bearer: str) -> dict[str, int]:
    out: dict[str, int] = {}
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = requests.get(node["url"] + "/api/v1/denials", params=params,
                            headers={"Authorization": "Bearer " + bearer}, timeout=10).json()
        for doc in page["items"]:
            out[doc["origin"]] = out.get(doc["origin"], 0) + 1
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def demo_ref(node: dict) -> str:
    import sqlite3

    conn = sqlite3.connect(str(node["dir"] / "cordon.db"))
    try:
        row = conn.execute("SELECT ref FROM denials WHERE origin = 'MT' ORDER BY rowid LIMIT 1").fetchone()
    finally:
        conn.close()
    return row[0] if row else "MT/DEN/2026/000001"


def main() -> None:
    os.umask(0o077)
    base = ROOT / ".demo"
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(mode=0o700)
    ports = choose_ports()
    print("Setting up a local federation of three Cordon nodes in .demo/ ...", flush=True)
    info = prepare(base, ports)
    procs = start(info)

    def stop_children() -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop_all(*_):
        sys.exit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    failed = False
    try:
        failed = show(info, procs)
    finally:
        stopped = any(proc.poll() is None for proc in procs.values())
        stop_children()
        if stopped:
            try:
                print("\nAll three nodes stopped. Their data stays in .demo/ until the next `make demo`.", flush=True)
            except OSError:
                pass
    if failed:
        sys.exit(1)


def show(info: dict, procs: dict) -> bool:
    """Print how to use the running federation, then watch the nodes; True when a node exited by itself."""
    tokens = {node_id: token(node) for node_id, node in info.items()}
    print()
    for node_id, node in info.items():
        print(f"{node_id} {node['name']:8} {node['url']}   data: .demo/{node_id.lower()}   log: .demo/{node_id.lower()}/node.log")
        print(f"   API token (valid {15} min): {tokens[node_id]}")
        print(f"   client: {node['client'][0]} / {node['client'][1]}")
        print(f"   fingerprint: {node['fingerprint']}")
    print()
    print("Records crossing (denials held by each node, by origin):")
    deadline = time.monotonic() + 30
    while True:
        table = {node_id: counts(node, tokens[node_id]) for node_id, node in info.items()}
        if all(len(c) == len(info) for c in table.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for node_id, by_origin in table.items():
        print(f"   {node_id} holds " + ", ".join(f"{origin}: {n}" for origin, n in sorted(by_origin.items())))
    print("   (each node receives what the others' sharing policy lets it see: "
          "policies/examples/mediterranean-demo.yaml)")
    mt = info["MT"]
    print()
    print("Web pages: sign in at <node URL>/ui/login as officer, analyst, customs or admin, "
          f"password {DEMO_PASSWORD} (demo only)")
    print()
    print("Try it:")
    print(f"   curl -H 'Authorization: Bearer {tokens['DE']}' '{info['DE']['url']}/api/v1/denials?origin=MT&limit=2'")
    print(f"   curl {mt['url']}/api/v1/openapi.json")
    print("   .venv/bin/cordon peers list --data-dir .demo/mt")
    first_ref = demo_ref(info["MT"])
    print(f"   .venv/bin/cordon policy explain --record {first_ref} --peer TN --data-dir .demo/mt")
    print("   .venv/bin/cordon screen 'Mohammed Ali Hassan Al Rashid' --live --data-dir .demo/de")
    print()
    print("Press Ctrl-C to stop all three nodes.", flush=True)
    while True:
        for node_id, proc in procs.items():
            if proc.poll() is not None:
                print(f"node {node_id} exited with {proc.returncode}; see .demo/{node_id.lower()}/node.log")
                return True
        time.sleep(1)


if __name__ == "__main__":
    main()
