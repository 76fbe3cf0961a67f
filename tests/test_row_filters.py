"""SQL rules that only filter their table's rows (``ytempire_dq.run.row_filters``): which are taken,
and that the condition taken out of the rule counts, and keys, exactly the rows the rule's own
query returns -- as a property over generated conditions, on a real PostgreSQL table with NULLs."""

from __future__ import annotations

import json
import random

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ytempire_dq.run import row_filters
from ytempire_dq.store import row_keys

TABLE = sa.Table("t", sa.MetaData())
IN_SCHEMA = sa.Table("t", sa.MetaData(), schema="public")

TAKEN = {
    "SELECT id, a FROM t WHERE a > current_date": ("a > CURRENT_DATE", ("id", "a")),
    "SELECT x.id, x.b FROM t AS x WHERE x.b > x.a * 720": ("b > a * 720", ("id", "b")),
    "SELECT id, now() AS checked_at FROM t WHERE d > now() OR d IS NULL": ("d > now() OR d IS NULL", ("id",)),
    "SELECT * FROM t WHERE s IN ('a', 'b:c') AND a BETWEEN 1 AND 5": (
        "s IN ('a', 'b:c') AND a BETWEEN 1 AND 5",
        ("*",),
    ),
    "SELECT b AS id FROM t WHERE t.a IS DISTINCT FROM b": ("a IS DISTINCT FROM b", ()),  # not the table's id
    "SELECT id FROM t WHERE d > '2026-01-01'::date": ("d > CAST('2026-01-01' AS date)", ("id",)),
}
NOT_TAKEN = {
    "SELECT id FROM t WHERE a / b > 1": "division can fail on a row",
    "SELECT id FROM t WHERE s::int > 1": "a cast of a column can fail on a row",
    "SELECT id FROM t WHERE lower(s) = 'a'": "a function",
    "SELECT id FROM t WHERE s ~ 'a'": "a regular expression can fail",
    "SELECT id FROM t WHERE a > (SELECT 1)": "a subquery",
    "SELECT count(*) FROM t WHERE a > 1": "an aggregate: one row",
    "SELECT generate_series(1, 2) FROM t WHERE a > 1": "a set-returning function: more rows",
    "SELECT DISTINCT a FROM t WHERE a > 1": "DISTINCT",
    "SELECT id FROM t WHERE a > 1 LIMIT 5": "LIMIT",
    "SELECT id FROM t WHERE a > 1 ORDER BY a": "ORDER BY",
    "SELECT a FROM t WHERE a > 1 GROUP BY a": "GROUP BY",
    "SELECT id FROM t": "no condition",
    "SELECT id FROM ONLY t WHERE a > 1": "ONLY",
    "SELECT id FROM other WHERE a > 1": "another table",
    "SELECT x.id FROM t x JOIN other o ON o.id = x.id WHERE x.a > 1": "a join",
    "SELECT id FROM t AS x(i) WHERE a > 1": "renamed columns",
    "SELECT y.id FROM t AS x WHERE y.a > 1": "a qualifier that is not the table's",
    "SELECT id FROM t WHERE a > 1 UNION SELECT id FROM t WHERE b > 1": "a set operation",
    "WITH w AS (SELECT 1) SELECT id FROM t WHERE a > 1": "a WITH",
    "SELECT id FROM t WHERE a > 1; DELETE FROM t": "two statements",
    "SELECT * FROM (SELECT id, a FROM t WHERE a > 1) AS ytdq_rows WHERE ytdq_rows.a > 3": "an incremental wrapper",
}


@pytest.mark.parametrize("sql", TAKEN)
def test_a_query_that_only_filters_its_table_is_taken(sql):
    assert row_filters.row_filter(sql, TABLE) == TAKEN[sql]
    assert row_filters.row_filter(sql, IN_SCHEMA) == TAKEN[sql]  # `t` is the batch's table either way


@pytest.mark.parametrize("sql", NOT_TAKEN)
def test_anything_more_runs_its_own_query(sql):
    assert row_filters.row_filter(sql, TABLE) is None, NOT_TAKEN[sql]


def test_a_schema_must_be_the_batch_tables():
    assert row_filters.row_filter("SELECT id FROM public.t WHERE public.t.a > 1", IN_SCHEMA) == ("a > 1", ("id",))
    assert row_filters.row_filter("SELECT id FROM public.t WHERE a > 1", TABLE) is None  # unknown schema
    assert row_filters.row_filter("SELECT id FROM other.t WHERE a > 1", IN_SCHEMA) is None


# ------------------------------------------------------------------------------------------------
# the property: the same count and the same keys as the rule's own query, on a real table

COLUMNS = ("a", "b", "c")  # integers, NULL in about one row in five


@pytest.fixture(scope="module")
def table(new_database):
    """``t``: 300 rows of small integers (a fifth of them NULL), a date and a text."""
    engine = sa.create_engine(new_database("row_filters"))
    rng = random.Random(7)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id integer PRIMARY KEY, a integer, b integer, c bigint, d date, s text)")
        values = [
            {
                "id": i,
                **{c: (None if rng.random() < 0.2 else rng.randint(-5, 5)) for c in COLUMNS},
                "d": None if rng.random() < 0.2 else f"2026-01-{rng.randint(1, 28):02d}",
                "s": rng.choice([None, "a", "b", "it's"]),
            }
            for i in range(300)
        ]
        conn.execute(sa.text("INSERT INTO t VALUES (:id, :a, :b, :c, :d, :s)"), values)
    yield engine
    engine.dispose()


operand = st.one_of(
    st.sampled_from([f"x.{c}" for c in COLUMNS] + list(COLUMNS)),
    st.integers(-6, 6).map(str),
    st.sampled_from(["NULL", "x.a + x.b", "x.c * 2", "x.b - 3", "-x.a"]),
)
comparison = st.one_of(
    st.tuples(operand, st.sampled_from(["=", "<>", "<", ">", "<=", ">="]), operand).map(" ".join),
    st.tuples(operand, st.sampled_from(["IS NULL", "IS NOT NULL"])).map(" ".join),
    st.tuples(operand, st.sampled_from(["IS DISTINCT FROM", "IS NOT DISTINCT FROM"]), operand).map(" ".join),
    st.tuples(operand, st.sampled_from(["", "NOT "]), operand, operand).map(lambda t: f"{t[0]} {t[1]}BETWEEN {t[2]} AND {t[3]}"),
    st.tuples(operand, st.sampled_from(["IN", "NOT IN"]), st.lists(st.integers(-3, 3).map(str), min_size=1, max_size=3)).map(
        lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})"
    ),
    st.sampled_from(["x.s = 'it''s'", "s <> 'a'", "x.d > '2026-01-15'::date", "d <= current_date", "(x.a > 0) IS TRUE"]),
)  # fmt: skip
condition = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda c: f"NOT ({c})"),
    ),
    max_leaves=5,
)


def _own_query_count_and_keys(conn, sql: str) -> row_keys.Keys:
    """What the fast path read before: the rule's own query, counted with its keys."""
    rows = sa.text(sql).columns().subquery("q")
    return row_keys.capture(conn, rows, "t", {})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conditions=st.lists(condition, min_size=1, max_size=3))
def test_the_condition_counts_and_keys_what_the_rules_own_query_returns(table, conditions):
    queries = [f"SELECT x.id, x.a FROM t AS x WHERE {c}" for c in conditions]
    taken = [row_filters.row_filter(q, TABLE) for q in queries]
    assert all(t is not None and t[1] == ("id", "a") for t in taken), queries
    with table.connect() as conn:
        own = [_own_query_count_and_keys(conn, q) for q in queries]
        conn.rollback()
        found = row_filters.planning(conn, TABLE, [c for c, _ in taken])
        assert found == {c for c, _ in taken}
        counts = conn.execute(
            sa.select(*[sa.func.count().filter(sa.literal_column(c)) for c, _ in taken]).select_from(TABLE)
        ).one()
        assert list(counts) == [k.total for k in own], list(zip(queries, [c for c, _ in taken]))
        wanted = {i: (c, k.total) for i, ((c, _), k) in enumerate(zip(taken, own)) if k.total}
        read = row_filters.capture_keys(conn, TABLE, "t", wanted, {}) if wanted else {}
        conn.rollback()
    for i, keys in read.items():
        assert sorted(keys.keys) == sorted(own[i].keys) and keys.complete
        assert all(json.loads(k).keys() == {"id"} for k in keys.keys)


def test_a_condition_that_does_not_plan_is_found_without_reading_a_row(table):
    good, missing, mistyped = "a > 1", "nosuchcol > 1", "s > 1"
    with table.connect() as conn:
        assert row_filters.planning(conn, TABLE, [good, missing, mistyped]) == {good}
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 300  # still usable
