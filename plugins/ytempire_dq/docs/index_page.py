"""The Data Docs index page (``index.html``), rendered as static HTML from index rows.

Why not GX's index: GX 1.24.1 builds it from *every* stored validation result (read and
deserialised anew on each update, eight times per ``nightly`` run) and renders one Jinja cell
per value; its table is then drawn by scripts (bootstrap-table), paginated. Here the page is
plain HTML written from the rows :mod:`ytempire_dq.docs.site` keeps (one small dict per stored
validation): no script, no external URL, readable from ``file://``; every value is escaped.

Order, so a person sees the verdict first: the latest run of each checkpoint (with its
failed-rule count), then a table with one row per stored validation, the latest runs' rows
first (failed validations first within a run), then every other row, newest first.

A stored result that could not be read is "unreadable" (its file named), never passed, and makes
its run unreadable; a run that never finished validating (killed) is "incomplete" and never the
latest run of its checkpoint.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
from collections.abc import Iterable

#: The history page's file name, beside ``index.html`` (:mod:`ytempire_dq.docs.history_page`).
HISTORY_PAGE = "history.html"

#: Inline, so the page needs no stylesheet of any site or CDN (mirrors GX's Bootstrap look).
STYLE = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:14px;
color:#212529;margin:0;padding:1.5rem 3rem;background:#fff}
h1{font-size:1.4rem;background:#e2e3e5;border:1px solid #d6d8db;border-radius:.25rem;padding:.75rem 1.25rem}
h2{font-size:1.15rem;margin-top:1.75rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
th,td{border-top:1px solid #dee2e6;padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #dee2e6;background:#f8f9fa}
tr.failed{background:#fff5f5}
.status{font-weight:bold;white-space:nowrap}
.failed .status,.bad{color:#b02a37}
.passed .status,.good{color:#146c43}
tr.unreadable,tr.incomplete{background:#fff8e1}
.unreadable .status,.incomplete .status{color:#664d03}
.muted{color:#6c757d}
a{color:#0056b3}
code,pre{font-family:SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;background:#f8f9fa}
pre{padding:.5rem;white-space:pre-wrap;word-break:break-all}
nav a{margin-right:1rem}
"""


def e(value: object) -> str:
    """``value`` as HTML text (quotes too: values also go into attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, root: str = "") -> str:
    """A whole static page (``root``: its way back to the site's root, ``../`` per directory):
    inline style, no script, the site's own favicon, nothing fetched from anywhere else."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="UTF-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f'<link rel="icon" href="{e(root)}static/images/favicon.ico">\n'
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def when(iso: str | None) -> str:
    """``2026-12-01 10:49:11 UTC`` (the same text on every machine: no local time zone)."""
    if not iso:
        return ""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


#: A row's or a run's kind -> its verdict, readable without icons or fonts (coloured by the row's class).
STATUS = {
    "passed": '<span class="status">&#10004; Passed</span>',
    "failed": '<span class="status">&#10008; Failed</span>',
    "unreadable": '<span class="status">&#9888; Unreadable</span>',
    "incomplete": '<span class="status">&#9888; Incomplete run</span>',
}


def kind(row: dict) -> str:
    """``unreadable`` (its stored result could not be read), ``incomplete`` (its run never
    finished validating), else ``passed`` or ``failed``: of an index row or of a latest run."""
    if row.get("unreadable"):
        return "unreadable"
    if row.get("incomplete"):
        return "incomplete"
    return "passed" if row["success"] else "failed"


def unreadable_note(files: list[str]) -> str:
    """`` + 1 unreadable result: <file>``: what a failed-rule count leaves out."""
    if not files:
        return ""
    noun = "result" if len(files) == 1 else "results"
    return f" + {len(files)} unreadable {noun}: " + ", ".join(f"<code>{e(f)}</code>" for f in files)


def latest_runs(rows: Iterable[dict]) -> list[dict]:
    """The latest complete run of each checkpoint, newest first: ``{checkpoint, run_name, run_time,
    success, failed, evaluated, validations, unreadable}`` (``failed``: its failed rules, summed over
    its validations; ``unreadable``: its stored results that could not be read). A run that never
    finished validating is never the latest."""
    rows = list(rows)
    newest: dict[str, tuple[str, str]] = {}
    for row in rows:  # one pass of comparisons: a run's time is the time of each of its rows
        if row.get("incomplete"):
            continue
        mark = (row["run_time"] or "", row["run_name"])
        if mark > newest.get(row["checkpoint"], ("", "")):
            newest[row["checkpoint"]] = mark
    runs = {
        (cp, name): {
            "checkpoint": cp,
            "run_name": name,
            "run_time": time,
            "source": None,
            "success": True,
            "failed": 0,
            "evaluated": 0,
            "validations": 0,
            "unreadable": [],
        }
        for cp, (time, name) in newest.items()
    }
    for row in rows:
        run = runs.get((row["checkpoint"], row["run_name"]))
        if run is not None:
            run["success"] = run["success"] and bool(row["success"])
            run["failed"] += int(row.get("failed") or 0)
            run["evaluated"] += int(row.get("evaluated") or 0)
            run["validations"] += 1
            run["source"] = run["source"] or row.get("source")
            if row.get("unreadable"):
                run["unreadable"].append(row["unreadable"])
    return sorted(runs.values(), key=lambda r: (r["run_time"] or "", r["checkpoint"]), reverse=True)


def ordered(rows: Iterable[dict], latest: list[dict] | None = None) -> list[dict]:
    """Index rows as the page lists them: the latest run of each checkpoint first (its failed
    validations first, then by suite), then the rest, newest first."""
    rows = list(rows)
    latest = latest_runs(rows) if latest is None else latest
    rank = {(r["checkpoint"], r["run_name"]): n for n, r in enumerate(latest)}
    first = [r for r in rows if (r["checkpoint"], r["run_name"]) in rank]
    rest = [r for r in rows if (r["checkpoint"], r["run_name"]) not in rank]
    first.sort(key=lambda r: (rank[(r["checkpoint"], r["run_name"])], bool(r["success"]), r["suite"], r["filepath"]))
    rest.sort(key=lambda r: (r["suite"], r["filepath"]))
    rest.sort(key=lambda r: r["run_time"] or "", reverse=True)
    return first + rest


def render_index(site_name: str, rows: Iterable[dict], suites: Iterable[str]) -> str:
    """The whole ``index.html``."""
    rows = list(rows)
    latest = latest_runs(rows)
    rows = ordered(rows, latest)
    parts = [
        f"<h1><strong>Data Docs</strong> | {e(site_name)}</h1>",
        f'<nav><a href="{HISTORY_PAGE}">Rule history</a><a href="#validation-results">Validation Results</a>'
        '<a href="#expectation-suites">Expectation Suites</a></nav>',
        '<h2 id="latest-runs">Latest run of each checkpoint</h2>',
    ]
    if latest:
        parts.append(
            '<table class="latest-runs"><thead><tr><th>Status</th><th>Checkpoint</th><th>Failed rules</th>'
            "<th>Run time</th><th>Run name</th><th>Source</th><th>Validations</th><th></th></tr></thead><tbody>"
        )
        for run in latest:
            verdict = kind(run)
            parts.append(
                f'<tr class="{verdict}" data-checkpoint="{e(run["checkpoint"])}"><td>{STATUS[verdict]}</td>'
                f"<td>{e(run['checkpoint'])}</td>"
                f'<td class="failed-count">{run["failed"]} of {run["evaluated"]}{unreadable_note(run["unreadable"])}</td>'
                f"<td>{e(when(run['run_time']))}</td><td>{e(run['run_name'])}</td>"
                f'<td class="source">{e(run["source"] or "")}</td><td>{run["validations"]}</td>'
                f'<td><a href="{HISTORY_PAGE}#{e(checkpoint_anchor(run["checkpoint"]))}">rule history</a></td></tr>'
            )
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">No validation results are stored yet.</p>')
    parts.append(f'<h2 id="validation-results">Validation Results <span class="muted">({len(rows)})</span></h2>')
    parts.append(
        '<table id="validation-results-table"><thead><tr><th>Status</th><th>Run Time</th><th>Run Name</th>'
        "<th>Checkpoint</th><th>Source</th><th>Asset Name</th><th>Expectation Suite</th><th>Failed rules</th>"
        "</tr></thead><tbody>"
    )
    parts.extend(validation_row(row) for row in rows)
    parts.append("</tbody></table>")
    parts.append('<h2 id="expectation-suites">Expectation Suites</h2><ul class="suites">')
    for name in sorted(suites):
        parts.append(f'<li><a href="{e(suite_filepath(name))}">{e(name)}</a></li>')
    parts.append("</ul>")
    return page(f"Data Docs | {site_name}", "\n".join(parts))


def validation_row(row: dict) -> str:
    """The index's row of one validation (rendered once per process for the same row content)."""
    try:
        return _validation_row(tuple(sorted(row.items())))
    except TypeError:  # a value that is not hashable (not a row this package writes): rendered as is
        return _render_validation_row(row)


@functools.lru_cache(maxsize=20_000)
def _validation_row(items: tuple) -> str:
    """:func:`_render_validation_row` of the row with these items (a pure function of them): an
    update of the index renders only the rows it has not rendered before in this process."""
    return _render_validation_row(dict(items))


def _render_validation_row(row: dict) -> str:
    verdict = kind(row)
    counted = f"{int(row.get('failed') or 0)} of {int(row.get('evaluated') or 0)}"
    if row.get("unreadable"):
        counted = f"unreadable: <code>{e(row['unreadable'])}</code>"
    elif row.get("incomplete"):
        counted += f" ({'passed' if row['success'] else 'failed'}; its run never finished)"
    markup = (
        f'<tr class="{verdict} validation-row"><td>{STATUS[verdict]}</td><td>{e(when(row["run_time"]))}</td>'
        f'<td><a href="{e(row["filepath"])}">{e(row["run_name"])}</a></td><td>{e(row["checkpoint"])}</td>'
        f'<td class="source">{e(row.get("source") or "")}</td><td>{e(row.get("asset_name"))}</td>'
        f'<td><a href="{e(row["suite_filepath"])}">{e(row["suite"])}</a></td>'
        f"<td>{counted}</td></tr>"
    )
    return markup


def unreadable_page(row: dict) -> str:
    """The page of a stored validation result that could not be read (instead of its verdict)."""
    root = "../" * row["filepath"].count("/")
    return page(
        f"Data Docs | Unreadable validation result {row['run_name']}",
        f"<h1><strong>Data Docs</strong> | Validations / {e(row['suite'])} / {e(row['run_name'])}</h1>"
        f'<nav><a href="{e(root)}index.html">Index</a></nav>'
        f'<table class="unreadable"><tbody><tr class="unreadable"><td>{STATUS["unreadable"]}</td>'
        f"<td>The stored validation result <code>{e(row['unreadable'])}</code> (in the validation results"
        f" store) cannot be read: {e(row.get('error'))}</td></tr></tbody></table>"
        '<p class="muted">Its outcome is unknown: it is not counted as passed. Restore or delete the file,'
        " then run <code>ytdq docs build</code>.</p>",
        root,
    )


def suite_filepath(suite: str) -> str:
    """The suite page's path in the site, URL-quoted (GX puts each dot of a name in a directory)."""
    from urllib.parse import quote

    return quote("/".join(["expectations", *suite.split(".")]) + ".html")


def anchor(*names: str) -> str:
    """A fragment id made of ``names``: readable when they are plain, unique either way."""
    import hashlib
    import re

    text = "--".join(names)
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if slug != text:
        slug += "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return slug


def checkpoint_anchor(checkpoint: str, *source: str) -> str:
    return "cp-" + anchor(checkpoint, *source)


def rule_anchor(checkpoint: str, *names: str) -> str:
    """A rule's row on the history page: ``(checkpoint, rule_id)``, or ``(checkpoint, source,
    rule_id)`` in the section of a source that is not the checkpoint's latest."""
    return "rule-" + anchor(checkpoint, *names)
