"""The name indexer's rounds, and how it leaves the cores to bulk writing (real files, real processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from click.testing import CliRunner
from conftest import sample_denial

from node import party_names
from node.cli import main
from node.database import DB_NAME, BulkWork, connect
from node.indexer import IndexerStep


def pending_after_import(node_dir, tmp_path, count: int = 3) -> int:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(sample_denial(ref=f"MT/IDX/{i}"), ensure_ascii=False) + "\n"
                            for i in range(count)), encoding="utf-8")
    result = CliRunner().invoke(main, ["denials", "import", str(path), "--data-dir", str(node_dir)])
    assert result.exit_code == 0, result.output
    db = connect(node_dir / DB_NAME)
    try:
        return party_names.pending(db)
    finally:
        db.conn.close()


def test_the_indexer_waits_while_bulk_writing_goes_on_and_catches_up_after(node_dir, tmp_path):
    pending = pending_after_import(node_dir, tmp_path)
    assert pending > 0
    db = connect(node_dir / DB_NAME)
    try:
        step = IndexerStep(db, BulkWork(node_dir), batch=pending)
        with BulkWork(node_dir) as pull:
            assert pull.active()
            assert step.run() == 0
            assert party_names.pending(db) == pending
        assert not BulkWork(node_dir).active()
        assert step.run() == pending
        assert party_names.pending(db) == 0
    finally:
        db.conn.close()


def test_two_bulk_writers_hold_the_marker_together_and_a_killed_one_lets_go(node_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from node.database import BulkWork; "
         "w = BulkWork(sys.argv[1]).__enter__(); print('held', flush=True); sys.stdin.read()", str(node_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        marker = BulkWork(node_dir)
        assert marker.active()
        with BulkWork(node_dir):  # a second writer is not held up by the first
            assert marker.active()
        assert marker.active()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not BulkWork(node_dir).active()
