from tests.helpers import scalar


def test_module_database_is_migrated(db):
    assert scalar(db, "SELECT count(*) FROM schema_migrations") >= 3
    assert scalar(db, "SELECT to_regclass('public.analytics') IS NOT NULL")
