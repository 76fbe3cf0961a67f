"""The seasonal rules' training days, kept in the results store (``dq.daily_values``): a run
measures a rule's whole window once, keeps every day, and the next runs of the same source read the
training days from the store and only the detection days from the table. Run for real
(``run_checkpoint``, history recorded) on seeded data with the committed rules: a change to an old
day is not measured again, a defect on yesterday is still caught, a table rewritten since is
measured whole again, GX alone reads the same kept days; a segmented rule keeps every segment's
days, pooled into "other" or not."""

from __future__ import annotations

import json

import pytest

from tests.custom_project import add_checkpoint
from tests.helpers import copy_project, rows
from ytempire_dq.config import PROJECT_ROOT
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

VIEWS = "analytics.views_per_day_seasonal"
TIERS = "analytics.views_per_tier_seasonal"
TOP_USERS = "analytics.views_per_top_user_seasonal"
OLD_DAY = "CAST(timezone('UTC', now()) AS date) - 10"  # a training day (28 of them end 3 days ago)
YESTERDAY = "CAST(timezone('UTC', now()) AS date) - 1"


def committed(rule_id: str) -> dict:
    rules = json.loads((PROJECT_ROOT / "expectations" / "analytics.json").read_text())["expectations"]
    (found,) = [{k: v for k, v in e.items() if k != "id"} for e in rules if e["meta"]["rule_id"] == rule_id]
    return found


@pytest.fixture(scope="module")
def project(module_env, tmp_path_factory):
    seed.seed(module_env, users=12, seed=11)
    gx_dir = copy_project(tmp_path_factory.mktemp("kept"))
    add_checkpoint(
        gx_dir,
        checkpoint="seasonal",
        suite="seasonal",
        asset="analytics",
        expectations=[committed(VIEWS), committed(TIERS), committed(TOP_USERS)],
        data_docs=False,
    )
    return gx_dir


def kept(conn, metric_like: str = "%sum(analytics.views)%") -> dict:
    """{day: (numerator, relation, run_id)} the store keeps for the views metric."""
    found = rows(
        conn,
        "SELECT day, numerator, relation, run_id FROM dq.daily_values WHERE metric LIKE %s ORDER BY day",
        (metric_like,),
    )
    return {day: (num, rel, run) for day, num, rel, run in found}


def users_total(conn, on) -> float:
    """The views of ``on`` the store keeps for the per-user rule, summed over its segments."""
    found = rows(
        conn,
        "SELECT sum(numerator) FROM dq.daily_values WHERE metric LIKE %s AND day = %s",
        ("%per channels.user_id%", on),
    )
    return float(found[0][0])


def views_on(conn, day_sql: str) -> float:
    return float(rows(conn, f"SELECT coalesce(sum(views), 0) FROM analytics WHERE date = {day_sql}")[0][0])


def day(conn, day_sql: str):
    return rows(conn, f"SELECT {day_sql}")[0][0]


def test_training_days_come_from_the_store_and_detection_days_from_the_table(project, conn, monkeypatch):
    first = run_checkpoint("seasonal", config_dir=project)
    assert first.success is True and first.history_error is None, first.warnings
    assert not first.warnings, first.warnings
    window = kept(conn, "daily sum(analytics.views) by date")
    assert len(window) == 30 and {run for _, _, run in window.values()} == {first.run_id}
    old, yesterday = day(conn, OLD_DAY), day(conn, YESTERDAY)
    assert window[old][0] == views_on(conn, OLD_DAY) > 0
    # a segmented rule keeps each segment's days, whether judged alone (the seed's tiers, top 4) or
    # pooled into "other" (users, top 5): the next night's ranking needs every segment's days
    tiers = rows(conn, "SELECT count(DISTINCT subscription_tier) FROM users")[0][0]
    users = rows(conn, "SELECT count(DISTINCT user_id) FROM channels")[0][0]
    assert 1 < tiers <= 4 and users > 5
    for like, segments in (("%tier%", tiers), ("%per channels.user_id%", users)):
        per_segment = rows(
            conn, "SELECT segment, count(*) FROM dq.daily_values WHERE metric LIKE %s GROUP BY 1", (like,)
        )
        assert len(per_segment) == segments and {n for _, n in per_segment} == {30}, like
    assert users_total(conn, old) == views_on(conn, OLD_DAY)

    # an old day changes: the next run does not measure it again (what the store kept stands),
    # and measures yesterday again
    before = views_on(conn, OLD_DAY)
    conn.cursor().execute(f"UPDATE analytics SET views = views * 10 WHERE date = {OLD_DAY}")
    second = run_checkpoint("seasonal", config_dir=project)
    window = kept(conn, "daily sum(analytics.views) by date")
    assert window[old][0] == before and window[old][2] == second.run_id  # kept (with the run that kept it)
    assert window[yesterday][0] == views_on(conn, YESTERDAY)
    # every kept day goes with the run that last kept it: removing the first run (a retention of
    # one run) leaves the window whole
    assert {run for _, _, run in window.values()} == {second.run_id}
    conn.cursor().execute("DELETE FROM dq.runs WHERE run_id = %s", (first.run_id,))
    assert len(kept(conn, "daily sum(analytics.views) by date")) == 30
    assert users_total(conn, old) == before  # the pooled rule's days too
    fast = second.rule(VIEWS).observed_value
    for segmented in (TIERS, TOP_USERS):  # judged from the kept days as from the table's
        assert second.rule(segmented).observed_value == first.rule(segmented).observed_value, segmented

    # GX alone builds the same statement from the same kept days: the same result
    monkeypatch.setenv("YTDQ_FAST", "0")
    alone = run_checkpoint("seasonal", config_dir=project)
    assert alone.rule(VIEWS).observed_value == fast and alone.rule(VIEWS).success is True
    for segmented in (TIERS, TOP_USERS):
        assert alone.rule(segmented).observed_value == second.rule(segmented).observed_value, segmented
    monkeypatch.delenv("YTDQ_FAST")

    # a defect on yesterday is still measured and caught
    conn.cursor().execute(f"UPDATE analytics SET views = views / 10 WHERE date = {YESTERDAY}")
    third = run_checkpoint("seasonal", config_dir=project)
    caught = third.rule(VIEWS)
    assert caught.success is False and caught.observed_value["day"] == yesterday.isoformat()
    assert caught.observed_value["value"] == views_on(conn, YESTERDAY)
    conn.cursor().execute(f"UPDATE analytics SET views = views * 10 WHERE date = {YESTERDAY}")

    # the table rewritten (another file node): its whole window is measured again
    relation = kept(conn, "daily sum(analytics.views) by date")[old][1]
    conn.cursor().execute("VACUUM FULL analytics")
    fourth = run_checkpoint("seasonal", config_dir=project)
    window = kept(conn, "daily sum(analytics.views) by date")
    assert window[old][1] != relation and window[old][0] == views_on(conn, OLD_DAY) == before * 10
    assert fourth.rule(VIEWS).error is None


def test_each_source_keeps_its_own_days(project, conn, monkeypatch):
    run_checkpoint("seasonal", config_dir=project)  # the module's database under its default name
    monkeypatch.setenv("YTDQ_SOURCE", "staging")
    run_checkpoint("seasonal", config_dir=project)
    sources = rows(
        conn,
        "SELECT source, count(*) FROM dq.daily_values WHERE metric = %s GROUP BY source",
        ("daily sum(analytics.views) by date",),
    )
    assert sorted(n for _, n in sources) == [30, 30] and "staging" in dict(sources)
