"""The Redis cache as a pandas DataFrame, one row per key, for expectations to validate.

:func:`snapshot` walks the keyspace with ``SCAN ... MATCH pattern COUNT batch`` (never ``KEYS``)
and reads each batch of keys with one pipeline: ``TTL`` plus ``HGETALL`` for the hash conventions
(``session:*``, ``video:*:stats``), ``GET`` for counters (``ratelimit:*``) and ``TYPE`` for any
other key. Only keys that turn out otherwise (a ``WRONGTYPE`` reply, or an other key that is a
hash or string) get a second, small pipeline (``TYPE``, then ``HGETALL``/``GET``). Each batch is
turned into typed column arrays at once (numbers parsed, repeated text shared) and its replies
dropped, so memory grows with the finished DataFrame, not with the raw replies of the keyspace.

Columns:

- ``key``; ``kind`` (category): ``session`` / ``video_stats`` / ``ratelimit`` (the key conventions
  of :mod:`ytempire_dq.fixtures.cache_seed`) or ``other``; ``type`` (category): the Redis type (``hash``,
  ``string``, ...); ``ttl``: seconds to expiry, ``-1`` when the key has none;
- every hash field as a column (``user_id``, ``created_at``, ``view_count``, ``revenue``,
  ``cached_at``, ...), missing fields null; a string key's value in ``value``;
- from the key itself: ``video_id`` (``video:<id>:stats``), ``user_id`` and ``window``
  (``ratelimit:<user>:<window>``; a session's ``user_id`` comes from its hash).

``view_count`` and ``value`` are nullable integers (``Int64``), ``revenue`` a float; text that
does not parse becomes null (which a not-null expectation reports), and a string key whose value
is not an integer keeps its text in an extra ``value_text`` column. ``created_at``/``cached_at``
stay text as stored. A hash field named like a base column (or ``key_not_utf8``) is kept as ``field_<name>``. A key
that expires between ``SCAN`` and its read is left out; ``SCAN`` may return a key twice while
Redis resizes its table, so duplicates are dropped at the end.

Key names are read as bytes and every read uses the name's bytes: a name that is not valid UTF-8
is kept (decoded with ``backslashreplace``, so ``b"session:\\xff"`` is ``session:\\xff``), its TTL
and fields are read and checked like any other key's, and ``key_not_utf8`` holds that escaped
name (null for every valid name), which the rule ``cache.key_name_is_utf8`` expects to be null.
Decoding the name with replacement characters instead (as a text client does) would ask Redis
about a key that does not exist, and the key would vanish from the snapshot. Field names and
values are decoded the same way (``backslashreplace``), so no byte is lost either.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

DEFAULT_PATTERNS = ("session:*", "video:*:stats", "ratelimit:*")
BASE_COLUMNS = ("key", "kind", "type", "ttl")
BAD_NAME_COLUMN = "key_not_utf8"  # the escaped name of a key that is not valid UTF-8, else null
KINDS = ("session", "video_stats", "ratelimit", "other")
TYPES = ("string", "hash", "list", "set", "zset", "stream")
INT_FIELDS = ("view_count", "value")
FLOAT_FIELDS = ("revenue",)
_INTERN_LIMIT = 65_536  # distinct values per column shared between rows (bounded)


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


_GUESS = {"session": "hash", "video_stats": "hash", "ratelimit": "string"}


def client(redis_url: str):
    """A client that returns bytes: a key name is used exactly as Redis holds it."""
    import redis

    return redis.Redis.from_url(redis_url, decode_responses=False, socket_connect_timeout=5, socket_timeout=60)


def text(raw: bytes | str) -> str:
    """A name or value as text; bytes that are not UTF-8 escaped (``\\xff``), never dropped."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")


def scan_keys(r, patterns: Iterable[str], batch: int) -> Iterator[list[bytes]]:
    """Lists of up to ``batch`` key names (as the client returns them: bytes from :func:`client`)
    matching any pattern; a key matching several patterns is yielded once (for the first)."""
    patterns = list(dict.fromkeys(patterns))
    pending: list = []
    for i, pattern in enumerate(patterns):
        earlier = patterns[:i]
        earlier_bytes = [p.encode() for p in earlier]
        cursor = 0
        while True:
            cursor, keys = r.scan(cursor=cursor, match=pattern, count=batch)
            if earlier:
                keys = [
                    k
                    for k in keys
                    if not any(fnmatch.fnmatchcase(k, p) for p in (earlier_bytes if isinstance(k, bytes) else earlier))
                ]
            pending.extend(keys)
            while len(pending) >= batch:
                yield pending[:batch]
                pending = pending[batch:]
            if cursor == 0:
                break
    if pending:
        yield pending


def _decode_value(value):
    if isinstance(value, dict):
        return {text(k): text(v) for k, v in value.items()}
    return text(value) if isinstance(value, bytes) else value


def _read_batch(r, raw_keys: list[bytes]) -> list[tuple[str, str, str, int, object]]:
    """``[(key, kind, type, ttl, value)]`` for the keys that still exist (value: dict, str or
    None); ``key`` is the decoded name, every command is sent with the raw one."""
    keys = [text(k) for k in raw_keys]
    kinds = [key_kind(k)[0] for k in keys]
    replies = _pipeline_read(r, raw_keys, kinds)
    return [(keys[i],) + row[1:] + (_not_utf8(raw_keys[i]),) for i, row in enumerate(replies) if row is not None]


def _not_utf8(raw: bytes | str) -> bool:
    if isinstance(raw, str):
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _pipeline_read(r, keys: list[bytes], kinds: list[str]) -> list:
    pipe = r.pipeline(transaction=False)
    for key, kind in zip(keys, kinds):
        pipe.ttl(key)
        guess = _GUESS.get(kind)
        if guess == "hash":
            pipe.hgetall(key)
        elif guess == "string":
            pipe.get(key)
        else:
            pipe.type(key)
    replies = [text(x) if isinstance(x, bytes) else x for x in pipe.execute(raise_on_error=False)]
    out: list = [None] * len(keys)
    retype: list[int] = []  # wrong guess: ask TYPE
    fetch: list[tuple[int, str]] = []  # type known, value still to read
    for i, kind in enumerate(kinds):
        ttl, reply = replies[2 * i], replies[2 * i + 1]
        if isinstance(ttl, Exception) or ttl == -2:
            continue  # gone since SCAN
        guess = _GUESS.get(kind)
        if guess is None:  # TYPE reply
            if isinstance(reply, Exception) or reply == "none":
                continue
            if reply in ("hash", "string"):
                fetch.append((i, reply))
            out[i] = (keys[i], kind, reply, ttl, None)
        elif isinstance(reply, Exception):
            retype.append(i)
            out[i] = (keys[i], kind, None, ttl, None)
        elif not reply and reply != "":  # {} / None: deleted since TTL
            continue
        else:
            out[i] = (keys[i], kind, guess, ttl, _decode_value(reply))
    if retype:
        pipe = r.pipeline(transaction=False)
        for i in retype:
            pipe.type(keys[i])
        for i, rtype in zip(retype, pipe.execute(raise_on_error=False)):
            rtype = text(rtype) if isinstance(rtype, bytes) else rtype
            if isinstance(rtype, Exception) or rtype == "none":
                out[i] = None
                continue
            out[i] = out[i][:2] + (rtype,) + out[i][3:]
            if rtype in ("hash", "string"):
                fetch.append((i, rtype))
    if fetch:
        pipe = r.pipeline(transaction=False)
        for i, rtype in fetch:
            (pipe.hgetall if rtype == "hash" else pipe.get)(keys[i])
        for (i, _rtype), value in zip(fetch, pipe.execute(raise_on_error=False)):
            if isinstance(value, Exception) or value is None or value == {}:
                out[i] = None  # changed or deleted in between
            else:
                out[i] = out[i][:4] + (_decode_value(value),)
    return out


class _Columns:
    """Typed column arrays, appended batch by batch; a column first seen late is padded with nulls."""

    def __init__(self):
        self.rows = 0
        self.chunks: dict[str, list[tuple[int, object]]] = {}
        self.interned: dict[str, dict[str, str]] = {}

    def _intern(self, name: str, values: list) -> list:
        table = self.interned.setdefault(name, {})
        if len(table) >= _INTERN_LIMIT:
            return values
        get = table.setdefault
        return [v if v is None else get(v, v) for v in values]

    def add_batch(self, rows: list[tuple[str, str, str, int, object, bool]]) -> None:
        n = len(rows)
        if not n:
            return
        fields: dict[str, list] = {}
        for j, (key, kind, _rtype, _ttl, value, bad_name) in enumerate(rows):
            if bad_name:
                col = fields.get(BAD_NAME_COLUMN)
                if col is None:
                    col = fields[BAD_NAME_COLUMN] = [None] * n
                col[j] = key
            extra = key_kind(key)[1] if kind in ("video_stats", "ratelimit") else None
            if isinstance(value, dict):
                for name, v in value.items():
                    if name in BASE_COLUMNS or name == BAD_NAME_COLUMN:
                        name = f"field_{name}"
                    col = fields.get(name)
                    if col is None:
                        col = fields[name] = [None] * n
                    col[j] = v
            elif value is not None:
                col = fields.get("value")
                if col is None:
                    col = fields["value"] = [None] * n
                col[j] = value
            if extra:
                for name, v in extra.items():
                    col = fields.get(name)
                    if col is None:
                        col = fields[name] = [None] * n
                    if col[j] is None:
                        col[j] = v
        batch: dict[str, object] = {
            "key": np.array([row[0] for row in rows], dtype=object),
            "kind": pd.Categorical([row[1] for row in rows], categories=KINDS).codes.astype(np.int8),
            "type": pd.Categorical([row[2] for row in rows], categories=TYPES).codes.astype(np.int8),
            "ttl": np.fromiter((row[3] for row in rows), dtype=np.int64, count=n),
        }
        for name, values in fields.items():
            if name in INT_FIELDS:
                nums = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
                bad = nums.isna().to_numpy() & pd.notna(np.array(values, dtype=object))
                ints = nums.round().where(nums == nums.round())  # 1.5 is not a count
                mask = ints.isna().to_numpy()
                batch[name] = (np.nan_to_num(ints.to_numpy(dtype="float64")).astype(np.int64), mask)
                if name == "value" and bad.any():
                    text = np.full(n, None, dtype=object)
                    text[bad] = np.array(values, dtype=object)[bad]
                    batch["value_text"] = text
            elif name in FLOAT_FIELDS:
                batch[name] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64")
            else:
                arr = np.empty(n, dtype=object)
                arr[:] = self._intern(name, values)
                batch[name] = arr
        for name, arr in batch.items():
            self.chunks.setdefault(name, []).append((self.rows, arr))
        self.rows += n

    @staticmethod
    def _null(name: str, n: int):
        if name in INT_FIELDS:
            return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
        if name in FLOAT_FIELDS:
            return np.full(n, np.nan)
        if name in ("kind", "type"):
            return np.full(n, -1, dtype=np.int8)
        return np.full(n, None, dtype=object)

    def _column(self, name: str):
        pieces, pos = [], 0
        for start, arr in self.chunks.pop(name):
            if start > pos:
                pieces.append(self._null(name, start - pos))
            pieces.append(arr)
            pos = start + (len(arr[0]) if isinstance(arr, tuple) else len(arr))
        if pos < self.rows:
            pieces.append(self._null(name, self.rows - pos))
        if name in INT_FIELDS:
            return pd.arrays.IntegerArray(
                np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])
            )
        joined = np.concatenate(pieces)
        if name == "kind":
            return pd.Categorical.from_codes(joined, categories=KINDS)
        if name == "type":
            return pd.Categorical.from_codes(joined, categories=TYPES)
        return joined

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame({name: pd.Series(dtype=object) for name in BASE_COLUMNS})
        names = list(BASE_COLUMNS) + [n for n in self.chunks if n not in BASE_COLUMNS]
        data = {name: self._column(name) for name in names}
        self.interned.clear()
        df = pd.DataFrame(data, copy=False)
        del data
        # a valid name may read like an escaped one: the pair tells them apart
        subset = ["key", BAD_NAME_COLUMN] if BAD_NAME_COLUMN in df else "key"
        if df.duplicated(subset).any():
            df = df.drop_duplicates(subset, ignore_index=True)
        return df


def snapshot(redis_url: str, patterns: Iterable[str] = DEFAULT_PATTERNS, *, batch: int = 1000) -> pd.DataFrame:
    """One row per key matching ``patterns``, with ``key, kind, type, ttl`` and the key's fields."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    r = client(redis_url)
    cols = _Columns()
    try:
        for keys in scan_keys(r, patterns, batch):
            cols.add_batch(_read_batch(r, keys))
    finally:
        r.close()
    return cols.frame()
