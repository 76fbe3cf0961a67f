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


def insert_row(conn, table: str, values: dict) -> str:
    """INSERT one row of ``values`` into ``table`` (a fixed name from the test); returns its id."""
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return scalar(conn, f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", list(values.values()))


def insert_user(conn, **overrides) -> str:
    """A valid user with a unique email and username; returns its id."""
    import uuid

    tag = uuid.uuid4().hex[:10]
    return insert_row(conn, "users", {"email": f"u{tag}@example.com", "username": f"user_{tag}",
                                      "password_hash": "x" * 60, **overrides})


def insert_channel(conn, user_id: str, **overrides) -> str:
    return insert_row(conn, "channels", {"user_id": user_id, "channel_name": "Channel", **overrides})


def insert_video(conn, channel_id: str, **overrides) -> str:
    return insert_row(conn, "videos", {"channel_id": channel_id, "title": "A video", **overrides})


def with_redis_db(url: str, number: int) -> str:
    """``url`` pointing at Redis database ``number`` (tests keep their keys apart by database)."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


def empty_redis_db(url: str, number: int):
    """Generator for a module fixture: Redis database ``number`` of the session's server, emptied
    before and after the module (``yield from empty_redis_db(redis_url, REDIS_DB)``)."""
    import redis  # noqa: PLC0415

    db_url = with_redis_db(url, number)
    client = redis.Redis.from_url(db_url)
    client.flushdb()
    try:
        yield db_url
    finally:
        client.flushdb()
        client.close()
