"""Defect injection on a real PostgreSQL: every kind at once, each counted exactly by its own rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import rows, scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import YtdqError
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.defects import DEFECT_KINDS, UnknownDefectKind, inject

#: The privacy suite's kinds (tests/test_privacy_rules.py) break the erasure log and the dq history.
PRIVACY_TABLES = ("user_erasures", "dq.runs", "dq.rule_results", "dq.quarantine")

# small, distinct-ish counts (1..5) so one kind leaking into another would show
COUNTS = {kind: i % 5 + 1 for i, kind in enumerate(DEFECT_KINDS)}
YTDQ = Path(sys.executable).with_name("ytdq")


@pytest.fixture(scope="module")
def injected(db_url):
    seeder.seed(db_url, users=30, seed=42)
    return inject(db_url, COUNTS, seed=42)


@pytest.mark.parametrize("kind", list(DEFECT_KINDS))
def test_each_kind_counts_exactly_its_own_rows(injected, db, kind):
    assert injected[kind] == COUNTS[kind]
    assert scalar(db, DEFECT_KINDS[kind].count_sql) == COUNTS[kind]


def test_duplicates_are_pairs(injected, db):
    assert scalar(db, "SELECT max(n) FROM (SELECT count(*) n FROM users GROUP BY email) d") == 2
    assert scalar(
        db, "SELECT count(*) FROM (SELECT email FROM users GROUP BY email HAVING count(*) > 1) d"
    ) * DEFECT_KINDS["duplicate_email"].rows_per_defect == scalar(
        db, "SELECT count(*) FROM users u WHERE (SELECT count(*) FROM users d WHERE d.email = u.email) > 1"
    )
    assert scalar(db, "SELECT max(n) FROM (SELECT count(*) n FROM analytics GROUP BY video_id, date) d") == 2
    assert DEFECT_KINDS["duplicate_analytics_day"].rows_per_defect == 2
    assert DEFECT_KINDS["bad_email"].rows_per_defect == 1


def test_every_kind_has_a_counting_select_and_description():
    for name, kind in DEFECT_KINDS.items():
        assert kind.name == name
        assert kind.count_sql.lower().startswith("select count(*)")
        assert kind.description and kind.table in (*seeder.TABLES, *PRIVACY_TABLES)
    for name in ("duplicate_email", "duplicate_youtube_video_id", "duplicate_analytics_day"):
        assert "2 rows each" in DEFECT_KINDS[name].description


def _state(conn):
    counts = tuple(scalar(conn, f"SELECT count(*) FROM {t}") for t in seeder.TABLES)
    constraints = rows(
        conn,
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    )
    checksum = scalar(
        conn, "SELECT md5(string_agg(email || username || subscription_tier, ',' ORDER BY id)) FROM users"
    )
    return counts, constraints, checksum


def test_unknown_kind_raises_and_writes_nothing(injected, db_url, db):
    before = _state(db)
    with pytest.raises(UnknownDefectKind, match="valid kinds: .*orphan_videos") as exc:
        inject(db_url, {"bad_email": 1, "nope": 1})
    assert "\n" not in str(exc.value) and "'nope'" in str(exc.value)
    with pytest.raises(UnknownDefectKind):
        seeder.seed(db_url, users=2, inject={"nope": 1})  # rejected before the TRUNCATE
    assert _state(db) == before


def test_too_many_defects_is_a_clear_error_and_writes_nothing(injected, db_url, db):
    before = _state(db)
    with pytest.raises(YtdqError, match="cannot inject over_tier_limit=100000"):
        inject(db_url, {"bad_email": 1, "over_tier_limit": 100_000})
    with pytest.raises(YtdqError, match=">= 0"):
        inject(db_url, {"bad_email": -2})
    assert _state(db) == before


def test_inject_again_on_injected_data_adds_exactly(new_database):
    url = new_database("twice")
    seeder.seed(url, users=10, seed=5)
    first = {"bad_email": 2, "duplicate_analytics_day": 1, "null_video_title": 1, "orphan_videos": 1}
    assert inject(url, first) == first
    # the constraints are gone now: dropping them again must not fail
    assert inject(url, first, seed=6) == first
    conn = connect(url)
    try:
        for kind, count in first.items():
            assert scalar(conn, DEFECT_KINDS[kind].count_sql) == 2 * count, kind
        assert inject(url, {}) == {} and inject(url, {"bad_email": 0}) == {}
    finally:
        conn.close()


def test_cli_rejects_unknown_kind_with_one_line(injected, db_url, db):
    before = _state(db)
    env = {**os.environ, "DATABASE_URL": db_url, "COLUMNS": "400"}
    proc = subprocess.run(
        [str(YTDQ), "db", "seed", "--users", "3", "--inject", "nope=1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "nope" in lines[0] and "valid kinds" in lines[0] and "orphan_videos" in lines[0]
    assert _state(db) == before
