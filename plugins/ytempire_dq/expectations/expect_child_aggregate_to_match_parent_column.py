"""ExpectChildAggregateToMatchParentColumn: an aggregate of child rows agrees with a parent column."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Literal, Optional, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    SAMPLE_SIZE,
    CrossTableExpectation,
    check_number,
    number_text,
    qualified,
    sql_table,
)

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect an aggregate (sum, count, min, max, avg) of each parent's child rows to agree with "
    "a column of the parent row, within a tolerance."
)
AGGREGATES = ("sum", "count", "min", "max", "avg")


class ExpectChildAggregateToMatchParentColumn(CrossTableExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    For every row of ``table``, the ``aggregate`` of ``child_table.child_column`` over the child
    rows whose ``child_key_column`` equals the parent's ``key_column`` must lie within
    ``tolerance`` of the parent's ``parent_column``: ``|aggregate - parent_column| <= tolerance``.
    A parent with no child rows aggregates to 0 (``COALESCE``); a parent whose
    ``parent_column`` is NULL is not checked (a not-null rule covers that). ``child_column``
    should be numeric.

    Bad (``videos.view_count`` 5000, its daily analytics add up to 1200; tolerance 100)::

        videos: id=v1, view_count=5000   analytics: (v1, 2024-05-01, views=700), (v1, 2024-05-02, views=500)

    Good (1200 vs 1250, within 100)::

        videos: id=v1, view_count=1250   analytics: (v1, 2024-05-01, views=700), (v1, 2024-05-02, views=500)

    Runs as one SQL query pushed down to PostgreSQL (the child table grouped by key, left-joined
    to the parent), whatever table the batch is: the tables are named by the parameters.

    Result: ``observed_value`` and ``unexpected_count`` are the number of parent rows out of
    tolerance; ``partial_unexpected_list`` lists up to {SAMPLE_SIZE} of their keys (smallest
    first) and ``details.unexpected_rows`` gives each with its parent value and the aggregate.

    Args:
        table (str): The parent table, e.g. ``videos``.
        key_column (str): The parent's key, e.g. ``id``.
        parent_column (str): The parent column to compare with, e.g. ``view_count``.
        child_table (str): The child table, e.g. ``analytics``.
        child_key_column (str): The child column referencing the parent key, e.g. ``video_id``.
        child_column (str): The child column aggregated, e.g. ``views``.
        aggregate (str): One of {", ".join(AGGREGATES)} (default ``sum``).
        tolerance (number): The largest allowed absolute difference, >= 0 (default 100).

    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect).
    """

    table: str = pydantic.Field(description="The parent table whose rows are checked, e.g. 'videos'.")
    key_column: str = pydantic.Field(description="The parent table's key column, e.g. 'id'.")
    parent_column: str = pydantic.Field(
        description="The parent column the aggregate must agree with, e.g. 'view_count'."
    )
    child_table: str = pydantic.Field(description="The child table aggregated, e.g. 'analytics'.")
    child_key_column: str = pydantic.Field(
        description="The child column that references the parent key, e.g. 'video_id'."
    )
    child_column: str = pydantic.Field(description="The child column aggregated, e.g. 'views'.")
    aggregate: Literal["sum", "count", "min", "max", "avg"] = pydantic.Field(
        default="sum", description="The aggregate of child_column: sum, count, min, max or avg."
    )
    tolerance: Union[int, float] = pydantic.Field(
        default=100,
        description="The largest allowed |aggregate - parent_column|, a number >= 0.",
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {
        "table": ("key_column", "parent_column"),
        "child_table": ("child_key_column", "child_column"),
    }
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "table",
        "key_column",
        "parent_column",
        "child_table",
        "child_key_column",
        "child_column",
        "aggregate",
        "tolerance",
    )
    #: An incremental run: only the parents having new child rows (each over all its child rows).
    child_table_field: ClassVar[Optional[str]] = "child_table"

    class Config:
        title = "Expect child aggregate to match parent column"

    @pydantic.validator("tolerance", pre=True)
    def _tolerance_is_a_number(cls, value: Any) -> Union[int, float]:
        return check_number(value, "tolerance")

    @override
    def offending_rows(self, per_parent: Optional[sa.Subquery] = None) -> sa.Select:
        """``per_parent`` (``parent_key``, ``child_value``): the child rows' aggregate per parent,
        when read already (:meth:`shared_statement`); else grouped here."""
        parent = sql_table(self.table, self.key_column, self.parent_column).alias("parent")
        touched = None
        if per_parent is None:
            child = sql_table(self.child_table, self.child_key_column, self.child_column).alias("child")
            grouped = sa.select(
                child.c[self.child_key_column].label("parent_key"),
                getattr(sa.func, self.aggregate)(child.c[self.child_column]).label("child_value"),
            ).group_by(child.c[self.child_key_column])
            if self.incremental_since:  # an incremental run: the parents its new child rows touch
                new_rows = sql_table(self.child_table, self.child_key_column).alias("new_child")
                touched = sa.select(new_rows.c[self.child_key_column]).where(*self.child_scope(new_rows))
                grouped = grouped.where(child.c[self.child_key_column].in_(touched))
            per_parent = grouped.subquery("per_parent")
        child_value = sa.func.coalesce(per_parent.c.child_value, 0)
        parent_value = parent.c[self.parent_column]
        aggregate_label = f"{self.aggregate}_{self.child_column}"
        if aggregate_label in (self.key_column, self.parent_column):
            aggregate_label = "child_aggregate"
        query = (
            sa.select(
                parent.c[self.key_column].label(self.key_column),
                parent_value.label(self.parent_column),
                child_value.label(aggregate_label),
            )
            .select_from(parent.outerjoin(per_parent, per_parent.c.parent_key == parent.c[self.key_column]))
            .where(sa.func.abs(child_value - parent_value) > sa.literal(self.tolerance))
        )
        return query if touched is None else query.where(parent.c[self.key_column].in_(touched))

    @override
    def shared_read(self) -> Optional[tuple]:
        """The child table grouped by its key for the same parents: one ``GROUP BY`` for the
        aggregates of every such rule, and the orphans of the same child column (videos' views and
        revenue against analytics, and analytics' orphan ``video_id``s, at 10M rows: one scan of
        analytics, not three). An incremental run's copy reads its own."""
        if self.incremental_since:
            return None
        return (self.table, self.key_column, self.child_table, self.child_key_column)

    @override
    def per_parent_values(self) -> Dict[str, Tuple[str, Optional[str]]]:
        return {"child_value": (self.aggregate, self.child_column)}

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        return (
            "For each $table row, $aggregate_expression over $join is within $tolerance of "
            "$parent_value (a row with no $child_table rows counts as 0).",
            {
                "table": params["table"],
                "child_table": params["child_table"],
                "aggregate_expression": (
                    f"{params['aggregate']}({qualified(params['child_table'], params['child_column'])})"
                ),
                "join": (
                    f"{qualified(params['child_table'], params['child_key_column'])} = "
                    f"{qualified(params['table'], params['key_column'])}"
                ),
                "tolerance": number_text(params["tolerance"]),
                "parent_value": qualified(params["table"], params["parent_column"]),
            },
        )
