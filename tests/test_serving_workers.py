"""A node with two serving processes (setting ``server_workers = 2``), real processes on loopback.

The first process is held with SIGSTOP where a test needs the second one to answer: the
kernel then hands every new connection to the process that is still accepting.
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import sample_denial
from federation_support import Federation, wait_for

WORKER = b"node.worker_pool"


def worker_pids(primary: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == primary and WORKER in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@contextmanager
def held(pid: int):
    """The process stopped (SIGSTOP) for the block, continued afterwards."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def fresh(method: str, url: str, **kwargs) -> requests.Response:
    """One request on a new connection (no keep-alive), so that whichever process accepts it answers."""
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=20, **kwargs)


def request_count(text: str, method: str, route: str, status: str) -> float:
    pattern = (r'^cordon_http_requests_total\{(?=[^}]*method="' + method + r'")(?=[^}]*route="' + re.escape(route)
               + r'")(?=[^}]*status="' + status + r'")[^}]*\} ([0-9.e+]+)$')
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    # Push and pull on a schedule only once an hour: a record reaches DE within the test only if a
    # change in the worker process woke the first process's push worker.
    quiet = {"push_interval_seconds": 3600, "sync_interval_seconds": 3600}
    federation = Federation(tmp_path_factory.mktemp("workers"), ("MT", "DE"),
                            settings={"*": quiet, "MT": {**quiet, "server_workers": 2}}).init().peer_all().start()
    yield federation
    federation.close()


def test_worker_answers_wakes_push_and_is_counted(fed):
    mt = fed["MT"]
    primary = mt.proc.pid
    workers = wait_for(lambda: worker_pids(primary), 30, what="MT to start a second serving process")
    assert len(workers) == 1
    client_id, secret = fed._clients["MT"]
    token = fresh("POST", mt.url + "/oauth/token", data={"grant_type": "client_credentials"},
                  auth=(client_id, secret)).json()["access_token"]
    ref = "MT/DEN/T/WORKER-1"
    with held(primary):
        # Only the worker accepts now: it answers the publish and commits it.
        response = fresh("POST", mt.url + "/api/v1/denials", json=sample_denial(ref),
                         headers={"Authorization": "Bearer " + token})
        assert response.status_code == 201, response.text
    # The first process runs again; the worker's wake-up is waiting in the pipe.
    de = fed.api("DE")
    wait_for(lambda: any(d["ref"] == ref for d in
                         de.get(fed.url("DE", "/api/v1/denials"), params={"origin": "MT"}, timeout=10)
                         .json()["items"]),
             15, what="the denial published through the worker to reach DE by push")
    with held(workers[0]):
        # Only the first process accepts now: its /metrics adds up the worker's counters too.
        metrics = fresh("GET", mt.url + "/metrics")
    assert metrics.status_code == 200
    assert request_count(metrics.text, "POST", "/api/v1/denials", "201") >= 1
    metrics_files = list((mt.data_dir / "metrics").glob("*.db"))
    assert {int(re.search(r"_(\d+)\.db$", f.name).group(1)) for f in metrics_files} >= {primary, workers[0]}


def test_worker_restarted_after_crash_and_stopped_with_node(fed):
    mt = fed["MT"]
    primary = mt.proc.pid
    [first] = wait_for(lambda: worker_pids(primary), 30, what="MT's second serving process")
    os.kill(first, signal.SIGKILL)
    [second] = wait_for(lambda: [p for p in worker_pids(primary) if p != first], 15,
                        what="the second serving process to be started again")
    assert "serving process 2 ended (exit -9); starting it again" in mt.log()
    # The restarted worker answers: hold the first process and ask.
    wait_for(lambda: mt.log().count("serving process 2 ready") >= 2, 30, what="the restarted worker to be ready")
    with held(primary):
        assert fresh("GET", mt.url + "/healthz").status_code == 200
    assert mt.stop() == 0
    wait_for(lambda: not Path(f"/proc/{second}").exists() or
             "Z" in Path(f"/proc/{second}/stat").read_text().rsplit(")", 1)[1].split()[0],
             10, what="the worker process to end with the node")


def test_serve_refuses_a_bad_number_of_serving_processes(tmp_path):
    from federation_support import init_data_dir
    from nodeproc import cordon

    init_data_dir(tmp_path / "mt", "MT")
    config = tmp_path / "mt" / "cordon.toml"
    config.write_text(config.read_text().replace("server_workers = 1", "server_workers = 0"))
    result = cordon("serve", data_dir=tmp_path / "mt", check=False)
    assert result.returncode == 1
    assert "server_workers: must be a whole number from 1 to 16" in result.stderr
