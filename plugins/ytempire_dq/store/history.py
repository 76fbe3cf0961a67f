"""Run history in PostgreSQL (schema ``dq``, migration 004): runs, per-rule outcomes, quarantined row keys.

Where it is written, and why there: :func:`ytempire_dq.run.checkpoint.run_checkpoint` calls
:func:`record_run` after the run, still holding the checkpoint's run lock, rather than a GX
action doing it. History is a guarantee of every run, like the exit code, not an option a
checkpoint file could drop; it needs the :class:`RunReport` (both GX result shapes already read
the one way), the database URL the run used and the validation definitions' batches; and it
runs whatever the actions did (Redis down included). A failure here is logged as an ERROR and
leaves the verdict, but fails the run: ``RunReport.history_error``, exit code 2 (before the run, the
pre-flight :mod:`ytempire_dq.store.preflight` stops a run whose history could not be written). It is
written with :func:`ytempire_dq.config.store_url` (the checks' own role may not write); the
quarantine reads the offending rows with the checks' URL. The same transaction removes what is past
the retention (:func:`ytempire_dq.store.retention.expire_history`).

Quarantined row keys: :mod:`ytempire_dq.store.quarantine`. The volume/drift rules' values and bands
(``dq.metrics``, migration 005): :mod:`ytempire_dq.store.metrics`, written in the same transaction
as the rule results.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from ytempire_dq import config
from ytempire_dq.db import migrations
from ytempire_dq.errors import YtdqError
from ytempire_dq.locations import definition_table
from ytempire_dq.run.report import RunReport, rule_key, rule_table
from ytempire_dq.store import metrics as metric_history
from ytempire_dq.store.quarantine import QUARANTINE, quarantine_failed_rules
from ytempire_dq.store.streaks import failing_since
from ytempire_dq.values import plural

log = logging.getLogger(__name__)

#: The run's database instant (migration 006; ``ytempire_dq.run.snapshot``).
SNAPSHOT_COLUMNS = ("snapshot_id", "snapshot_at", "snapshot_txids")
AS_OF_COLUMNS = ("as_of", "replica_lag_seconds")  # migration 013; ytempire_dq.run.standby

RUNS = sa.table(
    "runs",
    *(
        sa.column(c)
        for c in (
            "run_id",
            "checkpoint",
            "success",
            "rules_total",
            "rules_failed",
            "started_at",
            "finished_at",
        )
    ),
    schema="dq",
)
#: What a run's row is written with (read queries keep to RUNS: a database before 006 answers them).
RUN_ROW = sa.table(
    "runs",
    *(sa.column(c.name) for c in RUNS.columns),
    *map(sa.column, SNAPSHOT_COLUMNS + AS_OF_COLUMNS),
    sa.column("source"),
    schema="dq",
)
RULE_RESULTS = sa.table(
    "rule_results",
    *(
        sa.column(c)
        for c in (
            "run_id",
            "checkpoint",
            "rule_id",
            "suite",
            "table_name",
            "expectation_type",
            "success",
            "unexpected_count",
            "error",
            "observed_at",
        )
    ),
    schema="dq",
)


def _engine(database_url: str | None) -> sa.Engine:
    from ytempire_dq.db.connect import engine

    return engine(database_url or config.database_url())


def _check_schema(conn: sa.Connection, url: str) -> None:
    if not migrations.has(conn, migrations.HISTORY):
        raise YtdqError(f"no run history in {config.mask_url(url)}: schema dq is missing (run `ytdq db migrate`)")


# ---------------------------------------------------------------------------------------------
# writing


def record_run(report: RunReport, ctx: Any, vds: list, run: Any) -> dict | None:
    """Append ``report`` (and the keys of every failed rule's rows) to the ``dq`` tables; ``ctx``
    and ``vds`` are the run's open Data Context and validation definitions (in the report's order);
    ``run`` (:class:`ytempire_dq.run.state.Run`): its checked database (``source_url``), its snapshot
    (still held: the quarantine reads the rows the run counted), its plan and the row keys it
    already read (:func:`ytempire_dq.store.quarantine.quarantine_failed_rules`). The rows are written
    with ``run.store_url``, by default ``config.store_url`` of the checked database's URL.

    Never raises: a failure is logged as an ERROR, set as ``report.history_error`` (the verdict
    stands, the run exits 2) and ``None`` returned.
    Returns ``{rule_id: quarantined key count}`` for the failed rules whose rows could be keyed.
    """
    store = None
    try:
        url = run.source_url or config.database_url(required=False)
        run.store_url = store = run.store_url or config.store_url(url)
        return _record(report, ctx, vds, url, run.store_url, run)
    except Exception as exc:  # noqa: BLE001 - the verdict stands; the run fails (exit 2) saying why
        reason = config.one_line(exc, 500)
        log.error("run %s of checkpoint %r: history not recorded: %s", report.run_id, report.checkpoint, reason)
        report.history_error = history_error_line(store, _cause(exc))
        return None


def _cause(exc: BaseException) -> str:
    """The first line of the driver's own message (SQLAlchemy appends the statement and its
    parameters: the log file has them), masked and bounded."""
    text = str(getattr(exc, "orig", None) or exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return config.one_line(first, 300)


def history_error_line(store: str | None, reason: str) -> str:
    """The one ``error:`` line of a run whose history could not be written (store URL masked)."""
    from ytempire_dq.errors import hint

    where = config.mask_url(store) if store else "the results store"
    fix = "set YTDQ_STORE_URL to a writable PostgreSQL database"
    if "schema dq is missing" in reason or (hint(reason) or "").startswith("is the database migrated"):
        fix = "run `ytdq db migrate` there, or " + fix
    return f"the run's history was not recorded in {where}: {reason} — {fix}"


def _record(report: RunReport, ctx: Any, vds: list, url: str, store: str, run: Any) -> dict:
    finished = dt.datetime.now(dt.timezone.utc)
    started = finished - dt.timedelta(seconds=report.seconds)
    rules = [(v, r) for v in report.validations for r in v.results]
    tables = _rule_tables(vds, report)
    engine = _engine(store)
    reader = engine if store == url else _engine(url)  # an analyst's SQL runs as the checks' role, never the owner
    from ytempire_dq.run.snapshot import attach_engine

    if run.snapshot is not None:  # the quarantine reads the rows the run counted: the run's snapshot, still held
        # on the checked database only: a store elsewhere cannot import it (nor needs to)
        for each in {id(e): e for e in (engine, reader) if _same_database(e.url, url)}.values():
            attach_engine(each, run.snapshot)  # disposed below, listener and all
    try:
        with engine.begin() as conn:
            _check_schema(conn, store)
            conn.execute(
                sa.insert(RUN_ROW).values(
                    run_id=report.run_id,
                    checkpoint=report.checkpoint,
                    success=report.success,
                    rules_total=len(rules),
                    rules_failed=sum(not r.success for _, r in rules),
                    started_at=started,
                    finished_at=finished,
                    **_snapshot_values(conn, report),
                    **_source_values(conn, run.source or config.source_name(url)),
                )
            )
            from ytempire_dq.run.incremental import record as record_scan

            record_scan(conn, report)  # scan mode and watermarks (migration 008)
            if rules:
                conn.execute(
                    sa.insert(RULE_RESULTS),
                    [
                        {
                            "run_id": report.run_id,
                            "checkpoint": report.checkpoint,
                            "rule_id": rule_key(r, v.suite),
                            "suite": v.suite,
                            "table_name": tables.get((v.suite, r.expectation_id)),
                            "expectation_type": r.expectation_type,
                            "success": r.success,
                            "unexpected_count": r.unexpected_count,
                            "error": r.error,
                            "observed_at": started,
                        }
                        for v, r in rules
                    ],
                )
                metric_history.record(conn, report.run_id, [(rule_key(r, v.suite), r) for v, r in rules], started)
                _keep_daily_values(conn, report, run.source or config.source_name(url), [r for _, r in rules], store)
            _expire(conn, report, vds, store)  # the tool obeys its own retention (ytempire_dq.store.retention)
            # keys in the same transaction (under the run's snapshot a later one would not see the
            # run's row), rule by rule in savepoints: one failing rule's keys query loses only its own
            return quarantine_failed_rules(report, ctx, vds, reader, finished, conn, run)
    finally:
        engine.dispose()
        reader.dispose()


def _same_database(a: Any, b: Any) -> bool:
    """Whether two URLs name one database of one server (the role may differ)."""
    a, b = sa.make_url(a), sa.make_url(b)
    return (a.host, a.port or 5432, a.database) == (b.host, b.port or 5432, b.database)


def retention_days_of(vds: list) -> int:
    """The days the run's history is kept: ``config.retention_days()``, or fewer when a retention
    rule of the run's suites on a ``dq`` table says so (its own ``max_age_days``): what is removed
    is what those rules judge."""
    from ytempire_dq.expectations.expect_column_values_to_be_within_retention import (
        ExpectColumnValuesToBeWithinRetention,
    )

    days = [config.retention_days()]
    for vd in vds:
        for e in vd.suite.expectations:
            if isinstance(e, ExpectColumnValuesToBeWithinRetention) and str(e.table).startswith("dq."):
                days.append(e.days())
    return min(days)


def _keep_daily_values(conn: sa.Connection, report: RunReport, source: str, rules: list, store: str) -> None:
    """Keep the seasonal rules' days for the next runs, in a savepoint of the run's transaction: a
    store that will not take them (a role without INSERT, UPDATE or DELETE on ``dq.daily_values``)
    costs the next run its whole windows, not this run's history; the run says so."""
    try:
        with conn.begin_nested():
            metric_history.record_daily(conn, report.run_id, source, rules)
    except Exception as exc:  # noqa: BLE001 - the history is written; the next run measures every day
        report.warnings.append(
            f"the seasonal rules' days were not kept in {config.mask_url(store)} (the next run measures their "
            f"whole windows): {_cause(exc)}"
        )


def _expire(conn: sa.Connection, report: RunReport, vds: list, store: str) -> None:
    """Remove what is past the retention from the history, in a savepoint of the run's transaction:
    what the store's role may not delete stays, with a warning on the run (the history is written)."""
    from ytempire_dq.store.retention import expire_history

    masked = config.mask_url(store)
    try:
        with conn.begin_nested():
            removed, left = expire_history(conn, retention_days_of(vds))
    except Exception as exc:  # noqa: BLE001 - the history is written; the retention rules will say it
        report.warnings.append(f"history past the retention not removed from {masked}: {config.one_line(exc, 300)}")
        return
    left = {table: n for table, n in left.items() if n}
    if left:
        rows = ", ".join(f"{plural(n, 'row')} of {table}" for table, n in left.items())
        report.warnings.append(
            f"history past the retention not removed from {masked}: the store's role may not DELETE ({rows})"
        )
    if any(removed.values()):
        log.info("run %s: removed past the retention: %s", report.run_id, removed)


def _snapshot_values(conn: sa.Connection, report: RunReport) -> dict:
    """The run's snapshot for ``dq.runs`` (migration 006); nothing, with a warning, before it is applied."""
    snap = report.snapshot
    if not snap:
        return {}
    if not migrations.has(conn, migrations.RUN_SNAPSHOT):
        log.warning(
            "run %s: its snapshot is not recorded: dq.runs has no snapshot_id (run `ytdq db migrate`)", report.run_id
        )
        return {}
    values = {"snapshot_id": snap["id"], "snapshot_at": snap["taken_at"], "snapshot_txids": snap["txids"]}
    if migrations.has(conn, migrations.RUN_AS_OF):
        values.update({c: snap.get(c) for c in AS_OF_COLUMNS})
    return values


def _source_values(conn: sa.Connection, source: str) -> dict:
    """The checked database's name for ``dq.runs`` (migration 011; runs recorded before it are
    adopted by the next run's pre-flight, :func:`ytempire_dq.store.preflight.check_store`)."""
    return {"source": source} if migrations.has(conn, migrations.SOURCES) else {}


def _rule_tables(vds: list, report: RunReport) -> dict[tuple[str, str], str | None]:
    """``{(suite, expectation id): table}``: the table a rule's rows are in, from its validation
    definition's asset (a cross-table rule: its own ``table``; the cache: the asset's name), never
    from the ``rule_id``'s prefix (two suites may use one prefix): :func:`rule_table`."""
    tables = {}
    for vd, validation in zip(vds, report.validations):
        default = definition_table(vd) or validation.asset
        for e in vd.suite.expectations:
            tables[(validation.suite, e.id)] = rule_table(e.expectation_type, e.configuration.kwargs, default)
    return tables


def _store(store_url: str | None) -> str:
    """The results store the history is read from: ``store_url``, else :func:`ytempire_dq.config.store_url`
    (``YTDQ_STORE_URL``; unset, the checked database), where the runs wrote it -- never the checked
    database when the store is elsewhere (a standby or a SELECT-only role holds no history)."""
    return store_url or config.store_url()


def _source_scope(conn: sa.Connection, source: str | None) -> list:
    """The WHERE terms that keep runs of ``source`` (none: every source). A store before migration
    011 records no source: asked for one, :class:`YtdqError`."""
    if source is None:
        return []
    if not migrations.has(conn, migrations.SOURCES):
        raise YtdqError("this results store records no source yet (run a checkpoint, or `ytdq db migrate` there)")
    return [sa.column("source") == source]


def sources(conn: sa.Connection) -> list[str]:
    """The sources the store holds runs of, most recent first."""
    if not migrations.has(conn, migrations.SOURCES):
        return []
    found = conn.execute(
        sa.text("SELECT source FROM dq.runs WHERE source IS NOT NULL GROUP BY source ORDER BY max(started_at) DESC")
    )
    return [name for (name,) in found]


def _unknown_source(conn: sa.Connection, source: str, url: str) -> YtdqError:
    known = sources(conn)
    listed = ", ".join(repr(s) for s in known) if known else "none yet"
    return YtdqError(f"no runs of source {source!r} in {config.mask_url(url)}; its sources: {listed}")


def last_runs(
    *, checkpoint: str | None = None, limit: int = 20, store_url: str | None = None, source: str | None = None
) -> list[dict]:
    """The last ``limit`` runs in the results store (:func:`_store`), newest first, of ``source``
    (the checked database's name, :func:`ytempire_dq.config.source_name`; None: every source):
    run_id, checkpoint, source, success, rules_total, rules_failed, rules_errored (rules that could
    not be evaluated: the run exited 2), times."""
    url = _store(store_url)
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            _check_schema(conn, url)
            runs, results = RUNS, RULE_RESULTS
            errored = (
                sa.select(sa.func.count())
                .select_from(results)
                .where(results.c.run_id == runs.c.run_id, results.c.error.isnot(None))
                .scalar_subquery()
            )
            named = [sa.column("source")] if migrations.has(conn, migrations.SOURCES) else []
            query = (
                sa.select(runs, *named, errored.label("rules_errored"))
                .where(*_source_scope(conn, source))
                .order_by(runs.c.started_at.desc())
                .limit(limit)
            )
            if checkpoint:
                query = query.where(runs.c.checkpoint == checkpoint)
            found = [dict(row._mapping) for row in conn.execute(query)]
            if source is not None and not found and not checkpoint and source not in sources(conn):
                raise _unknown_source(conn, source, url)
            return found
    finally:
        engine.dispose()


def rule_trend(
    rule_id: str,
    *,
    checkpoint: str | None = None,
    limit: int = 20,
    store_url: str | None = None,
    source: str | None = None,
) -> dict:
    """One rule over the last ``limit`` runs in the results store (:func:`_store`, newest first) of
    ``source`` (None: every source) and since when it fails.

    ``{"rule_id", "runs": [{run_id, checkpoint, success, unexpected_count, observed_at, quarantined,
    metric}], "failing_since", "series"}``: ``failing_since`` is the first failure after the rule's last success
    (None when its latest outcome is a success); ``metric`` is a volume/drift rule's measured value
    and band in that run (:func:`ytempire_dq.store.metrics.by_run`), else None; ``series`` its
    measurements oldest first (:func:`ytempire_dq.store.metrics.series`; empty for other rules). Unknown rule:
    :class:`YtdqError`.
    """
    url = _store(store_url)
    results, quarantine = RULE_RESULTS, QUARANTINE
    scope = [results.c.rule_id == rule_id] + ([results.c.checkpoint == checkpoint] if checkpoint else [])
    quarantined = (
        sa.select(sa.func.count())
        .select_from(quarantine)
        .where(quarantine.c.run_id == results.c.run_id, quarantine.c.rule_id == results.c.rule_id)
        .scalar_subquery()
    )
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            _check_schema(conn, url)
            of_source = None
            if source is not None:
                of_source = sa.select(RUNS.c.run_id).where(*_source_scope(conn, source))
                scope.append(results.c.run_id.in_(of_source))
            rows = [
                dict(row._mapping)
                for row in conn.execute(
                    sa.select(
                        results.c.run_id,
                        results.c.checkpoint,
                        results.c.success,
                        results.c.unexpected_count,
                        results.c.error,
                        results.c.observed_at,
                        quarantined.label("quarantined"),
                    )
                    .where(*scope)
                    .order_by(results.c.observed_at.desc())
                    .limit(limit)
                )
            ]
            if not rows:
                where = f" in checkpoint {checkpoint!r}" if checkpoint else ""
                where += f" of source {source!r}" if source is not None else ""
                raise YtdqError(f"no history for rule {rule_id!r}{where}")
            since = failing_since([rule_id], checkpoint, of_source)
            failing_since_at = None if rows[0]["success"] else dict(conn.execute(since).all()).get(rule_id)
            metrics = metric_history.by_run(conn, rule_id, [row["run_id"] for row in rows])
            series = metric_history.series(conn, rule_id, limit, checkpoint, source)
            for row in rows:  # a volume/drift rule's value and band in that run (None for other rules)
                row["metric"] = metrics.get(row["run_id"])
    finally:
        engine.dispose()
    return {"rule_id": rule_id, "runs": rows, "failing_since": failing_since_at, "series": series}
