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
# validation definitions and validators (the fast path: ytempire_dq.run.validation)


def wrapped_validator(validator: Any) -> Any:
    """``v1_validator.Validator._wrapped_validator``: the (old-style) validator holding the batch,
    built once and cached, whose ``compute_metrics`` and ``process_expectations_for_validation``
    the fast path uses to count SQL rules in one metric graph."""
    return validator._wrapped_validator


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


def errored_result(configuration: Any, exc: BaseException) -> Any:
    """GX's result of a rule that could not be evaluated: ``exc`` (passwords masked) as its exception."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    from ytempire_dq.config import mask_secrets

    message = mask_secrets(str(exc).strip() or type(exc).__name__)
    info = {"raised_exception": True, "exception_message": message, "exception_traceback": None}
    return ExpectationValidationResult(success=False, expectation_config=configuration, exception_info=info)


# ---------------------------------------------------------------------------------------------
# the expectation registry (``great_expectations.expectations.registry``: no public API; the
# registry fills as classes are defined, ``MetaExpectation``)


def expectation_class(expectation_type: str) -> Any:
    """``registry.get_expectation_impl``: the class registered for ``expectation_type`` (GX raises
    ``ExpectationNotFoundError`` for a type it does not know)."""
    from great_expectations.expectations.registry import get_expectation_impl

    return get_expectation_impl(expectation_type)


def registered_expectation_types() -> list[str]:
    """``registry.list_registered_expectation_implementations``: every expectation type registered now."""
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return list(list_registered_expectation_implementations())


def registered_renderer(expectation_type: str, renderer_type: Any) -> Any:
    """``registry.get_renderer_impl``: ``(class, renderer function)`` registered for an expectation
    type and renderer type, or None."""
    from great_expectations.expectations.registry import get_renderer_impl

    return get_renderer_impl(object_name=expectation_type, renderer_type=renderer_type)


# ---------------------------------------------------------------------------------------------
# the SQL GX runs (history's quarantine and suite lint reproduce it)


def substituted_batch_query(query: str, batch_selectable: Any, execution_engine: Any) -> str:
    """``UnexpectedRowsQueryTable._get_substituted_batch_subquery_from_query_and_batch_selectable``
    (a classmethod of ``QueryMetricProvider``): an ``unexpected_rows_query`` with ``{batch}``
    substituted exactly as GX's ``unexpected_rows_query.table`` metric runs it."""
    from great_expectations.expectations.metrics.query_metrics.query_table.unexpected_rows_query_table import (
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


def num_to_str(value: Any, **kwargs: Any) -> str:
    """``render.util.num_to_str``: a number as GX's renderers write it (``use_locale``, ``precision``)."""
    from great_expectations.render.util import num_to_str as gx_num_to_str

    return gx_num_to_str(value, **kwargs)


def passes_run_name_filter(resource_key: Any, run_name_filter: dict) -> bool:
    """``render.util.resource_key_passes_run_name_filter``: whether a site section's
    ``run_name_filter`` keeps a validation result's key (GX's site builder's own test)."""
    from great_expectations.render.util import resource_key_passes_run_name_filter

    return bool(resource_key_passes_run_name_filter(resource_key, run_name_filter))


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
