"""``ytdq suite lint``: every problem in the suite, validation definition and checkpoint files,
by file and rule, checked against the database unless offline; and ``--fix`` for missing ids."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import YtdqError, with_hint
from ytempire_dq.gx import compat
from ytempire_dq.locations import asset_tables, config_dir_of, list_suites, project_relative, store_dir
from ytempire_dq.rules.suite_files import (
    Problem,
    SuiteFileError,
    read_json_file,
    read_suite_file,
    registered_expectation_types,
    rule_key_problems,
)
from ytempire_dq.sql_guard import substitute_batch


def _alias_hint(query: str) -> str:
    """GX's {batch} rule trips analysts: name the fix when the query breaks it."""
    aliased = re.search(r"\{batch\}\s+(AS\s+)?(?!WHERE\b|GROUP\b|ORDER\b|LIMIT\b)[A-Za-z_]", query, re.IGNORECASE)
    if aliased and not compat.query_has_join(query):
        return (
            " (hint: without a JOIN, GX aliases {batch} itself as 'subselect': write FROM {batch} with no alias, "
            "and qualify columns as subselect.col if needed)"
        )
    if not aliased and compat.query_has_join(query):
        return " (hint: with a JOIN, GX leaves {batch} unaliased: write FROM {batch} AS t)"
    return ""


def _db_columns(url: str) -> dict[str, set[str]]:
    """{table: {columns}} of the database's current schema (and ``{schema.table: ...}`` of every
    schema); unreachable: :class:`YtdqError`
    (naming the masked URL and ``--offline``)."""
    from ytempire_dq.db.connect import connect

    try:
        conn = connect(url, connect_timeout=3)
    except YtdqError as exc:
        raise YtdqError(f"{with_hint(str(exc))}; or lint without the database: ytdq suite lint --offline") from None
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name, column_name, table_schema = current_schema() "
                "FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
            out: dict[str, set[str]] = {}
            for schema, t, c, current in cur.fetchall():
                out.setdefault(f"{schema}.{t}", set()).add(c)  # a rule may name schema.table (dq.runs)
                if current:
                    out.setdefault(t, set()).add(c)
            return out
    finally:
        conn.close()


def _explain(url: str, sql: str) -> str | None:
    """None if ``EXPLAIN sql`` works, else the server's first error line. ``sql`` must have passed
    :func:`ytempire_dq.sql_guard.check_query`; it is planned in a READ ONLY transaction anyway."""
    import psycopg2

    from ytempire_dq.db.connect import connect
    from ytempire_dq.sql_guard import begin_read_only

    conn = connect(url, connect_timeout=3)
    try:
        with conn.cursor() as cur:
            begin_read_only(cur)
            cur.execute("EXPLAIN " + sql)
        return None
    except psycopg2.Error as exc:
        return (exc.pgerror or str(exc)).strip().splitlines()[0]
    finally:
        conn.rollback()
        conn.close()


#: What ``lint(offline=True)`` leaves out, said in its one warning.
OFFLINE_SKIPPED = "offline: columns and SQL rules were not checked against a database"


def lint(
    config_dir: Path | str | None = None, *, database_url: str | None = None, offline: bool = False
) -> list[Problem]:
    """Every problem in the suite, validation definition and checkpoint files.

    Reports malformed JSON, unknown expectation types (GX would silently drop them), parameters
    GX rejects, a missing or repeated ``meta.rule_id`` and a repeated ``id`` (every place named),
    a rule without ``id`` (a warning: :func:`fix_ids` writes it), a missing description, SQL rules
    that are not one read-only SELECT (:mod:`ytempire_dq.sql_guard`), columns not in their table
    and SQL rules that do not run (``EXPLAIN`` with ``{batch}`` substituted, in a READ ONLY
    transaction) -- the last two against the database (``database_url`` or ``DATABASE_URL``). No
    database, an unreachable one or one never migrated: :class:`YtdqError`, unless ``offline``
    (then one warning says what was not checked): a lint that silently skipped checks would pass
    bad rules.
    """
    from ytempire_dq.gx.context import register_plugins

    cdir = config_dir_of(config_dir)
    register_plugins()
    known_types = registered_expectation_types()
    problems: list[Problem] = []
    tables = asset_tables(cdir)
    url = None if offline else (database_url or config.database_url())
    columns = None if offline else _db_columns(url)
    if offline:
        problems.append(Problem(project_relative(cdir / "great_expectations.yml"), None, OFFLINE_SKIPPED, "warning"))
    elif not set(columns) & {t for t in tables.values() if t}:
        raise YtdqError(
            f"{config.mask_url(url)} has none of the tables the suites check: is the database "
            "migrated? (ytdq db migrate; or lint without the database: ytdq suite lint --offline)"
        )

    suite_tables, vd_names = _lint_definitions(cdir, tables, problems)
    problems += _lint_suites(cdir, suite_tables, known_types, columns, url)
    problems += _lint_checkpoint_files(cdir, vd_names)
    problems += _lint_checkpoints_load(cdir, url)
    return problems


def _lint_definitions(cdir: Path, tables: dict, problems: list[Problem]) -> tuple[dict[str, str], set[str]]:
    """The validation definition files' problems (appended to ``problems``); ``({suite: the table
    it runs against}, {definition names})``."""
    suite_tables: dict[str, str] = {}
    vd_names: set[str] = set()
    suite_names = set(list_suites(cdir))
    for path in sorted(store_dir("validation_definitions", cdir).glob("*.json")):
        try:
            vd = read_json_file(path, "validation definition")
        except SuiteFileError as exc:
            problems.append(Problem(project_relative(path), None, str(exc).split(": ", 1)[1]))
            continue
        vd_names.add(vd.get("name", path.stem))
        suite = (vd.get("suite") or {}).get("name")
        asset = ((vd.get("data") or {}).get("asset") or {}).get("name")
        if suite not in suite_names:
            problems.append(Problem(project_relative(path), None, f"names suite {suite!r}, which has no file"))
        if asset not in tables:
            problems.append(
                Problem(project_relative(path), None, f"names data asset {asset!r}, which the data source lacks")
            )
        elif suite:
            suite_tables[suite] = tables[asset]
    return suite_tables, vd_names


def _lint_suites(
    cdir: Path, suite_tables: dict[str, str], known_types: set, columns: dict | None, url: str | None
) -> list[Problem]:
    """Each suite file's problems, its rules' one by one, and the rule keys across all suites."""
    from ytempire_dq.rules.suite_files import missing_id

    problems: list[Problem] = []
    docs: dict[str, dict] = {}
    for path in sorted(store_dir("suites", cdir).glob("*.json")):
        rel = project_relative(path)
        try:
            doc = docs[rel] = read_suite_file(path)
        except SuiteFileError as exc:
            problems.append(Problem(rel, None, str(exc).split(": ", 1)[1]))
            continue
        table = suite_tables.get(doc["name"])
        for i, exp in enumerate(doc["expectations"]):
            if not exp.get("id"):
                problems.append(
                    Problem(
                        rel,
                        (exp.get("meta") or {}).get("rule_id"),
                        (
                            f"expectation #{i + 1} ({exp['type']}) has no id: runs give it "
                            f"{missing_id(doc['name'], i, exp)} while it stays at #{i + 1}; "
                            "`ytdq suite lint --fix` writes it into the file"
                        ),
                        "warning",
                    )
                )
            problems += _lint_expectation(rel, i, exp, table, known_types, columns, url)
    return problems + rule_key_problems(docs)


def _lint_checkpoint_files(cdir: Path, vd_names: set[str]) -> list[Problem]:
    """The checkpoint files' problems: unreadable, or naming a validation definition with no file."""
    problems: list[Problem] = []
    for path in sorted(store_dir("checkpoints", cdir).glob("*.json")):
        try:
            cp = read_json_file(path, "checkpoint")
        except SuiteFileError as exc:
            problems.append(Problem(project_relative(path), None, str(exc).split(": ", 1)[1]))
            continue
        for ref in cp.get("validation_definitions") or []:
            if (ref or {}).get("name") not in vd_names:
                problems.append(
                    Problem(project_relative(path), None, f"names validation definition {ref!r}, which has no file")
                )
    return problems


_WS = " \t\r\n"


def _members(text: str, at: int) -> tuple[list[tuple[str, int, int, int]], int]:
    """The members of the JSON object starting at ``text[at] == "{"``: ``[(key, key start, key
    end, value start, value end)]`` as offsets into ``text``, and the offset after its ``}``."""
    decoder, out, i = json.JSONDecoder(), [], at + 1
    while True:
        while text[i] in _WS + ",":
            i += 1
        if text[i] == "}":
            return out, i + 1
        key, key_end = decoder.raw_decode(text, i)
        j = key_end
        while text[j] in _WS + ":":
            j += 1
        _, value_end = decoder.raw_decode(text, j)
        out.append((key, i, key_end, j, value_end))
        i = value_end


def _elements(text: str, at: int) -> list[int]:
    """The start offsets of the elements of the JSON array starting at ``text[at] == "["``."""
    decoder, out, i = json.JSONDecoder(), [], at + 1
    while True:
        while text[i] in _WS + ",":
            i += 1
        if text[i] == "]":
            return out
        out.append(i)
        _, i = decoder.raw_decode(text, i)


def _id_insertion(text: str, at: int, id_: str) -> tuple[int, int, str]:
    """What to write (``text[start:end]`` replaced) so the rule object at ``text[at]`` holds
    ``"id"``, in the object's own layout: in key order when its keys are sorted, else first; the
    spacing copied from the object's own members, so a one-per-line object gains exactly one line.
    An ``"id": null`` or ``""`` gets its value replaced."""
    members, _ = _members(text, at)
    keys = [m[0] for m in members]
    if "id" in keys:
        member = members[keys.index("id")]
        return member[3], member[4], json.dumps(id_)
    item = json.dumps("id") + text[members[0][2] : members[0][3]] + json.dumps(id_)
    between = text[members[0][4] : members[1][1]] if len(members) > 1 else ", "
    n = next((k for k, key in enumerate(keys) if key > "id"), len(keys)) if keys == sorted(keys) else 0
    if n == len(members):  # after the last member
        return members[-1][4], members[-1][4], between + item
    if n:
        between = text[members[n - 1][4] : members[n][1]]
    return members[n][1], members[n][1], item + between


def fix_ids(config_dir: Path | str | None = None) -> list[dict]:
    """Write an ``id`` into every rule of the suite files that has none: the very id runs already
    gave it (:func:`ytempire_dq.rules.suite_files.missing_id`), so results and Data Docs of earlier runs
    still match. A text edit: the file gains the id lines and nothing else changes, whatever its
    layout. Malformed files are left alone (lint reports them). Returns ``[{"file", "ids"}]`` of
    changed files."""
    from ytempire_dq.rules.suite_files import missing_id

    changed = []
    for path in sorted(store_dir("suites", config_dir).glob("*.json")):
        try:
            doc = read_suite_file(path)
        except SuiteFileError:
            continue
        todo = [i for i, exp in enumerate(doc["expectations"]) if not exp.get("id")]
        if not todo:
            continue
        text = path.read_text()
        start = len(text) - len(text.lstrip(_WS))
        array = next(m for m in _members(text, start)[0] if m[0] == "expectations")[3]
        rules = _elements(text, array)
        for i in reversed(todo):  # from the end: earlier offsets stay valid
            begin, end, insert = _id_insertion(text, rules[i], missing_id(doc["name"], i, doc["expectations"][i]))
            text = text[:begin] + insert + text[end:]
        path.write_text(text)
        changed.append({"file": project_relative(path), "ids": len(todo)})
    return changed


def _lint_expectation(
    rel: str,
    i: int,
    exp: dict,
    table: str | None,
    known_types: set[str],
    columns: dict[str, set[str]] | None,
    url: str | None,
) -> list[Problem]:
    out: list[Problem] = []
    meta = exp.get("meta") or {}
    rule_id = meta.get("rule_id")
    label = rule_id or f"expectation #{i + 1} ({exp['type']})"

    def add(msg: str) -> None:
        out.append(Problem(rel, rule_id, msg if rule_id else f"{label}: {msg}"))

    # a missing or repeated rule_id: rule_key_problems (across suites)
    if rule_id and not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z0-9_]+", rule_id):
        add(f"rule_id {rule_id!r} is not table.rule_name (lowercase, underscores)")
    if not (exp.get("description") or "").strip():
        add("no description")
    if exp["type"] not in known_types:
        add(f"unknown expectation type {exp['type']!r} (GX would drop this rule silently)")
        return out
    try:
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        ExpectationConfiguration(type=exp["type"], kwargs=exp.get("kwargs") or {}, meta=meta).to_domain_obj()
    except Exception as exc:  # noqa: BLE001 - pydantic, GX and the classes' own validators: reported, lint goes on
        add(f"GX rejects the parameters: {config.one_line(exc, 300)}")
        return out
    kwargs = exp.get("kwargs") or {}
    sql = _lint_sql_rule(kwargs.get("unexpected_rows_query"), table, add)
    if columns is None:
        return out
    for t, cols in _column_refs(exp["type"], kwargs, table):
        if t not in columns:
            add(f"table {t!r} does not exist in the database")
            continue
        for c in cols:
            if c not in columns[t]:
                add(f"column {c!r} is not in table {t!r}")
    if sql and url:
        error = _explain(url, sql)
        if error:
            add(f"SQL rule does not run: {error}{_alias_hint(kwargs['unexpected_rows_query'])}")
    return out


def _lint_sql_rule(query: Any, table: str | None, add: Any) -> str | None:
    """The SQL GX would run for a SQL rule, if it is one read-only SELECT (else reported, None)."""
    from ytempire_dq.sql_guard import RefusedSQL, check_query

    if not isinstance(query, str):
        return None
    if table is None and "{batch}" in query:
        add("SQL rule in a suite that no validation definition runs: cannot check {batch}")
        return None
    try:
        sql = substitute_batch(query, table or "")
        check_query(sql)
    except (KeyError, IndexError, ValueError) as exc:
        add(f"SQL rule: cannot substitute {{batch}}: {exc}")
    except RefusedSQL as exc:
        add(f"SQL rule {exc}{_alias_hint(query)}")
    else:
        return sql
    return None


def _column_refs(type_: str, kwargs: dict, table: str | None) -> list[tuple[str, list[str]]]:
    """[(table, [columns])] an expectation refers to: what a project expectation declares
    (``table_columns``), else the batch's table and GX's column parameters."""
    from ytempire_dq.expectations import table_references

    refs = table_references(type_, kwargs)
    if refs is not None:
        return [(t.rpartition(".")[2] if t.startswith("public.") else t, cols) for t, cols in refs]
    if table is None:
        return []
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    for k in ("column_list", "column_set"):
        if isinstance(kwargs.get(k), list) and k != "column_set":
            cols += kwargs[k]
    if isinstance(kwargs.get("column_set"), list):
        cols += kwargs["column_set"]  # the expected columns must exist too
    return [(table, cols)]


def _lint_checkpoints_load(cdir: Path, url: str | None) -> list[Problem]:
    """Checkpoints GX cannot load (unknown action type, bad reference)."""
    from ytempire_dq.gx.context import open_context

    out = []
    try:
        ctx = open_context(cdir, database_url=url or "postgresql+psycopg2://lint@localhost/lint")
    except YtdqError as exc:
        return [Problem(project_relative(cdir / "great_expectations.yml"), None, str(exc))]
    gx_log = logging.getLogger("great_expectations")
    level = gx_log.level
    gx_log.setLevel(logging.CRITICAL)  # the suite problems are reported above; GX would log them again
    try:
        for path in sorted(store_dir("checkpoints", cdir).glob("*.json")):
            try:
                ctx.checkpoints.get(path.stem)
            except Exception as exc:  # noqa: BLE001 - lint reports whatever GX raises, file by file, and goes on
                out.append(
                    Problem(project_relative(path), None, f"GX cannot load the checkpoint: {config.one_line(exc, 300)}")
                )
    finally:
        gx_log.setLevel(level)
    return out
