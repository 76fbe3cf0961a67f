"""Small helpers the tests share (plain SQL against the real server)."""

from __future__ import annotations


def scalar(conn, sql: str, params=None):
    """The first column of the first row of ``sql``."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def rows(conn, sql: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()
