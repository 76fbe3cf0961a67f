"""What the run needs to know about a custom expectation is declared on its class (defaults on
``SentenceRendering``, overrides on the bases and on orphans): the tables it reads, how its
offending rows are keyed, how an incremental run scopes it, whether it is a volume/drift rule.
The quarantine, the row keys and the incremental plan ask the class; none names a type."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

import ytempire_dq.expectations as E
from tests.expectations.test_expect_child_aggregate_to_match_parent_column import views_rule
from ytempire_dq.expectations._cross_table import SentenceRendering

PACKAGE = Path(E.__file__).resolve().parents[1]
CUSTOM = [getattr(E, name) for name in E.__all__ if name.startswith("Expect")]
DECLARED = (
    "table_references",
    "tables_read",
    "offending_keys_select",
    "offending_keys_from_result",
    "incremental_table",
    "incremental_scope",
)

ORPHANS = E.ExpectColumnValuesToExistInTable(table="videos", column="channel_id", referenced_table="channels")
TIER_LIMIT = E.ExpectChildCountPerParentWithinLimit(
    table="users",
    key_column="id",
    limit_column="subscription_tier",
    limits={"free": 1, "starter": 5},
    child_table="channels",
    child_key_column="user_id",
    child_filter={"status": "active"},
)
VIEWS = views_rule(aggregate="sum", tolerance=100)
VOLUME = E.ExpectTableRowCountToBeWithinHistoryBand(table="analytics")
CACHED_VIEWS = E.ExpectColumnValuesToMatchTableColumn(
    column="view_count", table="videos", table_key_column="id", table_column="view_count", key_column="video_id"
)


def _sql(select) -> str:
    return str(select.compile(dialect=postgresql.dialect())).replace('"', "")


def test_every_custom_type_answers_through_its_base():
    assert len(CUSTOM) >= 10
    for cls in CUSTOM:
        assert issubclass(cls, SentenceRendering), cls
        for name in DECLARED:
            assert callable(getattr(cls, name)), (cls, name)
    assert set(E.HISTORY_BAND_TYPES) == {c.expectation_type for c in CUSTOM if c.history_band}
    assert set(E.HISTORY_BAND_TYPES) == {
        "expect_table_row_count_to_be_within_history_band",
        "expect_column_daily_aggregate_to_be_within_history_band",
        "expect_daily_metric_to_be_within_seasonal_band",
    }
    assert not any(c.row_level for c in CUSTOM)  # ours judge tables, parents or a batch as a whole


@pytest.mark.parametrize("path", ["store/quarantine.py", "store/row_keys.py", "run/incremental.py"])
def test_the_run_asks_the_class_not_the_type(path):
    names = {"CrossTableExpectation", "CrossStoreExpectation", "HistoryBandExpectation", *E.__all__}
    names.discard("table_references")
    tree = ast.parse((PACKAGE / path).read_text())
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not used & names, f"{path} names {used & names}"


def test_tables_read():
    assert ORPHANS.tables_read() == ["videos", "channels"]
    assert TIER_LIMIT.tables_read() == ["users", "channels"]
    assert VOLUME.tables_read() == ["analytics"]
    assert CACHED_VIEWS.tables_read() == ["videos"]
    assert E.table_references("expect_column_values_to_be_unique", {"column": "id"}) is None  # GX's own: its batch


def test_orphans_are_keyed_by_every_child_row_others_by_their_offending_rows():
    select, table = ORPHANS.offending_keys_select(lambda t: ["id"] if t == "videos" else [])
    assert table == "videos" and "child.id" in _sql(select) and "GROUP BY" not in _sql(select)
    select, table = ORPHANS.offending_keys_select(lambda t: [])  # no primary key: the missing values
    assert table == "videos" and "GROUP BY" in _sql(select)
    select, table = TIER_LIMIT.offending_keys_select(lambda t: ["id"])
    assert table == "users" and _sql(select) == _sql(TIER_LIMIT.offending_rows().subquery("q"))
    assert VOLUME.offending_keys_select(lambda t: ["id"]) is None  # a metric: no rows
    assert CACHED_VIEWS.offending_keys_select(lambda t: ["id"]) is None  # the Redis batch: no table rows


def test_keys_from_a_result_that_lists_every_offending_parent():
    parents = [{"id": "u1", "subscription_tier": "free"}, {"id": "u2", "subscription_tier": "free"}]
    result = {"unexpected_count": 2, "details": {"unexpected_rows": parents}}
    keys = TIER_LIMIT.offending_keys_from_result(None, result, lambda t: ["id"])
    assert keys.keys == [json.dumps({"id": "u1"}), json.dumps({"id": "u2"})] and keys.total == 2
    assert keys.table == "users" and keys.complete
    more = {"unexpected_count": 3, "details": {"unexpected_rows": parents}}  # the sample is not all of them
    assert TIER_LIMIT.offending_keys_from_result(None, more, lambda t: ["id"]) is None
    assert VOLUME.offending_keys_from_result(None, result, lambda t: ["id"]) is None
    assert CACHED_VIEWS.offending_keys_from_result(None, result, lambda t: ["id"]) is None


def test_incremental_scope_is_on_the_child_table():
    assert ORPHANS.incremental_table() == "videos" and VIEWS.incremental_table() == "analytics"
    assert TIER_LIMIT.incremental_table() is None and VOLUME.incremental_table() is None
    assert CACHED_VIEWS.incremental_table() is None and CACHED_VIEWS.incremental_scope("date", "x") is None
    scoped = VIEWS.incremental_scope("date", "2026-01-01")
    assert scoped.incremental_since == {"date": "2026-01-01"} and VIEWS.incremental_since is None
    assert "child.date > '2026-01-01'" in scoped.build_query().replace('"', "")
    assert TIER_LIMIT.incremental_scope("created_at", "2026-01-01") is None  # no child table declared
