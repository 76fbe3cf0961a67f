"""ExpectColumnValuesToBeWithinTableCategoryLimit: a batch value within the limit of its owner's category."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Tuple, Union

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from typing_extensions import override

from ytempire_dq.expectations._cross_store import CrossStoreExpectation, sql_table, text_key
from ytempire_dq.expectations._cross_table import SAMPLE_SIZE, check_number, qualified

EXPECTATION_SHORT_DESCRIPTION = (
    "Expect each value of a batch column (e.g. a rate-limit counter) to be at most the limit of "
    "its owner's category in PostgreSQL (e.g. the user's subscription tier), per window."
)
Limit = Union[int, float]


class ExpectColumnValuesToBeWithinTableCategoryLimit(CrossStoreExpectation):
    __doc__ = f"""{EXPECTATION_SHORT_DESCRIPTION}

    For every batch row (after ``row_condition``), the owner is the ``table`` row whose
    ``table_key_column`` equals the batch's ``key_column``; its ``category_column`` picks
    ``limits[category]``, and when ``limit_key_column`` is given the batch row's value of that
    column picks the limit inside it (``limits[category][window]``). ``column`` must be at most
    that limit. Rows whose owner, category or window has no limit are not checked (an existence
    rule covers a missing owner).

    Bad (a free user's hourly counter at 1,200; free allows 1,000 per 3600s)::

        ratelimit:u1:3600s  value=1200        users: id=u1, subscription_tier='free'

    Good::

        ratelimit:u1:3600s  value=900         users: id=u1, subscription_tier='free'

    Runs on a pandas batch; the batch's distinct owners go to PostgreSQL in one COPY and one
    query (see ``_cross_store``).

    Result: ``unexpected_count`` is the number of batch rows over their limit;
    ``partial_unexpected_list`` up to {SAMPLE_SIZE} of their ``key`` values.

    Args:
        column (str): The batch column checked, e.g. ``value``.
        key_column (str): The batch column naming the owner, e.g. ``user_id``.
        table (str): The owner's PostgreSQL table, e.g. ``users``.
        table_key_column (str): Its key, e.g. ``id``.
        category_column (str): Its column choosing the limits, e.g. ``subscription_tier``.
        limits (dict): ``{{category: limit}}`` or, with ``limit_key_column``,
            ``{{category: {{window: limit}}}}``.
        limit_key_column (str, optional): The batch column choosing the inner limit, e.g. ``window``.
        database_url (str): ``${{DATABASE_URL}}`` (default), substituted when run.

    Supported Data Sources:
        pandas batches, checked against PostgreSQL.
    """

    key_column: str = pydantic.Field(description="The batch column naming the owner row, e.g. 'user_id'.")
    table: str = pydantic.Field(description="The owner's PostgreSQL table, e.g. 'users'.")
    table_key_column: str = pydantic.Field(default="id", description="The table's key column.")
    category_column: str = pydantic.Field(description="The table column choosing the limits, e.g. 'subscription_tier'.")
    limits: Dict[str, Union[Limit, Dict[str, Limit]]] = pydantic.Field(
        description="{category: limit} or {category: {limit key: limit}}."
    )
    limit_key_column: Optional[str] = pydantic.Field(
        default=None, description="The batch column choosing the inner limit, e.g. 'window'."
    )

    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {"table": ("table_key_column", "category_column")}
    column_fields: ClassVar[Tuple[str, ...]] = ("limit_key_column",)
    parameter_fields: ClassVar[Tuple[str, ...]] = (
        "column",
        "key_column",
        "table",
        "table_key_column",
        "category_column",
        "limits",
        "limit_key_column",
    )

    class Config:
        title = "Expect column values to be within table category limit"

    @pydantic.validator("limits", pre=True)
    def _limits_are_numbers(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValueError("limits must be a non-empty {category: limit} mapping")
        for category, limit in value.items():
            for name, number in limit.items() if isinstance(limit, dict) else [(None, limit)]:
                check_number(number, f"limits[{category!r}]" + (f"[{name!r}]" if name else ""))
        return value

    @override
    def key_column_of_batch(self) -> str:
        return self.key_column

    @override
    def lookup(self, keys: sa.TableClause) -> sa.Select:
        owner = sql_table(self.table, self.table_key_column, self.category_column).alias("owner")
        return sa.select(keys.c.k, owner.c[self.category_column]).select_from(
            keys.join(owner, text_key(owner, self.table_key_column) == keys.c.k)
        )

    def _limit(self, category: Any, limit_key: Any) -> Optional[float]:
        limit = self.limits.get(category) if isinstance(category, str) else None
        if isinstance(limit, dict):
            limit = limit.get(limit_key) if isinstance(limit_key, str) else None
        return None if limit is None else float(limit)

    @override
    def offending(self, frame: Any, found: dict) -> Any:
        import pandas as pd

        categories = frame[self.key_column].map(lambda k: found[str(k)][1] if str(k) in found else None)
        limit_keys = frame[self.limit_key_column] if self.limit_key_column else pd.Series(None, index=frame.index)
        limit = pd.Series(
            [self._limit(c, w) for c, w in zip(categories, limit_keys)], index=frame.index, dtype="float64"
        )
        value = pd.to_numeric(frame[self.column], errors="coerce").astype("float64")
        return value.gt(limit).fillna(False).astype(bool)

    @classmethod
    @override
    def _sentence(cls, params: dict[str, Any]) -> Tuple[str, dict[str, Any]]:
        # smallest limits first, whatever order the stored mapping comes back in
        def number(v: Any) -> str:
            return f"{v:,}" if isinstance(v, int) else str(v)

        def smallest(limit: Any) -> float:
            return min(limit.values(), default=0) if isinstance(limit, dict) else limit

        parts = []
        for category, limit in sorted((params.get("limits") or {}).items(), key=lambda kv: (smallest(kv[1]), kv[0])):
            if isinstance(limit, dict):
                inner = ", ".join(f"{k} {number(v)}" for k, v in sorted(limit.items(), key=lambda kv: (kv[1], kv[0])))
                parts.append(f"{category} ({inner})")
            else:
                parts.append(f"{category} {number(limit)}")
        by = f", per {params['limit_key_column']}" if params.get("limit_key_column") else ""
        return (
            "Each $column is at most the limit of the $category of the $owner row whose $table_key "
            "equals $key$by: $limits.",
            {
                "column": params["column"],
                "category": qualified(params["table"], params["category_column"]),
                "owner": params["table"],
                "table_key": qualified(params["table"], params["table_key_column"]),
                "key": params["key_column"],
                "by": by,
                "limits": "; ".join(parts),
            },
        )
