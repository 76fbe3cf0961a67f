"""Validation definitions side by side (``--jobs N``, ``YTDQ_JOBS``; ``ytempire_dq.run.jobs``): the
committed ``nightly`` run as a SELECT-only role whose ``CONNECTION LIMIT`` is exactly the stated
budget gives the same results with two jobs as with one; a limit one short runs one job, with one
warning, and no rule fails for want of a connection."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from tests.helpers import copy_project
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import YtdqError
from ytempire_dq.fixtures import seed
from ytempire_dq.run import jobs
from ytempire_dq.run.checkpoint import run_checkpoint


def outcome(report) -> dict:
    return {r.rule_id: (r.success, r.unexpected_count, r.error) for r in report.rules()}


def limit_connections(owner_url: str, role: str, limit: int) -> None:
    conn = connect(owner_url, autocommit=True)
    try:
        conn.cursor().execute(f'ALTER ROLE "{role}" CONNECTION LIMIT {int(limit)}')
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded(module_env):
    seed.seed(module_env, users=8, seed=3)
    return module_env


def test_two_jobs_within_the_budget_give_the_results_of_one(seeded, tmp_path, select_only_role, monkeypatch):
    gx = copy_project(tmp_path)
    role = f"ytdq_jobs_{uuid.uuid4().hex[:8]}"
    checks = select_only_role(seeded, role)
    monkeypatch.setenv("YTDQ_STORE_URL", seeded)  # the role cannot write; the store is the owner's
    limit_connections(seeded, role, jobs.budget(2))

    one = run_checkpoint("nightly", config_dir=gx, database_url=checks, jobs=1)
    two = run_checkpoint("nightly", config_dir=gx, database_url=checks, jobs=2)
    assert one.jobs == 1 and two.jobs == 2
    assert not [w for w in two.warnings if "at a time" in w]
    assert outcome(two) == outcome(one) and not [r for r in two.rules() if r.error]
    assert [v.suite for v in two.validations] == [v.suite for v in one.validations]  # the declared order

    # one connection short of two jobs' budget: one job, said once, nothing lost
    limit_connections(seeded, role, jobs.budget(2) - 1)
    squeezed = run_checkpoint("nightly", config_dir=gx, database_url=checks, jobs=2)
    assert squeezed.jobs == 1
    (warning,) = [w for w in squeezed.warnings if "at a time" in w]
    assert "1 validation definition at a time, not 2" in warning
    assert f"CONNECTION LIMIT {jobs.budget(2) - 1} of its role" in warning and "6 (2 + 2 a job)" in warning
    assert outcome(squeezed) == outcome(one)


def test_the_longest_definitions_start_first(seeded):
    class Definition:
        def __init__(self, name, tables):
            self.name, self.tables = name, tables

    vds = [Definition("users", ["users"]), Definition("analytics", ["analytics"]), Definition("none", [])]
    conn = connect(seeded, autocommit=True)
    try:
        conn.cursor().execute("ANALYZE users, analytics")
        order = jobs.longest_first(vds, lambda vd: vd.tables, conn)
    finally:
        conn.close()
    assert [vd.name for vd in order] == ["analytics", "users", "none"]


@pytest.mark.parametrize("raw", ["0", "two", "17"])
def test_a_bad_jobs_value_is_a_usage_error(monkeypatch, raw):
    monkeypatch.setenv("YTDQ_JOBS", raw)
    with pytest.raises(YtdqError, match="YTDQ_JOBS"):
        jobs.requested(None)


def test_the_cli_refuses_a_bad_jobs_option():
    result = CliRunner().invoke(main, ["checkpoint", "run", "nightly", "--jobs", "0"])
    assert result.exit_code == 2 and "--jobs" in result.output
