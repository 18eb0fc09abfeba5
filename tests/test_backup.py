"""``cordon backup`` of a node that is serving and being written to at the same time."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time

import requests
from click.testing import CliRunner
from conftest import EVERY_DENIAL_VERSION, sample_denial
from nodeproc import NodeProcess, cordon, create_client

from node import samples
from node.app import create_app
from node.cli import main
from node.clients import ClientRegistry


BULK = 20


def patient_session(node, *scopes) -> requests.Session:
    """A session with a token, waiting as long as a busy machine needs (the node may still be warming up)."""
    client_id, secret = create_client(node.data_dir, "backup-writer", *scopes)
    issued = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret), timeout=300)
    assert issued.status_code == 200, issued.text
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + issued.json()["access_token"]
    return session


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_while_serving_and_writing(tmp_path):
    node = NodeProcess(tmp_path / "mt", "MT", "Malta")
    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in samples.denials(BULK, "MT", 5)),
                    encoding="utf-8")
    node.cli("denials", "import", bulk)
    node.start()
    try:
        session = patient_session(node, "publish")
        committed: list[tuple[float, str]] = []
        failures: list[str] = []
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                i += 1
                ref = f"MT/BK/{i:05d}"
                response = session.post(node.url + "/api/v1/denials", json=sample_denial(ref=ref), timeout=120)
                if response.status_code == 201:
                    committed.append((time.monotonic(), ref))
                else:
                    failures.append(f"{response.status_code} {response.text[:200]}")

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while len(committed) < 5 and thread.is_alive():
                time.sleep(0.05)
            began = time.monotonic()
            before = {ref for at, ref in committed if at < began}
            target = tmp_path / "backup"
            result = node.cli("backup", target)
            during = len(committed)
        finally:
            stop.set()
            thread.join(60)
        assert failures == []
        assert len(committed) > len(before), "the writer made no progress while the backup ran"
        assert "backup written to" in result.stdout

        conn = sqlite3.connect(target / "cordon.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            refs = {r[0] for r in conn.execute("SELECT ref FROM denials WHERE ref LIKE 'MT/BK/%'")}
            assert before <= refs
            assert len(refs) <= during
            assert conn.execute("SELECT count(*) FROM denials WHERE ref LIKE 'MT/DEN/%'").fetchone()[0] == BULK
            versions = conn.execute(f"SELECT count(*) FROM {EVERY_DENIAL_VERSION}").fetchone()[0]
            assert versions == BULK + len(refs)
        finally:
            conn.close()

        assert mode(target) == 0o700 and mode(target / "cordon.db") == 0o600
        for name in ("cordon.toml", "identity.json"):
            assert mode(target / name) == 0o600
            assert (target / name).read_bytes() == (node.data_dir / name).read_bytes()
        assert mode(target / "keys") == 0o700
        keys = sorted(p.name for p in (node.data_dir / "keys").iterdir())
        assert keys and sorted(p.name for p in (target / "keys").iterdir()) == keys
        assert all(mode(p) == 0o600 for p in (target / "keys").iterdir())
        for extra in node.data_dir.iterdir():
            if extra.name.startswith("cordon.db"):
                continue
            assert (target / extra.name).exists(), f"{extra.name} missing from the backup"

        verified = node.cli("audit", "verify")
        assert verified.returncode == 0
        assert cordon("audit", "verify", data_dir=target).returncode == 0
        exported = cordon("denials", "export", data_dir=target).stdout.splitlines()
        assert len(exported) == BULK + len(refs)
    finally:
        node.stop()


def test_backup_refuses_a_non_empty_directory(tmp_path, node_dir):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    result = cordon("backup", target, data_dir=node_dir, check=False)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"


def test_backup_refuses_a_directory_inside_the_data_directory(node_dir):
    before = sorted(str(path.relative_to(node_dir)) for path in node_dir.rglob("*"))
    for inside in (node_dir / "backups" / "monday", node_dir / "keys" / "bk", node_dir):
        result = cordon("backup", inside, data_dir=node_dir, check=False)
        assert result.returncode == 1 and "inside the data directory" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(str(path.relative_to(node_dir)) for path in node_dir.rglob("*")) == before


def test_backup_to_a_file_or_an_uncreatable_path_is_refused_plainly(tmp_path, node_dir):
    existing = tmp_path / "a-file"
    existing.write_text("keep me")
    result = cordon("backup", existing, data_dir=node_dir, check=False)
    assert result.returncode == 1 and "exists and is not a directory" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and existing.read_text() == "keep me"
    result = cordon("backup", existing / "below", data_dir=node_dir, check=False)
    assert result.returncode == 1 and f"cannot create {existing / 'below'}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_backup_that_fails_part_way_is_removed(tmp_path, node_dir):
    """A file of the data directory that cannot be copied (here a dangling link) fails the backup after the
    database was copied: nothing is left that could later be taken for a whole backup."""
    extra = node_dir / "extra"
    extra.mkdir()
    (extra / "gone").symlink_to(tmp_path / "nowhere")
    for target in (tmp_path / "new-backup", tmp_path / "empty-dir", tmp_path / "made" / "for" / "it"):
        if target.name == "empty-dir":
            target.mkdir()
        result = cordon("backup", target, data_dir=node_dir, check=False)
        assert result.returncode == 1 and "failed and was removed" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        if target.name == "empty-dir":
            assert list(target.iterdir()) == []
        else:  # with the directories made for it
            assert not target.exists() and not (tmp_path / "made").exists()


LARGE = 4000  # denials making a database of more pages than one backup step copies


def test_backup_of_a_large_database_finishes_while_writes_go_on(tmp_path, node_dir):
    """More pages than one backup step copies: a copy made in steps restarts on every commit
    between two steps and, on a node that keeps writing, never finishes."""
    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in samples.denials(LARGE, "MT", 9)),
                    encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(main, ["denials", "import", str(bulk), "--data-dir", str(node_dir)])
    assert imported.exit_code == 0, imported.output
    conn = sqlite3.connect(node_dir / "cordon.db")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert pages > 4096

    app = create_app(node_dir)
    api = app.test_client()
    registry = ClientRegistry(app.extensions["cordon"].db())
    c, secret = registry.create("writer", ["publish"], actor="test")
    token = api.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(c.client_id, secret))
    headers = {"Authorization": "Bearer " + token.get_json()["access_token"]}
    stop = threading.Event()
    statuses: list[int] = []

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            response = api.post("/api/v1/denials", json=sample_denial(ref=f"MT/BL/{i:05d}"), headers=headers)
            statuses.append(response.status_code)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(statuses) < 3:
            time.sleep(0.01)
        before = statuses.count(201)
        finished = {}

        def backup():
            finished["result"] = runner.invoke(main, ["backup", str(tmp_path / "copy"), "--data-dir", str(node_dir)])

        copier = threading.Thread(target=backup)
        copier.start()
        copier.join(120)
        assert not copier.is_alive(), "the backup did not finish while the node kept writing"
    finally:
        stop.set()
        thread.join(60)
        app.extensions["cordon"].close()
    assert set(statuses) == {201}
    result = finished["result"]
    assert result.exit_code == 0, result.output
    copy = sqlite3.connect(tmp_path / "copy" / "cordon.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM denials WHERE ref LIKE 'MT/DEN/%'").fetchone()[0] == LARGE
        assert copy.execute("SELECT count(*) FROM denials WHERE ref LIKE 'MT/BL/%'").fetchone()[0] >= before
    finally:
        copy.close()
