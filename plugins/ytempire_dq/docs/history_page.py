"""The rule history page of Data Docs (``history.html``), from the run history in schema ``dq`` of
the results store (``YTDQ_STORE_URL``; unset, the checked database).

Per checkpoint, per rule: its outcome and bad-row count over the checkpoint's last
:data:`HISTORY_RUNS` runs (an inline SVG drawn here), since when it fails (the first failure after
its last success, as ``ytdq history RULE_ID`` says), and how to fetch the rows it quarantined (the
command and the exact SQL). Failing rules come first. A rule that records metrics
(``dq.metrics``: the volume/drift rules) also gets a chart of its value per run, the expected
range shaded and the failed runs marked, drawn by the site's vendored Vega-Lite from JSON inline in
the page (nothing fetched). Everything from the database or the suites is HTML-escaped; the
charts' JSON cannot close its script element.

Written after each run is recorded (``run_checkpoint``) and by ``ytdq docs build``; the index
links it, and each validation page lists its failed rules with a link to their row here
(:func:`failed_rules_box`, added by :mod:`ytempire_dq.docs.site`). Five queries per
checkpoint: four bounded by the runs shown (indexes of migration 004), and the one that finds
since when each failing rule fails, which reads those rules' stored results once (so it grows with
the history the retention rules keep, linearly).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ytempire_dq import config
from ytempire_dq.docs.index_page import HISTORY_PAGE, checkpoint_anchor, e, page, rule_anchor, when
from ytempire_dq.gx.results import raised
from ytempire_dq.store import metrics as metric_series
from ytempire_dq.store.streaks import failing_since, newest_runs, runs_of
from ytempire_dq.values import plural

log = logging.getLogger(__name__)

#: Runs per checkpoint the page shows.
HISTORY_RUNS = 30

_RESULTS_SQL = sa.text(
    "SELECT run_id, rule_id, table_name, success, unexpected_count, error FROM dq.rule_results WHERE run_id = ANY(:ids)"
)
_QUARANTINED_SQL = sa.text("SELECT rule_id, count(*) FROM dq.quarantine WHERE run_id = :run GROUP BY rule_id")


def history(store_url: str, runs: int = HISTORY_RUNS) -> list[dict]:
    """``[{checkpoint, source, runs: [{run_id, started_at}] (oldest first), rules: [{rule_id, table,
    outcomes: [None | {success, unexpected_count, error}] per run, failing_since, quarantined,
    latest_run}]}]``, one per checkpoint and source it checked, by their latest run, newest first
    (``source`` None: a store before migration 011)."""
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import engine as make_engine

    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            if not migrations.has(conn, migrations.HISTORY):
                return []
            named = migrations.has(conn, migrations.SOURCES)
            source = "source" if named else "NULL"
            pairs = conn.execute(
                sa.text(
                    f"SELECT checkpoint, {source} FROM dq.runs GROUP BY checkpoint, {source} "
                    "ORDER BY max(started_at) DESC"
                )
            )
            return [_checkpoint(conn, cp, src, runs, named) for cp, src in pairs]
    finally:
        engine.dispose()


def _checkpoint(conn: sa.Connection, checkpoint: str, source: str | None, n: int, named: bool) -> dict:
    last = [dict(r._mapping) for r in conn.execute(newest_runs(checkpoint, source, named, n))][::-1]
    position = {r["run_id"]: i for i, r in enumerate(last)}
    rules: dict[str, dict] = {}
    for r in conn.execute(_RESULTS_SQL, {"ids": list(position)}):
        rule = rules.setdefault(
            r.rule_id, {"rule_id": r.rule_id, "table": r.table_name, "outcomes": [None] * len(last)}
        )
        rule["outcomes"][position[r.run_id]] = {
            "success": r.success,
            "unexpected_count": r.unexpected_count,
            "error": r.error,
        }
    for rule in rules.values():
        seen = [i for i, o in enumerate(rule["outcomes"]) if o is not None]
        rule["latest_run"] = last[seen[-1]]["run_id"] if seen else None
        rule["latest"] = rule["outcomes"][seen[-1]] if seen else None
        rule["failing_since"] = None
        rule["quarantined"] = 0
    failing = [r["rule_id"] for r in rules.values() if r["latest"] is not None and not r["latest"]["success"]]
    if failing:
        for rule_id, since in conn.execute(failing_since(failing, checkpoint, runs_of(checkpoint, source, named))):
            rules[rule_id]["failing_since"] = since
    if last:
        for rule_id, count in conn.execute(_QUARANTINED_SQL, {"run": last[-1]["run_id"]}):
            if rule_id in rules and rules[rule_id]["latest_run"] == last[-1]["run_id"]:
                rules[rule_id]["quarantined"] = int(count)
    for rule_id, points in metric_series.series_by_rule(conn, list(position)).items():
        if rule_id in rules:
            rules[rule_id]["series"] = points
    ordered = sorted(
        rules.values(),
        key=lambda r: (r["failing_since"] is None, r["failing_since"] or 0, r["rule_id"]),
    )
    return {"checkpoint": checkpoint, "source": source, "runs": last, "rules": ordered}


# ---------------------------------------------------------------------------------------------
# rendering


def sparkline(outcomes: list[dict | None], runs: list[dict]) -> str:
    """One bar per run (oldest left): red, as tall as its bad rows (log scale), when the rule
    failed; a low green bar when it passed; grey when it could not run; nothing when not run."""
    bar, gap, height = 8, 2, 28
    counts = [o["unexpected_count"] or 0 for o in outcomes if o and not o["success"] and not o["error"]]
    top = math.log1p(max(counts)) if counts else 1.0
    parts = [
        f'<svg class="trend" width="{max(1, len(outcomes)) * (bar + gap)}"'
        f' height="{height}" role="img" aria-label="outcome per run, oldest first">'
    ]
    for i, outcome in enumerate(outcomes):
        if outcome is None:
            continue
        x = i * (bar + gap)
        if outcome["error"]:
            h, colour, text = height, "#6c757d", "could not run"
        elif outcome["success"]:
            h, colour, text = 4, "#198754", "passed"
        else:
            count = outcome["unexpected_count"] or 0
            h = max(6, round(height * math.log1p(count) / top)) if top else height
            colour, text = "#dc3545", f"failed: {_failed_by(outcome['unexpected_count'])}"
        label = f"{runs[i]['run_id']} ({when(_iso(runs[i]['started_at']))}): {text}"
        parts.append(
            f'<rect x="{x}" y="{height - h}" width="{bar}" height="{h}" fill="{colour}"><title>{e(label)}</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)


#: The vendored scripts a page with charts loads (``static/vendor``, shipped by ``docs.assets``).
CHART_SCRIPTS = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
#: Draws every ``.metric-chart`` from the JSON spec beside it (no network: the data is inline).
_CHART_JS = """
document.querySelectorAll('script.metric-spec').forEach(function (el) {
  var target = document.getElementById(el.dataset.target);
  try {
    vegaEmbed(target, JSON.parse(el.textContent), {mode: 'vega-lite', renderer: 'svg', actions: false})
      .then(function () { target.dataset.rendered = 'yes'; })
      .catch(function (err) { target.textContent = 'chart not drawn: ' + err; });
  } catch (err) { target.textContent = 'chart not drawn: ' + err; }
});
"""


def chart_spec(rule_id: str, points: list[dict]) -> dict:
    """A Vega-Lite spec: the value per night (line and points), the expected range shaded, the
    nights the rule failed marked by a red cross. Text reaches the chart as data, never as markup."""
    values = [
        {
            "night": _iso(p["observed_at"]),
            "value": p["value"],
            "lower": p["lower"],
            "upper": p["upper"],
            "verdict": "passed" if p["success"] else "failed",
            "run": p["run_id"],
            "metric": p["metric"],
        }
        for p in points
    ]
    x = {"field": "night", "type": "temporal", "title": "night", "axis": {"format": "%b %d", "tickCount": "day"}}
    y = {"type": "quantitative", "scale": {"zero": False, "nice": True}}
    tooltip = [
        {"field": "run", "type": "nominal"},
        {"field": "night", "type": "temporal", "format": "%Y-%m-%d %H:%M"},
        {"field": "value", "type": "quantitative", "format": ",.4~g"},
        {"field": "lower", "type": "quantitative", "format": ",.4~g", "title": "expected from"},
        {"field": "upper", "type": "quantitative", "format": ",.4~g", "title": "expected to"},
        {"field": "verdict", "type": "nominal"},
    ]
    return {
        "description": f"{rule_id}: value per night and its expected range",
        "width": 640,
        "height": 160,
        "data": {"values": values},
        "layer": [
            {
                "transform": [{"filter": "datum.lower != null && datum.upper != null"}],
                "mark": {"type": "area", "opacity": 0.25, "color": "#198754"},
                "encoding": {"x": x, "y": {**y, "field": "lower"}, "y2": {"field": "upper"}},
            },
            {
                "transform": [{"filter": "datum.value != null"}],
                "mark": {"type": "line", "color": "#0d6efd"},
                "encoding": {"x": x, "y": {**y, "field": "value", "title": "value"}},
            },
            {
                "transform": [{"filter": "datum.value != null"}],
                "mark": {"type": "point", "filled": True, "opacity": 1},
                "encoding": {
                    "x": x,
                    "y": {**y, "field": "value"},
                    "size": {
                        "field": "verdict",
                        "type": "nominal",
                        "scale": {"domain": ["passed", "failed"], "range": [40, 160]},
                        "legend": None,
                    },
                    "shape": {
                        "field": "verdict",
                        "type": "nominal",
                        "scale": {"domain": ["passed", "failed"], "range": ["circle", "cross"]},
                        "title": "verdict",
                    },
                    "color": {
                        "field": "verdict",
                        "type": "nominal",
                        "scale": {"domain": ["passed", "failed"], "range": ["#0d6efd", "#dc3545"]},
                    },
                    "tooltip": tooltip,
                },
            },
        ],
    }


def _json_in_script(value: Any) -> str:
    """JSON that cannot end its ``<script>`` element or open markup (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _chart_row(section: tuple[str, ...], rule: dict) -> str:
    """The chart of a rule with metrics, below its row (``section``: the checkpoint, and the source
    when it is not the checkpoint's latest, as the row's anchor)."""
    points = rule.get("series") or []
    if not points:
        return ""
    anchor = "chart-" + rule_anchor(*section, rule["rule_id"])
    failed = sum(1 for p in points if not p["success"])
    caption = (
        f"{rule['rule_id']}: {points[-1]['metric']}, value per run ({plural(len(points), 'run')}, {failed} outside the"
        " expected range, marked with a red cross); the shaded band is the range the rule expected"
    )
    return (
        f'<tr class="metric-row"><td colspan="7"><figure class="metric-figure">'
        f'<div class="metric-chart" id="{e(anchor)}" data-points="{len(points)}" data-failed="{failed}"></div>'
        f'<script type="application/json" class="metric-spec" data-target="{e(anchor)}">'
        f"{_json_in_script(chart_spec(rule['rule_id'], points))}</script>"
        f'<figcaption class="muted">{e(caption)}</figcaption></figure></td></tr>'
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def sql_literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def fetch_sql(rule: dict) -> str:
    """The exact SQL of the rows ``rule`` quarantined in its latest run (joined back to its table)."""
    where = f"q.rule_id = {sql_literal(rule['rule_id'])} AND q.run_id = {sql_literal(rule['latest_run'])}"
    table = rule["table"]
    if not table:
        return f"SELECT q.row_key FROM dq.quarantine q WHERE {where};"
    return f"SELECT t.* FROM dq.quarantine q JOIN {table} t ON to_jsonb(t) @> q.row_key\n WHERE {where};"


def _rule_row(checkpoint: str, rule: dict, runs: list[dict], section: tuple[str, ...]) -> str:
    latest = rule["latest"] or {}
    if latest.get("error"):
        verdict, kind = '<span class="status">&#9888; Could not run</span>', "failed"
    elif latest.get("success"):
        verdict, kind = '<span class="status">&#10004; Passed</span>', "passed"
    else:
        verdict = f'<span class="status">&#10008; Failed</span>: {e(_failed_by(latest.get("unexpected_count")))}'
        kind = "failed"
    failed_runs = sum(1 for o in rule["outcomes"] if o is not None and not o["success"])
    ran = sum(1 for o in rule["outcomes"] if o is not None)
    since = when(_iso(rule["failing_since"])) if rule["failing_since"] else ""
    source = f" --source {e(shell_word(section[1]))}" if len(section) > 1 else ""
    fetch = f"<code>ytdq history {e(rule['rule_id'])} --checkpoint {e(checkpoint)}{source}</code>"
    if rule["quarantined"]:
        fetch += (
            f"<br>{plural(rule['quarantined'], 'row')} quarantined in the latest run:<pre>{e(fetch_sql(rule))}</pre>"
        )
    return (
        f'<tr id="{e(rule_anchor(*section, rule["rule_id"]))}" class="{kind} rule-row">'
        f'<td class="rule-id">{e(rule["rule_id"])}</td><td>{e(rule["table"])}</td>'
        f"<td>{sparkline(rule['outcomes'], runs)}</td>"
        f'<td class="failed-runs">failed in {failed_runs} of {plural(ran, "run")}</td><td>{verdict}</td>'
        f'<td class="failing-since">{e(since)}</td><td>{fetch}</td></tr>'
    )


def render_history(checkpoints: list[dict], runs: int = HISTORY_RUNS) -> str:
    parts = [
        "<h1><strong>Data Docs</strong> | Rule history</h1>",
        '<nav><a href="index.html">Index</a></nav>',
        f'<p class="muted">Each rule over the last {plural(runs, "run")} of each checkpoint, oldest bar first (red: failed,'
        " height = bad rows, log scale; green: passed; grey: could not run). From the run history in schema"
        " <code>dq</code>; <code>ytdq history RULE_ID</code> shows the same.</p>",
    ]
    if not checkpoints:
        parts.append('<p class="muted">No run is recorded in the history yet.</p>')
    seen: set[str] = set()
    for cp in checkpoints:
        # the latest source of a checkpoint has the checkpoint's own anchors (the index and the
        # validation pages link there); each other source has anchors of its own
        section = (cp["checkpoint"],) if cp["checkpoint"] not in seen else (cp["checkpoint"], cp["source"] or "")
        seen.add(cp["checkpoint"])
        checked = f' <span class="source">source {e(cp["source"])}</span>' if cp.get("source") else ""
        parts.append(
            f'<h2 id="{e(checkpoint_anchor(*section))}">Checkpoint {e(cp["checkpoint"])}{checked}'
            f' <span class="muted">(last {plural(len(cp["runs"]), "run")})</span></h2>'
        )
        parts.append(
            '<table class="rule-history"><thead><tr><th>Rule</th><th>Table</th><th>Outcome per run</th>'
            "<th>Failed</th><th>Latest run</th><th>Failing since</th><th>Fetch its rows</th></tr></thead><tbody>"
        )
        for rule in cp["rules"]:
            parts.append(_rule_row(cp["checkpoint"], rule, cp["runs"], section))
            parts.append(_chart_row(section, rule))
        parts.append("</tbody></table>")
    if any(rule.get("series") for cp in checkpoints for rule in cp["rules"]):
        parts.extend(f'<script src="static/vendor/{path}"></script>' for path in CHART_SCRIPTS)
        parts.append(f"<script>{_CHART_JS}</script>")
    return page("Data Docs | Rule history", "\n".join(parts))


def shell_word(text: str) -> str:
    """``text`` as one word of a shell command line."""
    import shlex

    return shlex.quote(text)


def write_page(site: Path, store_url: str | None = None, runs: int = HISTORY_RUNS) -> Path | None:
    """Write ``history.html`` into the site at ``site``, from the history in the results store
    ``store_url`` (by default :func:`ytempire_dq.config.store_url`: ``YTDQ_STORE_URL``, else the
    checked database). Never raises (the docs must not fail a run): a failure is logged as a
    WARNING and the old page stays; None then."""
    url = store_url or config.store_url(required=False)
    if not url:
        ensure_page(site)
        return None
    try:
        markup = render_history(history(url, runs), runs)
    except Exception as exc:  # noqa: BLE001 - the history page is a view; the run stands
        log.warning("Data Docs: rule history page not written: %s", config.one_line(exc, 300))
        ensure_page(site)
        return None
    site.mkdir(parents=True, exist_ok=True)
    tmp = site / (HISTORY_PAGE + ".tmp")
    tmp.write_text(markup, encoding="utf-8")
    os.replace(tmp, site / HISTORY_PAGE)
    return site / HISTORY_PAGE


def ensure_page(site: Path) -> None:
    """A history page exists (the index links it): a placeholder until a run writes the real one."""
    if not (site / HISTORY_PAGE).exists():
        (site / HISTORY_PAGE).write_text(
            page(
                "Data Docs | Rule history",
                '<h1><strong>Data Docs</strong> | Rule history</h1><nav><a href="index.html">Index</a></nav>'
                '<p class="muted">Written after the next checkpoint run, or by <code>ytdq docs build</code> with'
                " the database reachable (DATABASE_URL).</p>",
            ),
            encoding="utf-8",
        )


def failed_rules_box(result: Any, checkpoint: str, depth: int) -> str:
    """HTML for the top of a validation page: its failed rules, each linked to its history row
    (``depth``: directories between the page and the site root)."""
    failed = [r for r in result.results if not r.success]
    if not failed:
        return ""
    prefix = "../" * depth + HISTORY_PAGE
    items = []
    for r in failed:
        config_ = r.expectation_config
        rule_id = str(((config_.meta if config_ else None) or {}).get("rule_id") or (config_.type if config_ else "?"))
        count = (r.result or {}).get("unexpected_count")
        what = "could not run" if raised(r) else plural(count, "bad row") if count is not None else "failed"
        href = f"{prefix}#{rule_anchor(checkpoint, rule_id)}"
        items.append(
            f'<li class="failed-rule"><strong>{e(rule_id)}</strong>: {e(what)} — '
            f'<a class="rule-history-link" href="{e(href)}">rule history</a></li>'
        )
    return (
        '<div class="ytdq-failed-rules alert alert-danger" style="border:1px solid #f1aeb5;background:#f8d7da;'
        'color:#58151c;padding:.75rem 1.25rem;margin-bottom:1rem;border-radius:.25rem">'
        f"<strong>&#10008; {plural(len(failed), 'failed rule')}</strong><ul>{''.join(items)}</ul></div>"
    )


def site_dirs(ctx: Any) -> list[Path]:
    """The filesystem Data Docs sites of a data context."""
    sites = []
    for site in (ctx.variables.data_docs_sites or {}).values():
        backend = (site or {}).get("store_backend") or {}
        base = backend.get("base_directory")
        if backend.get("class_name", "TupleFilesystemStoreBackend") == "TupleFilesystemStoreBackend" and base:
            sites.append((Path(ctx.root_directory) / base).resolve())
    return sites


def write_pages(ctx: Any, store_url: str | None = None) -> None:
    """:func:`write_page` for every filesystem site of ``ctx`` (one history read from the results
    store ``store_url``, by default :func:`ytempire_dq.config.store_url`). Never raises."""
    try:
        url = store_url or config.store_url(required=False)
        dirs = site_dirs(ctx)
        first = write_page(dirs[0], url) if dirs else None
        for site in dirs[1:]:
            if first is not None:
                site.mkdir(parents=True, exist_ok=True)
                (site / HISTORY_PAGE).write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
            else:
                ensure_page(site)
    except Exception as exc:  # noqa: BLE001 - a view of the history must not fail the run
        log.warning("Data Docs: rule history page not written: %s", config.one_line(exc, 300))


def _failed_by(count: int | None) -> str:
    """How a failed run failed: its bad rows, or (a metric rule, no rows) its value out of range."""
    return plural(count, "bad row") if count is not None else "value outside the expected range"
