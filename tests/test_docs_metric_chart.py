"""The rule-history page's charts and ``ytdq history RULE_ID``'s series: a volume/drift rule's value
per night from ``dq.metrics``, its expected range shaded, the failed night marked; drawn offline
by the site's vendored Vega-Lite in headless Chromium (network off). A hostile rule id and metric
text stay text: in the page's markup, in the chart's JSON and in the rendered page."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from pathlib import Path

import great_expectations
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.chromium import Browser
from tests.test_data_docs_browser import ARTIFACTS
from ytempire_dq.cli.app import main
from ytempire_dq.db.connect import engine
from ytempire_dq.docs import assets, history_page
from ytempire_dq.docs.index_page import rule_anchor

RULE = "analytics.views_yesterday_within_history"
HOSTILE = "</script><img src=x onerror=document.body.dataset.pwned=1>"
#: Nights planted: the first three learn (no band yet), night 9 is outside its band.
VALUES = [100.0, 104.0, 98.0, 101.0, 103.0, 99.0, 102.0, 105.0, 180.0, 104.0]
FAILED_NIGHT = 8  # index in VALUES
FIRST = dt.datetime(2027, 1, 4, 3, tzinfo=dt.timezone.utc)


def plant(url: str, rule_id: str, metric: str, values: list[float], failed: int) -> None:
    """Runs of checkpoint ``nightly``, one a night, each with ``rule_id``'s result and measurement."""
    eng = engine(url)
    try:
        with eng.begin() as conn:
            for i, value in enumerate(values):
                at, run = FIRST + dt.timedelta(days=i), f"chart-{rule_id[:20]}-{i}"
                ok = i != failed
                conn.execute(
                    sa.text("INSERT INTO dq.runs VALUES (:r, 'nightly', :ok, 1, :bad, :at, :at)"),
                    {"r": run, "ok": ok, "bad": int(not ok), "at": at},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO dq.rule_results (run_id, checkpoint, rule_id, suite, table_name,"
                        " expectation_type, success, observed_at)"
                        " VALUES (:r, 'nightly', :rule, 'analytics', 'analytics',"
                        " 'expect_column_daily_aggregate_to_be_within_history_band', :ok, :at)"
                    ),
                    {"r": run, "rule": rule_id, "ok": ok, "at": at},
                )
                band = (None, None) if i < 3 else (90.0, 115.0)
                conn.execute(
                    sa.text(
                        "INSERT INTO dq.metrics (run_id, rule_id, metric, value, success, baseline_runs, min_runs,"
                        " median, mad, lower_bound, upper_bound, observed_at)"
                        " VALUES (:r, :rule, :metric, :v, :ok, :n, 3, :med, 1, :lo, :hi, :at)"
                    ),
                    {
                        "r": run,
                        "rule": rule_id,
                        "metric": metric,
                        "v": value,
                        "ok": ok,
                        "n": min(i, 14),
                        "med": None if i < 3 else 102.0,
                        "lo": band[0],
                        "hi": band[1],
                        "at": at,
                    },
                )
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def store(new_database):
    url = new_database("metric_chart")
    plant(url, RULE, "sum(analytics.views) per analytics.date, current_date - 1", VALUES, FAILED_NIGHT)
    plant(url, HOSTILE, HOSTILE, VALUES[:5], failed=4)
    return url


@pytest.fixture(scope="module")
def site(store, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("chart_site")
    assets.ship_assets(site)
    (site / "static" / "images").mkdir(parents=True)  # the favicon every page links (GX ships it)
    shutil.copyfile(Path(great_expectations.__file__).parent / "render/view/static/images/favicon.ico",
                    site / "static" / "images" / "favicon.ico")  # fmt: skip
    assert history_page.write_page(site, store_url=store) == site / "history.html"
    return site


def specs(markup: str) -> dict[str, dict]:
    """The charts' JSON specs in the page, by the id of the element each draws into."""
    found = re.findall(
        r'<script type="application/json" class="metric-spec" data-target="([^"]*)">(.*?)</script>', markup
    )
    return {html.unescape(target): json.loads(text) for target, text in found}


def test_each_measured_rule_has_a_chart_with_its_nights_and_band(site):
    markup = (site / "history.html").read_text()
    charts = specs(markup)
    assert set(charts) == {"chart-" + rule_anchor("nightly", RULE), "chart-" + rule_anchor("nightly", HOSTILE)}
    points = charts["chart-" + rule_anchor("nightly", RULE)]["data"]["values"]
    assert [p["value"] for p in points] == VALUES  # oldest first
    assert [p["verdict"] for p in points].count("failed") == 1 and points[FAILED_NIGHT]["verdict"] == "failed"
    assert [p["lower"] for p in points[:3]] == [None] * 3 and points[3]["upper"] == 115.0
    # the scripts are the site's own files, relative to the page
    for path in history_page.CHART_SCRIPTS:
        assert f'<script src="static/vendor/{path}"></script>' in markup
        assert (site / "static" / "vendor" / path).is_file()
    assert not re.search(r"(?i)(src|href)=\"(https?:)?//", markup)


def test_a_hostile_rule_id_and_metric_stay_text_in_markup_and_json(site):
    markup = (site / "history.html").read_text()
    assert "<img" not in markup
    # the only script end tags are the page's own (3 vendored, 1 inline, 2 specs)
    assert markup.count("</script>") == len(history_page.CHART_SCRIPTS) + 1 + 2
    spec = specs(markup)["chart-" + rule_anchor("nightly", HOSTILE)]
    assert spec["data"]["values"][0]["metric"] == HOSTILE and HOSTILE in spec["description"]
    assert html.escape(HOSTILE, quote=True) in markup  # the caption and the rule's row
    # a metric rule fails by its value, not by rows: its latest failure says so, never "None bad rows"
    assert "None bad rows" not in markup and "Failed</span>: value outside the expected range" in markup


def test_ytdq_history_prints_the_series_oldest_first(store, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", store)
    monkeypatch.delenv("YTDQ_STORE_URL", raising=False)
    cli = CliRunner()
    out = cli.invoke(main, ["history", RULE, "--json"])
    assert out.exit_code == 0, out.output
    series = json.loads(out.output)["series"]
    assert [p["value"] for p in series] == VALUES
    assert [p["success"] for p in series] == [i != FAILED_NIGHT for i in range(len(VALUES))]
    assert (series[0]["lower"], series[3]["lower"], series[3]["upper"]) == (None, 90.0, 115.0)
    limited = json.loads(cli.invoke(main, ["history", RULE, "--json", "--limit", "4"]).output)["series"]
    assert [p["value"] for p in limited] == VALUES[-4:]
    text = cli.invoke(main, ["history", RULE, "--limit", "10"], env={"COLUMNS": "200"}).output
    lines = [line for line in text.splitlines() if line.strip().startswith(("│ 2027", "┃ 2027", "2027", "| 2027"))]
    assert "series" in text and "not enough history yet" in text and "[90, 115]" in text
    assert any("180" in line and "FAILED" in line for line in text.splitlines()), text
    assert len(lines) >= len(VALUES), text


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    browser = Browser(tmp_path_factory.mktemp("chromium_chart"), width=1200, height=900)
    yield browser
    browser.close()


RENDERED = """(() => {
  const chart = document.getElementById(%s);
  const svg = chart.querySelector('svg');
  const symbols = [...chart.querySelectorAll('.mark-symbol.role-mark path')];
  return {
    rendered: chart.dataset.rendered || null,
    svg: !!svg,
    points: symbols.length,
    failed: symbols.filter(p => (p.getAttribute('fill') || '').toLowerCase() === '#dc3545').length,
    band: chart.querySelectorAll('.mark-area.role-mark path').length,
    pwned: document.body.dataset.pwned || null,
  };
})()"""


def test_offline_the_chart_draws_every_night_and_marks_the_failed_one(site, chromium):
    tab = chromium.open((site / "history.html").as_uri(), settle=2.0)
    assert tab.page.external() == [] and tab.page.failed == [], (tab.page.external(), tab.page.failed)
    assert tab.page.errors == [] and tab.page.dialogs == [], tab.page.errors
    shown = tab.evaluate(RENDERED % json.dumps("chart-" + rule_anchor("nightly", RULE)))
    assert shown == {"rendered": "yes", "svg": True, "points": len(VALUES), "failed": 1, "band": 1, "pwned": None}
    hostile = tab.evaluate(RENDERED % json.dumps("chart-" + rule_anchor("nightly", HOSTILE)))
    assert (hostile["rendered"], hostile["points"], hostile["failed"], hostile["pwned"]) == ("yes", 5, 1, None)
    tab.evaluate(
        "document.getElementById(%s).scrollIntoView({block: 'center'})"
        % json.dumps("chart-" + rule_anchor("nightly", RULE))
    )
    shot = tab.screenshot(ARTIFACTS / "history-chart.png")
    shutil.copyfile(shot, "/tmp/chart.png")
    assert shot.stat().st_size > 10_000
