"""Every defect kind is caught by exactly its one rule, with the exact count (one nightly run)."""

from __future__ import annotations

import pytest

from tests.helpers import KIND_TO_RULE
from tests.recipes import shipped
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.run.checkpoint import run_checkpoint

#: Distinct counts (1..29) so a rule that caught another kind's rows could not pass by accident.
INJECT = {kind: i + 1 for i, kind in enumerate(DEFECT_KINDS)}


@pytest.fixture(scope="module")
def report(module_env):
    seed.seed(module_env, users=200, seed=42, inject=INJECT)
    return run_checkpoint("nightly")


def test_the_mapping_covers_every_kind_with_distinct_rules():
    assert set(KIND_TO_RULE) == set(DEFECT_KINDS)
    assert len(set(KIND_TO_RULE.values())) == len(KIND_TO_RULE)


@pytest.mark.parametrize("kind", sorted(DEFECT_KINDS))
def test_the_rule_of_each_kind_fails_with_the_injected_count(report, kind):
    rule = report.rule(KIND_TO_RULE[kind])
    expected = INJECT[kind] * DEFECT_KINDS[kind].rows_per_defect
    assert not rule.success
    assert rule.error is None
    assert rule.unexpected_count == expected


def test_no_other_rule_fails(report):
    """No false alarm in the shipped rule book (an analyst's own rules may catch a defect too)."""
    failing = {
        r.rule_id for v in report.validations for r in v.results if not r.success and shipped(v.suite, r.rule_id)
    }
    assert failing == set(KIND_TO_RULE.values())
    assert report.exit_code == ExitCode.DATA_FAILED and not report.success


def test_failed_rules_rows_for_the_terminal(report):
    rows = {r["rule_id"]: r for r in report.failed_rules()}
    email = rows["users.email_format"]
    assert email["table"] == "users" and email["bad_rows"] == INJECT["bad_email"]
    assert 0 < len(email["sample"]) <= 5 and all(isinstance(v, str) for v in email["sample"])
    assert rows["channels.user_exists"]["table"] == "channels"
    assert rows["analytics.date_not_in_future"]["bad_rows"] == INJECT["future_analytics_date"]


def test_no_committed_rule_falls_back_from_the_fast_path_on_broken_data(report):
    """The canary on every defect kind (failed rules take the fast path's sample and key steps too)."""
    fast = report.fast_path()
    assert fast["fell_back"] == [] and fast["rules"] > 0
