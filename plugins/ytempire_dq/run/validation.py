"""Validate one validation definition faster, with the same verdicts, bad-row counts and samples.
:func:`ytempire_dq.run.checkpoint.run_checkpoint` calls :func:`run_definition`
for every validation definition, so ``ytdq checkpoint run`` and ``great_expectations checkpoint
run`` both use it; results are stored and the checkpoint's actions (Data Docs) run as before.

Three levers, the ones the benchmarks measured as worth it (``benchmarks/results.md``, "Item 2"),
applied inside GX's own flow (GX's ``Validator`` on the definition's batch, then the validation
results store, exactly as ``ValidationDefinition.run`` does):

1. **Uniqueness proved from the catalog.** A uniqueness rule (``expect_column_values_to_be_unique``,
   ``expect_compound_columns_to_be_unique``; no ``row_condition``, no ``mostly``) on a PostgreSQL
   table is not run when ONE ``pg_index`` query shows a unique index on exactly its columns that
   is valid, live, immediate (not deferrable), without predicate or expression (and, for a
   compound rule that does not skip rows with a missing value, every column ``NOT NULL``: the
   index lets rows with a NULL repeat, GX would count them). PostgreSQL then guarantees what the
   rule counts, so GX's ``count(*) OVER (PARTITION BY ...)`` over the whole table (nightly's
   slowest statement) is not needed. The rule's result says how it was proved:
   ``observed_value = "0 duplicates: proved by unique index <name> (...)"`` (Data Docs shows it
   as the observed value) and ``meta.proved_by``. Where the index is missing (a copy restored
   without constraints, a partitioned table whose key must include the partition key) or invalid
   (a failed ``CREATE INDEX CONCURRENTLY``), a one-column rule is counted by one ``GROUP BY ...
   HAVING count(*) > 1`` scan (:func:`duplicates_query`): none, and that is its result ("counted by
   one GROUP BY scan"); some, and GX runs the rule (its count and samples). The scan reads an
   index that leads with the column in its order (the partitioned ``analytics``' primary key
   ``(id, date)``) rather than hashing every value; an incremental run counts only the new rows'
   values against the table (:func:`new_duplicates_query`), and the full runs of ``--since-last``
   (every ``full_sweep_every``) count the whole table.
2. **No sample query on clean rules.** Pass 1 runs every other rule with
   ``{"result_format": "BASIC", "partial_unexpected_count": 0}``: GX still computes every bad-row
   count (bundled per table), but each map rule's sample query becomes ``LIMIT 0``, which
   PostgreSQL answers without reading the table (under SUMMARY each clean rule's ``LIMIT 20``
   sample query scans its table end to end, finding nothing). Pass 2 re-runs only the rules
   with bad rows (the failed ones, and the ones that pass under ``mostly``: GX shows their samples
   too), with the checkpoint's own result format, for their samples; their results replace
   pass 1's, so such a rule's stored result is what GX alone would have stored.

3. **A SQL rule's query runs once per run.** GX's ``unexpected_rows_expectation`` depends on two
   metrics, ``unexpected_rows_query.table`` (the query's rows, fetched and then dropped unless the
   result format is COMPLETE) and ``unexpected_rows_query.row_count`` (``SELECT COUNT(*) FROM
   (query)``), and the quarantine then read the rows' keys a third time. Pass 1 runs the query once
   in :func:`ytempire_dq.store.row_keys.capture` (its count, and up to 10,000 row keys, which the
   quarantine stores without reading again) and hands GX's own ``metrics_validate`` that count and
   an empty row list (right when nothing is unexpected; under pass 1's BASIC the rows are never
   shown), so the result is GX's. A failed rule under a COMPLETE checkpoint is re-run by GX in
   pass 2 for its rows; a query that raises is counted by GX's metric instead (its error as GX
   gives it). A SQL rule that only filters its table's rows (``SELECT ... FROM {batch} WHERE
   <condition>``, as :mod:`ytempire_dq.run.row_filters` proves from the parse tree) does not run its
   query at all: pass 1 counts it as ``count(*) FILTER (WHERE <condition>)`` in the table's
   statement (lever 4), and the failed ones' keys are read together in one scan: pass 2's (lever 5)
   when the table has column map rules to sample, else a scan of their own.

4. **One scan per table for the rules' counts.** GX queries a bundle of counts once per domain:
   the table, and the table under each ``row_condition`` (two more scans per condition: its row
   count and its rules' counts). The fast path folds them into one statement per table, each
   conditioned count an ``agg(...) FILTER (WHERE <condition>)`` (``fast_hooks.one_scan_per_batch``),
   and the table's row count in the same statement (``fast_hooks.aggregates_together``: GX's map
   metrics declare the row count as a dependency they never read, which made it a scan of its own).

5. **A failed rule's samples and row keys in one query.** Pass 2's sample query of a column map
   rule is GX's own (same SELECT, WHERE, LIMIT) with the table's primary key added, run by
   :mod:`ytempire_dq.run.key_capture`; GX gets its values as the rule's ``unexpected_values`` metric, and
   when they are all the offending rows (at most the sample size) the quarantine gets their keys.
   The rules of a table whose bad rows all fit in a sample are read together, in one scan of the
   table for all of them (each its rows, by a flag per rule), with the keys of its failed row-filter
   SQL rules (lever 3).

6. **GX's kwargs built once per rule.** GX 1.24 rebuilds an expectation's ``configuration`` for
   every key ``_get_domain_kwargs``/``_get_success_kwargs`` read, on every call; while the fast path
   validates it is built once per rule (``fast_hooks.configuration_built_once_per_rule``; same values).

7. **One read for cross-table rules that read the same rows the same way.** Rules (of any type)
   whose classes say they read the same thing (``shared_read``: videos' sums of views and of
   revenue over analytics, and analytics' orphan ``video_id``s, all grouped by video) run as one
   statement (``shared_statement``: one ``GROUP BY`` of analytics, each rule's own rows tagged),
   and GX validates each from its share (:func:`_shared_reads`).

Pass 2 and the quarantine reuse every metric pass 1 resolved (``fast_hooks.reuse_metrics``: the same
metric, by id, on the same batch and the run's one snapshot): a failed rule's samples cost its
sample query, not a second count of its table.

``YTDQ_FAST=0`` in the environment turns them all off (GX's ``ValidationDefinition.run`` as is; the
benchmark's "before"). Assets that are not PostgreSQL tables (the Redis cache) run GX's own
validation with two levers of GX's Python only: each rule's kwargs built once, each row condition's
rows filtered once (:func:`run_dataframe_definition`).
"""

from __future__ import annotations

import logging
import os
from typing import Any, NamedTuple

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.gx import compat, fast_hooks
from ytempire_dq.gx import validator as gx_steps
from ytempire_dq.gx.results import raised
from ytempire_dq.locations import definition_table, definition_table_parts
from ytempire_dq.pii import mask_error
from ytempire_dq.run import key_capture
from ytempire_dq.sql_guard import SQL_RULE, is_statement_timeout
from ytempire_dq.values import plural

UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
NO_SAMPLES = {"result_format": "BASIC", "partial_unexpected_count": 0}
log = logging.getLogger(__name__)

#: The key of a validation result's meta where the fast path says what it did (read by
#: :func:`ytempire_dq.run.report.read_validation_result` into the run's ``fast_path``).
FAST_META = "ytdq_fast"

PROOF = "pg_index: unique, valid, live, immediate, no predicate, no expression"

PROOF_SQL = """
SELECT t.relname, i.relname, array_agg(a.attname::text ORDER BY k.ord), bool_and(a.attnotnull)
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE x.indisunique AND x.indisvalid AND x.indislive AND x.indimmediate
  AND x.indpred IS NULL AND x.indexprs IS NULL
  AND n.nspname = coalesce(:schema, current_schema())
GROUP BY t.relname, i.relname
"""


def enabled() -> bool:
    """False when ``YTDQ_FAST=0`` (or ``false``/``no``/``off``)."""
    return os.environ.get("YTDQ_FAST", "1").strip().lower() not in ("0", "false", "no", "off")


def unique_indexes(engine: Any, schema: str | None = None) -> dict[tuple[str, frozenset], tuple[str, bool]]:
    """``{(table, frozenset(columns)): (index name, all columns NOT NULL)}`` of the indexes that prove uniqueness."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text(PROOF_SQL), {"schema": schema}).fetchall()
    return {(table, frozenset(cols)): (index, bool(not_null)) for table, index, cols, not_null in rows}


def _unique_columns(exp: Any) -> frozenset | None:
    """The columns a plain uniqueness rule covers; None when it is not one we can prove."""
    if exp.expectation_type not in UNIQUE_TYPES:
        return None
    if getattr(exp, "row_condition", None) or getattr(exp, "mostly", 1) not in (None, 1, 1.0):
        return None
    cols = getattr(exp, "column_list", None) or [getattr(exp, "column", None)]
    return frozenset(cols) if all(cols) else None


def _postgres_table(vd: Any) -> tuple[str | None, str | None, Any]:
    """(table, schema, SQLAlchemy engine) of a validation definition's PostgreSQL table asset."""
    asset = vd.data.data_asset if hasattr(vd.data, "data_asset") else vd.asset
    table = getattr(asset, "table_name", None)
    get_engine = getattr(asset.datasource, "get_engine", None)
    if table is None or get_engine is None:
        return None, None, None
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return None, None, None
    schema, table = definition_table_parts(vd)
    return table, schema, engine


def _no_duplicates(exp: Any, observed: str, proved_by: dict) -> Any:
    """The clean result of uniqueness rule ``exp`` found without GX: ``observed`` says how (Data Docs
    shows it as the observed value), ``meta.proved_by`` the same as data."""
    from great_expectations.core import ExpectationValidationResult

    return ExpectationValidationResult(
        success=True,
        expectation_config=exp.configuration,
        result={
            "observed_value": observed,
            "unexpected_count": 0,
            "unexpected_percent": 0.0,
            "partial_unexpected_list": [],
        },
        meta={"proved_by": proved_by},
        exception_info={"raised_exception": False, "exception_traceback": None, "exception_message": None},
    )


def _proofs(vd: Any, expectations: list) -> dict[int, Any]:
    """``{position in suite: proved ExpectationValidationResult}`` (one catalog query)."""
    wanted = {i: cols for i, e in enumerate(expectations) if (cols := _unique_columns(e))}
    if not wanted:
        return {}
    table, schema, engine = _postgres_table(vd)
    if table is None:
        return {}
    indexes = unique_indexes(engine, schema)
    proved = {}
    for i, cols in wanted.items():
        exp = expectations[i]
        index, not_null = indexes.get((table, cols), (None, False))
        skips_missing = getattr(exp, "ignore_row_if", None) == "any_value_is_missing"
        if index is None or (len(cols) > 1 and not (not_null or skips_missing)):
            continue
        how = f"unique index {index} on {table} ({', '.join(sorted(cols))})"
        proved[i] = _no_duplicates(
            exp,
            f"0 duplicates: proved by {how} ({PROOF}); table not scanned",
            {"method": "unique_index", "index": index, "table": table, "columns": sorted(cols), "catalog": PROOF},
        )
    return proved


def _incremental_bound(vd: Any, run: Any) -> tuple[str, Any] | None:
    """``(column, since)`` an incremental run bounds ``vd``'s table by; None in a full run."""
    plan = getattr(run, "plan", None)
    if plan is None or not plan.incremental:
        return None
    spec = plan.tables.get(definition_table(vd))
    since = plan.since.get(spec.table) if spec is not None else None
    return (spec.column, since) if since is not None else None


def _bound_columns(vd: Any, run: Any) -> frozenset:
    """The column an incremental run bounds ``vd``'s table by (its scoped rules' ``column > since``):
    their counts stay apart from the whole-table scan, so they read the new rows only."""
    bound = _incremental_bound(vd, run)
    return frozenset({bound[0]}) if bound is not None else frozenset()


def duplicates_query(table: str, column: str, schema: str | None = None) -> Any:
    """Lever 1's fall-back for one column no unique index proves (``analytics.id`` when analytics
    is partitioned: its primary key is ``(id, date)``): the number of duplicated values, counted in
    one ``GROUP BY ... HAVING count(*) > 1`` scan, the least that can answer "none" (at 1M rows,
    partitioned: 0.58 s, GX's own count 1.25 s; ``benchmarks/results-partitioned.md``). None
    found: that is the result; some: GX counts and shows them. :func:`_scanned` runs it without a
    hash aggregate when an index leads with the column."""
    import sqlalchemy as sa

    col = sa.column(column)
    dup = sa.select(col).select_from(sa.table(table, col, schema=schema)).where(col.is_not(None))
    dup = dup.group_by(col).having(sa.func.count() > 1).subquery("d")
    return sa.select(sa.func.count()).select_from(dup)


def new_duplicates_query(table: str, column: str, bound: str, since: Any, schema: str | None = None) -> Any:
    """:func:`duplicates_query` in an incremental run: ``(new rows, duplicated values)``, the rows
    with ``bound > since`` (partition pruning keeps this on the newest partitions) and how many of
    their values of ``column`` the whole table holds more than once. One scan of the table, each row
    tested against a hash of the new values only, so the aggregate holds the new values, not every
    value of the table. A duplicate with a new row is found wherever the other row is; two old rows
    that share a value were found by the run that first saw the later one, and the full runs of
    ``--since-last`` (every ``full_sweep_every``) count the whole table again (a backfilled row,
    dated before ``since``, is not new)."""
    import sqlalchemy as sa

    def rows(alias: str) -> Any:
        return sa.table(table, sa.column(column), sa.column(bound), schema=schema).alias(alias)

    new, every = rows("n"), rows("o")
    is_new = new.c[bound] > sa.bindparam("since", since)
    new_values = sa.select(new.c[column]).where(is_new, new.c[column].is_not(None))
    dup = sa.select(every.c[column]).where(every.c[column].in_(new_values)).group_by(every.c[column])
    dup = dup.having(sa.func.count() > 1).subquery("d")
    new_rows = sa.select(sa.func.count()).select_from(new).where(is_new).scalar_subquery()
    return sa.select(new_rows, sa.select(sa.func.count()).select_from(dup).scalar_subquery())


#: The indexes whose first column is a table's column: read in their order, duplicates are
#: adjacent (a merge of each partition's index), where a hash aggregate of every value spills to
#: disk (96M uuids, ``work_mem`` 32 MB: 85-93 s hashed, 40 s in index order).
LEADING_INDEX_SQL = """
SELECT t.relname, a.attname::text, i.relname
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
WHERE x.indisvalid AND x.indislive AND x.indpred IS NULL AND am.amname = 'btree'
  AND n.nspname = coalesce(:schema, current_schema())
ORDER BY i.relname
"""


def _scanned(vd: Any, expectations: list, proved: dict, run: Any = None) -> dict[int, Any]:
    """``{position: clean ExpectationValidationResult}`` of the one-column uniqueness rules that
    :func:`_proofs` could not prove and that are found clean on one connection for them all: in an
    incremental run, by the new rows' values (:func:`new_duplicates_query`); else by one scan of the
    table (:func:`duplicates_query`), in the order of an index that leads with the column when
    there is one (``enable_hashagg = off`` for its transaction: the planner then reads the index
    or sorts, either way without a hash table of every value)."""
    import sqlalchemy as sa

    wanted = {
        i: cols
        for i, e in enumerate(expectations)
        if i not in proved and (cols := _unique_columns(e)) and len(cols) == 1
    }
    if not wanted:
        return {}
    table, schema, engine = _postgres_table(vd)
    if table is None:
        return {}
    bound = _incremental_bound(vd, run)
    clean = {}
    with engine.connect() as conn:
        leading = {}
        if bound is None:
            for name, column, index in conn.execute(sa.text(LEADING_INDEX_SQL), {"schema": schema}):
                leading.setdefault((name, column), index)
        for i, cols in wanted.items():
            (column,) = cols
            index = leading.get((table, column))
            try:
                if bound is not None:
                    new_rows, found = conn.execute(new_duplicates_query(table, column, *bound, schema)).one()
                else:
                    if index is not None:
                        conn.exec_driver_sql("SET LOCAL enable_hashagg = off")
                    found = conn.execute(duplicates_query(table, column, schema)).scalar()
                conn.rollback()  # (a SET LOCAL ends with its transaction) the next one on the run's snapshot again
            except Exception as exc:  # noqa: BLE001 - GX runs the rule and reports what it meets
                conn.rollback()  # the next statement begins afresh (on the run's snapshot again)
                rule_id = (expectations[i].meta or {}).get("rule_id")
                log.info("fast path: rule %s counted by GX: %s", rule_id, _cause(exc))
                continue
            if found:
                continue
            if bound is not None:
                observed = (
                    f"0 duplicates with a new row: {plural(new_rows, 'row')} with {bound[0]} > {bound[1]}, their "
                    f"{column} values against every row of {table} (a full run counts the whole table)"
                )
                how = {"method": "new_rows_scan", "since": str(bound[1])}
            else:
                order = f" in the order of index {index}" if index else ""
                observed = (
                    f"0 duplicates: counted by one GROUP BY scan of {table}{order} (no unique index on "
                    f"{column} alone proves it)"
                )
                how = {"method": "group_by_scan", **({"index": index} if index else {})}
            clean[i] = _no_duplicates(expectations[i], observed, {**how, "table": table, "columns": [column]})
    return clean


class FellBack(list):
    """The fast path's fall-backs to GX alone in one validation: ``{"rule_id", "cause"}`` each,
    logged as it happens; the run report counts them (``fast_path`` in ``--json``)."""

    def add(self, exp: Any, step: str, exc: BaseException | str) -> None:
        rule_id = (exp.meta or {}).get("rule_id") or f"? ({exp.expectation_type} {exp.id})"
        # every value PostgreSQL quotes masked: the cause is for diagnosis, it never needs the data
        cause = mask_error(config.mask_secrets(f"{step}: {exc if isinstance(exc, str) else _cause(exc)}"), True)
        log.warning("fast path: rule %s falls back to GX alone (%s)", rule_id, cause)
        self.append({"rule_id": rule_id, "cause": cause})


def _cause(exc: BaseException) -> str:
    """``<exception class>: <first line of its message>`` (a driver error's own message, without
    the statement SQLAlchemy appends, which may quote data)."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {config.one_line(first, 300)}" if first else type(exc).__name__


class _Folded(NamedTuple):
    """A SQL rule counted in its table's scan (:mod:`ytempire_dq.run.row_filters`)."""

    rule: Any  # as GX validates it (suite parameters substituted, batch_id set)
    table_metric: Any  # its ``unexpected_rows_query.table`` and ``.row_count`` metrics
    count: Any
    metric: Any  # the ``gx.row_filter_count`` metric that counts it in the table's statement
    returns_key: bool  # its rows carry the table's primary key: keys read with the others'


def _sql_rules(
    validator: Any, expectations: list, vd: Any, captured: Any, fell_back: FellBack, folded: dict
) -> dict[int, Any]:
    """``{position in suite: GX's result}`` of the SQL rules whose count alone decides them: each
    query runs once, in :func:`ytempire_dq.store.row_keys.capture` (its count and, for the quarantine,
    its rows' keys, ``captured.keys[(vd.name, id)]``); a query that raises there is counted by GX's
    ``row_count`` metric instead (GX's error, its way). Then GX's own ``metrics_validate``. A rule
    this cannot take is left to GX alone, in ``fell_back`` with its cause. A rule that only filters
    its table's rows goes into ``folded`` instead (``{position: _Folded}``): pass 1 counts it in the
    table's statement, and :func:`_folded_sql_rules` gives its result."""
    wanted = {i: e for i, e in enumerate(expectations) if e.expectation_type == SQL_RULE}
    if not wanted:
        return {}
    gx_validator = gx_steps.legacy(validator)  # the batch pass 1 validates (built once)
    runtime = {"result_format": dict(NO_SAMPLES)}
    rules = {}
    for i, exp in wanted.items():
        try:  # as GX validates it: suite parameters substituted, batch_id set
            rules[i] = gx_steps.prepared_rule(
                gx_validator, exp, runtime, ("unexpected_rows_query.table", "unexpected_rows_query.row_count")
            )
        except gx_steps.prepare_errors() as exc:  # GX runs it and reports any error its own way
            fell_back.add(exp, "preparing the rule", exc)
    folded.update(_row_filters(gx_validator, rules, vd, captured))
    return _counted_by_query(
        gx_validator, {i: r for i, r in rules.items() if i not in folded}, expectations, vd, captured, fell_back
    )


def _row_filters(gx_validator: Any, rules: dict, vd: Any, captured: Any) -> dict[int, _Folded]:
    """The prepared ``rules`` (``{position: (rule, (table metric, count metric))}``) that only filter
    the rows of the batch's table and whose condition plans (:mod:`ytempire_dq.run.row_filters`)."""
    from ytempire_dq.gx import row_filter_count
    from ytempire_dq.run import row_filters
    from ytempire_dq.store import row_keys

    if not rules:
        return {}
    engine, table = gx_validator.execution_engine, _batch_table(gx_validator)
    if table is None:  # a query asset or a filtered batch: each rule its own query
        return {}
    name = engine.engine.dialect.identifier_preparer.format_table(table)
    found = {}
    for i, (rule, _) in rules.items():
        if (filtered := row_filters.of_rule(rule.unexpected_rows_query, table, name)) is not None:
            found[i] = filtered
    if not found:
        return {}
    with engine.engine.connect() as conn:  # the run's snapshot, read-only, the statement timeout
        planned = row_filters.planning(conn, table, sorted({condition for condition, _ in found.values()}))
        known = captured.primary_keys if captured is not None else None
        pk = row_keys.primary_key(conn, definition_table(vd), known)
        conn.rollback()
    folded = {}
    for i, (condition, outputs) in found.items():
        if condition in planned:
            rule, (table_metric, count) = rules[i]
            keyed = bool(pk) and ("*" in outputs or set(pk) <= set(outputs))
            folded[i] = _Folded(
                rule, table_metric, count, row_filter_count.metric(count.metric_domain_kwargs, condition), keyed
            )
    return folded


def _batch_table(gx_validator: Any) -> Any:
    """The ``sa.Table`` the validator's batch reads whole (``fast_hooks.whole_table``), or None."""
    from great_expectations.core.metric_domain_types import MetricDomainTypes

    engine = gx_validator.execution_engine
    batch, _, _ = engine.get_compute_domain(
        {"batch_id": gx_validator.active_batch_id}, domain_type=MetricDomainTypes.TABLE
    )
    return fast_hooks.whole_table(batch)


def _counted_by_query(
    gx_validator: Any, rules: dict, expectations: list, vd: Any, captured: Any, fell_back: FellBack
) -> dict[int, Any]:
    """GX's results of the prepared ``rules``, each counted by running its own query once
    (:func:`_sql_rules`)."""
    import sqlalchemy as sa

    from ytempire_dq.sql_guard import RefusedSQL
    from ytempire_dq.store import run_store

    engine, done, counted = gx_validator.execution_engine, {}, {}
    store = run_store.running()
    failed_before = store.last_failures() if store is not None else None
    for i, (rule, (_, count)) in list(rules.items()):
        exp = expectations[i]
        rule_id = (exp.meta or {}).get("rule_id")  # what the history keeps a rule's outcome by
        passed_before = failed_before is not None and rule_id is not None and rule_id not in failed_before
        try:  # on GX's engine: the run's snapshot, read-only, the statement timeout
            keys = _captured_keys(gx_validator, rule, vd, captured, count_first=passed_before)
        except (sa.exc.SQLAlchemyError, RefusedSQL) as exc:  # GX's own count below gives GX's error ...
            if is_statement_timeout(exc):  # ... unless it timed out: a timeout bounds a rule once
                done[i] = compat.errored_result(exp.configuration, exc)
                del rules[i]
            else:
                fell_back.add(exp, "counting its rows", exc)
            continue
        counted[count.id] = keys.total
        if keys.total and captured is not None:
            captured.keys[(vd.name, exp.id)] = keys
    missing = [count for _, (_, count) in rules.values() if count.id not in counted]
    if missing:
        more, _aborted = gx_validator.compute_metrics(missing, {"result_format": dict(NO_SAMPLES)})
        counted.update(more)
    for i, (rule, (table_metric, count)) in rules.items():
        if count.id in counted:  # an aborted count (bad SQL) is left to GX (already in fell_back)
            _validated(done, i, expectations[i], rule, table_metric, count, counted[count.id], engine, fell_back)
    return done


def _captured_keys(gx_validator: Any, rule: Any, vd: Any, captured: Any, count_first: bool = False) -> Any:
    """:func:`ytempire_dq.store.row_keys.capture` of ``rule``'s own query, on GX's engine.

    ``count_first`` (the rule passed in the checkpoint's earlier run): its rows are counted first,
    as GX counts them (``SELECT count(*)``, which PostgreSQL may answer from an index alone, where
    reading keys visits every row it returns: at 96.6M rows 0.4 s against 8 to 10 s for
    ``analytics.only_for_published_videos``), and their keys read only if there are any. A rule
    that failed before (or has no ``rule_id`` to look it up by) goes straight to its keys: one
    statement instead of two."""
    from ytempire_dq.store import row_keys

    rows = row_keys.query_rule_rows(gx_validator, rule)
    known = captured.primary_keys if captured is not None else None  # the run's
    with gx_validator.execution_engine.engine.connect() as conn:
        if count_first and not row_keys.count(conn, rows):
            keys = row_keys.Keys([], 0)
        else:
            keys = row_keys.capture(conn, rows, definition_table(vd), known)
        conn.rollback()
    return keys


def _validated(
    done: dict, i: int, exp: Any, rule: Any, table_metric: Any, count: Any, total: int, engine: Any, fell_back: FellBack
) -> None:
    """``done[i]``: GX's own ``metrics_validate`` of a SQL rule given its count (and no rows: pass 1
    shows none)."""
    try:
        done[i] = rule.metrics_validate(
            metrics={table_metric.id: [], count.id: total},
            execution_engine=engine,
            runtime_configuration={"result_format": dict(NO_SAMPLES)},
        )
    except gx_steps.prepare_errors() as exc:
        fell_back.add(exp, "validating its count", exc)


def _folded_sql_rules(
    validator: Any, known: dict, folded: dict, expectations: list, vd: Any, captured: Any, fell_back: FellBack
) -> tuple[dict[int, Any], dict]:
    """GX's results of the ``folded`` rules, from the counts pass 1 read in their table's statement
    (``known``, the validator's resolved metrics). A count that is missing (its statement failed)
    is counted by the rule's own query, as any other SQL rule. The failed rules' row keys, for
    the quarantine: by its own query for a rule with more than ``CAPTURE_LIMIT`` rows or without
    the table's primary key among its columns; the others are returned (``{expectation id:
    (condition, count)}``), to be read all in one scan: with the column map rules' samples
    (``key_capture.samples_with_keys``), else :func:`_filters_keys`."""
    import sqlalchemy as sa

    from ytempire_dq.store import row_keys

    gx_validator = gx_steps.legacy(validator)
    engine = gx_validator.execution_engine
    counted = {i: int(known[f.metric.id]) for i, f in folded.items() if known.get(f.metric.id) is not None}
    uncounted = {i: (f.rule, (f.table_metric, f.count)) for i, f in folded.items() if i not in counted}
    done = _counted_by_query(gx_validator, uncounted, expectations, vd, captured, fell_back)
    for i, total in counted.items():
        f = folded[i]
        _validated(done, i, expectations[i], f.rule, f.table_metric, f.count, total, engine, fell_back)
    failed = {i: total for i, total in counted.items() if total}
    if captured is None or not failed:
        return done, {}
    together = {
        i: (folded[i].metric.metric_value_kwargs["condition"], total)
        for i, total in failed.items()
        if folded[i].returns_key and total <= row_keys.CAPTURE_LIMIT
    }
    try:
        for i in failed.keys() - together.keys():
            captured.keys[(vd.name, expectations[i].id)] = _captured_keys(gx_validator, folded[i].rule, vd, captured)
    except sa.exc.SQLAlchemyError as exc:  # the quarantine reads the keys itself
        log.info("fast path: row keys of %s left to the quarantine: %s", vd.name, _cause(exc))
    return done, {expectations[i].id: read for i, read in together.items()}


def _filters_keys(validator: Any, filters: dict, vd: Any, captured: Any) -> None:
    """``captured.keys`` of the failed row-filter rules ``filters`` (:func:`_folded_sql_rules`) in one
    scan of their table (:func:`ytempire_dq.run.row_filters.capture_keys`)."""
    import sqlalchemy as sa

    from ytempire_dq.run import row_filters

    gx_validator = gx_steps.legacy(validator)
    try:
        with gx_validator.execution_engine.engine.connect() as conn:
            read = row_filters.capture_keys(
                conn, _batch_table(gx_validator), definition_table(vd), filters, captured.primary_keys
            )
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:  # the quarantine reads the keys itself
        log.info("fast path: row keys of %s left to the quarantine: %s", vd.name, _cause(exc))
        return
    captured.keys.update({(vd.name, exp_id): keys for exp_id, keys in read.items()})


ROW_COUNT_BAND = "expect_table_row_count_to_be_within_history_band"
#: The table domain of the row count pass 1 reads with the table's counts (``table.row_count`` as
#: GX's expectations depend on it): all four table domain keys.
TABLE_DOMAIN = ("batch_id", "table", "row_condition", "condition_parser")


def _row_count_bands(validator: Any, expectations: list, result_format: Any, fell_back: FellBack) -> dict[str, Any]:
    """``{expectation id: GX's result}`` of the row-count drift rules that count the batch's whole
    table (no ``where``): their value is the table's row count, which pass 1 read in the table's
    statement, so their own ``count(*)`` (at 10M analytics rows, 0.24 s) is not run. GX's own
    ``metrics_validate`` builds each result from it, with the checkpoint's result format."""
    from ytempire_dq.expectations._history_band import VALUE

    gx_validator = gx_steps.legacy(validator)
    table = _batch_table(gx_validator)
    if table is None:
        return {}
    name = table.name if table.schema is None else f"{table.schema}.{table.name}"
    wanted = [e for e in expectations if e.expectation_type == ROW_COUNT_BAND and not e.where and e.table == name]
    if not wanted:
        return {}
    domain = dict.fromkeys(TABLE_DOMAIN) | {"batch_id": gx_validator.active_batch_id}
    try:  # pass 1's, when it counted the table (else counted now, once for them all)
        rows = gx_steps.resolved_metric(validator, "table.row_count", domain)
    except gx_steps.prepare_errors() as exc:
        for exp in wanted:
            fell_back.add(exp, "reading the table's row count", exc)
        return {}
    runtime = {"result_format": result_format}
    done = {}
    for exp in wanted:
        try:
            rule, (table_metric,) = gx_steps.prepared_rule(gx_validator, exp, runtime, ("unexpected_rows_query.table",))
        except gx_steps.prepare_errors() as exc:
            fell_back.add(exp, "preparing the rule", exc)
            continue
        try:
            done[exp.id] = rule.metrics_validate(
                metrics={table_metric.id: [{VALUE: float(rows)}]},
                execution_engine=gx_validator.execution_engine,
                runtime_configuration=dict(runtime),
            )
        except Exception as exc:  # noqa: BLE001 - its own check raised (no history to read, say):
            log.info("fast path: rule %s validated by GX: %s", (exp.meta or {}).get("rule_id"), _cause(exc))
    return done  # (GX validates it as the others, and records the error its own way)


def _shared_reads(validator: Any, expectations: list, result_format: Any) -> dict:
    """``{metric id: rows}``: the ``unexpected_rows_query.table`` metric of the rules among
    ``expectations`` that read the same rows the same way as another (their ``shared_read``, of
    any type: videos' two sums of analytics and analytics' orphans), one statement per group
    (``CrossTableExpectation.shared_statement``)
    instead of one query each; for ``reuse_metrics``' ``known``, so GX validates them from it. A
    group whose statement cannot be built or run is left to GX (each rule its own query, its errors
    GX's)."""
    import sqlalchemy as sa

    from ytempire_dq.expectations._cross_table import TABLE_METRIC, plain_sql

    gx_validator = gx_steps.legacy(validator)
    runtime = {"result_format": result_format}
    groups: dict[tuple, list] = {}
    for exp in expectations:
        if getattr(exp, "shared_read", None) is None:
            continue
        try:  # as GX validates it: suite parameters substituted, batch_id set
            rule, (metric,) = gx_steps.prepared_rule(gx_validator, exp, runtime, (TABLE_METRIC,))
        except gx_steps.prepare_errors():
            continue
        if (shared := rule.shared_read()) is not None:
            groups.setdefault(shared, []).append((rule, metric))
    known = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        kind = type(members[0][0])  # shared_statement is CrossTableExpectation's, whatever the types
        try:
            statement, names = kind.shared_statement([rule for rule, _ in members])
            text = sa.text(plain_sql(statement).replace(":", "\\:"))  # as GX runs a rule's query
            rows = gx_validator.execution_engine.execute_query(text).fetchall()
        except (sa.exc.SQLAlchemyError, *gx_steps.prepare_errors()) as exc:
            kinds = ", ".join(sorted({type(rule).__name__ for rule, _ in members}))
            log.info("fast path: %d rules (%s) read each its own way: %s", len(members), kinds, _cause(exc))
            continue
        read: list[list[dict]] = [[] for _ in members]
        for row in rows:
            i = row.dq_rule
            read[i].append({name: row._mapping[f"dq_{i}_{k}"] for k, name in enumerate(names[i])})
        known.update({metric.id: mine for (_, metric), mine in zip(members, read)})
    return known


def _samples_with_count(exp: Any) -> bool:
    """A rule whose one query returns its count and its sample (a cross-table rule): pass 1 runs it
    with the checkpoint's result format, so its stored result has GX's sample rows, at no cost."""
    return bool(getattr(exp, "samples_with_count", False))  # declared on the class (expectations._cross_table)


def _suite(name: str, expectations: list) -> Any:
    from great_expectations.core import ExpectationSuite

    # from configurations (not copies of the Expectations): they keep their ids, so the stored
    # results point at the suite's expectations as GX's own would
    return ExpectationSuite(name=name, expectations=[e.configuration for e in expectations])


def _by_id(vr: Any) -> dict[str, Any]:
    """``{expectation id: result}``; results are joined to rules by id, never by position or rule_id."""
    by_id = {evr.expectation_config.id: evr for evr in vr.results}
    if None in by_id or len(by_id) != len(vr.results):
        raise YtdqError(f"suite {vr.suite_name!r}: GX returned results without an expectation id or sharing one")
    return by_id


def _check_ids(vd: Any, expectations: list) -> None:
    """Every rule has its own id (the suite store gives id-less rules one; a file may still repeat one)."""
    ids = [e.id for e in expectations]
    if None in ids or len(set(ids)) != len(ids):
        raise YtdqError(
            f"suite {vd.suite.name!r}: expectations without an id or sharing one; "
            "run `ytdq suite lint` (and `ytdq suite lint --fix` to write the missing ids)"
        )


def _sample_format(result_format: Any, sampled: list) -> dict | None:
    """Pass 2's result format: the checkpoint's, asking for no more samples than there are bad
    rows (``LIMIT 5`` when 5 rows are bad, so the sample query stops at the 5th instead of
    scanning on for a 20th that does not exist). None when the checkpoint wants no samples."""
    if isinstance(result_format, dict):
        fmt = dict(result_format)
    else:  # a str or GX's ResultFormat enum
        fmt = {"result_format": str(getattr(result_format, "value", result_format))}
    if str(fmt["result_format"]).upper() == "BOOLEAN_ONLY" or fmt.get("partial_unexpected_count") == 0:
        return None
    known = [(evr.result or {}).get("unexpected_count") for evr in sampled]
    wanted = fmt.get("partial_unexpected_count", 20)
    if known and all(isinstance(k, int) for k in known):
        wanted = max(1, min(wanted, max(known)))
    fmt["partial_unexpected_count"] = wanted
    return fmt


def _wants_samples(evr: Any, fmt: dict | None) -> bool:
    """A rule that pass 2 can give samples: a map rule with bad rows (failed, or passing under
    ``mostly``) and no samples yet. Query rules are not re-run: ours count and sample in pass 1's
    one query; GX's ``unexpected_rows_expectation`` returns rows only under COMPLETE, for a failed
    rule (then it is re-run)."""
    result = evr.result or {}
    if fmt is None or raised(evr):
        return False
    if "unexpected_count" in result:
        return bool(result["unexpected_count"]) and not result.get("partial_unexpected_list")
    return not evr.success and str(fmt["result_format"]).upper() == "COMPLETE" and "details" not in result


def run_definition(
    vd: Any, *, checkpoint_id: str | None, result_format: Any, run_id: Any, captured: Any = None, run: Any = None
) -> Any:
    """``vd.run(checkpoint_id=..., result_format=..., run_id=...)`` with the levers above: the
    same stored ``ExpectationSuiteValidationResult`` (rules in suite order), found faster.
    ``captured`` (:class:`ytempire_dq.store.row_keys.Captured`) receives the SQL rules' row keys (lever
    3) and the validator, whose resolved metrics the quarantine's queries reuse. ``run``
    (:class:`ytempire_dq.run.state.Run`): the run's incremental plan scopes the rules (None: all whole)."""

    if not enabled() or _postgres_table(vd)[0] is None:
        return vd.run(checkpoint_id=checkpoint_id, result_format=result_format, run_id=run_id)
    with fast_hooks.configuration_built_once_per_rule():  # lever 6: GX's Python, same values
        return _run_fast(vd, checkpoint_id, result_format, run_id, captured, run)


def run_dataframe_definition(
    vd: Any, *, checkpoint_id: str | None, result_format: Any, run_id: Any, batch_parameters: dict
) -> Any:
    """``vd.run(...)`` of a dataframe asset (the cache's batch, handed in as ``batch_parameters``)
    with the levers that apply to GX's pandas engine: each rule's kwargs built once (lever 6) and
    each row condition's rows filtered once."""
    kwargs = {"checkpoint_id": checkpoint_id, "result_format": result_format, "run_id": run_id}
    if not enabled():
        return vd.run(batch_parameters=batch_parameters, **kwargs)
    with fast_hooks.configuration_built_once_per_rule(), fast_hooks.row_conditions_filtered_once():
        return vd.run(batch_parameters=batch_parameters, **kwargs)


def _run_fast(
    vd: Any, checkpoint_id: str | None, result_format: Any, run_id: Any, captured: Any, run: Any = None
) -> Any:
    diagnostics = vd.is_fresh()  # as ValidationDefinition.run: a definition not saved yet is saved
    if not diagnostics.success:
        if not diagnostics.parent_added and diagnostics.children_added:
            compat.save_definition(vd)
        else:
            diagnostics.raise_for_error()

    if run_id is None:
        run_id = gx_steps.new_run_id()
    # an incremental run: the append-mostly table's row-level rules on its new rows only
    expectations = run.scoped(vd, list(vd.suite.expectations)) if run is not None else list(vd.suite.expectations)
    _check_ids(vd, expectations)
    results = _proofs(vd, expectations)
    proved = len(results)
    results.update(_scanned(vd, expectations, results, run))
    scanned = len(results) - proved
    validator = gx_steps.new_validator(vd.batch_definition, NO_SAMPLES)
    with_aggregates: list = []  # the folded SQL rules' counts, in the statements of pass 1's counts
    known = fast_hooks.reuse_metrics(validator, with_aggregates)  # pass 2 does not count again what pass 1 counted
    if captured is not None:
        captured.validators[vd.name] = gx_steps.legacy(validator)
    fell_back, folded = FellBack(), {}
    results.update(_sql_rules(validator, expectations, vd, captured, fell_back, folded))
    with_aggregates.extend(f.metric for f in folded.values())
    rest = [e for i, e in enumerate(expectations) if i not in results and i not in folded]
    # ours count and sample in their one query whatever the format: run with the checkpoint's
    own_format = [e for e in rest if _samples_with_count(e)]
    rest = [e for e in rest if not _samples_with_count(e)]
    # lever 4: the counts of the rules with and without a row_condition in one scan of the table
    bound = _bound_columns(vd, run)  # an incremental run's bound: its new rows keep their index range
    with fast_hooks.one_scan_per_batch(gx_steps.legacy(validator).execution_engine, bound):
        first = validator.validate_expectation_suite(_suite(vd.suite.name, rest))
        with_aggregates.clear()  # none left once pass 1 counted something (else: their own queries)
        done, filters = _folded_sql_rules(validator, known, folded, expectations, vd, captured, fell_back)
        results.update(done)
        by_id = _by_id(first)
        by_id.update({expectations[i].id: evr for i, evr in results.items()})
        if own_format:
            validator.result_format = result_format
            bands = _row_count_bands(validator, own_format, result_format, fell_back)
            by_id.update(bands)
            if own_format := [e for e in own_format if e.id not in bands]:
                known.update(_shared_reads(validator, own_format, result_format))
                by_id.update(_by_id(validator.validate_expectation_suite(_suite(vd.suite.name, own_format))))
            validator.result_format = NO_SAMPLES
        fmt = _sample_format(result_format, [])
        sampled = [e for e in expectations if _wants_samples(by_id[e.id], fmt)]
        fmt = _sample_format(result_format, [by_id[e.id] for e in sampled])
        if sampled and fmt is not None:
            if captured is not None:  # their samples read with their rows' keys (lever 5), and the filters'
                filters = key_capture.samples_with_keys(
                    validator, known, sampled, by_id, fmt, vd, captured, fell_back, bound, filters
                )
            validator.result_format = fmt  # same batch, only the rules with bad rows, now with samples
            by_id.update(_by_id(validator.validate_expectation_suite(_suite(vd.suite.name, sampled))))
    ordered = [by_id[e.id] for e in expectations]
    if filters:  # not read with the samples: a scan of their own
        _filters_keys(validator, filters, vd, captured)
    if captured is not None:
        key_capture.keys_from_results(validator, expectations, by_id, vd, captured)

    in_scan = sum(known.get(f.metric.id) is not None for f in folded.values())  # (the rest: their own queries)
    fast = {
        "rules": len(expectations),  # every rule of the definition went through the fast path ...
        "fell_back": list(fell_back),  # ... these steps of these rules to GX alone (logged)
        "proved_by_index": proved,
        "unique_by_one_scan": scanned,
        "sql_rules_counted_only": len(results) - proved - scanned - in_scan,
        "sql_rules_in_table_scan": in_scan,
        "sample_pass_rules": len(sampled) if fmt is not None else 0,
    }
    vr = gx_steps.suite_result(
        first,
        ordered,
        suite_name=vd.suite.name,
        vd_id=vd.id,
        checkpoint_id=checkpoint_id,
        run_id=run_id,
        extra_meta={FAST_META: fast},
    )
    compat.store_validation_result(vd, validator, run_id, vr)
    return vr
