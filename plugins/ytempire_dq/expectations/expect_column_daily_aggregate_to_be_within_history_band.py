"""ExpectColumnDailyAggregateToBeWithinHistoryBand: drift of one day's aggregate against recent history."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Literal, Tuple

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import apply_where, qualified, sql_table
from ytempire_dq.expectations._history_band import DEFAULTS_DOC, HistoryBandExpectation

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect a column's aggregate over one day (e.g. yesterday's total views) to stay within a band "
    "learned from the same aggregate in the last accepted runs."
)
AGGREGATES = ("sum", "mean", "count", "null_rate")


class ExpectColumnDailyAggregateToBeWithinHistoryBand(HistoryBandExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    Drift: a sync that delivered a part of a day, a unit change (cents for dollars), a column
    that went null upstream: every row is valid, the day's aggregate is not. The day is
    ``current_date - days_ago`` by the database's clock (rows whose ``date_column`` falls on it,
    timestamps cast to a date), so every nightly run measures "the day before yesterday's run"
    the same way: a source that reports late is late by the same amount in every value of the
    baseline, and like is compared with like.

    ``aggregate``: ``sum`` (a day without rows: 0), ``mean`` (none: no value, which fails once
    there is a baseline), ``count`` (rows with a value), ``null_rate`` (share of the day's rows
    where the column is null, 0..1).

    Bad (yesterday's total views over the last 14 nights: 1.48 M .. 1.52 M; band ± 10 %)::

        analytics, yesterday: sum(views) = 0.89 M (40 % of the day's rows never arrived)

    Good::

        analytics, yesterday: sum(views) = 1.46 M

    Result: ``observed_value`` is ``{{"metric", "value", "day", "median", "mad", "lower", "upper",
    "baseline_runs", "min_runs", "runs", "status"}}``; ``details.baseline`` the values the band
    was learned from, newest first.

    Args:
        table (str): The table, e.g. ``analytics``.
        column (str): The column aggregated, e.g. ``views``.
        aggregate (str): ``sum`` (default), ``mean``, ``count`` or ``null_rate``.
        date_column (str): The column that says which day a row belongs to, e.g. ``date``.
        days_ago (int): Which day: 1 (default) = yesterday, the last complete day.
        where (dict, optional): ``{{column: value}}`` equality filters on the rows aggregated.
    {DEFAULTS_DOC}
    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect; the history in schema ``dq``, migration 005).
    """

    table: str = pydantic.Field(description="The table, e.g. 'analytics'.")
    column: str = pydantic.Field(description="The column aggregated, e.g. 'views'.")
    aggregate: Literal["sum", "mean", "count", "null_rate"] = pydantic.Field(
        default="sum", description="'sum', 'mean', 'count' or 'null_rate'."
    )
    date_column: str = pydantic.Field(description="The date or timestamp column that places a row on a day.")
    days_ago: int = pydantic.Field(default=1, description="The day measured: current_date - days_ago.")

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("column", "date_column", "where")}
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "table",
        "column",
        "aggregate",
        "date_column",
        "days_ago",
        "where",
        *HistoryBandExpectation.band_fields,
    )

    class Config:
        title = "Expect column daily aggregate to be within history band"

    @pydantic.validator("days_ago")
    def _days_ago(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"days_ago must be a whole number >= 0, got {value!r}")
        return value

    @override
    def metric_text(self) -> str:
        return (
            f"{self.aggregate}({qualified(self.table, self.column)}) on {self.date_column} = "
            f"current_date - {self.days_ago}{self.where_text()}"
        )

    @override
    def day(self) -> sa.ColumnElement:
        return sa.func.current_date() - sa.literal(self.days_ago)

    def _aggregate(self, column: sa.ColumnElement) -> sa.ColumnElement:
        if self.aggregate == "sum":
            return sa.func.coalesce(sa.func.sum(column), 0)
        if self.aggregate == "mean":
            return sa.func.avg(column)
        if self.aggregate == "count":
            return sa.func.count(column)
        return sa.func.avg(sa.case((column.is_(None), 1.0), else_=0.0))  # null_rate

    @override
    def measured(self) -> sa.ColumnElement:
        t = sql_table(self.table, self.column, self.date_column, *(self.where or {})).alias("t")
        on_day = t.c[self.date_column]
        # the day as a range, not CAST(column AS date) = day: the same rows (a timestamp with time
        # zone is placed on a day by the session's zone either way), and an index on the column can
        # find them instead of a scan of the whole table
        query = sa.select(self._aggregate(t.c[self.column])).where(
            on_day >= self.day(), on_day < self.day() + sa.literal(1)
        )
        return apply_where(query, t, self.where).scalar_subquery()

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        where = " (rows where $where)" if params.get("where") else ""
        rest, values = cls._band_sentence(params)
        return (
            f"The $aggregate of $column on the day current_date - $days_ago (by $date_column){where}{rest}",
            {
                "aggregate": params.get("aggregate") or "sum",
                "column": qualified(params["table"], params["column"]),
                "days_ago": params.get("days_ago", 1),
                "date_column": params["date_column"],
                "where": ", ".join(f"{k} = {v}" for k, v in (params.get("where") or {}).items()),
                **values,
            },
        )
