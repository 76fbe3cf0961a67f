"""Incremental nightly (ytempire_dq.run.incremental): ``--since-last`` runs the analytics suite's
row-level rules on the rows newer than the last successful run's watermark only, finds exactly
the new day's defects, misses a defect planted in an old row (the documented trade-off) that the
next full run finds, and ``--full`` and the periodic full sweep scan everything."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from tests.helpers import analytics_checkpoints, module_environ, rows, scalar
from ytempire_dq.cli import main
from ytempire_dq.errors import YtdqError
from ytempire_dq.run import incremental
from ytempire_dq.run.checkpoint import run_checkpoint

NEGATIVE_REVENUE, FUTURE_DATED = 3, 2
CHECKPOINT = "inc"
UNLISTED = "analytics.subscribers_gained_at_most_views"  # a SQL rule gx/incremental.yml does not list


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory, module_env):
    """Clean data up to the day before yesterday, revenue's CHECK dropped; one checkpoint of the
    analytics suite alone, without actions."""
    return analytics_checkpoints(
        tmp_path_factory.mktemp("incremental"), module_env, {CHECKPOINT: "00000000-0000-4000-8000-0000000001c4"}
    )


def _run(gx_dir, url, **flags):
    return run_checkpoint(CHECKPOINT, config_dir=gx_dir, database_url=url, **flags)


def _history_row(db, run_id):
    ((mode, watermarks),) = rows(db, "SELECT scan_mode, watermarks FROM dq.runs WHERE run_id = %s", (run_id,))
    return mode, watermarks["analytics"]


def test_since_last_scans_only_the_new_day_and_full_sweeps_find_old_rows(gx_dir, module_env, db):
    today = scalar(db, "SELECT current_date")  # the server's day
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    before = (today - dt.timedelta(days=2)).isoformat()
    total_old = scalar(db, "SELECT count(*) FROM analytics")

    # 1. a plain run sweeps everything, passes and records the watermark (newest closed day: the day before yesterday)
    first = _run(gx_dir, module_env)
    assert first.exit_code == 0, first.failed_rules()
    assert first.scan["mode"] == "full" and not first.scan["incremental"]
    assert first.rule("analytics.revenue_non_negative").element_count == total_old
    assert _history_row(db, first.run_id) == ("full", {"column": "date", "since": None, "watermark": before})

    # 2. nothing new: an incremental run reads no row for its row-level rules
    quiet = _run(gx_dir, module_env, since_last=True)
    assert quiet.exit_code == 0, quiet.failed_rules()
    assert quiet.scan["incremental"] and quiet.scan["tables"]["analytics"]["since"] == before
    assert quiet.rule("analytics.revenue_non_negative").element_count == 0

    # 3. a new day (yesterday) with defects only in it, and one defect planted in an old row
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO analytics (id, video_id, date, views, watch_time_minutes, revenue, subscribers_gained) "
            "SELECT gen_random_uuid(), video_id, current_date - 1, views, watch_time_minutes, revenue, "
            "subscribers_gained "
            "FROM analytics WHERE date = current_date - 2"
        )
        new_day = cur.rowcount
        cur.execute(
            "UPDATE analytics SET revenue = -0.01 WHERE id IN "  # within the cent of videos.revenue
            "(SELECT id FROM analytics WHERE date = current_date - 1 AND revenue = 0 ORDER BY id LIMIT %s)",
            (NEGATIVE_REVENUE,),
        )
        cur.execute(
            "INSERT INTO analytics (id, video_id, date, views, watch_time_minutes, revenue, subscribers_gained) "
            "SELECT gen_random_uuid(), video_id, current_date + 5, 10, 1, 0, 0 "
            "FROM analytics WHERE date = current_date - 1 GROUP BY video_id ORDER BY video_id LIMIT %s",
            (FUTURE_DATED,),
        )
        cur.execute(
            "UPDATE analytics SET revenue = -0.01 WHERE id = "
            "(SELECT id FROM analytics WHERE date < current_date - 2 AND revenue = 0 ORDER BY id LIMIT 1)"
        )
        # and one in an old row for a SQL rule the yml does not list: it only filters rows (scoped by its shape)
        cur.execute(
            "UPDATE analytics SET subscribers_gained = views + 1 WHERE id = "
            "(SELECT id FROM analytics WHERE date < current_date - 2 ORDER BY id DESC LIMIT 1)"
        )
    assert new_day > NEGATIVE_REVENUE
    new_rows = new_day + FUTURE_DATED

    inc = _run(gx_dir, module_env, since_last=True)
    assert inc.exit_code == 1
    assert inc.scan["tables"]["analytics"] == {"column": "date", "since": before, "watermark": yesterday}
    failed = {r["rule_id"]: r["bad_rows"] for r in inc.failed_rules()}
    assert failed == {"analytics.revenue_non_negative": NEGATIVE_REVENUE, "analytics.date_not_in_future": FUTURE_DATED}
    # the row-level rules read the new rows only (map rules' element count; the SQL rule counted 2 of them)
    for rule_id in ("analytics.revenue_non_negative", "analytics.views_not_null"):
        assert inc.rule(rule_id).element_count == new_rows, rule_id
    # a rule with its own row_condition: both conditions (revenue > 0 AND date > since)
    paid = scalar(db, "SELECT count(*) FROM analytics WHERE revenue > 0 AND date > %s", (before,))
    assert inc.rule("analytics.no_revenue_without_views").element_count == paid < new_rows
    # uniqueness stays a full-table rule (proved by the unique index), as do the volume rules
    assert "proved by unique index" in str(inc.rule("analytics.one_row_per_video_day").observed_value)
    assert _history_row(db, inc.run_id) == (
        "incremental",
        {"column": "date", "since": before, "watermark": yesterday},
    )
    quarantined = scalar(
        db,
        "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = 'analytics.revenue_non_negative'",
        (inc.run_id,),
    )
    assert quarantined == NEGATIVE_REVENUE  # the rows the run judged, not the old one

    # 4. a failed run does not move the lower bound; the 3rd run after two incremental ones is a
    #    periodic full sweep (YTDQ_FULL_SWEEP_EVERY=2): it finds the old row's defect too
    for _ in module_environ(YTDQ_FULL_SWEEP_EVERY="2"):
        sweep = _run(gx_dir, module_env, since_last=True)
    assert sweep.scan["mode"] == "full" and "periodic full sweep" in sweep.scan["reason"]
    assert sweep.rule("analytics.revenue_non_negative").unexpected_count == NEGATIVE_REVENUE + 1
    assert sweep.rule("analytics.revenue_non_negative").element_count == total_old + new_rows
    assert sweep.rule(UNLISTED).unexpected_count == 1  # the old row the incremental runs did not read

    # 5. --full: the same full verdict; the streak starts again, from the last successful watermark
    forced = _run(gx_dir, module_env, full=True)
    assert forced.scan["mode"] == "full" and forced.scan["reason"] == "--full"
    assert forced.rule("analytics.revenue_non_negative").unexpected_count == NEGATIVE_REVENUE + 1
    again = _run(gx_dir, module_env, since_last=True)
    assert again.scan["incremental"] and again.scan["tables"]["analytics"]["since"] == before
    assert again.rule("analytics.revenue_non_negative").unexpected_count == NEGATIVE_REVENUE
    assert (forced.rule(UNLISTED).unexpected_count, again.rule(UNLISTED).unexpected_count) == (1, 0)

    # 6. defects fixed: the incremental run passes, and the next one starts from its watermark (yesterday)
    with db.cursor() as cur:
        cur.execute("DELETE FROM analytics WHERE date > current_date")
        cur.execute("UPDATE analytics SET revenue = 0 WHERE revenue < 0")
        cur.execute("UPDATE analytics SET subscribers_gained = views WHERE subscribers_gained > views")
    clean = _run(gx_dir, module_env, since_last=True)
    assert clean.exit_code == 0, clean.failed_rules()
    after = _run(gx_dir, module_env, since_last=True)
    assert after.scan["tables"]["analytics"]["since"] == yesterday
    assert after.rule("analytics.revenue_non_negative").element_count == 0


@pytest.mark.parametrize(
    ("query", "listed", "per_row"),
    [
        ("SELECT id, date FROM {batch} WHERE subscribers_gained > views", False, True),
        ("SELECT * FROM {batch} WHERE views < 0 OR date > current_date", False, True),
        ("SELECT analytics.id, analytics.date FROM {batch} WHERE analytics.views < 0", False, True),
        ("SELECT id, views FROM {batch} WHERE views < 0", False, False),  # no date to scope by
        ("SELECT id, date AS day FROM {batch} WHERE views < 0", False, False),  # date renamed
        ("SELECT a.id, a.date FROM {batch} AS a JOIN videos v ON v.id = a.video_id WHERE v.status = 'x'", False, False),
        ("SELECT a.id, a.date FROM {batch} AS a JOIN videos v ON v.id = a.video_id WHERE v.status = 'x'", True, True),
        (
            "SELECT video_id, max(date) AS date FROM {batch} GROUP BY video_id HAVING max(date) < current_date",
            False,
            False,
        ),
        ("SELECT id, date FROM {batch} WHERE views < (SELECT avg(views) FROM analytics)", False, False),
        ("SELECT id, date FROM {batch} AS v WHERE views < 0", False, False),  # GX cannot run it (alias, no JOIN)
        ("SELECT id, date FROM {batch} WHERE views < 0; DELETE FROM analytics", False, False),
    ],
)
def test_a_sql_rule_that_only_filters_its_rows_is_row_level_without_being_listed(query, listed, per_row):
    import great_expectations as gx

    spec = incremental.GrowingTable("analytics", "date", frozenset({"analytics.rule"} if listed else ()))
    rule = gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=query, meta={"rule_id": "analytics.rule"})
    assert incremental.is_row_level(rule, spec) is per_row


def test_cli_flags_and_json(gx_dir, module_env, tmp_path):
    runner = CliRunner()
    both = runner.invoke(main, ["checkpoint", "run", CHECKPOINT, "--config", str(gx_dir), "--since-last", "--full"])
    assert both.exit_code == 2
    out = tmp_path / "run.json"
    res = runner.invoke(main, ["checkpoint", "run", CHECKPOINT, "--config", str(gx_dir), "--full", "--json", str(out)])
    assert res.exit_code in (0, 1), res.output
    scan = json.loads(out.read_text())["scan"]
    assert scan["mode"] == "full" and scan["tables"]["analytics"]["column"] == "date"
    assert "scan:" not in res.output  # a plain or --full run: its verdict line only
    # --since-last says on the terminal what it scanned and why, in one line (as --json does)
    since = runner.invoke(
        main, ["checkpoint", "run", CHECKPOINT, "--config", str(gx_dir), "--since-last", "--json", str(out)]
    )
    scan = json.loads(out.read_text())["scan"]
    (line,) = [x for x in since.output.splitlines() if x.startswith("scan: ")]
    assert line.startswith(f"scan: {scan['mode']} ({scan['reason']})"), since.output


def test_config_errors_name_the_file(tmp_path, monkeypatch):
    (tmp_path / incremental.CONFIG_FILE).write_text("tables:\n  analytics: {}\n")
    with pytest.raises(YtdqError, match="incremental.yml: table 'analytics' needs a 'column'"):
        incremental.read_config(tmp_path)
    (tmp_path / incremental.CONFIG_FILE).write_text("tables:\n  analytics: {column: date}\n")
    monkeypatch.setenv(incremental.ENV_FULL_SWEEP_EVERY, "soon")
    with pytest.raises(YtdqError, match="must be an integer >= 0"):
        incremental.read_config(tmp_path)
    monkeypatch.setenv(incremental.ENV_FULL_SWEEP_EVERY, "3")
    tables, every = incremental.read_config(tmp_path)
    assert every == 3 and tables["analytics"].column == "date"
    monkeypatch.delenv(incremental.ENV_FULL_SWEEP_EVERY)
    assert incremental.read_config(tmp_path / "nowhere") == ({}, incremental.DEFAULT_FULL_SWEEP_EVERY)
