"""Every use of GX's private API (and of SQLAlchemy's and factory_boy's), in one place.

Only the ``great-expectations==1.24.1`` pin protects these names: GX may rename or drop any of
them in a minor release. Each function below names the internal it wraps and why we need it;
``tests/test_gx_compat.py`` checks the installed version and every wrapped name and signature,
so an upgrade fails in that one test instead of in the middle of a run. Callers use only the
public names here. Overrides of GX methods stay in their classes (marked ``@override``) and are
checked by the same test.

GX is imported inside the functions: importing this module stays cheap (the CLI imports GX lazily).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

# ---------------------------------------------------------------------------------------------
# checkpoints (run_checkpoint does what Checkpoint.run does, with our own validation step)


def checkpoint_result_key(checkpoint: Any, vd: Any, run_id: Any, batch_identifier: Any) -> Any:
    """``Checkpoint._build_result_key``: the ``ValidationResultIdentifier`` GX keys a checkpoint
    result's ``run_results`` by; Data Docs and actions read results under that key."""
    return checkpoint._build_result_key(validation_definition=vd, run_id=run_id, batch_identifier=batch_identifier)


def checkpoint_result(checkpoint: Any, run_id: Any, run_results: dict) -> Any:
    """``Checkpoint._construct_result``: the ``CheckpointResult`` GX hands its actions (it also
    stamps ``checkpoint_id`` into each result's meta, as ``Checkpoint.run`` does)."""
    return checkpoint._construct_result(run_id=run_id, run_results=run_results)


def checkpoint_context(checkpoint: Any) -> Any:
    """``Checkpoint._resolve_context().context``: the data context the checkpoint belongs to."""
    return checkpoint._resolve_context().context


def sorted_actions(checkpoint: Any) -> list:
    """``Checkpoint._sort_actions``: the checkpoint's actions in the order GX runs them
    (Data Docs updates first, so notifications can link to the pages)."""
    return checkpoint._sort_actions()


def bind_action(action: Any, context: Any) -> None:
    """Set ``ValidationAction._data_context`` (a pydantic private attribute), as
    ``Checkpoint._run_actions`` does before each action, so the action resolves the right context."""
    action._data_context = context


# ---------------------------------------------------------------------------------------------
# actions


def action_config_str(action: Any, value: Any) -> Any:
    """``value`` (a ``${VAR}`` config string or plain str) substituted by the action's context:
    ``ValidationAction._resolve_context().context.config_provider`` and the static
    ``ValidationAction._substitute_config_str_if_needed``, as GX's own actions resolve their URLs."""
    config_provider = action._resolve_context().context.config_provider
    return type(action)._substitute_config_str_if_needed(value, config_provider)


def current_config_provider() -> Any:
    """``context_factory.project_manager.get_config_provider()``: the ``${VAR}`` substitution of the
    GX project open in this process (an internal module's object; GX's own actions fall back on it).
    Raises when no project is open."""
    from great_expectations.data_context.data_context.context_factory import project_manager

    return project_manager.get_config_provider()


# ---------------------------------------------------------------------------------------------
# validation definitions and validators (the fast path: ytempire_dq.fast)


def wrapped_validator(validator: Any) -> Any:
    """``v1_validator.Validator._wrapped_validator``: the (old-style) validator holding the batch,
    built once and cached, whose ``compute_metrics`` and ``process_expectations_for_validation``
    the fast path uses to count SQL rules in one metric graph."""
    return validator._wrapped_validator


def reuse_metrics(validator: Any) -> dict:
    """Let every later metric graph of ``validator`` start from the metrics it already resolved:
    ``MetricsCalculator.resolve_validation_graph`` of its wrapped validator, replaced on that one
    instance by ``ValidationGraph._resolve(metrics=<all resolved so far>)`` (GX's ``resolve`` with a
    pre-filled dict: ``_parse`` skips what is in it). A metric's id holds its domain and value
    kwargs, so only the very same metric is reused (a sample query asked for with another
    ``result_format`` is a new metric). Right only while the batch cannot change underneath: the
    run reads one snapshot (:mod:`ytempire_dq.snapshot`). Returns the dict of resolved metrics (by
    id), which a caller may also fill with a metric it computed itself."""
    calculator = wrapped_validator(validator)._metrics_calculator
    known: dict = {}

    def resolve_validation_graph(graph: Any, runtime_configuration: Any = None, min_graph_edges_pbar_enable: int = 0):
        resolved = dict(known)
        aborted = graph._resolve(
            metrics=resolved,
            runtime_configuration=runtime_configuration,
            min_graph_edges_pbar_enable=min_graph_edges_pbar_enable,
            show_progress_bars=calculator._show_progress_bars,
        )
        known.update(resolved)
        return resolved, aborted

    calculator.resolve_validation_graph = resolve_validation_graph
    return known


def column_values_query(execution_engine: Any, map_metric: str, condition: tuple, table_columns: list) -> Any:
    """GX's query for a column map rule's ``unexpected_values`` (``column_map_condition_auxilliary_
    methods._sqlalchemy_column_map_condition_values``) without its LIMIT: ``SELECT <column> AS
    unexpected_values FROM <domain> WHERE <unexpected condition>``; None for a metric whose condition
    selects its own rows (GX builds those differently). ``condition``: the resolved ``<map_metric>.
    condition`` metric."""
    import sqlalchemy as sa
    from great_expectations.expectations.metrics.map_metric_provider.is_sqlalchemy_metric_selectable import (  # noqa: E501
        SQLALCHEMY_SELECTABLE_METRICS,
    )
    from great_expectations.expectations.metrics.util import get_dbms_compatible_metric_domain_kwargs

    if f"{map_metric}.condition" in SQLALCHEMY_SELECTABLE_METRICS:
        return None
    unexpected_condition, compute_kwargs, accessor_kwargs = condition
    if "column" not in accessor_kwargs:
        return None
    accessor_kwargs = get_dbms_compatible_metric_domain_kwargs(
        metric_domain_kwargs=accessor_kwargs, batch_columns_list=table_columns
    )
    selectable = execution_engine.get_domain_records(domain_kwargs=compute_kwargs)
    query = sa.select(sa.column(accessor_kwargs["column"]).label("unexpected_values")).where(unexpected_condition)
    return query.select_from(selectable.subquery() if hasattr(selectable, "subquery") else selectable)


#: Aggregate functions ``FILTER (WHERE ...)`` applies to (a metric that is any other expression
#: keeps its own statement).
AGGREGATES = frozenset({"count", "sum", "min", "max", "avg", "bool_and", "bool_or", "stddev_samp", "var_samp"})


@contextlib.contextmanager
def one_scan_per_batch(execution_engine: Any) -> Iterator[None]:
    """While active, a bundle of aggregate metrics that GX would query once per domain (the table,
    and the table under each rule's ``row_condition``) is queried once per batch: a domain's
    aggregates become ``agg(...) FILTER (WHERE <row condition>)`` beside the unconditioned ones.

    GX's ``SqlAlchemyExecutionEngine._organize_metrics_by_domain`` groups a bundle by domain; each
    group is one statement over ``get_domain_records(domain)``, which for a row condition is
    ``SELECT * FROM (<batch>) WHERE <condition>``. Replaced on this one engine instance, the groups
    of one batch that differ only by a row condition are folded into the group without it (created
    when missing). A group is folded only when its records are exactly that (one FROM, a WHERE
    whose columns are unqualified) and each of its metrics is an aggregate function (``FILTER``
    applies); anything else stays its own statement, as GX has it. Counts over no rows are the same
    (``count(*) FILTER`` 0, ``sum(...) FILTER`` NULL, as over an empty subquery)."""
    import sqlalchemy as sa
    from great_expectations.core.id_dict import IDDict

    original = execution_engine._organize_metrics_by_domain

    def foldable(records: Any) -> Any:
        """The row condition of a domain's records, or None when they are not a filtered batch."""
        if not isinstance(records, sa.Select) or records.whereclause is None or len(records.get_final_froms()) != 1:
            return None
        condition = records.whereclause
        columns = [c for c in sa.sql.visitors.iterate(condition) if isinstance(c, sa.ColumnClause)]
        if not columns or any(c.table is not None for c in columns):
            return None
        return condition

    def organize(metric_fn_bundle: Any, limit: Any = None) -> list[dict]:
        queries = original(metric_fn_bundle, limit=limit)
        if limit:  # a parameter limit per statement (Databricks): GX's grouping as is
            return queries
        base: dict[str, dict] = {}
        folded: list[tuple[dict, Any, dict]] = []
        kept: list[dict] = []
        for query in queries:
            kwargs = dict(query["domain_kwargs"])
            if kwargs.get("row_condition") is None:
                base[IDDict(kwargs).to_id()] = query
                kept.append(query)
                continue
            plain = {**kwargs, "row_condition": None, "condition_parser": None}
            condition = foldable(execution_engine.get_domain_records(domain_kwargs=query["domain_kwargs"]))
            aggregates = [getattr(sel, "element", None) for sel in query["select"]]
            if condition is None or not all(str(getattr(a, "name", "")).lower() in AGGREGATES for a in aggregates):
                kept.append(query)
                continue
            folded.append((query, condition, plain))
        for query, condition, plain in folded:
            key = IDDict(plain).to_id()
            if key not in base:
                base[key] = {"domain_kwargs": IDDict(plain), "select": [], "metric_ids": []}
                kept.append(base[key])
            target = base[key]
            for sel, metric_id in zip(query["select"], query["metric_ids"]):
                target["select"].append(sel.element.filter(condition).label(sel.name))
                target["metric_ids"].append(metric_id)
        return kept

    execution_engine._organize_metrics_by_domain = organize
    try:
        yield
    finally:
        del execution_engine._organize_metrics_by_domain


_KWARGS_LOCK = threading.Lock()
_KWARGS_USERS = [0]
_GX_KWARGS: dict = {}  # GX's own three methods, restored when the last user leaves


@contextlib.contextmanager
def configuration_built_once_per_call() -> Iterator[None]:
    """While active, GX's ``Expectation._get_domain_kwargs``, ``_get_success_kwargs`` and
    ``_get_success_kwarg`` build the expectation's ``configuration`` once per call instead of once
    per key they read (GX 1.24 rebuilds it, a pydantic ``dict()`` and a new
    ``ExpectationConfiguration``, inside their loops: a quarter of the fast path's Python time at
    1M rows). Same values: the configuration is a function of the expectation's fields, which do
    not change during a call. Nested and concurrent uses share one patch (counted)."""
    from great_expectations.expectations.expectation import Expectation

    with _KWARGS_LOCK:
        if not _GX_KWARGS:
            _GX_KWARGS.update(_gx_kwargs_methods())
        if _KWARGS_USERS[0] == 0:
            Expectation._get_domain_kwargs = _domain_kwargs
            Expectation._get_success_kwargs = _success_kwargs
            Expectation._get_success_kwarg = _success_kwarg
        _KWARGS_USERS[0] += 1
    try:
        yield
    finally:
        with _KWARGS_LOCK:
            _KWARGS_USERS[0] -= 1
            if _KWARGS_USERS[0] == 0:
                for name in ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg"):
                    setattr(Expectation, name, _GX_KWARGS[name])


def _domain_kwargs(self: Any) -> dict:
    """``Expectation._get_domain_kwargs`` with one ``configuration`` build."""
    from great_expectations.exceptions import InvalidExpectationKwargsError

    kwargs = self.configuration.kwargs
    domain_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}
    missing_kwargs = set(self.domain_keys) - set(domain_kwargs.keys())
    if missing_kwargs:
        raise InvalidExpectationKwargsError(f"Missing domain kwargs: {list(missing_kwargs)}")
    return domain_kwargs


def _success_kwargs(self: Any) -> dict:
    """``Expectation._get_success_kwargs`` with one ``configuration`` build (and one for the domain)."""
    domain_kwargs = self._get_domain_kwargs()
    kwargs = self.configuration.kwargs
    success_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
    success_kwargs.update(domain_kwargs)
    return success_kwargs


def _success_kwarg(self: Any, key: str, default: Any = None) -> Any:
    """``Expectation._get_success_kwarg`` with one ``configuration`` build."""
    kwargs = self.configuration.kwargs
    if key in kwargs:
        return kwargs[key]
    field = self.__fields__.get(key)  # GX's own fallback: the field's default
    if field is not None:
        return field.default if not field.required else default
    logging.getLogger("great_expectations.expectations.expectation").warning(
        f'_get_success_kwarg called with key "{key}", but it is not a known field of {type(self).__name__}'
    )
    return default


def _gx_kwargs_methods() -> dict:
    from great_expectations.expectations.expectation import Expectation

    return {n: Expectation.__dict__[n] for n in ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg")}


def save_definition(vd: Any) -> None:
    """``ValidationDefinition._add_to_store``: saves a definition not in the store yet, as
    ``ValidationDefinition.run`` does before it validates."""
    vd._add_to_store()


def store_validation_result(vd: Any, validator: Any, run_id: Any, result: Any) -> None:
    """Store ``result`` where ``ValidationDefinition.run`` stores its result: the ids from
    ``ValidationDefinition._get_expectation_suite_and_validation_result_ids`` in the store from
    ``ValidationDefinition._validation_results_store`` (a property)."""
    suite_id, result_id = vd._get_expectation_suite_and_validation_result_ids(validator=validator, run_id=run_id)
    vd._validation_results_store.store_validation_results(
        suite_validation_result=result,
        suite_validation_result_identifier=result_id,
        expectation_suite_identifier=suite_id,
    )


# ---------------------------------------------------------------------------------------------
# the SQL GX runs (history's quarantine and suite lint reproduce it)


def substituted_batch_query(query: str, batch_selectable: Any, execution_engine: Any) -> str:
    """``UnexpectedRowsQueryTable._get_substituted_batch_subquery_from_query_and_batch_selectable``
    (a classmethod of ``QueryMetricProvider``): an ``unexpected_rows_query`` with ``{batch}``
    substituted exactly as GX's ``unexpected_rows_query.table`` metric runs it."""
    from great_expectations.expectations.metrics.query_metrics.query_table.unexpected_rows_query_table import (  # noqa: E501
        UnexpectedRowsQueryTable,
    )

    return UnexpectedRowsQueryTable._get_substituted_batch_subquery_from_query_and_batch_selectable(
        query=query, batch_selectable=batch_selectable, execution_engine=execution_engine
    )


def query_has_join(query: str) -> bool:
    """``query_metric_provider._query_has_join_clause``: whether GX leaves the ``{batch}`` alias to
    the author (a query with a JOIN) instead of adding ``AS subselect``."""
    from great_expectations.expectations.metrics.query_metric_provider import (
        _query_has_join_clause,
    )

    return bool(_query_has_join_clause(query))


def duplicate_rows_source(execution_engine: Any, domain_kwargs: dict, column: str, table_columns: list) -> Any:
    """``column_values_unique._build_duplicate_rows_source``: the FROM clause (and WHERE) by which
    GX 1.24 finds the rows sharing a duplicated value (a join-back to a GROUP BY/HAVING), so the
    quarantine keys exactly the rows GX reported."""
    from great_expectations.expectations.metrics.column_map_metrics.column_values_unique import (
        _build_duplicate_rows_source,
    )

    return _build_duplicate_rows_source(
        execution_engine=execution_engine,
        metric_domain_kwargs=domain_kwargs,
        column_name=column,
        table_columns=table_columns,
    )


# ---------------------------------------------------------------------------------------------
# expectations (helpers GX's Expectation gives its subclasses, underscored)


def result_format_of(expectation: Any, runtime_configuration: dict | None) -> Any:
    """``Expectation._get_result_format``: the result format a rule's ``_validate`` must honour."""
    return expectation._get_result_format(runtime_configuration=runtime_configuration)


def domain_kwargs_of(expectation: Any) -> Any:
    """``Expectation._get_domain_kwargs``: the domain (batch, column) a rule reads its frame from."""
    return expectation._get_domain_kwargs()


# ---------------------------------------------------------------------------------------------
# stores and Data Docs


def result_schema_of(store: Any) -> Any:
    """``ValidationResultsStore._expectationSuiteValidationResultSchema``: the marshmallow schema
    GX serialises a suite result with (so a bounded result is stored in GX's own format)."""
    return store._expectationSuiteValidationResultSchema


def resolved_asset_name(validation_result: Any) -> Any:
    """``site_builder._resolve_asset_name``: the data asset GX's index shows for a stored result
    (fluent data sources keep it in the active batch definition, not in batch kwargs/spec)."""
    from great_expectations.render.renderer.site_builder import _resolve_asset_name

    return _resolve_asset_name(validation_results=validation_result)


def action_data_context(action: Any) -> Any:
    """``ValidationAction._resolve_context().context``: the data context a running action belongs to."""
    return action._resolve_context().context


def trusted_html_params() -> frozenset:
    """``DefaultJinjaView._TRUSTED_HTML_PARAMS``: the string-template parameters GX's view emits
    raw (renderer-made HTML); Data Docs never gives those back an unescaped original."""
    from great_expectations.render.view.view import DefaultJinjaView

    return DefaultJinjaView._TRUSTED_HTML_PARAMS


# ---------------------------------------------------------------------------------------------
# SQLAlchemy


def postgresql_literal_dialect() -> Any:
    """A PostgreSQL dialect that renders literals for ``standard_conforming_strings=on`` (the
    default since 9.1: a backslash in a string literal is an ordinary character), by clearing the
    private ``PGDialect._backslash_escapes`` (SQLAlchemy sets it only when it connects)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    dialect._backslash_escapes = False
    return dialect


# ---------------------------------------------------------------------------------------------
# factory_boy (the seed data's fakes)


def shared_faker() -> Any:
    """``factory.Faker._get_faker()``: the Faker instance behind every ``factory.Faker``
    declaration, the one ``factory.random.reseed_random`` seeds; values drawn from it directly
    (usernames, titles) stay reproducible with the same seed as the declarations'."""
    import factory

    return factory.Faker._get_faker()
