"""Who the checks connect as: the embedded cluster's read-only checking role, and the warning
when the checks connect as a role that can write.

The embedded cluster (``ytdq services up``) has two roles. Its owner (``services.DB_USER``, the
cluster's bootstrap superuser) migrates, seeds and writes the project's own history
(``config.store_url``). The checks (GX's engine, analysts' SQL) connect as :data:`CHECK_USER`
(``config.database_url``): no superuser, no CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS, a member
of no role, read-only by default, with a statement timeout, and SELECT (plus USAGE on the
schemas) on what the owner creates. The grants are default privileges in ``template1``, so every
database created later (``ytempire``, the tests' copies of a migrated template) and every table a
migration creates later gets them with no further step. Production databases get the same role
from the "Run it against production" block of docs/production.md, which a DBA runs.
"""

from __future__ import annotations

from typing import Any

from ytempire_dq.config import (
    CHECK_USER,  # the checking role's name (no password: the embedded cluster trusts loopback)
)

#: The embedded cluster's checking role (no password: the embedded cluster trusts loopback).

#: The checking role's default statement timeout (a session may set its own, e.g. YTDQ_STATEMENT_TIMEOUT).
CHECK_STATEMENT_TIMEOUT = "5min"


def ensure_check_role(cur: Any) -> None:
    """Create or re-assert the checking role's attributes (psycopg2 cursor, autocommit)."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (CHECK_USER,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE ROLE "{CHECK_USER}"')
    cur.execute(f'ALTER ROLE "{CHECK_USER}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS')
    cur.execute(f'ALTER ROLE "{CHECK_USER}" SET default_transaction_read_only = on')
    cur.execute(f"ALTER ROLE \"{CHECK_USER}\" SET statement_timeout = '{CHECK_STATEMENT_TIMEOUT}'")


def grant_reading(cur: Any, owner: str) -> None:
    """In the connected database: SELECT and schema USAGE for the checking role on what ``owner``
    has created and will create (default privileges; a database copied from this one keeps them);
    no creating large objects for anyone but the owner (the embedded cluster has no other role)."""
    cur.execute(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT SELECT ON TABLES TO "{CHECK_USER}"')
    cur.execute(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT USAGE ON SCHEMAS TO "{CHECK_USER}"')
    # large objects need no privilege to be created, only these functions (PUBLIC's by default)
    cur.execute("REVOKE EXECUTE ON FUNCTION lo_creat(integer), lo_create(oid), lo_from_bytea(oid, bytea) FROM PUBLIC")
    cur.execute("SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'")
    for (schema,) in cur.fetchall():
        quoted = '"' + schema.replace('"', '""') + '"'
        cur.execute(f'GRANT USAGE ON SCHEMA {quoted} TO "{CHECK_USER}"')
        cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA {quoted} TO "{CHECK_USER}"')


#: One query: the role, whether it is a superuser, and one table of the database it may write to.
WRITER = """
SELECT current_user, r.rolsuper,
       (SELECT format('%I.%I', n.nspname, c.relname)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
           AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
         ORDER BY n.nspname, c.relname LIMIT 1)
  FROM pg_roles r WHERE r.rolname = current_user
"""


def writer_warning(role: str, superuser: bool, table: str | None) -> str | None:
    """The warning for the checks' role from the row :data:`WRITER` returns; None when it can only read."""
    if superuser:
        what = "a superuser: an analyst's SQL could read and write server files, run programs and stop other sessions"
    elif table:
        what = f"which can write (e.g. INSERT, UPDATE, DELETE or TRUNCATE on {table})"
    else:
        return None
    return f'the checks connect as {role}, {what}; connect them as a read-only role (see docs/production.md, "Run it against production")'
