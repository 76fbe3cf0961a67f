"""ExpectChildCountPerParentWithinLimit: each parent has no more child rows than its limit allows."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    SAMPLE_SIZE,
    CrossTableExpectation,
    check_column_name,
    qualified,
    sql_table,
)

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect each parent row to have at most as many (filtered) child rows as the limit its "
    "limit column's value maps to."
)

Scalar = Union[str, int, float, bool, None]


class ExpectChildCountPerParentWithinLimit(CrossTableExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    For every row of ``table``, the child rows of ``child_table`` whose ``child_key_column``
    equals the parent's ``key_column`` (and that match every ``child_filter`` condition) are
    counted; the count must not exceed ``limits[<the parent's limit_column value>]``.

    A parent whose ``limit_column`` value is not a key of ``limits`` (or is NULL) is **not
    checked**: which values are allowed is the allowed-values rule's business, and it reports
    them; counting them here too would report one defect twice. ``limits`` keys are compared
    with the column's value as text, so the column may be of any type.

    Bad (a free user with two active channels; free allows 1)::

        users: id=u1, subscription_tier=free
        channels: (user_id=u1, status=active), (user_id=u1, status=active)

    Good (the second channel is paused, so only one counts)::

        users: id=u1, subscription_tier=free
        channels: (user_id=u1, status=active), (user_id=u1, status=paused)

    Runs as one SQL query pushed down to PostgreSQL (filtered child rows grouped by key, joined
    to the parent and to the limits as a ``VALUES`` list), whatever table the batch is.

    Result: ``observed_value`` and ``unexpected_count`` are the number of parent rows over their
    limit; ``partial_unexpected_list`` lists up to {SAMPLE_SIZE} of their keys (smallest first)
    and ``details.unexpected_rows`` gives each with its limit value, limit and child count.

    Args:
        table (str): The parent table, e.g. ``users``.
        key_column (str): The parent's key, e.g. ``id``.
        limit_column (str): The parent column that selects the limit, e.g. ``subscription_tier``.
        limits (dict): ``limit_column`` value -> the most child rows allowed (an int >= 0),
            e.g. ``{{"free": 1, "starter": 5, "professional": 20, "enterprise": 100}}``.
        child_table (str): The child table, e.g. ``channels``.
        child_key_column (str): The child column referencing the parent key, e.g. ``user_id``.
        child_filter (dict, optional): Only child rows matching all of these count:
            column -> value (``=``), a list of values (``IN``) or null (``IS NULL``),
            e.g. ``{{"status": "active"}}``.

    Supported Data Sources:
        PostgreSQL (SQL generated for its dialect).
    """

    table: str = pydantic.Field(description="The parent table whose rows are checked, e.g. 'users'.")
    key_column: str = pydantic.Field(description="The parent table's key column, e.g. 'id'.")
    limit_column: str = pydantic.Field(
        description="The parent column whose value selects the limit, e.g. 'subscription_tier'."
    )
    limits: Dict[str, int] = pydantic.Field(
        description=(
            "limit_column value -> the most child rows allowed (an int >= 0); parents with a "
            "value not listed here are not checked."
        )
    )
    child_table: str = pydantic.Field(description="The child table counted, e.g. 'channels'.")
    child_key_column: str = pydantic.Field(
        description="The child column that references the parent key, e.g. 'user_id'."
    )
    child_filter: Optional[Dict[str, Union[Scalar, List[Scalar]]]] = pydantic.Field(
        default=None,
        description=(
            "Only child rows matching all of these count: column -> value (=), "
            "list of values (IN) or null (IS NULL), e.g. {'status': 'active'}."
        ),
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {
        "table": ("key_column", "limit_column"),
        "child_table": ("child_key_column", "child_filter"),
    }
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "table",
        "key_column",
        "limit_column",
        "limits",
        "child_table",
        "child_key_column",
        "child_filter",
    )

    class Config:
        title = "Expect child count per parent within limit"

    @pydantic.validator("limits", pre=True)
    def _limits_are_counts(cls, value: Any) -> Dict[str, int]:
        if not isinstance(value, dict) or not value:
            raise ValueError(f"limits must be a non-empty mapping value -> int, got {value!r}")
        for key, limit in value.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"limits keys must be non-empty strings, got {key!r}")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limits[{key!r}] must be an int >= 0, got {limit!r}")
        return value

    @pydantic.validator("child_filter", pre=True)
    def _filter_names_columns(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"child_filter must be a mapping column -> value, got {value!r}")
        for column, wanted in value.items():
            check_column_name(column)
            for item in wanted if isinstance(wanted, list) else [wanted]:
                if not isinstance(item, (str, int, float, bool, type(None))):
                    raise ValueError(f"child_filter[{column!r}] must be a scalar or a list of scalars, got {wanted!r}")
            if isinstance(wanted, list) and not wanted:
                raise ValueError(f"child_filter[{column!r}] is an empty list (nothing would match)")
        return value

    @override
    def offending_rows(self) -> sa.Select:
        child_filter = self.child_filter or {}
        parent = sql_table(self.table, self.key_column, self.limit_column).alias("parent")
        child = sql_table(self.child_table, self.child_key_column, *child_filter).alias("child")
        limits = sa.values(
            sa.column("limit_value", sa.Text),
            sa.column("max_children", sa.Integer),
            name="limits",
        ).data(sorted(self.limits.items()))
        conditions = []
        for column, wanted in child_filter.items():
            if isinstance(wanted, list):
                conditions.append(child.c[column].in_([sa.literal(v) for v in wanted]))
            elif wanted is None:
                conditions.append(child.c[column].is_(None))
            else:
                conditions.append(child.c[column] == sa.literal(wanted))
        counts = (
            sa.select(
                child.c[self.child_key_column].label("parent_key"),
                sa.func.count().label("child_count"),
            )
            .where(*conditions)
            .group_by(child.c[self.child_key_column])
            .subquery("counts")
        )
        # A parent with no (matching) child rows has 0 <= any limit: an inner join suffices.
        return (
            sa.select(
                parent.c[self.key_column].label(self.key_column),
                parent.c[self.limit_column].label(self.limit_column),
                limits.c.max_children.label("child_limit"),
                counts.c.child_count.label("child_count"),
            )
            .select_from(
                parent.join(limits, limits.c.limit_value == sa.cast(parent.c[self.limit_column], sa.Text)).join(
                    counts, counts.c.parent_key == parent.c[self.key_column]
                )
            )
            .where(counts.c.child_count > limits.c.max_children)
        )

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        conditions = []
        for column, wanted in (params["child_filter"] or {}).items():
            if isinstance(wanted, list):
                conditions.append(f"{column} in ({', '.join(str(v) for v in wanted)})")
            elif wanted is None:
                conditions.append(f"{column} is null")
            else:
                conditions.append(f"{column} = {wanted}")
        limits = params["limits"] or {}
        return (
            "Each $table row has at most N $child_table rows"
            + (" with $child_filter" if conditions else "")
            + " (joined on $join), N set by $limit_column: $limits"
            + "; other values are not checked.",
            {
                "table": params["table"],
                "child_table": params["child_table"],
                "child_filter": " and ".join(conditions),
                "join": (
                    f"{qualified(params['child_table'], params['child_key_column'])} = "
                    f"{qualified(params['table'], params['key_column'])}"
                ),
                "limit_column": qualified(params["table"], params["limit_column"]),
                # smallest limit first (stores sort the keys alphabetically)
                "limits": ", ".join(
                    f"{key}: {value}" for key, value in sorted(limits.items(), key=lambda kv: (kv[1], kv[0]))
                ),
            },
        )
