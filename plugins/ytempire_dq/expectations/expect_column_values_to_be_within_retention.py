"""ExpectColumnValuesToBeWithinRetention: no row is older than the project's data-retention period."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Tuple

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import CrossTableExpectation, qualified, sql_table

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect no row of a table to be older than the retention period (default: the project's "
    "retention_days) by its timestamp column, judged by the database's clock."
)


class ExpectColumnValuesToBeWithinRetention(CrossTableExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    Data kept longer than its stated retention breaks the promise of the docs page "Personal data"
    (GDPR art. 5(1)(e), storage limitation): e.g. ``dq.quarantine`` row keys of
    a run older than ``retention_days`` that ``ytdq results prune`` should have removed.

    Bad (``max_age_days`` 30, today 2026-12-01)::

        dq.runs: run_id=nightly-20261015T..., started_at=2026-10-15

    Good::

        dq.runs: run_id=nightly-20261120T..., started_at=2026-11-20

    Result: ``unexpected_count`` is the number of rows older than the cutoff
    (``now() - max_age_days``); the sample lists their keys and timestamps, oldest first.

    Args:
        table (str): The table, e.g. ``dq.runs``.
        column (str): Its timestamp column, e.g. ``started_at``.
        key_column (str): The key the sample shows (and the quarantine keys on), e.g. ``run_id``.
        max_age_days (int, optional): Days kept; left out (``null``): ``config.retention_days()``
            (``YTDQ_RETENTION_DAYS``, default 30), read when the rule runs, so the rule and
            ``ytdq results prune`` share one setting.

    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect).
    """

    table: str = pydantic.Field(description="The table, e.g. 'dq.runs'.")
    column: str = pydantic.Field(description="Its timestamp column, e.g. 'started_at'.")
    key_column: str = pydantic.Field(default="id", description="The key shown in the sample, e.g. 'run_id'.")
    max_age_days: Optional[int] = pydantic.Field(
        default=None, description="Days kept; null: the project's retention_days (YTDQ_RETENTION_DAYS)."
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("column", "key_column")}
    parameter_fields: ClassVar[Tuple[str, ...]] = ("table", "column", "key_column", "max_age_days")

    class Config:
        title = "Expect column values to be within retention"

    @pydantic.validator("max_age_days")
    def _positive(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValueError(f"max_age_days must be a whole number >= 1, got {value!r}")
        return value

    def days(self) -> int:
        from ytempire_dq import config

        return self.max_age_days if self.max_age_days is not None else config.retention_days()

    @override
    def offending_rows(self) -> sa.Select:
        t = sql_table(self.table, self.key_column, self.column).alias("t")
        cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, sa.literal(self.days()))
        return sa.select(t.c[self.key_column], t.c[self.column]).where(t.c[self.column] < cutoff)

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        days = params.get("max_age_days")
        return (
            "No $column value is older than $age (older rows are pruned).",
            {
                "column": qualified(params["table"], params["column"]),
                "age": f"{days} days" if days is not None else "the project's retention_days",
            },
        )
