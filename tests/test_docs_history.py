"""Data Docs' rule history page (issue 14, item 3): written by each run from the ``dq`` history,
a rule's outcome and bad rows per run, since when it fails, the exact SQL of its quarantined rows
(run here), linked from the index and from the failed rule on its validation page; escaped."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import history_growth
from tests.docs_runs import Tables, add_checkpoint_of, site_of
from tests.helpers import copy_project, rows
from ytempire_dq.docs import history_page
from ytempire_dq.docs.index_page import rule_anchor
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

PAYLOAD = "<img src=x onerror=document.body.dataset.pwned=1>"
RULE = "users.email_format"


@pytest.fixture(scope="module")
def runs(db_url, tmp_path_factory):
    """Checkpoint ``mail`` (users) run 3 times: 2 bad emails, fixed, broken again: (gx dir, reports)."""
    from ytempire_dq.db.connect import connect

    seed.seed(db_url, users=20, seed=5, inject={"bad_email": 2})
    gx_dir = copy_project(tmp_path_factory.mktemp("docs_history"))
    add_checkpoint_of(gx_dir, "mail", ["users"])
    first = run_checkpoint("mail", config_dir=gx_dir, database_url=db_url)
    conn = connect(db_url, autocommit=True)
    try:
        bad = rows(
            conn,
            "SELECT u.id::text, u.email FROM dq.quarantine q JOIN users u ON u.id = (q.row_key->>'id')::uuid"
            " WHERE q.run_id = %s AND q.rule_id = %s",
            (first.run_id, RULE),
        )
        with conn.cursor() as cur:
            for n, (user_id, _) in enumerate(bad):
                cur.execute("UPDATE users SET email = %s WHERE id = %s", (f"fixed{n}@example.com", user_id))
        second = run_checkpoint("mail", config_dir=gx_dir, database_url=db_url)
        with conn.cursor() as cur:
            for user_id, email in bad:
                cur.execute("UPDATE users SET email = %s WHERE id = %s", (email, user_id))
        third = run_checkpoint("mail", config_dir=gx_dir, database_url=db_url)
    finally:
        conn.close()
    return gx_dir, [first, second, third], bad


def history_row(gx_dir, checkpoint: str, rule_id: str) -> dict:
    page = Tables((site_of(gx_dir) / "history.html").read_text())
    (row,) = [r for t in page.tables for r in t["rows"] if r["attrs"].get("id") == rule_anchor(checkpoint, rule_id)]
    return row


def test_the_runs_failed_passed_failed(runs):
    _, reports, bad = runs
    assert len(bad) == 2
    assert [r.rule(RULE).success for r in reports] == [False, True, False]
    assert reports[2].rule(RULE).unexpected_count == 2


def test_the_page_shows_a_rule_that_failed_in_2_of_3_runs(runs, db_url):
    gx_dir, reports, _ = runs
    row = history_row(gx_dir, "mail", RULE)
    rule, table, _trend, failed, latest, since, fetch = row["cells"]
    assert (rule, table, failed) == (RULE, "users", "failed in 2 of 3 runs")
    assert latest == "✘ Failed: 2 bad rows"
    observed = rows_at(db_url, reports[2].run_id)
    assert since == observed.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # since the 3rd run
    assert f"ytdq history {RULE} --checkpoint mail" in fetch and "2 rows quarantined" in fetch


def rows_at(db_url, run_id: str) -> dt.datetime:
    from ytempire_dq.db.connect import connect

    conn = connect(db_url)
    try:
        return rows(conn, "SELECT observed_at FROM dq.rule_results WHERE run_id = %s LIMIT 1", (run_id,))[0][0]
    finally:
        conn.close()


def test_the_trend_is_red_green_red(runs):
    gx_dir, _, _ = runs
    markup = (site_of(gx_dir) / "history.html").read_text()
    row = re.search(rf'<tr id="{re.escape(rule_anchor("mail", RULE))}".*?</tr>', markup, re.S)[0]
    assert re.findall(r'fill="(#[0-9a-f]+)"', row) == ["#dc3545", "#198754", "#dc3545"]
    # scripts only the site's own (the charts of rules with metrics), nothing fetched from elsewhere
    sources = re.findall(r"<script src=\"([^\"]+)\"", markup)
    assert all(src.startswith("static/vendor/") for src in sources), sources
    assert "http://" not in markup and "https://" not in markup


def test_the_pages_sql_fetches_the_quarantined_rows(runs, db_url):
    gx_dir, reports, bad = runs
    markup = (site_of(gx_dir) / "history.html").read_text()
    row = re.search(rf'<tr id="{re.escape(rule_anchor("mail", RULE))}".*?</tr>', markup, re.S)[0]
    sql = html.unescape(re.search(r"<pre>(.*?)</pre>", row, re.S)[1])
    assert reports[2].run_id in sql
    from ytempire_dq.db.connect import connect

    conn = connect(db_url)
    try:
        fetched = rows(conn, sql.replace("t.*", "t.id::text, t.email"))
    finally:
        conn.close()
    assert sorted(fetched) == sorted(bad)


def test_the_failed_rule_on_its_validation_page_links_its_history_row(runs):
    gx_dir, reports, _ = runs
    site = site_of(gx_dir)
    (page,) = (site / "validations" / "users" / reports[2].run_id).rglob("*.html")
    markup = page.read_text()
    (href,) = re.findall(r'class="rule-history-link" href="([^"]+)"', markup)
    target, _, fragment = html.unescape(href).partition("#")
    assert (page.parent / target).resolve() == (site / "history.html").resolve()
    assert fragment == rule_anchor("mail", RULE)
    assert f'id="{fragment}"' in (site / "history.html").read_text()
    # the passing run's page lists no failed rule
    (passing,) = (site / "validations" / "users" / reports[1].run_id).rglob("*.html")
    assert "rule-history-link" not in passing.read_text()


def test_the_index_links_the_history_page(runs):
    gx_dir, _, _ = runs
    index = (site_of(gx_dir) / "index.html").read_text()
    assert 'href="history.html"' in index
    assert 'href="history.html#cp-mail"' in index


def test_rule_ids_and_values_are_shown_as_text():
    when = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    checkpoints = [
        {
            "checkpoint": PAYLOAD,
            "runs": [{"run_id": PAYLOAD, "started_at": when}],
            "rules": [
                {
                    "rule_id": PAYLOAD,
                    "table": PAYLOAD,
                    "outcomes": [{"success": False, "unexpected_count": 3, "error": None}],
                    "latest": {"success": False, "unexpected_count": 3, "error": None},
                    "latest_run": PAYLOAD + "'; DROP TABLE users; --",
                    "failing_since": when,
                    "quarantined": 3,
                    "series": [  # a measured rule: its chart's JSON carries the same text
                        {
                            "run_id": PAYLOAD,
                            "metric": "</script>" + PAYLOAD,
                            "observed_at": when,
                            "value": 1.0,
                            "lower": 0.5,
                            "upper": 2.0,
                            "median": 1.0,
                            "success": False,
                        },
                    ],  # fmt: skip
                }
            ],
        }
    ]
    markup = history_page.render_history(checkpoints)
    assert "<img" not in markup and html.escape(PAYLOAD, quote=True) in markup
    assert "''; DROP TABLE users; --'" in html.unescape(markup)  # a quote in a literal is doubled
    assert "</script>" + PAYLOAD not in markup and 'class="metric-chart"' in markup
    assert markup.count("</script>") == len(history_page.CHART_SCRIPTS) + 2  # the vendored ones, the drawing, the spec

    class Result:
        success = False
        result = {"unexpected_count": 2}
        exception_info = None

        class expectation_config:  # lower case: stands for GX's attribute
            meta = {"rule_id": PAYLOAD}
            type = "expect_x"

    class Suite:
        results = [Result()]

    box = history_page.failed_rules_box(Suite(), PAYLOAD, depth=4)
    assert "<img" not in box and html.escape(PAYLOAD, quote=True) in box and 'href="../../../../history.html#' in box


def test_docs_build_writes_the_history_page_too(runs, db_url, monkeypatch):
    from ytempire_dq.docs.site import docs_build

    gx_dir, _, _ = runs
    (site_of(gx_dir) / "history.html").unlink()
    monkeypatch.setenv("DATABASE_URL", db_url)
    docs_build(gx_dir)
    assert history_row(gx_dir, "mail", RULE)["cells"][3] == "failed in 2 of 3 runs"


# ---- since when a rule fails, over long histories -------------------------------------------

NIGHT_ONE = history_growth.FIRST_NIGHT
SINCE_RULES = tuple(history_growth.rule_id(j) for j in range(3))
_plant_nights = history_growth.plant_nights  # (checkpoint, source, each of SINCE_RULES' outcome) a night


def _failing_since(nights: list[tuple[str, str, list[bool]]], runs: int) -> dict:
    """The page's "failing since", worked out here: per checkpoint and source, each rule whose
    latest outcome among the last ``runs`` runs is a failure fails since its first failure after
    its last success (over every run of that checkpoint and source)."""
    out = {}
    for key in {(cp, src) for cp, src, _ in nights}:
        mine = [(NIGHT_ONE + dt.timedelta(days=i), o) for i, (cp, src, o) in enumerate(nights) if (cp, src) == key]
        for j, rule_id in enumerate(SINCE_RULES):
            outcomes = [(at, o[j]) for at, o in mine]
            since = None
            if not outcomes[-runs:][-1][1]:
                last_success = max((at for at, ok in outcomes if ok), default=None)
                since = min(at for at, ok in outcomes if not ok and (last_success is None or at > last_success))
            out[(*key, rule_id)] = since
    return out


@pytest.fixture(scope="module")
def store(new_database):
    return new_database("history_since")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    nights=st.lists(
        st.tuples(
            st.sampled_from(["nightly", "hourly"]),
            st.sampled_from(["db_a", "db_b"]),
            st.lists(st.booleans(), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=45,
    ),
    shown=st.integers(min_value=1, max_value=8),
)
def test_a_rule_fails_since_its_first_failure_after_its_last_success(store, nights, shown):
    _plant_nights(store, nights)
    found = {
        (c["checkpoint"], c["source"], r["rule_id"]): r["failing_since"]
        for c in history_page.history(store, runs=shown)
        for r in c["rules"]
    }
    assert found == _failing_since(nights, shown)


def test_since_when_a_rule_fails_reads_the_history_once(store):
    """Over 400 nights of rules failing every other week, every third night and always, the
    statement reads each stored result at most once: no subquery per failed result (which read
    the history again for each one, quadratic in the runs)."""
    import json

    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from ytempire_dq.db.connect import engine
    from ytempire_dq.store.streaks import failing_since, runs_of

    nights = [("nightly", "db_a", [i // 7 % 2 == 0, i % 3 > 0, False]) for i in range(400)]
    _plant_nights(store, nights)
    since = failing_since(list(SINCE_RULES), "nightly", runs_of("nightly", "db_a", named=True))
    sql = str(since.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    eng = engine(store)
    try:
        with eng.connect() as conn:
            conn.execute(sa.text("ANALYZE dq.rule_results"))
            (plan,) = conn.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).one()
    finally:
        eng.dispose()
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    reads = [n for n in nodes if n.get("Relation Name") == "rule_results"]
    read = sum((n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"] for n in reads)
    assert reads and read <= len(nights) * len(SINCE_RULES), json.dumps(plan)[:2000]  # each result at most once
    assert not any("SubPlan" in (n.get("Parent Relationship") or "") for n in nodes)
    found = {r["rule_id"]: r["failing_since"] for r in history_page.history(store)[0]["rules"]}
    expected = _failing_since(nights, history_page.HISTORY_RUNS)
    assert found == {rule_id: expected[("nightly", "db_a", rule_id)] for rule_id in SINCE_RULES}
    assert found[SINCE_RULES[2]] == NIGHT_ONE  # never passed: it fails since its first night
