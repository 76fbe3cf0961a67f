"""One JSON coercion and one walker (ytempire_dq.values), one answer to "which table is this
rule's" (run.report.rule_table) and to "which table does this definition read"
(locations.definition_table)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from types import SimpleNamespace

from ytempire_dq.locations import definition_table, definition_table_parts
from ytempire_dq.values import any_leaf, jsonable, map_leaves


def test_jsonable_gives_plain_json_types():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "uuid": u,
        "date": dt.date(2024, 5, 6),
        "ts": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
        "whole": decimal.Decimal("3.00"),
        "part": decimal.Decimal("2.5"),
        "nan": decimal.Decimal("NaN"),
        "inf": float("inf"),
        "gap": dt.timedelta(minutes=2),
        "raw": b"\x00\xff",
        "tuple": (1, (2, 3)),
        "set": {7},
        1: "int key",
    }
    out = jsonable(value)
    assert out == {
        "uuid": str(u),
        "date": "2024-05-06",
        "ts": "2024-05-06T07:08:09+00:00",
        "whole": 3,
        "part": 2.5,
        "nan": "NaN",
        "inf": "inf",
        "gap": 120.0,
        "raw": "00ff",
        "tuple": [1, [2, 3]],
        "set": [7],
        "1": "int key",
    }
    json.dumps(out, allow_nan=False)  # nothing JSON cannot hold


def test_jsonable_reads_gx_objects_by_their_json_dict():
    class Result:
        def to_json_dict(self):
            return {"when": dt.date(2024, 1, 2)}

    assert jsonable([Result()]) == [{"when": "2024-01-02"}]


def test_map_leaves_walks_dicts_lists_and_tuples_and_cuts_lists():
    value = {"a": ("x", ["y", {"b": "z"}]), "n": 1}
    assert map_leaves(value, lambda v: v.upper() if isinstance(v, str) else v) == {
        "a": ["X", ["Y", {"b": "Z"}]],
        "n": 1,
    }
    assert map_leaves(list(range(10)), lambda v: v, max_items=3) == [0, 1, 2]
    assert map_leaves({"k": 1}, lambda v: v, keys=str.upper) == {"K": 1}
    assert any_leaf({"a": [1, {"b": "needle"}]}, lambda v: v == "needle")
    assert not any_leaf({"needle": [1]}, lambda v: v == "needle")  # keys are not leaves


def test_definition_table_of_a_table_asset_the_cache_and_a_schema():
    def vd(**asset):
        return SimpleNamespace(data=SimpleNamespace(data_asset=SimpleNamespace(**asset)))

    assert definition_table(vd(table_name="users")) == "users"
    assert definition_table(vd(table_name="runs", schema_name="dq")) == "dq.runs"
    assert definition_table_parts(vd(table_name="runs", schema_name="dq")) == ("dq", "runs")
    assert definition_table(vd(table_name="users", schema_name="")) == "users"
    assert definition_table(vd(name="redis_snapshot")) is None  # a dataframe asset: no table
    assert definition_table_parts(vd(name="redis_snapshot")) == (None, None)
    # a definition GX has not resolved to data yet: its asset
    assert definition_table(SimpleNamespace(data=None, asset=SimpleNamespace(table_name="videos"))) == "videos"


def test_a_rules_table_is_never_its_rule_id_prefix():
    import ytempire_dq.expectations  # noqa: F401 - registers the custom expectations
    from ytempire_dq.run.report import rule_table

    # a cross-table rule: its own table, whatever its validation definition reads
    assert rule_table("expect_column_values_to_exist_in_table", {"table": "channels"}, "users") == "channels"
    # a cross-store (cache) rule's `table` is where it looks values up, not where its rows are
    assert rule_table("expect_column_values_to_match_table_column", {"table": "videos"}, "redis_snapshot") == (
        "redis_snapshot"
    )
    # GX's own rules and unknown types: the definition's table
    assert rule_table("expect_column_values_to_not_be_null", {"column": "email"}, "users") == "users"
    assert rule_table("expect_no_such_thing", {"table": "x"}, "users") == "users"
