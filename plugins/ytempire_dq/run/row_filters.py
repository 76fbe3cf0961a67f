"""SQL rules that only filter their table's rows, counted in the table's one scan.

An analyst's rule such as ``SELECT id, views FROM {batch} WHERE subscribers_gained > views``
returns the rows of its table that one condition selects. Its count is ``count(*) FILTER (WHERE
<condition>)`` over the table, so the fast path (:mod:`ytempire_dq.run.validation`) adds it to the
statement that counts the table's other rules (a GX table metric,
:mod:`ytempire_dq.gx.row_filter_count`, which GX bundles with them) instead of scanning the table
once per rule. A failed rule's row keys, for the quarantine, are then read for all such rules of
the table in one scan: the one that reads the table's column map rules' samples
(:func:`ytempire_dq.run.key_capture.samples_with_keys`), or one of their own (:func:`capture_keys`).

The same count, by construction: :func:`row_filter` takes a rule only when PostgreSQL's parser
(pglast) shows it is exactly ``SELECT <columns> FROM <the batch's table> [alias] WHERE
<condition>``, nothing else in the statement, and only expressions that can change neither the
number of rows (no set-returning or aggregate function) nor fail on a row's values (comparisons,
``AND``/``OR``/``NOT``, ``IN`` lists, ``BETWEEN``, ``IS [NOT] NULL``, ``+ - *``, constants, columns,
``now()`` and ``current_date``-like values; no division, cast of a column, function or
subquery). Anything else runs its own query, as before. A condition that does not plan (a missing
column, mismatched types) is found by planning it over no rows (:func:`planning`) and left to run
alone too, so one broken rule never fails the statement it would have shared.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

#: Operators that cannot raise on a row's values (besides an integer overflow in ``+ - *``, which
#: the rule's own query would raise too).
_OPERATORS = frozenset({"=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*"})
_SELECT_ONLY = (  # SelectStmt fields a row filter leaves empty
    "distinctClause", "intoClause", "groupClause", "havingClause", "windowClause", "valuesLists",
    "sortClause", "limitOffset", "limitCount", "lockingClause", "withClause", "larg", "rarg",
)  # fmt: skip


def of_rule(query: str, table: Any, name: str) -> tuple[str, tuple[str, ...]] | None:
    """:func:`row_filter` of an ``unexpected_rows_query`` on a batch that is all of ``table``
    (``name``: the table as the dialect quotes it), when GX's own text of the rule is a read that
    parses too (``{batch} AS x`` without a JOIN is not: GX adds an alias of its own)."""
    from ytempire_dq.sql_guard import RefusedSQL, refusal, substitute_batch

    try:
        if refusal(substitute_batch(query, name)) is not None:
            return None  # (its own query says what is wrong with it)
    except RefusedSQL:
        return None
    return row_filter(query.format(batch=name), table)


def row_filter(sql: str, table: Any) -> tuple[str, tuple[str, ...]] | None:
    """``(condition, output columns)`` when ``sql`` (a rule's query, ``{batch}`` substituted) selects
    the rows of ``table`` (the batch's ``sa.table``) that one condition selects (see the module docstring):
    the condition with its columns unqualified, as the table's own scan reads them, and the
    table's columns the query returns under their own names (``"*"`` for ``SELECT *``). None
    otherwise."""
    from pglast import ast, parse_sql
    from pglast.enums import SetOperation
    from pglast.parser import ParseError
    from pglast.stream import RawStream

    try:
        statements = parse_sql(sql)
    except ParseError:
        return None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        return None
    select = statements[0].stmt
    if select.op != SetOperation.SETOP_NONE or any(getattr(select, name, None) for name in _SELECT_ONLY):
        return None
    if select.whereClause is None or not select.fromClause or len(select.fromClause) != 1:
        return None
    (source,) = select.fromClause
    if not isinstance(source, ast.RangeVar) or not source.inh or source.catalogname:
        return None
    if source.relname != table.name or source.schemaname not in (None, table.schema):
        return None
    if source.alias is not None:
        if source.alias.colnames:
            return None
        qualifiers = {(source.alias.aliasname,)}
    else:
        qualifiers = {(table.name,)} | ({(table.schema, table.name)} if table.schema else set())
    outputs = []
    for target in select.targetList or ():
        if not isinstance(target, ast.ResTarget) or not _plain(target.val, qualifiers):
            return None
        column = _last(target.val) if isinstance(target.val, ast.ColumnRef) else None
        if column is not None and target.name in (None, column):  # a column under its own name
            outputs.append(column)
        elif column is None and isinstance(target.val, ast.ColumnRef):
            outputs.append("*")
    if not _plain(select.whereClause, qualifiers):
        return None
    _unqualify(select.whereClause)
    return RawStream()(select.whereClause), tuple(outputs)


def _last(ref: Any) -> Any:
    from pglast import ast

    field = ref.fields[-1]
    return field.sval if isinstance(field, ast.String) else None


def _plain(node: Any, qualifiers: set) -> bool:
    """Whether ``node`` is built only of what a row filter may hold (module docstring)."""
    from pglast import ast
    from pglast.enums import A_Expr_Kind

    if isinstance(node, (tuple, list)):
        return all(_plain(n, qualifiers) for n in node)
    if isinstance(node, ast.ColumnRef):
        *prefix, last = node.fields
        return (
            all(isinstance(f, ast.String) for f in prefix)
            and (not prefix or tuple(f.sval for f in prefix) in qualifiers)
            and isinstance(last, (ast.String, ast.A_Star))
        )
    if isinstance(node, (ast.A_Const, ast.SQLValueFunction)):
        return True
    if isinstance(node, ast.FuncCall):
        name = tuple(f.sval for f in node.funcname)
        return name in (("now",), ("pg_catalog", "now")) and not (
            node.args or node.agg_star or node.agg_distinct or node.over or node.agg_filter or node.agg_order
        )
    if isinstance(node, ast.TypeCast):
        return isinstance(node.arg, ast.A_Const)
    if isinstance(node, ast.BoolExpr):
        return _plain(node.args, qualifiers)
    if isinstance(node, (ast.NullTest, ast.BooleanTest)):
        return _plain(node.arg, qualifiers)
    if isinstance(node, ast.A_Expr):
        kinds = {
            A_Expr_Kind.AEXPR_OP, A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_BETWEEN,
            A_Expr_Kind.AEXPR_NOT_BETWEEN, A_Expr_Kind.AEXPR_DISTINCT, A_Expr_Kind.AEXPR_NOT_DISTINCT,
        }  # fmt: skip
        operator = node.name[-1].sval if node.name and isinstance(node.name[-1], ast.String) else None
        return (
            node.kind in kinds
            and (operator in _OPERATORS or node.kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_NOT_BETWEEN))
            and len(node.name) == 1
            and (node.lexpr is None or _plain(node.lexpr, qualifiers))
            and _plain(node.rexpr, qualifiers)
        )
    return False


def _unqualify(node: Any) -> None:
    """Every column reference under ``node`` by its name alone (the table's scan has no alias)."""
    from pglast.visitors import Visitor

    class Unqualify(Visitor):
        def visit_ColumnRef(self, ancestors: Any, ref: Any) -> None:
            ref.fields = ref.fields[-1:]

    Unqualify()(node)


def planning(conn: sa.Connection, table: Any, conditions: list[str]) -> set[str]:
    """The ``conditions`` that ``count(*) FILTER (WHERE <condition>)`` over ``table`` accepts, checked
    over no rows (``FROM (SELECT * FROM table LIMIT 0)``: planned, nothing read): all in one
    statement, each on its own only when that fails. Rolls back after a failure, so the
    connection stays usable."""

    def accepted(some: list[str]) -> bool:
        empty = sa.select(sa.text("*")).select_from(table).limit(0).subquery("q")
        try:
            conn.execute(sa.select(*[sa.func.count().filter(sa.literal_column(c)) for c in some]).select_from(empty))
        except sa.exc.SQLAlchemyError:
            conn.rollback()
            return False
        return True

    if not conditions or accepted(conditions):
        return set(conditions)
    return {c for c in conditions if accepted([c])}


def capture_keys(conn: sa.Connection, table: Any, table_name: str, rules: dict, known: dict) -> dict:
    """``{key: Keys}``: the row keys of failed row-filter ``rules`` of ``table`` (``{key: (condition,
    count)}``; each count at most ``CAPTURE_LIMIT`` and each rule returning the table's primary
    key, so its keys are the ones :func:`ytempire_dq.store.row_keys.capture` reads from its own
    query), in ONE scan: the rows any condition selects, and which. The counts were read on the
    run's snapshot, so the rows read are at most their sum; a rule whose keys do not add up to
    its count is incomplete (``Keys.complete``) and the quarantine reads it again. ``known``: the
    run's primary keys. Planned as ``row_keys.capture`` is (``row_keys.few_rows``)."""
    from ytempire_dq.store import row_keys

    pk = row_keys.primary_key(conn, table_name, known)
    conditions = [condition for condition, _ in rules.values()]
    which = [sa.literal_column(f"({condition}) IS TRUE") for condition in conditions]
    query = (
        sa.select(sa.cast(row_keys.row_key(pk), sa.Text), *which)
        .select_from(table.alias("q"))
        .where(sa.or_(*[sa.literal_column(f"({condition})") for condition in conditions]))
    )
    row_keys.few_rows(conn)
    found: list[list[str]] = [[] for _ in conditions]
    for key, *selected in conn.execute(query):
        for keys, hit in zip(found, selected):
            if hit:
                keys.append(key)
    return {name: row_keys.Keys(keys, total) for (name, (_, total)), keys in zip(rules.items(), found)}
