"""run_checkpoint_fast: the same verdicts and bad-row counts as run_checkpoint, uniqueness proved
from the catalog only where a valid unique index exists, samples for the failed rules."""

from __future__ import annotations

import json

import pytest

from tests.gx.conftest import copy_project
from ytempire_dq.checkpoints import run_checkpoint
from ytempire_dq.db import seed
from ytempire_dq.db.connect import connect
from ytempire_dq.db.defects import DEFECT_KINDS
from ytempire_dq.fast import run_checkpoint_fast

TABLE_VDS = ["users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table"]
INJECT = {kind: i + 1 for i, kind in enumerate(DEFECT_KINDS)}
UNIQUE_RULES = 12


def _project(tmp_path_factory):
    """A project copy with a checkpoint of the seven table suites (no actions)."""
    gx_dir = copy_project(tmp_path_factory.mktemp("fast"))
    root = gx_dir.parent
    vds = [{"id": json.loads((root / "validation_definitions" / f"{n}.json").read_text())["id"], "name": n}
           for n in TABLE_VDS]
    (root / "checkpoints" / "tables.json").write_text(json.dumps(
        {"actions": [], "id": "00000000-0000-4000-8000-0000000fa570", "name": "tables",
         "result_format": "SUMMARY", "validation_definitions": vds}))
    return gx_dir


@pytest.fixture(scope="module")
def broken(new_database, tmp_path_factory):
    url = new_database("fast_broken")
    seed.seed(url, users=150, seed=42, inject=INJECT)
    gx_dir = _project(tmp_path_factory)
    slow = run_checkpoint("tables", config_dir=gx_dir, database_url=url)
    fast = run_checkpoint_fast("tables", config_dir=gx_dir, database_url=url)
    return slow, fast


def test_same_verdicts_and_counts_as_run_checkpoint(broken):
    slow, fast = broken
    assert [r.rule_id for r in fast.rules()] == [r.rule_id for r in slow.rules()]  # suite order
    for s, f in zip(slow.rules(), fast.rules()):
        assert (f.rule_id, f.success, f.unexpected_count) == (s.rule_id, s.success, s.unexpected_count)
    assert fast.success is False and fast.exit_code == slow.exit_code


def test_uniqueness_is_proved_only_where_a_unique_index_exists(broken):
    _, fast = broken
    # the duplicate_* kinds dropped their unique constraints: those rules ran and counted the rows
    for rule_id, kind in (("users.email_unique", "duplicate_email"),
                          ("videos.youtube_video_id_unique", "duplicate_youtube_video_id"),
                          ("analytics.one_row_per_video_day", "duplicate_analytics_day")):
        rule = fast.rule(rule_id)
        assert not rule.success and rule.unexpected_count == 2 * INJECT[kind]
        assert "proved by" not in str(rule.observed_value)
    proved = [r for r in fast.rules() if "proved by unique index" in str(r.observed_value)]
    assert fast.timings["proved"] == len(proved) == UNIQUE_RULES - 3
    assert fast.rule("users.id_unique").observed_value.startswith("proved by unique index users_pkey")
    assert all(r.success and r.unexpected_count == 0 for r in proved)


def test_failed_rules_carry_samples(broken):
    slow, fast = broken
    for s, f in zip(slow.rules(), fast.rules()):
        if not f.success:  # samples wherever run_checkpoint gives them (GX's unexpected_rows_expectation: none)
            assert bool(f.partial_unexpected_list) == bool(s.partial_unexpected_list), f.rule_id
            assert len(f.partial_unexpected_list) <= max(len(s.partial_unexpected_list), f.unexpected_count)
    assert fast.rule("users.email_format").partial_unexpected_list


def test_clean_data_needs_no_second_pass(new_database, tmp_path_factory):
    url = new_database("fast_clean")
    seed.seed(url, users=60, seed=3)
    gx_dir = _project(tmp_path_factory)
    report = run_checkpoint_fast("tables", config_dir=gx_dir, database_url=url)
    assert report.success
    assert report.timings["proved"] == UNIQUE_RULES and report.timings["rerun"] == 0
    # an index that proves nothing (partial) is not taken as proof
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE users DROP CONSTRAINT users_username_key")
        cur.execute("CREATE UNIQUE INDEX users_username_partial ON users (username) WHERE username <> ''")
    conn.close()
    report = run_checkpoint_fast("tables", config_dir=gx_dir, database_url=url)
    assert report.success and report.timings["proved"] == UNIQUE_RULES - 1
    assert report.rule("users.username_unique").unexpected_count == 0
