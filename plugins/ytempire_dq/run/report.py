"""The ONE place that reads GX validation results into ytempire-dq's report shape.

GX 1.24 gives two result shapes, and this module is where they meet:

- **row-level (map) rules** (``expect_column_values_to_*``, compound unique, column pairs):
  ``result.unexpected_count`` and ``result.partial_unexpected_list``;
- **query rules** (core ``unexpected_rows_expectation``; our cross-table custom expectations
  built on it): ``result.observed_value`` is the number of bad rows (ours also set
  ``unexpected_count`` and a ``partial_unexpected_list``);
- **table-level rules** (column set, column types): only ``observed_value``;
- **a rule that could not run** (SQL error, missing column): GX does not raise; the result has
  ``success=False`` and ``exception_info``, either flat or keyed by metric id.

:class:`RunReport` is what ``ytdq checkpoint run`` prints (``failed_rules``), writes with
``--json`` (``to_dict``) and turns into an exit code (``exit_code``).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from ytempire_dq.config import mask_secrets, safe_prefix
from ytempire_dq.errors import ExitCode, hint
from ytempire_dq.gx import validator as gx_steps
from ytempire_dq.gx.results import raised_info
from ytempire_dq.pii import mask_error, reads_personal
from ytempire_dq.rules.suite_files import rule_column
from ytempire_dq.values import jsonable, map_leaves, plural

#: Sample values kept per failed rule in the terminal table.
SAMPLE_VALUES = 5
#: Characters kept of any data value (sample, observed value) in --json, stored results and Data
#: Docs; a longer one becomes its first VALUE_CHARS characters and ``…(N chars)``.
VALUE_CHARS = 200
#: Characters kept of an error text (message, traceback), which may quote data values.
ERROR_CHARS = 2000
#: Items kept of a list in a result (GX's partial lists hold 20; COMPLETE lists are unbounded).
LIST_ITEMS = 100


#: A UUID in text (a cut never splits one: a half id reads like a whole, wrong, one).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _cut_at(text: str, limit: int) -> int:
    """``limit``, or the end of the UUID a cut at ``limit`` would split (at most 35 more)."""
    for match in _UUID.finditer(text, max(0, limit - 35), limit + 35):
        if match.start() < limit < match.end():
            return match.end()
    return limit


def bounded_text(text: str, limit: int = VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (never inside a URL's password, nor inside a UUID:
    the cut then moves to its end) plus ``…(N chars)``.
    Cut BEFORE any regex or rendering: nothing downstream sees more than this."""
    if len(text) <= limit:
        return text
    return f"{safe_prefix(text, _cut_at(text, limit))}…({len(text)} chars)"


def bounded(value: Any, limit: int = VALUE_CHARS) -> Any:
    """``value`` with every string in it bounded (:func:`bounded_text`) and every list cut to
    LIST_ITEMS items; bytes become bounded text. Numbers, None, bools are kept."""

    def leaf(item: Any) -> Any:
        if isinstance(item, str):
            return bounded_text(item, limit)
        if isinstance(item, (bytes, bytearray, memoryview)):
            text = bytes(item[: limit + 1]).decode("utf-8", "backslashreplace")
            return text if len(item) <= limit else f"{text[:limit]}…({len(item)} bytes)"
        return item

    return map_leaves(value, leaf, max_items=LIST_ITEMS)


@dataclass
class RuleResult:
    """One expectation's outcome."""

    rule_id: str | None
    expectation_type: str
    table: str | None
    column: str | None
    success: bool
    unexpected_count: int | None = None
    observed_value: Any = None
    partial_unexpected_list: list = field(default_factory=list)
    error: str | None = None  # the rule could not run (SQL error, missing column, ...)
    expectation_id: str | None = None  # GX's id of the expectation: what results join rules by
    sentence: str | None = None  # the rule in words (:func:`rule_sentence`), for JUnit and the like
    description: str | None = None
    element_count: int | None = None  # rows a map rule read (an incremental run: the new rows)
    daily_values: dict | None = None  # a seasonal rule's window, kept for the next runs (not in --json)

    def to_dict(self) -> dict:
        return {
            "rule_id": self.rule_id,
            "expectation_id": self.expectation_id,
            "expectation_type": self.expectation_type,
            "column": self.column,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "observed_value": jsonable(self.observed_value),
            "partial_unexpected_list": jsonable(self.partial_unexpected_list),
            "error": self.error,
        }


@dataclass
class ValidationReport:
    """One validation definition's outcome (a suite against a data asset)."""

    suite: str
    asset: str | None
    success: bool
    results: list[RuleResult]
    seconds: float | None = None  # how long it took, when known (the JUnit test suite's time)
    #: what the fast path did (``ytempire_dq.run.validation``): ``{"rules": n, "fell_back":
    #: [{"rule_id", "cause"}], ...}``; None when GX alone validated it
    fast_path: dict | None = None

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "asset": self.asset,
            "success": self.success,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass
class RunReport:
    """A checkpoint run: the verdict, where its Data Docs are, and every rule's outcome."""

    checkpoint: str
    success: bool
    run_id: str
    data_docs: str | None
    validations: list[ValidationReport]
    seconds: float = 0.0
    action_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: validate, actions
    database_url: str | None = None  # masked; named by the hint of a connection lost mid-run
    source: str | None = None  # the checked database's name in the results store (config.source_name)
    snapshot: dict | None = None  # the run's database instant: {"id", "taken_at", "txids"} (ytempire_dq.run.snapshot)
    scan: dict | None = None  # full or incremental, from which watermark (ytempire_dq.run.incremental)
    #: what the run could not keep though the verdict stands (a rule's offending rows not
    #: quarantined): a ``warning:`` line each on the terminal, and in --json
    jobs: int = 1  # validation definitions validated at a time (run.jobs)
    warnings: list[str] = field(default_factory=list)
    #: the run's history could not be written (store URL masked, the cause, the fix): exit code 2
    history_error: str | None = None
    #: a standby more than YTDQ_MAX_REPLICA_LAG behind: ``{"seconds", "max_seconds", "as_of",
    #: "message"}`` (its message is also one of ``warnings``); not a failure of the data
    replica_lag: dict | None = None
    #: the rules retried once after a recovery conflict on a standby (ytempire_dq.run.standby)
    recovery_conflicts: list[dict] = field(default_factory=list)

    @property
    def as_of(self) -> str | None:
        """When the run's data is as of (ISO): the snapshot's time on a primary, the replay
        position's on a standby (``ytempire_dq.run.snapshot.AS_OF_SQL``)."""
        return (self.snapshot or {}).get("as_of")

    @property
    def replica_lag_seconds(self) -> float | None:
        """How far a standby's data is behind its primary; None on a primary."""
        return (self.snapshot or {}).get("replica_lag_seconds")

    @property
    def exit_code(self) -> ExitCode:
        """2 when any rule could not be evaluated (a broken run is never "bad data") or the run's
        history could not be written (never lost in silence), else 0 or 1."""
        if self.history_error is not None or any(r.error is not None for r in self.rules()):
            return ExitCode.RUN_FAILED
        return ExitCode.OK if self.success else ExitCode.DATA_FAILED

    def to_dict(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "success": self.success,
            "exit_code": int(self.exit_code),
            "run_id": self.run_id,
            "source": self.source,
            "data_docs": self.data_docs,
            "snapshot": self.snapshot,
            "as_of": self.as_of,
            "replica_lag_seconds": self.replica_lag_seconds,
            "replica_lag": self.replica_lag,
            "recovery_conflicts": [dict(r) for r in self.recovery_conflicts],
            "scan": self.scan,
            "errors": self.errors(),
            "warnings": list(self.warnings),
            "jobs": self.jobs,
            "action_errors": list(self.action_errors),
            "fast_path": self.fast_path(),
            "history_error": self.history_error,
            "validations": [v.to_dict() for v in self.validations],
        }

    def fast_path(self) -> dict:
        """``{"rules": <rules the fast path validated>, "fell_back": [{"rule_id", "cause"}]}``: each
        step of a rule that the fast path left to GX alone, with its cause (also logged)."""
        fast = [v.fast_path for v in self.validations if v.fast_path]
        return {
            "rules": sum(int(f.get("rules") or 0) for f in fast),
            "fell_back": [dict(item) for f in fast for item in f.get("fell_back") or []],
        }

    def errors(self) -> list[dict]:
        """The distinct causes of the rules that could not run, first seen first:
        ``[{"cause", "hint", "rule_ids"}]``."""
        by_cause: dict[str, list[str]] = {}
        for r in self.rules():
            if r.error is not None:
                by_cause.setdefault(error_cause(r.error), []).append(r.rule_id or f"? ({r.expectation_type})")
        return [{"cause": cause, "hint": self._hint(cause), "rule_ids": ids} for cause, ids in by_cause.items()]

    def _hint(self, cause: str) -> str | None:
        fix = hint(cause)
        if fix and "DATABASE_URL" in fix and self.database_url and self.database_url not in cause:
            fix = f"{fix} ({self.database_url})"
        return fix

    def error_lines(self, shown: int = 5) -> list[str]:
        """One line per distinct cause: how many rules it hit, the cause, its fix, the rule_ids."""
        lines = []
        for e in self.errors():
            ids = e["rule_ids"]
            names = ", ".join(ids[:shown]) + (f" … and {len(ids) - shown} more" if len(ids) > shown else "")
            count = f"{plural(len(ids), 'rule')} could not run"
            lines.append(f"{count}: {e['cause']}" + (f" — {e['hint']}" if e["hint"] else "") + f" [{names}]")
        return lines

    def rules(self) -> list[RuleResult]:
        return [r for v in self.validations for r in v.results]

    def rule(self, rule_id: str) -> RuleResult:
        """The result of one rule by id (``KeyError`` if the run has no such rule)."""
        for r in self.rules():
            if r.rule_id == rule_id:
                return r
        raise KeyError(rule_id)

    def failed_rules(self) -> list[dict]:
        """Rows for the terminal table: rule_id, table, bad_rows, sample (a few values), error."""
        rows = []
        for r in self.rules():
            if r.success:
                continue
            rows.append(
                {
                    "rule_id": r.rule_id,
                    "table": r.table,
                    "bad_rows": r.unexpected_count,
                    "sample": [jsonable(v) for v in r.partial_unexpected_list[:SAMPLE_VALUES]],
                    "error": r.error,
                }
            )
        return rows


# ---------------------------------------------------------------------------------------------
# reading GX objects


def exception_message(exception_info: Any, personal: bool = False) -> str | None:
    """The first raised exception's message in ``exception_info`` (flat or keyed by metric id);
    ``personal``: the rule reads a personal column, so the values the message quotes are masked
    (:func:`ytempire_dq.pii.mask_error`; a result that came through the results store is already)."""
    info = raised_info(exception_info)  # whether it raised: the one reading (ytempire_dq.gx.results)
    if info is None:
        return None
    message = bounded_text(str(info.get("exception_message") or "exception without a message"), ERROR_CHARS)
    # SQLAlchemy appends the statement and a background link: keep the first lines
    message = message.split("\n(Background on this error")[0].strip()
    return mask_error(mask_secrets(message), personal)  # a password, e-mail addresses, quoted values


def error_cause(error: str) -> str:
    """The cause shared by rules that failed alike: the message's first line without the driver's
    class prefix (``(psycopg2.errors.UndefinedTable) relation "users" does not exist`` -> ``relation
    "users" does not exist``); the SQL and position lines that differ per rule are dropped."""
    first = next((line.strip() for line in error.splitlines() if line.strip()), error.strip())
    first = re.sub(r"^\([\w.]+\)\s*", "", first)
    return re.sub(r"^(ERROR|FATAL):\s+", "", first)


def rule_table(expectation_type: str | None, kwargs: dict, definition_table: str | None) -> str | None:
    """The table a rule's rows are in: a cross-table rule's own ``table`` parameter, else its
    validation definition's table (``definition_table``: ``[schema.]table``, for the cache the
    asset's name). Never the ``rule_id``'s prefix: two suites may use one prefix, and a cross-store
    rule's ``table`` is the table it looks values up in, not where its rows are. The one answer
    for the report, the JSON and JUnit outputs and the history."""
    from great_expectations.exceptions import ExpectationNotFoundError

    from ytempire_dq.expectations._cross_table import CrossTableExpectation
    from ytempire_dq.gx.compat import expectation_class

    own = kwargs.get("table")
    if not (isinstance(own, str) and own and expectation_type):
        return definition_table
    try:
        impl = expectation_class(expectation_type)
    except ExpectationNotFoundError:
        return definition_table
    return own if issubclass(impl, CrossTableExpectation) else definition_table


def read_expectation_result(evr: Any, default_table: str | None = None) -> RuleResult:
    """One GX ``ExpectationValidationResult`` as a :class:`RuleResult`; ``default_table``: its
    validation definition's table (:func:`rule_table`)."""
    config = evr.expectation_config
    kwargs = dict(config.kwargs or {})
    meta = dict(config.meta or {})
    rule_id = meta.get("rule_id")
    table = rule_table(config.type, kwargs, default_table)
    result = gx_steps.as_stored(dict(evr.result or {}))  # as stored: numeric samples as floats, either path
    error = exception_message(evr.exception_info, reads_personal(kwargs))

    unexpected_count = result.get("unexpected_count")
    observed = bounded(result.get("observed_value"))
    if unexpected_count is None and _is_count(observed) and _is_query_rule(config):
        unexpected_count = observed  # query rules: observed_value is the bad-row count
    partial = result.get("partial_unexpected_list") or []
    if not partial and isinstance(result.get("details"), dict):
        rows = result["details"].get("unexpected_rows")
        if isinstance(rows, list):
            partial = rows[:20]
    return RuleResult(
        rule_id=rule_id,
        expectation_type=config.type,
        table=table,
        column=rule_column(kwargs),
        success=bool(evr.success) and error is None,
        unexpected_count=int(unexpected_count) if unexpected_count is not None else None,
        observed_value=observed,
        partial_unexpected_list=bounded(list(partial)),
        error=error,
        expectation_id=config.id,
        sentence=rule_sentence(config),
        description=config.description,
        element_count=result["element_count"] if isinstance(result.get("element_count"), int) else None,
        daily_values=_daily_values(result),
    )


def _daily_values(result: dict) -> dict | None:
    """A seasonal rule's days for ``dq.daily_values`` (its result's ``details``), if it kept them."""
    details = result.get("details")
    found = details.get("daily_values") if isinstance(details, dict) else None
    return found if isinstance(found, dict) else None


def rule_sentence(config: Any) -> str | None:
    """The rule in words: our custom rules' sentence with every parameter filled in (what Data Docs
    shows), GX's own rules their description (GX shows it instead of its sentence too)."""
    from great_expectations.exceptions import ExpectationNotFoundError

    from ytempire_dq.gx.compat import expectation_class

    try:
        impl = expectation_class(config.type)
        template, values = impl._sentence(impl._parameters(dict(config.kwargs or {})))
    except (ExpectationNotFoundError, AttributeError):  # unknown, or not one of ours (no _sentence): the description
        return config.description
    return bounded_text(string.Template(template).safe_substitute(values), ERROR_CHARS)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_query_rule(config: Any) -> bool:
    """Core ``unexpected_rows_expectation`` or any expectation class built on it."""
    return config.type == "unexpected_rows_expectation" or "unexpected_rows_query" in _model_fields(config)


def _model_fields(config: Any) -> set[str]:
    """Field names of the expectation class behind ``config`` (empty if unknown)."""
    from great_expectations.exceptions import ExpectationNotFoundError

    from ytempire_dq.gx.compat import expectation_class

    try:
        return set(expectation_class(config.type).__fields__)
    except ExpectationNotFoundError:  # unknown types simply have no fields here
        return set()


def read_validation_result(
    vr: Any, *, suite: str | None = None, asset: str | None = None, table: str | None = None
) -> ValidationReport:
    """One GX ``ExpectationSuiteValidationResult`` as a :class:`ValidationReport` (rules in suite
    order); ``table``: its definition's ``[schema.]table`` (``locations.definition_table``; default:
    the asset's name)."""
    meta = dict(vr.meta or {})
    suite = suite or meta.get("expectation_suite_name") or getattr(vr, "suite_name", None) or "?"
    if asset is None:
        batch = meta.get("active_batch_definition") or {}
        asset = batch.get("data_asset_name") if isinstance(batch, dict) else getattr(batch, "data_asset_name", None)
    results = [read_expectation_result(evr, table or asset) for evr in vr.results]
    success = bool(vr.success) and all(r.success for r in results)
    fast = meta.get("ytdq_fast")  # ytempire_dq.run.validation.FAST_META
    return ValidationReport(
        suite=suite, asset=asset, success=success, results=results, fast_path=fast if isinstance(fast, dict) else None
    )


def rule_key(rule: Any, suite: str) -> str:
    """The rule's id; a rule without ``meta.rule_id`` (a run refuses those; kept for old results)
    is keyed ``<suite>.<expectation id>``, never by a name another rule could share."""
    return rule.rule_id or f"{suite}.{rule.expectation_id or rule.expectation_type}"
