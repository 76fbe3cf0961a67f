"""A faster way to run a checkpoint's rules, with the same verdicts and bad-row counts (issue 4, item 2).

:func:`run_checkpoint_fast` validates a checkpoint's validation definitions like
:func:`ytempire_dq.checkpoints.run_checkpoint` (same suites, same data assets, same
:class:`~ytempire_dq.results.RunReport`), pulling the two levers that the benchmarks measured as
worth it (``benchmarks/results.md``, "Item 2"):

1. **Uniqueness proved from the catalog.** A uniqueness rule (``expect_column_values_to_be_unique``,
   ``expect_compound_columns_to_be_unique``, no ``row_condition``, no ``mostly``) on a PostgreSQL
   table is not run when ONE ``pg_index`` query shows a unique index on exactly its columns that
   is valid, live, immediate (not deferrable), without predicate or expression: PostgreSQL then
   guarantees no two rows share a non-NULL key, which is what the rule counts. GX would
   otherwise compute ``count(*) OVER (PARTITION BY ...)`` over the whole table (the slowest
   statement of nightly: ~2.2 s of 6.2 s at 1M analytics rows). The rule's result says how it
   was proved: ``observed_value = "proved by unique index <name> (pg_index: valid, unique,
   immediate)"``, ``unexpected_count = 0``. Where the index is missing (a copy restored without
   constraints) or invalid (a failed ``CREATE INDEX CONCURRENTLY``), GX runs the rule as usual.
2. **No sample query on clean rules.** Pass 1 runs every other rule with ``result_format``
   ``{"result_format": "BASIC", "partial_unexpected_count": 0}``: GX still computes every bad-row
   count (bundled per table), but each map rule's sample query becomes ``LIMIT 0``, which
   PostgreSQL answers without reading the table (under SUMMARY each clean rule's ``LIMIT 20``
   sample query scans its table end to end, finding nothing). Pass 2 re-runs only the rules that
   failed, with the checkpoint's own result format, for their sample values; on a clean night
   there is no pass 2.

Not done here (``run_checkpoint`` does it): storing validation results, running the
checkpoint's actions (Data Docs). So this is the fast *check*; the report it returns has the
same shape (``ytdq checkpoint run --json``), ``run_id`` marked ``fast``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.context import open_context
from ytempire_dq.results import RuleResult, RunReport, ValidationReport, read_validation_result

UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
NO_SAMPLES = {"result_format": "BASIC", "partial_unexpected_count": 0}

PROOF_SQL = """
SELECT t.relname, i.relname, array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE x.indisunique AND x.indisvalid AND x.indislive AND x.indimmediate
  AND x.indpred IS NULL AND x.indexprs IS NULL
  AND n.nspname = coalesce(:schema, current_schema())
GROUP BY t.relname, i.relname
"""


def unique_indexes(engine: Any, schema: str | None = None) -> dict[tuple[str, frozenset], str]:
    """``{(table, frozenset(columns)): index name}`` of the indexes that prove uniqueness."""
    import sqlalchemy as sa  # noqa: PLC0415

    with engine.connect() as conn:
        rows = conn.execute(sa.text(PROOF_SQL), {"schema": schema}).fetchall()
    return {(table, frozenset(cols)): index for table, index, cols in rows}


def _unique_columns(exp: Any) -> frozenset | None:
    """The columns a plain uniqueness rule covers; None when it is not one we can prove."""
    if exp.expectation_type not in UNIQUE_TYPES:
        return None
    if getattr(exp, "row_condition", None) or getattr(exp, "mostly", 1) not in (None, 1, 1.0):
        return None
    cols = getattr(exp, "column_list", None) or [getattr(exp, "column", None)]
    return frozenset(cols) if all(cols) else None


def _table_of(vd: Any) -> tuple[str | None, str | None, Any]:
    """(table, schema, SQLAlchemy engine) of a validation definition's PostgreSQL table asset."""
    asset = vd.data.data_asset if hasattr(vd.data, "data_asset") else vd.asset
    table = getattr(asset, "table_name", None)
    ds = asset.datasource
    if table is None or getattr(ds, "type", None) not in ("postgres", "sql"):
        return None, None, None
    schema = getattr(asset, "schema_name", None)
    return table, schema if isinstance(schema, str) else None, ds.get_engine()


def _proved_result(exp: Any, table: str, index: str) -> RuleResult:
    return RuleResult(
        rule_id=(exp.meta or {}).get("rule_id"), expectation_type=exp.expectation_type, table=table,
        column=getattr(exp, "column", None) or ", ".join(getattr(exp, "column_list", []) or []),
        success=True, unexpected_count=0,
        observed_value=f"proved by unique index {index} (pg_index: valid, unique, immediate)")


def _validate(batch: Any, suite_name: str, expectations: list, result_format: Any) -> ValidationReport:
    from great_expectations.core import ExpectationSuite  # noqa: PLC0415

    suite = ExpectationSuite(name=suite_name, expectations=[copy.copy(e) for e in expectations])
    return read_validation_result(batch.validate(suite, result_format=result_format), suite=suite_name)


def run_checkpoint_fast(name: str, *, config_dir: Path | str | None = None, database_url: str | None = None,
                        prove_unique: bool = True, samples: bool = True) -> RunReport:
    """Validate checkpoint ``name``'s definitions with the two levers above; a :class:`RunReport`.

    ``timings`` has ``validate`` (seconds), ``proved`` (how many rules the catalog proved) and
    ``rerun`` (how many failed rules pass 2 re-ran for samples).
    """
    started = time.perf_counter()
    url = database_url or config.database_url()
    ctx = open_context(config_dir, database_url=url)
    checkpoint = ctx.checkpoints.get(name)
    result_format = checkpoint.result_format or "SUMMARY"
    t_validate = time.perf_counter()
    proofs: dict[int, dict] = {}
    validations, proved, rerun = [], 0, 0
    for vd in checkpoint.validation_definitions:
        expectations = list(vd.suite.expectations)
        table, schema, engine = _table_of(vd) if prove_unique else (None, None, None)
        by_index: dict[int, RuleResult] = {}
        if table is not None:
            key = id(engine)
            if key not in proofs:
                proofs[key] = unique_indexes(engine, schema)
            for i, exp in enumerate(expectations):
                cols = _unique_columns(exp)
                index = proofs[key].get((table, cols)) if cols else None
                if index:
                    by_index[i] = _proved_result(exp, table, index)
        proved += len(by_index)
        rest = [(i, e) for i, e in enumerate(expectations) if i not in by_index]
        batch = vd.batch_definition.get_batch()
        if rest:
            first = _validate(batch, vd.suite.name, [e for _, e in rest], NO_SAMPLES)
            for (i, _), rule in zip(rest, _in_order([e for _, e in rest], first)):
                by_index[i] = rule
            # failed rules without samples yet (the cross-table ones bring theirs in pass 1)
            failed = [(i, e) for i, e in rest if not by_index[i].success and not by_index[i].partial_unexpected_list]
            fmt = _sample_format(result_format, [by_index[i] for i, _ in failed])
            if samples and failed and fmt is not None:
                rerun += len(failed)
                second = _validate(batch, vd.suite.name, [e for _, e in failed], fmt)
                for (i, _), rule in zip(failed, _in_order([e for _, e in failed], second)):
                    by_index[i] = rule
        rules = [by_index[i] for i in range(len(expectations))]
        validations.append(ValidationReport(suite=vd.suite.name, asset=vd.data.data_asset.name,
                                            success=all(r.success for r in rules), results=rules))
    timings = {"validate": time.perf_counter() - t_validate, "proved": proved, "rerun": rerun}
    return RunReport(checkpoint=name, success=all(v.success for v in validations), run_id=f"{name}-fast",
                     data_docs=None, validations=validations, seconds=time.perf_counter() - started,
                     timings=timings)


def _sample_format(result_format: Any, failed: list[RuleResult]) -> dict | None:
    """Pass 2's result format: the checkpoint's, asking for no more samples than there are bad
    rows (``LIMIT 5`` when 5 rows are bad, so the sample query stops at the 5th instead of
    scanning on for a 20th that does not exist). None when the checkpoint wants no samples."""
    if isinstance(result_format, dict):
        fmt = dict(result_format)
    else:  # a str or GX's ResultFormat enum
        fmt = {"result_format": str(getattr(result_format, "value", result_format))}
    if fmt["result_format"] == "BOOLEAN_ONLY" or fmt.get("partial_unexpected_count") == 0:
        return None
    known = [r.unexpected_count for r in failed if isinstance(r.unexpected_count, int)]
    wanted = fmt.get("partial_unexpected_count", 20)
    if known and len(known) == len(failed):
        wanted = max(1, min(wanted, max(known)))
    fmt["partial_unexpected_count"] = wanted
    return fmt


def _in_order(expectations: list, report: ValidationReport) -> list[RuleResult]:
    """The report's rules in the order of ``expectations`` (GX returns its metric-graph order)."""
    by_rule = {}
    for r in report.results:
        by_rule.setdefault(r.rule_id, []).append(r)
    out = []
    for e in expectations:
        out.append(by_rule[(e.meta or {}).get("rule_id")].pop(0))
    return out
