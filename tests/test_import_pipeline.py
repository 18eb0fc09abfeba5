"""The pipelined import (``importer.run_pipelined_import``): worker processes read and prepare the
rows, chunk by chunk in turn, while this process writes them; the result is the same as the
one-process import's."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import sample_denial

from node import importer
from node.cli import main
from node.database import DB_NAME, connect
from node.denials import DenialRegistry
from node.runtime import NodeRuntime

ROOT = Path(__file__).resolve().parent.parent


def rows(data_dir, sql):
    db = connect(data_dir / DB_NAME)
    try:
        return [tuple(r) for r in db.execute(sql).fetchall()]
    finally:
        db.conn.close()


def import_file(data_dir, path, *, pipelined, progress=None):
    runtime = NodeRuntime(data_dir)
    try:
        registry = DenialRegistry(runtime.db(), runtime.node_id)
        if pipelined:
            return importer.run_pipelined_import(
                runtime.db(), path, registry.preparer,
                lambda prepared, now: registry.store_prepared(prepared, actor="test", now=now), progress=progress)
        return importer.run_bulk_import(runtime.db(), importer.read_rows(path, "denial"),
                                        lambda chunk: registry.import_many(chunk, actor="test"), progress=progress)
    finally:
        runtime.close()


def mixed_file(path: Path, count: int) -> Path:
    """``count`` lines: good denials, and around the chunk boundaries invalid rows, broken JSON, a
    blank line and a reference given twice (the second time with other content)."""
    batch = importer.BATCH
    lines = []
    for n in range(1, count + 1):
        if n in (1, batch, batch + 1, 2 * batch):
            lines.append(json.dumps(sample_denial(ref=f"MT/DEN/2026/X{n:05d}", destination_country="XX")))
        elif n == batch - 1:
            lines.append("{not json")
        elif n == batch + 2:
            lines.append("")
        elif n == batch + 3:
            lines.append(json.dumps(sample_denial(ref="MT/DEN/2026/00002", reason_text="Changed in the same file.")))
        else:
            lines.append(json.dumps(sample_denial(ref=f"MT/DEN/2026/{n:05d}", reason_text=f"Assessment {n}"),
                                    ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def counts(data_dir):
    return rows(data_dir, "SELECT (SELECT count(*) FROM denials), (SELECT count(*) FROM denial_versions), "
                          "(SELECT count(*) FROM changes), (SELECT count(*) FROM audit_log), "
                          "(SELECT count(*) FROM party_names), (SELECT count(*) FROM index_feed)")[0]


def test_the_worker_process_gives_what_one_process_gives(node_dir, tmp_path):
    import datetime as dt

    from node.config import Settings
    from node.datadir import initialise

    path = mixed_file(tmp_path / "mixed.jsonl", 2 * importer.BATCH + 30)
    other = tmp_path / "one-process"
    initialise(other, Settings(node_id="MT", name="Malta", base_url="http://127.0.0.1:8703"),
               dt.datetime.now(dt.timezone.utc))
    seen = []
    piped = import_file(node_dir, path, pipelined=True, progress=seen.append)
    alone = import_file(other, path, pipelined=False)

    assert (piped.created, piped.amended, piped.unchanged) == (alone.created, alone.amended, alone.unchanged)
    assert (piped.amended, len(piped.rejected)) == (1, 5)
    assert [(r.line, r.reason) for r in piped.rejected] == [(r.line, r.reason) for r in alone.rejected]
    assert [r.line for r in piped.rejected] == [1, importer.BATCH - 1, importer.BATCH, importer.BATCH + 1,
                                                2 * importer.BATCH]
    assert sum(seen) == 2 * importer.BATCH + 29 and len(seen) == 3  # the blank line is no row
    assert counts(node_dir) == counts(other)
    stored = rows(node_dir, "SELECT ref, version, doc FROM denials ORDER BY ref")
    assert [(ref, version) for ref, version, _ in stored] == [
        (ref, version) for ref, version, _ in rows(other, "SELECT ref, version, doc FROM denials ORDER BY ref")]
    changed = next(json.loads(doc) for ref, _, doc in stored if ref == "MT/DEN/2026/00002")
    assert changed["version"] == 2 and changed["reason_text"] == "Changed in the same file."
    changes = "SELECT d.ref, c.version FROM changes c JOIN denials d ON d.uid = c.uid ORDER BY c.seq"
    assert rows(node_dir, changes) == rows(other, changes)

    again = import_file(node_dir, path, pipelined=True)
    again_alone = import_file(other, path, pipelined=False)
    assert (again.created, again.amended, again.unchanged) == (again_alone.created, again_alone.amended,
                                                               again_alone.unchanged) == (0, 2, piped.created - 1)
    assert counts(node_dir) == counts(other)
    verified = CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(node_dir)])
    assert verified.exit_code == 0, verified.output
    assert multiprocessing.active_children() == []


def test_a_large_file_goes_through_the_worker_from_the_command(node_dir, tmp_path):
    count = importer.PIPELINE_LINES + 10
    items = [sample_denial(ref=f"MT/DEN/2026/{n:05d}") for n in range(1, count + 1)]
    items[7] = sample_denial(ref="MT/DEN/2026/BAD", parties=[])
    path = tmp_path / "large.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    result = CliRunner().invoke(main, ["denials", "import", str(path), "--data-dir", str(node_dir)])
    assert result.exit_code == 2
    assert f"{count - 1} created, 0 amended, 0 unchanged, 1 rejected" in result.stdout
    assert "line 8: the denial is not valid: parties:" in result.stderr
    assert "importing large.jsonl" in result.stderr  # the progress bar
    again = CliRunner().invoke(main, ["denials", "import", str(path), "--data-dir", str(node_dir)])
    assert f"0 created, 0 amended, {count - 1} unchanged, 1 rejected" in again.stdout
    assert rows(node_dir, "SELECT count(*), count(DISTINCT ref) FROM denials") == [(count - 1, count - 1)]
    assert CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(node_dir)]).exit_code == 0


def test_an_error_in_the_worker_is_raised_here_and_nothing_is_left_running(node_dir, tmp_path):
    path = tmp_path / "parties.csv"
    path.write_text("name,aliases,country\nKamran Aerotech,,PK\n", encoding="utf-8")
    with pytest.raises(importer.RowError, match="the header names column"):
        import_file(node_dir, path, pipelined=True)
    assert multiprocessing.active_children() == []

    undecodable = tmp_path / "latin1.jsonl"
    undecodable.write_bytes(json.dumps(sample_denial()).encode() + b"\n" + '{"ref": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(UnicodeDecodeError) as raised:
        import_file(node_dir, undecodable, pipelined=True)
    assert "in the import's worker process" in "".join(raised.value.__notes__)
    assert multiprocessing.active_children() == []


def test_an_unreadable_line_in_a_later_chunk_is_raised_after_the_chunks_before_it(node_dir, tmp_path):
    path = mixed_file(tmp_path / "mixed.jsonl", 4 * importer.BATCH)
    lines = path.read_bytes().split(b"\n")
    lines[importer.BATCH + 10] = '{"ref": "caf\xe9"}'.encode("latin-1")  # in the second chunk
    path.write_bytes(b"\n".join(lines))
    seen = []
    with pytest.raises(UnicodeDecodeError):
        import_file(node_dir, path, pipelined=True, progress=seen.append)
    assert seen == [importer.BATCH]  # the first chunk, prepared by the other worker, was written
    assert rows(node_dir, "SELECT count(*) FROM denials")[0][0] == importer.BATCH - 3
    assert multiprocessing.active_children() == []


def test_every_worker_prepares_its_share_in_the_files_order(node_dir, tmp_path):
    path = mixed_file(tmp_path / "mixed.jsonl", 5 * importer.BATCH + 7)
    seen = []
    report = import_file(node_dir, path, pipelined=True, progress=seen.append)
    assert seen == [importer.BATCH] * 5 + [6]  # the blank line is no row
    refs = rows(node_dir, "SELECT d.ref FROM changes c JOIN denials d ON d.uid = c.uid WHERE c.version = 1 "
                          "ORDER BY c.seq")
    expected = [f"MT/DEN/2026/{n:05d}" for n in range(1, 5 * importer.BATCH + 8)
                if n not in (1, importer.BATCH - 1, importer.BATCH, importer.BATCH + 1, importer.BATCH + 2,
                             importer.BATCH + 3, 2 * importer.BATCH)]
    assert [ref for (ref,) in refs] == expected  # written in the file's order, chunk after chunk
    assert (report.created, report.amended, len(report.rejected)) == (len(expected), 1, 5)
    assert CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(node_dir)]).exit_code == 0
    assert multiprocessing.active_children() == []


def test_an_error_here_stops_the_worker_and_keeps_the_chunks_written(node_dir, tmp_path):
    path = mixed_file(tmp_path / "mixed.jsonl", 4 * importer.BATCH)

    def interrupt(count):
        raise KeyboardInterrupt  # as Ctrl-C in the progress bar would

    with pytest.raises(KeyboardInterrupt):
        import_file(node_dir, path, pipelined=True, progress=interrupt)
    assert multiprocessing.active_children() == []
    written = rows(node_dir, "SELECT count(*) FROM denials")[0][0]
    assert written == importer.BATCH - 3  # the first chunk, whole: its bad rows were rejected
    assert CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(node_dir)]).exit_code == 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(part) for part in text.split()]


def is_worker(pid: int) -> bool:
    """A spawned worker process, not multiprocessing's resource tracker."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the worker process")
def test_the_worker_stops_when_the_importing_process_is_killed(node_dir, tmp_path):
    count = importer.PIPELINE_LINES * 10
    path = tmp_path / "big.jsonl"
    line = json.dumps(sample_denial(), ensure_ascii=False)
    path.write_text("".join(line.replace("MT/DEN/2026/0001", f"MT/DEN/2026/{n:06d}") + "\n"
                            for n in range(count)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "denials", "import", str(path),
                             "--data-dir", str(node_dir)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        workers = []
        while len(workers) < importer.WORKERS and time.monotonic() < deadline:
            workers = [pid for pid in children(proc.pid) if alive(pid) and is_worker(pid)]
            time.sleep(0.1)
        assert len(workers) == importer.WORKERS, f"the import started {len(workers)} worker processes"
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "the worker outlived the importing process"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_prepared_row_gives_back_its_validated_content():
    import datetime as dt

    from node import samples
    from node.denial_rows import DenialPreparer

    preparer = DenialPreparer("MT")
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    bodies = list(samples.denials(20, "MT", seed=5)) + [sample_denial(), sample_denial(notified_at=None)]
    bodies += [sample_denial(notified_at="2026-02-01T10:00:00Z"), {**sample_denial(), "status": "revoked"}]
    for body in bodies:
        data, status = preparer.exported_fields(body)
        content = preparer.validate(data)
        [prepared] = preparer.prepare_many([body], now)
        assert (prepared.content is None) == (status == "active")
        assert prepared.content_doc() == content
        assert list(prepared.content_doc()) == list(content)  # the same order: the same amended document
