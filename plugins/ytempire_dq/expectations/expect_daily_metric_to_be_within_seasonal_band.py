"""ExpectDailyMetricToBeWithinSeasonalBand: a metric per day, judged against the table's own recent days."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, ClassVar, Dict, List, Literal, Optional, Tuple, Union, get_args

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, OID, aggregate_order_by
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    TABLE_METRIC,
    CrossTableExpectation,
    check_column_name,
    check_non_negative,
    check_table_name,
    compile_sql,
    number_text,
    quoted_table,
    sql_table,
)
from ytempire_dq.expectations._history_band import _num, metric_key
from ytempire_dq.expectations._seasonal import Verdict, judge, judge_gap
from ytempire_dq.store import run_store

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect a metric per day (rows added, a sum, a mean, a rate...) to stay within a band learned "
    "from the same table's previous days, day of week and growth considered, per segment if asked."
)
Metric = Literal[
    "row_count",
    "sum",
    "mean",
    "null_rate",
    "zero_rate",
    "distinct_count",
    "ratio",
    "condition_rate",
    "days_since_newest",
]
METRICS = get_args(Metric)
#: Metrics of whole rows (no column): their value is counted from the day's rows.
ROW_METRICS = ("row_count", "condition_rate", "days_since_newest")
#: The columns of the one query's result (one row per segment).
SEGMENT, FIRST_DAY, NUMERATORS, DENOMINATORS, ROWS = "dq_segment", "dq_first_day", "dq_num", "dq_den", "dq_rows"
#: The column naming the table the values came from (``_relation``): kept with them in the store.
RELATION = "dq_relation"
#: The first day measured from the table (the days before it came from the results store), and
#: a segment's rank by volume over the training days (``segment_by``: above ``top_n``, pooled).
MEASURED_FROM, RANK = "dq_measured_from", "dq_rank"
#: Days go into the statement as whole numbers of days since this date (plain integer literals).
EPOCH = dt.date(2000, 1, 1)
#: The pooled segment of a ``top_n`` rule; the segment of a rule without ``segment_by``.
OTHER, ALL = "other", "all"
#: At most this many anomalies are listed (one sentence each).
LISTED = 20
#: At most this many segments' days are kept in the store and written back into the statement
#: (2,000 segments x 28 training days: 56,000 values, about 1.6 MB of statement at the 1.1 MB
#: measured for 1,334 segments, read, built and checked by the client each night); a rule with
#: more measures its whole window every night.
KEPT_SEGMENTS = 2000
Scalar = Union[str, int, float, bool]


def _float(value: float) -> str:
    """A kept value in PostgreSQL's own float spelling (``repr`` round-trips exactly), so a sum
    over a ``NaN`` numeric (or an infinite float) is read back as it came."""
    value = float(value)
    if math.isfinite(value):  # nearly all: one test (a pooled rule keeps ~40,000 values at 10M rows)
        return repr(value)
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def _day(value: Any) -> dt.date:
    """A date the query returned (GX's rows may carry it as text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _kept_rows(kept_days: List[tuple]) -> Any:
    """The kept days as one ``SELECT`` over a few literals, column by column: ``unnest`` of one
    array per column (days since :data:`EPOCH`, the segment's position, rows, numerator,
    denominator; floats in PostgreSQL's own spelling, which the float type's input reads back
    exactly) and each segment's name once, in a JSON array (JSON quotes any text). A literal per
    value made a statement of 30-120 ``SELECT ... UNION ALL`` that took longer to build, to check
    and to plan than the two days it spares reading; one JSON object per value (``jsonb_to_recordset``)
    spelled every segment and field name again: at 1,334 segments 3.7 MB of statement that the
    client builds, GX scans and hashes, and the server parses, where these arrays take 1.1 MB."""
    segments = list(dict.fromkeys(segment for _, segment, *_ in kept_days))
    position = {segment: i for i, segment in enumerate(segments)}

    def array(values: Any, of: Any) -> Any:
        return sa.cast(sa.literal("{" + ",".join(values) + "}", sa.Text), ARRAY(of))

    values = sa.func.unnest(
        array((str((day - EPOCH).days) for day, *_ in kept_days), sa.Integer),
        array((str(position[segment]) for _, segment, *_ in kept_days), sa.Integer),
        *(array((_float(row[i]) for row in kept_days), sa.Float) for i in (2, 3, 4)),
    ).table_valued("day", "segment_at", "n", "num", "den")
    values = values.render_derived(name="kept_rows")
    day = sa.cast(sa.literal(EPOCH.isoformat()), sa.Date) + values.c.day
    names = sa.cast(sa.literal(json.dumps(segments), sa.Text), JSONB)
    return sa.select(
        day.label("day"),
        names.op("->>")(values.c.segment_at).label("segment"),
        sa.type_coerce(values.c.n, sa.Float).label("n"),
        sa.type_coerce(values.c.num, sa.Float).label("num"),
        sa.type_coerce(values.c.den, sa.Float).label("den"),
    )


class ExpectDailyMetricToBeWithinSeasonalBand(CrossTableExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    Volume and drift from the data itself: the rule reads the table's own last
    ``training_days + detection_days`` days (by ``date_column``, UTC days ending yesterday: only
    complete days are judged), so it judges on its first run, judges a re-run the same day alike,
    and judges a late row again (its day's value changes) while its day is in the detection window.
    Days without rows count (0 rows, a sum of 0), they are not skipped.

    Each detection day is compared with the value expected from the training days: a robust trend
    (Theil–Sen, so steady growth is not an anomaly) plus, when the training days show a weekly
    pattern (``seasonality: auto``) or the rule says so, that weekday's own effect (Saturdays
    against Saturdays); the band is ``sensitivity`` robust σ around it (``_seasonal`` says exactly
    how). With ``segment_by``, each segment (the ``top_n`` largest over the training days, the
    rest pooled as ``other``) is judged on its own: a segment that goes dark while the total stays
    in band fails, named.

    Metrics (``metric``): ``row_count`` (rows that day), ``sum`` / ``mean`` / ``distinct_count``
    of ``column``, ``null_rate`` / ``zero_rate`` of ``column`` (share of the day's rows: null; zero
    among the non-null), ``ratio`` (sum of ``column`` / sum of ``denominator_column``, e.g. revenue
    per view), ``condition_rate`` (share of the day's rows matching ``condition``). A rate or a
    mean on a day without rows has no value: that day is not judged (``row_count`` judges it).
    ``days_since_newest``: the days in a row, up to the judged one, without a row -- a freshness
    learned from the data (``_seasonal.judge_gap``: an empty day is as rare as the training days'
    counts make it; ``sensitivity`` is the one-sided normal tail the gap's chance must stay above).

    Bad (views per day, weekends +30 %, growth +0.3 %/day; expected 1.52 M on a Tuesday)::

        analytics, 2026-12-01: sum(views) = 0.71 M, below [1.31 M, 1.73 M]

    Good::

        analytics, 2026-12-05 (a Saturday): sum(views) = 1.93 M within [1.67 M, 2.19 M]

    Result: ``observed_value`` is the newest judged day (yesterday) of the worst segment:
    ``{{"metric", "day", "value", "expected", "lower", "upper", "training_days", "seasonality",
    "direction", "status", "segment", "anomalies", "anomalous_segments"}}`` plus ``median``,
    ``mad``, ``baseline_runs``, ``min_runs`` (the same number under the names ``dq.metrics`` keeps:
    expected value, σ, training days, ``min_training_days``); ``partial_unexpected_list`` one
    sentence per anomalous day and segment.

    Args:
        table (str): The table, e.g. ``analytics``.
        date_column (str): The date or timestamp column placing a row on a day (UTC), e.g. ``date``.
        metric (str): One of {", ".join(METRICS)} (default ``row_count``).
        column (str): The column measured (every metric but ``row_count`` and ``condition_rate``).
        denominator_column (str): ``ratio`` only: the column whose sum divides.
        condition (dict): ``condition_rate`` only: ``{{column: value}}``, rows matching all.
        where (dict, optional): ``{{column: value}}`` equality filters on the rows measured.
        joins (list, optional): ``[{{"table", "column", "key"}}]``: inner joins to parents, each
            ``table.key`` (default ``id``) = ``column`` of the table before it, so ``where``,
            ``condition`` and ``segment_by`` may name ``parent_table.column``.
        segment_by (str, optional): The column (or ``table.column`` of a join) defining segments.
        top_n (int): With ``segment_by``: the N largest segments (the metric's sum over the
            training days: rows, views...; for a rate, ratio or mean: its denominator)
            are judged alone, the rest pooled as ``other`` (default 10, at most 50).
        training_days (int): Days learned from (default 28: four of each weekday).
        detection_days (int): The newest complete days judged (default 2: yesterday and the day
            before, so a late row is judged again the next night).
        seasonality (str): ``auto`` (default), ``day_of_week`` or ``none``.
        direction (str): ``both`` (default), ``below`` (only drops fail: a segment going dark, not
            a viral day) or ``above`` (only spikes fail).
        sensitivity (number): Half the band in robust σ (default 5).
        min_training_days (int): Fewer training days with a value: "not enough history yet",
            pass (default 14: two of each weekday).
        tolerance_pct (number): Half the band is at least this % of the expected value (default 5).

    Supported Data Sources:
        PostgreSQL (one query: ``generate_series`` days × segments, ``GROUP BY`` day, segment).
    """

    table: str = pydantic.Field(description="The table, e.g. 'analytics'.")
    date_column: str = pydantic.Field(description="The date/timestamp column placing a row on a (UTC) day.")
    metric: Metric = pydantic.Field(
        default="row_count",
        description="What is measured per day: row_count, sum, mean, null_rate, zero_rate, distinct_count, "
        "ratio (sum of column / sum of denominator_column), condition_rate (share of rows matching condition) or "
        "days_since_newest (days in a row without a row).",
    )
    column: Optional[str] = pydantic.Field(default=None, description="The column measured (all but row_count).")
    denominator_column: Optional[str] = pydantic.Field(default=None, description="ratio: the column dividing.")
    condition: Optional[Dict[str, Scalar]] = pydantic.Field(
        default=None, description="condition_rate: {column: value}, the rows counted."
    )
    where: Optional[Dict[str, Scalar]] = pydantic.Field(default=None, description="Equality filters {column: value}.")
    joins: Optional[List[Dict[str, str]]] = pydantic.Field(
        default=None, description="[{table, column, key}]: parents joined on table.key = column."
    )
    segment_by: Optional[str] = pydantic.Field(
        default=None, description="The column (or table.column of a join) defining segments, each judged alone."
    )
    top_n: int = pydantic.Field(default=10, description="segment_by: the N largest segments, the rest pooled.")
    training_days: int = pydantic.Field(default=28, description="Days learned from (before the detection days).")
    detection_days: int = pydantic.Field(default=2, description="Newest complete UTC days judged (yesterday first).")
    seasonality: Literal["auto", "day_of_week", "none"] = pydantic.Field(
        default="auto",
        description="Compare the same weekday: auto (when the training days show it), day_of_week, none.",
    )
    direction: Literal["both", "below", "above"] = pydantic.Field(
        default="both", description="Which side of the band fails: both, below only (drops), above only (spikes)."
    )
    sensitivity: Union[int, float] = pydantic.Field(default=5, description="Half the band, in robust σ.")
    min_training_days: int = pydantic.Field(default=14, description="Fewer: not enough history yet, pass.")
    tolerance_pct: Union[int, float] = pydantic.Field(default=5, description="Half the band >= this % of expected.")

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("date_column", "column", "denominator_column")}
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "table",
        "date_column",
        "metric",
        "column",
        "denominator_column",
        "condition",
        "where",
        "joins",
        "segment_by",
        "top_n",
        "training_days",
        "detection_days",
        "seasonality",
        "direction",
        "sensitivity",
        "min_training_days",
        "tolerance_pct",
    )
    #: Its observed value is a metric recorded in ``dq.metrics``; it has no offending rows.
    history_band: ClassVar[bool] = True

    class Config:
        title = "Expect daily metric to be within seasonal band"

    # ---- checks ------------------------------------------------------------------------

    @pydantic.validator("top_n", "training_days", "detection_days", "min_training_days")
    def _whole(cls, value: Any, field: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{field.name} must be a whole number >= 1, got {value!r}")
        if field.name == "top_n" and value > 50:
            raise ValueError(f"top_n must be at most 50 (one result row per segment), got {value}")
        return value

    _non_negative = pydantic.validator("sensitivity", "tolerance_pct", allow_reuse=True)(check_non_negative)

    @pydantic.validator("joins")
    def _joins(cls, value: Optional[list], values: dict) -> Optional[list]:
        names = [values.get("table")]
        for hop in value or []:
            if (
                not isinstance(hop, dict)
                or set(hop) - {"table", "column", "key"}
                or not {"table", "column"} <= set(hop)
            ):
                raise ValueError(f"a join is {{'table', 'column', 'key' (default 'id')}}, got {hop!r}")
            check_table_name(hop["table"])
            check_column_name(hop["column"])
            check_column_name(hop.get("key", "id"))
            if hop["table"] in names:
                raise ValueError(f"{hop['table']!r} is joined twice (or is the rule's table)")
            names.append(hop["table"])
        return value

    @pydantic.validator("min_training_days")
    def _min_within_window(cls, value: int, values: dict) -> int:
        if values.get("training_days") is not None and value > values["training_days"]:
            raise ValueError(f"min_training_days ({value}) cannot exceed training_days ({values['training_days']})")
        return value

    @pydantic.root_validator(skip_on_failure=True)
    def _parameters_fit_the_metric(cls, values: dict) -> dict:
        metric = values.get("metric")
        if metric not in ROW_METRICS and not values.get("column"):
            raise ValueError(f"metric {metric!r} needs a column")
        if (metric == "ratio") != bool(values.get("denominator_column")):
            raise ValueError("denominator_column goes with metric 'ratio' (and it needs one)")
        if (metric == "condition_rate") != bool(values.get("condition")):
            raise ValueError("condition goes with metric 'condition_rate' (and it needs one)")
        tables = [values.get("table"), *(hop["table"] for hop in values.get("joins") or [])]
        refs = [*(values.get("where") or {}), *(values.get("condition") or {})]
        if values.get("segment_by"):
            refs.append(values["segment_by"])
        for ref in refs:
            table, _, column = ref.rpartition(".")
            check_column_name(column)
            if table and table not in tables:
                raise ValueError(f"{ref!r} names a table that is neither the rule's nor a join's")
        return values

    # ---- what the run asks the class ---------------------------------------------------

    @classmethod
    @override
    def table_references(cls, kwargs: Optional[dict]) -> List[Tuple[str, List[str]]]:
        """The rule's table and every joined parent, each with the columns named on it."""
        kwargs = kwargs or {}
        table = kwargs.get("table")
        if not isinstance(table, str) or not table:
            return []
        refs: Dict[str, List[str]] = {table: []}
        refs[table] += [kwargs[f] for f in ("date_column", "column", "denominator_column") if kwargs.get(f)]
        previous = table
        for hop in kwargs.get("joins") or []:
            refs[previous].append(hop["column"])
            refs.setdefault(hop["table"], []).append(hop.get("key", "id"))
            previous = hop["table"]
        named = [*(kwargs.get("where") or {}), *(kwargs.get("condition") or {})]
        if kwargs.get("segment_by"):
            named.append(kwargs["segment_by"])
        for ref in named:
            owner, _, column = ref.rpartition(".")
            refs.setdefault(owner or table, []).append(column)
        return [(t, list(dict.fromkeys(cols))) for t, cols in refs.items()]

    @override
    def offending_keys_select(self, primary_key: Any) -> None:
        return None

    @override
    def offending_keys_from_result(self, conn: Any, result: dict, primary_key: Any) -> None:
        return None

    # ---- what is measured --------------------------------------------------------------

    def metric_text(self) -> str:
        """What is measured, in words: the series' key in ``dq.metrics`` (stable across runs)."""
        what = {
            "row_count": f"row_count({self.table})",
            "days_since_newest": f"days_since_newest({self.table})",
            "ratio": f"sum({self.table}.{self.column}) / sum({self.table}.{self.denominator_column})",
            "condition_rate": f"rate({self._pairs(self.condition)}) in {self.table}",
        }.get(self.metric, f"{self.metric}({self.table}.{self.column})")
        text = f"daily {what} by {self.date_column}"
        if self.where:
            text += f" where {self._pairs(self.where)}"
        if self.segment_by:
            text += f" per {self.segment_by} top {self.top_n}"
        return text

    @property
    def metric_name(self) -> str:
        return metric_key(self.metric_text())

    @staticmethod
    def _pairs(values: Optional[dict]) -> str:
        return ", ".join(f"{k} = {v}" for k, v in sorted((values or {}).items()))

    # ---- SQL ---------------------------------------------------------------------------

    @override
    def offending_rows(self) -> sa.Select:
        """A metric has no offending rows."""
        return sa.select(sa.literal(self.metric_name).label("metric")).where(sa.false())

    def _sources(self) -> Tuple[Any, Dict[str, Any]]:
        """(the FROM clause: the table and its joins, {table name: its alias})."""
        columns = dict(self.table_references({name: getattr(self, name) for name in self.parameter_fields}))
        main = sql_table(self.table, *columns[self.table]).alias("t")
        aliases = {self.table: main}
        source: Any = main
        previous = main
        for n, hop in enumerate(self.joins or [], start=1):
            parent = sql_table(hop["table"], *columns[hop["table"]]).alias(f"j{n}")
            source = source.join(parent, parent.c[hop.get("key", "id")] == previous.c[hop["column"]])
            aliases[hop["table"]] = previous = parent
        return source, aliases

    @staticmethod
    def _column(aliases: Dict[str, Any], default: str, ref: str) -> sa.ColumnElement:
        owner, _, column = ref.rpartition(".")
        return aliases[owner or default].c[column]

    def _parts(self, t: Any, aliases: Dict[str, Any]) -> Tuple[sa.ColumnElement, sa.ColumnElement]:
        """(numerator, denominator) of the day's value, both additive over rows (so segments pool)."""
        rows = sa.func.count()
        col = t.c[self.column] if self.column else None
        if self.metric in ("row_count", "days_since_newest"):
            return rows, rows
        if self.metric == "sum":
            return sa.func.coalesce(sa.func.sum(col), 0), rows
        if self.metric == "mean":
            return sa.func.sum(col), sa.func.count(col)
        if self.metric == "null_rate":
            return rows - sa.func.count(col), rows
        if self.metric == "zero_rate":
            return rows.filter(col == 0), sa.func.count(col)
        if self.metric == "distinct_count":
            return sa.func.count(sa.distinct(col)), rows
        if self.metric == "ratio":
            return sa.func.sum(col), sa.func.sum(t.c[self.denominator_column])
        matches = sa.and_(*(self._column(aliases, self.table, k) == sa.literal(v) for k, v in self.condition.items()))
        return rows.filter(matches), rows  # condition_rate

    def _relation(self) -> sa.ColumnElement:
        """The table's identity as the server sees it: database oid / table oid / file node (a
        table dropped and made again, truncated or rewritten has another)."""
        table = sa.func.to_regclass(sa.literal(quoted_table(self.table), sa.Text))
        database = (
            sa.select(sa.column("oid"))
            .select_from(sa.table("pg_database"))
            .where(sa.column("datname") == sa.func.current_database())
        )
        return sa.func.concat_ws(
            "/",
            database.scalar_subquery(),
            sa.cast(table, OID),
            sa.func.coalesce(sa.func.pg_relation_filenode(table), 0),
        )

    def _kept(self) -> Tuple[Optional[str], List[tuple]]:
        """(relation, [(day, segment, rows, numerator, denominator)]): the days of this rule's
        series that earlier runs of the running checkpoint measured (the results store, this
        source), of the relation measured last; nothing outside a run."""
        store = run_store.running()
        kept = store.daily_values(self.metric_name) if store is not None else []
        if not kept:
            return None, []
        relation = kept[-1][2]
        days = [(day, seg, n, num, den) for day, seg, rel, n, num, den in kept if rel == relation]
        if len({seg for _, seg, *_ in days}) > KEPT_SEGMENTS:
            return None, []
        return relation, days

    def build_query(self) -> str:
        """One statement: per segment, the numerators, denominators and row counts of every day of
        the window, oldest first (arrays), and the window's first day.

        Training days kept in the results store (:meth:`_kept`) are written into the statement; it
        measures only the detection days when they cover every training day and the table is the
        one they were measured on, and the whole window otherwise (decided by the server, on the
        run's snapshot and clock)."""
        days_total = self.training_days + self.detection_days
        # the day boundary is UTC midnight of the run's snapshot (now() is the transaction's start)
        today = sa.cast(sa.func.timezone("UTC", sa.func.now()), sa.Date)
        first = (today - sa.literal(days_total)).label(FIRST_DAY)
        source, aliases = self._sources()
        t = aliases[self.table]
        on = t.c[self.date_column]
        num, den = self._parts(t, aliases)
        window_start = today - sa.literal(days_total)
        relation, kept_days = self._kept()
        kept = covered = None
        start: Any = window_start
        if kept_days:
            fresh_from = today - sa.literal(self.detection_days)
            kept = _kept_rows(kept_days).cte("kept")
            training = sa.and_(kept.c.day >= window_start, kept.c.day < fresh_from)
            counted = (
                sa.select(sa.func.count(sa.distinct(kept.c.day))).select_from(kept).where(training).scalar_subquery()
            )
            covered = sa.and_(self._relation() == sa.literal(relation), counted == sa.literal(self.training_days))
            start = sa.case((covered, fresh_from), else_=window_start)
        segment = (
            sa.func.coalesce(sa.cast(self._column(aliases, self.table, self.segment_by), sa.Text), "(null)")
            if self.segment_by
            else sa.cast(sa.literal(ALL), sa.Text)
        )
        day = sa.cast(on, sa.Date)
        agg = sa.select(
            day.label("day"),
            segment.label("segment"),
            sa.func.count().label("n"),
            sa.cast(num, sa.Float).label("num"),
            sa.cast(den, sa.Float).label("den"),
        ).select_from(source)
        # a range on the column itself (not CAST(column AS date)): an index on it can find the rows
        agg = agg.where(on >= start, on < today)
        for ref, value in (self.where or {}).items():
            agg = agg.where(self._column(aliases, self.table, ref) == sa.literal(value))
        agg = agg.group_by(day, segment)
        if kept is not None:  # the kept training days, when they cover the window's (a day without rows adds none)
            agg = sa.union_all(
                agg,
                sa.select(kept.c.day, kept.c.segment, kept.c.n, kept.c.num, kept.c.den).where(
                    covered, training, kept.c.n > 0
                ),
            )
        agg = agg.cte("agg")
        if self.segment_by:  # each segment's rank by volume over the training days (pooled in _validate)
            # volume: what the metric adds up (rows, views...); a rate's or a mean's rows
            volume = (
                agg.c.num if self.metric in ("row_count", "sum", "distinct_count", "days_since_newest") else agg.c.den
            )
            ranked = (
                sa.select(
                    agg.c.segment,
                    sa.func.row_number().over(order_by=(sa.func.sum(volume).desc(), agg.c.segment)).label("rank"),
                )
                .where(agg.c.day < today - sa.literal(self.detection_days))
                .group_by(agg.c.segment)
                .cte("ranked")
            )
            segments = sa.select(agg.c.segment).distinct().cte("segments")
            rank = ranked.c.rank
            grid_segments = segments.outerjoin(ranked, ranked.c.segment == segments.c.segment)
            # the segments of one pooled series come together, in the order of its name
            pooled_name = sa.case((rank <= self.top_n, segments.c.segment), else_=sa.cast(sa.literal(OTHER), sa.Text))
            order: tuple = (pooled_name, segments.c.segment)
            extra = [rank.label(RANK)]
        else:
            segments = sa.select(sa.cast(sa.literal(ALL), sa.Text).label("segment")).cte("segments")
            grid_segments, order, extra, rank = segments, (segments.c.segment,), [], None
        offsets = sa.select(sa.func.generate_series(0, days_total - 1).label("i")).cte("offsets")
        on_day = today - sa.literal(days_total) + offsets.c.i
        grid = grid_segments.join(offsets, sa.true()).outerjoin(
            agg, sa.and_(agg.c.segment == segments.c.segment, agg.c.day == on_day)
        )
        statement = (
            sa.select(
                segments.c.segment.label(SEGMENT),
                *extra,
                first,
                sa.cast(start, sa.Date).label(MEASURED_FROM),
                self._relation().label(RELATION),
                sa.func.array_agg(aggregate_order_by(sa.func.coalesce(agg.c.num, 0), offsets.c.i)).label(NUMERATORS),
                sa.func.array_agg(aggregate_order_by(sa.func.coalesce(agg.c.den, 0), offsets.c.i)).label(DENOMINATORS),
                sa.func.array_agg(aggregate_order_by(sa.func.coalesce(agg.c.n, 0), offsets.c.i)).label(ROWS),
            )
            .select_from(grid)
            .group_by(segments.c.segment, *([rank] if rank is not None else []))
            .order_by(*order)
        )
        return compile_sql(statement)

    # ---- result ------------------------------------------------------------------------

    def values_of(self, numerators: List[float], denominators: List[float]) -> List[Optional[float]]:
        """Each day's value: the numerator (counts, sums) or numerator / denominator (None without rows)."""
        if self.metric in ("row_count", "sum", "distinct_count", "days_since_newest"):
            return [float(n) for n in numerators]
        return [float(n) / float(d) if d else None for n, d in zip(numerators, denominators)]

    def verdicts(self, rows: List[dict]) -> Dict[str, List[Verdict]]:
        """{segment: [verdict of each detection day, oldest first]} from the query's rows."""
        out = {}
        for row in rows:
            first = _day(row[FIRST_DAY])
            dens = [float(d) for d in row[DENOMINATORS]]
            values = self.values_of(row[NUMERATORS], dens)
            # the days before the segment's first row are before its history, not days of 0
            started = next((i for i, n in enumerate(row[ROWS]) if n), len(values))
            values = [None] * started + values[started:]
            if self.metric == "days_since_newest":
                out[str(row[SEGMENT])] = judge_gap(
                    first,
                    values,
                    detection_days=self.detection_days,
                    sensitivity=self.sensitivity,
                    min_training_days=self.min_training_days,
                )
                continue
            out[str(row[SEGMENT])] = judge(
                first,
                values,
                dens,
                detection_days=self.detection_days,
                kind=self.metric,
                seasonality=self.seasonality,
                sensitivity=self.sensitivity,
                min_training_days=self.min_training_days,
                tolerance_pct=self.tolerance_pct,
            )
            if self.direction != "both":  # a one-sided rule: the other side is within band
                for v in out[str(row[SEGMENT])]:
                    if v.anomalous and v.direction != self.direction:
                        v.anomalous, v.status = False, f"{v.status} (only {self.direction} fails)"
        return out

    def sentence(self, segment: str, v: Verdict) -> str:
        """One anomaly in words (the terminal's sample column, Data Docs)."""
        where = f" {self.segment_by} = {segment}" if self.segment_by else ""
        return (
            f"{self.table}{where}, {v.day.isoformat()}: {self.metric} = {_num(v.value)}, {v.status} "
            f"[{_num(v.lower)}, {_num(v.upper)}] (expected {_num(v.expected)} from {v.training} days"
            f"{', same weekday' if v.weekly else ''})"
        )

    def pooled(self, rows: List[dict]) -> List[dict]:
        """The query's rows as the rule judges them: with ``segment_by``, the ``top_n`` segments by
        volume over the training days each alone, the rest summed day by day as ``other``. (The
        query returns every segment, ranked, so that the store keeps each one's days: the next
        night's ranking needs them all.)"""
        if not self.segment_by:
            return rows
        series: Dict[str, dict] = {}
        for row in rows:
            rank = row.get(RANK)
            name = str(row[SEGMENT]) if rank is not None and rank <= self.top_n else OTHER
            into = series.get(name)
            if into is None:
                series[name] = {**row, SEGMENT: name}
                continue
            for column in (NUMERATORS, DENOMINATORS, ROWS):
                into[column] = [a + b for a, b in zip(into[column], row[column])]
        return list(series.values())

    @override
    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> dict:
        by_segment = self.verdicts(self.pooled(metrics[TABLE_METRIC] or []))
        anomalies = [(s, v) for s, vs in by_segment.items() for v in vs if v.anomalous]
        anomalies.sort(key=lambda sv: (sv[1].day, -abs(sv[1].z), sv[0]))
        newest = [(s, vs[-1]) for s, vs in by_segment.items() if vs]
        # the headline: yesterday, of the segment furthest from its expected value
        segment, head = max(newest, key=lambda sv: (sv[1].anomalous, abs(sv[1].z)), default=(None, None))
        observed: Dict[str, Any] = {"metric": self.metric_name}
        if head is None:
            observed.update(
                status="no rows in the window", value=None, baseline_runs=0, min_runs=self.min_training_days
            )
        else:
            observed.update(
                day=head.day.isoformat(),
                value=head.value,
                expected=head.expected,
                lower=head.lower,
                upper=head.upper,
                training_days=head.training,
                seasonality="day_of_week" if head.weekly else "none",
                direction=head.direction,
                status=head.status,
                # the same, under the names dq.metrics keeps (store.metrics)
                median=head.expected,
                mad=head.sigma,
                baseline_runs=head.training,
                min_runs=self.min_training_days,
            )
        if self.segment_by:
            observed["segment"] = segment
            observed["segments"] = len(by_segment)
            observed["anomalous_segments"] = sorted({s for s, _ in anomalies})[:LISTED]
        observed["anomalies"] = len(anomalies)
        success = not anomalies
        result: Dict[str, Any] = {
            "observed_value": observed,
            "unexpected_count": None,
            "partial_unexpected_list": [self.sentence(s, v) for s, v in anomalies[:LISTED]],
        }
        kept = self.daily_values(metrics[TABLE_METRIC] or [])
        if kept:
            result["details"] = {"daily_values": kept}
        return {"success": success, "result": result}

    def daily_values(self, rows: List[dict]) -> Optional[Dict[str, Any]]:
        """What the run keeps of this result for the next runs (``dq.daily_values``): each segment's
        days measured from the table this run (from ``measured_from``; the days before came from
        the store, which has them), every segment's, pooled or not; none past
        :data:`KEPT_SEGMENTS` segments."""
        if not rows or rows[0].get(RELATION) is None or len(rows) > KEPT_SEGMENTS:
            return None
        first = _day(rows[0][FIRST_DAY])
        measured = _day(rows[0].get(MEASURED_FROM) or first)
        fresh = slice((measured - first).days, None)
        return {
            "metric": self.metric_name,
            "first_day": first.isoformat(),
            "measured_from": measured.isoformat(),
            "relation": str(rows[0][RELATION]),
            "segments": {
                str(row[SEGMENT]): {
                    "rows": [float(v) for v in row[ROWS][fresh]],
                    "numerators": [float(v) for v in row[NUMERATORS][fresh]],
                    "denominators": [float(v) for v in row[DENOMINATORS][fresh]],
                }
                for row in rows
            },
        }

    # ---- rendering ---------------------------------------------------------------------

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        metric = params.get("metric") or "row_count"
        what = {
            "row_count": "the number of $table rows",
            "days_since_newest": "the number of days in a row without a new $table row",
            "ratio": "sum($column) / sum($denominator_column) of $table",
            "condition_rate": "the share of $table rows where $condition",
            "null_rate": "the share of $table rows where $column is null",
            "zero_rate": "the share of $table rows where $column is 0",
            "distinct_count": "the number of distinct $column of $table",
            "mean": "the mean of $column of $table",
        }.get(metric, "the sum of $column of $table")
        where = " (rows where $where)" if params.get("where") else ""
        side = {"below": " (only a value below it fails)", "above": " (only a value above it fails)"}.get(
            params.get("direction") or "both", ""
        )
        segments = (
            " in each of the $top_n largest segments by $segment_by (the rest pooled as 'other')"
            if params.get("segment_by")
            else ""
        )
        weekly = {
            "auto": "the same weekday when the training days show a weekly pattern",
            "day_of_week": "the same weekday",
            "none": "every day alike",
        }[params.get("seasonality") or "auto"]
        template = (
            f"Each day (by $date_column, UTC), {what}{where}{segments}, over the last $detection_days complete "
            f"days, stays within the band expected from the $training_days days before: their robust trend and "
            f"{weekly}, ± $sensitivity robust σ (at least $tolerance_pct % of the expected value){side}; "
            "with fewer than $min_training_days training days it passes."
        )
        if metric == "days_since_newest":
            template = (
                f"Up to each of the last $detection_days complete days (by $date_column, UTC), {what}{where}"
                f"{segments} is no longer than the $training_days days before make likely: an empty day as "
                "rare as their counts make it, a gap as unlikely as a $sensitivity σ one-sided tail fails; "
                "with fewer than $min_training_days training days it passes."
            )
        return template, {
            "table": params["table"],
            "date_column": params["date_column"],
            "column": params.get("column") or "",
            "denominator_column": params.get("denominator_column") or "",
            "condition": cls._pairs(params.get("condition")),
            "where": cls._pairs(params.get("where")),
            "segment_by": params.get("segment_by") or "",
            "top_n": params.get("top_n", 10),
            "detection_days": params.get("detection_days", 2),
            "training_days": params.get("training_days", 28),
            "sensitivity": number_text(params.get("sensitivity", 5)),
            "tolerance_pct": number_text(params.get("tolerance_pct", 5)),
            "min_training_days": params.get("min_training_days", 14),
        }
