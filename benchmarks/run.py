"""Performance benchmarks at chosen scales; writes benchmarks/results.md, results.json and results.png.

    .venv/bin/python -m benchmarks.run --scales 100k,1m,10m          # the full run (~25 min, 2 cores)
    .venv/bin/python -m benchmarks.run --scales 100k --repeats 3     # a quick one

A scale is a number of analytics rows (``100k``, ``1m``, ``10m``, or a plain number); the
seeder (``ytempire_dq.fixtures.seed``) makes about 748 analytics rows per user, so the benchmark seeds
``round(rows / 748)`` users, each scale into its own database ``bench_<scale>``, with every
non-duplicate defect kind injected 5 times (so the rules have something to find; the duplicate
kinds drop unique constraints, which a production copy would have).

Without ``DATABASE_URL`` it starts its own PostgreSQL (the embedded one of ``ytdq services``, in
``benchmarks/.state/``, git-ignored) with ``pg_stat_statements`` preloaded (for statement counts),
and stops it at the end (``--keep`` leaves it and the databases; ``--reuse`` skips seeding a
database that already holds the asked-for scale). With ``DATABASE_URL`` it uses that server (its
user must be able to create databases); statement counts need ``pg_stat_statements`` there.

Soda Core runs from its own venv (``benchmarks/.venv-soda``, git-ignored), created on first use
(``--no-soda`` skips the peer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks import deadlocks as D
from benchmarks import nightly as N
from benchmarks import rules as R
from benchmarks import whole as WH
from benchmarks import workloads as W

HERE = Path(__file__).resolve().parent
STATE = HERE / ".state"
ROWS_PER_USER = 748


def rows_per_user(history_days: int) -> float:
    """Analytics rows the seeder makes per user over ``history_days`` (748 at its default 36 days;
    measured on 1,000 users' plan, which is quick, for another history)."""
    from ytempire_dq.fixtures.generate import ANALYTICS_WINDOW_DAYS, generate_plan

    if history_days == ANALYTICS_WINDOW_DAYS:
        return ROWS_PER_USER
    today = dt.date.today()
    now = dt.datetime.combine(today, dt.time()) - dt.timedelta(seconds=1)
    return generate_plan(1000, 42, now, today, history_days=history_days).analytics_rows / 1000


def parse_scale(text: str) -> tuple[str, int]:
    t = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    rows = int(float(t.rstrip("km")) * mult)
    return t, rows


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# the server


def start_server(keep_env: bool) -> tuple[str, bool]:
    """(admin URL, started_here). Starts the embedded cluster with pg_stat_statements preloaded,
    and the embedded redis-server (the whole ``nightly`` command publishes to and reads Redis)."""
    from ytempire_dq.db.connect import connect
    from ytempire_dq.ops import services

    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], False
    # no WAL archive for the benchmark's own cluster: seeding 10M rows would copy gigabytes of WAL
    os.environ.setdefault("YTDQ_WAL_ARCHIVE", "off")
    state = services.up(STATE, redis=True, log=log)
    os.environ.setdefault("REDIS_URL", state["redis"]["url"])
    url = state["postgres"]["url"]
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        loaded = cur.fetchone()[0]
    if "pg_stat_statements" not in loaded:
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        conn.close()
        log("restarting the benchmark cluster with pg_stat_statements preloaded")
        services.down(STATE)
        state = services.up(STATE, redis=True, log=log)
        os.environ["REDIS_URL"] = state["redis"]["url"]
        url = state["postgres"]["url"]
    else:
        conn.close()
    return url, True


def stop_server() -> None:
    from ytempire_dq.ops import services

    services.down(STATE, purge=True)


#: analytics' physical layouts: as seeded (the seeder writes each video's whole history at once, so
#: every heap page holds rows of many days) or in date order, as a table the sync appends to day by
#: day holds them (what a query over a window of days, or an incremental run, reads)
LAYOUTS = ("seeded", "by-date")
BY_DATE = ("CLUSTER analytics USING idx_analytics_date", "VACUUM ANALYZE analytics")


def prepare_database(
    admin_url: str,
    label: str,
    users: int,
    reuse: bool,
    inject: dict,
    history_days: int = 36,
    layout: str = "seeded",
) -> tuple[str, dict]:
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import connect, with_database
    from ytempire_dq.fixtures.seed import seed

    name = f"bench_{label}"
    url = with_database(admin_url, name)
    admin = connect(admin_url, autocommit=True)
    manifest_path = STATE / f"manifest_{label}.json"
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        exists = cur.fetchone() is not None
    if reuse and exists:
        c = connect(url, autocommit=True)
        with c.cursor() as cur:
            cur.execute("SELECT to_regclass('bench_meta') IS NOT NULL")
            meta = None
            if cur.fetchone()[0]:
                cur.execute("SELECT info FROM bench_meta")
                meta = cur.fetchone()[0]
        c.close()
        if (
            meta
            and meta.get("users") == users
            and meta.get("inject") == inject
            and meta.get("history_days", 36) == history_days
            and layout in ("by-date", meta.get("layout", "seeded"))  # (rows are put in date order, never back)
        ):
            admin.close()
            log(f"{name}: reusing the seeded database ({meta['rows']['analytics']:,} analytics rows)")
            meta["reused"] = True
            return url, _laid_out(url, meta, layout)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    migrations.migrate(url)
    log(f"{name}: seeding {users:,} users")
    report = seed(
        url,
        users=users,
        seed=42,
        inject=inject,
        manifest_path=manifest_path,
        progress=sys.stderr.isatty(),
        history_days=history_days,
    )
    meta = {
        "users": users,
        "history_days": history_days,
        "inject": inject,
        "rows": report.rows,
        "seed_s": report.seconds,
        "seed_timings": report.timings,
        "manifest": report.injected,
        "reused": False,
    }
    c = connect(url, autocommit=True)
    with c.cursor() as cur:
        cur.execute("CREATE TABLE bench_meta (info jsonb)")
        cur.execute("INSERT INTO bench_meta VALUES (%s)", (json.dumps(meta),))
        cur.execute("VACUUM ANALYZE")  # the state a nightly copy would be in (visibility map set)
    c.close()
    log(f"{name}: {report.rows['analytics']:,} analytics rows seeded in {report.seconds:.1f} s")
    return url, _laid_out(url, meta, layout)


def _laid_out(url: str, meta: dict, layout: str) -> dict:
    """``meta`` with analytics in ``layout`` (rewritten in date order when asked and not yet; the
    seconds it took in ``layout_s``)."""
    from ytempire_dq.db.connect import connect

    if layout != "by-date" or meta.get("layout") == "by-date":
        return {**meta, "layout": meta.get("layout", "seeded")}
    t = time.perf_counter()
    c = connect(url, autocommit=True)
    with c.cursor() as cur:
        for statement in BY_DATE:
            cur.execute(statement)
        meta = {**meta, "layout": "by-date", "layout_s": round(time.perf_counter() - t, 1)}
        cur.execute("UPDATE bench_meta SET info = %s", (json.dumps(meta),))
    c.close()
    log(f"analytics rewritten in date order in {meta['layout_s']} s")
    return meta


# ----------------------------------------------------------------------------------------------
# one scale


def parity(gx: dict, floor: dict, soda: dict | None, manifest: dict) -> dict:
    """Do GX, the floor and Soda find the same broken rules (and GX and the floor the same counts)?"""

    mism = {k: (v, floor.get(k)) for k, v in gx.items() if v is not None and k in floor and floor[k] != v}
    gx_failed = sorted(k for k, v in gx.items() if v)
    floor_failed = sorted(k for k, v in floor.items() if v)
    out = {
        "gx_vs_floor_count_mismatches": mism,
        "gx_failed": gx_failed,
        "floor_failed": floor_failed,
        "manifest_kinds": len(manifest),
    }
    if soda and "failed" in soda:
        # Soda folds the column-type rules of a table into one schema check
        soda_failed = set(soda["failed"])
        out["soda_failed"] = sorted(soda_failed)
        out["only_gx"] = sorted(set(gx_failed) - soda_failed)
        out["only_soda"] = sorted(soda_failed - set(gx_failed))
    # injected kinds whose count_sql the floor reproduces (by the defect's own SQL)
    out["manifest"] = manifest
    return out


def bench_scale(label: str, rows_target: int, admin_url: str, args, counter: N.SqlCounter) -> dict:
    from ytempire_dq.fixtures.defects import DEFECT_KINDS

    users = max(3, round(rows_target / rows_per_user(args.history_days)))
    inject = {k: 5 for k in DEFECT_KINDS if not k.startswith("duplicate_")}
    if args.inject_up_to is not None and rows_target > args.inject_up_to:
        inject = {}  # clean data: the injector's searches for clean rows to spoil walk every video
    url, meta = prepare_database(admin_url, label, users, args.reuse, inject, args.history_days, args.layout)
    res: dict = {
        "label": label,
        "rows_target": rows_target,
        "users": users,
        "seed": meta,
        "loadavg_before": os.getloadavg(),
    }
    primary_url = url  # what writes (the deadlock and app workloads) go to
    if args.replica:
        url = check_on_replica(url, label)
        res["replica"] = {"port": make_url(url).port, "hot_standby_feedback": "on"}
    gx_alone = args.gx_alone_up_to is None or meta["rows"]["analytics"] <= args.gx_alone_up_to
    if not gx_alone:
        res["gx_alone_skipped"] = (
            f"GX alone is not run above {args.gx_alone_up_to:,} analytics rows (--gx-alone-up-to): "
            "it takes several times the fast path, and its counts are the fast path's (tested as a property)"
        )
    rules = R.load_rules()
    pgss = N.Pgss(url)
    res["pg_stat_statements"] = pgss.ok or getattr(pgss, "why", False)
    work = STATE / f"work_{label}"
    gx_dir, _ = N.make_config(work / "baseline", url, "baseline")

    log(f"{label}: warm-up (count(*), floor, one GX run)")
    N.run_count(url, pgss)
    N.run_floor(url, pgss, rules)
    if gx_alone:
        N.run_gx(gx_dir, url, pgss, counter)
    N.run_gx(gx_dir, url, pgss, counter, fast=True)

    runs: dict[str, list] = {
        "count": [],
        "floor": [],
        "floor_fair": [],
        "gx": [],
        "gx_fast": [],
        "gx_fast_jobs": [],
        "soda": [],
    }
    soda_ok = not args.no_soda and N.soda_available()
    for i in range(args.nightly_repeats):
        log(f"{label}: nightly comparison, repeat {i + 1}/{args.nightly_repeats}")
        runs["count"].append(N.run_count(url, pgss))
        runs["floor"].append(N.run_floor(url, pgss, rules))
        runs["floor_fair"].append(WH.run_fair_floor(url, pgss, rules))
        if gx_alone:
            runs["gx"].append(N.run_gx(gx_dir, url, pgss, counter))
        runs["gx_fast"].append(N.run_gx(gx_dir, url, pgss, counter, fast=True))
        if args.jobs > 1:
            runs["gx_fast_jobs"].append(N.run_gx(gx_dir, url, pgss, counter, fast=True, jobs=args.jobs))
        if soda_ok:
            runs["soda"].append(N.run_soda(work / "soda", url, pgss, rules))
            if "error" in runs["soda"][-1]:
                log(f"soda failed: {runs['soda'][-1]['error'][:300]}")
    res["nightly"] = runs
    res["parity"] = parity(
        (runs["gx"] or runs["gx_fast"])[-1]["counts"],
        runs["floor"][-1]["counts"],
        runs["soda"][-1] if runs["soda"] else None,
        meta.get("manifest", {}),
    )
    res["parity_floor_fair"] = parity(
        runs["floor_fair"][-1]["counts"], runs["floor"][-1]["counts"], None, meta.get("manifest", {})
    )
    res["parity_fast"] = parity(
        runs["gx_fast"][-1]["counts"],
        runs["floor"][-1]["counts"],
        runs["soda"][-1] if runs["soda"] else None,
        meta.get("manifest", {}),
    )

    if not args.no_levers and (args.lever_scales is None or label in args.lever_scales):
        levers = {}
        for variant in N.VARIANTS:
            if variant in ("baseline", "fast"):  # both measured in the nightly comparison above
                continue
            vdir, facts = N.make_config(work / variant, url, variant)
            levers[variant] = {"facts": facts, "runs": []}
            for i in range(args.lever_repeats):
                log(f"{label}: lever {variant}, repeat {i + 1}/{args.lever_repeats}")
                levers[variant]["runs"].append(
                    N.run_gx(
                        vdir,
                        url,
                        pgss,
                        counter,
                        concurrent=variant in ("concurrent", "combined", "fast_concurrent"),
                        fast=variant.startswith("fast"),
                    )
                )
        res["levers"] = levers

    if args.whole_repeats and os.environ.get("REDIS_URL"):
        log(f"{label}: whole commands (ytdq checkpoint run nightly, soda scan) as processes")
        res["whole_run"] = WH.whole_runs(
            work / "whole", url, os.environ["REDIS_URL"], rules, repeats=args.whole_repeats, log=log
        )
    if args.deadlock_seconds:
        log(f"{label}: deadlock rate ({args.deadlock_clients} clients, {args.deadlock_seconds} s)")
        res["deadlocks"] = D.deadlock_rate(primary_url, clients=args.deadlock_clients, seconds=args.deadlock_seconds)

    if not args.no_workloads:
        url = primary_url  # they write
        log(f"{label}: app queries")
        res["app_queries"] = W.app_queries(url, n=args.app_n)
        log(f"{label}: bulk insert")
        res["bulk_insert"] = W.bulk_insert(url, repeats=args.repeats)
        log(f"{label}: concurrent queries")
        res["concurrent"] = [W.concurrent_queries(url, seed=s) for s in range(args.repeats)]
        log(f"{label}: pgbench")
        res["pgbench"] = W.pgbench(url, work / "pgbench", seconds=args.pgbench_seconds, repeats=args.repeats)
        if label == args.limits_at:
            log(f"{label}: connection limits")
            res["max_connections"] = W.max_connections(url)
            res["pool_exhaustion"] = W.pool_exhaustion(url, repeats=args.repeats)
    res["loadavg_after"] = os.getloadavg()
    pgss.close()
    return res


#: (primary, replica) of the streaming replica started by --replica (stopped at the end of the run).
_REPLICAS: list = []


def check_on_replica(url: str, label: str) -> str:
    """``url``'s database on a new hot standby of the benchmark cluster (``pg_basebackup -R``, as
    production checks from a replica, with ``hot_standby_feedback`` on as the production page
    advises); the runs' history goes to ``bench_store`` on the primary (``YTDQ_STORE_URL``)."""
    from tests.topologies import Cluster, start_replica
    from ytempire_dq.db.connect import connect, with_database
    from ytempire_dq.ops import services

    N.Pgss(url).close()  # pg_stat_statements made on the primary: a standby takes no CREATE EXTENSION
    admin = connect(with_database(url, "postgres"), autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'bench_store'")
        if cur.fetchone() is None:
            cur.execute("CREATE DATABASE bench_store")
    admin.close()
    os.environ["YTDQ_STORE_URL"] = with_database(url, "bench_store")
    # one source name whatever the replica's port: a new replica keeps the runs' baselines and watermarks
    os.environ["YTDQ_SOURCE"] = make_url(url).database
    stop_replicas()  # one replica at a time: each holds a copy of the whole cluster
    pg = services.read_services(STATE)["postgres"]
    primary = Cluster(
        port=pg["port"], datadir=Path(pg["datadir"]), bindir=Path(pg["bindir"]), url=pg["url"], log=Path(pg["log"])
    )
    t = time.perf_counter()
    replica = start_replica(primary, hot_standby_feedback="on")
    _REPLICAS.append((primary, replica))
    log(f"{label}: checks run on a streaming replica (port {replica.port}), made in {time.perf_counter() - t:.0f} s")
    return with_database(replica.url, make_url(url).database)


def replica_caught_up() -> None:
    """Wait until the replica (if any) has replayed what the primary wrote so far."""
    from tests.topologies import wait_replayed

    for primary, replica in _REPLICAS:
        wait_replayed(primary, replica, timeout=3600)


def stop_replicas() -> None:
    from tests.topologies import stop_cluster

    while _REPLICAS:
        stop_cluster(_REPLICAS.pop()[1])


def machine_info(admin_url: str) -> dict:
    from importlib.metadata import version

    from ytempire_dq.db.connect import connect

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        None,
    )
    c = connect(admin_url, autocommit=True)
    with c.cursor() as cur:
        cur.execute("SELECT version()")
        pg = cur.fetchone()[0].split(" on ")[0]
        settings = {}
        for s in (
            "shared_buffers",
            "work_mem",
            "max_connections",
            "max_parallel_workers_per_gather",
            "fsync",
            "synchronous_commit",
        ):
            cur.execute(f"SHOW {s}")
            settings[s] = cur.fetchone()[0]
    c.close()
    soda_version = None
    if N.soda_available():
        import subprocess

        r = subprocess.run(
            [
                str(N.SODA_VENV / "bin" / "python"),
                "-c",
                "from importlib.metadata import version as v; print(v('soda-core'), v('soda-core-postgres'))",
            ],
            capture_output=True,
            text=True,
        )
        soda_version = r.stdout.strip() or None
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgres": pg,
        "postgres_settings": settings,
        "great_expectations": version("great_expectations"),
        "sqlalchemy": version("sqlalchemy"),
        "psycopg2": version("psycopg2-binary"),
        "soda": soda_version,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="100k,1m,10m", help="analytics rows per scale, e.g. 100k,1m,10m")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the small workloads (median and p95 over them)")
    ap.add_argument("--nightly-repeats", type=int, default=3, help="repeats of count/floor/GX/Soda per scale")
    ap.add_argument("--lever-repeats", type=int, default=2, help="repeats of each item-2 lever variant per scale")
    ap.add_argument("--app-n", type=int, default=300, help="executions of each app query per scale")
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    ap.add_argument("--limits-at", default=None, help="scale at which to test connection limits (default: the first)")
    ap.add_argument("--no-soda", action="store_true")
    ap.add_argument("--no-levers", action="store_true")
    ap.add_argument(
        "--lever-scales",
        default=None,
        help="scales at which to measure the lever variants, e.g. 100k,1m (default: every scale)",
    )
    ap.add_argument("--no-workloads", action="store_true")
    ap.add_argument("--whole-repeats", type=int, default=3, help="interleaved whole-command runs (0: none)")
    ap.add_argument("--deadlock-seconds", type=float, default=10.0, help="deadlock workload length (0: none)")
    ap.add_argument("--deadlock-clients", type=int, default=20)
    ap.add_argument("--reuse", action="store_true", help="reuse bench_<scale> databases seeded by an earlier run")
    ap.add_argument("--keep", action="store_true", help="leave the benchmark server and its databases running")
    ap.add_argument("--out", default=str(HERE), help="directory for results.md/.json/.png")
    ap.add_argument(
        "--history-days",
        type=int,
        default=36,
        help="days of analytics history the seed makes (1000: one day is about 0.27%% of analytics, "
        "as on a platform years old; the users seeded per scale follow)",
    )
    ap.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="seeded",
        help="analytics' physical layout: seeded (each video's history written at once: a day's rows on "
        "every heap page) or by-date (rewritten in date order, as a table appended to day by day)",
    )
    ap.add_argument(
        "--replica",
        action="store_true",
        help="run the checks on a streaming replica of the benchmark cluster (the history in bench_store "
        "on the primary)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="also measure the fast path validating this many validation definitions at a time (ytdq --jobs)",
    )
    ap.add_argument(
        "--gx-alone-up-to",
        type=parse_scale,
        default=None,
        help="leave GX alone out above this many analytics rows, e.g. 10m (default: run it at every scale)",
    )
    ap.add_argument(
        "--inject-up-to",
        type=parse_scale,
        default=None,
        help="seed clean data (no defects) above this many analytics rows, e.g. 10m: at 100M the defect "
        "injector's searches for clean rows take longer than the benchmark (default: defects at every scale)",
    )
    args = ap.parse_args(argv)
    if args.inject_up_to:
        args.inject_up_to = args.inject_up_to[1]
    if args.gx_alone_up_to:
        args.gx_alone_up_to = args.gx_alone_up_to[1]
    scales = [parse_scale(s) for s in args.scales.split(",") if s.strip()]
    args.limits_at = args.limits_at or scales[0][0]
    if args.lever_scales:
        args.lever_scales = {parse_scale(x)[0] for x in args.lever_scales.split(",") if x.strip()}

    if not args.no_soda:
        why = N.ensure_soda(log)
        if why:
            log(f"Soda Core unavailable, the peer is skipped: {why}")
    STATE.mkdir(exist_ok=True)
    started = time.perf_counter()
    admin_url, started_here = start_server(args.keep)
    counter = N.SqlCounter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # a fresh --out directory
    try:
        info = machine_info(admin_url)
        info["loadavg_start"] = os.getloadavg()
        info["command"] = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
        results = {"machine": info, "scales": []}
        for label, rows in scales:
            results["scales"].append(bench_scale(label, rows, admin_url, args, counter))
            (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
        results["machine"]["loadavg_end"] = os.getloadavg()
        results["machine"]["total_s"] = time.perf_counter() - started
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    finally:
        stop_replicas()
        if started_here and not args.keep:
            stop_server()
    if any(s.get("gx_alone_skipped") for s in results["scales"]):
        # results.md compares GX alone at every scale; the fair figures are merged with report_fair
        log(f"wrote {out / 'results.json'} in {time.perf_counter() - started:.0f} s (GX alone left out: no results.md)")
        log(f"its fair figures: python -m benchmarks.report_fair --merge {out / 'results.json'}")
        return 0
    from benchmarks import report

    report.write(results, out)
    log(f"wrote {out / 'results.md'} and {out / 'results.png'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
