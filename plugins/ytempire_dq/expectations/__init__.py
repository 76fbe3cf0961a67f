"""The project's custom GX expectations; importing this package registers every one of them.

Import it before loading any suite that names them (GX drops an expectation whose class is not
registered when the suite loads, and a later save deletes it from the file).

- ``expect_column_values_to_exist_in_table``: no orphans (child value exists in parent table).
- ``expect_child_aggregate_to_match_parent_column``: e.g. sum of daily views ~ ``videos.view_count``.
- ``expect_child_count_per_parent_within_limit``: e.g. active channels per user within the tier limit.
- ``expect_column_newest_value_to_be_recent``: freshness by the database's clock (e.g. the analytics
  sync is current; no workflow running for hours).
- ``expect_column_values_to_be_within_retention``: nothing kept past ``retention_days`` (``dq`` history).

Volume and drift from the run history (``dq.metrics``, migration 005; see ``_history_band``):

- ``expect_table_row_count_to_be_within_history_band``: e.g. analytics did not lose a third of its rows.
- ``expect_column_daily_aggregate_to_be_within_history_band``: e.g. yesterday's total views, a null
  rate, a mean cost stay within the band learned from the last accepted runs.

All six generate one PostgreSQL query from their parameters (see ``_cross_table``).

Cross-store (a pandas batch, the Redis snapshot, checked against PostgreSQL; see ``_cross_store``):

- ``expect_column_values_to_match_table_column``: e.g. cached view counts ~ ``videos.view_count``.
- ``expect_column_values_to_reference_active_rows``: e.g. sessions of existing, active users.
- ``expect_column_values_to_be_within_table_category_limit``: e.g. counters within the user's tier limit.
"""

from ytempire_dq.expectations.expect_child_aggregate_to_match_parent_column import (
    ExpectChildAggregateToMatchParentColumn,
)
from ytempire_dq.expectations.expect_child_count_per_parent_within_limit import (
    ExpectChildCountPerParentWithinLimit,
)
from ytempire_dq.expectations.expect_column_daily_aggregate_to_be_within_history_band import (
    ExpectColumnDailyAggregateToBeWithinHistoryBand,
)
from ytempire_dq.expectations.expect_column_newest_value_to_be_recent import (
    ExpectColumnNewestValueToBeRecent,
)
from ytempire_dq.expectations.expect_column_values_to_be_within_retention import (
    ExpectColumnValuesToBeWithinRetention,
)
from ytempire_dq.expectations.expect_column_values_to_be_within_table_category_limit import (
    ExpectColumnValuesToBeWithinTableCategoryLimit,
)
from ytempire_dq.expectations.expect_column_values_to_exist_in_table import (
    ExpectColumnValuesToExistInTable,
)
from ytempire_dq.expectations.expect_column_values_to_match_table_column import (
    ExpectColumnValuesToMatchTableColumn,
)
from ytempire_dq.expectations.expect_column_values_to_reference_active_rows import (
    ExpectColumnValuesToReferenceActiveRows,
)
from ytempire_dq.expectations.expect_table_row_count_to_be_within_history_band import (
    ExpectTableRowCountToBeWithinHistoryBand,
)

__all__ = [
    "table_references",
    "ExpectChildAggregateToMatchParentColumn",
    "ExpectChildCountPerParentWithinLimit",
    "ExpectColumnDailyAggregateToBeWithinHistoryBand",
    "ExpectColumnNewestValueToBeRecent",
    "ExpectColumnValuesToBeWithinRetention",
    "ExpectColumnValuesToBeWithinTableCategoryLimit",
    "ExpectColumnValuesToExistInTable",
    "ExpectColumnValuesToMatchTableColumn",
    "ExpectColumnValuesToReferenceActiveRows",
    "ExpectTableRowCountToBeWithinHistoryBand",
]
#: The volume/drift types (their class declares ``history_band``): their observed value is
#: recorded in dq.metrics; they have no offending rows.
HISTORY_BAND_TYPES = tuple(
    cls.expectation_type
    for cls in (globals()[name] for name in __all__ if name.startswith("Expect"))
    if getattr(cls, "history_band", False)
)


def table_references(expectation_type: str, kwargs: dict) -> list[tuple[str, list[str]]] | None:
    """``[(table, [its columns])]`` that a rule of one of this project's expectations names in its
    parameters (what its class declares: ``table_references``, from ``table_columns``; defaults
    filled in, dict fields by their keys); None for an expectation that declares none (GX's own:
    its table is the batch's)."""
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        declared = getattr(get_expectation_impl(expectation_type), "table_references", None)
    except Exception:  # noqa: BLE001 - an unknown type: lint reports it elsewhere
        return None
    if declared is None:
        return None
    return declared(kwargs) or None
