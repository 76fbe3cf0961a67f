"""The ``cache`` checkpoint on real Redis + PostgreSQL: a clean (or empty) cache passes; each
injected cache defect kind fails exactly its one rule with the injected count; Redis down at the
start is exit 2 with the URL masked; nightly runs the cache last; lint and Data Docs know the rules.

Redis: this module uses database 13 of the session's server and flushes only that one.
"""

from __future__ import annotations

import json
import socket

import pytest
import redis

from tests.helpers import assert_same_rules, copy_project, docs_text, empty_redis_db, module_environ
from tests.recipes import shipped
from ytempire_dq.config import PROJECT_ROOT, mask_url
from ytempire_dq.errors import ExitCode, YtdqError
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.cache_seed import CACHE_DEFECT_KINDS, RATE_LIMITS, STATS_TOLERANCE, count_defects, seed_cache
from ytempire_dq.run.checkpoint import run_checkpoint

REDIS_DB = 13
#: Each cache defect kind -> the ONE cache rule that catches it.
KIND_TO_RULE = {
    "stale_video_stats": "cache.video_stats_match_videos",
    "session_without_ttl": "cache.session_ttl_set",
    "session_of_missing_user": "cache.session_user_active",
    "counter_without_ttl": "cache.counter_ttl_set",
    "counter_over_limit": "cache.counter_within_tier_limit",
    "session_key_not_utf8": "cache.key_name_is_utf8",
}
#: Distinct counts, so a rule counting another kind's keys could not pass by accident.
INJECT = {
    "stale_video_stats": 3,
    "session_without_ttl": 4,
    "session_of_missing_user": 5,
    "counter_without_ttl": 6,
    "counter_over_limit": 2,
    "session_key_not_utf8": 7,
}
CUSTOM_SENTENCES = {
    "cache.video_stats_match_videos": (
        f"Each view_count is within {STATS_TOLERANCE} of videos.view_count, the row whose videos.id equals "
        "video_id (a value with no such row counts as stale)."
    ),
    "cache.session_user_active": (
        "Each user_id names an existing users.id that is active: at least one channels row "
        "(channels.user_id) whose channels.status is not one of suspended, deleted."
    ),
    "cache.counter_within_tier_limit": (
        "Each value is at most the limit of the users.subscription_tier of the users row whose users.id "
        "equals user_id, per window: free (60s 60, 3600s 1,000); starter (60s 300, 3600s 10,000); "
        "professional (60s 1,000, 3600s 50,000); enterprise (60s 5,000, 3600s 250,000)."
    ),
}


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def env(db_url, cache_url):
    """DATABASE_URL / REDIS_URL = this module's database and Redis database; 40 users seeded."""
    seeder.seed(db_url, users=40, seed=11)
    for _ in module_environ(DATABASE_URL=db_url, REDIS_URL=cache_url):
        yield db_url, cache_url


def cache_rules() -> list[str]:
    doc = json.loads((PROJECT_ROOT / "expectations" / "cache.json").read_text())
    return [e["meta"]["rule_id"] for e in doc["expectations"]]


def test_the_suite_states_each_rule_once_with_an_id_and_a_description():
    doc = json.loads((PROJECT_ROOT / "expectations" / "cache.json").read_text())
    ids = [e["meta"]["rule_id"] for e in doc["expectations"]]
    assert len(ids) == len(set(ids)) >= 14
    assert all(i.startswith("cache.") for i in ids)
    assert all(e["description"].strip() and "\n" not in e["description"] for e in doc["expectations"])
    assert set(KIND_TO_RULE.values()) <= set(ids)
    by_id = {e["meta"]["rule_id"]: e["kwargs"] for e in doc["expectations"]}
    # the limits and tolerance the rules check are the ones the platform (and the seeder) uses
    assert by_id["cache.counter_within_tier_limit"]["limits"] == RATE_LIMITS
    assert by_id["cache.video_stats_match_videos"]["tolerance"] == STATS_TOLERANCE
    assert by_id["cache.session_ttl_at_most_24h"]["max_value"] == 24 * 3600
    # the database is named by substitution only: no URL in the file
    urls = {kw.get("database_url") for kw in by_id.values() if "database_url" in kw}
    assert urls == {"${DATABASE_URL}"}


def test_clean_cache_passes(env):
    db_url, cache_url = env
    seeded = seed_cache(db_url, cache_url, seed=5)
    assert seeded["sessions"] > 20 and seeded["video_stats"] > 20 and seeded["rate_limits"] > 20
    report = run_checkpoint("cache")
    assert report.success and report.exit_code == ExitCode.OK, report.failed_rules()
    assert [(v.suite, v.asset) for v in report.validations] == [("cache", "redis_snapshot")]
    rules = report.rules()
    assert [r.rule_id for r in rules] == cache_rules()
    assert all(r.unexpected_count == 0 and r.error is None for r in rules), [r for r in rules if r.unexpected_count]


def test_empty_cache_is_clean(env, cache_url):
    redis.Redis.from_url(cache_url).flushdb()
    report = run_checkpoint("cache")
    assert report.success, report.failed_rules()
    assert {r.unexpected_count for r in report.rules()} == {0}


@pytest.mark.parametrize("kind", sorted(CACHE_DEFECT_KINDS))
def test_each_defect_kind_fails_exactly_its_rule_with_the_injected_count(env, kind):
    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5, inject={kind: INJECT[kind]})
    report = run_checkpoint("cache")
    assert report.exit_code == ExitCode.DATA_FAILED
    rule = report.rule(KIND_TO_RULE[kind])
    assert rule.error is None and not rule.success
    assert rule.unexpected_count == INJECT[kind]
    assert len(rule.partial_unexpected_list) == INJECT[kind]
    if rule.rule_id in CUSTOM_SENTENCES:  # ours sample the offending keys (built-ins: the values)
        assert all(str(key).split(":")[0] in ("session", "video", "ratelimit") for key in rule.partial_unexpected_list)
    others = {r.rule_id: r.unexpected_count for r in report.rules() if r.rule_id != rule.rule_id}
    assert set(others.values()) == {0}, others
    assert [r["rule_id"] for r in report.failed_rules()] == [KIND_TO_RULE[kind]]
    # the GX rules and the seeder's plain checks agree on the same cache
    assert count_defects(db_url, cache_url)[kind] == INJECT[kind]


def test_kinds_and_rules_map_one_to_one():
    assert set(KIND_TO_RULE) == set(CACHE_DEFECT_KINDS)
    assert len(set(KIND_TO_RULE.values())) == len(KIND_TO_RULE)


@pytest.mark.parametrize("checkpoint", ["cache", "nightly"])
def test_redis_down_at_the_start_is_exit_2_with_the_url_masked(env, checkpoint, tmp_path):
    """Nothing runs and nothing is stored: the cache cannot be validated, as with PostgreSQL down."""
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = "redis://" + f"ytdq:s3cret-pw@127.0.0.1:{port}/0"
    gx_dir = copy_project(tmp_path)
    with pytest.raises(YtdqError) as exc:
        run_checkpoint(checkpoint, redis_url=url, config_dir=gx_dir)
    assert not list((gx_dir / "uncommitted").glob("validations/**/*.json"))
    message = str(exc.value)
    assert exc.value.exit_code == ExitCode.RUN_FAILED
    assert "s3cret-pw" not in message and mask_url(url) in message
    assert "cannot read the Redis cache" in message


def test_checkpoints_without_the_cache_do_not_touch_redis(env):
    """critical has no cache validation definition: a dead REDIS_URL does not matter to it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = run_checkpoint("critical", redis_url=f"redis://127.0.0.1:{port}/0")
    assert [v.suite for v in report.validations] == ["cross_table"]


def test_nightly_runs_the_cache_last():
    nightly = json.loads((PROJECT_ROOT / "checkpoints" / "nightly.json").read_text())
    names = [vd["name"] for vd in nightly["validation_definitions"]]
    assert names[-1] == "cache" and names.count("cache") == 1
    cache = json.loads((PROJECT_ROOT / "checkpoints" / "cache.json").read_text())
    assert [vd["name"] for vd in cache["validation_definitions"]] == ["cache"]
    assert {a["type"] for a in nightly["actions"]} >= {a["type"] for a in cache["actions"]}


def test_nightly_runs_the_cache_suite_on_the_same_snapshot_rules(env):
    """Clean tables, one cache defect: nightly fails on exactly that cache rule, with its count."""
    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5, inject={"session_without_ttl": 3})
    report = run_checkpoint("nightly")
    assert report.validations[-1].suite == "cache" and report.validations[-1].asset == "redis_snapshot"
    failed = [
        (r.rule_id, r.unexpected_count)
        for v in report.validations
        for r in v.results
        if not r.success and shipped(v.suite, r.rule_id)  # an analyst's draft may not fit this data
    ]
    assert failed == [("cache.session_ttl_set", 3)]
    assert report.exit_code == ExitCode.DATA_FAILED


def test_cli_runs_the_cache_checkpoint(env):
    from click.testing import CliRunner

    from ytempire_dq.cli import main

    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5, inject={"counter_over_limit": 2})
    result = CliRunner().invoke(main, ["checkpoint", "run", "cache"], env={"COLUMNS": "200"})
    assert result.exit_code == ExitCode.DATA_FAILED, result.output
    assert "cache.counter_within_tier_limit" in result.output and "ratelimit:" in result.output
    seed_cache(db_url, cache_url, seed=5)
    assert CliRunner().invoke(main, ["checkpoint", "run", "cache"]).exit_code == ExitCode.OK


def test_suite_lint_passes_for_the_committed_project(env):
    from ytempire_dq.rules.lint import lint

    problems = lint()
    assert [str(p) for p in problems if p.level != "warning"] == []


def test_lint_checks_the_postgres_side_of_the_cross_store_rules(env, tmp_path):
    from ytempire_dq.rules.lint import lint

    gx_dir = copy_project(tmp_path)
    path = gx_dir.parent / "expectations" / "cache.json"
    doc = json.loads(path.read_text())
    rule = next(e for e in doc["expectations"] if e["meta"]["rule_id"] == "cache.video_stats_match_videos")
    rule["kwargs"]["table_column"] = "views_total"
    path.write_text(json.dumps(doc))
    problems = [str(p) for p in lint(gx_dir)]
    assert any("cache.video_stats_match_videos" in p and "'views_total'" in p for p in problems), problems


def test_data_docs_show_the_cross_store_rules_as_sentences(env, tmp_path):
    """As tests/expectations do: the rule without a description renders its sentence (GX shows a
    description, when there is one, in place of the sentence)."""
    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5, inject={"stale_video_stats": 2})
    gx_dir = copy_project(tmp_path)
    path = gx_dir.parent / "expectations" / "cache.json"
    doc = json.loads(path.read_text())
    for e in doc["expectations"]:
        if e["meta"]["rule_id"] in CUSTOM_SENTENCES:
            del e["description"]
    path.write_text(json.dumps(doc))
    report = run_checkpoint("cache", config_dir=gx_dir)
    assert report.rule("cache.video_stats_match_videos").unexpected_count == 2
    site = gx_dir / "uncommitted" / "data_docs" / "local_site"
    suite_page = docs_text((site / "expectations" / "cache.html").read_text())
    (validation_page,) = [docs_text(p.read_text()) for p in (site / "validations").rglob("*.html")]
    for page in (suite_page, validation_page):
        for sentence in CUSTOM_SENTENCES.values():
            assert sentence in page
        assert "a counter belongs to an existing, active user" in page  # a description
        assert "DATABASE_URL" not in page and "SELECT" not in page
    assert "2 unexpected rows found." in validation_page


def test_each_row_condition_filters_the_snapshot_once_with_gx_alones_results(env, monkeypatch):
    """The cache suite runs GX's own validation on pandas; the fast path filters the snapshot by
    each row condition once (``fast_hooks.row_conditions_filtered_once``), where GX filters it for
    every metric that asks: the same results, rule by rule, with every defect kind injected."""
    import pandas as pd

    db_url, cache_url = env
    seed_cache(db_url, cache_url, seed=5, inject=INJECT)
    doc = json.loads((PROJECT_ROOT / "expectations" / "cache.json").read_text())
    conditions = {
        json.dumps(e["kwargs"]["row_condition"]) for e in doc["expectations"] if "row_condition" in e["kwargs"]
    }
    queries = []
    query = pd.DataFrame.query
    monkeypatch.setattr(pd.DataFrame, "query", lambda self, *a, **k: queries.append(a[0]) or query(self, *a, **k))

    def run(fast: str):
        monkeypatch.setenv("YTDQ_FAST", fast)
        queries.clear()
        report = run_checkpoint("cache")
        return report, len(queries)

    alone, alone_filters = run("0")
    fast, fast_filters = run("1")
    assert fast_filters == len(conditions) == 3 and alone_filters > 3 * fast_filters
    assert [r.rule_id for r in fast.rules()] == cache_rules()
    assert_same_rules(alone, fast, ("success", "unexpected_count", "partial_unexpected_list", "observed_value"))
    assert sorted(r["rule_id"] for r in fast.failed_rules()) == sorted(KIND_TO_RULE.values())
