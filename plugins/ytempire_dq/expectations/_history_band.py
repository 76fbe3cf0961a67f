"""What the volume/drift expectations share: a metric measured now, judged against a band learned
from the values earlier runs recorded in ``dq.metrics`` (migration 005).

GX Core has no such expectation (its anomaly detection is a GX Cloud feature); these need no new
server, only the run history the project keeps in its results store.

- **Two reads.** The generated query measures the metric now (``dq_value``, one row, in the
  checked database at the run's snapshot). The baseline -- the *accepted* values of the same
  metric on its last ``runs`` days, one a day (the day's last value of a run where this rule
  passed, since ``baseline_since``; UTC days), newest first -- is read from the results store when the result is made (:mod:`ytempire_dq.store.run_store`:
  the run's one store connection, in the fast path and in GX alone alike), for the run's own
  source: a read replica or a SELECT-only role holds no history, and staging never teaches
  production's band. A value that failed the band never teaches it, so a broken night does not
  widen the next night's band. One value a day: seven re-runs on one afternoon are one day of
  evidence, not a week of nights, and a band learned from them would be as narrow as one value.
- **The band**: ``median ± max(mad_multiplier × MAD, tolerance_pct % × |median|)``, MAD being the
  median absolute deviation of those values. The MAD term follows how much the metric really
  moves night to night (robust: one odd night in the window moves neither median nor MAD much);
  the percentage is a floor for metrics that barely move (seeded or slow data: MAD 0 would make
  any change a failure). ``mad_multiplier=0`` is a pure percentage band, ``tolerance_pct=0``
  a pure MAD band.
- **Not enough history yet**: with accepted values on fewer than ``min_runs`` days the rule
  passes and its result says ``not enough history yet (n of min_runs days)``. Its value is still
  recorded, so the baseline builds itself night by night.
- **Recording**: the value and the band are in the result's ``observed_value``
  (``{"metric", "value", "median", "mad", "lower", "upper", "baseline_runs", "min_runs", "runs",
  "status"}``); :mod:`ytempire_dq.store.metrics` writes them to ``dq.metrics`` with the run's
  history. The series is keyed by ``metric`` (what is measured, e.g. ``row_count(analytics)``),
  not by rule_id: the band's parameters can be tuned without losing the history, and a rule that
  measures something else starts a new series.
- **Result**: ``unexpected_count`` is None (a metric has no offending rows, nothing is
  quarantined); a failed rule's ``partial_unexpected_list`` holds one sentence with the value
  and the band (the terminal's sample column).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import statistics
from abc import abstractmethod
from typing import Any, ClassVar, Dict, Optional, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from great_expectations.render import LegacyDiagnosticRendererType
from great_expectations.render.renderer.renderer import renderer
from sqlalchemy.dialects.postgresql import aggregate_order_by
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    TABLE_METRIC,
    CrossTableExpectation,
    check_non_negative,
    check_where_columns,
    compile_sql,
    number_text,
    plain_sql,
)
from ytempire_dq.store import run_store
from ytempire_dq.values import plural

METRICS = sa.table(
    "metrics",
    *(sa.column(c) for c in ("run_id", "metric", "value", "success", "observed_at")),
    schema="dq",
)
RUNS = sa.table("runs", sa.column("run_id"), sa.column("source"), schema="dq")
VALUE = "dq_value"
DAY = "dq_day"
#: Longest metric key kept as written (observed values are bounded to 200 characters).
METRIC_CHARS = 160

DEFAULTS_DOC = """
    Band parameters (every volume/drift rule):

    - ``runs`` (14): the band is learned from the accepted values of at most the last 14 days
      (one a day, the day's last): two weeks of nights, so weekly patterns are inside the window
      and a month-old level is not.
    - ``min_runs`` (7): with accepted values on fewer than 7 days the rule passes with "not
      enough history yet (n of 7 days)": a week of nights is the least that gives a median and a
      MAD worth judging by, however often the rule ran within it.
    - ``mad_multiplier`` (5): half the band is at least 5 × MAD; for normally distributed noise
      MAD ≈ 0.67 σ, so this is ≈ 3.4 σ, about one false alarm in 1,500 stable nights.
    - ``tolerance_pct`` (10): half the band is at least 10 % of the median: data that barely moves
      (MAD near 0) still tolerates ordinary growth and a late sync, while a lost batch (40 % of a
      day's rows) fails. A table that grows faster than ~1 % a night needs more (the median lags
      the newest value by about ``runs / 2`` nights).
    - ``baseline_since`` (none): an ISO date or timestamp; values recorded before it are ignored.
      After a legitimate change of level (a backfill, a new source), set it to today: the rule
      relearns from the runs that follow.
"""


def metric_key(text: str) -> str:
    """``text`` when short enough to survive the result's bounds, else its start plus a digest."""
    if len(text) <= METRIC_CHARS:
        return text
    return f"{text[:120]} #{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def band(
    value: Optional[float], baseline: list[float], *, min_runs: int, mad_multiplier: float, tolerance_pct: float
) -> dict:
    """The verdict on ``value`` against the accepted values ``baseline`` (newest first):
    ``{"success", "median", "mad", "lower", "upper", "baseline_runs", "status"}``."""
    n = len(baseline)
    out: dict[str, Any] = {"baseline_runs": n, "median": None, "mad": None, "lower": None, "upper": None}
    if n < min_runs:
        return {**out, "success": True, "status": f"not enough history yet ({n} of {plural(min_runs, 'day')})"}
    median = statistics.median(baseline)
    mad = statistics.median(abs(v - median) for v in baseline)
    half = max(mad_multiplier * mad, tolerance_pct / 100 * abs(median))
    out.update(median=median, mad=mad, lower=median - half, upper=median + half)
    if value is None:
        return {**out, "success": False, "status": "no value (nothing to measure)"}
    if value < out["lower"]:
        return {**out, "success": False, "status": "below band"}
    if value > out["upper"]:
        return {**out, "success": False, "status": "above band"}
    return {**out, "success": True, "status": "within band"}


def _num(value: Optional[float]) -> str:
    if value is None:
        return "none"
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:,.4g}"


def observed_sentence(observed: Any) -> str:
    """The observed value as Data Docs show it: "1,234: within band 1,100 to 1,300 (median 1,200
    of 14 days)", or "1,234: not enough history yet (3 of 7 days)"."""
    if not isinstance(observed, dict):
        return "--" if observed is None else str(observed)
    head = f"{_num(observed.get('value'))}: {observed.get('status', '')}".rstrip(": ")
    if observed.get("lower") is None:
        return head
    return (
        f"{head} {_num(observed['lower'])} to {_num(observed['upper'])} "
        f"(median {_num(observed.get('median'))} of {plural(observed.get('baseline_runs'), 'day')})"
    )


class HistoryBandExpectation(CrossTableExpectation):
    """Base of the volume/drift expectations (abstract: not registered as an expectation type)."""

    runs: int = pydantic.Field(
        default=14, description="Learn the band from the accepted values of at most this many days (one a day)."
    )
    min_runs: int = pydantic.Field(
        default=7, description="Accepted values on fewer days than this: not enough history yet, pass."
    )
    mad_multiplier: Union[int, float] = pydantic.Field(default=5, description="Half the band >= this × MAD.")
    tolerance_pct: Union[int, float] = pydantic.Field(default=10, description="Half the band >= this % of the median.")
    baseline_since: Optional[str] = pydantic.Field(
        default=None, description="ISO date/timestamp: ignore values recorded before it."
    )
    where: Optional[Dict[str, Union[str, int, float, bool]]] = pydantic.Field(
        default=None, description="Equality filters {column: value} on the rows measured."
    )

    band_fields: ClassVar[Tuple[str, ...]] = ("runs", "min_runs", "mad_multiplier", "tolerance_pct", "baseline_since")
    #: Its observed value is a metric recorded in ``dq.metrics``; a metric has no offending rows to
    #: quarantine (``offending_keys_select`` and ``offending_keys_from_result``: None).
    history_band: ClassVar[bool] = True

    @override
    def offending_keys_select(self, primary_key: Any) -> None:
        return None

    @override
    def offending_keys_from_result(self, conn: Any, result: dict, primary_key: Any) -> None:
        return None

    @pydantic.validator("runs", "min_runs")
    def _positive_runs(cls, value: Any, field: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{field.name} must be a whole number >= 1, got {value!r}")
        return value

    @pydantic.validator("min_runs")
    def _min_within_window(cls, value: int, values: dict) -> int:
        if values.get("runs") is not None and value > values["runs"]:
            raise ValueError(f"min_runs ({value}) cannot exceed runs ({values['runs']}): the band never forms")
        return value

    _non_negative = pydantic.validator("mad_multiplier", "tolerance_pct", allow_reuse=True)(check_non_negative)

    @pydantic.validator("baseline_since")
    def _iso_time(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            try:
                dt.datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise ValueError(f"baseline_since must be an ISO date or timestamp, got {value!r}") from None
        return value

    _where_columns = pydantic.validator("where", allow_reuse=True)(check_where_columns)

    # ---- what is measured (the subclasses) ---------------------------------------------

    @abstractmethod
    def measured(self) -> sa.ColumnElement:
        """A scalar SQL expression (a scalar subquery) of the metric's value now."""

    @abstractmethod
    def metric_text(self) -> str:
        """What is measured, in words (the series' key in ``dq.metrics``)."""

    def day(self) -> Optional[sa.ColumnElement]:
        """The day measured (daily metrics), recorded in the result; None for whole-table ones."""
        return None

    def where_text(self) -> str:
        return "".join(f" where {k} = {v}" for k, v in sorted((self.where or {}).items()))

    @property
    def metric(self) -> str:
        return metric_key(self.metric_text())

    # ---- SQL ---------------------------------------------------------------------------

    @override
    def offending_rows(self) -> sa.Select:
        """A metric has no offending rows (history quarantines nothing for these rules)."""
        return sa.select(sa.literal(self.metric).label("metric")).where(sa.false())

    def baseline_select(self, source: str) -> sa.Select:
        """A SELECT of one row: the accepted values of the metric recorded by runs of ``source`` on
        its last ``runs`` days (UTC), the last of each day, newest first, as one array."""
        m, r = METRICS, RUNS
        day = sa.cast(sa.func.timezone("UTC", m.c.observed_at), sa.Date)
        accepted = (
            sa.select(
                m.c.value,
                m.c.observed_at,
                sa.func.row_number().over(partition_by=day, order_by=m.c.observed_at.desc()).label("nth"),
            )
            .join_from(m, r, r.c.run_id == m.c.run_id)
            .where(
                m.c.metric == sa.literal(self.metric),
                m.c.success,
                m.c.value.isnot(None),
                r.c.source == sa.literal(source),
            )
        )
        if self.baseline_since:
            since = sa.cast(sa.literal(self.baseline_since), sa.DateTime(timezone=True))
            accepted = accepted.where(m.c.observed_at >= since)
        accepted = accepted.subquery("accepted")
        recent = (
            sa.select(accepted.c.value, accepted.c.observed_at)
            .where(accepted.c.nth == 1)
            .order_by(accepted.c.observed_at.desc())
            .limit(self.runs)
            .subquery("recent")
        )
        return sa.select(sa.func.array_agg(aggregate_order_by(recent.c.value, recent.c.observed_at.desc())))

    @override
    def build_query(self) -> str:
        columns = [sa.cast(self.measured(), sa.Float).label(VALUE)]
        day = self.day()
        if day is not None:
            columns.append(day.label(DAY))
        return compile_sql(sa.select(*columns))

    # ---- result ------------------------------------------------------------------------

    @override
    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> dict:
        rows = metrics[TABLE_METRIC] or []
        first = rows[0] if rows else {}
        value = first.get(VALUE)
        value = None if value is None else float(value)
        store = run_store.current()
        baseline = store.values(plain_sql(self.baseline_select(store.source)))
        verdict = band(
            value,
            baseline,
            min_runs=self.min_runs,
            mad_multiplier=self.mad_multiplier,
            tolerance_pct=self.tolerance_pct,
        )
        success = verdict.pop("success")
        observed = {"metric": self.metric, "value": value, **verdict, "min_runs": self.min_runs, "runs": self.runs}
        if first.get(DAY) is not None:
            observed["day"] = first[DAY].isoformat()
        summary = (
            f"{_num(value)}: {verdict['status']} [{_num(verdict['lower'])}, {_num(verdict['upper'])}] "
            f"(median {_num(verdict['median'])} of {plural(verdict['baseline_runs'], 'day')})"
        )
        return {
            "success": success,
            "result": {
                "observed_value": observed,
                "unexpected_count": None,
                "partial_unexpected_list": [] if success else [summary],
                "details": {"baseline": baseline, "summary": summary},
            },
        }

    # ---- rendering ---------------------------------------------------------------------

    @classmethod
    @override
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls, configuration: Any = None, result: Any = None, runtime_configuration: Optional[dict] = None
    ) -> str:
        return observed_sentence(((result.result if result is not None else None) or {}).get("observed_value"))

    @classmethod
    def _band_sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        """The shared second half of the sentence (the band and when it starts judging)."""
        since = " recorded since $baseline_since" if params.get("baseline_since") else ""
        return (
            f" stays within the band learned from its accepted values of the last $runs days{since} (the last "
            "of each day): median ± max($mad_multiplier × MAD, $tolerance_pct % of the median); it passes until "
            "values of $min_runs days are recorded.",
            {
                "runs": params["runs"],
                "min_runs": params["min_runs"],
                "mad_multiplier": number_text(params["mad_multiplier"]),
                "tolerance_pct": number_text(params["tolerance_pct"]),
                "baseline_since": params.get("baseline_since") or "",
            },
        )
