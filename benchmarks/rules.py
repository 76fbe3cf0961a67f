"""The suites' rules, translated once into the two references the benchmark compares GX with.

- **The floor** (:func:`floor_statements`): what a person would hand-write to evaluate every rule
  of ``expectations/*.json`` with as little work as the database allows: per table ONE statement
  with a ``count(*) FILTER (WHERE <rule broken>)`` per row-level rule (a single scan), plus one
  grouped query per uniqueness rule and per cross-table rule, plus one catalog query for the
  column-set and column-type rules of all tables. Each count is the rule's bad-row count as GX
  reports it (``unexpected_count``; for cross-table rules ``observed_value``), so the floor
  also checks that the benchmark's runs agree on what is broken.
- **The peer** (:func:`sodacl`): the same rules as SodaCL checks for Soda Core v3, written the
  way a Soda user would (built-in metrics where SodaCL has one; row conditions as user-defined
  metric expressions, which Soda folds into its one aggregate query per table; reference checks
  for orphans; ``failed rows`` queries for the two aggregate cross-table rules).

The translation is generated from the suite files, so a rule added to a suite shows up in both
(an expectation type it does not know raises, rather than being left out silently). The one
exception, by name: the volume/drift rules (``ytempire_dq.expectations.HISTORY_BAND_TYPES``) judge a metric against the
run history in schema ``dq``, which neither reference keeps (Soda's counterpart, anomaly
detection, needs Soda Cloud); they are left out of both and of the parity, and GX's count for
them is None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout (its .venv)
TABLES = ("users", "channels", "videos", "analytics", "api_keys", "workflows")


def q(name: str) -> str:
    """A double-quoted SQL identifier (suite names are plain identifiers; quoted anyway)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value) -> str:
    """A SQL literal for the plain values suites hold (str, int, float)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Rule:
    rule_id: str
    type: str
    table: str
    kwargs: dict


@dataclass
class Statement:
    """One floor statement: its SQL and the rule ids whose counts it returns (column order)."""

    label: str
    sql: str
    rule_ids: list[str] = field(default_factory=list)


def table_suites(project: Path | None = None) -> dict[str, str | None]:
    """``{suite: its table}`` of the project's suites on the six tables (an analyst's own
    suites and drafts included, from their validation definitions), and ``cross_table`` (None)."""
    from ytempire_dq import config

    project = project or config.PROJECT_ROOT
    out: dict[str, str | None] = {}
    for path in sorted((project / "validation_definitions").glob("*.json")):
        doc = json.loads(path.read_text())
        asset = doc["data"]["asset"]["name"]
        if doc["suite"]["name"] == "cross_table":  # its rules name their own tables (its batch is on users)
            out["cross_table"] = None
        elif asset in TABLES:
            out[doc["suite"]["name"]] = asset
    return out


def load_rules(project: Path | None = None) -> list[Rule]:
    """The rules of the project's table suites (:func:`table_suites`; the project home,
    ``YTDQ_HOME``, by default); an analyst's SQL rule that is not one SELECT is refused here
    (RefusedSQL), before the floor or Soda pastes it into their statements."""
    from ytempire_dq import config
    from ytempire_dq.expectations import HISTORY_BAND_TYPES  # judged against the run history: not translated
    from ytempire_dq.sql_guard import check_suite_rules

    project = project or config.PROJECT_ROOT
    rules = []
    for suite, table in table_suites(project).items():
        path = project / "expectations" / f"{suite}.json"
        data = json.loads(path.read_text())
        check_suite_rules(path, data, table)
        for exp in data["expectations"]:
            if exp["type"] in HISTORY_BAND_TYPES:
                continue
            kw = {k: v for k, v in exp["kwargs"].items() if v is not None}
            rules.append(Rule(exp["meta"]["rule_id"], exp["type"], table or kw.get("table"), kw))
    return rules


#: What an analyst's ``{batch}`` becomes in the floor: GX's own substitution, whose alias
#: (``subselect``) the floor's one pass over the table also gives it.
BATCH_ALIAS = "subselect"


def sql_rule(rule: Rule) -> str:
    """The analyst's query with ``{batch}`` filled in exactly as the run fills it."""
    from ytempire_dq.sql_guard import substitute_batch

    return substitute_batch(rule.kwargs["unexpected_rows_query"], q(rule.table))


def _sql_rule_predicate(rule: Rule) -> str | None:
    """The condition of a query ``SELECT ... FROM {batch} WHERE <cond>`` (no JOIN, grouping or
    second FROM level): true for a row of the table aliased :data:`BATCH_ALIAS` that the query
    returns; None for any other query (it is counted as its own statement)."""
    query = rule.kwargs["unexpected_rows_query"]
    batch = f"(SELECT * \nFROM {q(rule.table)} \nWHERE true) AS {BATCH_ALIAS} WHERE "
    sql = sql_rule(rule)
    if batch not in sql or any(w in query.upper() for w in (" JOIN ", " GROUP BY ", " HAVING ")):
        return None
    head, cond = sql.split(batch, 1)
    if not head.upper().startswith("SELECT ") or "{batch}" not in query.split("WHERE", 1)[0]:
        return None
    return cond


# ----------------------------------------------------------------------------------------------
# row-level predicates ("this row breaks the rule")


_COMPARISONS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _row_condition(cond: dict | None) -> str | None:
    if not cond:
        return None
    if cond.get("type") == "comparison" and cond.get("operator") in _COMPARISONS:
        return f"{q(cond['column']['name'])} {_COMPARISONS[cond['operator']]} {lit(cond['parameter'])}"
    if cond.get("type") == "comparison" and cond.get("operator") in ("IN", "NOT_IN"):
        values = ", ".join(lit(v) for v in cond["parameter"])
        return f"{q(cond['column']['name'])} {'NOT IN' if cond['operator'] == 'NOT_IN' else 'IN'} ({values})"
    raise ValueError(f"row_condition not translated: {cond}")


def broken_predicate(rule: Rule) -> str | None:
    """SQL that is true for a row breaking ``rule`` (on the rows its ``row_condition`` selects);
    None for rules that are not row-level."""
    pred = _broken(rule)
    extra = _row_condition(rule.kwargs.get("row_condition"))
    if pred is None or extra is None:
        return pred
    return f"({extra}) AND ({pred})"


def _broken(rule: Rule) -> str | None:
    kw, t = rule.kwargs, rule.type
    col = q(kw["column"]) if "column" in kw else None
    if t == "expect_column_values_to_not_be_null":
        return f"{col} IS NULL"
    if t == "expect_column_values_to_be_null":
        return f"{col} IS NOT NULL"
    if t == "expect_column_values_to_match_regex":
        return f"{col} !~ {lit(kw['regex'])}"
    if t == "expect_column_values_to_not_match_regex":
        return f"{col} ~ {lit(kw['regex'])}"
    if t == "expect_column_values_to_be_in_set":
        return f"{col} NOT IN ({', '.join(lit(v) for v in kw['value_set'])})"
    if t == "expect_column_values_to_be_between":
        parts = []
        if "min_value" in kw:
            parts.append(f"{col} < {lit(kw['min_value'])}")
        if "max_value" in kw:
            parts.append(f"{col} > {lit(kw['max_value'])}")
        return " OR ".join(parts)
    if t == "expect_column_value_lengths_to_be_between":
        parts = []
        if "min_value" in kw:
            parts.append(f"length({col}) < {lit(kw['min_value'])}")
        if "max_value" in kw:
            parts.append(f"length({col}) > {lit(kw['max_value'])}")
        return " OR ".join(parts)
    if t == "expect_column_pair_values_a_to_be_greater_than_b":
        op = "<" if kw.get("or_equal") else "<="
        return f"{q(kw['column_A'])} {op} {q(kw['column_B'])}"
    if t == "unexpected_rows_expectation":
        # "SELECT ... FROM {batch} WHERE <cond>": the condition is the predicate (aggregate
        # queries, e.g. the analytics freshness rule, are counted as their own statement)
        return _sql_rule_predicate(rule)
    return None


def _grouped_unique(table: str, columns: list[str]) -> str:
    cols = ", ".join(q(c) for c in columns)
    not_null = " AND ".join(f"{q(c)} IS NOT NULL" for c in columns)
    return (
        f"SELECT coalesce(sum(n), 0)::bigint FROM (SELECT count(*) AS n FROM {q(table)} "
        f"WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1) d"
    )


def _cross(rule: Rule) -> str:
    kw, t = rule.kwargs, rule.type
    if t == "expect_column_values_to_exist_in_table":
        return (
            f"SELECT count(*) FROM {q(kw['table'])} c WHERE c.{q(kw['column'])} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {q(kw['referenced_table'])} p "
            f"WHERE p.{q(kw.get('referenced_column', 'id'))} = c.{q(kw['column'])})"
        )
    if t == "expect_child_count_per_parent_within_limit":
        limits = ", ".join(f"({lit(k)}, {int(v)})" for k, v in kw["limits"].items())
        filt = " AND ".join(f"c.{q(k)} = {lit(v)}" for k, v in (kw.get("child_filter") or {}).items()) or "TRUE"
        return (
            f"SELECT count(*) FROM (SELECT c.{q(kw['child_key_column'])} FROM {q(kw['child_table'])} c "
            f"JOIN {q(kw['table'])} p ON p.{q(kw['key_column'])} = c.{q(kw['child_key_column'])} "
            f"JOIN (VALUES {limits}) l(v, n) ON l.v = p.{q(kw['limit_column'])}::text "
            f"WHERE {filt} GROUP BY c.{q(kw['child_key_column'])}, l.n HAVING count(*) > l.n) o"
        )
    if t == "expect_child_aggregate_to_match_parent_column":
        return (
            f"SELECT count(*) FROM {q(kw['table'])} p LEFT JOIN (SELECT {q(kw['child_key_column'])} AS k, "
            f"{kw.get('aggregate', 'sum')}({q(kw['child_column'])}) AS v FROM {q(kw['child_table'])} "
            f"GROUP BY {q(kw['child_key_column'])}) a ON a.k = p.{q(kw['key_column'])} "
            f"WHERE abs(coalesce(a.v, 0) - p.{q(kw['parent_column'])}) > {lit(kw.get('tolerance', 100))}"
        )
    if t == "expect_column_newest_value_to_be_recent":  # freshness: stale keys (or 0/1 for the table)
        keys = [q(kw["key_column"])] if kw.get("key_column") else []
        where = " AND ".join(f"{q(k)} = {lit(v)}" for k, v in (kw.get("where") or {}).items()) or "TRUE"
        cutoff = (
            f"localtimestamp - interval '{float(kw['max_age']) * 3600} seconds'"
            if kw.get("unit") == "hours"
            else f"(current_date - {int(kw['max_age'])})::timestamp"
        )
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        return (
            f"SELECT count(*) FROM (SELECT max({q(kw['column'])}) AS newest FROM {q(kw['table'])} "
            f"WHERE {where}{group}) g WHERE g.newest::timestamp < {cutoff}"
        )
    if t == "unexpected_rows_expectation":  # a JOIN query: count its rows
        return f"SELECT count(*) FROM ({sql_rule(rule)}) r"
    raise ValueError(f"{rule.rule_id}: expectation type {t} not translated")


SCHEMA_TYPES = ("expect_table_columns_to_match_set", "expect_column_values_to_be_in_type_list")
UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def floor_statements(rules: list[Rule]) -> list[Statement]:
    """Every statement of the floor, in order: catalog, one pass per table, grouped queries."""
    out = [
        Statement(
            "catalog",
            "SELECT table_name, column_name, data_type, character_maximum_length, "
            "numeric_precision, numeric_scale, udt_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%(tables)s)",
            [r.rule_id for r in rules if r.type in SCHEMA_TYPES],
        )
    ]
    for table in TABLES:
        row = [(r, broken_predicate(r)) for r in rules if r.table == table and r.type not in SCHEMA_TYPES]
        row = [(r, p) for r, p in row if p is not None and r.type not in UNIQUE_TYPES]
        if row:
            cols = ",\n  ".join(f"count(*) FILTER (WHERE {p})" for _, p in row)
            out.append(
                Statement(
                    f"{table}: one pass",
                    f"SELECT\n  {cols}\nFROM {q(table)} AS {BATCH_ALIAS}",
                    [r.rule_id for r, _ in row],
                )
            )
    for r in rules:
        if r.type in UNIQUE_TYPES:
            cols = r.kwargs.get("column_list") or [r.kwargs["column"]]
            out.append(Statement(f"{r.rule_id}: grouped", _grouped_unique(r.table, cols), [r.rule_id]))
    for r in rules:
        if r.type not in SCHEMA_TYPES + UNIQUE_TYPES and broken_predicate(r) is None:
            out.append(Statement(f"{r.rule_id}: grouped", _cross(r), [r.rule_id]))
    return out


# GX type names (as in the suites) -> what information_schema says
def _catalog_type(row: tuple) -> str:
    _, _, data_type, char_len, prec, scale, udt = row
    base = {
        "uuid": "UUID",
        "integer": "INTEGER",
        "date": "DATE",
        "text": "TEXT",
        "bigint": "BIGINT",
        "timestamp without time zone": "TIMESTAMP WITHOUT TIME ZONE",
        "boolean": "BOOLEAN",
        "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    }.get(data_type)
    if base:
        return base
    if data_type == "character varying":
        return f"VARCHAR({char_len})"
    if data_type == "character":
        return f"CHAR({char_len})"
    if data_type == "numeric":
        return f"NUMERIC({prec}, {scale})"
    if data_type == "ARRAY":
        return udt.lstrip("_").upper() + "[]"
    return data_type.upper()


def schema_counts(rules: list[Rule], catalog_rows: list[tuple]) -> dict[str, int]:
    """0/1 per column-set/type rule from the catalog query's rows."""
    cols: dict[str, dict[str, str]] = {}
    for row in catalog_rows:
        cols.setdefault(row[0], {})[row[1]] = _catalog_type(row)
    out = {}
    for r in rules:
        have = cols.get(r.table, {})
        if r.type == "expect_table_columns_to_match_set":
            want = set(r.kwargs["column_set"])
            ok = want == set(have) if r.kwargs.get("exact_match", True) else want <= set(have)
            out[r.rule_id] = 0 if ok else 1
        elif r.type == "expect_column_values_to_be_in_type_list":
            out[r.rule_id] = 0 if have.get(r.kwargs["column"]) in r.kwargs["type_list"] else 1
    return out


def run_floor(conn, rules: list[Rule], statements: list[Statement] | None = None) -> dict[str, int]:
    """Run the floor on a psycopg2 connection; ``{rule_id: bad-row count}`` for every rule. It
    holds analysts' SQL: one READ ONLY transaction with the statement timeout, as everywhere."""
    from ytempire_dq.sql_guard import begin_read_only

    statements = statements or floor_statements(rules)
    counts: dict[str, int] = {}
    autocommit, conn.autocommit = conn.autocommit, False
    try:
        with conn.cursor() as cur:
            begin_read_only(cur)
            for st in statements:
                cur.execute(st.sql, {"tables": list(TABLES)} if st.label == "catalog" else None)
                if st.label == "catalog":
                    counts.update(schema_counts(rules, cur.fetchall()))
                else:
                    counts.update(zip(st.rule_ids, (int(v) for v in cur.fetchone())))
    finally:
        conn.rollback()
        conn.autocommit = autocommit
    return counts


COUNT_STAR = [f"SELECT count(*) FROM {q(t)}" for t in TABLES]


# ----------------------------------------------------------------------------------------------
# SodaCL


_SODA_TYPES = {
    "UUID": "uuid",
    "INTEGER": "integer",
    "DATE": "date",
    "TEXT": "text",
    "TEXT[]": "ARRAY",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp without time zone",
}


def _soda_type(gx_type: str) -> str:
    if gx_type in _SODA_TYPES:
        return _SODA_TYPES[gx_type]
    if gx_type.startswith("VARCHAR"):
        return "character varying"
    if gx_type.startswith("CHAR"):
        return "character"
    if gx_type.startswith("NUMERIC"):
        return "numeric"
    return gx_type.lower()


def _metric_name(rule_id: str) -> str:
    return "bad_" + rule_id.replace(".", "_")


def sodacl_checks(rules: list[Rule]) -> dict[str, list]:
    """``{"checks for <table>": [check, ...]}`` as plain data (dumped to YAML by the caller)."""
    by_table: dict[str, list] = {t: [] for t in TABLES}
    types: dict[str, dict[str, str]] = {}
    for r in rules:
        kw, t = r.kwargs, r.type
        checks = by_table[r.table]
        col = kw.get("column")
        if kw.get("row_condition") and broken_predicate(r) is not None:  # built-in metrics take no condition
            m = _metric_name(r.rule_id)
            checks.append(
                {
                    f"{m} = 0": {
                        "name": r.rule_id,
                        f"{m} expression": f"SUM(CASE WHEN {broken_predicate(r)} THEN 1 ELSE 0 END)",
                    }
                }
            )
        elif t == "expect_table_columns_to_match_set":
            checks.append({"schema": {"name": r.rule_id, "fail": {"when required column missing": kw["column_set"]}}})
        elif t == "expect_column_values_to_be_in_type_list":
            types.setdefault(r.table, {})[col] = _soda_type(kw["type_list"][0])
        elif t == "expect_column_values_to_not_be_null" and not kw.get("row_condition"):
            checks.append({f"missing_count({col}) = 0": {"name": r.rule_id}})
        elif t == "expect_column_values_to_be_unique":
            checks.append({f"duplicate_count({col}) = 0": {"name": r.rule_id}})
        elif t == "expect_compound_columns_to_be_unique":
            checks.append({f"duplicate_count({', '.join(kw['column_list'])}) = 0": {"name": r.rule_id}})
        elif t == "expect_column_values_to_match_regex":
            checks.append({f"invalid_count({col}) = 0": {"name": r.rule_id, "valid regex": kw["regex"]}})
        elif t == "expect_column_values_to_be_in_set":
            checks.append({f"invalid_count({col}) = 0": {"name": r.rule_id, "valid values": kw["value_set"]}})
        elif t == "expect_column_values_to_be_between":
            spec = {"name": r.rule_id}
            if "min_value" in kw:
                spec["valid min"] = kw["min_value"]
            if "max_value" in kw:
                spec["valid max"] = kw["max_value"]
            checks.append({f"invalid_count({col}) = 0": spec})
        elif t == "expect_column_value_lengths_to_be_between":
            checks.append({f"invalid_count({col}) = 0": {"name": r.rule_id, "valid min length": kw["min_value"]}})
        elif t == "expect_column_values_to_exist_in_table":
            checks.append(
                {
                    f"values in ({col}) must exist in {kw['referenced_table']} ({kw.get('referenced_column', 'id')})": {
                        "name": r.rule_id
                    }
                }
            )
        elif broken_predicate(r) is not None and not (
            t == "unexpected_rows_expectation" and BATCH_ALIAS in kw["unexpected_rows_query"]
        ):  # row conditions: a metric in the aggregate query (Soda's has no alias)
            m = _metric_name(r.rule_id)
            checks.append(
                {
                    f"{m} = 0": {
                        "name": r.rule_id,
                        f"{m} expression": f"SUM(CASE WHEN {broken_predicate(r)} THEN 1 ELSE 0 END)",
                    }
                }
            )
        else:  # aggregate cross-table rules and JOIN queries: failed rows by query
            sql = _cross(r)
            inner = (
                sql[len("SELECT count(*) FROM (") : -len(") o")]
                if r.type == "expect_child_count_per_parent_within_limit"
                else None
            )
            if inner is None:
                inner = sql.replace("SELECT count(*) FROM", "SELECT * FROM", 1)
                if r.type == "unexpected_rows_expectation":
                    inner = sql_rule(r)
            checks.append({"failed rows": {"name": r.rule_id, "fail query": inner}})
    for table, cols in types.items():
        by_table[table].append({"schema": {"name": f"{table}.column_types", "fail": {"when wrong column type": cols}}})
    return {f"checks for {t}": c for t, c in by_table.items() if c}


def sodacl_yaml(rules: list[Rule]) -> str:
    # JSON is valid YAML 1.2 and SodaCL's parser (ruamel) reads it; no YAML writer needed here.
    return json.dumps(sodacl_checks(rules), indent=1)
