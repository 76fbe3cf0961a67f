"""ytempire_dq.rules.profile: the evidence ``ytdq suite suggest`` drafts rules from, on a table
whose every statistic is known."""

from __future__ import annotations

import pytest

from ytempire_dq.db.connect import connect
from ytempire_dq.errors import YtdqError
from ytempire_dq.rules import profile as P


@pytest.fixture(scope="module")
def profiled(db_url):
    conn = connect(db_url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE prof_items (id integer PRIMARY KEY, item_code text NOT NULL, status text, "
                "price numeric(6,2), email text, note text, UNIQUE (item_code))"
            )
            rows = [
                (i, f"AB-{i:04d}", ["new", "done"][i % 2], 1.5 * i, f"p{i}@example.com", None if i % 3 else "x")
                for i in range(1, 9)
            ]
            cur.executemany("INSERT INTO prof_items VALUES (%s, %s, %s, %s, %s, %s)", rows)
            # a declared personal column by name: users.email
        return P.profile("prof_items", db_url), P.profile("users", db_url)
    finally:
        conn.close()


def _col(prof: dict, name: str) -> dict:
    (col,) = [c for c in prof["columns"] if c["name"] == name]
    return col


def test_counts_nulls_and_ranges(profiled):
    prof, _ = profiled
    assert prof["table"] == "prof_items" and prof["rows"] == 8
    assert [c["name"] for c in prof["columns"]] == ["id", "item_code", "status", "price", "email", "note"]
    ident = _col(prof, "id")
    assert ident["kind"] == "integer" and not ident["nullable"] and (ident["min"], ident["max"]) == (1, 8)
    price = _col(prof, "price")
    assert price["kind"] == "number" and price["type"] == "NUMERIC(6, 2)" and price["scale"] == 2
    assert (float(price["min"]), float(price["max"])) == (1.5, 12.0)
    note = _col(prof, "note")
    assert note["non_null"] == 2 and note["nullable"]


def test_low_cardinality_text_gets_its_value_counts(profiled):
    prof, _ = profiled
    assert _col(prof, "status")["values"] == {"done": 4, "new": 4}
    assert "values" not in _col(prof, "item_code")  # every value distinct: not a set


def test_id_like_text_gets_the_narrowest_pattern_after_its_common_prefix(profiled):
    prof, _ = profiled
    code = _col(prof, "item_code")
    assert (code["min_length"], code["max_length"], code["distinct"]) == (7, 7, 8)
    assert code["pattern"] == {"regex": "^AB\\-000[0-9]{1}$", "prefix": "AB-000", "characters": "[0-9]"}


def test_unique_indexes_primary_key_first(profiled):
    prof, _ = profiled
    assert [i["columns"] for i in prof["unique_indexes"]] == [["id"], ["item_code"]]


def test_a_personal_column_gets_no_values_and_no_prefix(profiled):
    _, users = profiled
    email = _col(users, "email")
    assert email["personal"] and "values" not in email
    assert email.get("pattern", {}).get("prefix", "") == ""


def test_an_unknown_table_is_one_line_naming_the_tables(db_url):
    with pytest.raises(YtdqError, match=r"no table 'nope' in .*; its tables: .*prof_items"):
        P.profile("nope", db_url)
