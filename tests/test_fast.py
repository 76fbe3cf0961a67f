"""run_checkpoint's fast levers (ytempire_dq.run.validation): the same verdicts, bad-row counts and samples
as GX's own ValidationDefinition.run (YTDQ_FAST=0), uniqueness proved from the catalog only where
a valid unique index exists, the proof stated in the stored result and in Data Docs."""

from __future__ import annotations

import collections
import json
import re
import threading

import pytest
import sqlalchemy as sa

from tests.helpers import assert_same_rules, copy_project, rows
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.run.checkpoint import run_checkpoint

TABLE_VDS = ["users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table"]
# distinct counts for the first 50 kinds (150 users hold at most ~50 of the api_keys kinds)
INJECT = {kind: i % 50 + 1 for i, kind in enumerate(DEFECT_KINDS)}
UNIQUE_RULES = 12


def _project(tmp_path_factory):
    """A project copy with a checkpoint of the seven table suites that builds Data Docs."""
    gx_dir = copy_project(tmp_path_factory.mktemp("fast"))
    root = gx_dir.parent
    vds = [
        {"id": json.loads((root / "validation_definitions" / f"{n}.json").read_text())["id"], "name": n}
        for n in TABLE_VDS
    ]
    (root / "checkpoints" / "tables.json").write_text(
        json.dumps(
            {
                "actions": [{"name": "update_data_docs", "site_names": [], "type": "update_data_docs"}],
                "id": "00000000-0000-4000-8000-0000000fa570",
                "name": "tables",
                "result_format": "SUMMARY",
                "validation_definitions": vds,
            }
        )
    )
    return gx_dir


class Statements:
    """SQL statements SQLAlchemy sends while active."""

    def __init__(self):
        self.sql: list[str] = []
        self.params: list = []

    def _on(self, conn, cursor, statement, parameters, *args):
        self.sql.append(statement)
        self.params.append(parameters)

    def __enter__(self):
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._on)


def _run(gx_dir, url, fast: bool):
    """The run's report and its statements; ``st.decimals``: how many values GX's serializer had
    to convert from ``Decimal`` (each through ``inspect.stack()``)."""
    from great_expectations import util as gx_util

    mp = pytest.MonkeyPatch()
    mp.setenv("YTDQ_FAST", "1" if fast else "0")
    converted = []
    convert = gx_util.convert_decimal_to_float
    mp.setattr(gx_util, "convert_decimal_to_float", lambda d: converted.append(d) or convert(d))
    built = _count_query_builds(mp)
    try:
        with Statements() as st:
            report = run_checkpoint("tables", config_dir=gx_dir, database_url=url)
    finally:
        mp.undo()
    st.decimals = len(converted)
    st.built = built
    return report, st


def _count_query_builds(mp: pytest.MonkeyPatch) -> collections.Counter:
    """How many times each cross-table rule (by id) has its statement built: every class's own
    ``build_query``, counted once however many of them call their parent's."""
    from ytempire_dq.expectations._cross_table import CrossTableExpectation

    built: collections.Counter = collections.Counter()
    inside = threading.local()

    def counted(build):
        def build_query(self):
            if getattr(inside, "on", False):
                return build(self)
            inside.on = True
            try:
                built[self.id] += 1
                return build(self)
            finally:
                inside.on = False

        return build_query

    classes, found = [CrossTableExpectation], []
    while classes:
        cls = classes.pop()
        found.append(cls)
        classes.extend(cls.__subclasses__())
    for cls in found:
        if "build_query" in vars(cls):
            mp.setattr(cls, "build_query", counted(vars(cls)["build_query"]))
    return built


def _sample_limits(st: Statements) -> list:
    """The LIMIT of each GX sample query (``SELECT <col> AS unexpected_values ... LIMIT n``, a column
    pair's ``AS "unexpected_values_A"`` too)."""
    found = []
    for s, p in zip(st.sql, st.params):
        limit = re.search(r"LIMIT %\((\w+)\)s", s)
        if "unexpected_values" in s and limit and isinstance(p, dict):
            found.append(p[limit.group(1)])
    return found


def _query(url: str, sql: str, *params) -> list[tuple]:
    conn = connect(url, autocommit=True)
    try:
        return rows(conn, sql, params)
    finally:
        conn.close()


def _proved(report) -> list:
    return [r for r in report.rules() if "proved by unique index" in str(r.observed_value)]


@pytest.fixture(scope="module")
def broken(new_database, tmp_path_factory):
    url = new_database("fast_broken")
    seed.seed(url, users=150, seed=42, inject=INJECT)
    gx_dir = _project(tmp_path_factory)
    slow, slow_st = _run(gx_dir, url, fast=False)
    fast, fast_st = _run(gx_dir, url, fast=True)
    return slow, fast, gx_dir, slow_st, fast_st, url


SQL_RULE = "analytics.date_not_before_video"
SQL_RULE_WHERE = "a.date < CAST(v.created_at AS date)"  # its unexpected_rows_query's condition


def _sql_rule_runs(st: Statements) -> list[str]:
    """Every statement of the run (validation, then the quarantine's read of the failed rule's row
    keys) that runs the SQL rule's query."""
    return [s for s in st.sql if SQL_RULE_WHERE in s]


def test_same_verdicts_and_counts_as_gx_alone(broken):
    slow, fast, *_ = broken
    assert_same_rules(slow, fast, ("success", "unexpected_count", "error"))
    assert fast.success is False and fast.exit_code == slow.exit_code
    assert sum(not r.success for r in fast.rules()) >= 25


def test_sql_rule_counts_its_bad_rows_with_one_query(broken):
    """GX runs an unexpected_rows_query twice (rows fetched then dropped, then COUNT(*)) and the
    quarantine a third time for the row keys; ours runs it once, counting and reading the keys in
    one statement, and GX's result is the same: verdict, count, shape."""
    slow, fast, _, slow_st, fast_st, url = broken
    s, f = slow.rule(SQL_RULE), fast.rule(SQL_RULE)
    assert not f.success and f.unexpected_count == INJECT["analytics_before_video"]
    assert (f.success, f.unexpected_count, f.observed_value, f.error) == (
        s.success,
        s.unexpected_count,
        s.observed_value,
        s.error,
    )
    assert (len(_sql_rule_runs(slow_st)), len(_sql_rule_runs(fast_st))) == (3, 1)
    (once,) = _sql_rule_runs(fast_st)
    assert "count(*) OVER ()" in once and "to_jsonb(q)" in once  # row_keys.capture: count and keys
    quarantined = _query(
        url, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", fast.run_id, SQL_RULE
    )
    assert quarantined == [(INJECT["analytics_before_video"],)]  # the keys that one statement read


def test_a_sql_rule_that_passed_last_run_is_counted_first_and_keyed_only_when_it_fails(new_database, tmp_path_factory):
    """A SQL rule that passed in the checkpoint's earlier run is counted first, as GX counts it
    (``SELECT count(*)``, which the server may answer from an index alone), and its keys are read
    only when it has bad rows now; a rule that failed last run, or one without an earlier run,
    reads its count and keys in one statement. The verdicts, counts and quarantined keys are the
    same either way."""
    url = new_database("fast_count_first")
    seed.seed(url, users=30, seed=5)
    gx_dir = _project(tmp_path_factory)

    def night() -> tuple:
        report, st = _run(gx_dir, url, fast=True)
        runs = _sql_rule_runs(st)
        keyed = [q for q in runs if "to_jsonb(q)" in q]
        quarantined = _query(
            url, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", report.run_id, SQL_RULE
        )[0][0]
        return report.rule(SQL_RULE), len(runs) - len(keyed), len(keyed), quarantined

    first, counted, keyed, _ = night()  # no earlier run: count and keys together
    assert first.success and (counted, keyed) == (0, 1)
    second, counted, keyed, _ = night()  # passed before: its count alone
    assert second.success and second.unexpected_count == 0 and (counted, keyed) == (1, 0)
    with connect(url, autocommit=True).cursor() as cur:  # one analytics row before its video was made
        cur.execute(
            "UPDATE analytics a SET date = CAST(v.created_at AS date) - 1 FROM videos v "
            "WHERE v.id = a.video_id AND a.id = (SELECT min(id::text)::uuid FROM analytics)"
        )
    third, counted, keyed, quarantined = night()  # passed before, fails now: counted, then keyed
    assert not third.success and third.unexpected_count == 1 and (counted, keyed) == (1, 1) and quarantined == 1
    fourth, counted, keyed, quarantined = night()  # failed before: count and keys together
    assert not fourth.success and fourth.unexpected_count == 1 and (counted, keyed) == (0, 1) and quarantined == 1


def _count_scans_of_revenue_domain(st: Statements) -> tuple[int, int]:
    """(statements counting over analytics filtered by ``revenue > 0`` as a subquery of their own,
    statements counting it with ``FILTER``): analytics.no_revenue_without_views' row_condition."""
    counting = ("SELECT sum(CASE", "SELECT count(*) AS", "SELECT count(*) FILTER", "SELECT CASE WHEN (count(*) =")
    counts = [s for s in st.sql if s.startswith(counting)]
    own = [s for s in counts if "revenue > " in s and "FILTER" not in s]
    filtered = [s for s in counts if "FILTER (WHERE revenue > " in s]
    return len(own), len(filtered)


def test_rules_with_a_row_condition_are_counted_in_the_tables_one_scan(broken):
    slow, fast, _, slow_st, fast_st, _ = broken
    rule = "analytics.no_revenue_without_views"  # views >= 0 where revenue > 0
    assert (fast.rule(rule).success, fast.rule(rule).unexpected_count) == (
        slow.rule(rule).success,
        slow.rule(rule).unexpected_count,
    )
    assert _count_scans_of_revenue_domain(slow_st)[0] >= 2  # GX: its row count, its rules' counts
    assert _count_scans_of_revenue_domain(fast_st) == (0, 1)  # folded into the table's one statement


def test_a_tables_row_count_is_read_with_its_rules_bad_row_counts(broken):
    """GX counts a table's rows a step before its map rules' bad rows (they declare the row count
    as a dependency, unread): two scans. The fast path reads both in one statement per table."""
    slow, fast, _, slow_st, fast_st, _ = broken
    for st in (slow_st, fast_st):
        assert any('AS "table.row_count"' in s for s in st.sql if "FROM analytics" in s)
    row_counts = [s for s in fast_st.sql if 'AS "table.row_count"' in s]
    assert row_counts and all("unexpected_count" in s for s in row_counts), row_counts
    assert any("unexpected_count" not in s for s in slow_st.sql if 'AS "table.row_count"' in s)
    assert {r.rule_id: (r.success, r.unexpected_count) for r in fast.rules()} == {
        r.rule_id: (r.success, r.unexpected_count) for r in slow.rules()
    }


#: analytics' SQL rules that only filter its rows: their condition, and the defect each counts
ROW_FILTERS = {
    "analytics.watch_time_plausible": ("watch_time_minutes > views * 720", "implausible_watch_time"),
    "analytics.subscribers_gained_at_most_views": ("subscribers_gained > views", "subscribers_above_views"),
    "analytics.date_not_in_future": ("date > CURRENT_DATE", "future_analytics_date"),
}


def test_sql_rules_that_filter_their_table_are_counted_in_its_one_statement(broken):
    """A SQL rule that is ``SELECT ... FROM {batch} WHERE <condition>`` is counted as ``count(*)
    FILTER (WHERE <condition>)`` in its table's statement, not by a scan of its own; the failed
    ones' row keys are read together, in the scan that reads the table's failed column map rules'
    samples. Same verdicts and counts as GX alone, and the quarantine holds exactly the bad rows."""
    slow, fast, _, _, fast_st, url = broken
    (statement,) = [s for s in fast_st.sql if 'AS "table.row_count"' in s and "FROM analytics" in s]
    keyed = [s for s in fast_st.sql if "AS dq_filter_" in s and "FROM analytics" in s]
    assert len(keyed) == 1 and "AS dq_rule_" in keyed[0], keyed  # the failed ones' keys, with the samples
    assert not [s for s in fast_st.sql if "IS TRUE" in s and "to_jsonb(q)" in s and "FROM analytics AS q" in s]
    for rule, (condition, kind) in ROW_FILTERS.items():
        assert f"count(*) FILTER (WHERE {condition})" in statement
        assert not [s for s in fast_st.sql if condition in s and "count(*) OVER ()" in s]  # no scan of its own
        bad = INJECT[kind]
        assert (fast.rule(rule).success, fast.rule(rule).unexpected_count) == (False, bad)
        assert (slow.rule(rule).success, slow.rule(rule).unexpected_count) == (False, bad)
        quarantined = _query(
            url,
            "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM analytics "
            f"WHERE id = (q.row_key->>'id')::uuid AND {condition})) "
            "FROM dq.quarantine q WHERE q.run_id = %s AND q.rule_id = %s",
            fast.run_id,
            rule,
        )
        assert quarantined == [(bad, bad)], rule  # every key, each of a bad row
        assert f"({condition}) IS true AS dq_filter_" in keyed[0]
    (analytics,) = [v.fast_path for v in fast.validations if v.suite == "analytics"]
    assert analytics["sql_rules_in_table_scan"] == len(ROW_FILTERS)


def test_a_row_count_drift_rule_takes_the_row_count_its_table_statement_read(broken):
    """A table's row-count drift rule (``expect_table_row_count_to_be_within_history_band``, no
    ``where``) measures the row count the table's one statement already read: no ``count(*)`` of
    its own, and the same result as GX alone's."""
    slow, fast, _, slow_st, fast_st, url = broken
    own_count = "SELECT CAST((SELECT count(*) AS count_1 \nFROM {} AS t) AS FLOAT) AS dq_value"
    for table in ("analytics", "channels", "videos"):
        rule = f"{table}.row_count_within_history"
        assert [s for s in slow_st.sql if own_count.format(table) in s], rule  # GX alone: a count of its own
        assert not [s for s in fast_st.sql if own_count.format(table) in s], rule
        rows = float(_query(url, f"SELECT count(*) FROM {table}")[0][0])
        measured = [(r.observed_value["metric"], r.observed_value["value"]) for r in (slow.rule(rule), fast.rule(rule))]
        assert measured == [(f"row_count({table})", rows)] * 2, rule
        assert (fast.rule(rule).success, fast.rule(rule).error) == (slow.rule(rule).success, None)


def test_a_failed_rules_samples_and_row_keys_are_read_in_one_query(broken):
    """videos.youtube_video_id_format, 14 bad rows (at most the sample size): its sample query,
    with the primary key added, gives GX its samples and the quarantine every key; nothing else
    reads its rows after the count."""
    slow, fast, _, slow_st, fast_st, url = broken
    rule, condition = "videos.youtube_video_id_format", "NOT (youtube_video_id ~ "
    assert fast.rule(rule).unexpected_count == INJECT["bad_youtube_video_id"] == 14
    assert fast.rule(rule).partial_unexpected_list == slow.rule(rule).partial_unexpected_list
    reads = [s for s in fast_st.sql if condition in s and "FILTER (WHERE" not in s]
    samples = [s for s in reads if "dq_key_0" in s]
    assert len(samples) == 1 and "AS dq_value_" in samples[0]  # with videos' other failed rules (below)
    assert not [s for s in reads if "to_jsonb(q)" in s]  # no quarantine scan of the rule's rows
    assert [s for s in slow_st.sql if condition in s and "to_jsonb(q)" in s]  # GX alone: the quarantine reads them
    keyed = _query(
        url,
        "SELECT count(*), count(*) FILTER (WHERE v.youtube_video_id !~ '^[A-Za-z0-9_-]{11}$') "
        "FROM dq.quarantine q JOIN videos v ON v.id = (q.row_key->>'id')::uuid WHERE q.run_id = %s AND q.rule_id = %s",
        fast.run_id,
        rule,
    )
    assert keyed == [(14, 14)]  # every key, each of a bad row


def test_pass_one_sends_no_sample_query_of_no_rows(broken):
    """Pass 1 asks GX for counts and samples of 0 rows; GX would send each rule's ``... LIMIT 0``
    query (a column pair's too), which returns nothing whatever the data: none is sent. The failed
    rules' samples are still GX's own (pass 2, the checkpoint's 20: see
    ``test_failed_rules_carry_the_same_samples``)."""
    _, _, _, slow_st, fast_st, _ = broken
    assert set(_sample_limits(slow_st)) == {20}
    assert _sample_limits(fast_st) and 0 not in _sample_limits(fast_st)


def test_orphans_are_keyed_through_their_missing_values_not_a_second_anti_join(new_database, tmp_path_factory):
    """analytics.video_exists with 2 missing videos and 81 orphan rows (more than the rule's 20
    sample rows): its result names every missing value with its rows, so the quarantine reads the
    81 keys by those values (the child column's index) instead of a second anti-join over analytics.
    GX alone keys them with that anti-join; both key exactly the orphan rows."""
    url = new_database("fast_orphans")
    seed.seed(url, users=20, seed=5, inject={"orphan_analytics": 1})  # drops the foreign key
    missing = ["00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"]
    _query(
        url,
        "INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, subscribers_gained) "
        "SELECT m::uuid, current_date - g, 0, 0, 0, 0 FROM unnest(%s::text[]) m, generate_series(1, 40) g "
        "RETURNING id",
        missing,
    )
    orphans = sorted(
        r[0]
        for r in _query(
            url, "SELECT id::text FROM analytics a WHERE NOT EXISTS (SELECT 1 FROM videos v WHERE v.id = a.video_id)"
        )
    )
    assert len(orphans) == 81
    gx_dir = _project(tmp_path_factory)
    rule = "analytics.video_exists"
    for fast in (True, False):
        report, st = _run(gx_dir, url, fast=fast)
        assert report.rule(rule).unexpected_count == 81
        keyed = _query(
            url,
            "SELECT row_key->>'id' FROM dq.quarantine WHERE run_id = %s AND rule_id = %s ORDER BY 1",
            report.run_id,
            rule,
        )
        assert [k for (k,) in keyed] == orphans
        anti_joins = [s for s in st.sql if "FROM analytics AS child" in s and "NOT (EXISTS" in s]
        by_values = [s for s in anti_joins if "child.video_id IN (" in s]
        assert (len(anti_joins), len(by_values)) == ((2, 1) if fast else (2, 0)), anti_joins


def test_bad_row_counts_are_count_filters_in_one_statement_per_table(broken):
    """GX's sum(CASE WHEN bad THEN 1 ELSE 0 END) per rule becomes count(*) FILTER (WHERE bad):
    the same counts (test_same_verdicts_and_counts_as_gx_alone), one statement for analytics."""
    slow, fast, _, slow_st, fast_st, _ = broken
    # the table's statement, whichever of its columns GX lists first (its order varies per process)
    bundles = [s for s in fast_st.sql if 'AS "table.row_count"' in s and "FROM analytics" in s]
    assert len(bundles) == 1 and "sum(CASE" not in bundles[0]
    assert bundles[0].count("FILTER (WHERE") >= 10
    assert any("sum(CASE WHEN" in s and "FROM analytics" in s for s in slow_st.sql)  # GX alone's


def test_the_failed_rules_of_a_table_whose_bad_rows_fit_a_sample_are_read_in_one_scan(broken):
    """Pass 2: one statement per table reads the samples and keys of all its failed column map
    rules with at most a sample's bad rows (a flag per rule; a rule's row_condition AND-ed with its
    condition), where each had a query of its own: the same samples as GX alone, every key."""
    slow, fast, _, slow_st, fast_st, url = broken
    together = [s for s in fast_st.sql if "FROM videos" in s and "AS dq_rule_" in s]
    alone = [s for s in fast_st.sql if "FROM videos" in s and "AS unexpected_values" in s and "dq_key_0" in s]
    from great_expectations.expectations.registry import get_expectation_impl

    failed = [  # GX's own column map rules (the project's cross-table types read their rows their own way)
        r
        for r in fast.rules()
        if r.rule_id.startswith("videos.") and r.partial_unexpected_list and not r.success
        if get_expectation_impl(r.expectation_type).__module__.startswith("great_expectations.")
        if r.expectation_type.startswith("expect_column_values_")
    ]
    fit = [r for r in failed if r.unexpected_count <= 20]  # (the sample size)
    assert len(fit) >= 2 and len(together) == 1, (fit, together)
    assert len(alone) <= len(failed) - len(fit)  # (the rules with more bad rows: each its own LIMIT query)
    assert together[0].count("AS dq_rule_") == len(fit)
    for r in failed:
        assert r.partial_unexpected_list == slow.rule(r.rule_id).partial_unexpected_list, r.rule_id
        quarantined = _query(
            url, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", fast.run_id, r.rule_id
        )
        assert quarantined == [(r.unexpected_count,)], r.rule_id
    assert [s for s in slow_st.sql if "FROM videos" in s and "AS unexpected_values" in s]  # GX alone: one each


def test_one_child_tables_rows_per_parent_are_read_once_for_every_rule_that_groups_them(broken):
    """videos' two rules comparing a column with the sum of its analytics rows (views, revenue) and
    the rule for analytics' orphan video_ids share one GROUP BY of analytics: one statement for the
    three where GX alone runs one each. The same verdicts, counts and samples as GX alone, and every
    offending row quarantined."""
    slow, fast, _, slow_st, fast_st, url = broken
    grouped = "GROUP BY child.video_id"
    (shared,) = [s for s in fast_st.sql if "WITH per_parent AS" in s]
    assert "sum(child.views)" in shared and "sum(child.revenue)" in shared and "count(*)" in shared
    # (the quarantine reads the keys of a rule with more bad rows than its sample holds again)
    assert [s for s in fast_st.sql if grouped in s and "numbered.key" not in s] == [shared]
    assert len([s for s in slow_st.sql if grouped in s and "numbered.key" not in s]) == 3  # GX alone: one each
    for rule in ("videos.view_count_matches_analytics", "videos.revenue_matches_analytics", "analytics.video_exists"):
        mine, gx = fast.rule(rule), slow.rule(rule)
        assert (mine.success, mine.unexpected_count, mine.partial_unexpected_list) == (
            gx.success,
            gx.unexpected_count,
            gx.partial_unexpected_list,
        )
        # (other defects move sums too)
        assert (
            mine.unexpected_count
            >= INJECT["analytics_sum_mismatch" if rule.startswith("videos.") else "orphan_analytics"]
        )
        quarantined = _query(
            url, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", fast.run_id, rule
        )
        assert quarantined == [(mine.unexpected_count,)], rule


def _bounds(st: Statements, column: str) -> list:
    """The bound each analytics bad-row count compares ``column`` with (``<column> < <bound>``)."""
    import re

    found = []
    for sql, params in zip(st.sql, st.params):
        if "FROM analytics" in sql and isinstance(params, dict) and ("FILTER" in sql or "sum(CASE" in sql):
            found += [
                params[name] for name in re.findall(rf"(?:{column} IS NOT NULL AND )?{column} < %\((\w+)\)s", sql)
            ]
    return found


def test_integral_bounds_are_integers_against_integer_columns(broken):
    """A between rule's min_value 0 reaches SQL as the float 0.0 (GX's), which PostgreSQL compares
    with an integer column by casting every row to numeric; the fast path binds it as 0 for
    integer columns (subscribers_gained, views) and leaves numeric columns (revenue) their 0.0. The counts are
    GX's (test_same_verdicts_and_counts_as_gx_alone)."""
    _, _, _, slow_st, fast_st, _ = broken
    for column, bounds in (("subscribers_gained", [0]), ("views", [0, 1])):  # views >= 1 where revenue > 0 too
        assert sorted(_bounds(slow_st, column)) == bounds
        assert {type(b) for b in _bounds(slow_st, column)} == {float}  # GX alone: 0.0, 1.0
        assert sorted(_bounds(fast_st, column)) == bounds
        assert {type(b) for b in _bounds(fast_st, column)} == {int}
    assert [(type(b), b) for b in _bounds(fast_st, "revenue")] == [(float, 0.0)]


def test_integral_bounds_leave_every_other_bound_alone():
    from sqlalchemy.dialects import postgresql

    from ytempire_dq.gx.fast_hooks import integral_bounds

    likes, views, revenue = sa.column("likes"), sa.column("views"), sa.column("revenue")
    rows = sa.table("t", sa.column("likes"))
    condition = sa.and_(likes < 0.0, likes < 0.5, revenue < 0.0, views >= 2.0, rows.c.likes > 1.0, likes != 3)
    out = integral_bounds(condition, frozenset({"likes", "views"}))
    sql = str(out.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert sql == "likes < 0 AND likes < 0.5 AND revenue < 0.0 AND views >= 2 AND t.likes > 1.0 AND likes != 3"


def test_the_bundled_counts_drop_the_null_guard_before_a_comparison_of_the_same_column(broken):
    """GX's ``views IS NOT NULL AND views < 0`` is counted as ``FILTER (WHERE views < 0)``: on a
    NULL ``views`` the comparison is NULL, which FILTER does not count either (the counts are GX's:
    test_same_verdicts_and_counts_as_gx_alone)."""
    _, _, _, slow_st, fast_st, _ = broken
    (statement,) = [s for s in fast_st.sql if 'AS "table.row_count"' in s and "FROM analytics" in s]
    assert "FILTER (WHERE views < %(" in statement and "views IS NOT NULL" not in statement
    assert re.search(r"FILTER \(WHERE revenue > %\(\w+\)s AND views < %\(", statement)  # under a row_condition
    assert [s for s in slow_st.sql if "views IS NOT NULL AND views < " in s]  # GX alone: the guard


def test_the_null_guard_is_dropped_only_before_comparisons_of_its_column_with_values():
    from sqlalchemy.dialects import postgresql

    from ytempire_dq.gx.fast_hooks import null_guard_dropped

    views, other = sa.column("views"), sa.column("other")
    guarded = [
        (~(views >= sa.literal(0)), "views < 0"),
        (~sa.and_(views >= sa.literal(0), views <= sa.literal(5)), "NOT (views >= 0 AND views <= 5)"),
        (sa.or_(views < sa.literal(0), views > sa.literal(9)), "(views < 0 OR views > 9)"),
        (other < sa.literal(0), None),  # another column
        (views < other, None),  # not a value
        (views.in_([1, 2]), None),
        (sa.func.abs(views) > sa.literal(1), None),
        (sa.or_(views < sa.literal(0), other.is_(None)), None),  # true on a NULL views
    ]
    for test, kept in guarded:
        bad = sa.and_(views.isnot(None), test)
        out = null_guard_dropped(bad)
        sql = str(out.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        assert sql == (kept or str(bad.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})))
    unguarded = views < sa.literal(0)
    assert null_guard_dropped(unguarded) is unguarded


def test_uniqueness_is_proved_only_where_a_unique_index_exists(broken):
    _, fast, *_ = broken
    # the duplicate_* kinds dropped their unique constraints: those rules ran and counted the rows
    for rule_id, kind in (
        ("users.email_unique", "duplicate_email"),
        ("videos.youtube_video_id_unique", "duplicate_youtube_video_id"),
        ("analytics.one_row_per_video_day", "duplicate_analytics_day"),
    ):
        rule = fast.rule(rule_id)
        assert not rule.success and rule.unexpected_count == 2 * INJECT[kind]
        assert "proved by" not in str(rule.observed_value)
    proved = _proved(fast)
    assert len(proved) == UNIQUE_RULES - 3
    assert fast.rule("users.id_unique").observed_value.startswith("0 duplicates: proved by unique index users_pkey")
    assert all(r.success and r.unexpected_count == 0 for r in proved)


def test_a_fast_run_hands_gx_floats_not_decimals_to_serialize(broken):
    slow, fast, _, slow_st, fast_st, _ = broken
    assert slow_st.decimals > 0  # GX alone: numeric samples and sums, each converted on the way out
    assert fast_st.decimals == 0  # the fast path's results hold the floats GX would have written
    samples = fast.rule("videos.generation_cost_range").partial_unexpected_list
    assert samples and all(type(v) is float for v in samples)
    assert samples == slow.rule("videos.generation_cost_range").partial_unexpected_list


def test_each_cross_table_rule_builds_its_statement_once_per_run(broken):
    """GX asks for a cross-table rule's query with every metric, each time on a new copy of the
    rule: built once per run (``CrossTableExpectation.query_once``), in either path."""
    slow, fast, _, slow_st, fast_st, _ = broken
    rules = {r.expectation_id for r in fast.rules()}
    for st in (slow_st, fast_st):
        assert st.built and set(st.built.values()) == {1}, st.built.most_common(3)
        assert set(st.built) <= rules


def test_failed_rules_carry_the_same_samples(broken):
    slow, fast, *_ = broken
    for s, f in zip(slow.rules(), fast.rules()):
        if not f.success:  # samples wherever GX alone gives them, never more than there are bad rows
            assert bool(f.partial_unexpected_list) == bool(s.partial_unexpected_list), f.rule_id
            assert len(f.partial_unexpected_list) <= max(len(s.partial_unexpected_list), f.unexpected_count)
            if f.unexpected_count and f.unexpected_count >= 20:
                assert len(f.partial_unexpected_list) == len(s.partial_unexpected_list), f.rule_id
    assert sorted(fast.rule("users.email_format").partial_unexpected_list) == sorted(
        slow.rule("users.email_format").partial_unexpected_list
    )


def test_nothing_falls_back_and_every_fast_rule_is_counted(broken):
    slow, fast, *_ = broken
    assert slow.fast_path() == {"rules": 0, "fell_back": []}  # GX alone: no fast path at all
    assert fast.fast_path() == {"rules": len(fast.rules()), "fell_back": []}
    assert fast.to_dict()["fast_path"] == fast.fast_path()


def test_a_step_gx_refuses_falls_back_to_gx_alone_logged_and_counted(broken, monkeypatch, caplog):
    """A fast-path step that GX refuses (as after an upgrade that changed it) leaves that rule to GX
    alone: the same results, and the fall-back is logged with its cause and listed in --json."""
    from ytempire_dq.gx import validator as gx_steps

    slow, _, gx_dir, _, _, url = broken
    prepared_rule = gx_steps.prepared_rule

    def refused(validator, expectation, runtime_configuration, metrics=()):
        if runtime_configuration["result_format"] != {"result_format": "BASIC"}:  # not the quarantine's
            raise KeyError("refused by the test")
        return prepared_rule(validator, expectation, runtime_configuration, metrics)

    monkeypatch.setattr(gx_steps, "prepared_rule", refused)
    with caplog.at_level("WARNING", logger="ytempire_dq.run.validation"):
        report, _ = _run(gx_dir, url, fast=True)
    for s, f in zip(slow.rules(), report.rules()):
        assert (f.rule_id, f.success, f.unexpected_count, f.error) == (
            s.rule_id,
            s.success,
            s.unexpected_count,
            s.error,
        )
        assert bool(f.partial_unexpected_list) == bool(s.partial_unexpected_list), f.rule_id
    fell_back = report.to_dict()["fast_path"]["fell_back"]
    causes = {f["rule_id"]: f["cause"] for f in fell_back}
    assert causes[SQL_RULE] == "preparing the rule: KeyError: 'refused by the test'"
    assert any(c.startswith("building its sample query: KeyError") for c in causes.values())  # a map rule's samples
    assert report.fast_path()["rules"] == len(report.rules())
    logged = [r.getMessage() for r in caplog.records if "falls back to GX alone" in r.getMessage()]
    assert len(logged) == len(fell_back) and any(SQL_RULE in line for line in logged)


def test_results_are_stored_and_data_docs_say_how_a_rule_was_proved(broken):
    _, fast, gx_dir, *_ = broken
    assert fast.data_docs and not fast.action_errors
    site = gx_dir / "uncommitted"
    stored = [json.loads(p.read_text()) for p in (site / "validations").rglob("*.json")]
    ours = [v for v in stored if v["meta"]["run_id"]["run_name"] == fast.run_id]
    assert sorted(v["suite_name"] for v in ours) == sorted(TABLE_VDS)
    users = next(v for v in ours if v["suite_name"] == "users")
    proof = next(r for r in users["results"] if r["expectation_config"]["meta"]["rule_id"] == "users.id_unique")
    assert proof["meta"]["proved_by"] == {
        "method": "unique_index",
        "index": "users_pkey",
        "table": "users",
        "columns": ["id"],
        "catalog": proof["meta"]["proved_by"]["catalog"],
    }
    assert users["statistics"]["evaluated_expectations"] == len(users["results"])
    assert all(r["expectation_config"]["id"] for r in users["results"])  # ids of the suite's expectations
    pages = [p.read_text() for p in (site / "data_docs").rglob("*.html") if fast.run_id in str(p)]
    assert any("proved by unique index users_pkey" in page for page in pages)
    # a failed rule's page shows its sample values
    assert any(str(fast.rule("users.email_format").partial_unexpected_list[0]) in page for page in pages)


def test_clean_data_skips_uniqueness_scans_and_sample_queries(new_database, tmp_path_factory):
    url = new_database("fast_clean")
    seed.seed(url, users=60, seed=3)
    gx_dir = _project(tmp_path_factory)
    slow, slow_st = _run(gx_dir, url, fast=False)
    fast, fast_st = _run(gx_dir, url, fast=True)
    slow_sql, fast_sql = slow_st.sql, fast_st.sql
    assert slow.success and fast.success
    assert len(_proved(fast)) == UNIQUE_RULES
    assert not any("PARTITION BY" in s.upper() for s in fast_sql)  # no uniqueness window query
    assert any("PARTITION BY" in s.upper() for s in slow_sql)
    # GX's sample queries (LIMIT 20 on a clean table: a full scan finding nothing) are not sent at all
    assert _sample_limits(slow_st) and set(_sample_limits(slow_st)) == {20}
    assert _sample_limits(fast_st) == []
    assert len(fast_sql) < len(slow_sql)
    # the SQL rule's query: once (its count) instead of GX's twice (rows, then count)
    assert (
        fast.rule(SQL_RULE).success
        and fast.rule(SQL_RULE).unexpected_count == slow.rule(SQL_RULE).unexpected_count == 0
    )
    assert (len(_sql_rule_runs(slow_st)), len(_sql_rule_runs(fast_st))) == (2, 1)
    # an index that proves nothing (partial) is not taken as proof
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE users DROP CONSTRAINT users_username_key")
        cur.execute("CREATE UNIQUE INDEX users_username_partial ON users (username) WHERE username <> ''")
    conn.close()
    report, _ = _run(gx_dir, url, fast=True)
    assert report.success and len(_proved(report)) == UNIQUE_RULES - 1
    rule = report.rule("users.username_unique")
    assert rule.unexpected_count == 0 and "proved" not in str(rule.observed_value)
