"""The Redis cache as a pandas DataFrame, one row per key, for expectations to validate.

:func:`snapshot` walks the keyspace with ``SCAN ... MATCH pattern COUNT batch`` (never ``KEYS``),
and for each batch of keys sends one pipeline of ``TYPE``+``TTL`` and one of ``HGETALL``/``GET``
(by type). Each batch is turned into column values at once and its raw replies dropped, so memory
grows with the DataFrame being built, not with the replies of the whole keyspace.

Columns:

- ``key``; ``kind``: ``session`` / ``video_stats`` / ``ratelimit`` (from the key conventions in
  :mod:`ytempire_dq.cache.seed`) or ``other``; ``type``: the Redis type (``hash``, ``string``...);
  ``ttl``: seconds to expiry, ``-1`` when the key has none;
- every hash field as a column (``user_id``, ``created_at``, ``view_count``, ``revenue``,
  ``cached_at``...), missing fields as null; a string key's value in ``value``;
- from the key itself: ``video_id`` (``video:<id>:stats``), ``user_id`` and ``window``
  (``ratelimit:<user>:<window>``; a session's ``user_id`` comes from its hash).

``view_count`` and ``value`` are nullable integers, ``revenue`` a float (unparseable text becomes
null, which a not-null expectation reports; a string key whose value is not an integer keeps its
text in an extra ``value_text`` column); ``created_at``/``cached_at`` stay text as stored.
A key that expires between ``SCAN`` and ``TYPE`` is left out; ``SCAN`` may return a key twice
while Redis resizes its table, so duplicates are dropped at the end.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Iterator

import pandas as pd

DEFAULT_PATTERNS = ("session:*", "video:*:stats", "ratelimit:*")
BASE_COLUMNS = ("key", "kind", "type", "ttl")
INT_FIELDS = ("view_count", "value")
FLOAT_FIELDS = ("revenue",)


def key_kind(key: str) -> tuple[str, dict]:
    """``(kind, fields parsed from the key)`` of one key name."""
    if key.startswith("session:"):
        return "session", {}
    if key.startswith("video:") and key.endswith(":stats") and key.count(":") == 2:
        return "video_stats", {"video_id": key[6:-6]}
    if key.startswith("ratelimit:"):
        parts = key.split(":")
        if len(parts) == 3:
            return "ratelimit", {"user_id": parts[1], "window": parts[2]}
        return "ratelimit", {}
    return "other", {}


def client(redis_url: str):
    import redis

    return redis.Redis.from_url(redis_url, decode_responses=True, encoding_errors="replace",
                                socket_connect_timeout=5, socket_timeout=60)


def _redis_glob(pattern: str, key: str) -> bool:
    return fnmatch.fnmatchcase(key, pattern)


def scan_keys(r, patterns: Iterable[str], batch: int) -> Iterator[list[str]]:
    """Lists of up to ``batch`` key names matching any pattern; a key matching several patterns
    is yielded once (for the first)."""
    patterns = list(dict.fromkeys(patterns))
    pending: list[str] = []
    for i, pattern in enumerate(patterns):
        earlier = patterns[:i]
        cursor = 0
        while True:
            cursor, keys = r.scan(cursor=cursor, match=pattern, count=batch)
            if earlier:
                keys = [k for k in keys if not any(_redis_glob(p, k) for p in earlier)]
            pending.extend(keys)
            while len(pending) >= batch:
                yield pending[:batch]
                pending = pending[batch:]
            if cursor == 0:
                break
    if pending:
        yield pending


class _Columns:
    """Column lists grown batch by batch (a new field gets nulls for the rows before it)."""

    def __init__(self):
        self.data: dict[str, list] = {name: [] for name in BASE_COLUMNS}
        self.rows = 0

    def add_row(self, row: dict) -> None:
        n = self.rows
        for name, value in row.items():
            col = self.data.get(name)
            if col is None:
                col = self.data[name] = [None] * n
            col.append(value)
        self.rows = n + 1
        for col in self.data.values():
            if len(col) < self.rows:
                col.append(None)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.data)
        self.data = {}
        if df.empty:
            return df
        df["kind"] = df["kind"].astype("category")
        df["type"] = df["type"].astype("category")
        df["ttl"] = df["ttl"].astype("int64")
        for name in INT_FIELDS:
            if name in df:
                raw = df[name]
                df[name] = pd.to_numeric(raw, errors="coerce").astype("Int64")
                if name == "value" and (df[name].isna() & raw.notna()).any():
                    # keep text that is not a counter (e.g. another app's string keys) readable
                    df["value_text"] = raw.where(df[name].isna() & raw.notna())
        for name in FLOAT_FIELDS:
            if name in df:
                df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
        df = df.drop_duplicates("key", ignore_index=True) if df["key"].duplicated().any() else df
        return df


def snapshot(redis_url: str, patterns: Iterable[str] = DEFAULT_PATTERNS, *, batch: int = 1000) -> pd.DataFrame:
    """One row per key matching ``patterns``, with ``key, kind, type, ttl`` and the key's fields."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    r = client(redis_url)
    cols = _Columns()
    try:
        for keys in scan_keys(r, patterns, batch):
            pipe = r.pipeline(transaction=False)
            for key in keys:
                pipe.type(key)
                pipe.ttl(key)
            meta = pipe.execute(raise_on_error=False)
            pipe = r.pipeline(transaction=False)
            fetched = []
            for i, key in enumerate(keys):
                rtype = meta[2 * i]
                if rtype == "hash":
                    pipe.hgetall(key)
                elif rtype == "string":
                    pipe.get(key)
                else:
                    continue
                fetched.append(i)
            values = dict(zip(fetched, pipe.execute(raise_on_error=False))) if fetched else {}
            for i, key in enumerate(keys):
                rtype, ttl = meta[2 * i], meta[2 * i + 1]
                if rtype == "none" or isinstance(ttl, Exception) or ttl == -2:
                    continue  # expired or deleted since SCAN
                value = values.get(i)
                if isinstance(value, Exception):
                    value = None  # changed type since TYPE
                kind, parsed = key_kind(key)
                row = {"key": key, "kind": kind, "type": rtype, "ttl": int(ttl)}
                if isinstance(value, dict):
                    if not value:
                        continue  # deleted between the two pipelines (Redis has no empty hashes)
                    for name, v in value.items():
                        row[f"field_{name}" if name in BASE_COLUMNS else name] = v
                    for name, v in parsed.items():
                        row.setdefault(name, v)
                else:
                    row.update(parsed)
                    if rtype == "string":
                        if value is None:
                            continue  # deleted between the two pipelines
                        row["value"] = value
                cols.add_row(row)
    finally:
        r.close()
    return cols.frame()
