"""The record's one writer: a thread with its own connection, so that no write ever waits on
the event loop (a heartbeat must not queue behind a disk, or behind another process holding
the record's lock).

Rows are queued; the writer takes everything queued at once into one transaction, appends
each row with its hash chained to the table's last row (read inside the transaction, so
another process appending to the same record keeps the chain whole), commits, and resolves
each row's future with its row id. A transaction is never held open waiting for rows. The
first error (disk full, I/O error, a lock held past the busy timeout, a read-only file, a
trigger refusing a row) fails that batch and every later write: the writer stops, and says
so once.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from injector.store.chain import GENESIS, chained, columns_of

Append = Callable[[str, dict[str, Any]], int]


@dataclass
class _Job:
    work: Callable[[Append], Any]
    """Runs inside the writer's transaction with an `append(table, values) -> rowid`."""
    future: Future


@dataclass
class _Flush:
    done: threading.Event


class WriterError(Exception):
    """Why the writer stopped (wrapped into a StoreError by the Store)."""


class Writer:
    def __init__(self, path: Path, busy_timeout_s: float,
                 on_commit: Callable[[list[tuple[str, dict]]], None],
                 on_failure: Callable[[Exception], None]) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.failure: Exception | None = None
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._columns: dict[str, list[tuple[str, str, Any]]] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="injector-record", daemon=True)
        self._thread.start()
        self._ready.wait()

    # ---- the caller's side ---------------------------------------------------------------

    def submit(self, work: Callable[[Append], Any]) -> Future:
        future: Future = Future()
        if self.failure is not None:
            future.set_exception(self.failure)
        else:
            self._queue.put(_Job(work, future))
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed (or failed)."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(_Flush(done))
        return done.wait(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    # ---- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None,
                                      timeout=self.busy_timeout_s, check_same_thread=False)
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            self.failure = WriterError(str(exc))
        finally:
            self._ready.set()
        while True:
            item = self._queue.get()
            batch = [item]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(entry is None for entry in batch)
            jobs = [entry for entry in batch if isinstance(entry, _Job)]
            if jobs:
                self._write(jobs)
            for entry in batch:
                if isinstance(entry, _Flush):
                    entry.done.set()
            if stop:
                break
        if hasattr(self, "db"):
            self.db.close()

    def _write(self, jobs: list[_Job]) -> None:
        if self.failure is not None:
            for job in jobs:
                job.future.set_exception(self.failure)
            return
        appended: list[tuple[str, dict]] = []
        results = []
        try:
            self.db.execute("BEGIN IMMEDIATE")
            for job in jobs:
                results.append(job.work(lambda table, values: self._append(table, values,
                                                                           appended)))
            self.db.execute("COMMIT")
        except (sqlite3.Error, WriterError, ValueError) as exc:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.failure = exc if isinstance(exc, WriterError) else WriterError(str(exc))
            for job in jobs:
                job.future.set_exception(self.failure)
            self._on_failure(self.failure)
            return
        for job, result in zip(jobs, results):
            job.future.set_result(result)
        self._on_commit(appended)

    def _table_columns(self, table: str) -> list[tuple[str, str, Any]]:
        """(name, declared type, default) of a table's columns, row_hash left out."""
        if table not in self._columns:
            info = self.db.execute(f"PRAGMA table_info({table})").fetchall()
            declared = {row[1]: _default(row[4]) for row in info}
            self._columns[table] = [(name, kind, declared[name])
                                    for name, kind in columns_of(self.db, table)]
        return self._columns[table]

    def _append(self, table: str, values: dict[str, Any],
                appended: list[tuple[str, dict]]) -> int:
        columns = self._table_columns(table)
        unknown = set(values) - {name for name, _, _ in columns}
        if unknown:
            raise WriterError(f"{table} has no column {sorted(unknown)[0]}")
        last = self.db.execute(f"SELECT rowid, row_hash FROM {table} ORDER BY rowid DESC "
                               "LIMIT 1").fetchone()
        rowid = last[0] + 1 if last else 1
        row = {name: _typed(values.get(name, default), kind) for name, kind, default in columns}
        if "id" in row and row["id"] is None:
            row["id"] = rowid
        row_hash = chained(last[1] if last and last[1] else GENESIS, table, rowid, row)
        # A table with an integer primary key takes its rowid through it; others are given
        # theirs, so the hash's rowid is the one stored.
        if "id" in row:
            names, params = [*row, "row_hash"], (*row.values(), row_hash)
        else:
            names, params = ["rowid", *row, "row_hash"], (rowid, *row.values(), row_hash)
        cursor = self.db.execute(f"INSERT INTO {table} ({', '.join(names)}) "
                                 f"VALUES ({', '.join('?' for _ in names)})", params)
        if cursor.lastrowid != rowid:
            # Another integer primary key than `id` would number rows its own way and the
            # chain, which follows insertion, would no longer verify: never let it pass.
            raise WriterError(f"{table}: row stored as {cursor.lastrowid}, hashed as {rowid}")
        appended.append((table, row))
        return rowid


def _default(text: str | None) -> Any:
    """A column's declared default (PRAGMA table_info gives it as SQL text)."""
    if text is None or text.upper() == "NULL":
        return None
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    try:
        return int(text)
    except ValueError:
        return float(text)


def _typed(value: Any, kind: str) -> Any:
    """A value as SQLite will store it in a column of this declared type, so the hash
    computed now is the one an auditor recomputes from the file."""
    if value is None:
        return None
    if kind.startswith("INT"):
        return int(value)
    if kind == "REAL":
        return float(value)
    if kind == "TEXT":
        return str(value)
    return value
