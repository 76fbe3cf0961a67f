"""Quarantine: the keys of every offending row of each failed rule, in ``dq.quarantine``.

Quarantine holds the keys of **all** offending rows of each failed rule, not GX's 200-row sample.
Reading them costs a scan per failed rule, so a run reads them at most once, and usually not at
all after validating (:mod:`ytempire_dq.store.row_keys`):

- the fast path has them already for SQL rules (counted and keyed in one statement), for column
  map rules whose sample holds every offending row (the sample query carries the primary key), and
  for cross-table rules whose result lists every offending parent (:class:`~ytempire_dq.store.row_keys.
  Captured`); they are ``COPY``'d in;
- otherwise :func:`~ytempire_dq.store.row_keys.capture` reads the count and up to 10,000 keys in one
  statement PostgreSQL may run with parallel workers; past that, the keys never travel through
  Python: one ``INSERT INTO dq.quarantine ... SELECT`` per rule for SQL the project generates,
  streamed (server-side cursor, READ ONLY) for an analyst's query.

The offending rows, per kind of rule:

- **map rules** (``expect_column_values_*``, compound unique, column pairs): the primary key of
  the rows GX's own unexpected condition selects, on the domain GX validates (row_condition and
  ignore_row_if applied), as GX's ``unexpected_rows`` metric builds it, without its limit. (GX's
  ``unexpected_index_query`` is not used: in 1.24 it drops ``row_condition`` and its compound
  unique query does not run on PostgreSQL.)
- **our custom rules** (:mod:`ytempire_dq.expectations`): what the rule's class declares
  (``offending_keys_select``): a cross-table rule's generated ``offending_rows()`` without the
  sample limit, for orphans every child row referencing a missing value; a volume/drift rule
  (a metric) and a cross-store rule (the Redis batch) have no rows to key.
- **``unexpected_rows_expectation``**: the analyst's query, ``{batch}`` filled in by GX, no limit.
  Untrusted text is never wrapped in a writing statement: checked to be one SELECT
  (:mod:`ytempire_dq.sql_guard`), its keys are read in a READ ONLY transaction with the statement
  timeout (server-side cursor) and `COPY`'d in batch by batch in the history's transaction.

``row_key`` is ``{"<pk column>": value, ...}`` when the rows carry the table's primary key, else
the whole offending row as JSON without its personal-data columns (``pii.PII_NAMES``; aggregate
rules key on the parent row they name).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ytempire_dq import config
from ytempire_dq.gx import compat
from ytempire_dq.locations import definition_table
from ytempire_dq.pii import mask_text
from ytempire_dq.run.report import RunReport, rule_key
from ytempire_dq.store.row_keys import capture, primary_key, query_rule_rows, row_key

if TYPE_CHECKING:
    from ytempire_dq.run.state import Run

log = logging.getLogger(__name__)

QUARANTINE = sa.table(
    "quarantine", *(sa.column(c) for c in ("run_id", "rule_id", "table_name", "row_key", "quarantined_at")), schema="dq"
)


def quarantine_failed_rules(
    report: RunReport,
    ctx: Any,
    vds: list,
    engine: sa.Engine,
    at: dt.datetime,
    write: sa.Connection,
    run: Run,
) -> dict:
    """Quarantine the failed rules' rows in ``write``'s transaction (the one that wrote the run's
    ``dq.runs`` row: under the run's snapshot a later transaction would not see it), each rule in
    a savepoint, so one rule's keys failing loses only its own (named in ``report.warnings``);
    ``engine`` reads; ``run``: the run (its plan's scoped rules, and ``run.captured``: what the
    validation already read, :class:`~ytempire_dq.store.row_keys.Captured`)."""
    failed = [v for v in report.validations if any(not r.success and r.error is None for r in v.results)]
    if not failed:
        return {}
    counts: dict[str, int] = {}
    captured = run.captured
    for vd, validation in zip(vds, report.validations):
        if validation not in failed:
            continue
        keyer = _Keyer(ctx, vd, engine, captured.validators.get(vd.name), captured.primary_keys)
        # every loaded expectation has its own id; an incremental run's rules as they ran (new rows only)
        by_id = {e.id: e for e in run.scoped(vd, vd.suite.expectations)}
        for rule in validation.results:
            if rule.success or rule.error is not None:
                continue
            key = rule_key(rule, validation.suite)
            try:
                expectation = by_id.get(rule.expectation_id)
                known = captured.keys.get((vd.name, rule.expectation_id))
                if known is not None and known.complete:  # read with its count: no second scan
                    with write.begin_nested():
                        counts[key] = _copy_in(
                            Rows(write, known.table or keyer.table(), report.run_id, key, at), known.keys
                        )
                    continue
                keys = keyer.keys(expectation)
                if keys is None:
                    continue
                select, table = keys
                with write.begin_nested():
                    counts[key] = _quarantine_keys(
                        engine,
                        Rows(write, table, report.run_id, key, at),
                        select,
                        untrusted=_is_query_rule(expectation),
                        known=captured.primary_keys,
                    )
            except Exception as exc:  # noqa: BLE001 - one rule's keys failing must not lose the rest
                reason = mask_text(config.one_line(exc, 400))
                log.error("run %s: offending rows of %s not quarantined: %s", report.run_id, key, reason)
                report.warnings.append(f"offending rows of {key} not quarantined: {reason}")  # never only logged
                continue
            if rule.unexpected_count is not None and counts[key] != rule.unexpected_count:
                log.warning(
                    "run %s: %s quarantined %d row keys but reported %d offending rows",
                    report.run_id,
                    key,
                    counts[key],
                    rule.unexpected_count,
                )
    return counts


def _is_query_rule(expectation: Any) -> bool:
    from great_expectations.expectations.core.unexpected_rows_expectation import (
        UnexpectedRowsExpectation,
    )

    return isinstance(expectation, UnexpectedRowsExpectation)


#: Row keys of an analyst's SQL rule are read and inserted this many at a time.
KEY_BATCH = 5000


@dataclass(frozen=True)
class Rows:
    """Where one failed rule's keys go: ``dq.quarantine`` rows of ``run_id``/``rule_id`` for rows of
    ``table``, written on ``write`` (the run's history transaction), stamped ``at``."""

    write: sa.Connection
    table: str
    run_id: str
    rule_id: str
    at: dt.datetime


def _quarantine_keys(
    engine: sa.Engine, rows: Rows, select: sa.Selectable, *, untrusted: bool, known: dict | None = None
) -> int:
    """The row keys of ``select`` (a subquery ``q``) into ``dq.quarantine`` as ``rows``; how many.

    Read with their count by :func:`capture` in a READ ONLY transaction with the statement timeout
    (:mod:`ytempire_dq.sql_guard`) and ``COPY``'d in: one parallel-capable statement, usually every
    key. Past :data:`CAPTURE_LIMIT` rows they never all travel through Python at once: SQL the
    project generates becomes one ``INSERT ... SELECT`` (server-side); an analyst's query
    (``untrusted``) is never wrapped in a writing statement, so its keys are streamed from the
    read-only transaction and copied in batch by batch. ``known``: the run's primary keys."""
    from ytempire_dq.sql_guard import begin_read_only, guard

    with engine.connect() as read:
        guard(read)  # what reads here is checked as sent, like every statement of the run's engines
        begin_read_only(read)
        keys = capture(read, select, rows.table, known)
        read.rollback()
        if keys.complete:
            return _copy_in(rows, keys.keys)
        if untrusted:
            return _stream_keys(read, rows, select, known)
    return _insert_select(rows, select, known)


def _stream_keys(read: sa.Connection, rows: Rows, select: sa.Selectable, known: dict | None = None) -> int:
    """The keys of an analyst's query through a server-side cursor in a READ ONLY transaction."""
    from ytempire_dq.sql_guard import begin_read_only

    count = 0
    begin_read_only(read)
    pk = primary_key(read, rows.table, known)
    keys = read.execution_options(stream_results=True, yield_per=KEY_BATCH).execute(
        sa.select(sa.cast(row_key(pk), sa.Text)).select_from(select)
    )
    for batch in keys.partitions():
        count += _copy_in(rows, [k for (k,) in batch])
    read.rollback()
    return count


def _copy_in(rows: Rows, keys: list[str]) -> int:
    """``COPY`` row keys (JSON texts) into ``dq.quarantine`` as ``rows``; how many."""
    copy = "COPY dq.quarantine (run_id, rule_id, table_name, quarantined_at, row_key) FROM STDIN WITH (FORMAT csv)"
    buffer = io.StringIO()
    csv.writer(buffer).writerows((rows.run_id, rows.rule_id, rows.table, rows.at.isoformat(), k) for k in keys)
    buffer.seek(0)
    with rows.write.connection.driver_connection.cursor() as cur:
        cur.copy_expert(copy, buffer)
    return len(keys)


def _insert_select(rows: Rows, select: sa.Selectable, known: dict | None = None) -> int:
    """One ``INSERT INTO dq.quarantine ... SELECT`` of the keys: only for SQL the project generates."""
    key = row_key(primary_key(rows.write, rows.table, known))
    source = sa.select(
        sa.literal(rows.run_id),
        sa.literal(rows.rule_id),
        sa.literal(rows.table),
        key,
        sa.literal(rows.at, sa.DateTime(timezone=True)),
    ).select_from(select)
    result = rows.write.execute(
        sa.insert(QUARANTINE).from_select(["run_id", "rule_id", "table_name", "row_key", "quarantined_at"], source)
    )
    return int(result.rowcount)


class _Keyer:
    """Builds, per failed rule of one validation definition, the SELECT of its offending rows."""

    def __init__(self, ctx: Any, vd: Any, engine: sa.Engine, validator: Any = None, known: dict | None = None):
        self.ctx, self.vd, self.engine = ctx, vd, engine
        self._validator = validator  # the one that validated (its metrics reused), else built on demand
        self.known = {} if known is None else known  # the run's primary keys (``Captured.primary_keys``)

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = self.ctx.get_validator(batch_request=self.vd.batch_definition.build_batch_request())
        return self._validator

    def table(self) -> str | None:
        return definition_table(self.vd)

    def primary_key(self, table: str) -> list[str]:
        """``table``'s primary key, looked up once per run."""
        if table not in self.known:
            with self.engine.connect() as conn:
                primary_key(conn, table, self.known)
        return list(self.known[table])

    def keys(self, expectation: Any) -> tuple[sa.Subquery, str] | None:
        """(subquery ``q`` of the offending rows, their table), or None when rows cannot be keyed."""
        from great_expectations.expectations.core.unexpected_rows_expectation import (
            UnexpectedRowsExpectation,
        )

        if expectation is None:
            return None
        declared = getattr(expectation, "offending_keys_select", None)
        if callable(declared):  # ours declare their rows (None: a metric or a batch, no rows to key)
            return declared(self.primary_key)
        table = self.table()
        if table is None:  # not a SQL table asset (e.g. the Redis snapshot): nothing to key on
            return None
        if isinstance(expectation, UnexpectedRowsExpectation):
            return query_rule_rows(self.validator, expectation), table
        if getattr(expectation, "map_metric", None):
            with self.engine.connect() as conn:
                pk = primary_key(conn, table, self.known) or [
                    c["name"]
                    for c in sa.inspect(conn).get_columns(
                        table.rpartition(".")[2], schema=table.rpartition(".")[0] or None
                    )
                ]
            return self._map_rule(expectation, pk), table
        return None  # table-level rules (column set, types): no offending rows

    def _map_rule(self, expectation: Any, pk: list[str]) -> sa.Subquery:
        """GX's unexpected-rows query for the rule (its own condition and domain), keys only, no limit."""
        from ytempire_dq.gx import validator as gx_steps

        validator = self.validator
        engine = validator.execution_engine
        map_metric = expectation.map_metric
        # as GX validates it: its metrics are the ones resolved then
        _, (count,) = gx_steps.prepared_rule(
            validator, expectation, {"result_format": {"result_format": "BASIC"}}, (f"{map_metric}.unexpected_count",)
        )
        condition, compute_kwargs, accessor_kwargs = gx_steps.resolved_metric(
            validator, f"{map_metric}.condition", count.metric_domain_kwargs, count.metric_value_kwargs
        )
        if map_metric == "column_values.unique":  # GX 1.24 reads these rows by a join-back
            return self._duplicate_rows(expectation, pk, {**compute_kwargs, **accessor_kwargs})
        query = sa.select(*(sa.column(c) for c in pk)).where(condition)
        if not gx_steps.selects_own_rows(map_metric):
            domain = engine.get_domain_records(domain_kwargs={**compute_kwargs, **accessor_kwargs})
            query = query.select_from(gx_steps.sqlalchemy_selectable(domain))
        return query.subquery("q")

    def _duplicate_rows(self, expectation: Any, pk: list[str], domain_kwargs: dict) -> sa.Subquery:
        """The rows sharing a duplicated value, as GX's own ``column_values.unique.unexpected_rows`` finds them."""
        column = expectation.column
        duplicates = compat.duplicate_rows_source(
            self.validator.execution_engine, domain_kwargs, column, list(dict.fromkeys([*pk, column]))
        )
        query = sa.select(*(duplicates.column(c) for c in pk)).select_from(duplicates.from_clause)
        if duplicates.whereclause is not None:
            query = query.where(duplicates.whereclause)
        return query.subquery("q")


# ---------------------------------------------------------------------------------------------
# reading (`ytdq history`)


# ---------------------------------------------------------------------------------------------
# fetching a rule's quarantined rows on the checked database

#: Keys written into the fetch SQL when the store is another database; past that it says how many.
FETCH_INLINE_KEYS = 1000


def _same_database(a: str, b: str) -> bool:
    from sqlalchemy.engine import make_url

    ua, ub = make_url(a), make_url(b)
    return (ua.host, ua.port, ua.database) == (ub.host, ub.port, ub.database)


def fetch_rows_sql(rule_id: str, run_id: str, *, checks_url: str | None = None, store_url: str | None = None) -> str:
    """SQL that returns, run on the checked database (``checks_url``, else ``DATABASE_URL``) as
    its reading role, the rows ``rule_id`` quarantined in run ``run_id``. Where the results store
    is that database, the SQL joins ``dq.quarantine``; where it is another (a standby is checked,
    the store is elsewhere) the keys are read from the store here and written into the SQL
    (at most :data:`FETCH_INLINE_KEYS`: past that, a comment says how many are left out)."""
    import json

    from ytempire_dq.db.connect import engine as make_engine
    from ytempire_dq.docs.history_page import fetch_sql, sql_literal  # the join, as Data Docs shows it

    checks = checks_url or config.database_url(required=False)
    store = store_url or config.store_url(checks)
    where = f"q.rule_id = {sql_literal(rule_id)} AND q.run_id = {sql_literal(run_id)}"
    engine = make_engine(store)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(QUARANTINE.c.table_name, QUARANTINE.c.row_key)
                .where(QUARANTINE.c.rule_id == rule_id, QUARANTINE.c.run_id == run_id)
                .limit(FETCH_INLINE_KEYS + 1)
            ).fetchall()
            total = len(found)
            if total > FETCH_INLINE_KEYS:
                total = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(QUARANTINE)
                    .where(QUARANTINE.c.rule_id == rule_id, QUARANTINE.c.run_id == run_id)
                ).scalar()
    finally:
        engine.dispose()
    table = found[0][0] if found else None
    if table is None:
        return f"-- rule {rule_id} quarantined no rows in run {run_id}"
    if checks is None or _same_database(checks, store):
        return fetch_sql({"rule_id": rule_id, "latest_run": run_id, "table": table})
    keys = ",\n  ".join(
        f"({sql_literal(json.dumps(key, sort_keys=True))}::jsonb)" for _, key in found[:FETCH_INLINE_KEYS]
    )
    more = (
        f"\n-- and {total - FETCH_INLINE_KEYS} more keys: SELECT row_key FROM dq.quarantine q WHERE {where} (store)"
        if total > FETCH_INLINE_KEYS
        else ""
    )
    return f"SELECT t.* FROM {table} t JOIN (VALUES\n  {keys}\n) AS q(row_key) ON to_jsonb(t) @> q.row_key;{more}"
