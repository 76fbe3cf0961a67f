"""Row keys: how an offending row is named in ``dq.quarantine`` (:func:`row_key`), and how a run
reads a failed rule's keys once (:func:`capture`: the count and up to :data:`CAPTURE_LIMIT` keys in
one parallel-capable statement), or has them already from validating it (:class:`Captured`, filled
by :mod:`ytempire_dq.run.validation` and :mod:`ytempire_dq.run.key_capture`). Used by :mod:`ytempire_dq.store.quarantine`,
which writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ytempire_dq.gx import compat

#: A failed rule with at most this many offending rows has its keys read into the run by the
#: statement that counts them (:func:`capture`); one with more is INSERT ... SELECTed as before.
CAPTURE_LIMIT = 10_000


@dataclass(frozen=True)
class Keys:
    """The row keys (``row_key`` JSON texts) of a rule's offending rows, read with their count."""

    keys: list[str]
    total: int  # the rule's offending rows (``count(*) OVER ()``: all of them, not only those read)
    table: str | None = None  # the table the keys are of, when not the validated asset's

    @property
    def complete(self) -> bool:
        return len(self.keys) == self.total


@dataclass
class Captured:
    """What a run's validation read that its quarantine would otherwise read again: row keys read
    with their count or listed in a result (``keys[(validation definition name, expectation id)]``)
    and each definition's
    GX validator (``validators[name]``: the metrics it resolved, e.g. the table's row count, are not
    computed twice), and the primary keys looked up (``primary_keys[table]``: a run quarantines many
    rules of few tables, each lookup a catalog query; see :func:`primary_key`). One per run
    (``Run.captured``). Filled by :mod:`ytempire_dq.run.validation`, read by :func:`quarantine_failed_rules`."""

    keys: dict[tuple[str, str], Keys] = field(default_factory=dict)
    validators: dict[str, Any] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)


def capture(conn: sa.Connection, select: sa.Selectable, table: str, known: dict | None = None) -> Keys:
    """Count the rows of ``select`` (a subquery ``q``) and read up to :data:`CAPTURE_LIMIT` of their
    keys (read when called: a test lowers it), in ONE statement PostgreSQL may run with parallel
    workers (an INSERT ... SELECT may not).

    Two planner facts shape it. A ``LIMIT`` would make PostgreSQL plan for the first rows (an index
    walk of the whole table, 4x slower at 10M rows), so the limit is ``row_number() <= limit``, which
    PostgreSQL 15 stops at (a window "run condition"). And the planner prices each offending row it
    expects (a third of the table, by its default selectivity) as if it crossed from the parallel
    workers, so it keeps the scan serial, and it JIT-compiles a rule with subqueries: both are
    undone for this statement's transaction (:func:`few_rows`). Run in its own transaction.
    ``known``: the run's primary keys (:func:`primary_key`)."""
    key = sa.cast(row_key(primary_key(conn, table, known)), sa.Text).label("key")
    numbered = sa.select(
        key, sa.func.count().over().label("total"), sa.func.row_number().over().label("n")
    ).select_from(select)
    inner = numbered.subquery("numbered")
    few_rows(conn)
    rows = conn.execute(sa.select(inner.c.key, inner.c.total).where(inner.c.n <= CAPTURE_LIMIT)).all()
    return Keys([k for k, _ in rows], int(rows[0][1]) if rows else 0)


def count(conn: sa.Connection, select: sa.Selectable) -> int:
    """The rows of ``select`` (a subquery ``q``), counted as GX counts a SQL rule's rows."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(select)).scalar_one())


def few_rows(conn: sa.Connection) -> None:
    """Plan the rest of ``conn``'s transaction for a scan that returns few rows (a rule's keys or
    samples), in every statement that reads them. The planner prices each row it expects (a third
    of the table, by its default selectivity for a comparison) as if it crossed from the parallel
    workers, so it keeps such a scan serial: ``parallel_tuple_cost = 0`` lets the workers scan, as
    they do for GX's ``COUNT(*)``. And it prices a rule with subqueries high enough to JIT-compile it
    with inlining and optimization, which costs more than it saves when few rows come back (the
    channels suite's monetized-channels rule at 10M rows: 0.74–0.80 s with JIT, 0.48–0.49 s
    without): ``jit = off``. ``SET LOCAL``: the connection returns to the pool as it was."""
    conn.exec_driver_sql("SET LOCAL parallel_tuple_cost = 0")
    conn.exec_driver_sql("SET LOCAL jit = off")


def pk_object(pk: list[str], value: Any = sa.column) -> sa.ColumnElement:
    """The JSON object of primary key ``pk`` that names a row in ``dq.quarantine``
    (``jsonb_build_object('<column>', <value>, ...)``; ``value(column)``: that column's value,
    the column itself by default). Python builds the same object with :func:`key_text`."""
    return sa.func.jsonb_build_object(*[part for column in pk for part in (sa.literal(column), value(column))])


def key_text(pk: list[str], values: Any) -> str:
    """The text of :func:`pk_object` for one row's key ``values`` (str, int or UUID, in ``pk``'s
    order), as PostgreSQL writes it: jsonb orders an object's keys by length, then by bytes."""
    import json

    from ytempire_dq.values import jsonable

    pairs = sorted(zip(pk, values), key=lambda pair: (len(pair[0].encode()), pair[0].encode()))
    return json.dumps({column: jsonable(value) for column, value in pairs}, ensure_ascii=False)


def sample_keys(conn: sa.Connection, expectation: Any, evr: Any, known: dict | None = None) -> Keys | None:
    """The row keys of a failed rule from its own result, when the result lists every offending
    row: what the rule's class declares (``offending_keys_from_result``, e.g. one row per parent
    holding its table's primary key, or for orphans every missing value; see
    ``ytempire_dq.expectations._cross_table``); None otherwise (the quarantine then reads them).
    ``known``: the run's primary keys (:func:`primary_key`)."""
    declared = getattr(expectation, "offending_keys_from_result", None)  # GX's own types declare none
    if not callable(declared):
        return None
    return declared(conn, evr.result or {}, lambda table: primary_key(conn, table, known))


def pk_row_keys(rows: list, total: Any, pk: list[str], table: str) -> Keys | None:
    """``Keys`` of result rows that each carry ``table``'s primary key ``pk``, when they are all
    ``total`` offending rows; None otherwise."""
    if not isinstance(total, int) or not total or total != len(rows) or not pk:
        return None
    if not all(isinstance(r, dict) and isinstance(r.get(c), (str, int)) for r in rows for c in pk):
        return None
    return Keys([key_text(pk, [r[c] for c in pk]) for r in rows], total, table)


def row_key(pk: list[str]) -> sa.ColumnElement:
    """The ``row_key`` of a row of subquery ``q``: its primary key columns when it has them, else the
    row without its personal-data columns (:data:`ytempire_dq.pii.PII_NAMES`: keys only, never an
    e-mail or a name, leave the database for the quarantine)."""
    from ytempire_dq import pii

    full = sa.func.to_jsonb(sa.literal_column("q"))
    row = full.op("-")(sa.literal(pii.names(), postgresql.ARRAY(sa.Text)))
    if not pk:
        return row
    by_pk = pk_object(pk, lambda column: full.op("->")(sa.literal(column)))
    return sa.case((sa.func.jsonb_exists_all(full, sa.literal(pk, postgresql.ARRAY(sa.Text))), by_pk), else_=row)


def query_rule_rows(validator: Any, expectation: Any) -> sa.Subquery:
    """An ``unexpected_rows_expectation``'s rows as subquery ``q``: the analyst's query with
    ``{batch}`` filled in as GX's own metric fills it, on ``validator``'s batch."""
    from great_expectations.core.metric_domain_types import MetricDomainTypes

    from ytempire_dq.sql_guard import check_query

    engine = validator.execution_engine
    batch, _, _ = engine.get_compute_domain(
        {"batch_id": validator.active_batch_id}, domain_type=MetricDomainTypes.TABLE
    )
    sql = compat.substituted_batch_query(expectation.unexpected_rows_query, batch, engine)
    check_query(sql)  # one read-only SELECT (the run's pre-flight checked it too)
    # sa.text reads ":name" as a bind parameter; the query has none of its own
    return sa.text(sql.strip().rstrip(";").replace(":", "\\:")).columns().subquery("q")


def primary_key(conn: sa.Connection, table: str, known: dict | None = None) -> list[str]:
    """The primary key columns of ``table`` (``schema.name`` allowed); empty when it has none.
    ``known``: ``{table: primary key}`` of the run (``Captured.primary_keys``; every read of a run is
    of its one checked database), looked up once per table and run; None: looked up now."""
    if known is None:
        known = {}
    if table not in known:
        schema, _, name = table.rpartition(".")
        pk = sa.inspect(conn).get_pk_constraint(name, schema=schema or None).get("constrained_columns")
        known[table] = list(pk or [])
    return list(known[table])
