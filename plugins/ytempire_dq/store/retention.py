"""Bounded growth: remove old runs' validation results, their Data Docs pages and index rows, and
(asked separately) their run history in schema ``dq``.

A *run* is one directory level of the results store (``<suite…>/<run_name>/<run_time>/<batch>.json``);
its checkpoint is the one its run name names (``run_checkpoint`` names runs
``<checkpoint>-<UTC time>``; other run names form one group, ``(no checkpoint)``). ``keep_runs``
keeps the newest N runs *of each checkpoint*; ``older_than_days`` removes runs older than that;
given both, a run is removed when either says so (both limits hold afterwards). A run that never
finished validating (killed, or still running: :mod:`ytempire_dq.run.marks`) takes no place among
the N kept: it never removes the complete run that is its checkpoint's verdict.

Used by ``ytdq results prune`` and by the ``prune_results`` checkpoint action (the ``nightly``
checkpoint applies its ``keep_runs`` itself). Finding the runs reads no result: the CLI lists the
results directory; the action reads the Data Docs index rows its run's update just parsed, so a
run's own retention costs milliseconds whatever is stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa

from ytempire_dq import config
from ytempire_dq.docs import site as docs_site
from ytempire_dq.errors import YtdqError
from ytempire_dq.run import marks as run_marks
from ytempire_dq.values import plural

log = logging.getLogger(__name__)

NO_CHECKPOINT = "(no checkpoint)"


def run_time_of(token: str, path: Path) -> dt.datetime:
    """The run time of a results directory name (GX's ``%Y%m%dT%H%M%S.%fZ``), else its file's mtime."""
    for fmt in ("%Y%m%dT%H%M%S.%fZ", "%Y%m%dT%H%M%SZ"):
        try:
            return dt.datetime.strptime(token, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)


def stored_runs(results_dir: Path) -> dict[tuple[str, str], dict]:
    """``{(run_name, run_time token): {checkpoint, run_time, files: [relative paths]}}``."""
    runs: dict[tuple[str, str], dict] = {}
    if not results_dir.is_dir():
        return runs
    for top, _dirs, files in os.walk(results_dir):
        for name in files:
            if not name.endswith(".json"):
                continue
            rel = Path(top, name).relative_to(results_dir)
            if len(rel.parts) < 4:  # <suite…>/<run_name>/<run_time>/<batch>.json
                continue
            run_name, token = rel.parts[-3], rel.parts[-2]
            run = runs.get((run_name, token))
            if run is None:
                match = docs_site.RUN_NAME.match(run_name)
                run = runs[(run_name, token)] = {
                    "checkpoint": match["checkpoint"] if match else NO_CHECKPOINT,
                    "run_name": run_name,
                    "run_time": run_time_of(token, results_dir / rel),
                    "files": [],
                }
            run["files"].append(rel)
    return runs


def runs_of_rows(site: Path) -> dict[tuple[str, str], dict]:
    """:func:`stored_runs` read from the site's index rows instead of the results directory (no
    directory walk: what a checkpoint's own retention uses after its Data Docs update). Results
    that have no page are not seen; ``ytdq results prune`` walks the directory."""
    runs: dict[tuple[str, str], dict] = {}
    for row in docs_site.read_rows(site):
        rel = Path(unquote(row["filepath"])).relative_to("validations").with_suffix(".json")
        if len(rel.parts) < 4:
            continue
        run = runs.get((rel.parts[-3], rel.parts[-2]))
        if run is None:
            when = dt.datetime.fromisoformat(row["run_time"]) if row.get("run_time") else None
            run = runs[(rel.parts[-3], rel.parts[-2])] = {
                "checkpoint": row["checkpoint"],
                "run_name": rel.parts[-3],
                "run_time": when or run_time_of(rel.parts[-2], site),
                "files": [],
            }
        run["files"].append(rel)
    return runs


def select(
    runs: dict[tuple[str, str], dict],
    *,
    keep_runs: int | None,
    older_than_days: float | None,
    now: dt.datetime | None = None,
) -> list[dict]:
    """The runs to remove, oldest first (``incomplete`` runs are not counted against ``keep_runs``)."""
    if keep_runs is None and older_than_days is None:
        raise YtdqError("say what to keep: --keep-runs N and/or --older-than DAYS")
    if keep_runs is not None and keep_runs < 1:
        raise YtdqError(f"--keep-runs {keep_runs}: keep at least 1 run (the latest one is the verdict)")
    if older_than_days is not None and older_than_days < 0:
        raise YtdqError(f"--older-than {older_than_days}: days cannot be negative")
    now = now or dt.datetime.now(dt.timezone.utc)
    by_checkpoint: dict[str, list[dict]] = defaultdict(list)
    for run in runs.values():
        by_checkpoint[run["checkpoint"]].append(run)
    remove = []
    for group in by_checkpoint.values():
        group.sort(key=lambda r: (r["run_time"], r["run_name"]), reverse=True)
        kept = 0  # complete runs newer than this one
        for run in group:
            too_many = keep_runs is not None and kept >= keep_runs
            kept += not run.get("incomplete")
            too_old = older_than_days is not None and run["run_time"] < now - dt.timedelta(days=older_than_days)
            if too_many or too_old:
                remove.append(run)
    return sorted(remove, key=lambda r: (r["run_time"], r["run_name"]))


def _remove_file(path: Path, stop: Path) -> bool:
    """Remove ``path`` and the directories it leaves empty, up to (not including) ``stop``."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    parent = path.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty
            break
        parent = parent.parent
    return True


def prune(
    results_dir: Path,
    sites: list[tuple[str, Path]],
    suites: list[str],
    *,
    keep_runs: int | None = None,
    older_than_days: float | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    from_rows: bool = False,
) -> dict:
    """Remove the selected runs' result files, their pages in each site (``(site name, dir)``) and
    their index rows (the index is rewritten). ``{"runs": [run names], "results", "pages"}``.
    ``from_rows``: find the runs in the first site's index rows (:func:`runs_of_rows`)."""
    runs = runs_of_rows(sites[0][1]) if from_rows and sites else stored_runs(results_dir)
    unfinished = run_marks.unfinished(results_dir)
    for run in runs.values():
        run["incomplete"] = run_marks.mark_name(run["run_name"]) in unfinished
    remove = select(runs, keep_runs=keep_runs, older_than_days=older_than_days, now=now)
    out = {"runs": [r["run_name"] for r in remove], "results": 0, "pages": 0}
    pages = {Path("validations", rel).with_suffix(".html").as_posix() for run in remove for rel in run["files"]}
    if dry_run or not remove:  # what the real run removes: the files that are there
        out["results"] = sum((results_dir / rel).is_file() for run in remove for rel in run["files"])
        out["pages"] = sum((site / page).is_file() for _, site in sites for page in pages)
        return out
    for run in remove:
        for rel in run["files"]:
            out["results"] += _remove_file(results_dir / rel, results_dir)
        run_marks.forget(results_dir, run["run_name"])  # a killed run's mark goes with its results
    for name, site in sites:
        for page in pages:
            out["pages"] += _remove_file(site / page, site / "validations")
        with docs_site.rows_lock(site):
            if docs_site.rows_path(site).is_file():
                rows = [r for r in docs_site.read_rows(site) if unquote(r["filepath"]) not in pages]
                docs_site.write_rows(site, rows)
                if (site / "index.html").exists():
                    docs_site.write_index(site, name, rows, suites)
    return out


def prune_history(
    database_url: str,
    *,
    keep_runs: int | None = None,
    older_than_days: float | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> list[str]:
    """Delete the same selection from ``dq.runs`` (by each run's ``started_at``; its rule results
    and quarantined keys go with it, ``ON DELETE CASCADE``). The removed run ids."""
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import engine as make_engine

    now = now or dt.datetime.now(dt.timezone.utc)
    limits = []
    if keep_runs is not None:
        limits.append("n > :keep")
    if older_than_days is not None:
        limits.append("started_at < :cutoff")
    if not limits:
        raise YtdqError("say what to keep: --keep-runs N and/or --older-than DAYS")
    ranked = (
        "SELECT run_id, started_at, row_number() OVER (PARTITION BY checkpoint ORDER BY started_at DESC) AS n"
        " FROM dq.runs"
    )
    chosen = f"SELECT run_id FROM ({ranked}) r WHERE {' OR '.join(limits)}"
    params = {"keep": keep_runs, "cutoff": now - dt.timedelta(days=older_than_days or 0)}
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            if not migrations.has(conn, migrations.HISTORY):
                raise YtdqError(f"no run history in {config.mask_url(database_url)}: schema dq is missing")
            if dry_run:
                return [r[0] for r in conn.execute(sa.text(chosen), params)]
            sql = f"DELETE FROM dq.runs WHERE run_id IN ({chosen}) RETURNING run_id"
            return [r[0] for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def prune_context(
    ctx: Any,
    *,
    keep_runs: int | None = None,
    older_than_days: float | None = None,
    history: bool = False,
    database_url: str | None = None,
    dry_run: bool = False,
    from_rows: bool = False,
) -> dict:
    """:func:`prune` on a data context's results store and filesystem Data Docs sites (and,
    with ``history``, :func:`prune_history` on ``config.store_url`` of ``database_url``: the checks'
    role cannot delete). With ``history`` the history is read first: unreachable, or no schema
    ``dq``, is :class:`YtdqError` with no file removed."""
    from ytempire_dq.docs import history_page as docs_history

    store = ctx.stores[ctx.validation_results_store_name]
    results_dir = Path(store.store_backend.full_base_directory)
    site_names = list((ctx.variables.data_docs_sites or {}).keys())
    dirs = docs_history.site_dirs(ctx)
    sites = list(zip(site_names, dirs)) if len(site_names) == len(dirs) else [(d.name, d) for d in dirs]
    suites = [k.name for k in ctx.stores[ctx.expectations_store_name].list_keys()]
    url = config.store_url(database_url) if history else None
    if history and not dry_run:  # the history must be there before any file goes (a dry run reads it)
        prune_history(url, keep_runs=keep_runs, older_than_days=older_than_days, dry_run=True)
    out = prune(
        results_dir,
        sites,
        suites,
        keep_runs=keep_runs,
        older_than_days=older_than_days,
        dry_run=dry_run,
        from_rows=from_rows,
    )
    if history:
        out["history_runs"] = prune_history(url, keep_runs=keep_runs, older_than_days=older_than_days, dry_run=dry_run)
    return out


def summary(out: dict, dry_run: bool = False) -> str:
    verb = "would remove" if dry_run else "removed"
    text = f"{verb} {plural(len(out['runs']), 'run')} ({plural(out['results'], 'result file')}, {plural(out['pages'], 'page')})"
    if "history_runs" in out:
        text += f"; {plural(len(out['history_runs']), 'run')} from the history (dq)"
    return text


# ---------------------------------------------------------------------------------------------
# a run's own retention (each checkpoint run, in the transaction that writes its history)

#: Rows removed per table by one run at most: bounded work (a backlog goes over a few runs).
EXPIRE_LIMIT = 500
#: How far ahead a run removes: what will be past the retention before the next nightly run (24 h)
#: and an hour's slack. The retention rules judge at their run's snapshot, taken before this run
#: writes its history; removing only what is past the retention now would leave the rows that age
#: past it in between, and the next nightly would fail on the tool's own history.
EXPIRE_AHEAD_HOURS = 25

#: (table, its timestamp, its key): the tables the privacy suite's retention rules judge. Runs first:
#: their rule results, metrics and quarantined keys go with them (ON DELETE CASCADE); the others
#: catch rows dated older than their run.
EXPIRED_TABLES = (
    ("dq.runs", "started_at", "run_id"),
    ("dq.rule_results", "observed_at", "id"),
    ("dq.quarantine", "quarantined_at", "id"),
    ("dq.notifications", "created_at", "id"),
)


def expire_history(
    conn: sa.Connection, days: int, *, ahead_hours: int = EXPIRE_AHEAD_HOURS, limit: int = EXPIRE_LIMIT
) -> tuple[dict[str, int], dict[str, int]]:
    """Delete from the ``dq`` history what is older than ``days`` (less ``ahead_hours``) by the
    database's clock (the one the retention rules judge by), the oldest first, at most ``limit`` rows
    per table, on ``conn`` (the caller's transaction). Looking ahead never reaches past half the
    retention (a 1-day retention looks 12 h ahead: the run's own rows stay).

    ``({table: rows removed}, {table: rows past the retention left})``: a table the role may not
    delete from is left as it is, its rows past the retention counted (a role with only INSERT)."""
    ahead_hours = min(ahead_hours, int(days) * 24 // 2)
    params = {"days": int(days), "ahead": int(ahead_hours), "limit": int(limit)}
    removed, left = {}, {}
    for table, column, key in EXPIRED_TABLES:
        if conn.execute(sa.text("SELECT to_regclass(:t) IS NULL"), {"t": table}).scalar():
            continue  # a store from before that table's migration
        expired = (
            f"SELECT {key} FROM {table} WHERE {column} < now() - make_interval(days => :days) "
            f"+ make_interval(hours => :ahead) ORDER BY {column} LIMIT :limit"
        )
        if conn.execute(sa.text("SELECT has_table_privilege(:t, 'DELETE')"), {"t": table}).scalar():
            removed[table] = conn.execute(sa.text(f"DELETE FROM {table} WHERE {key} IN ({expired})"), params).rowcount
        else:
            left[table] = conn.execute(sa.text(f"SELECT count(*) FROM ({expired}) e"), params).scalar()
    return removed, left
