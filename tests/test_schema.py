"""The migrated schema, read back from PostgreSQL's catalog (the platform spec's §3 schema tests).

What the migrations declare is not trusted here: every table, column, index, constraint and view
is looked up in ``information_schema`` / ``pg_catalog`` of a freshly migrated database.
"""

from __future__ import annotations

import pytest

from tests import platform_schema
from tests.helpers import rows, scalar

# table -> {column: (data_type as information_schema names it, nullable)}; the four core tables are
# in tests/platform_schema.py (the platform's specification), checked by test_core_tables_match_the_platform_schema
COLUMNS = {
    "api_keys": {
        "id": ("uuid", False),
        "user_id": ("uuid", False),
        "key_hash": ("character", False),
        "name": ("character varying", False),
        "scopes": ("ARRAY", False),
        "created_at": ("timestamp with time zone", False),
        "last_used_at": ("timestamp with time zone", True),
        "revoked_at": ("timestamp with time zone", True),
    },
    "workflows": {
        "id": ("uuid", False),
        "channel_id": ("uuid", False),
        "kind": ("character varying", False),
        "status": ("character varying", False),
        "started_at": ("timestamp with time zone", True),
        "finished_at": ("timestamp with time zone", True),
        "cost": ("numeric", False),
        "error_message": ("text", True),
        "created_at": ("timestamp with time zone", False),
    },
    "user_erasures": {  # migration 007: the ids of erased users (docs/personal-data.md, "Personal data")
        "user_id": ("uuid", False),
        "erased_at": ("timestamp with time zone", False),
    },
}

# the platform's index names (its inline MySQL INDEX lines), on the same columns
INDEXES = {name: (table, f"({column})") for name, (table, column) in platform_schema.INDEXES.items()}

# (child table, column) -> parent table; every one ON DELETE CASCADE
FOREIGN_KEYS = {
    ("channels", "user_id"): "users",
    ("videos", "channel_id"): "channels",
    ("analytics", "video_id"): "videos",
    ("api_keys", "user_id"): "users",
    ("workflows", "channel_id"): "channels",
}

UNIQUES = {
    ("users", "email"),
    ("users", "username"),
    ("channels", "youtube_channel_id"),
    ("videos", "youtube_video_id"),
    ("analytics", "video_id,date"),
    ("api_keys", "key_hash"),
}

CHECKS = {
    "users": {"email_format", "username_length", "users_subscription_tier_check"},
    "channels": {"channels_status_check", "channels_monetization_status_check"},
    "videos": {"videos_status_check", "videos_view_count_check"},
    "analytics": {"analytics_views_check", "analytics_watch_time_check", "analytics_revenue_check"},
    "api_keys": {"api_keys_key_hash_format", "api_keys_last_used_after_created", "api_keys_revoked_after_created"},
    "workflows": {
        "workflows_kind_check",
        "workflows_status_check",
        "workflows_cost_check",
        "workflows_finished_after_started",
    },
}

MONITORING_VIEWS = [
    "connection_usage",
    "long_running_queries",
    "table_bloat",
    "table_sizes",
    "index_usage",
    "replication_lag",
    "slow_queries",
]


def test_exactly_the_six_tables_and_the_bookkeeping_table(db):
    tables = {
        t
        for (t,) in rows(
            db,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
    }
    assert tables == set(COLUMNS) | set(platform_schema.COLUMNS) | {"schema_migrations"}


@pytest.mark.parametrize("table", list(COLUMNS))
def test_columns_types_and_nullability(db, table):
    actual = {
        name: (dtype, nullable == "YES")
        for name, dtype, nullable in rows(
            db,
            """
        SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = %s""",
            (table,),
        )
    }
    assert actual == COLUMNS[table]
    pk = rows(
        db,
        """SELECT a.attname FROM pg_constraint c
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                     WHERE c.conrelid = %s::regclass AND c.contype = 'p'""",
        (table,),
    )
    assert pk == [("user_id",)] if table == "user_erasures" else pk == [("id",)]


def test_numeric_precision_and_lengths(db):
    spec = {
        (t, c): (p, s, n)
        for t, c, p, s, n in rows(
            db,
            """
        SELECT table_name, column_name, numeric_precision, numeric_scale, character_maximum_length
        FROM information_schema.columns WHERE table_schema = 'public'""",
        )
    }
    assert spec["videos", "generation_cost"][:2] == (10, 2)
    assert spec["videos", "revenue"][:2] == (10, 2)
    assert spec["analytics", "revenue"][:2] == (10, 2)
    assert spec["analytics", "watch_time_minutes"][:2] == (10, 2)
    assert spec["workflows", "cost"][:2] == (10, 4)
    assert spec["users", "email"][2] == 255
    assert spec["users", "username"][2] == 50
    assert spec["videos", "title"][2] == 500
    assert spec["api_keys", "key_hash"][2] == 64


@pytest.mark.parametrize("table", list(platform_schema.COLUMNS))
def test_core_tables_match_the_platform_schema(db, table):
    """Columns, types with their sizes, nullability and defaults exactly as the specification's DDL."""
    actual = {
        name: (dtype, not notnull, default)
        for name, dtype, notnull, default in rows(
            db,
            """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped""",
            (table,),
        )
    }
    assert actual == platform_schema.COLUMNS[table]


def test_core_constraints_are_the_platform_schemas_plus_the_listed_extensions(db):
    found = {
        (t, n): k
        for t, n, k in rows(
            db,
            "SELECT conrelid::regclass::text, conname, contype::text FROM pg_constraint "
            "WHERE conrelid = ANY (ARRAY['users', 'channels', 'videos', 'analytics']::regclass[])",
        )
    }
    assert found == platform_schema.CONSTRAINTS | platform_schema.EXTENSIONS
    defs = dict(rows(db, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'email_format'"))
    assert platform_schema.EMAIL_PATTERN in defs["email_format"]
    indexes = {
        name
        for (name,) in rows(
            db,
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('users', 'channels', 'videos', 'analytics')",
        )
    }
    # every index is a named one or backs a constraint
    assert indexes == set(platform_schema.INDEXES) | {n for (_t, n), k in found.items() if k in "pu"}


@pytest.mark.parametrize("index", list(INDEXES))
def test_named_index_exists_on_its_column(db, index):
    table, columns = INDEXES[index]
    found = rows(
        db, "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = %s", (index,)
    )
    assert len(found) == 1, index
    assert found[0][0] == table
    assert found[0][1].endswith(f"USING btree {columns}")


@pytest.mark.parametrize(("child", "column"), list(FOREIGN_KEYS))
def test_foreign_key_cascades_on_delete(db, child, column):
    found = rows(
        db,
        """
        SELECT c.confrelid::regclass::text, c.confdeltype, pa.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND a.attname = %s""",
        (child, column),
    )
    assert found == [(FOREIGN_KEYS[child, column], "c", "id")]  # 'c' = ON DELETE CASCADE


def test_no_other_foreign_keys(db):
    assert scalar(
        db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
    ) == len(FOREIGN_KEYS)


def test_unique_constraints(db):
    found = {
        (table, cols)
        for table, cols in rows(
            db,
            """
        SELECT c.conrelid::regclass::text,
               string_agg(a.attname, ',' ORDER BY array_position(c.conkey, a.attnum))
        FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.contype = 'u' AND c.connamespace = 'public'::regnamespace
        GROUP BY c.oid, c.conrelid""",
        )
    }
    assert found == UNIQUES


@pytest.mark.parametrize("table", list(CHECKS))
def test_check_constraints(db, table):
    found = {
        name
        for (name,) in rows(
            db, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid = %s::regclass", (table,)
        )
    }
    assert found == CHECKS[table]


def test_check_definitions_hold_the_plain_rules(db):
    defs = dict(
        rows(
            db,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' "
            "AND connamespace = 'public'::regnamespace",
        )
    )
    assert "length((username)::text) >= 3" in defs["username_length"]
    assert "~*" in defs["email_format"] and "@" in defs["email_format"]
    for tier in ("free", "starter", "professional", "enterprise"):
        assert f"'{tier}'" in defs["users_subscription_tier_check"]
    for status in ("active", "paused", "suspended", "deleted"):
        assert f"'{status}'" in defs["channels_status_check"]
    assert defs["videos_view_count_check"] == "CHECK ((view_count >= 0))"
    assert defs["workflows_cost_check"] == "CHECK ((cost >= (0)::numeric))"


@pytest.mark.parametrize("view", MONITORING_VIEWS)
def test_monitoring_view_exists_and_can_be_queried(db, view):
    assert (
        scalar(
            db,
            "SELECT count(*) FROM information_schema.views WHERE table_schema = 'monitoring' AND table_name = %s",
            (view,),
        )
        == 1
    )
    with db.cursor() as cur:
        cur.execute(f"SELECT * FROM monitoring.{view}")
        cur.fetchall()
        assert cur.description  # it has columns


def test_monitoring_views_read_real_activity(db):
    connections, max_connections = rows(db, "SELECT connections, max_connections FROM monitoring.connection_usage")[0]
    assert connections >= 1 and max_connections > 0
    sizes = dict(rows(db, "SELECT table_name, total_bytes FROM monitoring.table_sizes WHERE schemaname = 'public'"))
    assert set(COLUMNS) | set(platform_schema.COLUMNS) <= set(sizes)
    names = {name for (name,) in rows(db, "SELECT index_name FROM monitoring.index_usage")}
    assert set(INDEXES) <= names


def test_slow_queries_needs_no_pg_stat_statements(db):
    """PostgreSQL 15 renamed total_time to total_exec_time; the view must not break without the extension."""
    installed = scalar(db, "SELECT to_regclass('pg_stat_statements') IS NOT NULL")
    count = scalar(db, "SELECT count(*) FROM monitoring.slow_queries(0)")
    if not installed:
        assert count == 0
    columns = [
        name
        for (name,) in rows(
            db,
            """SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'monitoring' AND table_name = 'slow_queries' ORDER BY ordinal_position""",
        )
    ]
    assert columns == ["query", "calls", "total_exec_time", "mean_exec_time", "rows"]
