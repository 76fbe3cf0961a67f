"""Whether a rule raised has one answer (``ytempire_dq.gx.results``), for both shapes GX 1.24 gives
``exception_info``, and every reader uses it: the run report, Data Docs' status mark and failed-rules
box, the fast path's second pass. A rule cannot show "N bad rows" in one place and "! error" in another."""

from __future__ import annotations

import pytest
from great_expectations.core import ExpectationValidationResult
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from ytempire_dq.docs.history_page import failed_rules_box
from ytempire_dq.docs.verdict import verdict
from ytempire_dq.gx.results import raised, raised_info
from ytempire_dq.run.report import exception_message, read_expectation_result
from ytempire_dq.run.validation import _wants_samples

FLAT = {"raised_exception": True, "exception_message": "column views does not exist", "exception_traceback": "tb"}
BY_METRIC = {  # an unexpected_rows_expectation whose SQL fails: keyed by metric id
    "('unexpected_rows_query.table', 'batch_id=x', ())": {"raised_exception": False},
    "('unexpected_rows_query.row_count', 'batch_id=x', ())": {
        "raised_exception": True,
        "exception_message": 'relation "nope" does not exist',
        "exception_traceback": "tb",
    },
}
NOT_RAISED = [None, {}, {"raised_exception": False, "exception_message": None, "exception_traceback": None}]


def _result(exception_info, *, success=False, unexpected_count=3) -> ExpectationValidationResult:
    config = ExpectationConfiguration(
        type="expect_column_values_to_not_be_null", kwargs={"column": "views"}, meta={"rule_id": "videos.views_set"}
    )
    return ExpectationValidationResult(
        success=success,
        expectation_config=config,
        result={"unexpected_count": unexpected_count, "partial_unexpected_list": []},
        exception_info=exception_info,
    )


@pytest.mark.parametrize(("info", "message"), [(FLAT, FLAT["exception_message"]), (BY_METRIC, 'relation "nope"')])
def test_both_shapes_raise_and_every_reader_agrees(info, message):
    evr = _result(info)
    assert raised_info(info)["raised_exception"] is True
    assert raised(evr) and raised(evr.to_json_dict())  # the object and its stored JSON alike
    assert message in exception_message(info)
    assert read_expectation_result(evr).error is not None
    assert verdict(evr) == "error"
    assert "could not run" in failed_rules_box(_Suite([evr]), "nightly", 0)
    assert "3 bad rows" not in failed_rules_box(_Suite([evr]), "nightly", 0)
    assert not _wants_samples(evr, {"result_format": "SUMMARY", "partial_unexpected_count": 20})


@pytest.mark.parametrize("info", NOT_RAISED, ids=["none", "empty", "flat-false"])
def test_a_rule_that_did_not_raise_is_read_alike_everywhere(info):
    evr = _result(info)
    assert raised_info(info) is None and not raised(evr)
    assert exception_message(info) is None and read_expectation_result(evr).error is None
    assert verdict(evr) == "failed"
    assert "3 bad rows" in failed_rules_box(_Suite([evr]), "nightly", 0)
    assert _wants_samples(evr, {"result_format": "SUMMARY", "partial_unexpected_count": 20})


class _Suite:
    def __init__(self, results):
        self.results = results


def test_of_two_metrics_that_raised_the_same_one_is_read_whatever_order_gx_met_them():
    """A SQL rule that does not parse fails both its metrics; GX lists them in the order it met
    them, which varies between runs (and between the fast path and GX alone)."""
    table, count = "('unexpected_rows_query.table', 'b', ())", "('unexpected_rows_query.row_count', 'b', ())"
    infos = {
        key: {"raised_exception": True, "exception_message": f"syntax error ({key[2:30]})", "exception_traceback": "tb"}
        for key in (table, count)
    }
    one_way, other_way = dict(infos), {key: infos[key] for key in (count, table)}
    assert list(one_way) != list(other_way)
    assert raised_info(one_way) == raised_info(other_way) == infos[count]
    assert exception_message(one_way) == exception_message(other_way)
