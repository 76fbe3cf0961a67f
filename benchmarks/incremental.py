"""Incremental nightly (issue 12, item 4): a full run vs ``--since-last`` on one new day.

    .venv/bin/python -m benchmarks.incremental --users 1430 --repeats 3   # ~1.07M analytics rows

Seeds clean data (``benchmarks.run.prepare_database``, database ``bench_incr_<users>``), removes
yesterday's and today's analytics rows, makes a project copy with a checkpoint ``analytics_only`` (the analytics
suite, no actions: the part of ``nightly`` incremental mode changes) and runs it once in full (the
successful run whose watermark is the lower bound). Then adds one new day (yesterday, a closed
day: a copy of the day before's rows) with defects only in it (negative revenue, future-dated rows) and times, as
processes from start to exit, interleaved, ``ytdq checkpoint run analytics_only --full`` and
``--since-last`` (each run's ``--json`` counts are checked: the incremental run must find exactly
the new day's defects), then the validation step alone (``RunReport.timings["validate"]``, the same
runs in this process). Medians of ``--repeats``. Prints one JSON document.
Without ``DATABASE_URL`` it starts the embedded servers in ``benchmarks/.state/`` and stops them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import run as B

YTDQ = Path(sys.executable).parent / "ytdq"
CHECKPOINT = "analytics_only"
NEGATIVE_REVENUE, FUTURE_DATED = 5, 3


def _project(dest: Path) -> Path:
    from ytempire_dq.locations import copy_project

    gx = copy_project(dest)
    vd = json.loads((dest / "validation_definitions" / "analytics.json").read_text())
    (dest / "checkpoints" / f"{CHECKPOINT}.json").write_text(
        json.dumps(
            {
                "actions": [],
                "id": "00000000-0000-4000-8000-0000000b1c4a",
                "name": CHECKPOINT,
                "result_format": "SUMMARY",
                "validation_definitions": [{"id": vd["id"], "name": "analytics"}],
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


def _count(url: str) -> int:
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM analytics")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _in_process(gx: Path, url: str, mode: str) -> float:
    """The run's validation seconds (``RunReport.timings``), in this process (GX imported once)."""
    from ytempire_dq.checkpoints import run_checkpoint

    report = run_checkpoint(CHECKPOINT, config_dir=gx, database_url=url, full=mode == "full", since_last=mode != "full")
    return round(report.timings["validate"], 3)


def _run(gx: Path, url: str, flag: str | None) -> tuple[float, dict]:
    args = [str(YTDQ), "checkpoint", "run", CHECKPOINT, "--config", str(gx), "--json", "-"]
    if flag:
        args.append(flag)
    env = {**os.environ, "DATABASE_URL": url}
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    seconds = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args[1:])} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout)


def _counts(doc: dict) -> dict:
    return {
        r["rule_id"]: r["unexpected_count"]
        for v in doc["validations"]
        for r in v["results"]
        if not r["success"] and r["rule_id"]
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1430, help="seeded users (~748 analytics rows each)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the embedded servers running")
    args = ap.parse_args(argv)

    admin_url, started = B.start_server(keep_env=False)
    try:
        url, meta = B.prepare_database(admin_url, f"incr_{args.users}", args.users, reuse=False, inject={})
        _sql(
            url,
            "DELETE FROM analytics WHERE date >= current_date - 1",
            "ALTER TABLE analytics DROP CONSTRAINT IF EXISTS analytics_revenue_check",
            "VACUUM ANALYZE analytics",
        )
        with tempfile.TemporaryDirectory(prefix="ytdq-incr-") as tmp:
            gx = _project(Path(tmp))
            base_s, base = _run(gx, url, None)
            if not base["success"]:
                raise SystemExit(f"the baseline run failed: {_counts(base)}")
            (new_day, *_rest) = _sql(
                url,
                "INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments) "
                "SELECT video_id, current_date - 1, views, watch_time_minutes, revenue, likes, comments "
                "FROM analytics WHERE date = current_date - 2",
                f"UPDATE analytics SET revenue = -1 WHERE id IN (SELECT id FROM analytics "
                f"WHERE date = current_date - 1 ORDER BY id LIMIT {NEGATIVE_REVENUE})",
                "INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments) "
                "SELECT video_id, current_date + 5, 10, 1, 0, 0, 0 FROM analytics WHERE date = current_date - 1 "
                f"GROUP BY video_id ORDER BY video_id LIMIT {FUTURE_DATED}",
                "ANALYZE analytics",
            )
            total = _count(url)
            expected = {
                "analytics.revenue_non_negative": NEGATIVE_REVENUE,
                "analytics.date_not_in_future": FUTURE_DATED,
            }
            times: dict[str, list] = {"full": [], "incremental": []}
            validate: dict[str, list] = {"full": [], "incremental": []}
            for _ in range(args.repeats):
                for mode, flag in (("full", "--full"), ("incremental", "--since-last")):
                    seconds, doc = _run(gx, url, flag)
                    if _counts(doc) != expected or doc["scan"]["incremental"] != (mode == "incremental"):
                        raise SystemExit(f"{mode}: found {_counts(doc)}, scan {doc['scan']}; expected {expected}")
                    times[mode].append(round(seconds, 3))
                for mode in ("full", "incremental"):
                    validate[mode].append(_in_process(gx, url, mode))
        full, inc = statistics.median(times["full"]), statistics.median(times["incremental"])
        print(
            json.dumps(
                {
                    "analytics_rows": total,
                    "new_day_rows": new_day + FUTURE_DATED,
                    "seed_s": meta.get("seed_s"),
                    "baseline_full_s": round(base_s, 3),
                    "whole_process_s": times,
                    "validate_s": validate,
                    "median_validate_full_s": statistics.median(validate["full"]),
                    "median_validate_incremental_s": statistics.median(validate["incremental"]),
                    "median_full_s": full,
                    "median_incremental_s": inc,
                    "ratio": round(inc / full, 3),
                    "found": expected,
                    "command": f"python -m benchmarks.incremental --users {args.users} --repeats {args.repeats}",
                },
                indent=2,
            )
        )
    finally:
        if started and not args.keep:
            B.stop_server()
    return 0


if __name__ == "__main__":
    sys.exit(main())
