"""ExpectColumnValuesToBeWithinRetention on a real PostgreSQL: nothing older than retention_days."""

from __future__ import annotations

import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import rendered_sentence, suite_round_trip
from ytempire_dq.expectations import ExpectColumnValuesToBeWithinRetention


def runs_rule(**overrides) -> ExpectColumnValuesToBeWithinRetention:
    params = {"table": "dq.runs", "column": "started_at", "key_column": "run_id", **overrides}
    return ExpectColumnValuesToBeWithinRetention(**params)


@pytest.fixture
def runs(db):
    """``add(run_id, days_ago)`` into an emptied ``dq.runs``."""
    with db.cursor() as cur:
        cur.execute("DELETE FROM dq.runs")

    def add(run_id: str, days_ago: float) -> None:
        with db.cursor() as cur:
            cur.execute(
                "INSERT INTO dq.runs VALUES (%s, 'nightly', true, 0, 0, now() - make_interval(secs => %s), now())",
                (run_id, days_ago * 86400),
            )

    return add


def test_rows_within_retention_pass(gx_env, runs):
    runs("new", 1)
    runs("edge", 29.9)
    result = gx_env.validate(runs_rule())
    assert result.success and result.result["unexpected_count"] == 0


def test_older_rows_fail_with_the_exact_count_and_their_keys(gx_env, runs):
    runs("new", 1)
    for i in range(3):
        runs(f"old-{i}", 31 + i)
    result = gx_env.validate(runs_rule())
    assert not result.success and result.result["unexpected_count"] == 3
    assert result.result["partial_unexpected_list"] == ["old-0", "old-1", "old-2"]


def test_the_retention_comes_from_config_unless_given(gx_env, runs, monkeypatch):
    runs("ten-days", 10)
    assert gx_env.validate(runs_rule()).success  # default 30
    monkeypatch.setenv("YTDQ_RETENTION_DAYS", "7")
    assert gx_env.validate(runs_rule()).result["unexpected_count"] == 1
    assert gx_env.validate(runs_rule(max_age_days=14)).success  # a rule's own number wins


def test_parameters_are_checked_stored_and_rendered(tmp_path):
    with pytest.raises(ValidationError):
        runs_rule(max_age_days=0)
    with pytest.raises(ValidationError):
        runs_rule(table="dq.runs; DROP TABLE users")
    stored, loaded = suite_round_trip(runs_rule(), tmp_path)
    assert stored["expectations"][0]["kwargs"]["key_column"] == "run_id"
    assert loaded.table == "dq.runs" and loaded.max_age_days is None
    assert rendered_sentence(runs_rule()) == (
        "No dq.runs.started_at value is older than the project's retention_days (older rows are pruned)."
    )
    assert "older than 14 days" in rendered_sentence(runs_rule(max_age_days=14))
