"""ExpectColumnValuesToReferenceActiveRows: batch values name existing, active PostgreSQL rows."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional, Tuple

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_store import CrossStoreExpectation, sql_table, text_key
from ytempire_dq.expectations._cross_table import SAMPLE_SIZE, qualified

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect each value of a batch column (e.g. a cached session's user_id) to name an existing "
    "PostgreSQL row that is active: at least one related row whose status is not inactive."
)


class ExpectColumnValuesToReferenceActiveRows(CrossStoreExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    For every batch row (after ``row_condition``), ``column`` must be non-null and equal
    ``table.table_key_column`` of an existing row; when ``status_table`` is given, that row must
    also have at least one ``status_table`` row (joined on ``status_key_column``) whose
    ``status_column`` is not in ``inactive_statuses``.

    Bad (the session's user has only a suspended channel; or no such user)::

        session:ab12  user_id=u1        users: id=u1   channels: (user_id=u1, status='suspended')

    Good::

        session:ab12  user_id=u1        users: id=u1   channels: (user_id=u1, status='active')

    Runs on a pandas batch; the batch's distinct values go to PostgreSQL in one COPY and one
    query (see ``_cross_store``).

    Result: ``unexpected_count`` is the number of batch rows naming a missing or inactive row;
    ``partial_unexpected_list`` up to {SAMPLE_SIZE} of their ``key`` values.

    Args:
        column (str): The batch column, e.g. ``user_id``.
        table (str): The referenced PostgreSQL table, e.g. ``users``.
        table_key_column (str): Its key, e.g. ``id``.
        status_table (str, optional): The table deciding activity, e.g. ``channels``.
        status_key_column (str, optional): Its column referencing the key, e.g. ``user_id``.
        status_column (str, optional): Its status column, e.g. ``status``.
        inactive_statuses (list of str): Statuses that do not count, e.g. ``["suspended", "deleted"]``.
        database_url (str): ``${{DATABASE_URL}}`` (default), substituted when run.

    Supported Data Sources:
        pandas batches, checked against PostgreSQL.
    """

    table: str = pydantic.Field(description="The referenced PostgreSQL table, e.g. 'users'.")
    table_key_column: str = pydantic.Field(default="id", description="The table's key column.")
    status_table: Optional[str] = pydantic.Field(
        default=None, description="The table whose rows make a referenced row active, e.g. 'channels'."
    )
    status_key_column: Optional[str] = pydantic.Field(
        default=None, description="The status table's column referencing the key, e.g. 'user_id'."
    )
    status_column: Optional[str] = pydantic.Field(default=None, description="The status column, e.g. 'status'.")
    inactive_statuses: List[str] = pydantic.Field(
        default_factory=list, description="Statuses that do not make the row active."
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {
        "table": ("table_key_column",),
        "status_table": ("status_key_column", "status_column"),
    }
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "column",
        "table",
        "table_key_column",
        "status_table",
        "status_key_column",
        "status_column",
        "inactive_statuses",
    )

    class Config:
        title = "Expect column values to reference active rows"

    @pydantic.root_validator(skip_on_failure=True)
    def _status_fields_together(cls, values: dict) -> dict:
        given = [values.get(n) is not None for n in ("status_table", "status_key_column", "status_column")]
        if any(given) and not all(given):
            raise ValueError("status_table, status_key_column and status_column go together")
        return values

    @override
    def key_column_of_batch(self) -> str:
        return self.column

    @override
    def lookup(self, keys: sa.TableClause) -> sa.Select:
        ref = sql_table(self.table, self.table_key_column).alias("ref")
        query = sa.select(keys.c.k).where(sa.exists().where(text_key(ref, self.table_key_column) == keys.c.k))
        if self.status_table:
            status = sql_table(self.status_table, self.status_key_column, self.status_column).alias("status")
            active = text_key(status, self.status_key_column) == keys.c.k
            if self.inactive_statuses:
                active = sa.and_(active, status.c[self.status_column].not_in(self.inactive_statuses))
            query = query.where(sa.exists().where(active))
        return query

    @override
    def offending(self, frame: Any, found: dict) -> Any:
        values = frame[self.column].astype(object)
        return values.isna() | ~values.map(lambda v: str(v) in found).astype(bool)

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        values = {"column": params["column"], "reference": qualified(params["table"], params["table_key_column"])}
        if not params.get("status_table"):
            return "Each $column names an existing $reference.", values
        values.update(
            {
                "status_table": params["status_table"],
                "status_join": f"{qualified(params['status_table'], params['status_key_column'])}",
                "status": qualified(params["status_table"], params["status_column"]),
                "inactive": ", ".join(params.get("inactive_statuses") or []) or "nothing",
            }
        )
        return (
            "Each $column names an existing $reference that is active: at least one $status_table "
            "row ($status_join) whose $status is not one of $inactive.",
            values,
        )
