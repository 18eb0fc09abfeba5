"""Many writers at once over real HTTP against one served node: no 500s, no "database is locked"."""

from __future__ import annotations

import sqlite3
import threading

import requests
from conftest import EVERY_DENIAL_VERSION, sample_denial
from nodeproc import NodeProcess, create_client

from node.audit import AuditLog
from node.database import connect

THREADS = 24
PER_THREAD = 4
TIMEOUT = 300  # a loaded machine may queue writers for a long time; none may fail


def test_concurrent_creates_and_amends(tmp_path):
    node = NodeProcess(tmp_path / "mt", "MT", "Malta").start()
    try:
        client_id, secret = create_client(node.data_dir, "writers", "publish", "read")
        issued = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client_id, secret), timeout=TIMEOUT)
        token = issued.json()["access_token"]
        failures: list[str] = []
        created: dict[str, str] = {}
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def worker(n: int):
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            start.wait()
            for i in range(PER_THREAD):
                ref = f"MT/CW/{n:02d}/{i}"
                response = session.post(node.url + "/api/v1/denials", json=sample_denial(ref=ref), timeout=TIMEOUT)
                if response.status_code != 201:
                    failures.append(f"create {ref}: {response.status_code} {response.text[:200]}")
                    continue
                uid = response.json()["uid"]
                with lock:
                    created[ref] = uid
                for version in (2, 3):
                    amended = session.patch(f"{node.url}/api/v1/denials/{uid}",
                                            json={"reason_text": f"Assessment {version} by writer {n}."},
                                            headers={"If-Match": f'"{version - 1}"'}, timeout=TIMEOUT)
                    if amended.status_code != 200 or amended.json()["version"] != version:
                        failures.append(f"amend {ref}: {amended.status_code} {amended.text[:200]}")
            # Everyone also amends one shared record without If-Match: all must queue, none may fail.
            shared = session.patch(f"{node.url}/api/v1/denials/{shared_uid}",
                                   json={"reason_text": f"Touched by writer {n}."}, timeout=TIMEOUT)
            if shared.status_code != 200:
                failures.append(f"shared amend: {shared.status_code} {shared.text[:200]}")

        first = requests.post(node.url + "/api/v1/denials", json=sample_denial(ref="MT/CW/shared"),
                              headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        assert first.status_code == 201
        shared_uid = first.json()["uid"]

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert len(created) == THREADS * PER_THREAD
        log = node.log()
        assert "database is locked" not in log and "Traceback" not in log
    finally:
        assert node.stop() == 0

    db = connect(node.data_dir / "cordon.db")
    try:
        rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT ref, uid, version FROM denials")}
        for ref, uid in created.items():
            assert rows[ref] == (uid, 3), ref
        assert rows["MT/CW/shared"][1] == 1 + THREADS
        versions = db.execute(f"SELECT count(*) FROM {EVERY_DENIAL_VERSION}").fetchone()[0]
        assert versions == THREADS * PER_THREAD * 3 + 1 + THREADS
        changes = [tuple(r) for r in db.execute("SELECT uid, version FROM changes ORDER BY seq")]
        assert len(changes) == versions and len(set(changes)) == versions
        shared_versions = [v for uid, v in changes if uid == rows["MT/CW/shared"][0]]
        assert shared_versions == sorted(shared_versions)  # commit order is version order
        report = AuditLog(db).verify()
        assert report.ok, report.problems
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.conn.close()
    assert sqlite3.connect(node.data_dir / "cordon.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
