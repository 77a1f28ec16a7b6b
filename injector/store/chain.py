"""Every row of the record carries a hash chained to the row before it in its table, so a
row changed, removed or inserted by anything but this program shows.

    row_hash = SHA-256( previous row's row_hash, or 64 zeros for a table's first row
                        + canonical row ), as 64 lowercase hexadecimal digits
    canonical row = JSON of [table, rowid, {column: value for every column but row_hash}],
                    keys sorted, separators "," and ":", UTF-8, integers as integers, reals
                    in their shortest round-trip form, NULL as null

An auditor recomputes it with `SELECT rowid, * FROM table ORDER BY rowid` and any SHA-256
tool; `injector record verify` does it for every table.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

GENESIS = "0" * 64


def canonical(table: str, rowid: int, row: dict) -> bytes:
    return json.dumps([table, rowid, row], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def chained(previous: str, table: str, rowid: int, row: dict) -> str:
    return hashlib.sha256(previous.encode("ascii") + canonical(table, rowid, row)).hexdigest()


def columns_of(db: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """(name, declared type) of every column but row_hash, in the table's order."""
    return [(row[1], row[2].upper()) for row in db.execute(f"PRAGMA table_info({table})")
            if row[1] != "row_hash"]


def rows(db: sqlite3.Connection, table: str):
    """(rowid, {column: value}, row_hash) in rowid order."""
    names = [name for name, _ in columns_of(db, table)]
    cursor = db.execute(f"SELECT rowid, {', '.join(names)}, row_hash FROM {table} "
                        "ORDER BY rowid")
    for record in cursor:
        yield record[0], dict(zip(names, record[1:-1])), record[-1]


def rehash_table(db: sqlite3.Connection, table: str) -> None:
    """Hash the rows a record had before it had hashes (migration 2; triggers dropped)."""
    previous = GENESIS
    for rowid, row, _ in list(rows(db, table)):
        previous = chained(previous, table, rowid, row)
        db.execute(f"UPDATE {table} SET row_hash = ? WHERE rowid = ?", (previous, rowid))
