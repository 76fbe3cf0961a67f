"""GX's legacy ``Validator`` steps the fast path (:mod:`ytempire_dq.run.validation`,
:mod:`ytempire_dq.run.key_capture`) and the quarantine (:mod:`ytempire_dq.store.quarantine`) take
themselves, written once, and the suite result they assemble as ``ValidationDefinition.run`` does.

What GX does before it validates one rule (``Validator.graph_validate`` and
``_generate_metric_dependency_subgraphs_for_each_expectation_configuration`` in 1.24.1): suite
parameters substituted (``process_expectations_for_validation``), ``batch_id`` set when the
validator has an active batch, the configuration back to an ``Expectation`` (``to_domain_obj``),
its ``get_validation_dependencies``. :func:`prepared_rule` does exactly that, so a metric the fast
path resolves itself has the id GX's own graph gives it (and reuses what GX resolved).

Part of the GX boundary (:mod:`ytempire_dq.gx`): these are GX internals, checked by
``tests/test_gx_compat.py``. GX is imported inside the functions (importing this module is cheap).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from ytempire_dq.gx.compat import wrapped_validator


def new_validator(batch_definition: Any, result_format: Any, batch_parameters: dict | None = None) -> Any:
    """A ``great_expectations.validator.v1_validator.Validator`` on ``batch_definition``'s batch
    (what ``ValidationDefinition.run`` builds; ``batch_parameters``: a dataframe asset's batch)."""
    from great_expectations.validator.v1_validator import Validator

    return Validator(batch_definition=batch_definition, result_format=result_format, batch_parameters=batch_parameters)


def legacy(validator: Any) -> Any:
    """The old-style validator behind a v1 ``Validator`` (:func:`ytempire_dq.gx.compat.wrapped_validator`);
    a legacy validator (``ctx.get_validator``) is returned as is."""
    return validator if hasattr(validator, "process_expectations_for_validation") else wrapped_validator(validator)


def prepare_errors() -> tuple[type[BaseException], ...]:
    """What :func:`prepared_rule` raises for a rule GX cannot prepare this way (a bad configuration,
    an unresolved suite parameter, a missing metric dependency, a metric that cannot be resolved):
    GX then validates the rule itself and reports any error its own way."""
    from great_expectations.compatibility import pydantic
    from great_expectations.exceptions import GreatExpectationsError

    return (GreatExpectationsError, pydantic.ValidationError, KeyError)


def prepared_rule(validator: Any, expectation: Any, runtime_configuration: dict, metrics: tuple[str, ...] = ()):
    """``(rule, [metric configuration, ...])``: ``expectation`` as GX validates it on ``validator``'s
    batch (the module docstring's steps, on a copy of its configuration) and the configurations of
    its validation dependencies named ``metrics`` (``KeyError`` when one is not among them)."""
    gx_validator = legacy(validator)
    (configuration,) = gx_validator.process_expectations_for_validation([copy.deepcopy(expectation.configuration)])
    if gx_validator.active_batch_id:
        configuration.kwargs["batch_id"] = gx_validator.active_batch_id
    rule = configuration.to_domain_obj()
    dependencies = rule.get_validation_dependencies(
        execution_engine=gx_validator.execution_engine, runtime_configuration=dict(runtime_configuration)
    )
    found = [dependencies.get_metric_configuration(name) for name in metrics]
    missing = [name for name, metric in zip(metrics, found) if metric is None]
    if missing:
        raise KeyError(f"{expectation.expectation_type}: no validation dependency {', '.join(missing)}")
    return rule, found


def resolved_metric(validator: Any, name: str, domain_kwargs: dict, value_kwargs: dict | None = None) -> Any:
    """The value of metric ``name`` on ``validator``'s batch (``Validator.get_metric``; one already
    resolved under the same id is reused, see :func:`ytempire_dq.gx.fast_hooks.reuse_metrics`)."""
    from great_expectations.validator.metric_configuration import MetricConfiguration

    gx_validator = legacy(validator)
    return gx_validator.get_metric(MetricConfiguration(name, domain_kwargs, value_kwargs or {}))


def table_columns(validator: Any) -> list:
    """The batch's columns (GX's ``table.columns`` metric)."""
    return resolved_metric(validator, "table.columns", {"batch_id": legacy(validator).active_batch_id})


def selects_own_rows(map_metric: str) -> bool:
    """Whether GX's ``<map_metric>.condition`` selects its own rows (a metric in
    ``SQLALCHEMY_SELECTABLE_METRICS``, by its condition metric name, as GX's
    ``_is_sqlalchemy_metric_selectable`` tests it) rather than being a condition on the domain's records."""
    from great_expectations.expectations.metrics.map_metric_provider.is_sqlalchemy_metric_selectable import (
        SQLALCHEMY_SELECTABLE_METRICS,
    )

    return map_metric in SQLALCHEMY_SELECTABLE_METRICS


def sqlalchemy_selectable(records: Any) -> Any:
    """``great_expectations.util.get_sqlalchemy_selectable``: a domain's records as a FROM clause."""
    from great_expectations.util import get_sqlalchemy_selectable

    return get_sqlalchemy_selectable(records)


def as_stored(value: Any) -> Any:
    """``value`` with every ``Decimal`` in it (a numeric column's samples) as the float GX stores:
    GX's serializer converts each one through ``convert_decimal_to_float``, which calls
    ``inspect.stack()`` (it reads the source of every frame) to ask whether its rule-based profiler
    is the caller; tens of ms per value, and a stored result is serialized more than once. The
    fast path's results hold the floats already; the run's report reads GX alone's the same way."""
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    if type(value) is dict:
        return {k: as_stored(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(as_stored(v) for v in value)
    return value


def new_run_id() -> Any:
    """A ``RunIdentifier`` stamped now (UTC), as ``ValidationDefinition.run`` makes one."""
    from great_expectations.core import RunIdentifier

    return RunIdentifier(run_time=dt.datetime.now(dt.timezone.utc))


def suite_result(
    first: Any, ordered: list, *, suite_name: str, vd_id: Any, checkpoint_id: Any, run_id: Any, extra_meta: dict
) -> Any:
    """The ``ExpectationSuiteValidationResult`` of ``ordered`` (rule results in suite order) as
    ``ValidationDefinition.run`` gives it: GX's statistics, ``first``'s batch id and meta (a result
    of the same validator), and the meta keys ``ValidationDefinition.run`` adds (``validation_id``,
    ``checkpoint_id``, ``run_id``, ``validation_time``, ``batch_parameters``), then ``extra_meta``.
    Each rule's ``result`` holds floats where it held ``Decimal``s (:func:`as_stored`)."""
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    for evr in ordered:
        evr.result = as_stored(evr.result)
    stats = calc_validation_statistics(ordered)
    result = type(first)(
        results=ordered,
        success=stats.success,
        suite_name=suite_name,
        batch_id=first.batch_id,
        statistics={
            "evaluated_expectations": stats.evaluated_expectations,
            "successful_expectations": stats.successful_expectations,
            "unsuccessful_expectations": stats.unsuccessful_expectations,
            "success_percent": stats.success_percent,
        },
        meta=dict(first.meta),
    )
    result.meta.update(
        {
            "validation_id": vd_id,
            "checkpoint_id": checkpoint_id,
            "run_id": run_id,
            "validation_time": run_id.run_time,
            "batch_parameters": None,
            **extra_meta,
        }
    )
    return result
