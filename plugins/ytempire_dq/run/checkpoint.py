"""Run GX checkpoints: pre-flight checks, validation definitions (concurrently), actions, report.

GX 1.24's ``Checkpoint.run()`` runs its validation definitions one after the other, then its
actions; an action that raises aborts ``run()`` and hides the verdict. :func:`run_checkpoint`
does the same work in the same order with two changes:

- validation definitions can run **concurrently** (``jobs``: ``--jobs N`` or ``YTDQ_JOBS``; the
  connection budget and the longest-first order are :mod:`ytempire_dq.run.jobs`'s), one thread
  each, every thread with its *own* Data Context (opening one more costs ~25 ms), hence its own
  data source object and SQLAlchemy execution engine: GX's execution engine keeps per-batch state
  and is not meant to be shared between threads. PostgreSQL does the work; results are kept in the
  order the checkpoint declares them. Each validation result is stored by GX as usual. The
  default stays one at a time; both give identical reports (``docs/benchmarks.md`` measures it).
- actions run after the results are in, each wrapped: an action that raises is logged and
  recorded in ``RunReport.action_errors``; the verdict stands.

The run's state (its id, snapshot, incremental plan, captured row keys, timings, batch parameters)
is one :class:`~ytempire_dq.run.state.Run`, made here and passed to what needs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.gx import compat
from ytempire_dq.gx.context import open_context
from ytempire_dq.locations import asset_tables, config_dir_of, definition_table, list_checkpoints, store_dir, suite_path
from ytempire_dq.rules.suite_files import (
    SuiteFileError,
    check_rule_keys,
    check_suite_loads,
    read_json_file,
    read_suite_file,
)
from ytempire_dq.run.lock import run_lock
from ytempire_dq.run.marks import results_dir_of, running
from ytempire_dq.run.report import RunReport, exception_message, read_validation_result
from ytempire_dq.run.state import Run
from ytempire_dq.sql_guard import check_suite_rules

log = logging.getLogger(__name__)

#: Jobs of ``concurrent=True`` (``--concurrent``): validation definitions at a time.
MAX_WORKERS = 8


def _check_database(url: str, tables: list[str] = (), then: Callable[[Any], Any] | None = None) -> Any:
    """The database answers and holds ``tables`` (``schema.name`` allowed): a database never
    migrated is one line before any rule runs, not a run of rules that all error. ``then(conn)``,
    if given, runs on the same connection; its value is returned."""
    from ytempire_dq.db.connect import connect  # raises DatabaseUnavailable, URL masked

    conn = connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            missing = []
            for table in tables:
                cur.execute("SELECT to_regclass(%s)", (table,))
                if cur.fetchone()[0] is None:
                    missing.append(table)
        found = then(conn) if then is not None and not missing else None
    finally:
        conn.close()
    if missing:
        shown = ", ".join(missing[:5]) + (f" … and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise YtdqError(f"{config.mask_url(url)} has no table {shown}: is the database migrated? (ytdq db migrate)")
    return found


def _tables_read(vds: list) -> list[str]:
    """The PostgreSQL tables the validation definitions read: their table assets and the tables
    the cross-table/cross-store rules name (what each expectation's class declares: ``tables_read``)."""
    return list(dict.fromkeys(t for vd in vds for t in _definition_tables(vd)))


def _definition_tables(vd: Any) -> list[str]:
    """The PostgreSQL tables one validation definition reads (see :func:`_tables_read`)."""
    tables = [own] if (own := definition_table(vd)) else []
    for exp in vd.suite.expectations:
        declared = getattr(exp, "tables_read", None)  # GX's own types read their batch only
        if callable(declared):
            tables.extend(declared())
    return list(dict.fromkeys(tables))


def _check_files(name: str, config_dir: Path) -> list[str]:
    """File-level pre-flight (before GX reads anything): the checkpoint, its validation
    definitions and their suites exist and are well-formed JSON, and every rule of its suites has
    a ``meta.rule_id`` and an ``id`` no other rule of them has. Returns the suite names."""
    known = list_checkpoints(config_dir)
    if name not in known:
        raise YtdqError(f"no checkpoint {name!r}; known checkpoints: {', '.join(known) or 'none'}")
    cp_path = store_dir("checkpoints", config_dir) / f"{name}.json"
    cp = read_json_file(cp_path, "checkpoint")
    suites = []
    for ref in cp.get("validation_definitions") or []:
        vd_name = (ref or {}).get("name")
        vd_path = store_dir("validation_definitions", config_dir) / f"{vd_name}.json"
        if not vd_path.is_file():
            raise SuiteFileError(f"{cp_path}: validation definition {vd_name!r} has no file {vd_path}")
        vd = read_json_file(vd_path, "validation definition")
        suite = (vd.get("suite") or {}).get("name")
        path = suite_path(str(suite), config_dir)
        if not path.is_file():
            raise SuiteFileError(f"{vd_path}: suite {suite!r} has no file {path}")
        asset = ((vd.get("data") or {}).get("asset") or {}).get("name")
        check_suite_rules(path, read_suite_file(path), asset_tables(config_dir).get(asset))  # analyst SQL: one SELECT
        suites.append(suite)
    suites = list(dict.fromkeys(suites))
    check_rule_keys([suite_path(str(s), config_dir) for s in suites], f"checkpoint {name!r} cannot run")
    return suites


def _load_checkpoint(ctx: Any, name: str, config_dir: Path) -> Any:
    try:
        return ctx.checkpoints.get(name)
    except Exception as exc:  # noqa: BLE001 - GX store/serialisation errors
        path = store_dir("checkpoints", config_dir) / f"{name}.json"
        raise SuiteFileError(f"{path}: GX cannot load the checkpoint: {config.one_line(exc, 400)}") from None


@contextlib.contextmanager
def _collector_skips_what_exists() -> Iterator[None]:
    """Python's full garbage collections skip the objects that exist when validation starts (GX's
    modules, the Data Context, the suites: some 300,000 objects, which each full pass walks, 0.2 to
    0.3 s a pass at 10M rows, one or two passes a run): ``gc.freeze()``. New objects are collected
    as always; the frozen ones return to the collector (``gc.unfreeze()``) when the run ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_checkpoint(
    name: str,
    *,
    config_dir: Path | str | None = None,
    concurrent: bool = False,
    jobs: int | None = None,
    database_url: str | None = None,
    progress: Callable[[dict], None] | None = None,
    redis_url: str | None = None,
    since_last: bool = False,
    full: bool = False,
) -> RunReport:
    """Run checkpoint ``name``; the :class:`RunReport` (``exit_code`` 0, 1, or 2 when a rule could
    not be evaluated: its error is on its result, recorded in the history like any other).

    Raises :class:`YtdqError` (exit code 2) when the run cannot happen: unknown checkpoint (the
    message lists the known ones), no or unreachable database (URL shown masked), a suite file
    that is malformed or that GX would not load completely (file and problem named).
    ``progress`` is called after each validation definition with ``{name, success, errors, index,
    total}`` (``errors``: its rules that could not be evaluated).
    Validation definitions on the ``cache`` data source get one Redis snapshot taken here, before
    any validation (``redis_url`` or ``REDIS_URL``; unreachable: YtdqError, see ``cache.batch``).
    ``since_last``: row-level rules of append-mostly tables on the rows newer than the last
    successful run's watermark; ``full``: a full sweep (:mod:`ytempire_dq.run.incremental`).
    ``jobs``: validation definitions validated at a time (default ``YTDQ_JOBS``, else 1; fewer when
    the checked database lacks the connections, :mod:`ytempire_dq.run.jobs`); ``concurrent``: as
    many as :data:`MAX_WORKERS`.
    """
    from ytempire_dq.run import jobs as run_jobs

    started = time.perf_counter()
    jobs = run_jobs.requested(MAX_WORKERS if concurrent and jobs is None else jobs)
    cdir = config_dir_of(config_dir)
    url = database_url or config.database_url()
    suite_names = _check_files(name, cdir)  # the files, before GX reads them; names the known checkpoints

    # One run of a checkpoint at a time (YTDQ_LOCK_TIMEOUT): two runs never interleave their stores.
    run = Run(checkpoint=name, config_dir=cdir, source_url=url, source=config.source_name(url))
    with run_lock(cdir, name), run.scope:
        # pre-flight: the server answers (one line, before GX is even imported), GX loads every
        # rule of every suite, the tables the rules read exist, the cache snapshot is taken
        _check_database(url)
        from ytempire_dq.store.preflight import check_store
        from ytempire_dq.store.run_store import RunStore

        run.store_url = check_store(
            url, run.source
        )  # the history can be written there (not a standby, a role that may INSERT)
        # what the band rules learn from, the notifier and the fast path (its earlier run) read
        run.store = RunStore(run.store_url, run.source, checkpoint=name)
        run.scope.callback(run.store.close)
        from ytempire_dq.run.standby import lag_warning, max_replica_lag

        max_lag = max_replica_lag()  # YTDQ_MAX_REPLICA_LAG: a bad value stops the run here (exit 2)
        ctx = open_context(cdir, database_url=url)
        for suite_name in suite_names:
            check_suite_loads(ctx, suite_path(suite_name, cdir))
        checkpoint = _load_checkpoint(ctx, name, cdir)
        vds = list(checkpoint.validation_definitions)
        run.scope.callback(_close_engines, vds)  # no connection of the run's outlives it (run.jobs counts them)
        tables = _tables_read(vds)  # incremental: the tables every rule reads (a cross-table rule's child too)
        jobs = max(1, min(jobs, len(vds)))
        jobs, order, jobs_warning = _check_database(url, tables, then=lambda conn: _plan_jobs(conn, vds, jobs, url))
        _begin(run, vds, redis_url, since_last=since_last, full=full, tables=tables)
        first_snapshot = run.snapshot  # what the run's data is as of, even if a conflict renews it

        # validate; GX stores each validation result as its definition finishes
        run.scope.enter_context(_collector_skips_what_exists())
        run.run_id = _run_id(name)
        report = _reporter(vds, progress)
        t_validate = time.perf_counter()
        # marked unfinished until every result is stored: a killed run is never its checkpoint's latest
        with running(results_dir_of(ctx.stores[ctx.validation_results_store_name]), run.run_name):
            if jobs > 1:
                results = _validate_concurrently(cdir, checkpoint, vds, order, jobs, run, report)
            else:
                results = [report(vd, _run_one(vd, checkpoint, run)) for vd in vds]
        run.timings["validate"] = time.perf_counter() - t_validate
        checkpoint_result, validations = _read_results(checkpoint, vds, results, run.run_id)
        for vd, validation in zip(vds, validations):
            validation.seconds = run.durations.get(vd.name)

        # actions (Data Docs, Redis summary): one that raises is logged, the verdict stands
        t_actions = time.perf_counter()
        with run.store.active():  # the notify action reads the previous run from the store, for this source
            action_errors = _run_actions(checkpoint, checkpoint_result)
        run.timings["actions"] = time.perf_counter() - t_actions

        run_report = RunReport(
            checkpoint=name,
            success=all(v.success for v in validations),
            run_id=str(run.run_name or run.run_id.to_id()),
            data_docs=_docs_index_if_built(ctx),
            validations=validations,
            seconds=time.perf_counter() - started,
            action_errors=action_errors,
            timings=run.timings,
            database_url=config.mask_url(url),
            source=run.source,
            snapshot=first_snapshot.to_dict(),
            scan=run.plan.to_dict(),
            replica_lag=lag_warning(first_snapshot, url, max_lag),
            recovery_conflicts=list(run.retries),
        )
        if run_report.replica_lag:
            run_report.warnings.append(run_report.replica_lag["message"])
        if jobs_warning:
            run_report.warnings.append(jobs_warning)
        run_report.jobs = jobs
        # history and quarantine, with the run's own context (logs its failures, never raises)
        from ytempire_dq.store.history import record_run

        record_run(run_report, ctx, vds, run)
        if run_report.data_docs:  # Data Docs' rule history page, now that this run is in the history
            from ytempire_dq.docs.history_page import write_pages

            write_pages(ctx, run.store_url or config.store_url(url))  # the history is in the store

    for rule in run_report.rules():
        if rule.error is not None:  # the whole message (SQL included) for the log file / --verbose
            log.info("rule %s could not run: %s", rule.rule_id, rule.error)
    return run_report


def _begin(run: Run, vds: list, redis_url: str | None, *, since_last: bool, full: bool, tables: list[str]) -> None:
    """The run's plan (which rows its rules scan), its one database instant (held until
    ``run.scope`` closes), the plan's watermarks at that instant, and the batch parameters (the
    Redis snapshot, carrying the database instant its rules read PostgreSQL at)."""
    from ytempire_dq.cache.batch import batch_parameters
    from ytempire_dq.run import incremental
    from ytempire_dq.run.snapshot import for_batch, take
    from ytempire_dq.run.validation import enabled

    run.plan = incremental.plan(
        run.checkpoint,
        run.config_dir,
        run.source_url,
        since_last=since_last,
        full=full,
        fast=enabled(),
        asset_tables=tables,
        store_url=run.store_url,  # the past runs' watermarks: the results store
        source=run.source,  # ... of this source only
    )
    # one database instant for every rule, the actions and the history (ytempire_dq.run.snapshot)
    run.snapshot = run.scope.enter_context(take(run.source_url))
    run.as_of = run.snapshot.as_of
    run.plan.measure(run.source_url, run.snapshot)  # the append-mostly tables' watermarks at the snapshot
    if run.store is not None:
        run.store.as_of = run.snapshot.as_of  # what the freshness rules judge by, in every transaction
    run.params = batch_parameters(vds, redis_url)
    for params in run.params.values():
        for_batch(params["dataframe"], run.snapshot)


def _read_results(checkpoint: Any, vds: list, results: list, run_id: Any) -> tuple[Any, list]:
    """GX's checkpoint result (what the actions get) and our reading of each validation result."""
    run_results = {}
    validations = []
    for vd, vr in zip(vds, results):
        run_results[compat.checkpoint_result_key(checkpoint, vd, run_id, vr.batch_id)] = vr
        validation = read_validation_result(
            vr, suite=vd.suite.name, asset=vd.data.data_asset.name, table=definition_table(vd)
        )
        validation.results = _in_suite_order(vd, vr, validation.results)
        validations.append(validation)
    return compat.checkpoint_result(checkpoint, run_id, run_results), validations


def _docs_index_if_built(ctx: Any) -> str | None:
    from ytempire_dq.docs.site import docs_index

    index = docs_index(ctx)
    return str(index) if index.exists() else None


def _in_suite_order(vd: Any, vr: Any, rules: list) -> list:
    """GX returns results in its metric-graph order; put them back in the suite file's order."""
    position = {e.id: i for i, e in enumerate(vd.suite.expectations)}
    keyed = [(position.get(evr.expectation_config.id, len(position)), n) for n, evr in enumerate(vr.results)]
    return [rules[n] for _, n in sorted(keyed)]


def _run_id(name: str) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    now = dt.datetime.now(dt.timezone.utc)
    return RunIdentifier(run_name=f"{name}-{now.strftime('%Y%m%dT%H%M%S.%fZ')}", run_time=now)


def _run_one(vd: Any, checkpoint: Any, run: Run) -> Any:
    """:func:`_validate` of one validation definition; when it raises (e.g. the server went away
    while GX read the batch), a result with the error on each of its rules instead, so the run
    ends, is recorded and exits 2 like any run in which rules could not be evaluated.
    ``run.durations[vd.name]``: its seconds (the JUnit test suite's time)."""
    started = time.perf_counter()
    try:
        with run.store.active() if run.store is not None else contextlib.nullcontext():
            try:
                vr = _validate(vd, checkpoint, run)
            except Exception as exc:  # logged with its traceback; becomes the error of each rule (printed per cause)
                log.info("validation definition %s could not run", vd.name, exc_info=True)  # the log file
                vr = _errored_result(vd, exc)
            return _retried_on_conflict(vd, vr, checkpoint, run)
    except Exception as exc:  # the run store's scope raised: the error of each rule, as above
        log.info("validation definition %s could not run", vd.name, exc_info=True)
        return _errored_result(vd, exc)
    finally:
        run.durations[vd.name] = time.perf_counter() - started


def _retried_on_conflict(vd: Any, vr: Any, checkpoint: Any, run: Run) -> Any:
    """On a hot standby, ``vr`` with the rules a recovery conflict cancelled validated once more
    (:func:`ytempire_dq.run.standby.retry_conflicts`); elsewhere ``vr`` as is."""
    if run.snapshot is None or not run.snapshot.standby:
        return vr
    from ytempire_dq.run.standby import retry_conflicts

    try:
        return retry_conflicts(
            vd, vr, run, result_format=checkpoint.result_format, batch_parameters=run.params.get(vd.name)
        )
    except Exception:  # the first attempt's errors stand
        log.warning("validation definition %s: the retry after a recovery conflict failed", vd.name, exc_info=True)
        return vr


def _errored_result(vd: Any, exc: BaseException) -> Any:
    """A GX validation result in which every rule of ``vd`` carries ``exc`` as its exception."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    results = [compat.errored_result(e.configuration, exc) for e in vd.suite.expectations]
    return ExpectationSuiteValidationResult(
        success=False,
        results=results,
        suite_name=vd.suite.name,
        meta={"validation_id": vd.id, "active_batch_definition": vd.batch_definition.name},
    )


def _validate(vd: Any, checkpoint: Any, run: Run) -> Any:
    """``vd.run(...)`` with the fast levers (uniqueness proved by index, samples only for failed
    rules; stored the same way): see :mod:`ytempire_dq.run.validation` (``YTDQ_FAST=0`` turns them off).
    Every transaction of the definition's engines starts on the run's snapshot, and every statement
    they send is checked as sent (``Run.attach``, :func:`ytempire_dq.sql_guard.guard`)."""
    from ytempire_dq.run.snapshot import definition_engines

    for engine in definition_engines(vd):
        run.attach(engine)  # every transaction on the run's snapshot, every statement checked as sent
    from ytempire_dq.run.validation import run_dataframe_definition, run_definition

    batch_parameters = run.params.get(vd.name)
    if batch_parameters is not None:  # a dataframe asset (the cache): its batch is handed in
        return run_dataframe_definition(
            vd,
            checkpoint_id=checkpoint.id,
            result_format=checkpoint.result_format,
            run_id=run.run_id,
            batch_parameters=batch_parameters,
        )

    return run_definition(
        vd,
        checkpoint_id=checkpoint.id,
        result_format=checkpoint.result_format,
        run_id=run.run_id,
        captured=run.captured,
        run=run,
    )


def _reporter(vds: list, progress: Callable[[dict], None] | None) -> Callable[[Any, Any], Any]:
    """Calls ``progress`` once per finished validation definition (in the order they finish);
    returns the validation result it was given."""
    done = []

    def report(vd: Any, vr: Any) -> Any:
        done.append(vd.name)
        if progress is not None:
            errors = sum(exception_message(r.exception_info) is not None for r in vr.results)
            progress(
                {"name": vd.name, "success": bool(vr.success), "errors": errors, "index": len(done), "total": len(vds)}
            )
        return vr

    return report


def _close_engines(vds: list) -> None:
    """Close the pooled connections of the validation definitions' engines."""
    from ytempire_dq.run.snapshot import definition_engines

    for vd in vds:
        for engine in definition_engines(vd):
            engine.dispose()


def _plan_jobs(conn: Any, vds: list, jobs: int, url: str) -> tuple[int, list, str | None]:
    """(jobs that fit the server's connections, ``vds`` longest first, a warning or None)."""
    from ytempire_dq.run import jobs as run_jobs

    fits, warning = run_jobs.fit(conn, jobs, url)
    order = run_jobs.longest_first(vds, _definition_tables, conn) if fits > 1 else vds
    return fits, order, warning


def _validate_concurrently(
    cdir: Path, checkpoint: Any, vds: list, order: list, jobs: int, run: Run, report: Callable[[Any, Any], Any]
) -> list:
    """The validation definitions ``jobs`` at a time in threads, started in ``order`` (longest
    first); results in the declared order."""
    # One context per validation definition (opened here, in this thread: GX records the
    # "current" context globally when one is opened), each run in its own thread.
    own = {}
    for vd in order:
        c = open_context(cdir, database_url=run.source_url)
        own[vd.name] = c.validation_definitions.get(vd.name)

    def job(vd: Any) -> Any:
        try:
            return _run_one(vd, checkpoint, run)
        finally:  # its pooled connections go with it: the run holds only its running jobs' (run.jobs)
            _close_engines([vd])

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ytdq-vd") as pool:
        futures = {vd.name: pool.submit(job, own[vd.name]) for vd in order}
        named = {future: name for name, future in futures.items()}
        for future in as_completed(named):
            report(own[named[future]], future.result())
        return [futures[vd.name].result() for vd in vds]  # declared order


def _run_actions(checkpoint: Any, checkpoint_result: Any) -> list[str]:
    """Run the checkpoint's actions in GX's order; one that raises is logged, not fatal."""
    from great_expectations.checkpoint.checkpoint import ActionContext

    errors = []
    action_context = ActionContext()
    context = compat.checkpoint_context(checkpoint)
    for action in compat.sorted_actions(checkpoint):
        try:
            compat.bind_action(action, context)
            result = action.run(checkpoint_result=checkpoint_result, action_context=action_context)
            action_context.update(action=action, action_result=result)
        except Exception as exc:  # noqa: BLE001 - an action must not hide the verdict
            message = f"action {getattr(action, 'name', type(action).__name__)!r} failed: {config.one_line(exc, 300)}"
            log.error(message)
            errors.append(message)
    return errors
