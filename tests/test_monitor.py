"""``ytdq monitor`` against the real servers: readings, alert rules, masked errors, alert email.

Email goes to a real SMTP server (aiosmtpd) on a free loopback port. Nothing here writes Redis
keys (the monitor only reads ``INFO``), so no Redis DB number is needed.
"""

from __future__ import annotations

import email
import io
import json
import logging
import threading
import time

import psycopg2
import pytest
from aiosmtpd.controller import Controller

from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode, YtdqError
from ytempire_dq.ops import alerts as alerting
from ytempire_dq.ops import monitor
from ytempire_dq.ops.alerts import Alert, Severity
from ytempire_dq.ops.server_processes import free_port

SECRET = "S3cretPw0rd"


@pytest.fixture
def closed_pg_url() -> str:
    return f"postgresql+psycopg2://dq:{SECRET}@127.0.0.1:{free_port()}/ytempire"


@pytest.fixture
def no_smtp_env(monkeypatch):
    for name in alerting.ENV_VARS:
        monkeypatch.delenv(name, raising=False)


class _Inbox:
    def __init__(self):
        self.messages: list[tuple[str, list[str], email.message.Message]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.original_content))
        )
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch, no_smtp_env):
    """A real SMTP server on 127.0.0.1 and the YTDQ_* variables pointing at it."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("YTDQ_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YTDQ_SMTP_PORT", str(port))
    monkeypatch.setenv("YTDQ_ALERT_FROM", "ytdq@example.test")
    monkeypatch.setenv("YTDQ_ALERT_TO", "oncall@example.test, dba@example.test")
    yield inbox
    controller.stop()


def _body(msg) -> str:
    return msg.get_payload(decode=True).decode() if not msg.is_multipart() else msg.get_body().get_content()


# ---------------------------------------------------------------------------------------------
# readings on the real servers


def test_readings_count_connections_and_query_every_view(db_url, redis_url):
    before = monitor.readings(db_url, redis_url)["postgres"]["connections"]
    extra = [connect(db_url) for _ in range(3)]
    try:
        taken = monitor.readings(db_url, redis_url)
    finally:
        for c in extra:
            c.close()
    pg = taken["postgres"]
    assert pg["ok"] and pg["error"] is None and pg["errors"] == {}
    conn = pg["connections"]
    assert conn["client_backends"] >= before["client_backends"] + 3
    assert conn["connections"] >= conn["client_backends"]  # the view also counts background processes
    assert conn["max_connections"] > 0
    tables = {r["table_name"] for r in pg["table_bloat"]}
    assert {"users", "channels", "videos", "analytics", "api_keys", "workflows"} <= tables
    assert pg["replication"] == []  # no replicas in the test cluster
    assert pg["slow_statements"] == []  # pg_stat_statements is not installed
    json.dumps(taken)  # JSON-serialisable as is


def test_redis_memory_and_aof_are_read_from_info(db_url, redis_url):
    rd = monitor.readings(db_url, redis_url)["redis"]
    assert rd["ok"] and int(rd["server_version"].split(".")[0]) >= 7
    assert rd["memory"]["used_memory"] > 0
    assert rd["memory"]["maxmemory"] >= 0
    assert (rd["memory"]["ratio"] is None) == (rd["memory"]["maxmemory"] == 0)
    assert isinstance(rd["aof"]["aof_enabled"], bool)
    assert rd["aof"]["aof_last_write_status"] == "ok"


def test_long_running_query_is_reported_and_alerted(db_url, redis_url):
    sleeper = connect(db_url, autocommit=True)
    pid = sleeper.get_backend_pid()
    thread = threading.Thread(target=lambda: _sleep_query(sleeper), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            taken = monitor.readings(db_url, redis_url, slow_query_seconds=0.3)
            mine = [q for q in taken["postgres"]["long_running_queries"] if q["pid"] == pid]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert mine and mine[0]["seconds"] > 0.3 and "pg_sleep" in mine[0]["query"]
        found = [a for a in monitor.alerts(taken) if a.check == "postgres.long_running_query" and a.target == str(pid)]
        assert [a.severity for a in found] == [Severity.WARNING]
        # above the critical threshold it becomes CRITICAL
        found = monitor.alerts(taken, {"long_query_critical_seconds": 0.1})
        assert any(a.severity is Severity.CRITICAL and a.target == str(pid) for a in found)
    finally:
        with connect(db_url, autocommit=True) as admin, admin.cursor() as cur:
            cur.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(5)
        sleeper.close()


def _sleep_query(conn):
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(30)")
    except psycopg2.Error:
        pass  # cancelled by the test


def test_dead_tuples_fire_a_bloat_warning(db, db_url, redis_url):
    with db.cursor() as cur:
        cur.execute("CREATE TABLE bloat_probe (id int) WITH (autovacuum_enabled = false)")
        cur.execute("INSERT INTO bloat_probe SELECT generate_series(1, 1000)")
        cur.execute("DELETE FROM bloat_probe WHERE id <= 400")
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT 1")  # going idle flushes the table statistics
    deadline = time.monotonic() + 5
    while True:
        taken = monitor.readings(db_url, redis_url)
        row = next(r for r in taken["postgres"]["table_bloat"] if r["table_name"] == "bloat_probe")
        if row["n_dead_tup"] == 400 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (row["n_live_tup"], row["n_dead_tup"], row["dead_tuple_pct"]) == (600, 400, 40.0)
    found = [a for a in monitor.alerts(taken) if a.check == "postgres.table_bloat"]
    assert [(a.severity, a.target) for a in found] == [(Severity.WARNING, "public.bloat_probe")]
    assert "400 dead tuples" in found[0].message
    # a higher threshold silences it
    assert not [a for a in monitor.alerts(taken, {"dead_tuple_warning_pct": 50}) if a.check == "postgres.table_bloat"]


# ---------------------------------------------------------------------------------------------
# rules on given readings


def _readings(connections=10, max_connections=100, used=100, maxmemory=0, aof=True, aof_status="ok", lag=None) -> dict:
    return {
        "slow_query_seconds": 5.0,
        "postgres": {
            "ok": True,
            "error": None,
            "errors": {},
            "connections": {
                "connections": connections + 5,
                "max_connections": max_connections,
                "client_backends": connections,
                "active": 1,
                "idle_in_transaction": 0,
            },
            "long_running_queries": [],
            "table_bloat": [],
            "replication": []
            if lag is None
            else [{"application_name": "replica1", "state": "streaming", "lag_bytes": 1024, "lag_seconds": lag}],
        },
        "redis": {
            "ok": True,
            "error": None,
            "memory": {
                "used_memory": used,
                "used_memory_human": f"{used}B",
                "maxmemory": maxmemory,
                "maxmemory_policy": "allkeys-lru",
                "ratio": used / maxmemory if maxmemory else None,
            },
            "aof": {"aof_enabled": aof, "aof_last_write_status": aof_status, "aof_last_bgrewrite_status": "ok"},
        },
    }


def _worst(found: list[Alert], check: str):
    sev = [a.severity for a in found if a.check == check]
    return max(sev) if sev else None


@pytest.mark.parametrize(
    "connections, expected",
    [(50, None), (80, None), (81, Severity.WARNING), (95, Severity.WARNING), (96, Severity.CRITICAL)],
)
def test_connection_rule(connections, expected):
    assert _worst(monitor.alerts(_readings(connections=connections)), "postgres.connections") == expected


@pytest.mark.parametrize(
    "used, maxmemory, expected",
    [(950, 1000, Severity.CRITICAL), (850, 1000, Severity.WARNING), (500, 1000, None), (10**9, 0, Severity.INFO)],
)
def test_redis_memory_rule(used, maxmemory, expected):
    assert _worst(monitor.alerts(_readings(used=used, maxmemory=maxmemory)), "redis.memory") == expected


def test_aof_rules():
    failed = monitor.alerts(_readings(aof=True, aof_status="err"))
    assert _worst(failed, "redis.aof") is Severity.CRITICAL
    assert "last write failed" in next(a.message for a in failed if a.check == "redis.aof")
    assert _worst(monitor.alerts(_readings(aof=True)), "redis.aof") is None
    assert _worst(monitor.alerts(_readings(aof=False)), "redis.aof") is Severity.INFO


def test_replication_lag_rule_and_ordering():
    assert _worst(monitor.alerts(_readings(lag=10)), "postgres.replication_lag") is None
    assert _worst(monitor.alerts(_readings(lag=60)), "postgres.replication_lag") is Severity.WARNING
    found = monitor.alerts(_readings(lag=600, connections=99))
    assert _worst(found, "postgres.replication_lag") is Severity.CRITICAL
    assert [a.severity for a in found] == sorted((a.severity for a in found), reverse=True)
    assert monitor.exit_code(found) == ExitCode.DATA_FAILED
    assert monitor.exit_code(monitor.alerts(_readings())) == ExitCode.OK  # INFO only


def test_thresholds_override_and_unknown_key():
    assert (
        _worst(monitor.alerts(_readings(connections=60), {"connections_warning_pct": 50}), "postgres.connections")
        is Severity.WARNING
    )
    with pytest.raises(YtdqError, match="connections_warning_pct"):
        monitor.alerts(_readings(), {"conections_warning_pct": 50})


def test_missing_monitoring_views_warn(new_database, redis_url):
    empty = new_database("monitor_empty", empty=True)
    taken = monitor.readings(empty, redis_url)
    assert taken["postgres"]["ok"] and "table_bloat" in taken["postgres"]["errors"]
    assert _worst(monitor.alerts(taken), "postgres.monitoring_views") is Severity.WARNING


# ---------------------------------------------------------------------------------------------
# servers down, and the alert email


def test_postgres_down_is_a_critical_alert_with_the_password_masked(closed_pg_url, redis_url):
    taken = monitor.readings(closed_pg_url, redis_url)
    assert taken["postgres"]["ok"] is False
    found = monitor.alerts(taken)
    crit = [a for a in found if a.check == "postgres.reachable"]
    assert [a.severity for a in crit] == [Severity.CRITICAL]
    assert "dq:***@127.0.0.1" in crit[0].message
    assert SECRET not in json.dumps(taken) and SECRET not in crit[0].message
    assert taken["redis"]["ok"]  # the other server is still read


def test_redis_down_is_a_critical_alert_with_the_password_masked(db_url):
    taken = monitor.readings(db_url, f"redis://:{SECRET}@127.0.0.1:{free_port()}/0")
    crit = [a for a in monitor.alerts(taken) if a.check == "redis.reachable"]
    assert [a.severity for a in crit] == [Severity.CRITICAL]
    assert ":***@127.0.0.1" in crit[0].message and SECRET not in crit[0].message


def test_critical_alert_is_emailed(smtp_server, closed_pg_url, redis_url, caplog):
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="ytempire_dq"):
        code = monitor.run(once=True, json_out=True, db_url=closed_pg_url, redis_url=redis_url, out=out)
    assert code == ExitCode.RUN_FAILED  # PostgreSQL could not be read
    assert len(smtp_server.messages) == 1
    mail_from, rcpt, msg = smtp_server.messages[0]
    assert mail_from == "ytdq@example.test" and rcpt == ["oncall@example.test", "dba@example.test"]
    assert msg["Subject"].startswith("[ytdq CRITICAL]") and "postgres.reachable" in msg["Subject"]
    body = _body(msg)
    pass_ = json.loads(out.getvalue())
    crit = next(a for a in pass_["alerts"] if a["check"] == "postgres.reachable")
    assert crit["severity"] == "CRITICAL" and crit["message"] in body
    assert "***" in body and SECRET not in body
    assert "redis.memory" not in body  # only CRITICAL alerts are mailed
    logged = [
        r for r in caplog.records if r.name == "ytempire_dq.ops.monitor" and "postgres.reachable" in r.getMessage()
    ]
    assert logged and logged[0].levelno == logging.CRITICAL
    assert any("emailed 1 alert" in r.getMessage() for r in caplog.records)


def test_a_lasting_critical_is_not_mailed_every_pass(smtp_server, closed_pg_url, redis_url):
    code = monitor.run(
        interval=0.01, max_passes=3, db_url=closed_pg_url, redis_url=redis_url, out=io.StringIO(), sleep=lambda s: None
    )
    assert code == ExitCode.RUN_FAILED  # PostgreSQL could not be read
    assert len(smtp_server.messages) == 1
    monitor.run(
        interval=0.01,
        max_passes=2,
        renotify_seconds=0,
        db_url=closed_pg_url,
        redis_url=redis_url,
        out=io.StringIO(),
        sleep=lambda s: None,
    )
    assert len(smtp_server.messages) == 3


def test_email_off_is_one_log_line_not_an_error(no_smtp_env, closed_pg_url, redis_url, caplog):
    with caplog.at_level(logging.INFO, logger="ytempire_dq"):
        code = monitor.run(once=True, db_url=closed_pg_url, redis_url=redis_url)
    assert code == ExitCode.RUN_FAILED  # PostgreSQL could not be read
    assert [r.getMessage() for r in caplog.records if "email is off" in r.getMessage()] == [
        "alert email is off: YTDQ_SMTP_HOST is not set"
    ]


def test_send_failure_is_a_warning_not_a_crash(no_smtp_env, monkeypatch, caplog):
    monkeypatch.setenv("YTDQ_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YTDQ_SMTP_PORT", str(free_port()))  # nothing listens
    monkeypatch.setenv("YTDQ_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("YTDQ_SMTP_USER", "alerts")
    monkeypatch.setenv("YTDQ_ALERT_TO", "oncall@example.test")
    settings = alerting.smtp_settings()
    assert settings is not None and SECRET not in repr(settings)
    with caplog.at_level(logging.INFO, logger="ytempire_dq"):
        sent = alerting.notify([Alert(Severity.CRITICAL, "postgres.reachable", "down")])
    assert sent is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "alert email via 127.0.0.1" in warnings[0].getMessage()
    assert all(SECRET not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "env, reason",
    [
        ({"YTDQ_SMTP_HOST": "mail.example.test"}, "YTDQ_ALERT_TO is empty"),
        ({"YTDQ_SMTP_HOST": "mail.example.test", "YTDQ_ALERT_TO": "a@b.test", "YTDQ_SMTP_PORT": "smtp"}, "not a port"),
        (
            {"YTDQ_SMTP_HOST": "mail.example.test", "YTDQ_ALERT_TO": "a@b.test", "YTDQ_SMTP_STARTTLS": "maybe"},
            "not 0 or 1",
        ),
    ],
)
def test_bad_email_settings_turn_email_off_with_a_warning(env, reason, caplog):
    with caplog.at_level(logging.INFO, logger="ytempire_dq"):
        assert alerting.smtp_settings(env) is None
    assert any(reason in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_email_settings_from_env():
    s = alerting.smtp_settings(
        {
            "YTDQ_SMTP_HOST": "mail.example.test",
            "YTDQ_SMTP_STARTTLS": "1",
            "YTDQ_ALERT_TO": "a@b.test,, c@d.test ",
            "YTDQ_SMTP_USER": "u",
        }
    )
    assert (s.host, s.port, s.starttls, s.recipients, s.user) == (
        "mail.example.test",
        25,
        True,
        ("a@b.test", "c@d.test"),
        "u",
    )
    assert s.sender.startswith("ytdq@")
