"""Convert the plain ``analytics`` table, in place, into one partitioned by month (``ytdq db
partition-analytics``): a one-off step an operator runs when the table grows large.

A partitioned table's primary and unique keys must include its partition key, so the primary key
becomes ``(id, date)``: ``analytics.id`` alone is then unique only as far as the rule
``analytics.id_unique`` finds (no index can prove it; the fast path scans for it).

The conversion reads the plain table's catalog and makes, in ONE transaction under the migration
lock (``ytempire_dq.db.migrations``) and an ACCESS EXCLUSIVE lock on the table:

1. ``<table>__partitioned (LIKE <table> INCLUDING ALL but indexes) PARTITION BY RANGE (date)``,
   one partition per month from the oldest row's month to ``months_ahead`` months after the later
   of the newest row and today, and a DEFAULT partition (rows outside those months);
2. every row copied; the plain table dropped; the new one renamed to ``<table>``;
3. what the plain table had, under the same names: its primary key and unique constraints (with
   ``date`` added where they lack it), foreign keys, indexes, triggers, comment, owner and grants
   (the grants also on every partition); then ``ANALYZE`` (autovacuum never analyzes a
   partitioned parent).

It refuses, with one line and nothing changed, a table that is already partitioned, one that
other tables' foreign keys or views depend on, or one with row-level security. ``dry_run`` prints
the statements and runs none of them.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from ytempire_dq.config import mask_url
from ytempire_dq.errors import YtdqError
from ytempire_dq.values import plural

TABLE = "analytics"
COLUMN = "date"
DEFAULT_MONTHS_AHEAD = 3


class PartitionError(YtdqError):
    """The table cannot be converted as it is; nothing was changed."""


@dataclass
class Conversion:
    """The statements of one conversion, in order, and what the operator should know about it."""

    table: str
    column: str
    rows: int
    first_month: dt.date
    last_month: dt.date  # the last monthly partition's month
    statements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None  # set once it ran

    @property
    def months(self) -> int:
        return (self.last_month.year - self.first_month.year) * 12 + self.last_month.month - self.first_month.month + 1

    def summary(self) -> str:
        done = f" in {self.seconds:.1f} s" if self.seconds is not None else " (dry run: nothing changed)"
        return (
            f"{self.table}: partitioned by month on {self.column}, {self.months} monthly partitions "
            f"({self.first_month:%Y-%m} .. {self.last_month:%Y-%m}) and a DEFAULT one, {plural(self.rows, 'row')} copied{done}"
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _month(day: dt.date, plus: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + plus
    return dt.date(index // 12, index % 12 + 1, 1)


def plan(cur, *, table: str = TABLE, column: str = COLUMN, months_ahead: int = DEFAULT_MONTHS_AHEAD) -> Conversion:
    """The conversion of ``table`` (in the connection's current schema) read from the catalog
    with the psycopg2 cursor ``cur``; :class:`PartitionError` when it cannot be converted."""
    if months_ahead < 0:
        raise PartitionError(f"--months-ahead {months_ahead}: give 0 or more months")
    cur.execute(
        "SELECT c.oid, c.relkind, c.relrowsecurity, pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class') "
        "FROM pg_class c WHERE c.oid = to_regclass(%s)",
        (_ident(table),),
    )
    found = cur.fetchone()
    if found is None:
        raise PartitionError(f"table {table} does not exist here")
    oid, relkind, rls, owner, comment = found
    if relkind == "p":
        cur.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = %s", (oid,))
        raise PartitionError(
            f"{table} is already partitioned ({cur.fetchone()[0]} partitions): nothing to do, nothing changed"
        )
    if relkind != "r":
        raise PartitionError(f"{table} is not a table (relkind {relkind!r}): nothing changed")
    if rls:
        raise PartitionError(f"{table} has row-level security: convert it by hand; nothing changed")
    cur.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = %s "
        "AND conrelid <> %s ORDER BY 1",
        (oid, oid),
    )
    incoming = cur.fetchall()
    if incoming:
        names = ", ".join(f"{t}.{c}" for c, t in incoming)
        raise PartitionError(
            f"foreign keys of other tables reference {table} ({names}): drop them first; nothing changed"
        )
    cur.execute(
        "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
        "JOIN pg_class v ON v.oid = r.ev_class WHERE d.refobjid = %s AND v.oid <> %s ORDER BY 1",
        (oid, oid),
    )
    views = [v for (v,) in cur.fetchall()]
    if views:
        raise PartitionError(f"views depend on {table} ({', '.join(views)}): drop them first; nothing changed")
    cur.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s AND attname = %s AND NOT attisdropped",
        (oid, column),
    )
    got = cur.fetchone()
    if got is None:
        raise PartitionError(f"{table} has no column {column}: nothing changed")
    col = _ident(column)
    q = _ident(table)
    if not got[0]:
        cur.execute(f"SELECT count(*) FROM {q} WHERE {col} IS NULL")
        nulls = cur.fetchone()[0]
        if nulls:
            raise PartitionError(f"{nulls} rows of {table} have no {column}, the partition key: nothing changed")
    cur.execute(f"SELECT count(*), min({col}), max({col}), current_date FROM {q}")
    rows, oldest, newest, today = cur.fetchone()
    first = _month(oldest or today)
    last = _month(max(newest or today, today), months_ahead)
    conv = Conversion(table, column, rows, first, last)
    new = _ident(f"{table}__partitioned")
    cur.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
        "AND (c.relname = %s OR c.relname ~ %s)",
        (f"{table}__partitioned", f"^{table}_([0-9]{{4}}_[0-9]{{2}}|default)$"),
    )
    taken = [n for (n,) in cur.fetchall()]
    if taken:
        raise PartitionError(f"names the conversion needs are taken ({', '.join(taken)}): nothing changed")

    s = conv.statements
    s.append(f"LOCK TABLE {q} IN ACCESS EXCLUSIVE MODE")
    s.append(
        f"CREATE TABLE {new} (LIKE {q} INCLUDING COMMENTS INCLUDING CONSTRAINTS INCLUDING DEFAULTS "
        f"INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STATISTICS INCLUDING STORAGE) PARTITION BY RANGE ({col})"
    )
    month = first
    while month <= last:
        nxt = _month(month, 1)
        s.append(
            f"CREATE TABLE {_ident(f'{table}_{month:%Y_%m}')} PARTITION OF {new} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{nxt.isoformat()}')"
        )
        month = nxt
    s.append(f"CREATE TABLE {_ident(f'{table}_default')} PARTITION OF {new} DEFAULT")
    cur.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
        (oid,),
    )
    columns = cur.fetchone()[0]
    s.append(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {q}")

    # what the plain table had, read before it is dropped, made again on the new one
    cur.execute(
        "SELECT c.conname, c.contype, pg_get_constraintdef(c.oid), c.conindid, "
        "ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k JOIN pg_attribute a "
        "      ON a.attrelid = c.conrelid AND a.attnum = k) "
        "FROM pg_constraint c WHERE c.conrelid = %s AND c.contype IN ('p', 'u', 'f', 'x') "
        "ORDER BY position(c.contype IN 'puxf'), c.conname",
        (oid,),
    )
    constraints = cur.fetchall()
    cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), i.indisunique, "
        "ARRAY(SELECT a.attname::text FROM unnest(i.indkey) k JOIN pg_attribute a "
        "      ON a.attrelid = i.indrelid AND a.attnum = k) FROM pg_index i "
        "WHERE i.indrelid = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 1",
        (oid,),
    )
    indexes = cur.fetchall()
    cur.execute(
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE t.tgrelid = %s AND NOT t.tgisinternal ORDER BY t.tgname",
        (oid,),
    )
    triggers = [d for (d,) in cur.fetchall()]
    cur.execute(
        "SELECT a.privilege_type, a.is_grantable, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END "
        "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE c.oid = %s AND a.grantee <> c.relowner ORDER BY 3, 1",
        (oid,),
    )
    grants = cur.fetchall()

    s.append(f"DROP TABLE {q}")
    s.append(f"ALTER TABLE {new} RENAME TO {q}")
    for name, kind, definition, _index, keys in constraints:
        if kind in ("p", "u") and column not in keys:
            key = ", ".join(_ident(k) for k in [*keys, column])
            definition = f"{'PRIMARY KEY' if kind == 'p' else 'UNIQUE'} ({key})"
            what = "primary key" if kind == "p" else f"unique constraint {name}"
            conv.notes.append(
                f"{what} ({', '.join(keys)}) becomes ({', '.join(keys)}, {column}): a partitioned table's keys "
                f"include its partition key, so ({', '.join(keys)}) alone is no longer enforced"
            )
        elif kind == "x" and column not in keys:
            raise PartitionError(
                f"exclusion constraint {name} does not include {column}: drop it first; nothing changed"
            )
        s.append(f"ALTER TABLE {q} ADD CONSTRAINT {_ident(name)} {definition}")
    for name, definition, unique, keys in indexes:
        if unique and column not in keys:
            definition = definition.replace("CREATE UNIQUE INDEX", "CREATE INDEX", 1)
            conv.notes.append(f"unique index {name} becomes a plain index: it does not include {column}")
        s.append(definition)
    s.extend(triggers)
    if comment is not None:
        s.append(f"COMMENT ON TABLE {q} IS {_literal(comment)}")
    s.append(f"ALTER TABLE {q} OWNER TO {_ident(owner)}")
    parts = [q] + [_ident(f"{table}_{m:%Y_%m}") for m in _months(first, last)] + [_ident(f"{table}_default")]
    for privilege, grantable, grantee in grants:
        option = " WITH GRANT OPTION" if grantable else ""
        s.append(f"GRANT {privilege} ON {', '.join(parts)} TO {grantee}{option}")
    s.append(f"ANALYZE {q}")
    conv.notes.append(f"{table}.id alone: no index can prove it unique now; the rule {table}.id_unique scans for it")
    return conv


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, month = [], first
    while month <= last:
        out.append(month)
        month = _month(month, 1)
    return out


def partition_analytics(
    url: str | None = None,
    *,
    dry_run: bool = False,
    months_ahead: int = DEFAULT_MONTHS_AHEAD,
    table: str = TABLE,
    column: str = COLUMN,
    log=lambda msg: None,
) -> Conversion:
    """Convert ``table`` at ``url`` (default: the owner's URL, as ``ytdq db migrate``), in one
    transaction under the migration lock; ``dry_run``: the plan only (read, no lock, no change)."""
    import psycopg2

    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import connect

    if dry_run:
        from ytempire_dq.config import store_url

        conn = connect(url or store_url())
        try:
            with conn.cursor() as cur:
                return plan(cur, table=table, column=column, months_ahead=months_ahead)
        finally:
            conn.rollback()
            conn.close()

    def work(runner) -> Conversion:
        conn = runner.conn
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(runner.timeout * 1000)}ms",))
                cur.execute(f"LOCK TABLE {_ident(table)} IN ACCESS EXCLUSIVE MODE")
                conv = plan(cur, table=table, column=column, months_ahead=months_ahead)
                started = time.perf_counter()
                for statement in conv.statements:
                    log(statement if len(statement) < 200 else statement[:197] + "...")
                    cur.execute(statement)
                conv.seconds = time.perf_counter() - started
            return conv
        except psycopg2.errors.LockNotAvailable:
            raise PartitionError(
                f"{table} in {mask_url(runner.url)} stayed locked by other sessions for {runner.timeout:g} s "
                f"({migrations.LOCK_TIMEOUT_ENV}); nothing changed"
            ) from None
        except psycopg2.Error as exc:
            if migrations._is_lost(exc, conn):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise PartitionError(f"converting {table} failed and was rolled back, nothing changed: {first}") from None

    return migrations._session(url, migrations.MIGRATIONS_DIR, work, log=log)
