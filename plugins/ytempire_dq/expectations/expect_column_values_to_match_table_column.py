"""ExpectColumnValuesToMatchTableColumn: a cached copy agrees with its PostgreSQL source."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_store import CrossStoreExpectation, sql_table, text_key
from ytempire_dq.expectations._cross_table import SAMPLE_SIZE, check_number, number_text, qualified

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect each value of a batch column (e.g. a Redis cache snapshot) to agree, within a "
    "tolerance, with a column of the PostgreSQL row its key names."
)


class ExpectColumnValuesToMatchTableColumn(CrossStoreExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    For every batch row (after ``row_condition``), the PostgreSQL row of ``table`` whose
    ``table_key_column`` equals the batch's ``key_column`` must exist and its ``table_column``
    must lie within ``tolerance`` of the batch's ``column``: ``|column - table_column| <=
    tolerance``. A batch row with no such PostgreSQL row is a stale copy too (it counts); a
    row whose ``column`` or ``key_column`` is null is not checked (a not-null rule covers that).

    Bad (the cache says 5,400 views, ``videos.view_count`` is 5,000; tolerance 100)::

        video:v1:stats  view_count=5400        videos: id=v1, view_count=5000

    Good (5,050 vs 5,000, within 100)::

        video:v1:stats  view_count=5050        videos: id=v1, view_count=5000

    Runs on a pandas batch (the Redis snapshot); the batch's distinct keys go to PostgreSQL in
    one COPY and one query (see ``_cross_store``).

    Result: ``unexpected_count`` (= ``observed_value``) is the number of batch rows that disagree;
    ``partial_unexpected_list`` up to {SAMPLE_SIZE} of their ``key`` values.

    Args:
        column (str): The batch column compared, e.g. ``view_count``.
        key_column (str): The batch column naming the PostgreSQL row, e.g. ``video_id``.
        table (str): The PostgreSQL table, e.g. ``videos``.
        table_key_column (str): Its key column, e.g. ``id``.
        table_column (str): Its column the batch value must agree with, e.g. ``view_count``.
        tolerance (number): The largest allowed absolute difference, >= 0 (default 100).
        database_url (str): ``${{DATABASE_URL}}`` (default), substituted when run.

    Supported Data Sources:
        pandas batches, checked against PostgreSQL.
    """

    key_column: str = pydantic.Field(description="The batch column naming the PostgreSQL row, e.g. 'video_id'.")
    table: str = pydantic.Field(description="The PostgreSQL table holding the source value, e.g. 'videos'.")
    table_key_column: str = pydantic.Field(default="id", description="The table's key column, e.g. 'id'.")
    table_column: str = pydantic.Field(description="The table column the batch value must agree with.")
    tolerance: Union[int, float] = pydantic.Field(
        default=100, description="The largest allowed |column - table_column|, a number >= 0."
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("table_key_column", "table_column")}
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "column",
        "key_column",
        "table",
        "table_key_column",
        "table_column",
        "tolerance",
    )

    class Config:
        title = "Expect column values to match table column"

    @pydantic.validator("tolerance", pre=True)
    def _tolerance_is_a_number(cls, value: Any) -> Union[int, float]:
        return check_number(value, "tolerance")

    @override
    def key_column_of_batch(self) -> str:
        return self.key_column

    @override
    def lookup(self, keys: sa.TableClause) -> sa.Select:
        source = sql_table(self.table, self.table_key_column, self.table_column).alias("source")
        return sa.select(keys.c.k, source.c[self.table_column]).select_from(
            keys.join(source, text_key(source, self.table_key_column) == keys.c.k)
        )

    @override
    def offending(self, frame: Any, found: dict) -> Any:
        import pandas as pd

        keys = frame[self.key_column].astype(object)
        cached = pd.to_numeric(frame[self.column], errors="coerce").astype("float64")
        source = keys.map(lambda k: found[str(k)][1] if str(k) in found else None)
        source = pd.to_numeric(source, errors="coerce").astype("float64")
        checked = keys.notna() & cached.notna()
        missing = ~keys.map(lambda k: str(k) in found).astype(bool)
        differs = (cached - source).abs().gt(self.tolerance).fillna(False).astype(bool)
        return checked & (missing | differs)

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        return (
            "Each $column is within $tolerance of $source, the row whose $table_key equals $key "
            "(a value with no such row counts as stale).",
            {
                "column": params["column"],
                "tolerance": number_text(params["tolerance"]),
                "source": qualified(params["table"], params["table_column"]),
                "table_key": qualified(params["table"], params["table_key_column"]),
                "key": params["key_column"],
            },
        )
