"""An analyst's SQL rule can only read, and every statement sent to the checked database is one read.

An ``unexpected_rows_expectation`` carries SQL typed by an analyst; psycopg2 sends a string as one
simple query, so ``...; DELETE ...`` or ``... ) AS q; COPY ... TO 'file'`` would run every
statement in it. Three locks:

1. **The text as written** (lint and the run's pre-flight, before any rule runs): the only format
   field is ``{batch}`` (:func:`substitute_batch`; ``{batch[10]}``, ``{0}``, a lone ``{``... are
   refused, since Python's ``str.format``, which GX uses, reads them differently from any guard),
   ``{batch}`` never inside a comment or a string, and :func:`check_query` parses the query with
   PostgreSQL's own parser (pglast): ONE plain ``SELECT`` / ``WITH ... SELECT``, no data-modifying
   CTE, no ``SELECT INTO``, no ``FOR UPDATE``, no function that acts outside the transaction
   (:data:`REFUSED_FUNCTIONS`), no trailing ``;``.
2. **The text that runs** (:func:`guard`): a SQLAlchemy ``before_cursor_execute`` listener on the
   engines and connections that read the checked database during a run checks every statement at
   the moment it is sent, exactly as psycopg2 will send it (``cursor.mogrify``): one statement, a
   plain read (:func:`statement_refusal`), or it is refused and the rule errors. GX's own
   ``SELECT COUNT(*) FROM (<query>)`` is checked like everything else, so no difference between
   two substitutions of ``{batch}`` can matter.
3. **The transaction** it runs in is ``READ ONLY`` with a ``statement_timeout`` (:func:`timeout_ms`,
   ``YTDQ_STATEMENT_TIMEOUT`` seconds, default 300): :func:`begin_read_only` for our own
   connections; for GX's data source engine, its kwargs in ``gx/great_expectations.yml``
   (``BEGIN READ ONLY`` for every transaction) with the timeout set by :func:`apply_to_context`.
   Below all three, the role the checks connect as should hold SELECT only (docs/production.md, "Run it against production").
"""

from __future__ import annotations

import functools
import json
import os
import string
from collections import deque
from collections.abc import Callable
from typing import Any

from ytempire_dq.errors import YtdqError
from ytempire_dq.gx import compat

#: The expectation type of an analyst's SQL rule (GX's ``UnexpectedRowsExpectation``).
SQL_RULE = "unexpected_rows_expectation"

TIMEOUT_ENV = "YTDQ_STATEMENT_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0

_SIGNAL = "signals or reconfigures server processes"
_LOCK = "takes an advisory lock, which outlives the rule's transaction"
_LARGE_OBJECT = "reads or writes large objects (and through them the server's files)"
_DBLINK = "opens another connection, which can write"
_FILES = "reads the server's files"
_SQL_TEXT = "runs SQL text that no guard sees"
_SLEEP = "makes the rule wait (a statement timeout is the only bound)"
_SLOT = "creates, reads or drops replication slots"
_WAL = "controls WAL, backups or recovery"
_SEQUENCE = "changes a sequence, which no rollback undoes"

#: Functions a rule may not call, by name (lower case, whatever schema qualifies or quotes it):
#: they act outside the rule's READ ONLY transaction, run SQL text, or only make it wait.
REFUSED_FUNCTIONS = {
    "set_config": "changes session settings for later statements",
    "pg_notify": "sends a notification to other sessions",
    **dict.fromkeys(("pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile"), _SIGNAL),
    "pg_log_backend_memory_contexts": _SIGNAL,
    **dict.fromkeys(("loread", "lowrite"), _LARGE_OBJECT),
    **dict.fromkeys(("pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_current_logfile"), _FILES),
    **dict.fromkeys(
        (
            "query_to_xml",
            "query_to_xmlschema",
            "query_to_xml_and_xmlschema",
            "cursor_to_xml",
            "cursor_to_xmlschema",
            "ts_stat",
            "crosstab",
            "crosstab2",
            "crosstab3",
            "crosstab4",
            "connectby",
        ),
        _SQL_TEXT,
    ),
    **dict.fromkeys(("pg_sleep", "pg_sleep_for", "pg_sleep_until"), _SLEEP),
    **dict.fromkeys(
        ("pg_switch_wal", "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_promote"),
        _WAL,
    ),
    **dict.fromkeys(("nextval", "setval"), _SEQUENCE),
}
#: ... and by the start of their name: whole families.
REFUSED_PREFIXES = {
    "pg_advisory_": _LOCK,
    "pg_try_advisory_": _LOCK,
    "lo_": _LARGE_OBJECT,
    "dblink": _DBLINK,
    "pg_ls_": _FILES,
    "pg_file_": _FILES,
    "table_to_xml": _SQL_TEXT,
    "schema_to_xml": _SQL_TEXT,
    "database_to_xml": _SQL_TEXT,
    "pg_create_": _SLOT,
    "pg_drop_replication_slot": _SLOT,
    "pg_copy_": _SLOT,
    "pg_replication_": _SLOT,
    "pg_logical_": _SLOT,
    "pg_wal_replay_": _WAL,
    "pg_stat_reset": "resets the server's statistics",
}

_MUST = "an analyst's SQL rule must be one SELECT"
_SENT = "a statement sent to the checked database must be one read"
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
    """SQL that is not one read-only SELECT (the message says why)."""


def refused_function(name: str) -> str | None:
    """Why a rule may not call function ``name`` (any case, no schema); None when it may."""
    name = name.lower()
    if name in REFUSED_FUNCTIONS:
        return REFUSED_FUNCTIONS[name]
    return next((why for prefix, why in REFUSED_PREFIXES.items() if name.startswith(prefix)), None)


def _kind(name: str) -> str:
    """What a statement of node type ``name`` is, in SQL's words (``VariableSetStmt``: ``SET``)."""
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


def _parse(sql: str) -> list[dict]:
    """The statements of ``sql`` as PostgreSQL's parser gives them (libpg_query, through pglast),
    each ``{"<NodeType>": {fields}}``: the parse tree as JSON, read with ``json.loads``, about ten
    times faster than building pglast's Python node objects (every statement of a run is
    parsed). Raises pglast's ``ParseError``."""
    from pglast.parser import parse_sql_json

    return [s["stmt"] for s in json.loads(parse_sql_json(sql)).get("stmts", [])]


def _unwrap(value: dict) -> tuple[str | None, dict]:
    """``(node type, fields)`` of a node the tree holds as ``{"SelectStmt": {...}}``; ``(None,
    value)`` for a struct held in a typed field (``intoClause``, ``withClause``)."""
    if len(value) == 1:
        ((name, fields),) = value.items()
        if name[:1].isupper() and isinstance(fields, dict):
            return name, fields
    return None, value


def _nodes(top: dict) -> Any:
    """Every node of the tree under ``top``, ``top`` first, breadth first (pglast's ``Visitor``
    order): ``(node type or None, fields)``. JSON leaves out null, false, 0 and empty fields."""
    todo: deque = deque([top])
    while todo:
        item = todo.popleft()
        for sub in item if isinstance(item, list) else [item]:
            if isinstance(sub, dict):
                name, fields = _unwrap(sub)
                yield name, fields
                todo.extend(v for v in fields.values() if isinstance(v, (dict, list)))
            elif isinstance(sub, list):
                todo.extend(v for v in sub if isinstance(v, (dict, list)))


def _inner_reason(name: str | None, fields: dict) -> str | None:
    """Why one node of a SELECT's tree makes it more than a read, or None."""
    if name in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
        return f"a data-modifying {_kind(name)} inside the query"
    if name == "SelectStmt" and "intoClause" in fields:
        return "SELECT INTO creates a table"
    if name == "SelectStmt" and fields.get("lockingClause"):
        return "FOR UPDATE/FOR SHARE locks rows"
    if name == "FuncCall":
        func = fields["funcname"][-1]["String"]["sval"].lower()
        why = refused_function(func)
        if why:
            return f"it calls {func}(), which {why}"
    return None


def _tree_reasons(top: dict) -> str | None:
    """Every reason, once each, in the whole tree of ``top`` (subqueries, CTEs, FROM functions)."""
    reasons: list[str] = []
    for name, fields in _nodes(top):
        reason = _inner_reason(name, fields)
        if reason and reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons) or None


def _one_statement(sql: str) -> tuple[tuple[str, dict] | None, str | None]:
    """((node type, fields) of the one statement, None) or (None, why ``sql`` is not exactly one statement)."""
    from pglast.parser import ParseError

    try:
        statements = _parse(sql)
    except ParseError as exc:
        try:
            n = _statement_count(sql)
        except ParseError:
            n = 1
        return None, (f"{n} statements" if n > 1 else f"it does not parse as SQL ({exc})")
    if len(statements) != 1:
        return None, (f"{len(statements)} statements" if statements else "no statement")
    name, fields = _unwrap(statements[0])
    return (name or "", fields), None


def _integer(node: Any) -> int | None:
    """The value of an integer constant node (``{"A_Const": {"ival": {"ival": 5}}}``; 0 is
    ``{"ival": {}}``), None for any other node."""
    const = node.get("A_Const") if isinstance(node, dict) else None
    if not isinstance(const, dict) or "ival" not in const:
        return None
    return int(const["ival"].get("ival", 0))


def _setup_statement(name: str, node: dict) -> bool:
    """The transaction set-up the project's own code sends (:func:`begin_read_only`, the run's
    snapshot, ``row_keys.capture``): ``SET TRANSACTION`` READ ONLY / an isolation level / a snapshot,
    a positive ``SET LOCAL statement_timeout`` and ``SET LOCAL`` of a parallel planner cost or of ``jit``.
    ``READ WRITE`` or a session-wide setting is not one."""
    if name != "VariableSetStmt":
        return False
    setting, args = node.get("name"), node.get("args") or []
    if setting == "TRANSACTION SNAPSHOT":
        return True
    if setting == "TRANSACTION":
        for arg in args:
            elem = arg.get("DefElem") or {}
            if elem.get("defname") == "transaction_read_only" and _integer(elem.get("arg")) != 1:
                return False
        return True
    if not node.get("is_local") or len(args) != 1:
        return False
    if setting == "statement_timeout":
        value = _integer(args[0])
        return value is not None and value > 0
    return setting in _LOCAL_PLANNER_SETTINGS


#: Planner settings the project's own statements set for their transaction (``row_keys.few_rows``;
#: ``enable_hashagg``: the duplicate scan in an index's order, ``run.validation._scanned``).
_LOCAL_PLANNER_SETTINGS = frozenset({"parallel_tuple_cost", "parallel_setup_cost", "jit", "enable_hashagg"})


@functools.lru_cache(maxsize=512)
def statement_refusal(sql: str) -> str | None:
    """Why ``sql``, a statement about to be sent to the checked database, is not one plain read;
    None if it is. A read: one ``SELECT`` (no data-modifying CTE, no ``INTO``, no row locks, no
    refused function anywhere in it), a ``SHOW``, or the project's own transaction set-up.
    The verdict depends on the text alone, so it is kept per text: a run sends the same catalog
    queries and transaction set-up many times (65 of the 252 statements of a ``nightly``)."""
    top, why = _one_statement(sql)
    if why:
        return why
    name, fields = top
    if name == "VariableShowStmt" or _setup_statement(name, fields):
        return None
    if name != "SelectStmt":
        return f"not a SELECT but {_kind(name)}"
    return _tree_reasons({name: fields})


def refusal(sql: str) -> str | None:
    """Why ``sql`` (``{batch}`` already substituted) is not one read-only SELECT an analyst's rule
    may be; None if it is. Stricter than :func:`statement_refusal`: a SELECT only, that runs
    inside the subquery GX wraps it in."""
    from pglast.parser import ParseError, scan

    top, why = _one_statement(sql)
    if why:
        return why
    name, fields = top
    if name != "SelectStmt":
        return f"not a SELECT but {_kind(name)}"
    if any(token.name == "ASCII_59" for token in scan(sql)):
        return "it ends with ';' (GX runs it inside a subquery: leave the ';' out)"
    try:
        _parse(f"SELECT 1 FROM ({sql}) AS q")
    except ParseError:
        return "it cannot run inside a subquery, as GX runs it (a trailing '--' comment needs a newline after it)"
    return _tree_reasons({name: fields})


def check_query(sql: str) -> None:
    """Raise :class:`RefusedSQL` (``refused: <why>; an analyst's SQL rule must be one SELECT``)
    unless ``sql`` is one read-only SELECT."""
    reason = refusal(sql)
    if reason:
        raise RefusedSQL(f"refused: {reason}; {_MUST}")


# ---------------------------------------------------------------------------------------------
# {batch}: the one placeholder

#: What ``{batch}`` stands for while its places are checked (one identifier token, no newline).
_PLACEHOLDER = "ytdq_batch_placeholder"


def format_refusal(query: str) -> str | None:
    """Why ``query``'s braces are not only ``{batch}`` placeholders (``{{``/``}}`` for literal
    braces) standing where SQL is read, not inside a comment or a string; None if they are.

    GX fills the query with Python's ``str.format``, which also honours ``{batch[10]}``,
    ``{batch.x}``, ``{batch!r}``, ``{0}``: a guard that fills it differently checks another text."""
    from pglast.parser import ParseError, scan

    try:
        parts = list(string.Formatter().parse(query))
    except ValueError as exc:
        return f"a brace that is not {{batch}} ({exc}): write {{{{ and }}}} for a literal brace"
    wanted = 0
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field != "batch" or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            return (
                f"{shown} is not a placeholder: only {{batch}} is substituted (write {{{{ and }}}} for a literal brace)"
            )
        wanted += 1
    probe = query.format(batch=f" {_PLACEHOLDER} ")
    try:
        found = sum(t.name == "IDENT" and probe[t.start : t.end + 1] == _PLACEHOLDER for t in scan(probe))
    except ParseError:
        return None  # the parse of the substituted text says what is wrong
    if found != probe.count(_PLACEHOLDER) or found < wanted:
        return "{batch} inside a comment or a string literal"
    return None


def substitute_batch(query: str, table: str) -> str:
    """The SQL GX 1.24 runs for ``query`` against a whole-table batch of ``table``, character for
    character; raises :class:`RefusedSQL` when its braces are more than ``{batch}``
    (:func:`format_refusal`).

    GX substitutes ``{batch}`` with ``(SELECT * \\nFROM table \\nWHERE true) AS subselect`` unless
    the query contains a JOIN, when it leaves the alias to the author: ``(SELECT ...)``.
    """
    why = format_refusal(query)
    if why:
        raise RefusedSQL(f"refused: {why}; {_MUST}")
    sub = f"(SELECT * \nFROM {table} \nWHERE true)"
    if not compat.query_has_join(query):
        sub += " AS subselect"
    return query.format(batch=sub)


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


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (psycopg2's or SQLAlchemy's wrapping of it) is a statement cancelled by
    ``statement_timeout``."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "pgcode", None) == "57014" and "statement timeout" in str(orig)


def _sent_text(cursor: Any, statement: str, parameters: Any) -> str:
    """``statement`` with ``parameters`` exactly as psycopg2 will send it."""
    import psycopg2.extensions

    if parameters is None:
        return statement
    sent = cursor.mogrify(statement, parameters)
    encoding = psycopg2.extensions.encodings.get(cursor.connection.encoding, "utf-8")
    return sent.decode(encoding, errors="replace") if isinstance(sent, bytes) else sent


class _Guard:
    """The statement guard of one engine (or connection): checks every statement as it is sent,
    and remembers those the statement timeout cancelled, so that none runs again on it (GX retries
    a failed metric, and its rows and its count are two statements around one query): a timeout
    bounds a rule once. GX opens its engines per context, i.e. per run."""

    def __init__(self) -> None:
        self.timed_out: list[str] = []

    def before_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        for params in parameters if executemany else [parameters]:
            text = _sent_text(cursor, statement, params)
            reason = statement_refusal(text) or self._ran_out(text)
            if reason:
                raise RefusedSQL(f"refused: {reason}; {_SENT}")

    def handle_error(self, error: Any) -> None:
        if error.statement is None or not is_statement_timeout(error.original_exception):
            return
        try:
            self.timed_out.append(_sent_text(error.cursor, error.statement, error.parameters))
        except Exception:  # noqa: BLE001 - an error hook must not replace the error: the cursor is gone, the statement as given
            self.timed_out.append(error.statement)

    def _ran_out(self, text: str) -> str | None:
        """Why ``text`` is not sent again: it is (or wraps, or is wrapped by) a statement the
        timeout cancelled, most of it the same query."""
        for earlier in self.timed_out:
            short, long = sorted((text, earlier), key=len)
            if short in long and 2 * len(short) >= len(long):
                return "not run again: the statement timeout (YTDQ_STATEMENT_TIMEOUT) cancelled it earlier in this run"
        return None


def guard(target: Any) -> Callable[[], None]:
    """Check every statement ``target`` (a SQLAlchemy Engine or Connection that reads the checked
    database) sends, as sent, with :func:`statement_refusal`; a refused one raises
    :class:`RefusedSQL` instead of reaching the server, and so does one the statement timeout
    cancelled before on ``target``. Returns the function that removes the guard (the run calls
    it when it ends: ``Run.attach``, which guards each engine once); a no-op for another dialect."""
    import sqlalchemy as sa

    if target is None or getattr(getattr(target, "dialect", None), "name", "postgresql") != "postgresql":
        return lambda: None
    guard_ = _Guard()
    hooks = [("before_cursor_execute", guard_.before_cursor_execute)]
    if isinstance(target, sa.Engine):  # SQLAlchemy takes error hooks per engine, not per connection
        hooks.append(("handle_error", guard_.handle_error))
    for name, fn in hooks:
        sa.event.listen(target, name, fn)

    def remove() -> None:
        for name, fn in hooks:
            if sa.event.contains(target, name, fn):
                sa.event.remove(target, name, fn)

    return remove


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
        except RefusedSQL as exc:
            raise RefusedSQL(f"{path}: rule {rule!r}: SQL rule {exc}") from None
