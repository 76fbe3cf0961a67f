"""GX private API the fast path (:mod:`ytempire_dq.run.validation`) hooks into, beside :mod:`ytempire_dq.gx.compat`
(the same boundary: nothing else in the package touches GX internals; ``tests/test_gx_compat.py``
checks every name used here). Each hook is scoped: one validator or engine instance, or the span
of a fast-path validation, and gives the values GX's own code gives."""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import json
import logging
from collections.abc import Iterator
from typing import Any

from ytempire_dq.gx.compat import wrapped_validator


def reuse_metrics(validator: Any, with_aggregates: list | None = None) -> dict:
    """Let every later metric graph of ``validator`` start from the metrics it already resolved:
    ``MetricsCalculator.resolve_validation_graph`` of its wrapped validator, replaced on that one
    instance by ``ValidationGraph._resolve(metrics=<all resolved so far>)`` (GX's ``resolve`` with a
    pre-filled dict: ``_parse`` skips what is in it). A metric's id holds its domain and value
    kwargs, so only the very same metric is reused (a sample query asked for with another
    ``result_format`` is a new metric). Right only while the batch cannot change underneath: the
    run reads one snapshot (:mod:`ytempire_dq.run.snapshot`). Returns the dict of resolved metrics (by
    id), which a caller may also fill with a metric it computed itself.

    ``with_aggregates``: aggregate metric configurations a caller adds (at any time), to be resolved
    with the next graph that has aggregates of its own, so that they share its statements
    (``ValidationGraph.build_metric_dependency_graph``, as GX adds an expectation's metrics; a graph
    of ``table.columns`` alone, which GX resolves first, has none). Taken from the list as they
    are added to a graph."""
    calculator = wrapped_validator(validator)._metrics_calculator
    known: dict = {}
    pending = with_aggregates if with_aggregates is not None else []

    def resolve_validation_graph(graph: Any, runtime_configuration: Any = None, min_graph_edges_pbar_enable: int = 0):
        if pending and any(e.left.metric_name.endswith(AGGREGATE_SUFFIX) for e in graph.edges):
            while pending:
                graph.build_metric_dependency_graph(pending.pop(0), runtime_configuration=runtime_configuration)
        aggregates_together(graph, graph._execution_engine)
        resolved = dict(known)
        resolved.update(no_rows_asked(graph))
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


#: The suffix of GX's map metrics that list a rule's bad values (``column_values.*``, the column
#: pair and multicolumn ones too): GX's SQL for them is ``SELECT <column> ... LIMIT <sample size>``.
VALUES_SUFFIX = ".unexpected_values"


def no_rows_asked(graph: Any) -> dict:
    """``{metric id: []}`` for each metric of ``graph`` that lists a rule's bad values with a sample
    size of 0 (the fast path's pass 1 asks for counts and no samples): GX's map metrics would send
    each as its own ``... LIMIT 0`` statement (73 of them for the seven table suites), which returns
    no row whatever the data. A condition that cannot run fails the rule's count, in the table's
    bundled statement, as GX's own would."""
    found = {}
    for edge in graph.edges:
        for metric in (edge.left, edge.right):
            if metric is None or not metric.metric_name.endswith(VALUES_SUFFIX):
                continue
            fmt = (metric.metric_value_kwargs or {}).get("result_format")
            if (
                isinstance(fmt, dict)
                and fmt.get("partial_unexpected_count") == 0
                and str(fmt.get("result_format", "")).upper() != "COMPLETE"  # COMPLETE lists them all
                and _map_metric(metric.metric_name, graph._execution_engine)
            ):
                found[metric.id] = []
    return found


def _map_metric(name: str, execution_engine: Any, gx_own: bool = False) -> bool:
    """Whether metric ``name`` is a map metric (its values, counts and samples built by GX's map
    metric code), one of GX's own with ``gx_own``."""
    from great_expectations.expectations.metrics.map_metric_provider import MapMetricProvider
    from great_expectations.expectations.registry import get_metric_provider

    try:
        provider, _ = get_metric_provider(name, execution_engine)
    except Exception:  # noqa: BLE001 - not a registered metric: leave it as GX has it
        return False
    return (
        isinstance(provider, type)
        and issubclass(provider, MapMetricProvider)
        and (not gx_own or provider.__module__.startswith("great_expectations."))
    )


#: The suffix of GX's aggregate partial metrics (``MetricPartialFunctionTypeSuffixes.AGGREGATE_FUNCTION``):
#: the ones the engine bundles into one statement per domain.
AGGREGATE_SUFFIX = ".aggregate_fn"
ROW_COUNT = "table.row_count"


def aggregates_together(graph: Any, execution_engine: Any) -> None:
    """Let ``graph`` count a table's rows in the same statement as its rules' bad rows.

    GX resolves a graph in steps, each step the metrics whose dependencies are resolved, and the
    engine runs a step's aggregates as one statement per domain. GX's map metrics (every column
    map rule's condition and bad-row count) declare ``table.row_count`` as a dependency, though
    none of GX's own reads it (only the expectation does, to report percentages): so the row count
    is a step of its own, and the table is scanned twice (at 10M analytics rows, 0.7 s of
    PostgreSQL time for the row counts alone). On this one graph:

    - the ``table.row_count`` dependency of GX's own map metrics is dropped (the edge and the
      metric's declared dependency), where the metric has other dependencies left;
    - ``ValidationGraph._parse`` holds the ready aggregates back while an aggregate is still
      pending and something else is ready, so the row count runs in the bundle of the bad-row
      counts. Only while something else that has not failed is ready: a step of failed metrics
      alone (GX retries them, then aborts them and goes on without them, or ends the graph when
      nothing else is ready) would leave the held ones unresolved.

    The same metrics, the same values, in fewer statements."""
    edges_of = collections.Counter(edge.left.id for edge in graph.edges)
    dropped = {
        edge.id
        for edge in graph.edges
        if edge.right is not None
        and edge.right.metric_name == ROW_COUNT
        and edges_of[edge.left.id] > 1
        and _map_metric(edge.left.metric_name, execution_engine, gx_own=True)
    }
    if dropped:
        freed = {left_id: row_count_id for left_id, row_count_id in dropped}
        for edge in graph.edges:  # every instance of a freed metric (GX may hold several under one id)
            deps = edge.left.metric_dependencies
            if edge.left.id in freed and ROW_COUNT in deps and deps[ROW_COUNT].id == freed[edge.left.id]:
                edge.left.metric_dependencies = {k: v for k, v in deps.items() if k != ROW_COUNT}
        graph._edges[:] = [edge for edge in graph.edges if edge.id not in dropped]
        graph._edge_ids = {edge.id for edge in graph.edges}

    parse = graph._parse
    offered: set = set()  # the ids the last step was given
    stuck: set = set()  # given to a step and still not resolved: failed (GX retries, then aborts it)

    def _parse(metrics: dict) -> tuple[set, set]:
        ready, needed = parse(metrics=metrics)
        stuck.update(i for i in offered if i not in metrics)
        offered.clear()
        if any(m.metric_name.endswith(AGGREGATE_SUFFIX) for m in needed):
            held = {m for m in ready if m.metric_name.endswith(AGGREGATE_SUFFIX)}
            if held and any(m.id not in stuck for m in ready - held):
                ready = ready - held
        offered.update(m.id for m in ready)
        return ready, needed

    graph._parse = _parse


def column_values_query(execution_engine: Any, map_metric: str, condition: tuple, table_columns: list) -> Any:
    """GX's query for a column map rule's ``unexpected_values`` (``column_map_condition_auxilliary_
    methods._sqlalchemy_column_map_condition_values``) without its LIMIT: ``SELECT <column> AS
    unexpected_values FROM <domain> WHERE <unexpected condition>``, an integral bound on an integer
    column bound as an integer (:func:`integral_bounds`); None for a metric whose condition
    selects its own rows (GX builds those differently). ``condition``: the resolved ``<map_metric>.
    condition`` metric."""
    import sqlalchemy as sa
    from great_expectations.expectations.metrics.util import get_dbms_compatible_metric_domain_kwargs

    from ytempire_dq.gx.validator import selects_own_rows

    if selects_own_rows(map_metric):
        return None
    unexpected_condition, compute_kwargs, accessor_kwargs = condition
    if "column" not in accessor_kwargs:
        return None
    accessor_kwargs = get_dbms_compatible_metric_domain_kwargs(
        metric_domain_kwargs=accessor_kwargs, batch_columns_list=table_columns
    )
    selectable = execution_engine.get_domain_records(domain_kwargs=compute_kwargs)
    unexpected_condition = integral_bounds(unexpected_condition, integer_columns(execution_engine, compute_kwargs))
    query = sa.select(sa.column(accessor_kwargs["column"]).label("unexpected_values")).where(unexpected_condition)
    return query.select_from(selectable.subquery() if hasattr(selectable, "subquery") else selectable)


def column_values_together(
    execution_engine: Any,
    conditions: list[tuple],
    table_columns: list,
    keep_apart: frozenset = frozenset(),
    filters: tuple[str, ...] = (),
) -> list[tuple]:
    """Several column map rules' bad rows in one scan per batch: ``[(query, positions, filtered)]``,
    each ``SELECT <column i> AS dq_value_<i>, coalesce(<bad i>, false) AS dq_rule_<i>, ... FROM
    <batch> WHERE <bad i> OR ...`` for the ``conditions`` (resolved ``<map metric>.condition``
    metrics, as :func:`column_values_query` takes) at ``positions`` that read the same batch. A rule
    with a ``row_condition`` joins its batch's statement with ``<row condition> AND <bad>`` when its
    condition is a plain filter of the batch on no column of ``keep_apart`` (as
    :func:`one_scan_per_batch` folds it), else the statement of the rules with the same condition;
    a statement for a single rule is left out (its own query reads no more). An integral bound on an
    integer column is bound as an integer (:func:`integral_bounds`: analytics' three failed rules
    at 10M rows, 1.4 s -> 0.8 s). ``filters`` (SQL conditions on the batch's columns: the failed
    row-filter SQL rules, :mod:`ytempire_dq.run.row_filters`) join the statement of the batch
    without a row condition (``filtered`` true) as ``(<filter j>) IS TRUE AS dq_filter_<j>``, one
    scan where they had one more of their own (analytics at 10M rows: 0.7 s)."""
    import sqlalchemy as sa
    from great_expectations.core.id_dict import IDDict
    from great_expectations.expectations.metrics.util import get_dbms_compatible_metric_domain_kwargs

    groups: dict[str, list] = {}
    for i, (unexpected, compute_kwargs, accessor_kwargs) in enumerate(conditions):
        if "column" not in accessor_kwargs:
            continue
        column = get_dbms_compatible_metric_domain_kwargs(
            metric_domain_kwargs=accessor_kwargs, batch_columns_list=table_columns
        )["column"]
        plain = dict(compute_kwargs)
        if plain.get("row_condition") is not None:
            records = execution_engine.get_domain_records(domain_kwargs=compute_kwargs)
            if (row_condition := _row_condition(records, keep_apart)) is not None:
                unexpected = sa.and_(row_condition, unexpected)
                plain = {**plain, "row_condition": None, "condition_parser": None}
        unexpected = integral_bounds(unexpected, integer_columns(execution_engine, plain))
        groups.setdefault(IDDict(plain).to_id(), []).append((i, column, unexpected, plain))
    whole = next((key for key, members in groups.items() if members[0][3].get("row_condition") is None), None)
    out = []
    for key, members in groups.items():
        extra = [sa.literal_column(f"({condition})") for condition in filters] if key == whole else []
        if len(members) + len(extra) < 2:
            continue
        records = execution_engine.get_domain_records(domain_kwargs=members[0][3])
        selected = []
        for i, column, unexpected, _ in members:
            selected.append(sa.column(column).label(f"dq_value_{i}"))
            selected.append(sa.func.coalesce(unexpected, sa.false()).label(f"dq_rule_{i}"))
        selected += [condition.is_(sa.true()).label(f"dq_filter_{j}") for j, condition in enumerate(extra)]
        query = sa.select(*selected).where(sa.or_(*(m[2] for m in members), *extra))
        query = query.select_from(records.subquery() if hasattr(records, "subquery") else records)
        out.append((query, [m[0] for m in members], bool(extra)))
    return out


def _row_condition(records: Any, keep_apart: frozenset = frozenset()) -> Any:
    """The row condition of a domain's records (``SELECT * FROM <batch> WHERE <condition>``, its
    columns unqualified, none of ``keep_apart``), or None when they are not such a filter."""
    import sqlalchemy as sa

    if not isinstance(records, sa.Select) or records.whereclause is None or len(records.get_final_froms()) != 1:
        return None
    condition = records.whereclause
    columns = [c for c in sa.sql.visitors.iterate(condition) if isinstance(c, sa.ColumnClause)]
    if not columns or any(c.table is not None or c.name in keep_apart for c in columns):
        return None
    return condition


#: Aggregate functions ``FILTER (WHERE ...)`` applies to (a metric that is any other expression
#: keeps its own statement).
AGGREGATES = frozenset({"count", "sum", "min", "max", "avg", "bool_and", "bool_or", "stddev_samp", "var_samp"})


@contextlib.contextmanager
def one_scan_per_batch(execution_engine: Any, keep_apart: frozenset = frozenset()) -> Iterator[None]:
    """While active, a bundle of aggregate metrics that GX would query once per domain (the table,
    and the table under each rule's ``row_condition``) is queried once per batch: a domain's
    aggregates become ``agg(...) FILTER (WHERE <row condition>)`` beside the unconditioned ones.

    GX's ``SqlAlchemyExecutionEngine._organize_metrics_by_domain`` groups a bundle by domain; each
    group is one statement over ``get_domain_records(domain)``, which for a row condition is
    ``SELECT * FROM (<batch>) WHERE <condition>``. Replaced on this one engine instance, the groups
    of one batch that differ only by a row condition are folded into the group without it, when
    the bundle has one (that scan of the whole batch runs anyway; folding into a scan created for
    the purpose would turn a condition an index can serve, such as an incremental run's
    ``date > since``, into a full scan). A group is folded only when its records are exactly that (one FROM, a WHERE
    whose columns are unqualified) and each of its metrics is an aggregate function (``FILTER``
    applies); anything else stays its own statement, as GX has it. Counts over no rows are the same
    (``count(*) FILTER`` 0, ``sum(...) FILTER`` NULL, as over an empty subquery).

    And GX's bad-row count of a map rule, ``sum(CASE WHEN <bad> THEN 1 ELSE 0 END)``, becomes
    ``CASE WHEN count(*) = 0 THEN NULL ELSE count(*) FILTER (WHERE <bad>) END``: the same value
    (NULL over no rows, as ``sum``), a third less PostgreSQL time (analytics at 10M rows, ten rules:
    0.83 s -> 0.56 s).

    A condition on a column of ``keep_apart`` (an incremental run's bound, ``date > since``) is never
    folded: its own statement reads only the new rows (the column's index range, or the partitions
    of the days judged where the table is partitioned on it), where a FILTER would test every row of
    the whole scan (analytics partitioned by month: only the new month's partition is read).

    And an integral bound against an integer column is bound as an integer (:func:`integral_bounds`)."""
    import sqlalchemy as sa
    from great_expectations.core.id_dict import IDDict

    original = execution_engine._organize_metrics_by_domain

    def bad_rows(aggregate: Any) -> Any:
        """``<bad>`` of GX's ``sum(CASE WHEN <bad> THEN 1 ELSE 0 END)``, else None."""
        args = list(getattr(aggregate, "clauses", []))
        if not isinstance(aggregate, sa.sql.functions.sum) or len(args) != 1:
            return None
        case = args[0]
        if not isinstance(case, sa.sql.elements.Case) or case.value is not None or len(case.whens) != 1:
            return None
        (bad, then), otherwise = case.whens[0], case.else_
        if getattr(then, "value", None) == 1 and getattr(otherwise, "value", None) == 0:
            return bad
        return None

    def aggregate(sel: Any, condition: Any = None) -> Any:
        """``sel`` (a labelled aggregate) counted as FILTERs, under the row ``condition`` if any."""
        element, bad = sel.element, bad_rows(sel.element)
        if bad is None:
            return element.filter(condition).label(sel.name) if condition is not None else sel
        bad = null_guard_dropped(bad)
        rows = sa.func.count().filter(condition) if condition is not None else sa.func.count()
        bad_rows_count = sa.func.count().filter(sa.and_(condition, bad) if condition is not None else bad)
        return sa.case((rows == 0, sa.null()), else_=bad_rows_count).label(sel.name)

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
                query["select"] = [aggregate(sel) for sel in query["select"]]
                base[IDDict(kwargs).to_id()] = query
                kept.append(query)
                continue
            plain = {**kwargs, "row_condition": None, "condition_parser": None}
            condition = _row_condition(
                execution_engine.get_domain_records(domain_kwargs=query["domain_kwargs"]), keep_apart
            )
            aggregates = [getattr(sel, "element", None) for sel in query["select"]]
            if condition is None or not all(str(getattr(a, "name", "")).lower() in AGGREGATES for a in aggregates):
                kept.append(query)
                continue
            folded.append((query, condition, plain))
        for query, condition, plain in folded:
            key = IDDict(plain).to_id()
            if key not in base:  # no scan of the whole batch runs anyway: keep the conditioned one
                query["select"] = [aggregate(sel) for sel in query["select"]]  # (an incremental run's
                kept.append(query)  # new rows: an index range, not a full scan)
                continue
            target = base[key]
            for sel, metric_id in zip(query["select"], query["metric_ids"]):
                target["select"].append(aggregate(sel, condition))
                target["metric_ids"].append(metric_id)
        for query in kept:
            integers = integer_columns(execution_engine, query["domain_kwargs"])
            if integers:
                query["select"] = [integral_bounds(sel, integers) for sel in query["select"]]
        return kept

    execution_engine._organize_metrics_by_domain = organize
    try:
        yield
    finally:
        del execution_engine._organize_metrics_by_domain


def integer_columns(execution_engine: Any, domain_kwargs: Any) -> frozenset:
    """The integer columns of the table a domain's records are read from (none for a query
    asset): the catalog's, read once per engine and table."""
    import sqlalchemy as sa

    source = execution_engine.get_domain_records(domain_kwargs=domain_kwargs)
    while True:  # (SELECT * FROM (SELECT * FROM <table> WHERE ...)): the table's columns
        source = source.element if isinstance(source, sa.Subquery) else source
        froms = source.get_final_froms() if isinstance(source, sa.Select) else []
        if len(froms) != 1 or [str(c) for c in source.selected_columns] != ["*"]:
            return frozenset()
        if not isinstance(froms[0], sa.Subquery):
            break
        source = froms[0]
    table = froms[0]
    if not isinstance(table, sa.TableClause):
        return frozenset()
    known = execution_engine.__dict__.setdefault("_ytdq_integer_columns", {})
    key = (table.schema, table.name)
    if key not in known:
        columns = sa.inspect(execution_engine.engine).get_columns(table.name, schema=table.schema)
        known[key] = frozenset(c["name"] for c in columns if isinstance(c["type"], sa.Integer))
    return known[key]


def whole_table(selectable: Any) -> Any:
    """The table (``sa.table``/``sa.Table``) that ``selectable`` (a batch's records) reads whole,
    every row and column -- a table asset's batch without a partitioner is ``(SELECT * FROM <table>
    WHERE true) AS anon_1`` -- or None (a query asset, a filtered or partitioned batch)."""
    import sqlalchemy as sa

    source = selectable
    while True:
        source = source.element if isinstance(source, sa.Subquery) else source
        if isinstance(source, sa.TableClause):
            return source
        if not isinstance(source, sa.Select) or len(source.get_final_froms()) != 1:
            return None
        (inner,) = source.get_final_froms()
        everything = sa.select(sa.text("*")).select_from(inner)
        if str(source) not in (str(everything), str(everything.where(sa.true()))):  # SELECT * FROM it, no more
            return None
        source = inner


def integral_bounds(expression: Any, integers: frozenset) -> Any:
    """``expression`` with each ``<integer column> <comparison> <integral float>`` bound as an
    integer. GX's between bounds are floats (a suite's ``min_value: 0`` arrives as ``0.0``), and
    PostgreSQL compares an integer column with the numeric constant ``0.0`` by casting every row
    to numeric. The same truth for every row (the bound is integral); five such bounds on
    analytics at 10M rows: 0.97 s -> 0.58 s."""
    import sqlalchemy as sa
    from sqlalchemy.sql import operators, visitors

    comparisons = {operators.lt, operators.le, operators.gt, operators.ge, operators.eq, operators.ne}

    def replace(element: Any) -> Any:
        if not isinstance(element, sa.BinaryExpression) or element.operator not in comparisons:
            return None
        column, bound = element.left, element.right
        if not isinstance(column, sa.ColumnClause) or column.table is not None or column.name not in integers:
            return None
        value = getattr(bound, "value", None) if isinstance(bound, sa.BindParameter) else None
        if not isinstance(value, float) or not value.is_integer():
            return None
        return element.operator(column, sa.bindparam(None, int(value), type_=sa.BigInteger()))

    return visitors.replacement_traverse(expression, {}, replace)


def null_guard_dropped(bad: Any) -> Any:
    """GX's bad-row condition ``<column> IS NOT NULL AND <test>`` as ``<test>`` alone, when every
    comparison in ``<test>`` compares that column with a value (joined by AND, OR, NOT): on a NULL
    column ``<test>`` is NULL, which a ``FILTER (WHERE ...)`` does not count, as it does not count
    the guard's false. The same count, one test fewer per row (analytics' bundled statement at 10M
    rows: 1.84 s -> 1.66 s, ``EXPLAIN ANALYZE``). Anything else is returned as it is."""
    import sqlalchemy as sa
    from sqlalchemy.sql import operators

    comparisons = {operators.lt, operators.le, operators.gt, operators.ge, operators.eq, operators.ne}
    parts = list(getattr(bad, "clauses", ())) if getattr(bad, "operator", None) is operators.and_ else []
    if len(parts) != 2:
        return bad
    guard, test = parts
    column = guard.left if isinstance(guard, sa.BinaryExpression) and guard.operator is operators.is_not else None
    if not isinstance(column, sa.ColumnClause) or not isinstance(guard.right, sa.sql.elements.Null):
        return bad

    def null_on_null(element: Any) -> bool:
        if isinstance(element, sa.sql.elements.Grouping):
            return null_on_null(element.element)
        if isinstance(element, sa.sql.elements.UnaryExpression) and element.operator is operators.inv:
            return null_on_null(element.element)
        if isinstance(element, sa.sql.elements.BooleanClauseList) and element.operator in (
            operators.and_,
            operators.or_,
        ):
            return all(null_on_null(c) for c in element.clauses)
        return (
            isinstance(element, sa.BinaryExpression)
            and element.operator in comparisons
            and isinstance(element.left, sa.ColumnClause)
            and (element.left.name, element.left.table) == (column.name, column.table)
            and isinstance(element.right, sa.BindParameter)
            and element.right.value is not None
        )

    return test if null_on_null(test) else bad


#: The configuration kwargs of each expectation GX's kwargs methods have read in this context (a
#: thread's, or a task's), by ``id``, with the expectation (so its id is not reused): set only
#: inside :func:`configuration_built_once_per_rule`; None elsewhere, so a concurrent validation
#: elsewhere in the process runs GX's own methods, untouched.
_BUILT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ytdq_configuration_built", default=None)

_KWARGS_METHODS = ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg")


@contextlib.contextmanager
def configuration_built_once_per_rule() -> Iterator[None]:
    """While active, in this context only, GX's ``Expectation._get_domain_kwargs``,
    ``_get_success_kwargs`` and ``_get_success_kwarg`` build each expectation's ``configuration``
    once, instead of once per key they read (GX 1.24 rebuilds it, a pydantic ``dict()`` and a new
    ``ExpectationConfiguration``, inside their loops, and the validation graph calls them for every
    metric of every rule: thousands of builds for one suite). Same values: the configuration is a
    function of the expectation's fields, which GX sets when it builds the expectation
    (``configuration.to_domain_obj()``) and our fast path never changes; the methods only read it.

    GX builds the expectations it validates itself (``Validator.graph_validate``), so no instance
    of ours can carry the faster methods: each of the three is replaced on GX's class once
    (:func:`_dispatching`) by one that runs ours while this context-local memo is set and GX's own
    otherwise. Nothing is locked or restored; nested and concurrent uses each set and reset their
    own context's memo."""
    _dispatching()
    token = _BUILT.set({})
    try:
        yield
    finally:
        _BUILT.reset(token)


def _dispatching() -> None:
    """Make each of GX's three kwargs methods dispatch on :data:`_BUILT`."""
    from great_expectations.expectations.expectation import Expectation

    ours = {
        "_get_domain_kwargs": _domain_kwargs,
        "_get_success_kwargs": _success_kwargs,
        "_get_success_kwarg": _success_kwarg,
    }
    for name in _KWARGS_METHODS:
        _dispatch(Expectation, name, ours[name], _BUILT)


def _dispatch(cls: type, name: str, ours: Any, memo: contextvars.ContextVar) -> None:
    """Replace GX's ``cls.<name>`` by a method that runs ``ours`` (same values) while ``memo`` is set
    in the calling context and GX's own otherwise; idempotent (a method already dispatching is left
    as it is; GX's own is kept inside it, as ``__ytdq_gx_own__``)."""
    gx_own = cls.__dict__[name]
    if getattr(gx_own, "__ytdq_gx_own__", None) is not None:
        return

    @functools.wraps(gx_own)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return (gx_own if memo.get() is None else ours)(self, *args, **kwargs)

    method.__ytdq_gx_own__ = gx_own  # type: ignore[attr-defined]
    setattr(cls, name, method)


#: The rows of each (frame, row condition) GX's pandas engine has filtered in this context: set
#: only inside :func:`row_conditions_filtered_once`; None elsewhere (GX's own method, untouched).
_FILTERED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ytdq_rows_filtered", default=None)
_FILTER_METHOD = "_apply_row_condition_filter"


@contextlib.contextmanager
def row_conditions_filtered_once() -> Iterator[None]:
    """While active, in this context only, GX's ``PandasExecutionEngine._apply_row_condition_filter``
    filters a frame by a row condition once, instead of once per metric that asks (a
    ``DataFrame.query`` each: the cache suite's 14 conditioned rules ask 53 times for 3 conditions,
    0.46 s of a nightly). Same rows: the filter is a function of the frame and the condition, and
    GX hands the frame it filtered on without copying it, as it hands out an unfiltered batch.
    Replaced on GX's class once (:func:`_dispatch`), as the kwargs methods are."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    _dispatch(PandasExecutionEngine, _FILTER_METHOD, _filtered_once, _FILTERED)
    token = _FILTERED.set({})
    try:
        yield
    finally:
        _FILTERED.reset(token)


def _filtered_once(self: Any, data: Any, row_condition: Any, domain_kwargs: dict) -> Any:
    """GX's ``_apply_row_condition_filter``, its rows kept in :data:`_FILTERED` by frame and
    condition (the frame held with them, so that its id is not reused)."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    memo = _FILTERED.get()
    condition = json.dumps(row_condition, sort_keys=True, default=repr) if isinstance(row_condition, dict) else None
    key = (
        id(data),
        type(row_condition).__name__,
        condition or repr(row_condition),
        domain_kwargs.get("condition_parser"),
    )
    found = memo.get(key)
    if found is None or found[0] is not data:
        gx_own = PandasExecutionEngine.__dict__[_FILTER_METHOD].__ytdq_gx_own__
        found = memo[key] = (data, gx_own(self, data, row_condition, domain_kwargs))
    return found[1]


def gx_own_kwargs_method(name: str) -> Any:
    """GX's own ``Expectation.<name>`` (one of the three kwargs methods), dispatched to or not."""
    from great_expectations.expectations.expectation import Expectation

    method = Expectation.__dict__[name]
    return getattr(method, "__ytdq_gx_own__", method)


def _kwargs(self: Any) -> dict:
    """``self.configuration.kwargs``, built once in this context (:data:`_BUILT`)."""
    built = _BUILT.get()
    seen = built.get(id(self))
    if seen is None or seen[0] is not self:
        seen = built[id(self)] = (self, self.configuration.kwargs)
    return seen[1]


def _domain_kwargs(self: Any) -> dict:
    """``Expectation._get_domain_kwargs`` with ``configuration`` built once per rule."""
    from great_expectations.exceptions import InvalidExpectationKwargsError

    kwargs = _kwargs(self)
    domain_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}
    missing_kwargs = set(self.domain_keys) - set(domain_kwargs.keys())
    if missing_kwargs:
        raise InvalidExpectationKwargsError(f"Missing domain kwargs: {list(missing_kwargs)}")
    return domain_kwargs


def _success_kwargs(self: Any) -> dict:
    """``Expectation._get_success_kwargs`` with ``configuration`` built once per rule."""
    domain_kwargs = self._get_domain_kwargs()
    kwargs = _kwargs(self)
    success_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
    success_kwargs.update(domain_kwargs)
    return success_kwargs


def _success_kwarg(self: Any, key: str, default: Any = None) -> Any:
    """``Expectation._get_success_kwarg`` with ``configuration`` built once per rule."""
    kwargs = _kwargs(self)
    if key in kwargs:
        return kwargs[key]
    field = self.__fields__.get(key)  # GX's own fallback: the field's default
    if field is not None:
        return field.default if not field.required else default
    logging.getLogger("great_expectations.expectations.expectation").warning(
        f'_get_success_kwarg called with key "{key}", but it is not a known field of {type(self).__name__}'
    )
    return default
