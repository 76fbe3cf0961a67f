"""ExpectColumnValuesToExistInTable: no orphans (every child value exists in the referenced table)."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Tuple

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    SAMPLE_SIZE,
    CrossTableExpectation,
    qualified,
    sql_table,
)

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect every non-null value of a column to exist in a column of another table (no orphans)."
)


class ExpectColumnValuesToExistInTable(CrossTableExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    The referential check a foreign key makes, for copies of the data that lack the constraint
    (replicas, exports, restored backups) or relations no constraint declares. A child row whose
    ``column`` is NULL is not checked (a not-null rule covers that).

    Bad (``channels.user_id`` names a user that is not in ``users``)::

        channels: id=c1, user_id=9f0c...   users: (no row with id=9f0c...)

    Good::

        channels: id=c1, user_id=4a1e...   users: id=4a1e...

    Runs as one SQL query pushed down to PostgreSQL (``NOT EXISTS`` against the referenced
    table), whatever table the batch is: the tables are named by the parameters.

    Result: ``observed_value`` and ``unexpected_count`` are the number of child rows whose value
    has no match; ``partial_unexpected_list`` lists up to {SAMPLE_SIZE} distinct missing values
    (smallest first) and ``details.unexpected_rows`` gives each with the number of child rows
    (``child_rows``) that reference it.

    Args:
        table (str): The child table, e.g. ``channels`` (``schema.name`` allowed).
        column (str): The child column holding the reference, e.g. ``user_id``.
        referenced_table (str): The table the values must exist in, e.g. ``users``.
        referenced_column (str): The column of ``referenced_table`` they must match (default ``id``).

    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect).
    """

    table: str = pydantic.Field(description="The child table whose rows are checked, e.g. 'channels'.")
    column: str = pydantic.Field(description="The child column holding the reference, e.g. 'user_id'.")
    referenced_table: str = pydantic.Field(description="The table the values must exist in, e.g. 'users'.")
    referenced_column: str = pydantic.Field(
        default="id", description="The column of referenced_table the values must match."
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {
        "table": ("column",),
        "referenced_table": ("referenced_column",),
    }
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "table",
        "column",
        "referenced_table",
        "referenced_column",
    )
    child_table_field: ClassVar[Optional[str]] = "table"  # an incremental run: the new child rows only

    class Config:
        title = "Expect column values to exist in table"

    @override
    def offending_rows(self) -> sa.Select:
        orphans = self.orphan_rows()
        return orphans.group_by(orphans.selected_columns[0].element)  # by the missing value

    def orphan_rows(self, *columns: str, among: Optional[list] = None) -> sa.Select:
        """The orphan child rows, one per row: their ``columns`` (the quarantine asks for the child
        table's primary key), or, with none, the missing value and ``count(*)`` to group by it.
        ``among``: only those whose value is one of these (known missing values: an index lookup)."""
        child = sql_table(self.table, self.column, *columns).alias("child")
        parent = sql_table(self.referenced_table, self.referenced_column).alias("parent")
        value = child.c[self.column]
        has_match = sa.exists().where(parent.c[self.referenced_column] == value)
        selected = [child.c[c] for c in columns] or [value.label(self.column), sa.func.count().label("child_rows")]
        among_values = [value.in_(among)] if among is not None else []
        return sa.select(*selected).where(value.is_not(None), *among_values, ~has_match, *self.child_scope(child))

    @override
    def total_count(self, offending: sa.Subquery) -> sa.ColumnElement:
        # One row per missing value: the count is the number of child rows, not of values.
        return sa.cast(sa.func.sum(offending.c.child_rows).over(), sa.BigInteger)

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        return (
            "Every $child_column value exists in $referenced_column (nulls are not checked).",
            {
                "child_column": qualified(params["table"], params["column"]),
                "referenced_column": qualified(params["referenced_table"], params["referenced_column"]),
            },
        )
