"""The SQL guard, as a property: every rule text it accepts runs as exactly one read-only statement,
and no accepted text changes anything.

Hypothesis writes analyst rule texts from the pieces attacks are made of: comments of every kind
(``--``, ``/* */``, nested), string and dollar quoting, escape strings, format fields
(``{batch}``, ``{batch[10]}``, ``{{``, a lone ``{``), unicode look-alikes of ``;`` and quotes,
newlines at every position, nested subqueries and CTEs, second statements, ``) AS q;`` breakouts
and calls of functions that act outside the transaction. Each text goes through the first lock
(:func:`substitute_batch` + :func:`check_query`, what lint and the pre-flight run). Every accepted
text is then

- sent to the server over the **extended query protocol** (psycopg 3, ``prepare=True``), alone and
  inside GX's ``SELECT COUNT(*) FROM (...)``: PostgreSQL itself refuses more than one statement
  there ("cannot insert multiple commands into a prepared statement"), an oracle independent of
  pglast;
- run the way a run runs it, through an engine with the statement guard (:func:`guard`), in a
  READ ONLY transaction with a statement timeout, as the session's superuser: the second lock must
  agree with the first (never refuse what it accepted).

Before and after all examples: a checksum of every table of the database, the large objects,
replication slots and advisory locks, and the files the payloads aim at. Nothing may differ.

Examples: ``YTDQ_GUARD_EXAMPLES`` (default 1,500, which CI runs; a hunt:
``YTDQ_GUARD_EXAMPLES=10000 pytest tests/test_sql_guard_property.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import rows, scalar
from ytempire_dq.db.connect import connect, engine
from ytempire_dq.fixtures import seed
from ytempire_dq.sql_guard import RefusedSQL, begin_read_only, check_query, guard, substitute_batch

EXAMPLES = int(os.environ.get("YTDQ_GUARD_EXAMPLES", "1500"))
#: Files a payload would write (COPY ... TO, lo_export, TO PROGRAM).
TARGETS = [Path("/tmp/ytdq-guard-pwned"), Path("/tmp/ytdq-guard-lo")]

STARTS = [
    "SELECT id FROM {batch}",
    "SELECT id, email FROM {batch} WHERE",
    "WITH x AS (SELECT id FROM {batch}) SELECT id FROM x",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT id FROM {batch}, r",
    "SELECT id FROM (SELECT id, email FROM {batch}) AS s",
    "SELECT u.id FROM {batch} AS u JOIN channels c ON c.user_id = u.id",
    "SELECT id FROM {batch} WHERE id IN (SELECT user_id FROM channels WHERE niche <> '')",
]
#: Pieces that keep a text valid SQL: most texts hold mostly these, so that many reach the server.
SQL = [
    "WHERE true",
    "AND true",
    "WHERE email IS NULL",
    "OR id IS NULL",
    "AND email LIKE '%--%'",
    "AND email <> 'a;b'",
    "AND $$; DELETE FROM api_keys$$ <> ''",
    "AND $q$ ' ; DROP TABLE users; $q$ <> ''",
    "AND E'\\'; DELETE FROM api_keys; --' <> ''",
    "AND U&'\\0027' <> ''",
    'AND "email" IS NOT NULL',
    "AND EXISTS (SELECT 1 FROM videos v WHERE v.status = 'published')",
    "ORDER BY 1",
    "LIMIT 3",
    "UNION ALL SELECT NULL::uuid",
]
PIECES = [
    *SQL,
    "(",
    ")",
    ",",
    "'",
    '"',
    "$$",
    "$q$",
    "E'",
    "\\",
    # comments
    "--",
    "-- ; DELETE FROM api_keys",
    "/*",
    "*/",
    "/* ; DELETE FROM api_keys */",
    "/* /* nested */ still a comment */",
    "\n",
    # format fields
    "{batch}",
    "{batch[10]}",
    "{batch!r}",
    "{{",
    "}}",
    "{0}",
    "{",
    "}",
    # second statements and breakouts
    ";",
    "; DELETE FROM api_keys",
    "; COMMIT; BEGIN READ WRITE; DELETE FROM api_keys; COMMIT",
    ") AS q; DELETE FROM api_keys; SELECT 1 FROM (SELECT 1",
    ") AS substituted_batch_subquery; DROP TABLE workflows; SELECT (1",
    "; COPY (SELECT 1) TO '/tmp/ytdq-guard-pwned'",
    "; COPY (SELECT 1) TO PROGRAM 'touch /tmp/ytdq-guard-pwned'",
    "; SET default_transaction_read_only = off",
    "; INSERT INTO workflows (kind) VALUES ('x')",
    "FOR UPDATE",
    "INTO stolen",
    # functions that act outside the transaction
    "AND pg_advisory_lock(7) IS NULL",
    "AND lo_export(lo_from_bytea(0, 'x'), '/tmp/ytdq-guard-lo') > 0",
    "AND pg_catalog.\"pg_read_file\"('/etc/passwd') <> ''",
    "AND set_config('default_transaction_read_only', 'off', false) <> ''",
    "AND pg_terminate_backend(1)",
    "AND nextval('dq.runs_id_seq') > 0",
    "AND EXISTS (SELECT pg_create_physical_replication_slot('ytdq_guard', true))",
    "AND query_to_xml('DELETE FROM api_keys', true, false, '') IS NULL",
    # unicode look-alikes: fullwidth ';' and quote, curly quotes, a Cyrillic 'Е', invisible spaces
    "\uff1b DELETE FROM api_keys",
    "AND email <> \uff07x\uff07",
    "AND email <> \u2018x\u2019",
    "AND \u0415 = 1",
    "\u200b",
    "\u00a0",
    "\u2028",
]
SEPARATORS = st.sampled_from([" ", "\n", "", "\t", " -- c\n", " /* c */ "])


@st.composite
def rule_texts(draw) -> str:
    parts = [draw(st.sampled_from(STARTS))]
    pieces = st.one_of(st.sampled_from(SQL), st.sampled_from(SQL), st.sampled_from(PIECES))
    for piece in draw(st.lists(pieces, max_size=6)):
        parts += [draw(SEPARATORS), piece]
    return "".join(parts)


@pytest.fixture(scope="module")
def seeded(db_url) -> str:
    seed.seed(db_url, users=8, seed=5)
    return db_url


def outside_state(url: str) -> dict:
    """Checksums of every table, and what a statement could change outside one."""
    c = connect(url, autocommit=True)
    try:
        tables = [
            f"{s}.{t}"
            for s, t in rows(
                c,
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('public', 'dq') AND table_type = 'BASE TABLE' ORDER BY 1, 2",
            )
        ]
        state = {
            t: scalar(c, f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x")
            for t in tables
        }
        state.update(
            large_objects=scalar(c, "SELECT count(*) FROM pg_largeobject_metadata"),
            slots=scalar(c, "SELECT count(*) FROM pg_replication_slots"),
            advisory_locks=scalar(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            read_only_default=scalar(c, "SHOW default_transaction_read_only"),
        )
    finally:
        c.close()
    state["files"] = [str(p) for p in TARGETS if p.exists()]
    return state


def _conninfo(url: str) -> dict:
    u = sa.engine.make_url(url)
    return {"host": u.host, "port": u.port, "user": u.username, "password": u.password, "dbname": u.database}


def test_every_accepted_rule_text_runs_as_one_read_only_statement_and_changes_nothing(seeded):
    before = outside_state(seeded)
    assert len(before) > 10 and not before["files"]
    stats: Counter = Counter()
    oracle = psycopg.connect(
        **_conninfo(seeded), options="-c default_transaction_read_only=on -c statement_timeout=2000"
    )
    eng = engine(seeded)
    guard(eng)

    def one_statement(sql: str) -> None:
        """PostgreSQL's extended protocol takes one statement or none: a second is its error."""
        try:
            oracle.execute(sql, prepare=True).fetchall()
        except psycopg.Error as exc:
            assert "cannot insert multiple commands" not in str(exc), sql
            stats["accepted, server error"] += 1
        finally:
            oracle.rollback()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(rule_texts())
    def check(text: str) -> None:
        stats["examples"] += 1
        try:
            sql = substitute_batch(text, "users")
            check_query(sql)
        except RefusedSQL:
            stats["refused"] += 1
            return
        stats["accepted"] += 1
        one_statement(sql)
        one_statement(f"SELECT COUNT(*) FROM ({sql}) AS q")
        with eng.connect() as conn:  # as a run runs it: guarded, READ ONLY, timed out
            begin_read_only(conn)
            try:
                # as GX sends it: through sa.text (":" escaped: the query has no bind parameters)
                conn.execute(sa.text(f"SELECT COUNT(*) FROM ({sql}) AS q".replace(":", "\\:"))).scalar_one()
            except RefusedSQL as exc:
                raise AssertionError(f"the second lock refused what the first accepted: {exc}\n{sql}") from None
            except sa.exc.DBAPIError:
                pass
            finally:
                conn.rollback()

    try:
        check()
    finally:
        oracle.close()
        eng.dispose()
    print(f"guard property: {dict(stats)}")
    assert stats["examples"] >= min(EXAMPLES, 100)
    assert stats["accepted"] >= stats["examples"] // 10  # the texts reach the server, not only the parser
    assert stats["refused"] >= stats["examples"] // 10
    assert outside_state(seeded) == before
