"""ExpectTableRowCountToBeWithinHistoryBand: volume, judged against the table's own recent history."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Tuple

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import apply_where, sql_table
from ytempire_dq.expectations._history_band import DEFAULTS_DOC, HistoryBandExpectation

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect a table's row count to stay within a band learned from the counts of its last accepted runs."
)


class ExpectTableRowCountToBeWithinHistoryBand(HistoryBandExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    Volume: a load that lost or doubled rows leaves every row valid; only the count shows it. The
    count now (of the rows matching ``where``) is compared with the band learned from the counts
    earlier runs recorded (``dq.metrics``, see ``_history_band``); with too few of them the rule
    passes and says ``not enough history yet (n of min_runs days)``.

    Bad (the last 14 nights counted 148,900 .. 149,400 analytics rows; band ± 10 %)::

        analytics: 88,000 rows

    Good::

        analytics: 151,200 rows

    Result: ``observed_value`` is ``{{"metric", "value", "median", "mad", "lower", "upper",
    "baseline_runs", "min_runs", "runs", "status"}}``; ``details.baseline`` the values the band
    was learned from, newest first.

    Args:
        table (str): The table, e.g. ``analytics``.
        where (dict, optional): ``{{column: value}}`` equality filters on the rows counted.
    {DEFAULTS_DOC}
    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect; the history in schema ``dq``, migration 005).
    """

    table: str = pydantic.Field(description="The table whose rows are counted, e.g. 'analytics'.")

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("where",)}
    parameter_fields: ClassVar[Tuple[str, ...]] = ("table", "where", *HistoryBandExpectation.band_fields)

    class Config:
        title = "Expect table row count to be within history band"

    @override
    def metric_text(self) -> str:
        return f"row_count({self.table}){self.where_text()}"

    @override
    def measured(self) -> sa.ColumnElement:
        t = sql_table(self.table, *(self.where or {})).alias("t")
        query = sa.select(sa.func.count()).select_from(t)
        return apply_where(query, t, self.where).scalar_subquery()

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        where = " (rows where $where)" if params.get("where") else ""
        rest, values = cls._band_sentence(params)
        return (
            f"The row count of $table{where}{rest}",
            {
                "table": params["table"],
                "where": ", ".join(f"{k} = {v}" for k, v in (params.get("where") or {}).items()),
                **values,
            },
        )
