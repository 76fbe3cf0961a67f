"""Fair comparisons (issue 12, item 1): a floor allowed the fast path's catalog proof, and the
whole commands a user waits for, as processes.

- **The fair floor** (:func:`run_fair_floor`): the floor's single-pass SQL (:mod:`benchmarks.rules`),
  in one READ ONLY transaction, but a uniqueness rule backed by a valid, live, immediate,
  non-partial, non-expression unique index on exactly its columns (and, for a compound rule, every
  column NOT NULL or rows with a missing value skipped) is not scanned: the same ``pg_index``
  query the fast path uses (:data:`ytempire_dq.run.validation.PROOF_SQL`), run and timed inside the floor.
- **Whole commands** (:func:`whole_runs`): ``ytdq checkpoint run nightly`` with everything it does
  by default (every suite and the Redis cache, history and quarantine, Data Docs, publish to
  Redis) and ``soda scan`` (Soda Core's CLI) on the same rules, each timed as a process from start
  to exit, interleaved (ytdq, soda, ytdq, soda, ...) after one unmeasured warm-up of each.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import nightly as N
from benchmarks import rules as R
from ytempire_dq import config
from ytempire_dq.db.connect import connect

YTDQ = R.ROOT / ".venv" / "bin" / "ytdq"


def _proved(cur, rules: list[R.Rule]) -> list[str]:
    """Rule ids of the uniqueness rules the catalog proves (the fast path's test, same query)."""
    from ytempire_dq.run.validation import PROOF_SQL

    cur.execute(PROOF_SQL.replace(":schema", "%(schema)s"), {"schema": None})
    indexes = {(t, frozenset(cols)): bool(nn) for t, _i, cols, nn in cur.fetchall()}
    out = []
    for r in rules:
        kw = r.kwargs
        if r.type not in R.UNIQUE_TYPES or kw.get("row_condition") or kw.get("mostly", 1) != 1:
            continue
        cols = frozenset(kw.get("column_list") or [kw["column"]])
        not_null = indexes.get((r.table, cols))
        if not_null is None:
            continue
        if len(cols) > 1 and not (not_null or kw.get("ignore_row_if") == "any_value_is_missing"):
            continue
        out.append(r.rule_id)
    return out


def run_fair_floor(url: str, pgss: N.Pgss, rules: list[R.Rule]) -> dict:
    """The floor, allowed the catalog proof; ``seconds`` includes the proof query."""
    from ytempire_dq.sql_guard import begin_read_only

    conn = connect(url)
    try:
        pgss.reset()
        t = time.perf_counter()
        with conn.cursor() as cur:
            begin_read_only(cur)
            proved = _proved(cur, rules)
            statements = [s for s in R.floor_statements(rules) if not (set(s.rule_ids) <= set(proved))]
            counts = dict.fromkeys(proved, 0)
            for st in statements:
                cur.execute(st.sql, {"tables": list(R.TABLES)} if st.label == "catalog" else None)
                if st.label == "catalog":
                    counts.update(R.schema_counts(rules, cur.fetchall()))
                else:
                    counts.update(zip(st.rule_ids, (int(v) for v in cur.fetchone())))
        wall = time.perf_counter() - t
        conn.rollback()
    finally:
        conn.close()
    return {
        "seconds": wall,
        "statements": len(statements) + 1,
        "proved_by_index": sorted(proved),
        "pgss": pgss.read(),
        "counts": counts,
    }


def _whole_config(work: Path, url: str) -> Path:
    """A copy of the GX project with the real ``nightly`` checkpoint (every suite, its actions)."""
    gx_dir, _ = N.make_config(work, url, "baseline")
    shutil.copy(config.PROJECT_ROOT / "checkpoints" / "nightly.json", work / "checkpoints" / "nightly.json")
    return gx_dir


def _soda_home(workdir: Path) -> Path:
    """A HOME whose ``.soda/config.yml`` turns Soda's usage statistics off (no network here)."""
    home = workdir / "home"
    (home / ".soda").mkdir(parents=True, exist_ok=True)
    (home / ".soda" / "config.yml").write_text("send_anonymous_usage_stats: false\n")
    return home


#: Runs argv[2:] and writes its peak resident memory (KiB) into argv[1]. A child forked from this
#: small process: one forked from the benchmark itself would report the benchmark's size, since
#: Linux counts the memory a process had before its exec in its high-water mark.
_PEAK_RSS = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(rc)"
)


def timed_process(cmd: list[str], env: dict, cwd: Path | None = None) -> dict:
    """Run ``cmd`` to its end: its seconds, exit code, stdout, the tail of its stderr and its peak
    resident memory (``max_rss_mb``, the kernel's high-water mark of that process)."""
    with tempfile.TemporaryDirectory(prefix="ytdq-rss-") as tmp:
        peak = Path(tmp) / "peak"
        t = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, str(peak), *cmd], capture_output=True, text=True, env=env, cwd=cwd
        )
        seconds = time.perf_counter() - t
        kib = int(peak.read_text()) if peak.is_file() else None
    return {
        "seconds": seconds,
        "exit_code": res.returncode,
        "max_rss_mb": None if kib is None else round(kib / 1024, 1),
        "stdout": res.stdout,
        "tail": (res.stderr or "")[-300:],
    }


def _timed(cmd: list[str], env: dict, cwd: Path) -> dict:
    res = timed_process(cmd, env, cwd)
    del res["stdout"]
    return res


def whole_runs(work: Path, url: str, redis_url: str, rules: list[R.Rule], repeats: int = 3, log=print) -> dict:
    """Interleaved process timings of ``ytdq checkpoint run nightly`` and ``soda scan``."""
    gx_dir = _whole_config(work / "ytdq", url)
    ytdq_env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url)
    ytdq_env.pop("YTDQ_FAST", None)  # everything default
    ytdq_cmd = [str(YTDQ), "checkpoint", "run", "nightly", "--config", str(gx_dir), "--json", str(work / "ytdq.json")]
    soda_ok = N.soda_available()
    if soda_ok:
        config, checks = N.soda_files(work / "soda", url, rules)
        soda_env = dict(os.environ, HOME=str(_soda_home(work / "soda")), SODA_CORE_TELEMETRY_ENABLED="false")
        soda_cmd = [str(N.SODA_VENV / "bin" / "soda"), "scan", "-d", "ytempire", "-c", str(config), str(checks)]
    runs: dict[str, list] = {"ytdq": [], "soda": []}
    for i in range(repeats + 1):  # the first of each is a warm-up, not kept
        log(f"whole commands: round {i + 1}/{repeats + 1}{' (warm-up)' if i == 0 else ''}")
        y = _timed(ytdq_cmd, ytdq_env, work)
        s = _timed(soda_cmd, soda_env, work / "soda") if soda_ok else None
        if i:
            runs["ytdq"].append(y)
            if s:
                runs["soda"].append(s)
    out: dict = {"repeats": repeats, "runs": runs, "command_ytdq": "ytdq checkpoint run nightly --config COPY --json F"}
    out["command_soda"] = "soda scan -d ytempire -c configuration.yml checks.yml"
    for name, rs in runs.items():
        if rs:
            out[f"{name}_median_s"] = statistics.median(r["seconds"] for r in rs)
            out[f"{name}_max_rss_mb"] = max(r["max_rss_mb"] for r in rs)
            out[f"{name}_exit_codes"] = sorted({r["exit_code"] for r in rs})
    if (work / "ytdq.json").is_file():
        report = json.loads((work / "ytdq.json").read_text())
        out["ytdq_failed_rules"] = sum(not r["success"] for v in report["validations"] for r in v["results"])
        out["ytdq_snapshot"] = report.get("snapshot")
    if runs["ytdq"] and runs["soda"]:
        out["ratio_ytdq_over_soda"] = out["ytdq_median_s"] / out["soda_median_s"]
    return out
