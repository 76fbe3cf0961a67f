"""Bulk loading for the seeder: rows as COPY text, streamed from a producer thread, with indexes
built after the load instead of row by row."""

from __future__ import annotations

import queue
import threading
from datetime import datetime

from ytempire_dq.db.tables import COLUMNS

_ESCAPE = str.maketrans({"\\": "\\\\", "\t": " ", "\n": " ", "\r": " "})


def _text(value) -> str:
    """One value in COPY's text format (``\\N`` for NULL)."""
    if value is None:
        return r"\N"
    if isinstance(value, str):
        return value.translate(_ESCAPE)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(value) + "}"
    return str(value)


def copy_line(row: dict, columns) -> str:
    return "\t".join(_text(row[c]) for c in columns)


class _QueueReader:
    """A file-like object for ``copy_expert`` fed by a producer thread (pipelines generation and ingest)."""

    def __init__(self, chunks: queue.Queue, on_rows):
        self._chunks = chunks
        self._on_rows = on_rows
        self._buf = b""
        self._pos = 0
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._buf) and not self._done:
            item = self._chunks.get()
            if item is None:
                self._done = True
                break
            if isinstance(item, BaseException):
                raise item
            rows, data = item
            self._buf, self._pos = data, 0
            self._on_rows(rows)
        if size is None or size < 0:
            size = len(self._buf) - self._pos
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out


def copy_stream(cur, table: str, columns, chunks, on_rows) -> None:
    """COPY ``chunks`` (an iterator of ``(rows, text)``) into ``table``, generating in a thread."""
    q: queue.Queue = queue.Queue(maxsize=3)

    def produce():
        try:
            for rows, text in chunks:
                q.put((rows, text.encode()))
        except BaseException as exc:  # surfaced to the COPY reader, then re-raised
            q.put(exc)
        q.put(None)

    producer = threading.Thread(target=produce, name=f"seed-{table}", daemon=True)
    producer.start()
    try:
        cur.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FREEZE)", _QueueReader(q, on_rows), size=1 << 20
        )
    finally:
        # drain so the producer can finish if COPY failed early
        while producer.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        producer.join()


def defer_indexes(cur, table: str) -> list:
    """Drop ``table``'s indexes and key constraints for the bulk load; return what recreates them.

    Building an index once after a bulk load (and checking a foreign key with one join) is much
    cheaper than maintaining them row by row. Plain indexes are always deferred; primary key,
    unique and foreign-key constraints only when no other table's foreign key references this one.
    Only what exists is recreated, under its own name and definition. It all happens inside the
    seed's transaction, so a failed run leaves the schema as it was.
    """
    from psycopg2 import sql

    cur.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
                   WHERE i.indrelid = %s::regclass
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                   ORDER BY 1""",
        (table,),
    )
    indexes = cur.fetchall()
    cur.execute(
        """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
                   WHERE c.conrelid = %(t)s::regclass AND c.contype IN ('p', 'u', 'f')
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f'
                                     AND r.confrelid = %(t)s::regclass AND r.conrelid <> %(t)s::regclass)
                   ORDER BY position(c.contype IN 'puf'), c.conname""",
        {"t": table},
    )
    constraints = cur.fetchall()
    for name, _definition in indexes:
        cur.execute(f"DROP INDEX {name}")
    for name, _definition in constraints:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
    return [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
        + sql.SQL(definition)
        for name, definition in constraints
    ] + [sql.SQL(definition) for _name, definition in indexes]


def copy_lines(cur, table: str, lines: list[str], on_rows, chunk: int = 20000) -> None:
    columns = COLUMNS[table]

    def chunks():
        for i in range(0, len(lines), chunk):
            part = lines[i : i + chunk]
            yield len(part), "\n".join(part) + "\n"

    copy_stream(cur, table, columns, chunks(), on_rows)
