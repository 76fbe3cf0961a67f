"""ytempire_dq.run.key_capture: while the fast path validates, the offending rows' keys of a column
map rule (with its samples) and of a cross-table rule (from its result) are captured, so the
quarantine need not scan again. The keys captured must be exactly the offending rows'."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import copy_project, rows
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed
from ytempire_dq.gx.context import open_context
from ytempire_dq.run import key_capture
from ytempire_dq.run.validation import run_definition
from ytempire_dq.store.row_keys import Captured

INJECT = {"bad_email": 2, "orphan_videos": 1}


@pytest.fixture(scope="module")
def seeded(db_url, tmp_path_factory):
    seed.seed(db_url, users=8, seed=3, inject=INJECT)
    gx_dir = copy_project(tmp_path_factory.mktemp("key_capture"))
    old = os.environ.get("YTDQ_FAST")
    os.environ["YTDQ_FAST"] = "1"
    try:
        yield open_context(gx_dir, database_url=db_url), db_url
    finally:
        os.environ.pop("YTDQ_FAST") if old is None else os.environ.__setitem__("YTDQ_FAST", old)


def _run(ctx, name: str) -> tuple[object, Captured, object]:
    vd = ctx.validation_definitions.get(name)
    captured = Captured()
    vr = run_definition(vd, checkpoint_id=None, result_format="SUMMARY", run_id=None, captured=captured)
    return vd, captured, vr


def _rule(vd, rule_id: str):
    (exp,) = [e for e in vd.suite.expectations if (e.meta or {}).get("rule_id") == rule_id]
    return exp


def _ids(db_url: str, sql: str) -> set[str]:
    conn = connect(db_url)
    try:
        return {str(r[0]) for r in rows(conn, sql)}
    finally:
        conn.close()


def test_a_column_map_rules_keys_come_with_its_samples(seeded):
    ctx, db_url = seeded
    vd, captured, vr = _run(ctx, "users")
    exp = _rule(vd, "users.email_format")
    keys = captured.keys[(vd.name, exp.id)]
    bad = _ids(db_url, f"SELECT id FROM users WHERE email !~ '{exp.regex}'")
    assert len(bad) == INJECT["bad_email"]
    assert keys.total == len(bad) and keys.complete
    assert {json.loads(k)["id"] for k in keys.keys} == bad
    # a rule that passed has nothing to quarantine: no keys captured for it
    passed = [e for e in vd.suite.expectations if (vd.name, e.id) in captured.keys]
    results = {r.expectation_config.id: r.success for r in vr.results}
    assert all(not results[e.id] for e in passed)


def test_a_cross_table_rules_keys_come_from_its_result(seeded):
    ctx, db_url = seeded
    vd, captured, _ = _run(ctx, "cross_table")
    exp = _rule(vd, "videos.channel_exists")
    keys = captured.keys[(vd.name, exp.id)]
    orphans = _ids(db_url, "SELECT v.id FROM videos v LEFT JOIN channels c ON c.id = v.channel_id WHERE c.id IS NULL")
    assert len(orphans) == INJECT["orphan_videos"]
    assert keys.total == len(orphans)
    assert {json.loads(k)["id"] for k in keys.keys} == orphans


def test_the_keys_are_key_captures_doing(seeded, monkeypatch):
    """Without key_capture's two steps the same runs capture none of those keys (the quarantine
    would scan the tables again): the keys above are not found some other way."""
    ctx, _ = seeded
    monkeypatch.setattr(key_capture, "samples_with_keys", lambda *args: None)
    monkeypatch.setattr(key_capture, "keys_from_results", lambda *args: None)
    vd, captured, _ = _run(ctx, "users")
    assert (vd.name, _rule(vd, "users.email_format").id) not in captured.keys
    vd, captured, _ = _run(ctx, "cross_table")
    assert (vd.name, _rule(vd, "videos.channel_exists").id) not in captured.keys


KEY_NAME = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=6
)
KEY_VALUE = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.uuids(),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.dictionaries(KEY_NAME, KEY_VALUE, min_size=1, max_size=3))
def test_a_row_keys_text_in_python_is_the_one_postgresql_writes(db_url, key):
    """The keys read in SQL (``pk_object``) and the ones built from values read (``key_text``) name
    the same row with the same text: composite keys, any order, non-ASCII and control characters."""
    import sqlalchemy as sa

    from ytempire_dq.store import row_keys

    pk = list(key)
    literal = {c: sa.literal(str(v)) if isinstance(v, uuid.UUID) else sa.literal(v) for c, v in key.items()}
    engine = sa.create_engine(sa.engine.make_url(db_url).set(drivername="postgresql+psycopg2"))
    try:
        with engine.connect() as conn:
            written = conn.execute(sa.select(sa.cast(row_keys.pk_object(pk, literal.__getitem__), sa.Text))).scalar()
    finally:
        engine.dispose()
    assert row_keys.key_text(pk, list(key.values())) == written
