"""``ytdq monitor``: health readings of PostgreSQL and Redis, alert rules, and the polling loop.

:func:`readings` takes one look at both servers (PostgreSQL through the ``monitoring`` views of
migration 003, Redis through ``INFO``) and returns plain data (JSON-serialisable). A server that
cannot be reached is a reading too (``ok: False`` and the error, URL password masked), never an
exception. :func:`alerts` turns readings into :class:`~ytempire_dq.ops.alerts.Alert` objects with
thresholds (:data:`DEFAULT_THRESHOLDS`); :func:`run` repeats both, logs every alert at its
severity and emails the CRITICAL ones (see :mod:`ytempire_dq.ops.alerts`).

Default rules (override any key of :data:`DEFAULT_THRESHOLDS`):

==============================  ==========================================================
PostgreSQL / Redis unreachable  CRITICAL (and exit code 2: the pass could not read it)
connections / max_connections   > 80 % WARNING, > 95 % CRITICAL (client backends only)
queries running longer than     ``slow_query_seconds``: WARNING; > 300 s: CRITICAL
dead tuples of a table          > 20 % of its tuples (and at least 50 dead): WARNING
replication lag                 > 30 s WARNING, > 300 s CRITICAL
Redis used_memory / maxmemory   > 80 % WARNING, > 90 % CRITICAL (only when maxmemory is set)
Redis AOF                       enabled and last write failed: CRITICAL; last rewrite
                                failed: WARNING; AOF off or no maxmemory: INFO
monitoring views missing        WARNING (run ``ytdq db migrate``)
==============================  ==========================================================

The 20 % / 50 dead tuples match autovacuum's own defaults (``autovacuum_vacuum_scale_factor``,
``autovacuum_vacuum_threshold``): above them autovacuum is behind or disabled on the table.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Callable, Mapping

from ytempire_dq import config
from ytempire_dq.errors import ExitCode, YtdqError, with_hint
from ytempire_dq.ops import alerts as alerting
from ytempire_dq.ops.alerts import Alert, Severity
from ytempire_dq.ops.health_readings import readings

__all__ = ["Alert", "Severity", "DEFAULT_THRESHOLDS", "readings", "alerts", "run", "exit_code"]

log = logging.getLogger("ytempire_dq.ops.monitor")

DEFAULT_THRESHOLDS: dict[str, float] = {
    "connections_warning_pct": 80.0,
    "connections_critical_pct": 95.0,
    "long_query_critical_seconds": 300.0,
    "dead_tuple_warning_pct": 20.0,
    "dead_tuple_min_count": 50,
    "replication_lag_warning_seconds": 30.0,
    "replication_lag_critical_seconds": 300.0,
    "redis_memory_warning_ratio": 0.80,
    "redis_memory_critical_ratio": 0.90,
}


# ---------------------------------------------------------------------------------------------
# rules


def _thresholds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise YtdqError(f"unknown monitor threshold {key!r}; known: {', '.join(sorted(DEFAULT_THRESHOLDS))}")
        merged[key] = float(value)
    return merged


def _postgres_alerts(pg: dict, t: dict, slow_query_seconds: float) -> list[Alert]:
    found: list[Alert] = []
    if not pg.get("ok"):
        return [
            Alert(Severity.CRITICAL, "postgres.reachable", with_hint(pg.get("error") or "PostgreSQL is unreachable"))
        ]
    missing = [name for name, err in (pg.get("errors") or {}).items()]
    if missing:
        detail = "; ".join(f"{n}: {pg['errors'][n]}" for n in missing)
        found.append(
            Alert(
                Severity.WARNING,
                "postgres.monitoring_views",
                f"could not read {', '.join(missing)} (is migration 003 applied? `ytdq db migrate`): {detail}",
            )
        )
    conn = pg.get("connections")
    if conn:
        used = conn.get("client_backends", conn.get("connections")) or 0
        maxc = conn.get("max_connections") or 0
        pct = 100.0 * used / maxc if maxc else 0.0
        text = (
            f"{used} of max_connections={maxc} client connections in use ({pct:.1f}%; "
            f"{conn.get('active', 0)} active, {conn.get('idle_in_transaction', 0)} idle in transaction)"
        )
        if pct > t["connections_critical_pct"]:
            found.append(Alert(Severity.CRITICAL, "postgres.connections", text))
        elif pct > t["connections_warning_pct"]:
            found.append(Alert(Severity.WARNING, "postgres.connections", text))
    for q in pg.get("long_running_queries") or []:
        secs = q.get("seconds") or 0.0
        sev = Severity.CRITICAL if secs > t["long_query_critical_seconds"] else Severity.WARNING
        if secs > slow_query_seconds:
            query = config.one_line(q.get("query") or "", 120)
            found.append(
                Alert(
                    sev,
                    "postgres.long_running_query",
                    f"pid {q.get('pid')} ({q.get('usename')}@{q.get('datname')}, {q.get('state')}) "
                    f"running {secs:.1f} s: {query}",
                    target=str(q.get("pid")),
                )
            )
    for row in pg.get("table_bloat") or []:
        pct = float(row.get("dead_tuple_pct") or 0)
        dead = int(row.get("n_dead_tup") or 0)
        if pct > t["dead_tuple_warning_pct"] and dead >= t["dead_tuple_min_count"]:
            table = f"{row['schemaname']}.{row['table_name']}"
            found.append(
                Alert(
                    Severity.WARNING,
                    "postgres.table_bloat",
                    f"{table}: {dead} dead tuples = {pct:.1f}% of {dead + int(row.get('n_live_tup') or 0)} "
                    f"(last autovacuum {row.get('last_autovacuum') or 'never'})",
                    target=table,
                )
            )
    for rep in pg.get("replication") or []:
        lag = rep.get("lag_seconds")
        if lag is None:
            continue
        name = rep.get("application_name") or str(rep.get("client_addr"))
        text = f"replica {name} ({rep.get('state')}) replays {lag:.1f} s behind ({rep.get('lag_bytes')} bytes)"
        if lag > t["replication_lag_critical_seconds"]:
            found.append(Alert(Severity.CRITICAL, "postgres.replication_lag", text, target=name))
        elif lag > t["replication_lag_warning_seconds"]:
            found.append(Alert(Severity.WARNING, "postgres.replication_lag", text, target=name))
    return found


def _redis_alerts(rd: dict, t: dict) -> list[Alert]:
    if not rd.get("ok"):
        return [Alert(Severity.CRITICAL, "redis.reachable", with_hint(rd.get("error") or "Redis is unreachable"))]
    found: list[Alert] = []
    mem = rd.get("memory") or {}
    ratio, maxmem = mem.get("ratio"), mem.get("maxmemory") or 0
    if maxmem and ratio is not None:
        text = (
            f"used_memory {mem.get('used_memory')} bytes = {100 * ratio:.1f}% of maxmemory {maxmem} "
            f"(policy {mem.get('maxmemory_policy')})"
        )
        if ratio > t["redis_memory_critical_ratio"]:
            found.append(Alert(Severity.CRITICAL, "redis.memory", text))
        elif ratio > t["redis_memory_warning_ratio"]:
            found.append(Alert(Severity.WARNING, "redis.memory", text))
    elif mem:
        found.append(
            Alert(
                Severity.INFO,
                "redis.memory",
                f"maxmemory is not set (used_memory {mem.get('used_memory_human')}); no memory limit to check",
            )
        )
    aof = rd.get("aof") or {}
    if aof.get("aof_enabled"):
        if aof.get("aof_last_write_status") not in (None, "ok"):
            found.append(
                Alert(
                    Severity.CRITICAL,
                    "redis.aof",
                    f"AOF is enabled but the last write failed (aof_last_write_status="
                    f"{aof.get('aof_last_write_status')}): writes are not persisted",
                )
            )
        if aof.get("aof_last_bgrewrite_status") not in (None, "ok"):
            found.append(
                Alert(
                    Severity.WARNING,
                    "redis.aof",
                    f"the last AOF rewrite failed (aof_last_bgrewrite_status={aof['aof_last_bgrewrite_status']})",
                )
            )
    elif aof:
        found.append(Alert(Severity.INFO, "redis.aof", "AOF is disabled: the cache is not persisted between restarts"))
    return found


def alerts(readings: dict, thresholds: Mapping[str, float] | None = None) -> list[Alert]:
    """The alerts that ``readings`` (from :func:`readings`) call for, worst first.

    ``thresholds`` overrides keys of :data:`DEFAULT_THRESHOLDS` (an unknown key is a YtdqError).
    """
    t = _thresholds(thresholds)
    slow = float(readings.get("slow_query_seconds") or 0.0)
    found = []
    if "postgres" in readings:
        found += _postgres_alerts(readings["postgres"], t, slow)
    if "redis" in readings:
        found += _redis_alerts(readings["redis"], t)
    return sorted(found, key=lambda a: (-a.severity, a.check, a.target))


def unreachable(found: list[Alert]) -> list[Alert]:
    """The alerts saying a server could not be read at all (its checks did not happen)."""
    return [a for a in found if a.check.endswith(".reachable")]


def exit_code(found: list[Alert]) -> ExitCode:
    """2 when a server could not be read (the pass could not happen), else 0 when nothing is
    WARNING or worse, else 1 (the pass happened; something needs attention)."""
    if unreachable(found):
        return ExitCode.RUN_FAILED
    return ExitCode.DATA_FAILED if any(a.severity >= Severity.WARNING for a in found) else ExitCode.OK


# ---------------------------------------------------------------------------------------------
# the loop


def _ensure_logging() -> None:
    """Make INFO lines visible when nobody configured logging (the CLI may do it first)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)-8s %(name)s: %(message)s"
        )
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
        alerting.log.setLevel(logging.INFO)


def run(
    once: bool = False,
    interval: float = 60.0,
    json_out: bool = False,
    *,
    db_url: str | None = None,
    redis_url: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    slow_query_seconds: float = 5.0,
    max_passes: int | None = None,
    renotify_seconds: float = 3600.0,
    out: IO[str] | None = None,
    smtp: alerting.SmtpSettings | None | bool = True,
    sleep: Callable[[float], None] = time.sleep,
    on_pass: Callable[[list[Alert]], None] | None = None,
) -> ExitCode:
    """Take readings, log alerts and email new CRITICAL ones; repeat every ``interval`` seconds.

    ``once`` does one pass (so does ``max_passes=1``); otherwise it runs until interrupted
    (Ctrl-C ends it cleanly). ``json_out`` writes one JSON object per pass to ``out`` (stdout):
    ``{"readings": ..., "alerts": [...]}``. A CRITICAL alert is emailed when it first appears
    and again after ``renotify_seconds`` while it lasts (one message per pass for all of them).
    ``smtp``: ``True`` reads the ``YTDQ_SMTP_*`` settings once; ``None``/``False`` disables email;
    or pass :class:`~ytempire_dq.ops.alerts.SmtpSettings`. ``on_pass`` gets each pass's alerts.
    Returns :func:`exit_code` of the last pass.
    """
    if interval <= 0 and not once:
        raise YtdqError("--interval must be a positive number of seconds")
    thresholds = _thresholds(thresholds)  # bad keys fail before the first pass
    _ensure_logging()
    out = out or sys.stdout
    settings = alerting.smtp_settings() if smtp is True else (smtp or None)
    if db_url is None:
        db_url = config.database_url(required=False)
    if redis_url is None:
        redis_url = config.redis_url(required=False)
    log.info(
        "monitoring PostgreSQL %s and Redis %s%s",
        config.mask_url(db_url),
        config.mask_url(redis_url),
        "" if once or max_passes == 1 else f" every {interval:g} s",
    )
    last_sent: dict[tuple[str, str], float] = {}
    code, passes = ExitCode.OK, 0
    try:
        while True:
            started = time.monotonic()
            taken = readings(db_url, redis_url, slow_query_seconds=slow_query_seconds)
            found = alerts(taken, thresholds)
            code = exit_code(found)
            passes += 1
            if on_pass is not None:
                on_pass(found)
            for a in found:
                log.log(int(a.severity), "%s: %s", a.check, a.message)
            if not any(a.severity >= Severity.WARNING for a in found):
                log.info("all clear (%d informational note%s)", len(found), "" if len(found) == 1 else "s")
            if json_out:
                out.write(json.dumps({"readings": taken, "alerts": [a.to_dict() for a in found]}, default=str) + "\n")
                out.flush()
            now = time.monotonic()
            critical = [a for a in found if a.severity >= Severity.CRITICAL]
            due = [a for a in critical if now - last_sent.get((a.check, a.target), float("-inf")) >= renotify_seconds]
            # a check that recovered can alert again at once when it comes back
            current = {(a.check, a.target) for a in critical}
            for key in [k for k in last_sent if k not in current]:
                del last_sent[key]
            if due and settings is not None:
                if alerting.notify(due, settings):
                    for a in due:
                        last_sent[(a.check, a.target)] = now
            if once or (max_passes is not None and passes >= max_passes):
                break
            sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        log.info("monitor stopped after %d pass%s", passes, "" if passes == 1 else "es")
    return code
