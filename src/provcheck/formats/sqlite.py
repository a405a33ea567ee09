"""Reading an SQLite database found inside an artifact (rpm's ``rpmdb.sqlite``, ...).

The file is hostile input: it is copied into the work area (with its ``-wal``) and opened
read-only there, never at its host path (a directory input's file names could carry URI
options); the schema is not trusted (a "table" may be a view over an endless recursive
query), so only real tables are read, with a row cap, a byte cap and a time budget.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from typing import Any
from urllib.parse import quote

from ..vfs import Node, Tree


class UnreadableDatabase(ValueError):
    pass


def table_column(tree: Tree, node: Node, table: str, column: str, *, max_rows: int = 500_000,
                 max_bytes: int = 1 << 30, seconds: float = 20.0) -> list[Any]:
    """Every value of ``column`` in ``table``; UnreadableDatabase with the reason otherwise."""
    if not table.isidentifier() or not column.isidentifier():
        raise ValueError("table and column must be plain names")
    if node.size > max_bytes:
        raise UnreadableDatabase(f"larger than {max_bytes} bytes; not read")
    work = tempfile.mkdtemp(prefix="sqlite-", dir=tree.store.root.parent)
    try:
        path = os.path.join(work, "db.sqlite")
        with tree.open(node) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        wal = tree.resolve(node.path + "-wal")
        if wal is not None and wal.is_file:
            with tree.open(wal) as src, open(path + "-wal", "wb") as dst:
                shutil.copyfileobj(src, dst)
        deadline = time.monotonic() + seconds
        try:
            con = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise UnreadableDatabase(str(exc)) from None
        try:
            con.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            con.execute("PRAGMA trusted_schema = OFF")
            kind = con.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            if kind is None or kind[0] != "table":
                raise UnreadableDatabase(f"no table {table!r}")
            out, size = [], 0
            for (value,) in con.execute(f'SELECT "{column}" FROM "{table}"'):
                out.append(value)
                size += len(value) if isinstance(value, (bytes, str)) else 8
                if len(out) > max_rows or size > max_bytes:
                    raise UnreadableDatabase(f"more than {max_rows} rows or {max_bytes} bytes in {table}")
            return out
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                raise UnreadableDatabase(f"reading took longer than {seconds:g} s") from None
            raise UnreadableDatabase(str(exc)) from None
        except sqlite3.Error as exc:
            raise UnreadableDatabase(str(exc)) from None
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
