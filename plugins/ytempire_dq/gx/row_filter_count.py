"""The GX table metric that counts a SQL rule's rows in its table's statement
(:mod:`ytempire_dq.run.row_filters` says which rules): ``count(*) FILTER (WHERE <condition>)``, an
aggregate partial as GX's own ``table.row_count`` is one, so GX bundles it with the table's other
counts. Registered with GX when this module is imported (:func:`metric` imports it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.metric_function_types import MetricPartialFunctionTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics.metric_provider import metric_partial
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from great_expectations.validator.metric_configuration import MetricConfiguration

METRIC = "ytdq.row_filter.count"


class RowFilterCount(TableMetricProvider):
    """The rows of the batch that ``condition`` (a SQL condition ``row_filters.row_filter``
    extracted from a rule) selects."""

    metric_name = METRIC
    value_keys = ("condition",)

    @metric_partial(
        engine=SqlAlchemyExecutionEngine,
        partial_fn_type=MetricPartialFunctionTypes.AGGREGATE_FN,
        domain_type=MetricDomainTypes.TABLE,
    )
    def _sqlalchemy(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        return sa.func.count().filter(sa.literal_column(metric_value_kwargs["condition"])), metric_domain_kwargs, {}


def metric(domain_kwargs: dict, condition: str) -> Any:
    """The :class:`RowFilterCount` metric of ``condition`` on the table domain ``domain_kwargs`` (the
    rule's own count's), with every table domain key, as GX's map metrics compute theirs: GX
    bundles the aggregates of one domain, by its kwargs, in one statement."""
    domain = {key: domain_kwargs.get(key) for key in RowFilterCount.domain_keys}
    return MetricConfiguration(METRIC, domain, {"condition": condition})
