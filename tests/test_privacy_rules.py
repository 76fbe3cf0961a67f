"""The privacy suite (issue 15, item 4): right to erasure and the project's own data retention.

- ``user_erasures.no_leftover_rows``: a user recorded as erased (migration 007) is named by no
  users row, channel or API key (videos, analytics, workflows hang off the channels);
- ``dq.runs_within_retention``, ``dq.rule_results_within_retention``,
  ``dq.quarantine_within_retention``: nothing of the run history older than ``retention_days``.

Each passes on clean data and fails with the exact count of its defect kind; a user erased the
way the platform does it (delete + record) passes, and the cache keys such a user left behind
fail the cache suite's user rules (the user no longer exists).
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from tests.helpers import KIND_TO_RULE, copy_project, empty_redis_db, scalar
from ytempire_dq import config
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode, YtdqError
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.fixtures.defects.privacy_kinds import PRIVACY_KINDS
from ytempire_dq.run.checkpoint import run_checkpoint

REDIS_DB = 6
KINDS = [k.name for k in PRIVACY_KINDS]
#: Distinct counts: a rule catching another kind's rows could not pass by accident.
INJECT = {kind: i + 2 for i, kind in enumerate(KINDS)}
RULES = [k.rule_id for k in PRIVACY_KINDS]


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory):
    """A project copy with checkpoint ``privacy``: the privacy validation definition alone."""
    gx = copy_project(tmp_path_factory.mktemp("privacy"))
    vd = json.loads((gx.parent / "validation_definitions" / "privacy.json").read_text())
    checkpoint = {
        "actions": [],
        "id": str(uuid.uuid4()),
        "name": "privacy",
        "result_format": "COMPLETE",  # GX gives a SQL rule's rows only under COMPLETE
        "validation_definitions": [{"id": vd["id"], "name": "privacy"}],
    }
    (gx.parent / "checkpoints" / "privacy.json").write_text(json.dumps(checkpoint))
    return gx


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


def run(gx_dir, db_url):
    return run_checkpoint("privacy", config_dir=gx_dir, database_url=db_url)


def failed(report) -> dict[str, int]:
    return {r.rule_id: r.unexpected_count for r in report.rules() if not r.success}


def test_each_rule_has_its_kind_and_a_description():
    assert {KIND_TO_RULE[k] for k in KINDS} == set(RULES)
    suite = json.loads((config.PROJECT_ROOT / "expectations" / "privacy.json").read_text())
    by_id = {e["meta"]["rule_id"]: e for e in suite["expectations"]}
    assert set(by_id) == set(RULES)
    assert all(e["description"].strip() and e["id"] for e in by_id.values())


def test_clean_data_passes(module_env, gx_dir):
    seed.seed(module_env, users=40, seed=3)
    report = run(gx_dir, module_env)
    assert report.exit_code == ExitCode.OK, report.failed_rules()
    assert {r.rule_id for r in report.rules()} == set(RULES)


def test_each_kind_fails_its_rule_with_the_exact_count(module_env, gx_dir):
    seed.seed(module_env, users=40, seed=3, inject=INJECT)
    conn = connect(module_env, autocommit=True)
    try:
        for kind in KINDS:  # the kind's own SQL agrees with the injected count
            assert scalar(conn, DEFECT_KINDS[kind].count_sql) == INJECT[kind], kind
    finally:
        conn.close()
    report = run(gx_dir, module_env)
    assert report.exit_code == ExitCode.DATA_FAILED
    assert failed(report) == {KIND_TO_RULE[k]: INJECT[k] for k in KINDS}
    # a second seed starts clean again: no erasure, no seeded history left
    seed.seed(module_env, users=40, seed=3)
    assert run(gx_dir, module_env).exit_code == ExitCode.OK


def test_the_leftover_rows_are_named_per_table(module_env, gx_dir):
    seed.seed(module_env, users=40, seed=3, inject={"erased_user_leftovers": 1})
    report = run(gx_dir, module_env)
    (row,) = report.rule("user_erasures.no_leftover_rows").partial_unexpected_list
    conn = connect(module_env, autocommit=True)
    try:
        user_id = scalar(conn, "SELECT user_id::text FROM user_erasures")
        channels = scalar(conn, "SELECT count(*) FROM channels WHERE user_id = %s", (user_id,))
    finally:
        conn.close()
    assert str(row["user_id"]) == user_id and row["users_rows"] == 1 and row["channels_rows"] == channels > 0


def test_a_properly_erased_user_passes_and_its_cache_keys_fail_the_cache_rules(module_env, gx_dir, cache_url):
    """Erased the platform's way (DELETE cascades, id recorded): the privacy rules pass; the
    session and counter the cache still holds for that user fail ``cache.session_user_active`` and
    ``cache.counter_user_active`` (they name a user that no longer exists)."""
    from ytempire_dq.fixtures.cache_seed import WINDOWS, seed_cache

    seed.seed(module_env, users=40, seed=3)
    seed_cache(module_env, cache_url, seed=3)
    client = redis.Redis.from_url(cache_url, decode_responses=True)
    try:
        session = next(client.scan_iter("session:*", count=1000))
        user_id = client.hget(session, "user_id")
        own_keys = {f"ratelimit:{user_id}:{window}": seconds for window, seconds in WINDOWS.items()}
        sessions = [k for k in client.scan_iter("session:*", count=1000) if client.hget(k, "user_id") == user_id]
    finally:
        client.close()
    conn = connect(module_env, autocommit=True)
    try:
        conn.cursor().execute("DELETE FROM users WHERE id = %s", (user_id,))  # channels, keys... cascade
        conn.cursor().execute("INSERT INTO user_erasures (user_id) VALUES (%s)", (user_id,))
    finally:
        conn.close()
    assert run(gx_dir, module_env).exit_code == ExitCode.OK
    # a seeded 60s counter lives 1..60 s (as in production), so it may be gone by now: the user
    # counts one more request, which starts each window afresh, just before the cache is read
    client = redis.Redis.from_url(cache_url, decode_responses=True)
    try:
        for key, seconds in own_keys.items():
            client.set(key, 1, ex=seconds)
    finally:
        client.close()
    cache = run_checkpoint("cache", config_dir=gx_dir, database_url=module_env, redis_url=cache_url)
    bad = failed(cache)
    assert bad.get("cache.session_user_active") == len(sessions) > 0
    assert bad.get("cache.counter_user_active", 0) == len(own_keys)


def test_retention_days_is_one_setting(monkeypatch, module_env, gx_dir):
    monkeypatch.setenv(config.RETENTION_ENV, "7")
    assert config.retention_days() == 7
    seed.seed(module_env, users=10, seed=3)
    conn = connect(module_env, autocommit=True)
    try:  # a run 8 days old: kept under the default 30 days, past a 7-day retention
        conn.cursor().execute(
            "INSERT INTO dq.runs VALUES ('old-run', 'seeded-defect', true, 0, 0, now() - interval '8 days', now())"
        )
    finally:
        conn.close()
    assert failed(run(gx_dir, module_env)) == {"dq.runs_within_retention": 1}
    monkeypatch.delenv(config.RETENTION_ENV)
    assert config.retention_days() == config.RETENTION_DAYS == 30
    assert run(gx_dir, module_env).exit_code == ExitCode.OK
    for bad in ("0", "-3", "ten"):
        monkeypatch.setenv(config.RETENTION_ENV, bad)
        with pytest.raises(YtdqError, match=config.RETENTION_ENV):
            config.retention_days()
