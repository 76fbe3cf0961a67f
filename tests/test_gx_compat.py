"""GX's private API we rely on (``ytempire_dq.gx.compat``) and the GX methods we override: an
upgrade that renames or reshapes one fails here, in one test, instead of in the middle of a run."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import sys
import tomllib
from pathlib import Path

import pytest

from ytempire_dq.gx import compat, fast_hooks

ROOT = Path(__file__).resolve().parents[1]
GX = "great_expectations"


def _attr(dotted: str) -> object:
    """``module.path:Class.attr`` -> the object (raw, from ``__dict__`` when it is a class member)."""
    module_name, _, path = dotted.partition(":")
    obj: object = importlib.import_module(module_name)
    parts = path.split(".")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    last = parts[-1]
    if isinstance(obj, type):
        for klass in obj.__mro__:
            if last in klass.__dict__:
                return klass.__dict__[last]
        private = getattr(obj, "__private_attributes__", {})  # a pydantic PrivateAttr
        if last in private:
            return private[last]
    return getattr(obj, last)


def _params(obj: object) -> list[str]:
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    return list(inspect.signature(inspect.unwrap(obj)).parameters)


def test_installed_gx_is_the_pinned_version():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in dependencies if re.match(r"great[-_]expectations\s*==", d)]
    assert len(pins) == 1, f"pyproject.toml must pin great-expectations exactly once: {dependencies}"
    pinned = pins[0].split("==", 1)[1].strip()
    assert importlib.metadata.version("great-expectations") == pinned


#: Private callables gx_compat wraps: (where, parameter names as GX 1.24.1 declares them).
PRIVATE_CALLABLES = [
    (
        f"{GX}.checkpoint.checkpoint:Checkpoint._build_result_key",
        ["self", "validation_definition", "run_id", "batch_identifier"],
    ),
    (f"{GX}.checkpoint.checkpoint:Checkpoint._construct_result", ["self", "run_id", "run_results"]),
    (f"{GX}.checkpoint.checkpoint:Checkpoint._resolve_context", ["self"]),
    (f"{GX}.checkpoint.checkpoint:Checkpoint._sort_actions", ["self"]),
    (f"{GX}.checkpoint.actions:ValidationAction._resolve_context", ["self"]),
    (f"{GX}.checkpoint.actions:ValidationAction._substitute_config_str_if_needed", ["value", "config_provider"]),
    (f"{GX}.validator.v1_validator:Validator._wrapped_validator", ["self"]),
    (  # fast_hooks.reuse_metrics replaces it on one instance, with the same parameters
        f"{GX}.validator.metrics_calculator:MetricsCalculator.resolve_validation_graph",
        ["self", "graph", "runtime_configuration", "min_graph_edges_pbar_enable"],
    ),
    # fast_hooks.configuration_built_once_per_rule: the same three, configuration built once per rule
    # (dispatched to while a context-local memo is set; GX's own otherwise)
    (f"{GX}.expectations.expectation:Expectation._get_domain_kwargs", ["self"]),
    (f"{GX}.expectations.expectation:Expectation._get_success_kwargs", ["self"]),
    (f"{GX}.expectations.expectation:Expectation._get_success_kwarg", ["self", "key", "default"]),
    (  # fast_hooks.row_conditions_filtered_once: the same, its rows kept by frame and condition
        f"{GX}.execution_engine.pandas_execution_engine:PandasExecutionEngine._apply_row_condition_filter",
        ["self", "data", "row_condition", "domain_kwargs"],
    ),
    (  # fast_hooks.one_scan_per_batch replaces it on one instance, with the same parameters
        f"{GX}.execution_engine.sqlalchemy_execution_engine:SqlAlchemyExecutionEngine._organize_metrics_by_domain",
        ["self", "metric_fn_bundle", "limit"],
    ),
    # fast_hooks.aggregates_together replaces it on one graph, with the same parameters
    (f"{GX}.validator.validation_graph:ValidationGraph._parse", ["self", "metrics"]),
    (
        f"{GX}.validator.validation_graph:ValidationGraph._resolve",
        ["self", "metrics", "runtime_configuration", "min_graph_edges_pbar_enable", "show_progress_bars"],
    ),
    (f"{GX}.core.validation_definition:ValidationDefinition._add_to_store", ["self"]),
    (
        f"{GX}.core.validation_definition:ValidationDefinition._get_expectation_suite_and_validation_result_ids",
        ["self", "validator", "run_id"],
    ),
    (f"{GX}.core.validation_definition:ValidationDefinition._validation_results_store", ["self"]),
    (
        f"{GX}.expectations.metrics.query_metrics.query_table.unexpected_rows_query_table:"
        "UnexpectedRowsQueryTable._get_substituted_batch_subquery_from_query_and_batch_selectable",
        ["cls", "query", "batch_selectable", "execution_engine", "query_parameters"],
    ),
    (f"{GX}.expectations.metrics.query_metric_provider:_query_has_join_clause", ["query"]),
    (
        f"{GX}.expectations.metrics.column_map_metrics.column_values_unique:_build_duplicate_rows_source",
        ["execution_engine", "metric_domain_kwargs", "column_name", "table_columns"],
    ),
    (f"{GX}.expectations.expectation:Expectation._get_result_format", ["self", "runtime_configuration"]),
    (f"{GX}.expectations.expectation:Expectation._get_domain_kwargs", ["self"]),
    (f"{GX}.data_context.data_context.context_factory:ProjectManager.get_config_provider", ["self"]),
    (f"{GX}.render.renderer.site_builder:_resolve_asset_name", ["validation_results"]),  # docs_site
    # compat: the expectation registry and GX's renderer helpers
    (f"{GX}.expectations.registry:get_expectation_impl", ["expectation_name"]),
    (f"{GX}.expectations.registry:get_renderer_impl", ["object_name", "renderer_type"]),
    (f"{GX}.expectations.registry:list_registered_expectation_implementations", ["expectation_root"]),
    (f"{GX}.render.util:num_to_str", ["f", "precision", "use_locale", "no_scientific"]),
    (f"{GX}.render.util:resource_key_passes_run_name_filter", ["resource_key", "run_name_filter"]),
    # gx.validator: the legacy Validator steps, and the suite result ValidationDefinition.run makes
    (
        f"{GX}.validator.v1_validator:Validator.__init__",
        ["self", "batch_definition", "result_format", "batch_parameters"],
    ),
    (
        f"{GX}.validator.validator:Validator.process_expectations_for_validation",
        ["self", "expectation_configurations", "suite_parameters"],
    ),
    (f"{GX}.validator.validator:Validator.get_metric", ["self", "metric"]),
    (
        f"{GX}.validator.validator:Validator.compute_metrics",
        ["self", "metric_configurations", "runtime_configuration", "min_graph_edges_pbar_enable"],
    ),
    (f"{GX}.validator.validator:ValidationDependencies.get_metric_configuration", ["self", "metric_name"]),
    (f"{GX}.expectations.expectation_configuration:ExpectationConfiguration.to_domain_obj", ["self"]),
    (
        f"{GX}.expectations.expectation:Expectation.get_validation_dependencies",
        ["self", "execution_engine", "runtime_configuration"],
    ),
    (
        f"{GX}.expectations.expectation:Expectation.metrics_validate",
        ["self", "metrics", "runtime_configuration", "execution_engine", "kwargs"],
    ),
    (
        f"{GX}.validator.metric_configuration:MetricConfiguration.__init__",
        ["self", "metric_name", "metric_domain_kwargs", "metric_value_kwargs"],
    ),
    (f"{GX}.validator.validation_statistics:calc_validation_statistics", ["validation_results"]),
    (f"{GX}.util:get_sqlalchemy_selectable", ["selectable"]),
    (
        f"{GX}.expectations.metrics.util:get_dbms_compatible_metric_domain_kwargs",
        ["metric_domain_kwargs", "batch_columns_list"],
    ),
]


@pytest.mark.parametrize(
    ("where", "params"), PRIVATE_CALLABLES, ids=[w.rpartition(":")[2] for w, _ in PRIVATE_CALLABLES]
)
def test_wrapped_private_callable_exists_with_its_signature(where, params):
    assert _params(_attr(where)) == params


def test_wrapped_private_attributes_exist():
    # context_factory.project_manager: the process's ProjectManager
    from great_expectations.data_context.data_context import context_factory

    assert isinstance(context_factory.project_manager, context_factory.ProjectManager)
    # ValidationAction._data_context: a pydantic private attribute that Checkpoint._run_actions sets
    assert "_data_context" in _attr(f"{GX}.checkpoint.actions:ValidationAction.__private_attributes__")
    # Validator._metrics_calculator and MetricsCalculator._show_progress_bars (fast_hooks.reuse_metrics)
    from great_expectations.validator.metrics_calculator import MetricsCalculator
    from great_expectations.validator.validator import Validator

    assert "self._metrics_calculator" in inspect.getsource(Validator.__init__)
    assert "self._show_progress_bars" in inspect.getsource(MetricsCalculator.__init__)
    # ValidationGraph._edges, _edge_ids, _execution_engine (fast_hooks.aggregates_together), and the
    # metric functions' arguments built from the declared dependencies (a dropped one is not asked for)
    from great_expectations.execution_engine.execution_engine import ExecutionEngine
    from great_expectations.validator.validation_graph import ValidationGraph

    graph_init = inspect.getsource(ValidationGraph.__init__)
    assert all(f"self.{name} =" in graph_init for name in ("_edges", "_edge_ids", "_execution_engine"))
    assert "metric_to_resolve.metric_dependencies.items()" in inspect.getsource(
        ExecutionEngine._get_computed_metric_evaluation_dependencies_by_metric_name
    )
    # DefaultJinjaView._TRUSTED_HTML_PARAMS: parameters GX's view emits raw
    trusted = compat.trusted_html_params()
    assert isinstance(trusted, frozenset) and trusted
    # ValidationResultsStore._expectationSuiteValidationResultSchema: set in __init__, read by serialize
    from great_expectations.data_context.store.validation_results_store import (
        ValidationResultsStore,
    )

    assert "self._expectationSuiteValidationResultSchema" in inspect.getsource(ValidationResultsStore.__init__)
    assert "self._expectationSuiteValidationResultSchema" in inspect.getsource(ValidationResultsStore.serialize)


def test_gx_lists_a_rules_bad_values_up_to_its_sample_size():
    """fast_hooks.no_rows_asked answers a map metric's ``unexpected_values`` of sample size 0 with
    no rows: GX's SQL (column, column pair, multicolumn) and pandas code for it limit the rows to
    ``partial_unexpected_count`` unless the format is COMPLETE."""
    from great_expectations.expectations.metrics.map_metric_provider import (
        column_map_condition_auxilliary_methods as column,
    )
    from great_expectations.expectations.metrics.map_metric_provider import (
        column_pair_map_condition_auxilliary_methods as pair,
    )
    from great_expectations.expectations.metrics.map_metric_provider import (
        multicolumn_map_condition_auxilliary_methods as multi,
    )

    limited = (
        'query.limit(result_format["partial_unexpected_count"])',
        'min(result_format["partial_unexpected_count"]',
    )
    for fn in (
        column._sqlalchemy_column_map_condition_values,
        column._pandas_column_map_condition_values,
        pair._sqlalchemy_column_pair_map_condition_values,
        multi._sqlalchemy_multicolumn_map_condition_values,
    ):
        source = inspect.getsource(fn)
        assert any(text in source for text in limited), fn.__name__
        assert '"COMPLETE"' in source, fn.__name__


def test_postgresql_literal_dialect_keeps_backslashes():
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    assert postgresql.dialect._backslash_escapes is True  # the private class attribute, SQLAlchemy's default

    def literal(dialect: object) -> str:
        return str(sa.literal("a\\b").compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    assert literal(postgresql.dialect()) == "'a\\\\b'"  # SQLAlchemy's default doubles the backslash
    assert literal(compat.postgresql_literal_dialect()) == "'a\\b'"  # standard_conforming_strings=on


def test_query_has_join_follows_gx():
    assert compat.query_has_join("SELECT * FROM {batch} b JOIN users u ON u.id = b.user_id")
    assert not compat.query_has_join("SELECT * FROM {batch} WHERE joined_at IS NULL")


#: GX methods our classes override (marked @override): (where, parameter names in GX 1.24.1).
OVERRIDDEN = [
    (f"{GX}.data_context.store.expectations_store:ExpectationsStore.deserialize", ["self", "value"]),
    (f"{GX}.data_context.store.validation_results_store:ValidationResultsStore.serialize", ["self", "value"]),
    (
        f"{GX}.data_context.store.validation_results_store:ValidationResultsStore.store_validation_results",
        ["self", "suite_validation_result", "*"],
    ),
    (f"{GX}.checkpoint.actions:ValidationAction.run", ["self", "checkpoint_result", "action_context"]),
    (f"{GX}.expectations.expectation:Expectation.configuration", ["self"]),
    (f"{GX}.expectations.expectation:Expectation._prescriptive_template", ["cls", "renderer_configuration"]),
    (
        f"{GX}.expectations.expectation:Expectation._prescriptive_renderer",
        ["cls", "configuration", "result", "runtime_configuration"],
    ),
    (
        f"{GX}.expectations.expectation:Expectation._diagnostic_unexpected_statement_renderer",
        ["cls", "configuration", "result", "runtime_configuration"],
    ),
    (f"{GX}.expectations.expectation:Expectation._get_success_kwargs", ["self"]),
    (
        f"{GX}.expectations.core.unexpected_rows_expectation:UnexpectedRowsExpectation._validate",
        ["self", "metrics", "runtime_configuration", "execution_engine"],
    ),
    (
        f"{GX}.expectations.expectation:ColumnAggregateExpectation._validate",
        ["self", "metrics", "runtime_configuration", "execution_engine"],
    ),
    (
        f"{GX}.render.renderer.content_block.content_block:ContentBlockRenderer._get_content_block_fn",
        ["cls", "expectation_type", "expectation_config"],
    ),
    (
        f"{GX}.render.renderer.content_block.content_block:"
        "ContentBlockRenderer._get_content_block_fn_from_expectation_description",
        ["cls", "expectation_config"],
    ),
    (
        f"{GX}.render.renderer.content_block.content_block:ContentBlockRenderer._render_expectation_description",
        ["cls", "configuration", "runtime_configuration", "kwargs"],
    ),
    (f"{GX}.render.renderer.page_renderer:ValidationResultsPageRenderer.render", ["self", "validation_results", "*"]),
    (f"{GX}.render.renderer.page_renderer:ExpectationSuitePageRenderer.render", ["self", "expectations", "*"]),
    (
        f"{GX}.render.renderer.site_builder:SiteBuilder.build",
        ["self", "resource_identifiers", "build_index"],
    ),  # docs_site
]


@pytest.mark.parametrize(("where", "params"), OVERRIDDEN, ids=[w.rpartition(":")[2] for w, _ in OVERRIDDEN])
def test_overridden_gx_method_exists_with_its_signature(where, params):
    found = _params(_attr(where))
    if params[-1] == "*":  # ours passes the rest through (*args, **kwargs): the leading names must match
        params = params[:-1]
        found = found[: len(params)]
    assert found == params


def _our_overrides() -> list[tuple[type, str]]:
    """(our class, method name) for every method of ours marked @override."""
    import ytempire_dq.actions
    import ytempire_dq.docs.renderers
    import ytempire_dq.expectations
    import ytempire_dq.gx.context
    import ytempire_dq.gx.stores  # noqa: F401

    found = []
    modules = [m for name, m in list(sys.modules.items()) if name.startswith("ytempire_dq.")]
    for module in modules:
        for klass in vars(module).values():
            if not isinstance(klass, type) or klass.__module__ != module.__name__:
                continue
            for name, member in vars(klass).items():
                fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                fn = fn.fget if isinstance(fn, property) else fn
                if getattr(fn, "__override__", False):
                    found.append((klass, name))
    return found


def test_every_override_overrides_something():
    """At run time the mark is only an attribute; this checks what a type checker would: each
    method marked @override exists in a base class (a mixin's in the class it is mixed into)."""
    overrides = _our_overrides()
    assert len(overrides) >= 30, overrides
    from ytempire_dq.docs.renderers import RuleBulletListContentBlockRenderer
    from ytempire_dq.expectations._cross_store import CrossStoreExpectation
    from ytempire_dq.expectations._cross_table import CrossTableExpectation, SentenceRendering

    mixed_into = {"SentenceRendering": CrossTableExpectation, "_RuleRendering": RuleBulletListContentBlockRenderer}
    for klass, name in overrides:
        host = mixed_into.get(klass.__name__, klass)
        mro = host.__mro__
        bases = mro[mro.index(klass) + 1 :]
        assert any(name in vars(base) for base in bases), f"{klass.__qualname__}.{name} overrides nothing"
    assert (SentenceRendering, "_prescriptive_renderer") in overrides
    assert (CrossStoreExpectation, "_validate") in overrides


def test_configuration_built_once_per_rule_gives_gxs_own_kwargs():
    """Inside the context the three methods return what GX's own return, with each rule's
    configuration built once; outside it, and in other threads meanwhile, GX's own run; the
    context leaves no state behind (a context-local memo)."""
    import threading

    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import Expectation

    names = ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg")
    rules = [
        gxe.ExpectColumnValuesToBeBetween(
            column="views",
            min_value=0,
            row_condition={"type": "comparison", "column": {"name": "revenue"}, "operator": ">", "parameter": 0},
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="id", mostly=0.9),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["video_id", "date"]),
    ]
    own = {n: fast_hooks.gx_own_kwargs_method(n) for n in names}
    assert all(getattr(own[n], "__module__", "").startswith(GX) for n in names)  # GX's, not ours

    def kwargs_of(rule):
        return (
            rule._get_domain_kwargs(),
            rule._get_success_kwargs(),
            rule._get_success_kwarg("mostly"),
            rule._get_runtime_kwargs({"result_format": "BASIC"}),
        )

    expected = [kwargs_of(r) for r in rules]
    elsewhere = []
    with fast_hooks.configuration_built_once_per_rule():
        built = fast_hooks._BUILT.get()
        assert [kwargs_of(r) for r in rules] == expected
        assert [kwargs_of(r) for r in rules] == expected  # a second time: from the memo
        assert sorted(built) == sorted(id(r) for r in rules)  # each rule's configuration, once
        with fast_hooks.configuration_built_once_per_rule():  # nested: its own memo, then the outer again
            assert fast_hooks._BUILT.get() == {}
        assert fast_hooks._BUILT.get() is built
        thread = threading.Thread(target=lambda: elsewhere.append(fast_hooks._BUILT.get()))
        thread.start()
        thread.join()
    assert elsewhere == [None]  # another thread's validation runs GX's own methods meanwhile
    assert fast_hooks._BUILT.get() is None
    assert [kwargs_of(r) for r in rules] == expected
    for n in names:  # GX's own is what a dispatching method falls back to
        assert getattr(Expectation.__dict__[n], "__ytdq_gx_own__", Expectation.__dict__[n]) is own[n]


def test_no_gx_map_metric_reads_the_row_count_it_declares():
    """fast_hooks.aggregates_together drops ``table.row_count`` from GX's own map metrics'
    dependencies: right only while none of their functions reads it. The metrics that do read it
    are column aggregates (not map metrics), and they keep it."""
    import great_expectations.expectations.metrics as metrics_package
    from great_expectations.expectations.metrics.map_metric_provider import MapMetricProvider

    root = Path(metrics_package.__file__).parent
    reads = re.compile(r"""metrics(?:\.get\(|\[)\s*["']table\.row_count""")
    readers = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py") if reads.search(p.read_text()))
    assert readers == [
        "column_aggregate_metrics/column_median.py",
        "column_aggregate_metrics/column_proportion_of_non_null_values.py",
        "column_aggregate_metrics/column_proportion_of_unique_values.py",
    ]
    for path in readers:
        module = importlib.import_module(f"great_expectations.expectations.metrics.{path[:-3].replace('/', '.')}")
        assert not any(
            isinstance(v, type) and issubclass(v, MapMetricProvider) and v.__module__ == module.__name__
            for v in vars(module).values()
        )


def test_row_conditions_filtered_once_gives_gxs_own_rows_per_frame():
    """Inside the context a frame is filtered by a condition once and each frame gets its own
    rows (another frame, the same condition: filtered again); outside it, GX's own method runs."""
    import pandas as pd
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    engine = PandasExecutionEngine()
    condition = {"type": "comparison", "column": {"name": "kind"}, "operator": "==", "parameter": "session"}
    first = pd.DataFrame({"kind": ["session", "video", "session"], "ttl": [1, 2, 3]})
    second = pd.DataFrame({"kind": ["video", "session"], "ttl": [4, 5]})
    expected = [engine._apply_row_condition_filter(f, condition, {}) for f in (first, second)]
    with fast_hooks.row_conditions_filtered_once():
        once = engine._apply_row_condition_filter(first, condition, {})
        assert engine._apply_row_condition_filter(first, condition, {}) is once  # from the memo
        other = engine._apply_row_condition_filter(second, condition, {})
        assert once.equals(expected[0]) and other.equals(expected[1])
        assert len(fast_hooks._FILTERED.get()) == 2
    assert fast_hooks._FILTERED.get() is None
    assert engine._apply_row_condition_filter(first, condition, {}) is not once  # GX's own again
