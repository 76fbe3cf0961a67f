"""Runs that cannot happen raise YtdqError (exit code 2) saying why; actions cannot hide the verdict."""

from __future__ import annotations

import json

import pytest

from ytempire_dq import config
from ytempire_dq.errors import ExitCode, YtdqError
from ytempire_dq.fixtures import seed
from ytempire_dq.gx.context import open_context
from ytempire_dq.run import checkpoint as checkpoints
from ytempire_dq.run.checkpoint import run_checkpoint


@pytest.fixture(scope="module")
def seeded(module_env):
    seed.seed(module_env, users=5, seed=3, inject={"bad_email": 2})
    return module_env


def test_unknown_checkpoint_lists_the_known_ones(module_env):
    with pytest.raises(YtdqError, match=r"no checkpoint 'weekly'; known checkpoints: cache, critical, nightly") as exc:
        run_checkpoint("weekly")
    assert exc.value.exit_code == ExitCode.RUN_FAILED


def test_unreachable_database_names_the_masked_url(monkeypatch):
    url = "postgresql+psycopg2://ytdq:hunter2secret@127.0.0.1:1/ytempire"
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(YtdqError) as exc:
        run_checkpoint("critical")
    message = str(exc.value)
    assert "hunter2secret" not in message
    assert config.mask_url(url) in message and "ytdq:***@127.0.0.1:1" in message


def test_no_database_url_at_all(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(config, "_embedded_url", lambda service, key="url": None)
    with pytest.raises(YtdqError, match="DATABASE_URL is not set"):
        open_context()


def test_malformed_suite_file_is_named(module_env, project_copy):
    path = project_copy.parent / "expectations" / "users.json"
    path.write_text(path.read_text()[:-20])
    with pytest.raises(YtdqError, match=r"users\.json: malformed JSON at line \d+ column \d+"):
        run_checkpoint("nightly", config_dir=project_copy)


def test_suite_with_an_unknown_type_is_refused_not_silently_shortened(module_env, project_copy):
    path = project_copy.parent / "expectations" / "channels.json"
    doc = json.loads(path.read_text())
    doc["expectations"][3]["type"] = "expect_column_values_to_be_shiny"
    path.write_text(json.dumps(doc))
    with pytest.raises(YtdqError, match=r"channels\.json: 1 unknown expectation type expect_column_values_to_be_shiny"):
        run_checkpoint("nightly", config_dir=project_copy)


def test_sql_error_in_a_rule_fails_that_rule_and_says_why(seeded, project_copy):
    path = project_copy.parent / "expectations" / "users.json"
    doc = json.loads(path.read_text())
    doc["expectations"].append(
        {
            "type": "unexpected_rows_expectation",
            "description": "broken on purpose",
            "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE no_such_column = 1"},
            "meta": {"rule_id": "users.broken_sql"},
        }
    )
    path.write_text(json.dumps(doc))
    report = run_checkpoint("critical", config_dir=project_copy)  # critical does not run users
    assert report.rule("channels.user_exists").success
    report = checkpoints.run_checkpoint("nightly", config_dir=project_copy, concurrent=False)
    broken = report.rule("users.broken_sql")
    assert broken.success is False and broken.unexpected_count is None
    assert "no_such_column" in broken.error
    assert report.rule("users.email_format").unexpected_count == 2
    assert report.exit_code == ExitCode.RUN_FAILED  # a rule that could not run is a broken run, not bad data
    assert [e["rule_ids"] for e in report.errors()] == [["users.broken_sql"]]


def test_an_action_that_raises_does_not_hide_the_verdict(seeded, monkeypatch, caplog):
    from great_expectations.checkpoint.actions import UpdateDataDocsAction

    def boom(self, *a, **k):
        raise RuntimeError("docs disk full")

    monkeypatch.setattr(UpdateDataDocsAction, "run", boom)
    report = run_checkpoint("nightly")
    assert report.success is False and report.exit_code == ExitCode.DATA_FAILED
    assert report.rule("users.email_format").unexpected_count == 2
    assert report.action_errors and "docs disk full" in report.action_errors[0]
    assert "docs disk full" in caplog.text


def _run_clocks(doc: dict) -> list[str]:
    """Take out the clock a freshness rule records (each run has its own); return them, in order."""
    clocks = []
    for v in doc["validations"]:
        for r in v["results"]:
            if r["expectation_type"] == "expect_column_newest_value_to_be_recent":
                clocks.append(r["observed_value"].pop("checked_at"))
                r["observed_value"].pop("cutoff")  # hours: moves with the clock
    return clocks


def _baselines(doc: dict) -> list[int]:
    """Take out how many earlier values a volume/drift rule learned from (the first run recorded
    one more for the second); return them, in order."""
    counts = []
    for v in doc["validations"]:
        for r in v["results"]:
            if r["expectation_type"].endswith("_within_history_band"):
                r["observed_value"].pop("status")  # "not enough history yet (n of 7 days)"
                counts.append(r["observed_value"].pop("baseline_runs"))
    return counts


def test_sequential_and_concurrent_runs_agree(seeded):
    a = run_checkpoint("nightly", concurrent=False).to_dict()
    b = run_checkpoint("nightly", concurrent=True).to_dict()
    for d in (a, b):
        d.pop("run_id")
        d.pop("snapshot")  # each run its own instant (tests/test_snapshot.py)
        d.pop("as_of")  # and the time its data is as of
    assert (a.pop("jobs"), b.pop("jobs")) == (1, 8)  # 8 jobs asked, fewer definitions: as many as there are
    clocks_a, clocks_b = _run_clocks(a), _run_clocks(b)
    assert len(clocks_a) == len(clocks_b) == 2 and all(x < y for x, y in zip(clocks_a, clocks_b))
    baselines_a, baselines_b = _baselines(a), _baselines(b)
    # the three run-history bands (the seasonal ones judge from the data: equal in both runs, below):
    # every run of this module is on today, and a day counts once however many runs it had -- a's
    # baseline has today only if an earlier test of the module ran nightly, b's has it from a
    assert len(baselines_a) == 3 and set(baselines_a) <= {0, 1} and baselines_b == [1, 1, 1]
    assert a == b
