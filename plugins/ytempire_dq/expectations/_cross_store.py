"""What the cross-store expectations share: a pandas batch (the Redis snapshot) checked against
PostgreSQL.

The batch is a DataFrame (one row per cache key); the rule looks the batch's key values up in a
PostgreSQL table and counts the rows that disagree. How:

- **Which rows**: the expectation's ``column`` plus its ``row_condition`` (e.g. only rows whose
  ``kind`` is ``session``), applied by GX's pandas execution engine as for any column rule.
- **One round trip per rule, bounded by the batch**: the batch's distinct key values are sent as
  one array parameter, unnested in a CTE and joined there (a hash join, whatever the table's
  size); only the rows of those keys come back. No temporary table: the checks' role is
  read-only (a replica is too). The SQL is built with SQLAlchemy from the parameters
  (identifiers checked to be plain names and quoted by SQLAlchemy, values inlined as literals).
- **Where the database is**: the ``database_url`` parameter, ``${DATABASE_URL}`` by default and
  in the suite file, substituted when the rule runs by the current GX project's config provider
  (the same runtime variables :func:`ytempire_dq.gx.context.open_context` gives the Postgres data
  source), else from :func:`ytempire_dq.config.database_url`. The file never holds a secret, and
  results and Data Docs show only ``${DATABASE_URL}``.
- **Result**: ``unexpected_count`` (= ``observed_value``) is the number of offending rows (cache
  keys), exact; ``partial_unexpected_list`` holds up to :data:`SAMPLE_SIZE` of their ``key``
  values (or the column's values when the batch has no ``key`` column), smallest first.
- **Rendering**: the same sentence machinery as the cross-table rules
  (:class:`~ytempire_dq.expectations._cross_table.SentenceRendering`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Dict, Optional, Tuple

import sqlalchemy as sa
from great_expectations.compatibility import pydantic
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.result_format import ResultFormat
from great_expectations.expectations.expectation import ColumnAggregateExpectation
from typing_extensions import override

from ytempire_dq.expectations._cross_table import (
    SAMPLE_SIZE,
    SentenceRendering,
    check_identifier_field,
    plain_sql,
    sql_table,
)
from ytempire_dq.gx import compat

#: The CTE holding the batch's key values.
KEYS_TABLE = "dq_batch_keys"
DATABASE_URL_DEFAULT = "${DATABASE_URL}"


def resolve_database_url(value: str) -> str:
    """``value`` with ``${VAR}`` substituted by the current GX project (else from ytdq config)."""
    from ytempire_dq import config

    if "${" not in value:
        return value
    try:
        resolved = compat.current_config_provider().substitute_config(value)
    except Exception:  # noqa: BLE001 - no project open: fall back to our own settings
        resolved = value
    if "${" in str(resolved):
        resolved = value.replace(DATABASE_URL_DEFAULT, config.database_url())
    return resolved


class CrossStoreExpectation(SentenceRendering, ColumnAggregateExpectation):
    """Base of the batch-vs-PostgreSQL expectations (abstract: not registered as a type)."""

    database_url: str = pydantic.Field(
        default=DATABASE_URL_DEFAULT,
        description="The PostgreSQL URL to look values up in; '${DATABASE_URL}' (substituted when run).",
    )

    #: {field holding a PostgreSQL table: (fields holding its columns)} (checked, quoted; see
    #: ``expectations.table_references``); ``column_fields``: other plain column names.
    table_columns: ClassVar[Dict[str, Tuple[str, ...]]] = {}
    column_fields: ClassVar[Tuple[str, ...]] = ()

    _identifiers_are_plain_names = pydantic.validator("*", pre=True, allow_reuse=True)(check_identifier_field)

    @property
    @override
    def configuration(self) -> Any:
        configuration = super().configuration
        configuration.kwargs.setdefault("database_url", self.database_url)
        return configuration

    # ---- the check ---------------------------------------------------------------------

    @abstractmethod
    def lookup(self, keys: sa.TableClause) -> sa.Select:
        """A SELECT over the CTE ``keys`` (column ``k``: the batch's key values as
        text) returning what :meth:`offending` needs, first column ``k``."""

    @abstractmethod
    def key_column_of_batch(self) -> str:
        """The batch column whose values are looked up in PostgreSQL."""

    @abstractmethod
    def offending(self, frame: Any, found: dict) -> Any:
        """Boolean Series over ``frame``: the offending rows, given ``{k: lookup row}``."""

    def fetch(self, values: list[str], snap: Any = None) -> dict:
        """``{key value: lookup row}`` for the batch's distinct key values (one query), read on
        ``snap`` (the run's snapshot the batch carries, :func:`ytempire_dq.run.snapshot.of_batch`)."""
        from ytempire_dq.db.connect import connect
        from ytempire_dq.run.snapshot import import_into

        if not values:
            return {}
        keys = sa.table(KEYS_TABLE, sa.column("k"))
        # values are inlined by plain_sql: a '%' in them is literal text for the driver's placeholders
        sql = f"WITH {KEYS_TABLE} (k) AS (SELECT unnest(%s::text[])) " + plain_sql(self.lookup(keys)).replace("%", "%%")
        url = resolve_database_url(self.database_url)
        conn = connect(url)
        try:
            import_into(conn, snap)  # the run's snapshot (ytempire_dq.run.snapshot), before anything runs
            with conn.cursor() as cur:
                cur.execute(sql, (list(values),))
                found = {row[0]: row for row in cur.fetchall()}
            conn.rollback()
        finally:
            conn.close()
        return found

    @override
    def _validate(
        self,
        metrics: dict,
        runtime_configuration: Optional[dict] = None,
        execution_engine: Any = None,
    ) -> dict:
        import pandas as pd

        frame, _, _ = execution_engine.get_compute_domain(
            compat.domain_kwargs_of(self), domain_type=MetricDomainTypes.COLUMN
        )
        key = self.key_column_of_batch()
        values = frame[key] if key in frame else pd.Series(dtype=object, index=frame.index)
        distinct = sorted({str(v) for v in values.dropna().unique()})
        from ytempire_dq.run.snapshot import of_batch

        bad = self.offending(frame, self.fetch(distinct, of_batch(frame))).fillna(False).astype(bool)
        count = int(bad.sum())
        success = count == 0
        result_format = compat.result_format_of(self, runtime_configuration)
        if isinstance(result_format, dict):
            result_format = result_format.get("result_format", ResultFormat.SUMMARY)
        if result_format == ResultFormat.BOOLEAN_ONLY:
            return {"success": success}
        shown = frame["key"] if "key" in frame else frame[self.column]
        sample = sorted(str(v) for v in shown[bad].tolist())[:SAMPLE_SIZE]
        return {
            "success": success,
            "result": {
                "observed_value": count,
                "element_count": len(frame),
                "unexpected_count": count,
                "partial_unexpected_list": sample,
            },
        }


def text_key(table: sa.TableClause, column: str) -> sa.ColumnElement:
    """``table.column`` as text (joined with the batch's text key values)."""
    return sa.cast(table.c[column], sa.Text)


__all__ = ["CrossStoreExpectation", "KEYS_TABLE", "resolve_database_url", "sql_table", "text_key"]
