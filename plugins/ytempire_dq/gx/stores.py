"""GX stores with the two guarantees every run relies on, configured in ``gx/great_expectations.yml``.

- :class:`RuleExpectationsStore`: every expectation loaded from a suite file has an ``id``. GX
  gives one only when it *saves* a suite; a rule an analyst appends by hand has none, and every
  such rule then shares the key ``None`` (the fast path, history and Data Docs join results to
  rules by id). A rule without ``id`` gets a deterministic one on load (a UUID5 of the suite
  name, its position and its content), the same in every process and on every load, so GX's
  freshness checks (which reload the suite) see the same suite. ``ytdq suite lint --fix`` writes
  ids into the file.
- :class:`BoundedValidationResultsStore`: the validation-results store; each value a rule's
  result holds is stored as at most its first ``results.VALUE_CHARS`` characters (see there), and
  personal data is masked (:mod:`ytempire_dq.pii`) in the result itself as it is handed over,
  before any output (store, Data Docs, actions, report) sees it; a run's result is stamped with
  the name of the source it checked (``meta.ytdq_source``), which the Data Docs index shows.
"""

from __future__ import annotations

from typing import Any

from great_expectations.data_context.store.expectations_store import ExpectationsStore
from great_expectations.data_context.store.validation_results_store import ValidationResultsStore
from typing_extensions import override

from ytempire_dq import pii
from ytempire_dq.gx import compat
from ytempire_dq.rules.suite_files import missing_id
from ytempire_dq.run.report import ERROR_CHARS, bounded
from ytempire_dq.store.run_store import running_source

#: The key of a validation result's meta naming the source its run checked (``config.source_name``).
SOURCE_META = "ytdq_source"


def with_ids(suite: dict) -> dict:
    """``suite`` (a suite dict as GX's store reads it: expectations are dicts or GX's
    ``ExpectationConfiguration``) with an id on every expectation (in place, returned)."""
    for position, expectation in enumerate(suite.get("expectations") or []):
        if isinstance(expectation, dict):
            if not expectation.get("id"):
                expectation["id"] = missing_id(str(suite.get("name")), position, expectation)
        elif getattr(expectation, "id", "") is None and hasattr(expectation, "to_json_dict"):
            expectation.id = missing_id(str(suite.get("name")), position, expectation.to_json_dict())
    return suite


class RuleExpectationsStore(ExpectationsStore):
    """GX's expectations store; every expectation it loads has an id (see the module docstring)."""

    @override
    def deserialize(self, value: Any) -> Any:  # every load (get, get_all) goes through here
        suite = super().deserialize(value)
        return with_ids(suite) if isinstance(suite, dict) else suite


class BoundedValidationResultsStore(ValidationResultsStore):
    """GX's validation-results store; what it stores of each rule's result is bounded (see
    :func:`bounded_result`), so Data Docs, built from this store, are bounded too; PII is masked."""

    @override
    def store_validation_results(self, suite_validation_result: Any, *args: Any, **kwargs: Any) -> Any:
        """Mask personal data in the result IN PLACE, then store it. Every validation result passes
        here (``ValidationDefinition.run``, ``fast.run_definition``) before the checkpoint run gets
        it back: the earliest point after validation, so no output can forget to mask."""
        pii.mask_suite_result(suite_validation_result)
        source = running_source()  # the database the run checked, for Data Docs
        if source is not None and getattr(suite_validation_result, "meta", None) is not None:
            suite_validation_result.meta.setdefault(SOURCE_META, source)
        return super().store_validation_results(suite_validation_result, *args, **kwargs)

    @override
    def serialize(self, value: Any) -> Any:
        if not hasattr(value, "to_json_dict"):
            return super().serialize(value)
        bounded_dict = pii.mask_suite_result(bounded_result(value.to_json_dict()))  # masking twice is a no-op
        if self.cloud_mode:
            return bounded_dict
        return compat.result_schema_of(self).dumps(bounded_dict, indent=2, sort_keys=True)


def bounded_result(suite_result: dict) -> dict:
    """A suite validation result (JSON dict) whose rules' ``result`` and ``exception_info`` hold
    at most ``results.VALUE_CHARS`` characters per value (``ERROR_CHARS`` per error text) and
    ``LIST_ITEMS`` items per list: a 1 MB value sampled by a failed rule is stored as its prefix."""
    for rule in suite_result.get("results") or []:
        if isinstance(rule, dict):
            if rule.get("result"):
                rule["result"] = bounded(rule["result"])
            if rule.get("exception_info"):
                rule["exception_info"] = bounded(rule["exception_info"], ERROR_CHARS)
    return suite_result
