"""Suites as files: list, show, lint; and building Data Docs.

The suite JSON files (``expectations/*.json``, GX's own format) are the source of truth. GX
silently drops an expectation whose type it does not know when it loads a suite, so this module
reads the files itself: :func:`read_suite_file` is what both ``lint`` and the checkpoint
runner's pre-flight use, and its errors name the file and the problem.

``list_suites``/``show_suite`` need no GX import (fast); ``lint`` and ``docs_build`` open the
context through :func:`ytempire_dq.context.open_context`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ytempire_dq import config, gx_compat
from ytempire_dq.errors import YtdqError, with_hint

log = logging.getLogger(__name__)

#: The yml key naming each store (the store names themselves are ours: see great_expectations.yml).
STORE_NAME_KEYS = {
    "suites": "expectations_store_name",
    "checkpoints": "checkpoint_store_name",
    "validation_definitions": "validation_definition_store_name",
}
DEFAULT_STORE_NAMES = {
    "suites": "expectations_store",
    "checkpoints": "checkpoint_store",
    "validation_definitions": "validation_definition_store",
}

#: Which kwargs of our cross-table expectations name a table and which name that table's columns.
#: (field holding the table name, [fields holding columns of it]); dict fields use their keys.
CROSS_TABLE_COLUMNS: dict[str, list[tuple[str, list[str]]]] = {
    "expect_column_values_to_exist_in_table": [("table", ["column"]), ("referenced_table", ["referenced_column"])],
    "expect_child_aggregate_to_match_parent_column": [
        ("table", ["key_column", "parent_column"]),
        ("child_table", ["child_key_column", "child_column"]),
    ],
    "expect_child_count_per_parent_within_limit": [
        ("table", ["key_column", "limit_column"]),
        ("child_table", ["child_key_column", "child_filter"]),
    ],
    # cross-store (the batch is the Redis snapshot; only their PostgreSQL side is checked here)
    "expect_column_values_to_match_table_column": [("table", ["table_key_column", "table_column"])],
    "expect_column_values_to_reference_active_rows": [
        ("table", ["table_key_column"]),
        ("status_table", ["status_key_column", "status_column"]),
    ],
    "expect_column_values_to_be_within_table_category_limit": [("table", ["table_key_column", "category_column"])],
}


class SuiteFileError(YtdqError):
    """A suite, checkpoint or validation definition file that cannot be used as it is."""


@dataclass(frozen=True)
class Problem:
    """One lint finding: which file, which rule (if any), what is wrong."""

    file: str
    rule_id: str | None
    message: str
    level: str = "error"  # "warning": could not check (e.g. database unreachable)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.rule_id}]" if self.rule_id else "")
        return f"{where}: {self.level}: {self.message}"


# ---------------------------------------------------------------------------------------------
# where things are


def config_dir_of(config_dir: Path | str | None) -> Path:
    return Path(config_dir).resolve() if config_dir is not None else config.PROJECT_ROOT / "gx"


def _read_yml(config_dir: Path) -> dict:
    from ruamel.yaml import YAML  # GX's own YAML library

    path = config_dir / "great_expectations.yml"
    try:
        return YAML(typ="safe").load(path.read_text()) or {}
    except FileNotFoundError:
        raise YtdqError(f"no GX configuration at {path}") from None
    except Exception as exc:  # noqa: BLE001 - any YAML error
        raise YtdqError(f"{path}: not valid YAML: {exc}") from None


def store_dir(kind: str, config_dir: Path | str | None = None) -> Path:
    """The directory of a store (``suites``, ``checkpoints``, ``validation_definitions``)."""
    cdir = config_dir_of(config_dir)
    yml = _read_yml(cdir)
    name = yml.get(STORE_NAME_KEYS[kind]) or DEFAULT_STORE_NAMES[kind]
    base = (((yml.get("stores") or {}).get(name) or {}).get("store_backend") or {}).get("base_directory")
    if not base:
        raise YtdqError(f"{cdir / 'great_expectations.yml'}: no base_directory for {name}")
    return (cdir / base).resolve()


def asset_tables(config_dir: Path | str | None = None) -> dict[str, str | None]:
    """{asset name: table name} of the data sources in the yml; ``None`` for an asset that is no
    table (the ``cache`` data source's dataframe: its columns are not the database's)."""
    fluent = _read_yml(config_dir_of(config_dir)).get("fluent_datasources") or {}
    out = {}
    for ds in fluent.values():
        for name, asset in (ds.get("assets") or {}).items():
            out[name] = asset.get("table_name") or (name if asset.get("type") in (None, "table") else None)
    return out


# ---------------------------------------------------------------------------------------------
# reading files


def read_json_file(path: Path, what: str = "file") -> dict:
    """A JSON object from ``path``; anything else raises :class:`SuiteFileError` naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SuiteFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteFileError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise SuiteFileError(f"{path}: a {what} must be a JSON object, not {type(doc).__name__}")
    return doc


def read_suite_file(path: Path) -> dict:
    """A suite file's JSON, checked for the shape GX needs (name, list of typed expectations)."""
    doc = read_json_file(path, "suite")
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise SuiteFileError(f'{path}: the suite has no "name"')
    if doc["name"] != Path(path).stem:
        raise SuiteFileError(f"{path}: the suite is named {doc['name']!r} but the file is {Path(path).name}")
    exps = doc.get("expectations")
    if not isinstance(exps, list):
        raise SuiteFileError(f'{path}: "expectations" must be a list')
    for i, exp in enumerate(exps):
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise SuiteFileError(f'{path}: expectation #{i + 1} has no "type"')
        if not isinstance(exp.get("kwargs", {}), dict):
            raise SuiteFileError(f'{path}: expectation #{i + 1} ({exp["type"]}): "kwargs" must be an object')
        if not isinstance(exp.get("meta", {}) or {}, dict):
            raise SuiteFileError(f'{path}: expectation #{i + 1} ({exp["type"]}): "meta" must be an object')
    return doc


def suite_path(name: str, config_dir: Path | str | None = None) -> Path:
    return store_dir("suites", config_dir) / f"{name}.json"


def list_suites(config_dir: Path | str | None = None) -> list[str]:
    """Suite names (file stems in the expectations store), sorted."""
    return sorted(p.stem for p in store_dir("suites", config_dir).glob("*.json"))


def _rule_row(exp: dict) -> dict:
    kwargs = exp.get("kwargs") or {}
    column = (
        kwargs.get("column")
        or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
        or (f"{kwargs['column_A']},{kwargs['column_B']}" if kwargs.get("column_A") else None)
    )
    meta = exp.get("meta") or {}
    return {
        "rule_id": meta.get("rule_id"),
        "type": exp["type"],
        "column": column,
        "description": exp.get("description"),
        "enforced_by": meta.get("enforced_by"),
        "kwargs": kwargs,
    }


def show_suite(name: str, config_dir: Path | str | None = None) -> dict:
    """{"name", "file", "expectations": [{rule_id, type, column, description, enforced_by, kwargs}]} of one suite."""
    path = suite_path(name, config_dir)
    if not path.is_file():
        known = ", ".join(list_suites(config_dir)) or "none"
        raise YtdqError(f"no suite {name!r}; known suites: {known}")
    doc = read_suite_file(path)
    return {"name": doc["name"], "file": str(path), "expectations": [_rule_row(e) for e in doc["expectations"]]}


# ---------------------------------------------------------------------------------------------
# checks shared by lint and the checkpoint runner's pre-flight


def registered_expectation_types() -> set[str]:
    """Every expectation type GX knows now (core + ours once registered)."""
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return set(list_registered_expectation_implementations())


def check_suite_loads(ctx: Any, path: Path) -> None:
    """Raise :class:`SuiteFileError` unless GX loads EVERY expectation of the suite file.

    GX drops an expectation of an unknown type with only a log line; running such a suite would
    quietly skip the rule (and saving it would delete it), so the run is refused instead.
    """
    doc = read_suite_file(path)
    known = registered_expectation_types()
    unknown = sorted({e["type"] for e in doc["expectations"]} - known)
    if unknown:
        raise SuiteFileError(
            f"{path}: unknown expectation type(s) {', '.join(unknown)} "
            "(not a GX expectation and not one of ytempire_dq.expectations)"
        )
    try:
        suite = ctx.suites.get(doc["name"])
    except Exception as exc:  # noqa: BLE001 - GX raises many kinds here
        raise SuiteFileError(f"{path}: GX cannot load the suite: {exc}") from None
    if len(suite.expectations) != len(doc["expectations"]):
        raise SuiteFileError(
            f"{path}: GX loaded {len(suite.expectations)} of the file's "
            f"{len(doc['expectations'])} expectations (invalid parameters?)"
        )


def _place(rel: str, i: int) -> str:
    return f"{rel} #{i + 1}"


def rule_key_problems(docs: dict[str, dict]) -> list[Problem]:
    """Errors in what results are keyed by, across the suites ``{file: suite JSON}`` (all the
    suites of a project, or of one checkpoint): a rule without ``meta.rule_id``, a ``rule_id`` or
    an expectation ``id`` used twice (in one suite or across suites). Each names every place."""
    problems: list[Problem] = []
    rule_ids: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    first_file: dict[str, str] = {}
    for rel, doc in docs.items():
        for i, exp in enumerate(doc["expectations"]):
            rule_id = (exp.get("meta") or {}).get("rule_id")
            if not rule_id:
                problems.append(
                    Problem(
                        rel,
                        None,
                        f"expectation #{i + 1} ({exp['type']}): no meta.rule_id "
                        "(every rule needs one: history, quarantine and alerts key on it)",
                    )
                )
            else:
                rule_ids.setdefault(str(rule_id), []).append(_place(rel, i))
                first_file.setdefault(str(rule_id), rel)
            if exp.get("id"):
                ids.setdefault(str(exp["id"]), []).append(_place(rel, i))
                first_file.setdefault("id:" + str(exp["id"]), rel)
    for rule_id, places in rule_ids.items():
        if len(places) > 1:
            problems.append(
                Problem(
                    first_file[rule_id],
                    rule_id,
                    f"rule_id {rule_id!r} is used {len(places)} times: {', '.join(places)} (rule_ids must be unique)",
                )
            )
    for id_, places in ids.items():
        if len(places) > 1:
            problems.append(
                Problem(
                    first_file["id:" + id_],
                    None,
                    f"expectation id {id_!r} is used {len(places)} "
                    f'times: {", ".join(places)} (delete the copies\' "id"; `ytdq suite lint --fix` '
                    "writes new ones)",
                )
            )
    return problems


def check_rule_keys(paths: list[Path], what: str) -> None:
    """Raise :class:`SuiteFileError` (one line, every place named) when :func:`rule_key_problems`
    finds any in the suite files ``paths``; ``what`` says what refuses (e.g. a checkpoint)."""
    problems = rule_key_problems({_rel(p): read_suite_file(p) for p in paths})
    if problems:
        details = "; ".join(f"{p.file}: {p.message}" if p.file not in p.message else p.message for p in problems)
        raise SuiteFileError(f"{what}: {details} (see `ytdq suite lint`)")


# ---------------------------------------------------------------------------------------------
# lint


def substitute_batch(query: str, table: str) -> str:
    """The SQL GX 1.24 runs for ``query`` against a whole-table batch of ``table``.

    GX substitutes ``{batch}`` with ``(SELECT * FROM table WHERE true) AS subselect`` unless the
    query contains a JOIN, when it leaves the alias to the author: ``(SELECT ...)``.
    """
    sub = f"(SELECT * FROM {table} WHERE true)"
    if not gx_compat.query_has_join(query):
        sub += " AS subselect"
    return query.format(batch=sub)


def _alias_hint(query: str) -> str:
    """GX's {batch} rule trips analysts: name the fix when the query breaks it."""
    aliased = re.search(r"\{batch\}\s+(AS\s+)?(?!WHERE\b|GROUP\b|ORDER\b|LIMIT\b)[A-Za-z_]", query, re.IGNORECASE)
    if aliased and not gx_compat.query_has_join(query):
        return (
            " (hint: without a JOIN, GX aliases {batch} itself as 'subselect': write FROM {batch} with no alias, "
            "and qualify columns as subselect.col if needed)"
        )
    if not aliased and gx_compat.query_has_join(query):
        return " (hint: with a JOIN, GX leaves {batch} unaliased: write FROM {batch} AS t)"
    return ""


def _db_columns(url: str) -> dict[str, set[str]]:
    """{table: {columns}} of the database's current schema; unreachable: :class:`YtdqError`
    (naming the masked URL and ``--offline``)."""
    from ytempire_dq.db.connect import connect

    try:
        conn = connect(url, connect_timeout=3)
    except YtdqError as exc:
        raise YtdqError(f"{with_hint(str(exc))}; or lint without the database: ytdq suite lint --offline") from None
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            )
            out: dict[str, set[str]] = {}
            for t, c in cur.fetchall():
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


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(config.PROJECT_ROOT))
    except ValueError:
        return str(path)


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
    from ytempire_dq.context import register_plugins
    from ytempire_dq.gx_stores import missing_id  # imports GX

    cdir = config_dir_of(config_dir)
    register_plugins()
    known_types = registered_expectation_types()
    problems: list[Problem] = []
    tables = asset_tables(cdir)
    url = None if offline else (database_url or config.database_url())
    columns = None if offline else _db_columns(url)
    if offline:
        problems.append(Problem(_rel(cdir / "great_expectations.yml"), None, OFFLINE_SKIPPED, "warning"))
    elif not set(columns) & {t for t in tables.values() if t}:
        raise YtdqError(
            f"{config.mask_url(url)} has none of the tables the suites check: is the database "
            "migrated? (ytdq db migrate; or lint without the database: ytdq suite lint --offline)"
        )

    # validation definitions: which asset (table) each suite runs against
    suite_tables: dict[str, str] = {}
    vd_names: set[str] = set()
    vd_dir = store_dir("validation_definitions", cdir)
    suite_names = set(list_suites(cdir))
    for path in sorted(vd_dir.glob("*.json")):
        try:
            vd = read_json_file(path, "validation definition")
        except SuiteFileError as exc:
            problems.append(Problem(_rel(path), None, str(exc).split(": ", 1)[1]))
            continue
        vd_names.add(vd.get("name", path.stem))
        suite = (vd.get("suite") or {}).get("name")
        asset = ((vd.get("data") or {}).get("asset") or {}).get("name")
        if suite not in suite_names:
            problems.append(Problem(_rel(path), None, f"names suite {suite!r}, which has no file"))
        if asset not in tables:
            problems.append(Problem(_rel(path), None, f"names data asset {asset!r}, which the data source lacks"))
        elif suite:
            suite_tables[suite] = tables[asset]

    # suites
    docs: dict[str, dict] = {}
    for path in sorted(store_dir("suites", cdir).glob("*.json")):
        rel = _rel(path)
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
    problems += rule_key_problems(docs)

    # checkpoints
    for path in sorted(store_dir("checkpoints", cdir).glob("*.json")):
        try:
            cp = read_json_file(path, "checkpoint")
        except SuiteFileError as exc:
            problems.append(Problem(_rel(path), None, str(exc).split(": ", 1)[1]))
            continue
        for ref in cp.get("validation_definitions") or []:
            if (ref or {}).get("name") not in vd_names:
                problems.append(Problem(_rel(path), None, f"names validation definition {ref!r}, which has no file"))
    problems += _lint_checkpoints_load(cdir, url)
    return problems


def _json_style(text: str, doc: Any) -> dict | None:
    """The ``json.dumps`` arguments that reproduce ``text`` exactly (GX writes ``indent=2,
    sort_keys=True``); None when none of the usual ones does."""
    for indent in (2, 4, 1, 3, "\t"):
        for sort_keys in (True, False):
            for ensure_ascii in (True, False):
                style = {"indent": indent, "sort_keys": sort_keys, "ensure_ascii": ensure_ascii}
                if json.dumps(doc, **style) == text.rstrip("\n"):
                    return style
    return None


def _with_id(exp: dict, id_: str) -> dict:
    """``exp`` with ``"id"`` where it belongs: in key order when its keys are sorted, else last."""
    keys = [k for k in exp if k != "id"]
    if keys != sorted(keys):
        return {**{k: exp[k] for k in keys}, "id": id_}
    at = next((n for n, k in enumerate(keys) if k > "id"), len(keys))
    return {**{k: exp[k] for k in keys[:at]}, "id": id_, **{k: exp[k] for k in keys[at:]}}


def fix_ids(config_dir: Path | str | None = None) -> list[dict]:
    """Write an ``id`` into every rule of the suite files that has none: the very id runs already
    gave it (:func:`ytempire_dq.gx_stores.missing_id`), so results and Data Docs of earlier runs
    still match. The file keeps its layout (indent, key order, trailing newline) when it is one
    ``json.dumps`` writes; otherwise it is written the way GX writes suites. Malformed files are
    left alone (lint reports them). Returns ``[{"file", "ids", "reformatted"}]`` of changed files."""
    from ytempire_dq.gx_stores import missing_id  # imports GX

    changed = []
    for path in sorted(store_dir("suites", config_dir).glob("*.json")):
        try:
            doc = read_suite_file(path)
        except SuiteFileError:
            continue
        text = path.read_text()
        style = _json_style(text, doc)
        todo = [i for i, exp in enumerate(doc["expectations"]) if not exp.get("id")]
        if not todo:
            continue
        for i in todo:
            exp = doc["expectations"][i]
            doc["expectations"][i] = _with_id(exp, missing_id(doc["name"], i, exp))
        written = json.dumps(doc, **(style or {"indent": 2, "sort_keys": True}))
        path.write_text(written + ("\n" if text.endswith("\n") or style is None else ""))
        changed.append({"file": _rel(path), "ids": len(todo), "reformatted": style is None})
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
    except Exception as exc:  # noqa: BLE001 - pydantic and GX errors
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
    """[(table, [columns])] an expectation refers to."""
    if type_ in CROSS_TABLE_COLUMNS:
        refs = []
        for tfield, cfields in CROSS_TABLE_COLUMNS[type_]:
            t = kwargs.get(tfield)
            if not t:
                continue
            cols: list[str] = []
            for f in cfields:
                v = kwargs.get(f, "id" if f == "referenced_column" else None)
                cols += list(v) if isinstance(v, dict) else ([v] if v else [])
            refs.append((t.rpartition(".")[2], cols))
        return refs
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
    from ytempire_dq.context import open_context

    out = []
    try:
        ctx = open_context(cdir, database_url=url or "postgresql+psycopg2://lint@localhost/lint")
    except YtdqError as exc:
        return [Problem(_rel(cdir / "great_expectations.yml"), None, str(exc))]
    gx_log = logging.getLogger("great_expectations")
    level = gx_log.level
    gx_log.setLevel(logging.CRITICAL)  # the suite problems are reported above; GX would log them again
    try:
        for path in sorted(store_dir("checkpoints", cdir).glob("*.json")):
            try:
                ctx.checkpoints.get(path.stem)
            except Exception as exc:  # noqa: BLE001
                out.append(Problem(_rel(path), None, f"GX cannot load the checkpoint: {config.one_line(exc, 300)}"))
    finally:
        gx_log.setLevel(level)
    return out


# ---------------------------------------------------------------------------------------------
# Data Docs


def docs_build(config_dir: Path | str | None = None) -> Path:
    """Rebuild Data Docs from the stored suites and results; the path of ``index.html``."""
    from ytempire_dq.context import open_context

    cdir = config_dir_of(config_dir)
    ctx = open_context(cdir, database_url=config.database_url(required=False) or "postgresql://unused/unused")
    return build_docs(ctx)


def new_suite(name: str, asset: str, *, checkpoint: str | None = None, config_dir: Path | str | None = None) -> dict:
    """An empty suite ``name`` for data asset ``asset`` and its validation definition (added to
    ``checkpoint`` when given), written by GX itself so the files are in GX's format; an analyst then
    appends rules to the suite file. Names already taken and unknown assets are refused."""
    import great_expectations as gx

    from ytempire_dq.context import open_context

    cdir = config_dir_of(config_dir)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise YtdqError(f"suite name {name!r}: use lower-case letters, digits and '_' (it names the file)")
    if name in list_suites(cdir) or (store_dir("validation_definitions", cdir) / f"{name}.json").exists():
        raise YtdqError(f"suite {name!r} exists already: {_rel(suite_path(name, cdir))}")
    ctx = open_context(cdir, database_url=config.database_url(required=False) or "postgresql://unused/unused")
    found = [ds for ds in ctx.data_sources.all().values() if asset in {a.name for a in ds.assets}]
    if not found:
        raise YtdqError(f"unknown data asset {asset!r}; known: {', '.join(sorted(asset_tables(cdir)))}")
    if checkpoint is not None:
        cp = _existing_checkpoint(ctx, checkpoint, cdir)
    batch_definition = found[0].get_asset(asset).batch_definitions[0]
    suite = ctx.suites.add(gx.ExpectationSuite(name=name))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
    if checkpoint is not None:
        cp.validation_definitions.append(vd)
        cp.save()
    return {
        "suite": _rel(suite_path(name, cdir)),
        "asset": asset,
        "checkpoint": checkpoint,
        "validation_definition": _rel(store_dir("validation_definitions", cdir) / f"{name}.json"),
    }


def _existing_checkpoint(ctx: Any, name: str, cdir: Path) -> Any:
    from ytempire_dq.checkpoints import list_checkpoints

    known = list_checkpoints(config_dir=cdir)
    if name not in known:
        raise YtdqError(f"unknown checkpoint {name!r}; known: {', '.join(known)}")
    return ctx.checkpoints.get(name)


def build_docs(ctx: Any) -> Path:
    sites = ctx.build_data_docs()
    return docs_index(ctx, sites)


def docs_index(ctx: Any, sites: dict | None = None) -> Path:
    """Path of the local site's ``index.html``."""
    url = (sites or {}).get("local_site")
    if url and url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(url).path))
    return Path(ctx.root_directory) / "uncommitted" / "data_docs" / "local_site" / "index.html"
