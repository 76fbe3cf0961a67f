"""The checkpoints' ``notify`` action against real receivers: an SMTP server (aiosmtpd) and a local
HTTP server standing in for Slack, Teams and a generic webhook. Each owner hears about their own
rules, once per new failure (a still-failing rule rides along as "still failing since ..."), and
about recoveries; personal data and secrets never appear; an unreachable channel is one warning,
the data's own exit code, and a message the next run delivers."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from tests.custom_project import add_checkpoint
from tests.helpers import copy_project, rows
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.ops import alerts
from ytempire_dq.ops.server_processes import free_port
from ytempire_dq.run.checkpoint import run_checkpoint

A, B, C, D = "users.email_notify_test", "users.count_notify_test", "users.tier_unowned_test", "users.tier_free_test"


def rules(a_fails: bool, b_fails: bool, others_fail: bool = True) -> list[dict]:
    """A (owner growth) and B (owner platform) fail when told to; C (no owner) and D (platform)
    always fail. A's samples are e-mail addresses: personal data."""
    return [
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "email", "regex": "^zzz" if a_fails else "@"},
            "meta": {"rule_id": A, "owner": "growth"},
        },
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 10**6 if b_fails else 0},
            "meta": {"rule_id": B, "owner": "platform"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "created_at", "max_value": "2000-01-01" if others_fail else "2999-01-01"},
            "meta": {"rule_id": C},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {
                "column": "subscription_tier",
                "value_set": ["no-such-tier"] if others_fail else ["free", "starter", "professional", "enterprise"],
            },
            "meta": {"rule_id": D, "owner": "platform"},
        },
    ]


class _Hooks(ThreadingHTTPServer):
    """Every POST body by path; a path in ``failing`` answers 500."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.failing: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path in server.failing:
                    self.send_response(500)
                else:
                    server.received.append((self.path, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)

    def of(self, path: str) -> list[dict]:
        return [body for p, body in self.received if p == path]


class _Inbox:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def receivers(monkeypatch):
    hooks = _Hooks()
    thread = threading.Thread(target=hooks.serve_forever, daemon=True)
    thread.start()
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    for name in alerts.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    base = f"http://127.0.0.1:{hooks.server_address[1]}"
    monkeypatch.setenv("YTDQ_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YTDQ_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("YTDQ_ALERT_TO", "platform@example.test")
    monkeypatch.setenv("YTDQ_SLACK_WEBHOOK", f"{base}/slack")
    monkeypatch.setenv("YTDQ_TEAMS_WEBHOOK", f"{base}/teams")
    monkeypatch.setenv("YTDQ_NOTIFY_WEBHOOK", f"{base}/hook")
    yield {"hooks": hooks, "inbox": inbox, "base": base}
    smtp.stop()
    hooks.shutdown()


@pytest.fixture
def project(new_database, tmp_path, monkeypatch):
    url = new_database("notify")
    seed.seed(url, users=6, seed=7)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("YTDQ_STORE_URL", raising=False)
    monkeypatch.setenv("YTDQ_SOURCE", "production")
    gx = copy_project(tmp_path)
    (gx / "notifications.json").write_text(
        json.dumps(
            {
                "channels": json.loads((gx / "notifications.json").read_text())["channels"],
                "default": ["teams"],
                "owners": {"growth": ["slack"], "platform": ["email", "webhook"]},
            }
        )
    )
    return {"gx": gx, "url": url}


def run(project, a_fails: bool, b_fails: bool, others_fail: bool = True):
    gx = project["gx"]
    expectations = rules(a_fails, b_fails, others_fail)
    add_checkpoint(gx, checkpoint="notified", suite="notified", asset="users", expectations=expectations)
    path = gx.parent / "checkpoints" / "notified.json"
    cp = json.loads(path.read_text())
    cp["actions"].append({"name": "notify", "type": "notify", "routing": "notifications.json"})
    path.write_text(json.dumps(cp))
    return run_checkpoint("notified", config_dir=gx)


def body(message) -> str:
    return message.get_content().replace("\r\n", "\n")


def emails_of(url: str) -> list[str]:
    c = connect(url, autocommit=True)
    try:
        return [e for (e,) in rows(c, "SELECT email FROM users")]
    finally:
        c.close()


def test_each_owner_hears_once_per_change_over_four_runs(project, receivers):
    hooks, inbox = receivers["hooks"], receivers["inbox"]
    first = run(project, a_fails=True, b_fails=False)  # A, C, D start failing
    assert first.exit_code == ExitCode.DATA_FAILED and first.action_errors == []
    (slack,) = hooks.of("/slack")
    assert f"New failures (1):\n  - {A}" in slack["text"] and "(growth)" in slack["text"]
    assert B not in slack["text"] and C not in slack["text"] and D not in slack["text"]
    assert "6 bad rows" in slack["text"] and "e.g. " in slack["text"]
    (teams,) = hooks.of("/teams")
    assert f"  - {C}" in teams["text"] and A not in teams["text"] and D not in teams["text"]
    (hook,) = hooks.of("/hook")
    assert hook["owner"] == "platform" and hook["new_failures"] == [D] and hook["source"] == "production"
    assert hook["checkpoint"] == "notified" and hook["verdict"] == "failed 1 of 2"  # B passes, D fails
    (mail,) = inbox.messages
    assert mail["To"] == "platform@example.test" and D in body(mail) and A not in body(mail)

    second = run(project, a_fails=True, b_fails=False)  # nothing changed: nobody hears again
    assert second.action_errors == [] and len(hooks.received) == 3 and len(inbox.messages) == 1

    run(project, a_fails=True, b_fails=True)  # B starts failing: platform hears, D rides along
    hook = hooks.of("/hook")[-1]
    assert hook["new_failures"] == [B] and hook["still_failing"] == [D]
    text = body(inbox.messages[-1])
    assert f"New failures (1):\n  - {B}" in text and f"Still failing (1):\n  - {D} since 20" in text
    assert len(hooks.of("/slack")) == 1 and len(hooks.of("/teams")) == 1  # growth and default: no change

    run(project, a_fails=False, b_fails=True)  # A recovers
    assert len(hooks.of("/slack")) == 2 and f"Recovered (1):\n  - {A}" in hooks.of("/slack")[-1]["text"]
    assert len(hooks.of("/hook")) == 2 and len(inbox.messages) == 2 and len(hooks.of("/teams")) == 1

    everything = json.dumps(hooks.received) + "".join(body(m) for m in inbox.messages)
    leaked = [e for e in emails_of(project["url"]) if e in everything]
    assert leaked == []  # A's samples are masked before any output sees them


def test_an_unreachable_channel_is_one_warning_and_the_next_run_delivers(project, receivers):
    hooks = receivers["hooks"]
    hooks.failing.add("/hook")
    report = run(project, a_fails=False, b_fails=True)
    assert report.exit_code == ExitCode.DATA_FAILED  # the data's own exit code
    (problem,) = report.action_errors
    assert "notification not delivered to webhook (owner platform)" in problem
    assert "HTTP Error 500" in problem and "the next run retries it" in problem
    assert report.to_dict()["action_errors"] == [problem]
    c = connect(project["url"], autocommit=True)
    try:
        assert rows(c, "SELECT channel, attempts, delivered_at IS NULL FROM dq.notifications ORDER BY id") == [
            ("email", 1, False),
            ("webhook", 1, True),
            ("teams", 1, False),
        ]
        hooks.failing.clear()
        again = run(project, a_fails=False, b_fails=True)  # nothing new; the undelivered message goes out
        assert again.action_errors == []
        (hook,) = hooks.of("/hook")
        assert hook["run_id"] == report.run_id and sorted(hook["new_failures"]) == sorted([B, D])
        assert rows(c, "SELECT count(*) FROM dq.notifications WHERE delivered_at IS NULL") == [(0,)]
    finally:
        c.close()


def test_the_cli_says_once_that_a_message_was_not_delivered(project, receivers, monkeypatch):
    from ytempire_dq.cli import main

    monkeypatch.setenv("YTDQ_NOTIFY_WEBHOOK", f"http://127.0.0.1:{free_port()}/closed")
    add = run(project, a_fails=False, b_fails=False)  # C and D fail: the first run's news
    assert add.exit_code == ExitCode.DATA_FAILED and len(add.action_errors) == 1
    run_cli = CliRunner().invoke(main, ["checkpoint", "run", "notified", "--config", str(project["gx"])])
    assert run_cli.exit_code == ExitCode.DATA_FAILED, run_cli.output
    text = " ".join(run_cli.output.split())  # the terminal wraps long lines
    assert text.count("not delivered") == 1 and "warning: action 'notify' failed: notification not delivered" in text
    assert "Connection refused" in text


def test_no_channel_set_sends_nothing_and_costs_no_connection(project, monkeypatch):
    for name in ("YTDQ_SMTP_HOST", "YTDQ_SLACK_WEBHOOK", "YTDQ_TEAMS_WEBHOOK", "YTDQ_NOTIFY_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)
    report = run(project, a_fails=True, b_fails=True)
    assert report.exit_code == ExitCode.DATA_FAILED and report.action_errors == []
    c = connect(project["url"], autocommit=True)
    try:
        assert rows(c, "SELECT count(*) FROM dq.notifications") == [(0,)]
    finally:
        c.close()


def test_a_paged_checkpoint_opens_one_incident_resolves_it_and_pages_when_it_cannot_run(
    project, receivers, monkeypatch
):
    """PagerDuty (Events API v2) and Opsgenie (Alert API), at local stand-ins: the checkpoint pages
    when it starts failing, not again while it keeps failing, resolves when it passes, and pages
    when it cannot run at all (exit 2)."""
    from ytempire_dq.cli import main

    base = receivers["base"]
    routing = json.loads((project["gx"] / "notifications.json").read_text())
    routing["channels"]["pagerduty"] = {"type": "pagerduty", "url": f"{base}/pd", "routing_key": "${PD_KEY}"}
    routing["channels"]["opsgenie"] = {"type": "opsgenie", "url": f"{base}/og", "api_key": "${OG_KEY}"}
    routing["paging"] = {"checkpoints": ["notified"], "channels": ["pagerduty", "opsgenie"]}
    (project["gx"] / "notifications.json").write_text(json.dumps(routing))
    monkeypatch.setenv("PD_KEY", "pd-routing-key")
    monkeypatch.setenv("OG_KEY", "og-api-key")
    hooks = receivers["hooks"]
    run(project, a_fails=True, b_fails=False)  # starts failing: one trigger each
    run(project, a_fails=True, b_fails=True)  # still failing: nothing more
    (trigger,) = hooks.of("/pd")
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "pd-routing-key"
    assert trigger["dedup_key"] == "ytdq/notified/production" and trigger["payload"]["severity"] == "critical"
    assert "[ytdq] notified on production: failed 3 of 4 rules" in trigger["payload"]["summary"]
    (alert,) = hooks.of("/og")
    assert alert["alias"] == "ytdq/notified/production" and alert["priority"] == "P1"
    run(project, a_fails=False, b_fails=False, others_fail=False)  # passes: resolved
    assert [b["event_action"] for b in hooks.of("/pd")] == ["trigger", "resolve"]
    assert hooks.of("/pd")[-1]["dedup_key"] == trigger["dedup_key"]
    assert hooks.of("/og/ytdq%2Fnotified%2Fproduction/close?identifierType=alias") == [{"source": "ytdq"}]
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://ytdq:s3cret@127.0.0.1:{free_port()}/ytempire")
    down = CliRunner().invoke(main, ["checkpoint", "run", "notified", "--config", str(project["gx"])])
    assert down.exit_code == ExitCode.RUN_FAILED
    page = hooks.of("/pd")[-1]
    assert page["event_action"] == "trigger" and "could not run" in page["payload"]["summary"]
    assert "s3cret" not in json.dumps(hooks.received)


@pytest.fixture
def faked_store(tmp_path, monkeypatch):
    """The results store on a cluster of its own whose clock libfaketime moves (``clock.days``)."""
    from benchmarks.nights import FakeClock
    from tests.topologies import start_cluster, stop_cluster

    clock = FakeClock()
    cluster = start_cluster(tmp_path / "store", **clock.env)
    monkeypatch.setenv("YTDQ_STORE_URL", cluster.url)
    try:
        yield clock, cluster.url
    finally:
        stop_cluster(cluster)
        clock.remove()


def test_a_rule_failing_for_days_is_recalled_by_one_reminder_a_week(project, receivers, faked_store):
    hooks, inbox = receivers["hooks"], receivers["inbox"]
    clock, store_url = faked_store
    run(project, a_fails=True, b_fails=False)  # night 0: A (growth), C (default), D (platform) start failing
    assert len(hooks.received) == 3 and len(inbox.messages) == 1
    assert all(not body["reminder"] for path, body in hooks.received if path == "/hook")
    for night in (1, 3, 6):  # nothing changed, and the owners heard less than a week ago
        clock.days(night)
        assert run(project, a_fails=True, b_fails=False).action_errors == []
        assert len(hooks.received) == 3 and len(inbox.messages) == 1, night

    clock.days(8)  # a week of silence: each owner is reminded of their own rules, once
    run(project, a_fails=True, b_fails=False)
    (slack,) = hooks.of("/slack")[1:]
    assert "reminder, nothing changed" in slack["text"] and f"Still failing (1):\n  - {A} since 20" in slack["text"]
    assert "New failures" not in slack["text"] and C not in slack["text"] and D not in slack["text"]
    (teams,) = hooks.of("/teams")[1:]
    assert f"  - {C} since" in teams["text"] and A not in teams["text"]
    (hook,) = hooks.of("/hook")[1:]
    assert hook["reminder"] is True and hook["still_failing"] == [D] and hook["new_failures"] == []
    assert len(inbox.messages) == 2 and "reminder" in inbox.messages[-1]["Subject"]

    clock.days(9)  # reminded yesterday: quiet again
    run(project, a_fails=True, b_fails=False)
    assert len(hooks.received) == 6 and len(inbox.messages) == 2
    c = connect(store_url, autocommit=True)
    try:
        assert rows(c, "SELECT count(*) FROM dq.notifications WHERE delivered_at IS NULL") == [(0,)]
    finally:
        c.close()


def test_a_bad_digest_days_names_the_file(project, receivers):
    from ytempire_dq.actions.notify import read_routing
    from ytempire_dq.errors import YtdqError

    path = project["gx"] / "notifications.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "digest_days": "weekly"}))
    with pytest.raises(YtdqError) as caught:
        read_routing(path, lambda value: value)
    assert str(path) in str(caught.value) and '"digest_days" must be a whole number' in str(caught.value)
