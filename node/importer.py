"""Bulk import of denials and licences from CSV or JSON Lines.

Every valid row is stored; every rejected row is reported with its line
number and the reason, and nothing of it is written. Rows are committed in
chunks of ``BATCH``, one transaction each: a registry's ``import_many`` writes
a chunk's records with one statement per table (:func:`run_bulk_import`); a
chunk the database refuses is written again row by row, each row in its own
savepoint, so one bad row never undoes its neighbours. The national reference
(or licence number) is the key: importing the same file again changes nothing.

:func:`run_pipelined_import` does the same for a file of denials with
worker processes: two workers read the file, and each parses and validates
the rows of every other chunk and builds what storing them writes
(:class:`node.denial_rows.DenialPreparer`), while this process writes the
chunks in the file's order.

CSV columns are documented in ``docs/import.md``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import io
import itertools
import json
import multiprocessing
import pickle
import queue
import sqlite3
import traceback
from pathlib import Path
from typing import Callable, Iterator

from . import json_text
from .database import write_transaction
from .errors import NodeError
from .schemas import ROLES, DenialInput
from .timestamps import utc_now

BATCH = 500
PIPELINE_LINES = 2000  # a larger file of denials is prepared in worker processes (and shows a progress bar)
WORKERS = 2  # worker processes preparing the chunks of a large file of denials, in turn
AHEAD = 2  # chunks each worker process may prepare ahead of the writes
GC_YOUNG = 50_000  # allocations between two young garbage collections during an import
POLL_SECONDS = 1.0  # how often a process waiting on the other checks that it still runs
LIST_SEP = ";"


@dataclasses.dataclass
class Rejection:
    line: int
    reason: str


@dataclasses.dataclass
class ImportReport:
    created: int = 0
    amended: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = dataclasses.field(default_factory=list)
    changed: list[dict] = dataclasses.field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.amended + self.unchanged + len(self.rejected)


class RowError(ValueError):
    """A row that cannot be read; ``key`` is its licence number when that much was readable."""

    key: str | None = None


class LicenceLineRow(dict):
    """A licence read from one CSV row: one of its lines, to be merged with the rows that follow."""


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise RowError(f"{path.name}: unknown format; use a .csv or .jsonl file")


def read_rows(path: Path, kind: str) -> Iterator[tuple[int, dict | RowError]]:
    """Yield (line number, row dict or the error that makes the row unreadable)."""
    if detect_format(path) == "jsonl":
        for number, line in _jsonl_lines(path):
            yield number, _jsonl_row(line)
        return
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        if kind == "denial":
            unknown = sorted({(c or "").strip() for c in reader.fieldnames or ()} - denial_columns() - {""})
            if unknown:
                raise RowError(f"{path.name}: the header names column(s) a denial does not have: "
                               f"{', '.join(unknown)} (docs/import.md lists the columns)")
        parse = denial_from_csv if kind == "denial" else licence_line_from_csv
        for row in reader:
            number = reader.line_num
            if None in row:
                yield number, RowError("more cells than header columns")
                continue
            cells = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            try:
                yield number, parse(cells)
            except RowError as exc:
                exc.key = cells.get("number") or None
                yield number, exc


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of a JSON Lines file that is not blank."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _jsonl_row(line: str) -> dict | RowError:
    try:
        row = json_text.loads(line)
    except json.JSONDecodeError as exc:
        return RowError(f"not valid JSON: {exc.msg} at column {exc.colno}")
    return row if isinstance(row, dict) else RowError("each line must be a JSON object")


def split(value: str) -> list[str]:
    return [part.strip() for part in value.split(LIST_SEP) if part.strip()]


def pairs(value: str, sep: str, first: str, second: str) -> list[dict]:
    out = []
    for part in split(value):
        if sep not in part:
            raise RowError(f"{part!r} must look like {first}{sep}{second}")
        a, b = part.split(sep, 1)
        out.append({first: a.strip(), second: b.strip()})
    return out


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "yes", "1", "y"):
        return True
    if lowered in ("false", "no", "0", "n", ""):
        return False
    raise RowError(f"{value!r} is not yes/no")


def party_from_columns(row: dict, role: str) -> dict | None:
    name = row.pop(f"{role}_name", "")
    aliases = split(row.pop(f"{role}_aliases", ""))
    country = row.pop(f"{role}_country", "")
    address = row.pop(f"{role}_address", "")
    identifiers = row.pop(f"{role}_identifiers", "")
    if not name:
        if aliases or country or address or identifiers:
            raise RowError(f"{role}_name is required when other {role}_ columns are filled")
        return None
    party = {"role": role, "names": [{"text": name, "original": True}] + [{"text": a} for a in aliases]}
    if country:
        party["country"] = country
    if address:
        party["address"] = address
    if identifiers:
        party["identifiers"] = pairs(identifiers, ":", "scheme", "value")
    return party


PARTY_COLUMN_SUFFIXES = ("name", "aliases", "country", "address", "identifiers")


def denial_columns() -> set[str]:
    """Every column a denial CSV may have: the denial's fields, ``parties`` (JSON), and per role
    ``<role>_name``, ``_aliases``, ``_country``, ``_address`` and ``_identifiers``."""
    return ({*DenialInput().fields, "parties"}
            | {f"{role}_{suffix}" for role in ROLES for suffix in PARTY_COLUMN_SUFFIXES})


def denial_from_csv(row: dict) -> dict:
    row = dict(row)
    parties = []
    if row.get("parties"):
        try:
            parties = json.loads(row.pop("parties"))
        except json.JSONDecodeError as exc:
            raise RowError(f"parties: not valid JSON ({exc.msg})") from None
    for role in ROLES:
        party = party_from_columns(row, role)
        if party:
            parties.append(party)
    out: dict = {"parties": parties}
    for key, value in row.items():
        if value == "":
            continue
        if key in ("regimes", "transit_countries", "reason_codes"):
            out[key] = split(value)
        elif key == "control_entries":
            out[key] = pairs(value, ":", "list", "entry")
        elif key == "key_parameters":
            out[key] = {p["name"]: p["value"] for p in pairs(value, "=", "name", "value")}
        elif key == "catch_all":
            out[key] = boolean(value)
        else:
            out[key] = value
    return out


LICENCE_LINE_COLUMNS = ("line_no", "control_entry", "cn_code", "description", "quantity", "unit", "value", "currency")


def licence_line_from_csv(row: dict) -> dict:
    """One CSV row is one licence line; rows with the same number form one licence."""
    row = dict(row)
    line = {}
    for key in LICENCE_LINE_COLUMNS:
        value = row.pop(key, "")
        if value:
            line[key] = value
    if "line_no" in line:
        try:
            line["line_no"] = int(line["line_no"])
        except ValueError:
            raise RowError("line_no must be a whole number") from None
    parties = []
    for role in ROLES:
        party = party_from_columns(row, role)
        if party:
            parties.append(party)
    out = LicenceLineRow(lines=[line])
    exporter = [p for p in parties if p["role"] == "exporter"]
    if exporter:
        out["exporter"] = exporter[0]
    out["parties"] = [p for p in parties if p["role"] != "exporter"]
    for key, value in row.items():
        if value == "":
            continue
        out[key] = split(value) if key in ("destinations", "conditions") else value
    return out


def group_licence_rows(rows: Iterator[tuple[int, dict | RowError]]) -> Iterator[tuple[int, dict | RowError]]:
    """Merge consecutive CSV rows of the same licence number into one licence with several lines.

    A licence is imported whole or not at all: when one of its rows cannot be read, the
    licence is rejected at its first line. Its rows must be next to each other: a number that
    comes back after other licences is rejected rather than read as an amendment that drops
    lines. JSON Lines rows (one whole licence each) pass through unchanged."""
    pending: list | None = None  # [first line, licence dict or RowError, number]
    closed: dict[str, int] = {}

    for line, row in rows:
        from_csv = isinstance(row, (LicenceLineRow, RowError))
        number = row.key if isinstance(row, RowError) else row.get("number")
        if not from_csv:
            if pending:
                yield flush_group(pending, closed)
                pending = None
            yield line, row
            continue
        if pending and number and number == pending[2]:
            if isinstance(pending[1], RowError):
                continue
            if isinstance(row, RowError):
                pending[1] = RowError(f"licence {number} not imported: its row on line {line} was rejected ({row})")
            else:
                pending[1]["lines"].extend(row["lines"])
            continue
        if pending:
            yield flush_group(pending, closed)
            pending = None
        if number and number in closed:
            yield line, RowError(f"the rows of licence {number} must be next to each other; "
                                 f"its rows start on line {closed[number]}")
            continue
        if isinstance(row, RowError) and not number:
            yield line, row
            continue
        pending = [line, row, number]
    if pending:
        yield flush_group(pending, closed)


def flush_group(pending: list, closed: dict[str, int]) -> tuple[int, dict | RowError]:
    line, row, number = pending
    if number:
        closed[number] = line
    return line, (dict(row) if isinstance(row, LicenceLineRow) else row)


StoreMany = Callable[[list[dict]], list]
"""Writes the accepted rows of a chunk and returns, per row, ``(outcome, uid, version)`` or the
:class:`NodeError` rejecting it (a registry's ``import_many`` bound to an actor)."""


def run_bulk_import(db, rows: Iterator[tuple[int, dict | RowError]], store_many: StoreMany,
                    progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import chunk by chunk: each chunk of ``BATCH`` rows is one transaction written by one
    ``store_many`` call. When the database refuses a chunk (a constraint fails), the chunk is
    rolled back and written again row by row, each row in its own savepoint, so only the row
    that fails is rejected."""
    report = ImportReport()
    with _frozen_heap():
        for chunk in _chunks(rows, BATCH):
            _import_chunk(db, chunk, store_many, report)
            if progress:
                progress(len(chunk))
    report.rejected.sort(key=lambda r: r.line)
    return report


def run_pipelined_import(db, path: Path, preparer, store_prepared: Callable[[list, object], list],
                         progress: Callable[[int], None] | None = None) -> ImportReport:
    """:func:`run_bulk_import` of the denials in the file ``path`` with the reading, parsing,
    validation and preparation of the rows in ``WORKERS`` worker processes, a few chunks ahead of
    the writes.

    Worker ``k`` prepares the chunks whose index modulo ``WORKERS`` is ``k`` (it reads past the
    others without parsing them); this process takes the chunks strictly in the file's order, so
    the result is the one-process import's. ``preparer`` (picklable) has ``prepare_many(rows,
    now)``, giving each row's prepared form or its :class:`NodeError`; ``store_prepared(prepared,
    now)`` writes a chunk of them and gives what ``store_many`` gives. ``now`` is the moment a
    worker prepared the chunk. An error in a worker (an unreadable file, a CSV header naming
    unknown columns) is raised here when its chunk's turn comes; an error here stops the workers,
    and a worker whose parent is gone stops itself."""
    context = multiprocessing.get_context("spawn")
    lanes = []
    try:
        for number in range(WORKERS):
            chunks = context.Queue(maxsize=AHEAD)
            worker = context.Process(target=_prepare_in_worker, args=(path, preparer, chunks, number, WORKERS),
                                     name=f"cordon-import-reader-{number}", daemon=True)
            lanes.append((chunks, worker))
            worker.start()
        report = ImportReport()
        with _frozen_heap():
            for index in itertools.count():
                message = _receive(*lanes[index % WORKERS])
                if message[0] == "done":
                    break
                if message[0] == "error":
                    raise message[1]
                _, now, chunk = message
                _import_chunk(db, chunk, lambda prepared: store_prepared(prepared, now), report)
                if progress:
                    progress(len(chunk))
    finally:
        for chunks, worker in lanes:
            if worker.is_alive():
                worker.terminate()
        for chunks, worker in lanes:
            if worker.pid is not None:
                worker.join()
            chunks.close()
    report.rejected.sort(key=lambda r: r.line)
    return report


def _own_chunks(path: Path, number: int, workers: int) -> Iterator[list]:
    """The chunks of ``BATCH`` rows of the denial file ``path`` whose index modulo ``workers`` is
    ``number``. The lines of a JSON Lines file's other chunks are only counted, not parsed."""
    if detect_format(path) == "jsonl":
        for index, lines in enumerate(_chunks(_jsonl_lines(path), BATCH)):
            if index % workers == number:
                yield [(line_number, _jsonl_row(line)) for line_number, line in lines]
    else:
        for index, chunk in enumerate(_chunks(read_rows(path, "denial"), BATCH)):
            if index % workers == number:
                yield chunk


def _prepare_in_worker(path: Path, preparer, chunks, number: int, workers: int) -> None:
    """A worker process: read ``path`` and prepare its chunks (those of :func:`_own_chunks`) into
    ``chunks``, then "done", or the error that stopped it."""
    parent = multiprocessing.parent_process()

    def send(message) -> None:
        while True:
            try:
                chunks.put(message, timeout=POLL_SECONDS)
                return
            except queue.Full:
                if not parent.is_alive():
                    chunks.cancel_join_thread()  # nobody reads: do not wait to flush at exit
                    raise SystemExit(1) from None

    try:
        with _frozen_heap():
            for chunk in _own_chunks(path, number, workers):
                now = utc_now()
                readable = [row for _, row in chunk if not isinstance(row, RowError)]
                prepared = iter(preparer.prepare_many(readable, now))
                send(("chunk", now, [(line, row if isinstance(row, RowError) else next(prepared))
                                     for line, row in chunk]))
        send(("done",))
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every error goes to the main process, which raises it
        send(("error", _portable(exc)))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can cross to the main process, with where it happened in the worker."""
    exc.add_note("in the import's worker process:\n" + "".join(traceback.format_exception(exc)))
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled is described instead
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{exc.__notes__[-1]}")


def _receive(chunks, worker):
    """The next message of ``worker`` (from its queue ``chunks``), or an error when it stopped without saying why."""
    while True:
        try:
            return chunks.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not worker.is_alive():
                try:
                    return chunks.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    raise RuntimeError(f"the import's worker process stopped (exit code {worker.exitcode})") from None


@contextlib.contextmanager
def _frozen_heap():
    """Fewer garbage collections during an import. What was alive before it (modules, schemas) is
    frozen, so no collection scans it again; and a young collection comes every ``GC_YOUNG``
    allocations instead of every 700: a parsed row alone is a hundred dicts and lists, which all
    outlive a young collection, so frequent ones only scan the chunk's rows again and again."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(GC_YOUNG, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _import_chunk(db, chunk: list, store_many: StoreMany, report: ImportReport) -> None:
    readable = []
    for number, row in chunk:
        if isinstance(row, RowError):
            report.rejected.append(Rejection(number, str(row)))
        else:
            readable.append((number, row))
    results = _store_together(db, readable, store_many) if readable else None
    if results is None:
        with write_transaction(db):
            results = [_store_alone(db, row, store_many) for _, row in readable]
    for (number, _), result in zip(readable, results):
        if isinstance(result, (NodeError, sqlite3.IntegrityError)):
            report.rejected.append(Rejection(number, _reason(result)))
            continue
        outcome, uid, version = result
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome != "unchanged":
            report.changed.append({"uid": uid, "version": version})


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _store_together(db, readable: list, store_many: StoreMany) -> list | None:
    """The chunk in one transaction, or None (nothing written) when the database refused it."""
    try:
        with write_transaction(db):
            return store_many([row for _, row in readable])
    except (NodeError, sqlite3.IntegrityError):
        return None


def _store_alone(db, row: dict, store_many: StoreMany):
    """One row in its own savepoint: its result, or the error that rejected it (nothing written)."""
    try:
        with write_transaction(db):
            result = store_many([row])[0]
            if isinstance(result, NodeError):
                raise result
            return result
    except (NodeError, sqlite3.IntegrityError) as exc:
        return exc


def _reason(error: NodeError | sqlite3.IntegrityError) -> str:
    if isinstance(error, sqlite3.IntegrityError):
        return f"the database refused the row ({error})"
    reason = error.message
    if error.fields:
        reason += ": " + "; ".join(f"{k}: {v}" for k, v in error.fields.items())
    return reason


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def export_jsonl(docs: Iterator[dict], out: io.TextIOBase) -> int:
    count = 0
    for doc in docs:
        out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count
