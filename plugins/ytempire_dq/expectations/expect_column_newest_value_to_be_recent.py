"""ExpectColumnNewestValueToBeRecent: freshness judged against the time the data is as of."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Literal, Optional, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    COUNT_COLUMN,
    SAMPLE_SIZE,
    TABLE_METRIC,
    CrossTableExpectation,
    check_number,
    check_where_columns,
    number_text,
    qualified,
    sql_table,
)
from ytempire_dq.run.snapshot import as_of_clock
from ytempire_dq.values import jsonable

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect the newest value of a date/time column (overall, or per key) to be at most max_age old "
    "by the database's clock (on a hot standby: as of the data's replay time)."
)
CHECKED_AT = "dq_checked_at"
CUTOFF = "dq_cutoff"
NEWEST = "dq_newest"


class ExpectColumnNewestValueToBeRecent(CrossTableExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    Freshness: a sync that stopped, or a job that never finished, leaves data that is valid row by
    row but old. The clock is the database's (``localtimestamp`` / ``current_date``), never the
    machine running the check, and the result records it. In a run it is the time the run's data
    is as of (``ytempire_dq.run.snapshot.as_of_clock``): the run's snapshot instant on a primary; on
    a hot standby the replay position's time, so a lagging replica does not make fresh data look
    stale (the run reports the lag separately).

    - Without ``key_column``: the newest ``column`` value of the rows (matching ``where``) must not
      be older than the cutoff. An empty table (no value at all) passes: volume is another rule.
    - With ``key_column``: the same for every key's newest value (e.g. ``key_column="id"``
      with ``where={{"status": "running"}}``: no workflow running since before the cutoff).

    The cutoff: ``unit="days"``: ``current_date - max_age`` (whole calendar days, so a daily sync
    is judged the same at 00:10 and at 23:50); ``unit="hours"``: ``localtimestamp - max_age hours``.

    Bad (``max_age=3`` days, today 2026-12-01)::

        analytics: newest date 2026-11-26

    Good::

        analytics: newest date 2026-11-30

    Result: ``unexpected_count`` is the number of stale keys (0 or 1 without ``key_column``);
    ``observed_value`` is ``{{"checked_at", "cutoff", "newest", "stale"}}``: the database's clock,
    the cutoff it gave, the newest value seen and the stale count; ``details.unexpected_rows``
    lists up to {SAMPLE_SIZE} stale keys, oldest first.

    Args:
        table (str): The table, e.g. ``analytics``.
        column (str): The date or timestamp column, e.g. ``date``.
        max_age (number): How old the newest value may be, in ``unit`` (> 0).
        unit (str): ``days`` (default) or ``hours``.
        key_column (str, optional): Judge the newest value of each key instead of the table's.
        where (dict, optional): ``{{column: value}}`` equality filters on the rows checked.

    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect).
    """

    table: str = pydantic.Field(description="The table whose newest value is checked, e.g. 'analytics'.")
    column: str = pydantic.Field(description="The date or timestamp column, e.g. 'date'.")
    max_age: Union[int, float] = pydantic.Field(description="How old the newest value may be, in unit.")
    unit: Literal["days", "hours"] = pydantic.Field(default="days", description="'days' or 'hours'.")
    key_column: Optional[str] = pydantic.Field(
        default=None, description="Judge the newest value per key (e.g. 'id' or 'video_id')."
    )
    where: Optional[Dict[str, Union[str, int, float, bool]]] = pydantic.Field(
        default=None, description="Equality filters {column: value} on the rows checked."
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("column", "key_column")}
    parameter_fields: ClassVar[Tuple[str, ...]] = ("table", "column", "max_age", "unit", "key_column", "where")

    class Config:
        title = "Expect column newest value to be recent"

    @pydantic.validator("max_age")
    def _max_age_positive(cls, value: Any, values: dict) -> Union[int, float]:
        check_number(value, "max_age")
        if value <= 0:
            raise ValueError(f"max_age must be > 0, got {value!r}")
        return value

    @pydantic.validator("unit", always=True)
    def _whole_days(cls, value: str, values: dict) -> str:
        age = values.get("max_age")
        if value == "days" and isinstance(age, float) and not age.is_integer():
            raise ValueError(f"max_age in days must be a whole number, got {age!r} (use unit 'hours')")
        return value

    _where_columns = pydantic.validator("where", allow_reuse=True)(check_where_columns)

    # ---- SQL ---------------------------------------------------------------------------

    @staticmethod
    def _clock() -> sa.ColumnElement:
        """``localtimestamp`` as of the run's data (outside a run: the database's clock)."""
        return sa.cast(as_of_clock(), sa.DateTime)

    def _cutoff(self) -> sa.ColumnElement:
        if self.unit == "hours":
            seconds = sa.literal(float(self.max_age) * 3600)
            return self._clock() - sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)
        return sa.cast(sa.cast(as_of_clock(), sa.Date) - sa.literal(int(self.max_age)), sa.DateTime)

    def _groups(self) -> sa.Subquery:
        keys = [self.key_column] if self.key_column else []
        t = sql_table(self.table, self.column, *keys, *(self.where or {})).alias("t")
        query = sa.select(*(t.c[k] for k in keys), sa.func.max(t.c[self.column]).label(NEWEST))
        for name, value in (self.where or {}).items():
            query = query.where(t.c[name] == sa.literal(value))
        return query.group_by(*(t.c[k] for k in keys)).subquery("newest")

    @override
    def offending_rows(self) -> sa.Select:
        groups = self._groups()
        return sa.select(*groups.c).where(sa.cast(groups.c[NEWEST], sa.DateTime) < self._cutoff())

    @override
    def build_query(self) -> str:
        """One row per stale key (oldest first, up to SAMPLE_SIZE), or one row of NULLs when none is
        stale; every row carries the clock, the cutoff, the newest value and the stale count."""
        from ytempire_dq.expectations._cross_table import compile_sql

        groups = self._groups()
        stale = self.offending_rows().subquery("stale")
        sample = sa.select(*stale.c).order_by(stale.c[NEWEST]).limit(SAMPLE_SIZE).subquery("sample")
        clock = sa.select(
            self._clock().label(CHECKED_AT),
            self._cutoff().label(CUTOFF),
            sa.select(sa.func.max(groups.c[NEWEST])).scalar_subquery().label("dq_newest_overall"),
            sa.select(sa.func.count()).select_from(stale).scalar_subquery().label(COUNT_COLUMN),
        ).subquery("clock")
        statement = sa.select(*clock.c, *sample.c).select_from(clock.outerjoin(sample, sa.true()))
        return compile_sql(statement)

    # ---- result ------------------------------------------------------------------------

    @override
    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> dict:
        rows = metrics[TABLE_METRIC] or []
        first = rows[0] if rows else {}
        count = int(first.get(COUNT_COLUMN) or 0)
        observed = {
            "checked_at": jsonable(first.get(CHECKED_AT)),
            "cutoff": jsonable(first.get(CUTOFF)),
            "newest": jsonable(first.get("dq_newest_overall")),
            "stale": count,
        }
        sample = [
            {k: jsonable(v) for k, v in row.items() if not k.startswith("dq_") or k == NEWEST}
            for row in rows
            if row.get(NEWEST) is not None
        ]
        key = self.key_column or NEWEST
        return {
            "success": count == 0,
            "result": {
                "observed_value": observed,
                "unexpected_count": count,
                "partial_unexpected_list": [row.get(key) for row in sample],
                "details": {"unexpected_rows": sample, "sample_size": SAMPLE_SIZE},
            },
        }

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        per = " of every $key_column" if params.get("key_column") else ""
        where = " (rows where $where)" if params.get("where") else ""
        return (
            f"The newest $column value{per}{where} is at most $max_age $unit old by the database's clock.",
            {
                "column": qualified(params["table"], params["column"]),
                "key_column": params.get("key_column") or "",
                "where": ", ".join(f"{k} = {v}" for k, v in (params.get("where") or {}).items()),
                "max_age": number_text(params["max_age"]),
                "unit": params.get("unit") or "days",
            },
        )
