"""Clean seeded data: both checkpoints pass; the report's shape; results in the declared order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ytempire_dq.config import PROJECT_ROOT
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.cache_seed import seed_cache
from ytempire_dq.locations import list_checkpoints
from ytempire_dq.run.checkpoint import run_checkpoint

RULE_KEYS = {
    "rule_id",
    "expectation_id",
    "expectation_type",
    "column",
    "success",
    "unexpected_count",
    "observed_value",
    "partial_unexpected_list",
    "element_count",
    "error",
}


@pytest.fixture(scope="module")
def clean(module_env):
    seed.seed(module_env, users=20, seed=7)
    seed_cache(module_env, seed=7)  # REDIS_URL: the module's Redis database (conftest)
    return module_env


@pytest.fixture(scope="module")
def nightly(clean):
    return run_checkpoint("nightly")


def test_list_checkpoints():
    assert list_checkpoints() == ["cache", "critical", "nightly"]


def test_nightly_passes_on_clean_data(nightly):
    failed = nightly.failed_rules()
    assert failed == [] and nightly.success and nightly.exit_code == ExitCode.OK


def test_no_committed_rule_falls_back_from_the_fast_path_on_clean_data(nightly):
    """The canary of the fast path (ytempire_dq.run.validation): a GX upgrade that breaks one of
    its steps makes rules fall back to GX alone (same verdicts, slower, logged); this fails then."""
    fast = nightly.fast_path()
    assert fast["fell_back"] == []
    assert fast["rules"] == sum(len(v.results) for v in nightly.validations if v.fast_path) > 0
    assert [v.asset for v in nightly.validations if not v.fast_path] == ["redis_snapshot"]  # not PostgreSQL


def test_critical_passes_on_clean_data(clean):
    report = run_checkpoint("critical", concurrent=False)
    assert report.success, report.failed_rules()
    assert [v.suite for v in report.validations] == ["cross_table"]
    assert {r.rule_id for r in report.rules()} >= {"channels.user_exists", "users.active_channels_within_tier_limit"}


def test_validations_come_in_the_declared_order_with_rules_in_suite_order(nightly):
    declared = json.loads((PROJECT_ROOT / "checkpoints" / "nightly.json").read_text())["validation_definitions"]
    assets = {
        vd["name"]: json.loads((PROJECT_ROOT / "validation_definitions" / f"{vd['name']}.json").read_text())["data"][
            "asset"
        ]["name"]
        for vd in declared
    }
    assert [(v.suite, v.asset) for v in nightly.validations] == [(vd["name"], assets[vd["name"]]) for vd in declared]
    assert nightly.validations[-1].asset == "redis_snapshot"
    from ytempire_dq.rules.suite_files import show_suite

    for v in nightly.validations:
        assert [r.rule_id for r in v.results] == [e["rule_id"] for e in show_suite(v.suite)["expectations"]]


def test_json_shape(nightly):
    doc = json.loads(json.dumps(nightly.to_dict()))  # plain JSON all the way down
    assert set(doc) == {
        "checkpoint",
        "success",
        "exit_code",
        "run_id",
        "jobs",
        "source",
        "data_docs",
        "snapshot",
        "as_of",
        "replica_lag_seconds",
        "replica_lag",
        "recovery_conflicts",
        "scan",
        "errors",
        "warnings",
        "action_errors",
        "fast_path",
        "history_error",
        "validations",
    }
    # every rule of the committed suites on clean data: the fast path's, none left to GX alone
    assert doc["fast_path"]["fell_back"] == [] and doc["fast_path"]["rules"] > 0
    assert set(doc["snapshot"]) == {"id", "taken_at", "txids", "as_of", "replica_lag_seconds", "standby"}
    # on a primary the data is as of the run's instant; no replica, no lag, nothing retried
    assert doc["as_of"] == doc["snapshot"]["taken_at"] and doc["replica_lag_seconds"] is None
    assert doc["replica_lag"] is None and doc["recovery_conflicts"] == []
    assert doc["scan"]["mode"] == "full"  # no --since-last: every rule on every row
    assert doc["checkpoint"] == "nightly" and doc["success"] is True and doc["run_id"].startswith("nightly-")
    assert doc["exit_code"] == 0 and doc["errors"] == [] and doc["warnings"] == [] and doc["history_error"] is None
    assert doc["action_errors"] == [] and doc["source"]  # the name of the database it checked
    assert Path(doc["data_docs"]).name == "index.html" and Path(doc["data_docs"]).is_file()
    for v in doc["validations"]:
        assert set(v) == {"suite", "asset", "success", "results"}
        for r in v["results"]:
            assert set(r) == RULE_KEYS, r
    rules = {r["rule_id"]: r for v in doc["validations"] for r in v["results"]}
    ids = [r["expectation_id"] for v in doc["validations"] for r in v["results"]]
    assert len(set(ids)) == len(ids) == len(rules) and None not in ids  # each rule its own id
    assert rules["users.email_format"]["unexpected_count"] == 0
    assert rules["users.email_format"]["column"] == "email"
    assert rules["analytics.date_not_in_future"]["unexpected_count"] == 0  # from observed_value
    assert rules["analytics.one_row_per_video_day"]["column"] == "video_id,date"
    assert rules["users.columns"]["unexpected_count"] is None


def test_results_are_stored_and_data_docs_list_the_run(nightly):
    from ytempire_dq.config import PROJECT_ROOT

    stored = list((PROJECT_ROOT / "gx" / "uncommitted" / "validations" / "cross_table").rglob("*.json"))
    assert any(nightly.run_id in str(p) for p in stored)
    assert nightly.run_id in Path(nightly.data_docs).read_text()


def test_docs_build_returns_the_index(nightly):
    from ytempire_dq.docs.site import docs_build

    index = docs_build()
    assert index.name == "index.html" and index.is_file() and "cross_table" in index.read_text()


def test_nightly_passes_on_a_database_with_exactly_the_platform_schemas_constraints(clean, new_database):
    """The project's extensions to the platform's schema (tests/platform_schema.py) dropped: every
    nightly rule still runs, none errs and none fails (no rule needs an extension)."""
    from tests import platform_schema
    from tests.helpers import scalar
    from ytempire_dq.db.connect import connect

    url = new_database("platform_shape")
    seed.seed(url, users=20, seed=7)  # the module's rows: the cache seeded from them matches
    conn = connect(url, autocommit=True)
    try:
        for table, name in platform_schema.EXTENSIONS:
            conn.cursor().execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        assert scalar(conn, "SELECT count(*) FROM pg_constraint WHERE conname = 'videos_status_check'") == 0
    finally:
        conn.close()
    report = run_checkpoint("nightly", database_url=url)
    assert [r for r in report.rules() if not r.success or r.error] == []
    assert report.exit_code == ExitCode.OK and len(report.rules()) > 150
