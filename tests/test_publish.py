"""The publish_to_redis action: summary hash + message on the real session redis; Redis down is a
warning, not a failed run (results stored, exit code by the data); ${REDIS_URL} really substituted."""

from __future__ import annotations

import json
import logging
import time

import pytest
import redis

from tests.helpers import copy_project
from ytempire_dq import config
from ytempire_dq.actions.publish_to_redis import CHANNEL, PublishToRedisAction, last_key
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.ops import services
from ytempire_dq.run.checkpoint import run_checkpoint

#: critical runs cross_table only: these kinds break exactly these two rules there.
INJECT = {"orphan_videos": 3, "over_tier_limit": 2}
FAILED = ["videos.channel_exists", "users.active_channels_within_tier_limit"]
ACTION_LOGGER = "ytempire_dq.actions.publish_to_redis"


@pytest.fixture(scope="module")
def defective(new_database) -> str:
    url = new_database("publish_defective")
    seed.seed(url, users=20, seed=5, inject=INJECT)
    return url


@pytest.fixture(scope="module")
def clean(new_database) -> str:
    url = new_database("publish_clean")
    seed.seed(url, users=20, seed=5)
    return url


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)


def stored_results(gx_dir) -> list:
    """Validation result files GX wrote for the project copy."""
    return sorted((gx_dir / "uncommitted" / "validations").rglob("*.json"))


def closed_port_url(password: str) -> str:
    """A Redis URL with a password, at a loopback port nothing listens on (built from parts)."""
    return "redis" + "://:" + password + "@127.0.0.1:" + str(services.free_port()) + "/0"


def test_subscriber_receives_the_summary_and_the_hash_is_written(defective, project, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.delete(last_key("critical"))
    pubsub = r.pubsub()
    pubsub.subscribe(CHANNEL)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"

    report = run_checkpoint("critical", config_dir=project, database_url=defective)

    assert report.exit_code == ExitCode.DATA_FAILED and report.action_errors == []
    message = None
    deadline = time.monotonic() + 10
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1, ignore_subscribe_messages=True)
    pubsub.close()
    assert message is not None and message["channel"] == CHANNEL
    summary = json.loads(message["data"])
    assert summary["checkpoint"] == "critical" and summary["success"] is False
    assert summary["run_id"] == report.run_id
    assert sorted(summary["failed_rules"]) == sorted(FAILED) and summary["failed_count"] == 2
    assert summary["failed_rules"] == [row["rule_id"] for row in report.failed_rules()]

    stored = r.hgetall(last_key("critical"))
    assert stored["success"] == "false" and stored["run_id"] == report.run_id
    assert sorted(stored["failed_rules"].split(",")) == sorted(FAILED)
    assert stored["failed_count"] == "2" and stored["timestamp"] == summary["timestamp"]


def test_a_clean_run_overwrites_the_hash(clean, project, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    report = run_checkpoint("critical", config_dir=project, database_url=clean)
    stored = redis.Redis.from_url(redis_url, decode_responses=True).hgetall(last_key("critical"))
    assert report.exit_code == ExitCode.OK
    assert stored["success"] == "true" and stored["failed_rules"] == "" and stored["run_id"] == report.run_id


def test_redis_url_is_a_config_str_substituted_at_run_time(defective, project, redis_url, monkeypatch):
    """GX substitutes ${VAR} only in ConfigStr fields: the loaded action keeps the template, the
    URL is resolved from the environment when it runs (and never saved into the file)."""
    from great_expectations.datasource.fluent.config_str import ConfigStr

    from ytempire_dq.gx.context import open_context

    monkeypatch.setenv("REDIS_URL", redis_url)
    ctx = open_context(project, database_url=defective)
    action = next(a for a in ctx.checkpoints.get("critical").actions if a.type == "publish_to_redis")
    assert isinstance(action, PublishToRedisAction) and isinstance(action.redis_url, ConfigStr)
    assert str(action.redis_url) == "${REDIS_URL}"
    action._data_context = ctx
    assert action.resolved_url() == redis_url
    assert "${REDIS_URL}" in (project.parent / "checkpoints" / "critical.json").read_text()


def test_saving_the_checkpoint_keeps_the_template_not_the_url(defective, project, monkeypatch):
    from ytempire_dq.gx.context import open_context

    secret_url = closed_port_url("pw-" + "not-on-disk")
    monkeypatch.setenv("REDIS_URL", secret_url)
    ctx = open_context(project, database_url=defective)
    ctx.checkpoints.add_or_update(ctx.checkpoints.get("critical"))
    text = (project.parent / "checkpoints" / "critical.json").read_text()
    action = next(a for a in json.loads(text)["actions"] if a["type"] == "publish_to_redis")
    assert action["redis_url"] == "${REDIS_URL}" and "not-on-disk" not in text


@pytest.mark.parametrize(("which", "expected"), [("defective", ExitCode.DATA_FAILED), ("clean", ExitCode.OK)])
def test_redis_down_warns_and_the_run_stands(which, expected, request, project, monkeypatch, caplog):
    url = request.getfixturevalue(which)
    secret = "s3cr" + "et-pw"
    down_url = closed_port_url(secret)
    monkeypatch.setenv("REDIS_URL", down_url)
    caplog.set_level(logging.WARNING, logger=ACTION_LOGGER)

    report = run_checkpoint("critical", config_dir=project, database_url=url)

    assert report.exit_code == expected and report.action_errors == []
    assert len(stored_results(project)) == 1  # critical: one validation definition, stored
    warnings = [r for r in caplog.records if r.name == ACTION_LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "not published to Redis" in text and config.mask_url(down_url) in text
    assert secret not in caplog.text


def test_cli_exit_code_reflects_the_data_with_redis_down(defective, project, monkeypatch):
    from click.testing import CliRunner

    from ytempire_dq.cli import main

    monkeypatch.setenv("DATABASE_URL", defective)
    monkeypatch.setenv("REDIS_URL", closed_port_url("pw"))
    result = CliRunner().invoke(main, ["checkpoint", "run", "critical", "--config", str(project)])
    assert result.exit_code == ExitCode.DATA_FAILED, result.output
    assert "videos.channel_exists" in result.output
    assert len(stored_results(project)) == 1


@pytest.mark.local_servers
@pytest.mark.parametrize(("which", "expected"), [("defective", ExitCode.DATA_FAILED), ("clean", ExitCode.OK)])
def test_redis_stopped_mid_suite_nightly_still_stores_and_exits_by_the_data(
    which, expected, request, tmp_path, monkeypatch, caplog
):
    """`ytdq checkpoint run nightly` with its own redis-server (never the session's), stopped by the
    progress callback after the first validation definition."""
    from click.testing import CliRunner

    from ytempire_dq import cli
    from ytempire_dq.cli import checkpoint as checkpoint_cli

    monkeypatch.delenv("REDIS_URL", raising=False)
    state_dir = tmp_path / "own-redis"
    own_url = services.up(state_dir, postgres=False)["redis"]["url"]
    project = copy_project(tmp_path / "project")
    events = []
    show = checkpoint_cli.progress_line

    def progress(event: dict) -> None:
        events.append(event)
        if len(events) == 1:
            assert redis.Redis.from_url(own_url).ping()
            assert services.down(state_dir) == ["redis"]
        show(event)

    monkeypatch.setattr(checkpoint_cli, "progress_line", progress)
    monkeypatch.setenv("DATABASE_URL", request.getfixturevalue(which))
    monkeypatch.setenv("REDIS_URL", own_url)
    caplog.set_level(logging.WARNING, logger=ACTION_LOGGER)
    try:
        result = CliRunner().invoke(cli.main, ["checkpoint", "run", "nightly", "--config", str(project)])
    finally:
        services.down(state_dir, purge=True)

    assert result.exit_code == expected, result.output
    # every validation definition of nightly, the cache last (its snapshot taken at the start, before Redis stopped)
    n = len(json.loads((project.parent / "checkpoints" / "nightly.json").read_text())["validation_definitions"])
    assert len(events) == n >= 9 and events[-1]["index"] == n  # the suite went on after Redis stopped
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(own_url, socket_connect_timeout=1).ping()
    assert len(stored_results(project)) == n  # every validation result stored
    warnings = [r.getMessage() for r in caplog.records if r.name == ACTION_LOGGER]
    assert len(warnings) == 1 and "not published to Redis at " + own_url in warnings[0]
