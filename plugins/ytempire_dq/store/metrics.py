"""The volume/drift rules' measurements in ``dq.metrics`` (migration 005): written with each run's
history, read by the rules themselves (their baseline, see ``expectations._history_band``) and by
``ytdq history RULE_ID`` (observed value and band, run by run).

Only results of the history-band expectation types are recorded, and only those that ran (a rule
that could not be evaluated measured nothing). Each row keeps the rule's verdict: the next runs
learn their band from the accepted values only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ytempire_dq.db import migrations
from ytempire_dq.values import plural

METRICS = sa.table(
    "metrics",
    *(
        sa.column(c)
        for c in (
            "run_id",
            "rule_id",
            "metric",
            "value",
            "success",
            "baseline_runs",
            "min_runs",
            "median",
            "mad",
            "lower_bound",
            "upper_bound",
            "observed_at",
        )
    ),
    schema="dq",
)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def metric_rows(run_id: str, rules: Iterable[tuple[str, Any]], at: dt.datetime) -> list[dict]:
    """The ``dq.metrics`` rows of a run: one per history-band rule that ran (``rules``: (rule_id,
    :class:`ytempire_dq.run.report.RuleResult`) pairs)."""
    from ytempire_dq.expectations import HISTORY_BAND_TYPES

    out = []
    for rule_id, r in rules:
        observed = r.observed_value
        if r.expectation_type not in HISTORY_BAND_TYPES or r.error is not None or not isinstance(observed, dict):
            continue
        if not isinstance(observed.get("metric"), str):
            continue
        out.append(
            {
                "run_id": run_id,
                "rule_id": rule_id,
                "metric": observed["metric"],
                "value": _number(observed.get("value")),
                "success": bool(r.success),
                "baseline_runs": int(observed.get("baseline_runs") or 0),
                "min_runs": int(observed.get("min_runs") or 0),
                "median": _number(observed.get("median")),
                "mad": _number(observed.get("mad")),
                "lower_bound": _number(observed.get("lower")),
                "upper_bound": _number(observed.get("upper")),
                "observed_at": at,
            }
        )
    return out


def record(conn: sa.Connection, run_id: str, rules: Iterable[tuple[str, Any]], at: dt.datetime) -> int:
    """Insert the run's measurements (in the caller's transaction); how many rows."""
    rows = metric_rows(run_id, rules, at)
    if rows:
        conn.execute(sa.insert(METRICS), rows)
    return len(rows)


DAILY_VALUES = sa.table(
    "daily_values",
    *(
        sa.column(c)
        for c in ("source", "metric", "day", "segment", "relation", "rows", "numerator", "denominator", "run_id")
    ),
    schema="dq",
)


def record_daily(conn: sa.Connection, run_id: str, source: str, rules: Iterable[Any]) -> int:
    """Keep the seasonal rules' windows (``RuleResult.daily_values``) for the next runs of
    ``source`` in ``dq.daily_values`` (migration 014; in the caller's transaction): each day's value
    of each segment as this run measured it from the table (from ``measured_from``) replaces an
    earlier one; the days it read from the store instead are kept as they are, now with this run
    (a row goes with the run that last kept it: a retention of fewer runs than the window must
    not remove training days still in use); the days before a metric's earliest window go. How
    many rows were written (none before the migration)."""
    if not migrations.has(conn, migrations.DAILY_VALUES):
        return 0
    days: dict[tuple[str, dt.date, str], dict] = {}
    starts: dict[str, dt.date] = {}
    from_store: dict[str, tuple[dt.date, dt.date]] = {}
    for r in rules:
        kept = r.daily_values
        if not kept or r.error is not None:
            continue
        first = dt.date.fromisoformat(kept["first_day"])
        measured = dt.date.fromisoformat(kept.get("measured_from") or kept["first_day"])
        metric = kept["metric"]
        starts[metric] = min(first, starts.get(metric, first))
        if measured > first:
            from_store[metric] = (first, measured)
        for segment, series in kept["segments"].items():
            values = zip(series["rows"], series["numerators"], series["denominators"])
            for i, (n, num, den) in enumerate(values):
                day = measured + dt.timedelta(days=i)
                days[(metric, day, segment)] = {
                    "source": source,
                    "metric": metric,
                    "day": day,
                    "segment": segment,
                    "relation": kept["relation"],
                    "rows": n,
                    "numerator": num,
                    "denominator": den,
                    "run_id": run_id,
                }
    if not days:
        return 0
    d = DAILY_VALUES
    for metric, start in starts.items():
        conn.execute(sa.delete(d).where(d.c.source == source, d.c.metric == metric, d.c.day < start))
    # the rows as executemany parameters (batched into multi-row VALUES by SQLAlchemy's
    # insertmanyvalues): one compiled statement, where .values(rows) made SQLAlchemy coerce and hash
    # every value of every row (0.3 s of a 100k nightly for 3,240 rows)
    insert = postgresql.insert(d)
    replaced = {c: insert.excluded[c] for c in ("relation", "rows", "numerator", "denominator", "run_id")}
    upsert = insert.on_conflict_do_update(index_elements=["source", "metric", "day", "segment"], set_=replaced)
    conn.execute(upsert, list(days.values()))
    for metric, (first, measured) in from_store.items():
        read = sa.and_(d.c.source == source, d.c.metric == metric, d.c.day >= first, d.c.day < measured)
        conn.execute(sa.update(d).where(read, d.c.run_id != run_id).values(run_id=run_id))
    return len(days)


def by_run(conn: sa.Connection, rule_id: str, run_ids: list[str]) -> dict[str, dict]:
    """``{run_id: {"metric", "value", "lower", "upper", "median", "baseline_runs", "min_runs"}}`` of one rule
    in the given runs (runs without a measurement are absent; no table yet: nothing)."""
    if not run_ids or not migrations.has(conn, migrations.METRICS):
        return {}
    m = METRICS
    query = sa.select(
        m.c.run_id,
        m.c.metric,
        m.c.value,
        m.c.lower_bound,
        m.c.upper_bound,
        m.c.median,
        m.c.baseline_runs,
        m.c.min_runs,
    ).where(m.c.rule_id == rule_id, m.c.run_id.in_(run_ids))
    return {
        row.run_id: {
            "metric": row.metric,
            "value": row.value,
            "lower": row.lower_bound,
            "upper": row.upper_bound,
            "median": row.median,
            "baseline_runs": row.baseline_runs,
            "min_runs": row.min_runs,
        }
        for row in conn.execute(query)
    }


def band_text(metric: dict | None) -> tuple[str, str]:
    """(value, band) as ``ytdq history`` shows them: ``"61,234"``, ``"[95,000, 116,000]"`` or
    ``"not enough history yet (3 of 7 days)"`` -- days, not runs: both band families count a day
    once (the seasonal band its training days, the run-history band the last run of each day);
    empty for a run without a measurement."""
    if not metric:
        return "", ""
    value = "none" if metric["value"] is None else _text(metric["value"])
    if metric["lower"] is None:
        return value, f"not enough history yet ({metric['baseline_runs']} of {plural(metric['min_runs'], 'day')})"
    return value, f"[{_text(metric['lower'])}, {_text(metric['upper'])}] ({plural(metric['baseline_runs'], 'day')})"


def range_text(point: dict) -> tuple[str, str]:
    """(value, expected range) of one measurement of :func:`series`: ``"61,234"``,
    ``"[95,000, 116,000]"`` or ``"not enough history yet"``."""
    value = "none" if point["value"] is None else _text(point["value"])
    if point["lower"] is None or point["upper"] is None:
        return value, "not enough history yet"
    return value, f"[{_text(point['lower'])}, {_text(point['upper'])}]"


def _text(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:,.4g}"


def _point(row: Any) -> dict:
    return {
        "run_id": row.run_id,
        "rule_id": row.rule_id,
        "metric": row.metric,
        "observed_at": row.observed_at,
        "value": row.value,
        "lower": row.lower_bound,
        "upper": row.upper_bound,
        "median": row.median,
        "success": row.success,
    }


def _series_columns():
    m = METRICS
    return (
        m.c.run_id,
        m.c.rule_id,
        m.c.metric,
        m.c.observed_at,
        m.c.value,
        m.c.lower_bound,
        m.c.upper_bound,
        m.c.median,
        m.c.success,
    )


def series(
    conn: sa.Connection, rule_id: str, limit: int, checkpoint: str | None = None, source: str | None = None
) -> list[dict]:
    """A volume/drift rule's last ``limit`` measurements, oldest first: ``{run_id, rule_id, metric,
    observed_at, value, lower, upper, median, success}`` (``lower``/``upper`` None: not enough history
    yet); ``checkpoint`` and ``source`` keep that checkpoint's and source's runs. Nothing recorded: empty."""
    if not migrations.has(conn, migrations.METRICS):
        return []
    m = METRICS
    query = sa.select(*_series_columns()).where(m.c.rule_id == rule_id)
    runs = sa.table("runs", sa.column("run_id"), sa.column("checkpoint"), sa.column("source"), schema="dq")
    if checkpoint:
        query = query.where(m.c.run_id.in_(sa.select(runs.c.run_id).where(runs.c.checkpoint == checkpoint)))
    if source is not None:
        query = query.where(m.c.run_id.in_(sa.select(runs.c.run_id).where(runs.c.source == source)))
    rows = conn.execute(query.order_by(m.c.observed_at.desc()).limit(limit)).fetchall()
    return [_point(row) for row in reversed(rows)]


def series_by_rule(conn: sa.Connection, run_ids: list[str]) -> dict[str, list[dict]]:
    """``{rule_id: [measurement, oldest first]}`` of the given runs (see :func:`series`): one
    query bounded by the runs asked for."""
    if not run_ids or not migrations.has(conn, migrations.METRICS):
        return {}
    m = METRICS
    query = sa.select(*_series_columns()).where(m.c.run_id.in_(run_ids)).order_by(m.c.observed_at, m.c.rule_id)
    out: dict[str, list[dict]] = {}
    for row in conn.execute(query):
        out.setdefault(row.rule_id, []).append(_point(row))
    return out
