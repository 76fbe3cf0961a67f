"""An analyst's SQL rule can only read.

An ``unexpected_rows_expectation`` carries SQL typed by an analyst; psycopg2 sends a string as one
simple query, so ``...; DELETE ...`` or ``... ) AS q; COPY ... TO 'file'`` would run every
statement in it. Two locks, both needed:

1. :func:`check_query` parses the query (``{batch}`` substituted as GX does) with PostgreSQL's
   own parser (pglast) and accepts only ONE plain ``SELECT`` / ``WITH ... SELECT``: no second
   statement, no data-modifying CTE, no ``SELECT INTO``, no ``FOR UPDATE``/``FOR SHARE``, no
   ``set_config()`` (it would change the settings of later statements on a pooled connection), and
   no trailing ``;`` (GX runs the query inside ``SELECT count(*) FROM (query)``, where it breaks).
2. Wherever such SQL runs it runs in a ``READ ONLY`` transaction with a ``statement_timeout``
   (:func:`timeout_ms`, ``YTDQ_STATEMENT_TIMEOUT`` seconds, default 300): :func:`begin_read_only`
   for our own connections; for GX's data source engine, its kwargs in ``gx/great_expectations.yml``
   (``BEGIN READ ONLY`` for every transaction, so a function flipping
   ``default_transaction_read_only`` cannot undo it) with the timeout set by :func:`apply_to_context`.
"""

from __future__ import annotations

import os
from typing import Any

from ytempire_dq import gx_compat
from ytempire_dq.errors import YtdqError

#: The expectation type of an analyst's SQL rule (GX's ``UnexpectedRowsExpectation``).
SQL_RULE = "unexpected_rows_expectation"

TIMEOUT_ENV = "YTDQ_STATEMENT_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0
#: Functions a SELECT could call to change what later statements of the session may do.
REFUSED_FUNCTIONS = {"set_config": "changes session settings for later statements"}
_MUST = "an analyst's SQL rule must be one SELECT"
_KIND = {
    "VariableSetStmt": "SET",
    "CopyStmt": "COPY",
    "TransactionStmt": "transaction control",
    "ExplainStmt": "EXPLAIN",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "VariableShowStmt": "SHOW",
    "CallStmt": "CALL",
    "DoStmt": "DO",
    "MergeStmt": "MERGE",
}


class RefusedSQL(YtdqError):
    """An analyst's SQL that is not one read-only SELECT (the message says why)."""


def _kind(node: Any) -> str:
    name = type(node).__name__
    return _KIND.get(name, name.removesuffix("Stmt").upper())


def _statement_count(sql: str) -> int:
    """Statements in ``sql`` by its ``;`` tokens (the scanner skips strings and comments)."""
    from pglast.parser import scan

    count, pending = 0, False
    for token in scan(sql):
        if token.name == "ASCII_59":  # ';'
            count += pending
            pending = False
        elif token.name not in ("SQL_COMMENT", "C_COMMENT"):
            pending = True
    return count + pending


def _inner_reason(node: Any) -> str | None:
    """Why one node of a SELECT's tree makes it more than a read, or None."""
    from pglast import ast

    if isinstance(node, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)):
        return f"a data-modifying {_kind(node)} inside the query"
    if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        return "SELECT INTO creates a table"
    if isinstance(node, ast.SelectStmt) and node.lockingClause:
        return "FOR UPDATE/FOR SHARE locks rows"
    if isinstance(node, ast.FuncCall):
        name = node.funcname[-1].sval.lower()
        if name in REFUSED_FUNCTIONS:
            return f"it calls {name}(), which {REFUSED_FUNCTIONS[name]}"
    return None


def refusal(sql: str) -> str | None:
    """Why ``sql`` (``{batch}`` already substituted) is not one read-only SELECT; None if it is."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError, scan
    from pglast.visitors import Visitor

    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        try:
            n = _statement_count(sql)
        except ParseError:
            n = 1
        return f"{n} statements" if n > 1 else f"it does not parse as SQL ({exc})"
    if len(statements) != 1:
        return f"{len(statements)} statements" if statements else "no statement"
    top = statements[0].stmt
    if not isinstance(top, ast.SelectStmt):
        return f"not a SELECT but {_kind(top)}"
    if any(token.name == "ASCII_59" for token in scan(sql)):
        return "it ends with ';' (GX runs it inside a subquery: leave the ';' out)"
    try:
        parse_sql(f"SELECT 1 FROM ({sql}) AS q")
    except ParseError:
        return "it cannot run inside a subquery, as GX runs it (a trailing '--' comment needs a newline after it)"
    reasons: list[str] = []

    class _Walk(Visitor):
        def visit(self, ancestors: Any, node: Any) -> None:
            reason = _inner_reason(node)
            if reason and reason not in reasons:
                reasons.append(reason)

    _Walk()(top)
    return "; ".join(reasons) or None


def check_query(sql: str) -> None:
    """Raise :class:`RefusedSQL` (``refused: <why>; an analyst's SQL rule must be one SELECT``)
    unless ``sql`` is one read-only SELECT."""
    reason = refusal(sql)
    if reason:
        raise RefusedSQL(f"refused: {reason}; {_MUST}")


# ---------------------------------------------------------------------------------------------
# where it runs


def timeout_ms() -> int:
    """``YTDQ_STATEMENT_TIMEOUT`` (seconds, default 300) in milliseconds; a bad value is a YtdqError."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10**7:
        raise YtdqError(f"{TIMEOUT_ENV}={raw!r}: give the statement timeout in seconds (e.g. 300)")
    return max(1, round(seconds * 1000))


def begin_read_only(cursor: Any) -> None:
    """Make the transaction ``cursor`` is about to start READ ONLY with the statement timeout
    (call before anything else runs in it; psycopg2 cursor or SQLAlchemy connection)."""
    run = getattr(cursor, "exec_driver_sql", None) or cursor.execute
    run("SET TRANSACTION READ ONLY")
    run(f"SET LOCAL statement_timeout = {timeout_ms()}")


def session_options() -> str:
    """libpq ``options`` for an engine that runs analyst SQL: read-only by default, timed out."""
    return f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms()}"


def apply_to_context(ctx: Any) -> None:
    """Give every SQL data source of ``ctx`` (in memory) the timeout of :func:`timeout_ms`: the
    yml's engine kwargs hold the read-only settings and a default timeout; GX does not
    substitute ``${VAR}`` inside them, so the configured value is set here."""
    for ds in ctx.data_sources.all().values():
        kwargs = getattr(ds, "kwargs", None)
        if not isinstance(kwargs, dict) or "connect_args" not in kwargs:
            continue
        ds.kwargs = {**kwargs, "connect_args": {**kwargs["connect_args"], "options": session_options()}}


def check_suite_rules(path: Any, doc: dict, table: str | None) -> None:
    """Raise :class:`RefusedSQL` naming the file and rule at the first SQL rule of a suite file
    (``doc``, run against ``table``) that is not one read-only SELECT: the checkpoint runner's
    pre-flight, before any rule runs."""

    for i, exp in enumerate(doc.get("expectations") or []):
        query = (exp.get("kwargs") or {}).get("unexpected_rows_query")
        if exp.get("type") != SQL_RULE or not isinstance(query, str):
            continue
        rule = (exp.get("meta") or {}).get("rule_id") or f"expectation #{i + 1} ({SQL_RULE})"
        try:
            check_query(substitute_batch(query, table or ""))
        except (KeyError, IndexError, ValueError) as exc:
            raise RefusedSQL(f"{path}: rule {rule!r}: SQL rule: cannot substitute {{batch}}: {exc}") from None
        except RefusedSQL as exc:
            raise RefusedSQL(f"{path}: rule {rule!r}: SQL rule {exc}") from None


def substitute_batch(query: str, table: str) -> str:
    """The SQL GX 1.24 runs for ``query`` against a whole-table batch of ``table``.

    GX substitutes ``{batch}`` with ``(SELECT * FROM table WHERE true) AS subselect`` unless the
    query contains a JOIN, when it leaves the alias to the author: ``(SELECT ...)``.
    """
    sub = f"(SELECT * FROM {table} WHERE true)"
    if not gx_compat.query_has_join(query):
        sub += " AS subselect"
    return query.format(batch=sub)
