"""One run of a checkpoint at a time, with real processes: a second run waits, gives up after
YTDQ_LOCK_TIMEOUT with exit 2 naming the checkpoint; two concurrent runs both store intact results."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.helpers import copy_project
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.run.lock import lock_path

HOLDER = textwrap.dedent("""
    import sys, time
    from ytempire_dq.run.lock import run_lock
    with run_lock(sys.argv[1], sys.argv[2], timeout=0):
        print("locked", flush=True)
        sys.stdin.readline()  # hold until the test closes our stdin
""")


@pytest.fixture(scope="module")
def defective(new_database) -> str:
    url = new_database("run_lock")
    seed.seed(url, users=20, seed=9, inject={"orphan_videos": 3})
    return url


@pytest.fixture
def env(defective, redis_url) -> dict:
    return {**os.environ, "DATABASE_URL": defective, "REDIS_URL": redis_url}


def ytdq(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ytempire_dq.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def holder(tmp_path, env):
    """A separate process holding the run lock of `critical` in the project copy (same key as the runner)."""
    gx_dir = copy_project(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(gx_dir), "critical"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    yield gx_dir, proc
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_a_second_run_gives_up_after_the_timeout_with_exit_2(holder, env):
    gx_dir, proc = holder
    started = time.monotonic()
    run = ytdq("checkpoint", "run", "critical", "--config", str(gx_dir), env={**env, "YTDQ_LOCK_TIMEOUT": "2"})
    out, err = run.communicate(timeout=120)
    waited = time.monotonic() - started
    assert run.returncode == ExitCode.RUN_FAILED, out + err
    message = " ".join(err.split())
    assert f"checkpoint 'critical' is already running (pid {proc.pid}); gave up waiting after 2 s" in message
    assert str(lock_path(gx_dir, "critical")) in message
    assert waited >= 2
    assert not (gx_dir / "uncommitted" / "validations").exists()  # it never ran


def test_a_waiting_run_goes_on_once_the_lock_is_released(holder, env):
    gx_dir, proc = holder
    run = ytdq("checkpoint", "run", "critical", "--config", str(gx_dir), env=env)
    # its first line says it waits (read, not slept for: on a busy machine the import alone takes seconds)
    waiting = run.stderr.readline()
    assert run.poll() is None  # still waiting
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    out, err = run.communicate(timeout=300)
    assert run.returncode == ExitCode.DATA_FAILED, out + waiting + err
    message = " ".join((waiting + err).split())
    assert "checkpoint 'critical' is already running" in message and "waiting up to 600 s" in message


def test_two_concurrent_runs_both_store_their_own_results(tmp_path, env):
    gx_dir = copy_project(tmp_path)
    outputs = [tmp_path / "a.json", tmp_path / "b.json"]
    runs = [ytdq("checkpoint", "run", "critical", "--config", str(gx_dir), "--json", str(o), env=env) for o in outputs]
    finished = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [ExitCode.DATA_FAILED] * 2, finished

    reports = [json.loads(o.read_text()) for o in outputs]
    run_ids = sorted(r["run_id"] for r in reports)
    assert len(set(run_ids)) == 2
    files = sorted((gx_dir / "uncommitted" / "validations").rglob("*.json"))
    assert len(files) == 2
    stored = {}
    for path in files:
        doc = json.loads(path.read_text())  # whole, parseable: not interleaved
        assert doc["statistics"]["evaluated_expectations"] == len(reports[0]["validations"][0]["results"])
        stored[doc["meta"]["run_id"]["run_name"]] = (doc, path)
    assert sorted(stored) == run_ids
    for report in reports:
        doc, _ = stored[report["run_id"]]
        failed = sorted(r["expectation_config"]["meta"]["rule_id"] for r in doc["results"] if not r["success"])
        assert failed == ["videos.channel_exists"] and report["success"] is False
    # one waited for the other: the later run started after the earlier one had stored its result
    (_, first_path), (second, _) = (stored[run_ids[0]], stored[run_ids[1]])
    second_start = dt.datetime.fromisoformat(second["meta"]["run_id"]["run_time"]).timestamp()
    assert second_start > first_path.stat().st_mtime
    assert sum("is already running" in err for _, err in finished) == 1
