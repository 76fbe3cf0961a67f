"""``nightly``'s table suites under GX, beside ``count(*)``, the floor and Soda Core, on one database.

GX runs through the project's own :func:`ytempire_dq.run.checkpoint.run_checkpoint` on a COPY of the
GX config (``gx/``, ``expectations/``, ``validation_definitions/``) in a temporary directory whose
only checkpoints are the benchmark's: ``bench_nightly`` holds nightly's seven table validation
definitions (users, channels, videos, analytics, api_keys, workflows, cross_table) and no actions
(other validation definitions, e.g. the Redis cache, and the actions are not what is compared).
Lever variants (see :data:`VARIANTS`) change only that copy.

Statements are counted with ``pg_stat_statements`` (reset before each run; every statement of
the benchmark database, BEGIN/ROLLBACK included) when the server has it loaded, and in-process
with a SQLAlchemy ``before_cursor_execute`` listener (GX's statements without transaction
control) always.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from benchmarks import rules as R
from ytempire_dq import config
from ytempire_dq.db.connect import connect

ROOT = R.ROOT
TABLE_VDS = ["users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table"]
SODA_VENV = ROOT / "benchmarks" / ".venv-soda"


# ----------------------------------------------------------------------------------------------
# statement counting


class SqlCounter:
    """Counts statements SQLAlchemy sends (every engine in this process) while active."""

    def __init__(self):
        self.n = 0
        self.active = False
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._on)

    def _on(self, *args, **kw):
        if self.active:
            self.n += 1

    def __enter__(self):
        self.n, self.active = 0, True
        return self

    def __exit__(self, *exc):
        self.active = False


class Pgss:
    """pg_stat_statements of one database (None-safe when the extension is not loaded)."""

    def __init__(self, url: str):
        self.conn = connect(url, autocommit=True)
        self.ok = False
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
                if cur.fetchone() is None:  # a standby takes no CREATE, even IF NOT EXISTS: made on its primary
                    cur.execute("CREATE EXTENSION pg_stat_statements")
                cur.execute("SELECT count(*) FROM pg_stat_statements")
            self.ok = True
        except Exception as exc:  # noqa: BLE001 - not in shared_preload_libraries
            self.why = str(exc).strip().splitlines()[0]

    def reset(self):
        if self.ok:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_stat_statements_reset()")

    def read(self) -> dict | None:
        if not self.ok:
            return None
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT query, calls, total_exec_time, rows FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query NOT ILIKE '%%pg_stat_statements%%'"
            )
            rows = cur.fetchall()
        total = sum(r[1] for r in rows)
        tx = sum(r[1] for r in rows if r[0].strip().upper().split(" ")[0] in ("BEGIN", "COMMIT", "ROLLBACK", "END"))
        catalog = sum(
            r[1]
            for r in rows
            if r[0].strip().upper().split(" ")[0] not in ("BEGIN", "COMMIT", "ROLLBACK", "END")
            and (
                "pg_catalog" in r[0]
                or "information_schema" in r[0]
                or r[0].upper().startswith(("SHOW", "SET", "SELECT PG_", "SELECT VERSION", "SELECT CURRENT_SCHEMA"))
            )
        )
        top = sorted(rows, key=lambda r: -r[2])[:8]
        return {
            "statements": int(total),
            "transaction_control": int(tx),
            "catalog_or_session": int(catalog),
            "on_data": int(total - tx - catalog),
            "exec_ms": sum(r[2] for r in rows),
            "top": [{"ms": round(r[2], 1), "calls": int(r[1]), "query": " ".join(r[0].split())[:220]} for r in top],
        }

    def close(self):
        self.conn.close()


# ----------------------------------------------------------------------------------------------
# the GX config copy


def _proved_unique(url: str) -> dict[tuple[str, tuple[str, ...]], str]:
    """{(table, columns): index} for every VALID, immediate unique index (catalog proof)."""
    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT t.relname, i.relname, array_agg(a.attname ORDER BY k.ord)
                FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
                CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                WHERE x.indisunique AND x.indisvalid AND x.indimmediate AND x.indpred IS NULL
                  AND x.indexprs IS NULL AND x.indislive
                GROUP BY t.relname, i.relname""")
            return {(t, tuple(sorted(cols))): idx for t, idx, cols in cur.fetchall()}
    finally:
        conn.close()


VARIANTS = {
    "baseline": "GX alone (`YTDQ_FAST=0`: each validation definition's own `run()`): SUMMARY, sequential",
    "fast": "the committed run_checkpoint (`ytempire_dq.run.validation`): uniqueness proved by a valid unique index, "
    "pass 1 without sample queries, pass 2 for the failed rules' samples; SUMMARY, sequential",
    "fast_concurrent": "fast + validation definitions concurrently",
    "basic": "result_format BASIC (counts + up to 20 sample values, no value counts)",
    "boolean_only": "result_format BOOLEAN_ONLY (verdicts only: no counts, no samples)",
    "basic_no_samples": "result_format BASIC with partial_unexpected_count 0 (counts, sample queries become LIMIT 0)",
    "concurrent": "validation definitions concurrently (run_checkpoint(concurrent=True))",
    "unique_from_catalog": "uniqueness rules proved by a valid unique index left out of GX (proof: one pg_index query)",
    "no_samples_unique_from_catalog": "basic_no_samples + unique_from_catalog (counts kept)",
    "combined": "BOOLEAN_ONLY + unique_from_catalog + concurrent",
}


def make_config(base: Path, url: str | None = None, variant: str = "baseline") -> tuple[Path, dict]:
    """A copy of the GX config under ``base``; returns (gx dir, facts about what the variant did)."""
    if base.exists():
        shutil.rmtree(base)
    (base / "gx").mkdir(parents=True)
    project = config.PROJECT_ROOT  # the project home (YTDQ_HOME): an analyst's rules included
    shutil.copy(project / "gx" / "great_expectations.yml", base / "gx" / "great_expectations.yml")
    shutil.copytree(project / "expectations", base / "expectations")
    shutil.copytree(project / "validation_definitions", base / "validation_definitions")
    (base / "checkpoints").mkdir()
    os.symlink(ROOT / "plugins", base / "plugins")
    vds = {}
    for name in TABLE_VDS:
        vds[name] = json.loads((base / "validation_definitions" / f"{name}.json").read_text())["id"]
    facts: dict = {}
    if variant in ("unique_from_catalog", "combined", "no_samples_unique_from_catalog"):
        proved = _proved_unique(url)
        removed = []
        for path in (base / "expectations").glob("*.json"):
            suite = json.loads(path.read_text())
            keep = []
            for e in suite["expectations"]:
                kw = e["kwargs"]
                cols = kw.get("column_list") or (
                    [kw["column"]] if e["type"] == "expect_column_values_to_be_unique" else None
                )
                if e["type"] in R.UNIQUE_TYPES and (path.stem, tuple(sorted(cols))) in proved:
                    removed.append(f"{e['meta']['rule_id']} <- {proved[(path.stem, tuple(sorted(cols)))]}")
                    continue
                keep.append(e)
            suite["expectations"] = keep
            path.write_text(json.dumps(suite, indent=2))
        facts["proved_by_index"] = removed
    no_samples = {"result_format": "BASIC", "partial_unexpected_count": 0}
    result_format = {
        "boolean_only": "BOOLEAN_ONLY",
        "combined": "BOOLEAN_ONLY",
        "basic": "BASIC",
        "basic_no_samples": no_samples,
        "no_samples_unique_from_catalog": no_samples,
    }.get(variant, "SUMMARY")
    cp = {
        "actions": [],
        "id": "00000000-0000-4000-8000-00000000be0c",
        "name": "bench_nightly",
        "result_format": result_format,
        "validation_definitions": [{"id": vds[n], "name": n} for n in TABLE_VDS],
    }
    (base / "checkpoints" / "bench_nightly.json").write_text(json.dumps(cp, indent=2))
    return base / "gx", facts


def run_gx(
    gx_dir: Path,
    url: str,
    pgss: Pgss,
    counter: SqlCounter,
    concurrent: bool = False,
    fast: bool = False,
    jobs: int | None = None,
) -> dict:
    """One run_checkpoint; ``fast`` False = GX alone (``YTDQ_FAST=0``), True = the fast levers;
    ``jobs``: validation definitions at a time (``--jobs``)."""
    from ytempire_dq.run.checkpoint import run_checkpoint

    before = os.environ.get("YTDQ_FAST")
    os.environ["YTDQ_FAST"] = "1" if fast else "0"
    pgss.reset()
    t = time.perf_counter()
    try:
        with counter:
            report = run_checkpoint(
                "bench_nightly", config_dir=gx_dir, database_url=url, concurrent=concurrent, jobs=jobs
            )
    finally:
        if before is None:
            os.environ.pop("YTDQ_FAST", None)
        else:
            os.environ["YTDQ_FAST"] = before
    wall = time.perf_counter() - t
    counts = {r.rule_id: r.unexpected_count for r in report.rules()}
    proved = sorted(r.rule_id for r in report.rules() if "proved by unique index" in str(r.observed_value))
    return {
        "seconds": wall,
        "validate_s": report.timings.get("validate"),
        "jobs": report.jobs,
        "sqlalchemy_statements": counter.n,
        "proved_by_index": proved,
        "pgss": pgss.read(),
        "counts": counts,
        "success": report.success,
        "failed": sorted(r.rule_id for r in report.rules() if not r.success),
    }


def run_floor(url: str, pgss: Pgss, rules: list[R.Rule]) -> dict:
    statements = R.floor_statements(rules)
    conn = connect(url, autocommit=True)
    try:
        pgss.reset()
        t = time.perf_counter()
        counts = R.run_floor(conn, rules, statements)
        wall = time.perf_counter() - t
    finally:
        conn.close()
    return {"seconds": wall, "statements": len(statements), "pgss": pgss.read(), "counts": counts}


def run_count(url: str, pgss: Pgss) -> dict:
    conn = connect(url, autocommit=True)
    try:
        pgss.reset()
        t = time.perf_counter()
        with conn.cursor() as cur:
            for sql in R.COUNT_STAR:
                cur.execute(sql)
                cur.fetchone()
        wall = time.perf_counter() - t
    finally:
        conn.close()
    return {"seconds": wall, "statements": len(R.COUNT_STAR)}


def soda_available() -> bool:
    return (SODA_VENV / "bin" / "python").exists()


def ensure_soda(log=print) -> str | None:
    """Create benchmarks/.venv-soda with soda-core-postgres 3.5.x if missing; None or why not."""
    if soda_available():
        return None
    log("creating benchmarks/.venv-soda (soda-core-postgres 3.5.x, benchmark only)")
    res = subprocess.run([sys.executable, "-m", "venv", str(SODA_VENV)], capture_output=True, text=True)
    if res.returncode == 0:
        res = subprocess.run(
            [str(SODA_VENV / "bin" / "pip"), "install", "-q", "soda-core-postgres>=3.5,<3.6"],
            capture_output=True,
            text=True,
        )
    if res.returncode != 0:
        shutil.rmtree(SODA_VENV, ignore_errors=True)
        return (res.stderr or res.stdout).strip()[-300:]
    return None


def soda_files(workdir: Path, url: str, rules: list[R.Rule]) -> tuple[Path, Path]:
    u = make_url(url)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "configuration.yml"
    config.write_text(
        json.dumps(
            {
                "data_source ytempire": {
                    "type": "postgres",
                    "host": u.host or "127.0.0.1",
                    "port": int(u.port or 5432),
                    "username": u.username,
                    "password": u.password or "",
                    "database": u.database,
                    "schema": "public",
                }
            },
            indent=1,
        )
    )
    checks = workdir / "checks.yml"
    checks.write_text(R.sodacl_yaml(rules))
    return config, checks


def run_soda(workdir: Path, url: str, pgss: Pgss, rules: list[R.Rule]) -> dict:
    config, checks = soda_files(workdir, url, rules)
    env = dict(os.environ, SODA_CORE_TELEMETRY_ENABLED="false")
    pgss.reset()
    t = time.perf_counter()
    res = subprocess.run(
        [str(SODA_VENV / "bin" / "python"), str(ROOT / "benchmarks" / "soda_scan.py"), str(config), str(checks)],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=3600,
    )
    wall = time.perf_counter() - t
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": (res.stderr or res.stdout).strip()[-500:], "process_s": wall}
    out["process_s"] = wall
    out["pgss"] = pgss.read()
    out["failed"] = sorted(c["name"] for c in out["checks"] if c["outcome"] == "fail")
    return out
