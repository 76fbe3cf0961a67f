"""Small helpers the tests share (plain SQL against the real server)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.locations import copy_project

#: How ``checkpoint run`` starts its stderr line about a checking role that is a superuser or can write
#: (cli.services.warn_if_checks_can_write): the test session's role is one, so every run prints it.
CHECKS_ROLE_WARNING = "warning: the checks connect as "

#: Each defect kind -> the ONE rule that catches it (unexpected count == injected rows).
KIND_TO_RULE = {name: kind.rule_id for name, kind in DEFECT_KINDS.items()}


def scalar(conn, sql: str, params=None):
    """The first column of the first row of ``sql``."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def rows(conn, sql: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def insert_row(conn, table: str, values: dict) -> str:
    """INSERT one row of ``values`` into ``table`` (a fixed name from the test); returns its id."""
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return scalar(conn, f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", list(values.values()))


def insert_user(conn, tier: str | None = None, user_id: str | None = None, **overrides) -> str:
    """A valid user with a unique email and username (of ``tier``, with id ``user_id`` when given); returns its id."""
    tag = uuid.uuid4().hex[:10]
    values = {"email": f"u{tag}@example.com", "username": f"user_{tag}", "password_hash": "x" * 60}
    values |= {k: v for k, v in (("subscription_tier", tier), ("id", user_id)) if v is not None}
    return insert_row(conn, "users", {**values, **overrides})


def insert_channel(
    conn, user_id: str | None, status: str | None = None, channel_id: str | None = None, **overrides
) -> str:
    # youtube_channel_id and niche are NOT NULL in the platform's schema: a fresh id per channel
    values = {
        "user_id": user_id,
        "channel_name": "Channel",
        "niche": "tech",
        "youtube_channel_id": f"UC{new_id()[:22]}",
    }
    values |= {k: v for k, v in (("status", status), ("id", channel_id)) if v is not None}
    return insert_row(conn, "channels", {**values, **overrides})


def insert_video(
    conn, channel_id: str | None, view_count: int | None = None, video_id: str | None = None, **overrides
) -> str:
    values = {"channel_id": channel_id, "title": "A video"}
    values |= {k: v for k, v in (("view_count", view_count), ("id", video_id)) if v is not None}
    return insert_row(conn, "videos", {**values, **overrides})


def with_redis_db(url: str, number: int) -> str:
    """``url`` pointing at Redis database ``number`` (tests keep their keys apart by database)."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


def empty_redis_db(url: str, number: int):
    """Generator for a module fixture: Redis database ``number`` of the session's server, emptied
    before and after the module (``yield from empty_redis_db(redis_url, REDIS_DB)``)."""
    import redis

    db_url = with_redis_db(url, number)
    client = redis.Redis.from_url(db_url)
    client.flushdb()
    try:
        yield db_url
    finally:
        client.flushdb()
        client.close()


def new_id() -> str:
    return str(uuid.uuid4())


def insert_analytics(db, video_id, *daily_views) -> None:
    with db.cursor() as cur:
        for day, views in enumerate(daily_views, start=1):
            cur.execute(
                "INSERT INTO analytics (video_id, date, views) VALUES (%s, %s, %s)",
                (video_id, f"2024-05-{day:02d}", views),
            )


def suite_round_trip(expectation, tmp_path: Path):
    """The expectation after a trip through a suite JSON file (``to_json_dict`` -> file -> suite)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name="round_trip", expectations=[expectation])
    path = tmp_path / "round_trip.json"
    path.write_text(json.dumps(suite.to_json_dict(), indent=2))
    stored = json.loads(path.read_text())
    loaded = gx.ExpectationSuite(**stored)
    assert len(loaded.expectations) == 1, "the custom expectation was dropped on load"
    return stored, loaded.expectations[0]


def rendered_sentence(expectation) -> str:
    """The prescriptive sentence, as the atomic (new-style) renderer produces it, filled in."""
    from string import Template

    from great_expectations.render.renderer.inline_renderer import InlineRenderer

    content = InlineRenderer(render_object=expectation.configuration).get_rendered_content()
    summary = next(c for c in content if c.name == "atomic.prescriptive.summary").value
    params = {name: param["value"] for name, param in summary.params.items()}
    return Template(summary.template).safe_substitute(params)


def docs_text(html: str) -> str:
    """Visible text of a Data Docs page, whitespace collapsed."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"\s+", " ", text)


def data_docs_pages(tmp_path: Path, db_url: str, *expectations) -> dict[str, str]:
    """Build Data Docs for a suite of ``expectations`` run once: {'suite': text, 'validation': text}.

    A File Data Context in ``tmp_path``, a checkpoint that validates the suite against the
    database and updates the docs, then ``build_data_docs()``; the visible text of each page.
    """
    import logging

    import great_expectations as gx

    class Errors(logging.Handler):
        def __init__(self):
            super().__init__(logging.ERROR)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    render_errors = Errors()
    logging.getLogger("great_expectations.render").addHandler(render_errors)
    context = gx.get_context(mode="file", project_root_dir=tmp_path)
    source = context.data_sources.add_postgres("ytempire", connection_string=db_url)
    batch = source.add_table_asset("users", table_name="users").add_batch_definition_whole_table("all")
    suite = context.suites.add(gx.ExpectationSuite(name="cross_table"))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="cross_table", data=batch, suite=suite)
    )
    context.checkpoints.add(gx.Checkpoint(name="docs", validation_definitions=[definition])).run()
    try:
        context.build_data_docs()
    finally:
        logging.getLogger("great_expectations.render").removeHandler(render_errors)
    assert not render_errors.messages, "Data Docs rendering failed:\n" + "\n".join(render_errors.messages)
    site = tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site"
    (validation_page,) = (site / "validations").rglob("*.html")
    return {
        "suite": docs_text((site / "expectations" / "cross_table.html").read_text()),
        "validation": docs_text(validation_page.read_text()),
    }


def statements_during(action) -> list[str]:
    """The SQL statements every SQLAlchemy engine sent while ``action()`` ran."""
    import sqlalchemy as sa

    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    return seen


def module_environ(**variables: str):
    """Generator for a module-scoped fixture: ``variables`` in the environment until the module
    ends (``yield from module_environ(DATABASE_URL=db_url)``); pytest's ``monkeypatch`` is per test."""
    import pytest

    mp = pytest.MonkeyPatch()
    for name, value in variables.items():
        mp.setenv(name, value)
    try:
        yield
    finally:
        mp.undo()


def drop_seasonal_rules(gx_dir: Path, suite: str) -> None:
    """Leave the seasonal rules out of a project copy's ``suite``: for a test that deletes yesterday's
    rows on purpose (to add them back as "the new day"), which those rules would rightly judge."""
    suite_file = gx_dir.parent / "expectations" / f"{suite}.json"
    doc = json.loads(suite_file.read_text())
    doc["expectations"] = [e for e in doc["expectations"] if not e["meta"]["rule_id"].endswith("_seasonal")]
    suite_file.write_text(json.dumps(doc, indent=2))


def analytics_checkpoints(project_root: Path, url: str, checkpoints: dict[str, str]) -> Path:
    """A copy of the project at ``project_root`` whose database ``url`` holds clean data up to the
    day before yesterday (yesterday, a closed day, is the "new day" a test adds) with analytics
    revenue's CHECK dropped (so a negative revenue can be planted), and ``checkpoints``
    (``{name: id}``) of the analytics suite alone, without actions. The suite leaves out its seasonal
    rules: they judge yesterday, and its rows are missing here on purpose. Returns its ``gx/``."""
    from ytempire_dq.db.connect import connect
    from ytempire_dq.fixtures import seed

    seed.seed(url, users=15)
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM analytics WHERE date >= current_date - 1")
        cur.execute("ALTER TABLE analytics DROP CONSTRAINT analytics_revenue_check")
    conn.close()
    gx = copy_project(project_root)
    drop_seasonal_rules(gx, "analytics")
    vd_id = json.loads((gx.parent / "validation_definitions" / "analytics.json").read_text())["id"]
    for name, checkpoint_id in checkpoints.items():
        doc = {
            "actions": [],
            "id": checkpoint_id,
            "name": name,
            "result_format": "SUMMARY",
            "validation_definitions": [{"id": vd_id, "name": "analytics"}],
        }
        (gx.parent / "checkpoints" / f"{name}.json").write_text(json.dumps(doc))
    return gx


def a_day_passes(url: str) -> None:
    """Every value ``dq.metrics`` holds moves a day back (in the store at ``url``): the next run is
    a day after them, as nightly runs are (the run-history band counts one value a day)."""
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        conn.cursor().execute("UPDATE dq.metrics SET observed_at = observed_at - interval '1 day'")
    finally:
        conn.close()


#: A fresh interpreter: ``setup`` (Python lines), then the console script's ``main`` with the
#: arguments given; prints its exit code and ``report`` (a Python expression, read after the run).
_CONSOLE_SCRIPT = """
import json, sys
{setup}
sys.argv = ["{prog}", *{args!r}]
from ytempire_dq.cli import gx_main, main
code = 0
try:
    gx_main() if "{prog}" == "great_expectations" else main(args={args!r}, prog_name="ytdq")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
print(json.dumps({{"code": code, "report": {report}}}))
"""


def console_script(args: list[str], *, prog: str = "ytdq", setup: str = "", report: str = "None") -> tuple[dict, str]:
    """``ytdq`` (or ``great_expectations``) run in a fresh Python: ``({"code", "report"}, stderr)``."""
    code = _CONSOLE_SCRIPT.format(setup=setup, prog=prog, args=list(args), report=report)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def assert_same_rules(expected, report, fields: tuple[str, ...]) -> None:
    """``report`` holds ``expected``'s rules in the same order, each with the same ``fields``
    (e.g. GX alone's run against the fast path's)."""
    assert [r.rule_id for r in report.rules()] == [r.rule_id for r in expected.rules()]  # suite order
    for e, r in zip(expected.rules(), report.rules()):
        assert [getattr(r, f) for f in fields] == [getattr(e, f) for f in fields], r.rule_id
