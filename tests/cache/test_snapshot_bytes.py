"""Keys whose names are not valid UTF-8: kept in the snapshot with an escaped name, their TTL and
fields read and checked, and each one a violation of ``cache.key_name_is_utf8``.

Before: the snapshot decoded names with replacement characters, then asked Redis for the TTL of a
key that does not exist (``-2``): the key vanished, and so did its TTL and user violations.

Redis: this module uses database 8 of the session's server and flushes only that one.
"""

from __future__ import annotations

import pytest
import redis

from tests.helpers import empty_redis_db, module_environ
from ytempire_dq import pii
from ytempire_dq.cache.dump import snapshot
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.cache_seed import count_defects, seed_cache
from ytempire_dq.run.checkpoint import run_checkpoint

REDIS_DB = 8
BAD = 3  # bad-name session keys in the failing case


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def raw(cache_url):
    client = redis.Redis.from_url(cache_url)  # bytes in, bytes out
    yield client
    client.close()


@pytest.fixture(scope="module")
def env(db_url, cache_url):
    seeder.seed(db_url, users=20, seed=4)
    for _ in module_environ(DATABASE_URL=db_url, REDIS_URL=cache_url):
        yield db_url, cache_url


def test_names_that_are_not_utf8_are_kept_escaped_with_ttl_and_fields(cache_url, raw):
    raw.flushdb()
    raw.hset(b"session:\xff\xfe01", mapping={"user_id": "u1", "created_at": "2024-05-01T00:00:00+00:00"})
    raw.expire(b"session:\xff\xfe01", 500)
    raw.hset(b"session:\xc3(02", mapping={b"user_id": b"u\xe9", "created_at": "c"})  # no TTL, latin-1 value
    raw.set(b"ratelimit:\x80user:3600s", 7, ex=1000)
    # a valid name that reads exactly like the first one escaped: a different key, kept apart
    raw.hset("session:\\xff\\xfe01", mapping={"user_id": "u3"})
    raw.hset("session:fine", mapping={"user_id": "u4"})

    df = snapshot(cache_url, batch=2)
    df_bad = "key_not_utf8"
    assert len(df) == 5
    bad = df[df[df_bad].notna()].set_index("key")
    assert sorted(bad.index) == ["ratelimit:\\x80user:3600s", "session:\\xc3(02", "session:\\xff\\xfe01"]
    assert (bad[df_bad] == bad.index).all()
    assert bad.loc["session:\\xff\\xfe01", "ttl"] in range(490, 501)
    assert bad.loc["session:\\xff\\xfe01", "user_id"] == "u1"
    assert bad.loc["session:\\xc3(02", "ttl"] == -1 and bad.loc["session:\\xc3(02", "user_id"] == "u\\xe9"
    counter = bad.loc["ratelimit:\\x80user:3600s"]
    assert counter["kind"] == "ratelimit" and counter["value"] == 7 and counter["window"] == "3600s"
    good = df[df[df_bad].isna()].set_index("key")
    assert good.loc["session:\\xff\\xfe01", "user_id"] == "u3" and good.loc["session:fine", "user_id"] == "u4"


def test_clean_cache_passes_the_key_name_rule(env):
    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5)
    report = run_checkpoint("cache")
    assert report.exit_code == ExitCode.OK, report.failed_rules()
    rule = report.rule("cache.key_name_is_utf8")
    assert rule.success and rule.unexpected_count == 0 and rule.error is None


def test_bad_names_without_ttl_fail_the_name_rule_and_the_ttl_rule_with_exactly_n(env, raw):
    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5)
    # a real session (active user, created_at), copied under a name that is not UTF-8, no TTL
    source = next(k for k in raw.scan_iter(b"session:*", count=1000))
    fields = raw.hgetall(source)
    for i in range(BAD):
        raw.hset(b"session:\xff\xfe" + bytes([0x80 + i]) + source[8:], mapping=fields)
    report = run_checkpoint("cache")
    assert report.exit_code == ExitCode.DATA_FAILED
    failed = {r["rule_id"]: r["bad_rows"] for r in report.failed_rules()}
    assert failed == {"cache.key_name_is_utf8": BAD, "cache.session_ttl_set": BAD}
    name_rule = report.rule("cache.key_name_is_utf8")
    assert (
        sorted(name_rule.partial_unexpected_list)
        == sorted(  # the token masked (docs/personal-data.md, "Personal data")
            "session:" + pii.mask(f"\\xff\\xfe\\x{0x80 + i:x}{source[8:].decode()}") for i in range(BAD)
        )
    )
    # their user was read and checked (an active one): no user violation
    assert report.rule("cache.session_user_active").unexpected_count == 0


def test_the_seeder_injects_bad_names_and_clears_them_again(env, raw):
    db_url, cache_url = env
    report = seed_cache(db_url, cache_url, seed=5, inject={"session_key_not_utf8": 4})
    assert report["injected"] == {"session_key_not_utf8": 4}
    bad = [k for k in raw.scan_iter(b"session:*", count=1000) if not _utf8(k)]
    assert len(bad) == 4
    assert count_defects(db_url, cache_url)["session_key_not_utf8"] == 4
    seed_cache(db_url, cache_url, seed=5)  # clearing works on the raw names too
    assert [k for k in raw.scan_iter(count=1000) if not _utf8(k)] == []


def _utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
