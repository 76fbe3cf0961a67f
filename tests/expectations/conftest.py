"""Shared set-up for the custom-expectation tests: one ephemeral GX context per test module.

Each module gets its own migrated database (``db_url``); here a GX context with a Postgres data
source on it and one whole-table batch, the way the ``cross_table`` suite runs (the rules name
their own tables, so which table the batch is does not matter). Rows are inserted with plain SQL;
every test starts from empty tables.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from ytempire_dq.db.connect import connect


@dataclass
class GX:
    context: object
    batch_definition: object

    def validate(self, expectation, result_format="SUMMARY"):
        """One expectation against the batch (GX's ``batch.validate``)."""
        batch = self.batch_definition.get_batch()
        return batch.validate(expectation, result_format=result_format)

    def validate_suite(self, suite_name, *expectations, result_format="SUMMARY"):
        """A suite of the expectations through a ValidationDefinition, as checkpoints run them."""
        import great_expectations as gx

        suite = self.context.suites.add(gx.ExpectationSuite(name=suite_name))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=self.batch_definition, suite=suite)
        )
        return definition.run(result_format=result_format)


@pytest.fixture(scope="module")
def gx_env(db_url) -> GX:
    import great_expectations as gx

    import ytempire_dq.expectations  # noqa: F401  (registers the custom expectations)

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_postgres("ytempire", connection_string=db_url)
    asset = source.add_table_asset("users", table_name="users")
    return GX(context, asset.add_batch_definition_whole_table("all users"))


@pytest.fixture(scope="module")
def no_constraints(db_url):
    """Drop every foreign key and CHECK, like a restored copy without constraints."""
    conn = connect(db_url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype IN ('f', 'c') AND connamespace = 'public'::regnamespace"
        )
        for table, name in cur.fetchall():
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    conn.close()


@pytest.fixture
def empty_tables(db, no_constraints):
    """The module's database with its four tables emptied; yields a psycopg2 connection."""
    with db.cursor() as cur:
        cur.execute("TRUNCATE analytics, videos, channels, users")
    return db


def new_id() -> str:
    return str(uuid.uuid4())


def insert_user(db, tier="free", user_id=None) -> str:
    user_id = user_id or new_id()
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO users (id, email, username, password_hash, subscription_tier) "
            "VALUES (%s, %s, %s, 'x', %s)",
            (user_id, f"{user_id[:8]}@example.com", f"user_{user_id[:8]}", tier),
        )
    return user_id


def insert_channel(db, user_id, status="active", channel_id=None) -> str:
    channel_id = channel_id or new_id()
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO channels (id, user_id, channel_name, status) VALUES (%s, %s, 'c', %s)",
            (channel_id, user_id, status),
        )
    return channel_id


def insert_video(db, channel_id, view_count=0, video_id=None) -> str:
    video_id = video_id or new_id()
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO videos (id, channel_id, title, view_count) VALUES (%s, %s, 't', %s)",
            (video_id, channel_id, view_count),
        )
    return video_id


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
    context.checkpoints.add(
        gx.Checkpoint(name="docs", validation_definitions=[definition])
    ).run()
    try:
        context.build_data_docs()
    finally:
        logging.getLogger("great_expectations.render").removeHandler(render_errors)
    assert not render_errors.messages, "Data Docs rendering failed:\n" + "\n".join(
        render_errors.messages
    )
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


@pytest.fixture(scope="module")
def frame_batch():
    """Validate one expectation against a pandas DataFrame, as the ``cache`` data source does:
    ``frame_batch(df, expectation)`` -> the ExpectationValidationResult."""
    import great_expectations as gx

    import ytempire_dq.expectations  # noqa: F401  (registers the custom expectations)

    context = gx.get_context(mode="ephemeral")
    definition = context.data_sources.add_pandas("cache").add_dataframe_asset(
        "redis_snapshot").add_batch_definition_whole_dataframe("whole_dataframe")

    def validate(frame, expectation, result_format="SUMMARY"):
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(expectation, result_format=result_format)

    return validate
