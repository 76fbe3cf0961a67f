"""Incremental runs for tables that only grow: row-level rules see only the rows newer than the
last successful run's watermark (``ytdq checkpoint run NAME --since-last``).

Which tables, by which column: ``gx/incremental.yml`` (the one place; docs/incremental.md, "Incremental
nightly"). For such a table, a run plans (:func:`plan`), before its snapshot:

- **full** (a plain run, ``--full``, or ``--since-last`` when no successful run has a watermark
  yet, when the last ``full_sweep_every`` runs were all incremental, or with ``YTDQ_FAST=0``),
- or **incremental**: lower bound = the watermark of the checkpoint's last *successful* run (every
  rule met). A failed run does not move it: its defects stay in scope until a run passes.

At the run's snapshot, :meth:`Plan.measure` reads each table's watermark: ``max(column)`` among
the rows of *closed days*, dated before the snapshot's day: the day still filling is scanned again
by the next run (its late rows are not lost), and a future-dated row, itself a defect, cannot push
the watermark ahead of the rows still to come. History records mode and watermarks (migration 008)
in the results store (``YTDQ_STORE_URL``; unset, the checked database), and the plan reads them there.

The mechanism: for the run only, every *row-level* rule of the table's suite is replaced by a
copy with the same id (:func:`scoped` with the run's plan, ``Run.scoped``, called by the fast
runner and the quarantine): a map rule
gets the ``row_condition`` ``column > since`` (AND-ed with its own; GX filters the rule's domain,
so its ``element_count`` is the new rows), a listed SQL rule has its query wrapped in ``SELECT *
FROM (query) AS ytdq_rows WHERE ytdq_rows.column > since`` (it must return the column).
Row-level rules are GX's column/column-pair/multicolumn map rules, except uniqueness rules and
type rules, plus the SQL rules the yml lists (only their author knows a query with a join is per
row) and those that only filter the table's rows and return its column (per row by their shape,
:func:`filters_its_rows`: listing them is not needed).
A cross-table rule the yml lists under its child table (``cross_table_rules``) is scoped the way
its class declares (``incremental_table()`` and ``incremental_scope()``, see
``ytempire_dq.expectations._cross_table``): orphans are looked for among the new child rows only, a
child aggregate is checked for the parents having new child rows only (each over all its child
rows); a custom type that declares no scope runs whole.
Everything else runs as today, on the whole table: uniqueness rules (new rows alone would miss a
duplicate of an old row; the fast path proves them from a unique index without scanning),
the other cross-table rules, volume/freshness/history-band rules (their verdict is on the whole
table or a window of days, not on rows), and the other tables' suites.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.locations import definition_table
from ytempire_dq.values import plural

log = logging.getLogger(__name__)

CONFIG_FILE = "incremental.yml"  # in the GX context directory, beside great_expectations.yml
ENV_FULL_SWEEP_EVERY = "YTDQ_FULL_SWEEP_EVERY"
DEFAULT_FULL_SWEEP_EVERY = 7
#: Map rules that are not per row in SQL (types are read from the catalog) or not on new rows alone.
NOT_ROW_LEVEL = (
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_select_column_values_to_be_unique_within_record",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_of_type",
)


@dataclass(frozen=True)
class GrowingTable:
    """An append-mostly table: new rows carry a larger ``column`` (a date or timestamp)."""

    table: str
    column: str
    sql_rules: frozenset[str] = frozenset()  # rule_ids of its per-row unexpected_rows_expectations
    cross_table_rules: frozenset[str] = frozenset()  # rule_ids of cross-table rules scoped to its new rows


@dataclass
class Plan:
    """What one run scans: ``since[table]`` is the exclusive lower bound (None: whole table)."""

    checkpoint: str
    mode: str  # "full" | "incremental"
    reason: str
    tables: dict[str, GrowingTable] = field(default_factory=dict)
    since: dict[str, str | None] = field(default_factory=dict)
    watermarks: dict[str, str | None] = field(default_factory=dict)
    incremental_runs: int = 0  # incremental runs since the last full one, before this run
    full_sweep_every: int = DEFAULT_FULL_SWEEP_EVERY

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    def measure(self, url: str, snap: Any = None) -> None:
        """Each table's watermark at ``snap``, the run's snapshot (``snapshot.take``)."""
        import psycopg2
        from psycopg2 import sql

        from ytempire_dq.db.connect import connect
        from ytempire_dq.run.snapshot import import_into

        if not self.tables:
            return
        conn = connect(url, connect_timeout=5)
        try:
            import_into(conn, snap)
            with conn.cursor() as cur:
                for t in self.tables.values():
                    col = sql.Identifier(t.column)
                    try:
                        cur.execute(
                            sql.SQL("SELECT max({c}) FROM {t} WHERE {c} < CAST(now() AS date)").format(
                                c=col, t=_table_sql(t.table)
                            )
                        )
                    except psycopg2.Error as exc:  # a wrong column/table in the yml: one line, exit 2
                        reason = config.one_line(exc, 200)
                        raise YtdqError(f"{CONFIG_FILE}: cannot read max({t.column}) of {t.table}: {reason}") from None
                    value = cur.fetchone()[0]
                    self.watermarks[t.table] = value.isoformat() if value is not None else None
        finally:
            conn.rollback()
            conn.close()

    def to_dict(self) -> dict:
        """The run's scan (``RunReport.scan``, ``--json``): mode, why, and per table since/watermark."""
        return {
            "mode": self.mode,
            "incremental": self.incremental,
            "reason": self.reason,
            "incremental_runs_since_full": self.incremental_runs,
            "full_sweep_every": self.full_sweep_every,
            "tables": {
                name: {"column": t.column, "since": self.since.get(name), "watermark": self.watermarks.get(name)}
                for name, t in self.tables.items()
            },
        }


def _table_sql(name: str) -> Any:
    from psycopg2 import sql

    return sql.SQL(".").join(sql.Identifier(p) for p in name.split("."))


def read_config(config_dir: Path) -> tuple[dict[str, GrowingTable], int]:
    """``({table: GrowingTable}, full_sweep_every)`` from ``<config_dir>/incremental.yml`` (no
    file: no tables); ``YTDQ_FULL_SWEEP_EVERY`` overrides the file's ``full_sweep_every``."""
    path = Path(config_dir) / CONFIG_FILE
    data: dict = {}
    if path.is_file():
        from ruamel.yaml import YAML, YAMLError

        try:
            data = YAML(typ="safe").load(path.read_text()) or {}
        except (YAMLError, ValueError) as exc:  # ValueError: not UTF-8; one line naming the file
            raise YtdqError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise YtdqError(f"{path}: expected a mapping with 'tables' and 'full_sweep_every'")
    tables = {}
    for name, spec in (data.get("tables") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("column"), str):
            raise YtdqError(f"{path}: table {name!r} needs a 'column' (the date/timestamp new rows grow by)")
        lists = {}
        for key in ("row_level_sql_rules", "cross_table_rules"):
            rules = spec.get(key) or []
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                raise YtdqError(f"{path}: table {name!r}: {key!r} must be a list of rule ids")
            lists[key] = frozenset(rules)
        tables[str(name)] = GrowingTable(
            str(name), spec["column"], lists["row_level_sql_rules"], lists["cross_table_rules"]
        )
    every = os.environ.get(ENV_FULL_SWEEP_EVERY, data.get("full_sweep_every", DEFAULT_FULL_SWEEP_EVERY))
    try:
        every = int(every)
        if every < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise YtdqError(
            f"full_sweep_every ({ENV_FULL_SWEEP_EVERY} or {path}) must be an integer >= 0, not {every!r}"
        ) from None
    return tables, every


def plan(
    checkpoint: str,
    config_dir: Path,
    url: str,
    *,
    since_last: bool = False,
    full: bool = False,
    fast: bool = True,
    asset_tables: list | None = None,
    store_url: str | None = None,
    source: str | None = None,
) -> Plan:
    """The scan of the coming run (see the module docstring for the rules); ``url``: the checked
    database; ``fast``: the fast runner is on (``ytempire_dq.run.validation.enabled()``; the scoped
    rules run only there); ``asset_tables``: the tables the checkpoint's rules read (the others are
    left out); ``store_url``: the results store whose ``dq.runs`` holds the past runs' watermarks
    (by default :func:`ytempire_dq.config.store_url` of ``url``: the checked database unless
    ``YTDQ_STORE_URL`` is set); ``source``: the checked database's name there (by default
    :func:`ytempire_dq.config.source_name` of ``url``): only its own runs' watermarks count."""
    if since_last and full:
        raise YtdqError("--since-last and --full exclude each other")
    tables, every = read_config(config_dir)
    if asset_tables is not None:
        tables = {name: t for name, t in tables.items() if name in asset_tables}
    p = Plan(checkpoint, "full", "--full" if full else "a plain run sweeps everything", tables, full_sweep_every=every)
    p.since = dict.fromkeys(tables)
    if not tables:
        p.reason = f"no append-mostly table ({CONFIG_FILE}) among the checkpoint's tables"
        return p
    history = _history(checkpoint, store_url or config.store_url(url), source or config.source_name(url), every)
    if history is None:
        p.reason = "dq.runs has no watermarks (run `ytdq db migrate`)"
        return p
    baseline, p.incremental_runs = history
    if not since_last:
        return p
    if not fast:
        p.reason = "YTDQ_FAST=0: the scoped rules run in the fast runner only"
    elif baseline is None:
        p.reason = "no successful run with a watermark yet"
    elif p.incremental_runs >= every:
        p.reason = f"periodic full sweep: {plural(p.incremental_runs, 'incremental run')} since the last full one"
    else:
        p.since = {name: (baseline.get(name) or {}).get("watermark") for name in tables}
        if any(v is not None for v in p.since.values()):
            p.mode, p.reason = "incremental", "--since-last: rows newer than the last successful run's watermark"
        else:
            p.reason = "the last successful run has no watermark for these tables"
    return p


def _history(checkpoint: str, url: str, source: str, every: int) -> tuple[dict | None, int] | None:
    """(watermarks of the checkpoint's last successful run on ``source``, incremental runs since
    its last full one, counted up to ``every``: a constant cost per run), read from the results
    store ``url``; None when the history has no such columns (migration 008 not applied)."""
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import connect

    conn = connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            if not migrations.has(cur, migrations.WATERMARKS):
                return None
            mine = " AND source = %(source)s" if migrations.has(cur, migrations.SOURCES) else ""
            args = {"checkpoint": checkpoint, "source": source, "n": every + 1}
            cur.execute(
                "SELECT watermarks FROM dq.runs WHERE checkpoint = %(checkpoint)s AND success "
                f"AND watermarks IS NOT NULL{mine} ORDER BY started_at DESC LIMIT 1",
                args,
            )
            row = cur.fetchone()
            cur.execute(
                "SELECT scan_mode FROM dq.runs WHERE checkpoint = %(checkpoint)s AND scan_mode IS NOT NULL"
                f"{mine} ORDER BY started_at DESC LIMIT %(n)s",
                args,
            )
            streak = 0
            for (mode,) in cur.fetchall():
                if mode != "incremental":
                    break
                streak += 1
        return (row[0] if row else None), streak
    finally:
        conn.rollback()
        conn.close()


def record(conn: Any, report: Any) -> None:
    """Write the run's scan (``report.scan``) on its ``dq.runs`` row (SQLAlchemy ``conn``, the
    history's transaction); a database before migration 008: a warning, nothing written."""
    import sqlalchemy as sa

    from ytempire_dq.db import migrations

    scan = getattr(report, "scan", None)
    if not scan or not scan.get("tables"):
        return
    if not migrations.has(conn, migrations.WATERMARKS):
        log.warning("run %s: its watermarks are not recorded: run `ytdq db migrate`", report.run_id)
        return
    conn.execute(
        sa.text("UPDATE dq.runs SET scan_mode = :mode, watermarks = CAST(:wm AS jsonb) WHERE run_id = :run_id"),
        {"mode": scan["mode"], "wm": json.dumps(scan["tables"]), "run_id": report.run_id},
    )


# ---------------------------------------------------------------------------------------------
# the run's scoped rules


def is_row_level(exp: Any, table: GrowingTable) -> bool:
    """A rule whose verdict on the new rows alone is its verdict on them (module docstring)."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    declared = getattr(type(exp), "row_level", None)  # ours declare it (``SentenceRendering.row_level``)
    if isinstance(declared, bool):
        return declared
    if exp.expectation_type in NOT_ROW_LEVEL:
        return False
    if exp.expectation_type == "unexpected_rows_expectation":
        return (exp.meta or {}).get("rule_id") in table.sql_rules or filters_its_rows(exp, table)
    return isinstance(exp, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation))


def filters_its_rows(exp: Any, table: GrowingTable) -> bool:
    """A SQL rule that only filters the table's rows (``SELECT <columns> FROM {batch} WHERE
    <condition>``, :func:`ytempire_dq.run.row_filters.row_filter`) and returns its ``column``: per
    row by its shape, scoped to the new rows without being listed."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from ytempire_dq.run import row_filters

    query = str(getattr(exp, "unexpected_rows_query", None) or "")
    name = postgresql.dialect().identifier_preparer.quote(table.table)
    found = row_filters.of_rule(query, sa.table(table.table), name)
    return found is not None and bool({"*", table.column} & set(found[1]))


def scoped(vd: Any, expectations: list, p: Plan | None) -> list:
    """``expectations`` of ``vd`` for the run's plan ``p``: in an incremental run, the row-level rules
    of an append-mostly table and the cross-table rules on such a child table replaced by copies
    (same id) restricted to ``column > since`` (:func:`_restricted`, :func:`_cross_table_scoped`)."""
    if p is None or not p.incremental:
        return list(expectations)
    table = definition_table(vd)
    spec, since = p.tables.get(table), p.since.get(table)
    out = []
    for exp in expectations:
        copy_ = _cross_table_scoped(exp, p)
        if copy_ is None and spec is not None and since is not None and is_row_level(exp, spec):
            copy_ = _restricted(exp, spec, since)
        out.append(copy_ if copy_ is not None else exp)
    return out


def _cross_table_scoped(exp: Any, p: Plan) -> Any:
    """A copy of a cross-table rule listed under its child table's ``cross_table_rules``, judging
    only the child rows newer than the plan's lower bound (orphans) or the parents having such rows
    (aggregates), as the rule's class declares (``incremental_table``, ``incremental_scope``:
    ``ytempire_dq.expectations._cross_table``); None for any other rule (it runs whole)."""
    rule_id = (exp.meta or {}).get("rule_id")
    listed = [t for t in p.tables.values() if rule_id in t.cross_table_rules]
    if not listed:
        return None
    declared = getattr(exp, "incremental_table", None)  # GX's own types declare none
    child = declared() if callable(declared) else None
    if child != listed[0].table:
        log.warning(
            "rule %s: %s lists it, but it is no cross-table rule on that child table; it runs whole",
            rule_id,
            CONFIG_FILE,
        )
        return None
    if p.since.get(child) is None:
        return None
    return exp.incremental_scope(p.tables[child].column, p.since[child])


def _restricted(exp: Any, spec: GrowingTable, since: str) -> Any:
    """A copy of ``exp`` (same id) judging only the rows with ``spec.column > since``, or None
    (kept whole: run on every row) when its own condition cannot take one more (a legacy string
    condition, an OR that GX would not nest in an AND).

    A map rule: its ``row_condition`` AND ``column > since`` (GX filters the rule's domain). A SQL
    rule (``unexpected_rows_expectation`` has no row_condition field): its query wrapped as
    ``SELECT * FROM (query) AS ytdq_rows WHERE ytdq_rows.column > since``; such a rule must return
    the table's column under that name (PostgreSQL pushes the condition into the query, so only
    the new rows are read, by the column's index where there is one)."""
    import copy

    from great_expectations.expectations.row_conditions import Condition

    cfg = copy.deepcopy(exp.configuration)
    literal = "'" + str(since).replace("'", "''") + "'"
    if exp.expectation_type == "unexpected_rows_expectation":
        query = str(cfg.kwargs.get("unexpected_rows_query") or "").strip().rstrip(";")
        column = '"' + spec.column.replace('"', '""') + '"'
        cfg.kwargs["unexpected_rows_query"] = (
            f"SELECT * FROM (\n{query}\n) AS ytdq_rows WHERE ytdq_rows.{column} > {literal}"
        )
    else:
        newer = {"type": "comparison", "column": {"name": spec.column}, "operator": ">", "parameter": since}
        own = cfg.kwargs.get("row_condition")
        if isinstance(own, Condition):
            own = own.dict()
        if own is not None and not isinstance(own, dict):
            return None
        cfg.kwargs["row_condition"] = newer if own is None else {"type": "and", "conditions": [own, newer]}
        cfg.kwargs.pop("condition_parser", None)
    try:
        return cfg.to_domain_obj()
    except Exception:  # noqa: BLE001 - GX refuses the combined condition: the rule runs whole
        log.warning("rule %s: cannot be restricted to new rows; it runs on every row", (exp.meta or {}).get("rule_id"))
        return None
