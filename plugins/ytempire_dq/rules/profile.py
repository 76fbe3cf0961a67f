"""Profiling a table for ``ytdq suite suggest`` (:mod:`ytempire_dq.rules.suggest`): the evidence rules are drafted from.

The catalog gives the columns, their types and nullability and the valid, non-partial unique
indexes on plain columns; three aggregate queries (every column at once; the value counts of
low-cardinality text columns; character classes of id-like text columns), in one ``READ ONLY``
``REPEATABLE READ`` transaction (one snapshot) with the statement timeout, give counts, nulls,
distinct values, min/max, lengths. Identifiers are quoted by SQLAlchemy; values are bound parameters.
Declared personal columns (:data:`ytempire_dq.pii.PII_COLUMNS`) get no value counts: their values
never leave the database for a draft (nor their common prefix: an id-like column's shape is its
characters and lengths).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ytempire_dq import config
from ytempire_dq.errors import YtdqError

MAX_SET_VALUES = 20
MAX_VALUE_CHARS = 200  # longer text is no set member or id (and PostgreSQL caps a regex count at 255)
ID_SUFFIXES = ("_id", "_key", "_hash", "_code", "_token")
#: Character classes tried for id-like values, narrowest first (PostgreSQL and Python agree on them).
CHAR_CLASSES = ("[0-9]", "[0-9a-f]", "[0-9A-F]", "[A-Za-z0-9]", "[A-Za-z0-9_-]", "[A-Za-z0-9._-]")
UNIQUE_INDEXES = sa.text(
    """
    SELECT i.relname AS name, array_agg(a.attname::text ORDER BY k.ord) AS columns
      FROM pg_index x
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_class i ON i.oid = x.indexrelid
      CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
     WHERE t.relname = :table AND n.nspname = current_schema()
       AND x.indisunique AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL
     GROUP BY i.relname, x.indisprimary
     ORDER BY x.indisprimary DESC, i.relname
    """
)


def _kind(type_: sa.types.TypeEngine) -> str:
    """text, number, integer or other: what a column can be profiled as."""
    if isinstance(type_, sa.Boolean):
        return "other"
    if isinstance(type_, sa.Integer):
        return "integer"
    if isinstance(type_, sa.Numeric):
        return "number"
    if isinstance(type_, sa.String) and not isinstance(type_, postgresql.ARRAY):
        return "text"
    return "other"


def _id_like(name: str, stats: dict) -> bool:
    if stats["distinct"] < 2 or stats["max_length"] > MAX_VALUE_CHARS:
        return False
    named = name.lower() == "id" or name.lower().endswith(ID_SUFFIXES)
    return named or (stats["min_length"] == stats["max_length"] and (stats["min_length"] or 0) >= 8)


def _pattern_escape(text: str) -> str:
    """``text`` as a literal in both PostgreSQL's and Python's regular expressions."""
    return "".join(c if c.isalnum() and c.isascii() else "\\" + c for c in text)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


# ---------------------------------------------------------------------------------------------
# profiling


def _open(url: str) -> sa.Engine:
    from ytempire_dq.db.connect import connect, engine

    connect(url, connect_timeout=5).close()  # unreachable or refused: one line naming the masked URL
    return engine(url)


def _reflect(conn: sa.Connection, table: str, url: str) -> sa.Table:
    insp = sa.inspect(conn)
    if not insp.has_table(table):
        known = sorted(insp.get_table_names())
        listed = ", ".join(known[:12]) + (f" … and {len(known) - 12} more" if len(known) > 12 else "")
        raise YtdqError(f"no table {table!r} in {config.mask_url(url)}; its tables: {listed or 'none'}")
    return sa.Table(table, sa.MetaData(), autoload_with=conn)


def _text(c: sa.Column) -> sa.ColumnElement:
    """A text column as text (an enum takes no collation)."""
    return sa.cast(c, sa.Text) if isinstance(c.type, sa.Enum) else c


def _column_stats(conn: sa.Connection, t: sa.Table) -> tuple[int, dict[str, dict]]:
    """Query 1: the row count, and per column its non-null count, and by kind distinct values,
    min/max (text: in byte order, ``COLLATE "C"``, so min and max share every value's prefix) and lengths."""
    aggregates = {
        "integer": {"min": sa.func.min, "max": sa.func.max},
        "number": {"min": sa.func.min, "max": sa.func.max},
        "text": {
            "distinct": lambda c: sa.func.count(sa.distinct(c)),
            "min": lambda c: sa.func.min(c.collate("C")),
            "max": lambda c: sa.func.max(c.collate("C")),
            "min_length": lambda c: sa.func.min(sa.func.length(c)),
            "max_length": lambda c: sa.func.max(sa.func.length(c)),
        },
    }
    cols: list[sa.ColumnElement] = [sa.func.count().label("rows")]
    plan = {}
    for i, c in enumerate(t.columns):
        plan[c.name] = {"non_null": sa.func.count, **aggregates.get(_kind(c.type), {})}
        expr = _text(c) if _kind(c.type) == "text" else c
        cols += [agg(expr).label(f"c{i}_{stat}") for stat, agg in plan[c.name].items()]
    row = conn.execute(sa.select(*cols).select_from(t)).mappings().one()
    stats = {
        c.name: {"kind": _kind(c.type), **{n: row[f"c{i}_{n}"] for n in plan[c.name]}} for i, c in enumerate(t.columns)
    }
    return row["rows"], stats


def _value_counts(conn: sa.Connection, c: sa.Column) -> dict[str, int]:
    """Query 2 (per low-cardinality text column): each value and its row count."""
    v = _text(c)
    q = sa.select(v, sa.func.count()).where(c.is_not(None)).group_by(v).order_by(v.collate("C"))
    return {v: n for v, n in conn.execute(q).all()}


def _id_pattern(conn: sa.Connection, t: sa.Table, candidates: dict[str, dict]) -> dict[str, dict]:
    """Query 3: for id-like text columns, the narrowest character class all values keep after
    their common prefix; {column: {"regex", "prefix", "characters"}} for those that have one."""
    if not candidates:
        return {}
    cols, keys = [], []
    for name, s in candidates.items():
        # a personal column's shape only: with few values their common prefix is most of one
        prefix = "" if s.get("personal") else _common_prefix(s["min"], s["max"])[: max(0, s["min_length"] - 1)]
        for j, cls in enumerate(CHAR_CLASSES):
            lo, hi = s["min_length"] - len(prefix), s["max_length"] - len(prefix)
            pattern = f"^{_pattern_escape(prefix)}{cls}{{{lo}{'' if lo == hi else f',{hi}'}}}$"
            cols.append(sa.func.bool_and(_text(t.c[name]).regexp_match(pattern)).label(f"k{len(keys)}"))
            keys.append((name, j, pattern, prefix))
    row = conn.execute(sa.select(*cols).select_from(t)).one()
    out: dict[str, dict] = {}
    for (name, j, pattern, prefix), ok in zip(keys, row):
        if ok and name not in out:
            out[name] = {"regex": pattern, "prefix": prefix, "characters": CHAR_CLASSES[j]}
    return out


def profile(table: str, database_url: str | None = None) -> dict:
    """The evidence about ``table`` (current schema) the rules are suggested from:
    ``{"table", "rows", "profiled_at", "columns": [{"name", "type", "nullable", "kind", stats...}],
    "unique_indexes": [{"name", "columns"}]}``. An unknown table or an unreachable database:
    :class:`YtdqError` (one line, the URL masked)."""
    from ytempire_dq.pii import columns_of
    from ytempire_dq.sql_guard import begin_read_only

    personal = set(columns_of(table))
    url = database_url or config.database_url()
    eng = _open(url)
    try:
        with eng.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            begin_read_only(conn)
            t = _reflect(conn, table, url)
            rows, stats = _column_stats(conn, t)
            for c in t.columns:
                s = stats[c.name]
                s["personal"] = c.name in personal
                if s["kind"] != "text" or not s["non_null"] or s["personal"]:
                    continue
                if (
                    s["distinct"] <= MAX_SET_VALUES
                    and s["non_null"] >= 2 * s["distinct"]
                    and s["max_length"] <= MAX_VALUE_CHARS
                ):
                    s["values"] = _value_counts(conn, c)
            ids = {n: s for n, s in stats.items() if s["kind"] == "text" and "values" not in s}
            ids = {n: s for n, s in ids.items() if s["non_null"] and _id_like(n, s)}
            for name, found in _id_pattern(conn, t, ids).items():
                stats[name]["pattern"] = found
            indexes = [dict(r) for r in conn.execute(UNIQUE_INDEXES, {"table": table}).mappings()]
            profiled_at = conn.execute(sa.text("SELECT now()")).scalar_one()
    except sa.exc.DBAPIError as exc:
        raise YtdqError(
            f"cannot profile table {table!r} at {config.mask_url(url)}: {config.one_line(exc.orig or exc)}"
        ) from None
    finally:
        eng.dispose()
    columns = []
    for c in t.columns:
        type_ = c.type.compile(dialect=postgresql.dialect())
        scale = 0 if isinstance(c.type, sa.Integer) else getattr(c.type, "scale", None)
        columns.append({"name": c.name, "type": type_, "nullable": c.nullable, "scale": scale, **stats[c.name]})
    return {
        "table": table,
        "rows": rows,
        "profiled_at": profiled_at.isoformat(),
        "columns": columns,
        "unique_indexes": indexes,
    }
