"""Incremental nightly (issue 12, item 4): a full run vs ``--since-last`` on one new day.

    .venv/bin/python -m benchmarks.incremental --users 1430 --repeats 3   # ~1.07M analytics rows

Seeds clean data (``benchmarks.run.prepare_database``, database ``bench_incr_<users>``), removes
yesterday's and today's analytics rows (and their views from ``videos.view_count``, as a sync
would not have counted them yet), drops analytics' revenue CHECK and video FK (so defects can be
planted, as in a copy without constraints), makes a project copy with two checkpoints without
actions: ``analytics_only`` (the analytics suite) and ``cross_only`` (the cross_table suite), and
runs each once in full (the successful runs whose watermark is the lower bound). Then adds one new
day (yesterday, a closed day: a copy of the day before's rows, its views added to
``videos.view_count`` as the sync does) with defects only in it: negative revenue and future-dated
rows (analytics suite), orphan rows and videos whose new row's views were changed after the sync
(cross_table suite). Times, as processes from start to exit, interleaved, ``ytdq checkpoint run
CHECKPOINT --full`` and ``--since-last`` (each run's ``--json`` counts are checked: the
incremental run must find exactly the new day's defects), then the validation step alone
(``RunReport.timings["validate"]``, the same runs in this process), and where one run's SQL time
goes (``pg_stat_statements``). Medians of ``--repeats``. ``--layout both`` (default) measures it
all twice: on the seeded layout (each heap page holds rows of every day), then with analytics
rewritten in date order (``CLUSTER``), as a table appended day by day is; ``--layout
by-date,partitioned`` then converts analytics into monthly partitions (``ytdq db
partition-analytics``, its seconds are ``prepare_s``) and measures it all again. Prints one JSON document. Without ``DATABASE_URL`` it starts the embedded servers in
``benchmarks/.state/`` and stops them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import run as B
from benchmarks.whole import timed_process

YTDQ = Path(sys.executable).parent / "ytdq"
NEGATIVE_REVENUE, FUTURE_DATED, ORPHANS, MISMATCHED = 5, 3, 4, 2
#: checkpoint -> (its validation definition, the failing rules the new day's defects make, with their counts)
CHECKPOINTS = {
    "analytics_only": (
        "analytics",
        {"analytics.revenue_non_negative": NEGATIVE_REVENUE, "analytics.date_not_in_future": FUTURE_DATED},
    ),
    "cross_only": (
        "cross_table",
        {"analytics.video_exists": ORPHANS, "videos.view_count_matches_analytics": MISMATCHED},
    ),
}
#: nightly's table suites together (its Redis suite and actions left out, as benchmarks.nightly does),
#: but channels: its monetized_meets_ypp_subscribers sums analytics, which lacks the two days removed
CHECKPOINTS["tables"] = (
    ("users", "videos", "analytics", "api_keys", "workflows", "cross_table"),
    {**CHECKPOINTS["analytics_only"][1], **CHECKPOINTS["cross_only"][1]},
)
_COLUMNS = "(video_id, date, views, watch_time_minutes, revenue, subscribers_gained)"
#: Before the baseline: the last two days gone (their views too), the constraints defects would hit dropped.
PREPARE = (
    "ALTER TABLE analytics DROP CONSTRAINT IF EXISTS analytics_revenue_check",
    "ALTER TABLE analytics DROP CONSTRAINT IF EXISTS analytics_video_id_fkey",
    "UPDATE videos v SET view_count = v.view_count - d.views, revenue = v.revenue - d.revenue "
    "FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue "
    "FROM analytics WHERE date >= current_date - 1 GROUP BY video_id) d WHERE d.video_id = v.id",
    "DELETE FROM analytics WHERE date >= current_date - 1",
    "VACUUM ANALYZE analytics",
    "VACUUM ANALYZE videos",
)
#: The new day (its first statement's row count is the day's rows), then its defects.
NEW_DAY = (
    f"INSERT INTO analytics {_COLUMNS} SELECT video_id, current_date - 1, views, watch_time_minutes, revenue, "
    "subscribers_gained FROM analytics WHERE date = current_date - 2",
    "UPDATE videos v SET view_count = v.view_count + n.views, revenue = v.revenue + n.revenue "
    "FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue "
    "FROM analytics WHERE date = current_date - 1 GROUP BY video_id) n WHERE n.video_id = v.id",
    # a cent below zero on days without revenue: within the cent videos.revenue may differ from its days
    "UPDATE analytics SET revenue = -0.01 WHERE id IN (SELECT id FROM analytics "
    f"WHERE date = current_date - 1 AND revenue = 0 ORDER BY id LIMIT {NEGATIVE_REVENUE})",
    f"INSERT INTO analytics {_COLUMNS} SELECT video_id, current_date + 5, 10, 1, 0, 0 FROM analytics "
    f"WHERE date = current_date - 1 GROUP BY video_id ORDER BY video_id LIMIT {FUTURE_DATED}",
    f"INSERT INTO analytics {_COLUMNS} SELECT gen_random_uuid(), current_date - 1, 1, 0, 0, 0 "
    f"FROM generate_series(1, {ORPHANS})",
    "UPDATE analytics SET views = views + 1000 WHERE id IN (SELECT a.id FROM analytics a JOIN videos v "
    f"ON v.id = a.video_id WHERE a.date = current_date - 1 ORDER BY a.id DESC LIMIT {MISMATCHED})",
)


LAYOUTS = (*B.LAYOUTS, "partitioned")  # the harness's, and monthly partitions (converted last)


def _project(dest: Path) -> Path:
    from ytempire_dq.locations import copy_project

    gx = copy_project(dest)
    # the seasonal rules judge yesterday, whose rows are removed here on purpose (the "new day")
    from tests.helpers import drop_seasonal_rules

    drop_seasonal_rules(gx, "analytics")
    for n, (name, (vd_names, _)) in enumerate(CHECKPOINTS.items()):
        vds = [
            {"id": json.loads((dest / "validation_definitions" / f"{v}.json").read_text())["id"], "name": v}
            for v in ((vd_names,) if isinstance(vd_names, str) else vd_names)
        ]
        (dest / "checkpoints" / f"{name}.json").write_text(
            json.dumps(
                {
                    "actions": [],
                    "id": f"00000000-0000-4000-8000-0000000b1c4{n}",
                    "name": name,
                    "result_format": "SUMMARY",
                    "validation_definitions": vds,
                }
            )
        )
    return gx


def _sql(url: str, *statements: str) -> list:
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    out = []
    try:
        with conn.cursor() as cur:
            for s in statements:
                cur.execute(s)
                out.append(cur.rowcount)
    finally:
        conn.close()
    return out


def _sql_one(url: str, statement: str) -> tuple:
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()
    finally:
        conn.close()


def _count(url: str) -> int:
    return _sql_one(url, "SELECT count(*) FROM analytics")[0]


def _in_process(gx: Path, url: str, checkpoint: str, mode: str) -> tuple[float, dict, dict]:
    """(the run's validation seconds (``RunReport.timings``), its failing rules' counts, its scan),
    in this process (GX imported once)."""
    from ytempire_dq.run.checkpoint import run_checkpoint

    report = run_checkpoint(checkpoint, config_dir=gx, database_url=url, full=mode == "full", since_last=mode != "full")
    found = {r["rule_id"]: r["bad_rows"] for r in report.failed_rules()}
    return round(report.timings["validate"], 3), found, report.scan


def _run(gx: Path, url: str, checkpoint: str, flag: str | None) -> tuple[float, dict]:
    """(seconds, the run's --json with its process's peak memory as ``max_rss_mb``)."""
    args = [str(YTDQ), "checkpoint", "run", checkpoint, "--config", str(gx), "--json", "-"]
    if flag:
        args.append(flag)
    proc = timed_process(args, {**os.environ, "DATABASE_URL": url})
    if proc["exit_code"] not in (0, 1):
        raise SystemExit(f"{' '.join(args[1:])} exited {proc['exit_code']}: {proc['tail']}")
    return proc["seconds"], {**json.loads(proc["stdout"]), "max_rss_mb": proc["max_rss_mb"]}


def _counts(doc: dict) -> dict:
    return {
        r["rule_id"]: r["unexpected_count"]
        for v in doc["validations"]
        for r in v["results"]
        if not r["success"] and r["rule_id"]
    }


def _statements(url: str, gx: Path, checkpoint: str, mode: str, top: int = 8) -> list | str:
    """Where one in-process run's SQL time goes: its ``top`` statements by total time
    (``pg_stat_statements``; the embedded cluster preloads it), or why not measured."""
    try:
        B.N.Pgss(url).close()  # the extension, where missing (a standby's was made on its primary)
        _sql(url, "SELECT pg_stat_statements_reset()")
    except Exception as exc:  # noqa: BLE001 - an external server without the extension: say so
        return f"not measured: {str(exc).splitlines()[0]}"
    _in_process(gx, url, checkpoint, mode)
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT round(total_exec_time::numeric, 1), calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "ORDER BY total_exec_time DESC LIMIT %s",
                (top,),
            )
            return [{"ms": float(ms), "calls": calls, "query": q} for ms, calls, q in cur.fetchall()]
    finally:
        conn.close()


def _duplicate_ids_seconds(url: str, repeats: int) -> float:
    """Median seconds of the run's own duplicate count of ``analytics.id``
    (:func:`ytempire_dq.run.validation.duplicates_query`: what ``analytics.id_unique`` costs in a
    full run where no unique index on ``id`` alone proves it) over ``repeats`` runs, planned as the
    run plans it (an index leads with ``id``: no hash aggregate); its answer must be 0."""
    from sqlalchemy.dialects import postgresql

    from ytempire_dq.run.validation import duplicates_query

    sql = str(
        duplicates_query("analytics", "id").compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        if _sql_one(url, "SET enable_hashagg = off; " + sql)[0] != 0:  # this connection only
            raise SystemExit("analytics.id has duplicates in the benchmark's clean data")
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 3)


def _check(checkpoint: str, mode: str, found: dict, scan: dict) -> None:
    expected = CHECKPOINTS[checkpoint][1]
    if found != expected or scan["incremental"] != (mode == "incremental"):
        raise SystemExit(f"{checkpoint} {mode}: found {found}, scan {scan}; expected {expected}")


def _summary(times: dict, validate: dict) -> dict:
    med = {
        f"median_{k}_{m}_s": statistics.median(v[m]) for k, v in (("whole", times), ("validate", validate)) for m in v
    }
    return {
        "whole_process_s": times,
        "validate_s": validate,
        **med,
        "ratio_validate": round(med["median_validate_incremental_s"] / med["median_validate_full_s"], 3),
        "ratio_whole": round(med["median_whole_incremental_s"] / med["median_whole_full_s"], 3),
    }


def _measure(gx: Path, url: str, repeats: int, baseline: dict, profile: bool = True) -> dict:
    """Per checkpoint: whole processes and in-process validation, full vs incremental, interleaved."""
    out: dict = {}
    for checkpoint in baseline:
        times: dict[str, list] = {"full": [], "incremental": []}
        validate: dict[str, list] = {"full": [], "incremental": []}
        rss: dict[str, list] = {"full": [], "incremental": []}
        for _ in range(repeats):
            for mode, flag in (("full", "--full"), ("incremental", "--since-last")):
                seconds, doc = _run(gx, url, checkpoint, flag)
                _check(checkpoint, mode, _counts(doc), doc["scan"])
                times[mode].append(round(seconds, 3))
                rss[mode].append(doc["max_rss_mb"])
            for mode in ("full", "incremental"):
                seconds, found, scan = _in_process(gx, url, checkpoint, mode)
                _check(checkpoint, mode, found, scan)
                validate[mode].append(seconds)
        out[checkpoint] = {
            "baseline_full_s": baseline[checkpoint],
            "found": CHECKPOINTS[checkpoint][1],
            **_summary(times, validate),
            "max_rss_mb": {mode: max(v) for mode, v in rss.items()},
            "sql_top": {mode: _statements(url, gx, checkpoint, mode) for mode in ("full", "incremental")}
            if profile
            else "not measured (--no-profile)",
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1430, help="seeded users (~748 analytics rows each)")
    ap.add_argument(
        "--history-days",
        type=int,
        default=36,
        help="days of analytics history the seed makes (1000: one day is about 0.27%% of analytics)",
    )
    ap.add_argument(
        "--replica",
        action="store_true",
        help="run the checks on a streaming replica (writes on the primary, the history in bench_store there)",
    )
    ap.add_argument(
        "--database",
        default=None,
        help="measure this clean database seeded by `benchmarks.run --keep` (e.g. bench_100m) instead of seeding one "
        "(it is changed: the last two days replaced by a new one, partitioned if asked)",
    )
    ap.add_argument(
        "--no-profile",
        action="store_true",
        help="leave out where the SQL time goes (pg_stat_statements: one more full and incremental run per layout)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the embedded servers running")
    ap.add_argument(
        "--layout",
        default="both",
        help="analytics' layouts, measured in this order on one seeding, comma-separated: seeded (rows "
        "by video), by-date (rewritten in date order, as a table appended day by day), partitioned "
        "(converted by `ytdq db partition-analytics`: monthly partitions; last, it cannot be undone); "
        "both = seeded,by-date",
    )
    ap.add_argument(
        "--checkpoints",
        default="analytics_only,cross_only",
        help=f"comma-separated, of {', '.join(CHECKPOINTS)} (tables: nightly's table suites but channels)",
    )
    args = ap.parse_args(argv)
    checkpoints = args.checkpoints.split(",")
    if set(checkpoints) - set(CHECKPOINTS):
        ap.error(f"--checkpoints {args.checkpoints}: give some of {', '.join(CHECKPOINTS)}")
    layouts = ["seeded", "by-date"] if args.layout == "both" else args.layout.split(",")
    unknown = set(layouts) - set(LAYOUTS)
    if unknown or ("partitioned" in layouts and layouts[-1] != "partitioned"):
        ap.error(f"--layout {args.layout}: give some of {', '.join(LAYOUTS)}, partitioned last")

    admin_url, started = B.start_server(keep_env=False)
    try:
        label = f"incr_{args.users}" + (f"_{args.history_days}d" if args.history_days != 36 else "")
        if args.database:  # seeded clean by an earlier harness run (its bench_meta says how)
            from ytempire_dq.db.connect import with_database

            url = with_database(admin_url, args.database)
            (meta,) = _sql_one(url, "SELECT info FROM bench_meta")
            if meta.get("inject"):
                raise SystemExit(f"{args.database} holds injected defects: the benchmark needs clean data")
            label = args.database
        else:
            url, meta = B.prepare_database(admin_url, label, args.users, False, {}, args.history_days)
        _sql(url, *PREPARE)
        # where the checks read: the database itself, or its copy on a streaming replica (writes
        # stay on the primary; each waits until the replica has replayed them)
        check = B.check_on_replica(url, label) if args.replica else url
        with tempfile.TemporaryDirectory(prefix="ytdq-incr-") as tmp:
            gx = _project(Path(tmp))
            baseline = {}
            for checkpoint in checkpoints:
                base_s, base = _run(gx, check, checkpoint, None)
                if not base["success"]:
                    raise SystemExit(f"the baseline run of {checkpoint} failed: {_counts(base)}")
                baseline[checkpoint] = round(base_s, 3)
            new_day, *_rest = _sql(url, *NEW_DAY)
            B.replica_caught_up()
            total = _count(check)
            out: dict = {}
            for layout in layouts:
                t = time.perf_counter()
                if layout == "partitioned":
                    from ytempire_dq.db.partition import partition_analytics

                    # the conversion holds two copies of analytics for a while: on the primary only
                    B.stop_replicas()
                    partition_analytics(url)  # its ANALYZE included; VACUUM then sets the visibility maps
                _sql(url, *(B.BY_DATE if layout == "by-date" else ("VACUUM ANALYZE analytics",)))
                if args.replica and layout == "partitioned":
                    check = B.check_on_replica(url, label)
                B.replica_caught_up()
                out[layout] = {
                    "prepare_s": round(time.perf_counter() - t, 1),
                    "duplicate_ids_query_s": _duplicate_ids_seconds(check, args.repeats),
                    **_measure(gx, check, args.repeats, baseline, profile=not args.no_profile),
                }
        print(
            json.dumps(
                {
                    "analytics_rows": total,
                    "history_days": args.history_days,
                    "checked_on": "a streaming replica" if args.replica else "the primary",
                    "new_day_rows": new_day + FUTURE_DATED + ORPHANS,
                    "seed_s": meta.get("seed_s"),
                    "layouts": out,
                    "command": (
                        f"python -m benchmarks.incremental --users {args.users} --repeats {args.repeats} "
                        f"--layout {args.layout} --checkpoints {args.checkpoints} --history-days {args.history_days}"
                        + (" --replica" if args.replica else "")
                        + (" --no-profile" if args.no_profile else "")
                        + (f" --database {args.database}" if args.database else "")
                    ),
                },
                indent=2,
            )
        )
    finally:
        B.stop_replicas()
        if started and not args.keep:
            B.stop_server()
    return 0


if __name__ == "__main__":
    sys.exit(main())
