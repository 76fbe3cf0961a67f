"""Backups (pg_basebackup + archived WAL), point-in-time restore, the recovery drill, Redis's AOF.

An embedded cluster of its own (``services.up`` in a new state directory, as ``ytdq services up``
starts it: WAL archived into its backup folder); the CLI runs with ``YTDQ_HOME`` pointing there.
Restored clusters go under /var/tmp (PostgreSQL runs as an unprivileged user who cannot enter
pytest's private temporary directory) and are stopped and deleted by each test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.helpers import rows, scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.ops import backup, services
from ytempire_dq.ops.drill import redis_aof_loss
from ytempire_dq.ops.restore import stop_cluster

YTDQ = Path(sys.executable).with_name("ytdq")
#: every test here runs an embedded cluster (and pg_basebackup) of its own (skipped when DATABASE_URL/REDIS_URL name the servers)
pytestmark = pytest.mark.local_servers


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("backup_home")


@pytest.fixture(scope="module")
def cluster(home, server_urls):
    """The embedded PostgreSQL of a new state dir, with a markers table; purged at the end."""
    state_dir = home / ".ytdq"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DATABASE_URL", "REDIS_URL", "YTDQ_BACKUP_DIR", "YTDQ_BACKUP_RETENTION_DAYS"):
            mp.delenv(name, raising=False)
        entry = services.up(state_dir, redis=False)["postgres"]
        conn = connect(entry["url"], autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE markers (seq int PRIMARY KEY, written_at timestamptz DEFAULT clock_timestamp())")
        conn.close()
        yield {**entry, "backups": Path(entry["backup_dir"])}
        services.down(state_dir, purge=True)


@pytest.fixture
def scratch():
    """Factory of new directories under /var/tmp for restored clusters; stopped and deleted after."""
    made = []

    def make() -> Path:
        made.append(Path("/var/tmp") / f"ytdq-test-restore-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield make
    for path in made:
        if path.exists():
            stop_cluster(path)
            shutil.rmtree(path, ignore_errors=True)


def cli(home: Path | None, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YTDQ_BACKUP_DIR")}
    base.update(COLUMNS="250", **({"YTDQ_HOME": str(home)} if home else {}), **(env or {}))
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=base, timeout=timeout)


def write_marker(url: str, seq: int) -> float:
    """Commit marker ``seq``; the wall-clock time right after the commit returned."""
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO markers (seq) VALUES (%s)", (seq,))
    conn.close()
    return time.time()


def restored_url(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return re.search(r"^export DATABASE_URL=(\S+)$", result.stdout, re.M)[1]


def test_services_up_archives_wal_into_the_backup_folder(cluster):
    settings = backup.server_archiving(cluster["url"])
    assert settings["archive_mode"] == "on" and settings["wal_level"] == "replica"
    assert str(cluster["backups"] / "wal") in settings["archive_command"]
    assert backup.switch_wal(cluster["url"], cluster["backups"])  # a segment really arrives there


def test_backup_list_and_prune_by_age(cluster, home):
    first = cli(home, "backup")
    assert first.returncode == 0, first.stderr
    assert re.search(r"^backup base-\d{8}T\d{6}Z", first.stdout, re.M) and "WAL archiving: on" in first.stdout
    (old,) = backup.list_backups(cluster["backups"])
    forty_days_ago = backup.utcnow() - dt.timedelta(days=40)
    old.path.rename(old.path.with_name("base-" + forty_days_ago.strftime("%Y%m%dT%H%M%SZ")))
    write_marker(cluster["url"], 1000)
    backup.switch_wal(cluster["url"], cluster["backups"])
    assert cli(home, "backup").returncode == 0

    listed = json.loads(cli(home, "backup", "list", "--json").stdout)
    assert [round(b["age"]) for b in map(_with_age, listed["backups"])] == [40, 0]
    assert listed["wal"]["segments"] > 0
    table = cli(home, "backup", "list").stdout
    assert "40.0 d" in table and "archived WAL:" in table

    # retention is configurable: 50 days keeps both
    kept = cli(home, "backup", "prune", env={"YTDQ_BACKUP_RETENTION_DAYS": "50"})
    assert "removed 0 base backups; kept 2" in kept.stdout, kept.stderr
    pruned = cli(home, "backup", "prune")  # default: 30 days
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 base backup" in pruned.stdout and "kept 1" in pruned.stdout
    (newest,) = backup.list_backups(cluster["backups"])
    segments = [p.name for p in (cluster["backups"] / "wal").iterdir() if re.fullmatch(r"[0-9A-F]{24}", p.name)]
    assert segments and min(segments) == newest.start_wal  # nothing older than the kept backup needs

    # the newest backup stays however old it is
    newest.path.rename(newest.path.with_name("base-" + forty_days_ago.strftime("%Y%m%dT%H%M%SZ")))
    assert "removed 0 base backups; kept 1" in cli(home, "backup", "prune", "--days", "1").stdout


def test_backup_refuses_a_folder_inside_the_data_directory_or_the_wal_archive(cluster, home, tmp_path):
    """Before: `backup --dir` inside the data directory was accepted and the next normal backup
    copied it (61 -> 123 MB). Inside means the same directory or below it, symlinks and `..` resolved;
    refused in one line, exit 2, before anything is written."""
    datadir, wal = Path(cluster["datadir"]), cluster["backups"] / "wal"
    (tmp_path / "link").symlink_to(datadir)
    before = [b.label for b in backup.list_backups(cluster["backups"])]
    inside = {
        "data directory": [
            datadir,
            datadir / "backups",
            tmp_path / "link" / "sub",
            cluster["backups"] / ".." / "data" / "x",
        ],
        "WAL archive": [wal, wal / "backups", cluster["backups"] / "base" / ".." / "wal" / "y"],
    }
    for what, folders in inside.items():
        for folder in folders:
            result = cli(home, "backup", "--dir", str(folder))
            assert result.returncode == 2, (folder, result.stdout, result.stderr)
            (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            assert f"is inside the server's {what} " in error and not result.stdout, (folder, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for made in (datadir / "backups", datadir / "wal", datadir / "x", tmp_path / "link" / "sub", wal / "backups"):
        assert not made.exists(), made  # nothing written (the data directory has a base/ of its own)
    assert not (wal / "base").exists() and not (wal / "y").exists()
    assert [b.label for b in backup.list_backups(cluster["backups"])] == before

    # a sibling whose name merely starts like the data directory's is outside
    beside = datadir.with_name(datadir.name + "-backups")
    try:
        taken = cli(home, "backup", "--no-verify", "--dir", str(beside))
        assert taken.returncode == 0, taken.stderr
        assert len(backup.list_backups(beside)) == 1
    finally:
        shutil.rmtree(beside, ignore_errors=True)


def _with_age(entry: dict) -> dict:
    return {**entry, "age": (backup.utcnow() - dt.datetime.fromisoformat(entry["started"])).total_seconds() / 86400}


def test_restore_to_a_time_between_two_markers_gives_exactly_the_markers_before_it(cluster, home, scratch):
    url = cluster["url"]
    write_marker(url, 1)
    assert cli(home, "backup", "--no-verify").returncode == 0
    committed = {seq: write_marker(url, seq) for seq in (2, 3)}
    time.sleep(0.4)
    between = committed[3] + 0.2  # after marker 3's commit, before marker 4's transaction began
    for seq in (4, 5):
        write_marker(url, seq)
        time.sleep(0.1)
    target = dt.datetime.fromtimestamp(between, dt.timezone.utc).isoformat()

    done = cli(home, "restore", "--to", target, "--into", str(scratch()))
    at_time = restored_url(done)
    # it names the last commit it replayed: marker 3's (the server's commit time, before the client saw it)
    replayed = dt.datetime.fromisoformat(re.search(r"^last commit replayed: (\S+)$", done.stdout, re.M)[1])
    assert committed[3] - 1 < replayed.timestamp() <= committed[3] < between, done.stdout
    copy = connect(at_time, autocommit=True)
    assert [r[0] for r in rows(copy, "SELECT seq FROM markers WHERE seq < 1000 ORDER BY seq")] == [1, 2, 3]
    assert scalar(copy, "SELECT pg_is_in_recovery()") is False  # promoted: a usable copy
    copy.close()

    # the printed URL keeps the source's user, database and password, the password masked
    secret = "s3cret-" + uuid.uuid4().hex[:6]
    with_password = make_url(url).set(password=secret).render_as_string(hide_password=False)
    latest = cli(home, "restore", "--into", str(scratch()), env={"DATABASE_URL": with_password})
    assert secret not in latest.stdout + latest.stderr
    assert re.search(
        r"^export DATABASE_URL=postgresql\+psycopg2://ytdq:\*\*\*@127\.0\.0\.1:\d+/ytempire$", latest.stdout, re.M
    )
    copy = connect(restored_url(latest).replace("***", secret), autocommit=True)
    assert [r[0] for r in rows(copy, "SELECT seq FROM markers WHERE seq < 1000 ORDER BY seq")] == [1, 2, 3, 4, 5]
    copy.close()


def test_restore_refuses_bad_input_in_one_line(cluster, home, scratch):
    bad_time = cli(home, "restore", "--to", "yesterday-ish", "--into", str(scratch()))
    assert bad_time.returncode == 2 and "--to 'yesterday-ish'" in bad_time.stderr
    too_early = cli(home, "restore", "--to", "2001-01-01T00:00:00+00:00", "--into", str(scratch()))
    assert too_early.returncode == 2 and "no base backup" in too_early.stderr and "finished before" in too_early.stderr
    taken = scratch()
    taken.mkdir()
    (taken / "something").write_text("x")
    not_empty = cli(home, "restore", "--into", str(taken))
    assert not_empty.returncode == 2 and "not an empty directory" in not_empty.stderr
    backup.take_backup(cluster["url"], cluster["backups"], verify=False)
    future = (backup.utcnow() + dt.timedelta(hours=1)).isoformat()
    too_late = cli(home, "restore", "--to", future, "--into", str(scratch()))
    assert (
        too_late.returncode == 2 and "recovery ended before configured recovery target was reached" in too_late.stderr
    )
    for result in (bad_time, too_early, not_empty, too_late):
        assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1, result.stderr


#: A recovery past the archived WAL, as the server logged it when ``wait_promoted``'s polling
#: connection was refused after the startup process's own FATAL (seen in CI, 2026-12-01).
RECOVERY_LOG = """\
2026-12-01 17:07:03.801 UTC [15533] LOG:  redo done at 0/4000100
2026-12-01 17:07:03.868 UTC [15533] FATAL:  recovery ended before configured recovery target was reached
2026-12-01 17:07:03.869 UTC [15551] FATAL:  the database system is not accepting connections
2026-12-01 17:07:03.869 UTC [15551] DETAIL:  Hot standby mode is disabled.
2026-12-01 17:07:03.870 UTC [15530] LOG:  startup process (PID 15533) exited with exit code 1
2026-12-01 17:07:03.870 UTC [15530] LOG:  terminating any other active server processes
"""


def test_a_stopped_recovery_names_the_startup_process_reason_not_a_refused_connection(tmp_path):
    """The server log's last FATAL is a polling connection refused; the reason given (and its hint)
    is the FATAL of the process whose exit stopped the server."""
    from ytempire_dq.ops.restore import wait_promoted
    from ytempire_dq.ops.walarchive import BackupError

    (tmp_path / "server.log").write_text(RECOVERY_LOG)  # no postmaster.pid: the server has stopped
    with pytest.raises(BackupError) as stopped:
        wait_promoted("postgresql://ytdq@127.0.0.1:1/postgres", tmp_path, timeout=5)
    message = str(stopped.value)
    assert "[15533] FATAL: recovery ended before configured recovery target was reached" in message
    assert "not accepting connections" not in message
    assert "the archived WAL ends before --to" in message


def test_redis_aof_everysec_keeps_a_prefix_of_the_acknowledged_writes(tmp_path, server_urls):
    entry = services.start_redis(tmp_path, None, lambda m: None)
    try:
        found = redis_aof_loss(tmp_path, entry, seconds=0.5)
    finally:
        services.stop_redis(entry)
    assert found["acknowledged"] > 0
    assert found["survivors_are_a_prefix"]  # the AOF is replayed in order: no hole, only a lost tail
    assert found["survived"] + found["lost"] == found["acknowledged"] and found["lost"] >= 0
    assert found["appendfsync"] == "everysec"


def test_drill_at_small_scale_reports_rto_rpo_and_the_verdict(tmp_path, server_urls):
    record = tmp_path / "drills.jsonl"
    args = ["drill", "--users", "20", "--interval", "0.25", "--archive-timeout", "1", "--after", "2"]
    result = cli(None, *args, "--redis-seconds", "0.5", "--record", str(record), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for label in ("RTO", "RPO", "checkpoint nightly on the copy", "passed", "Redis AOF"):
        assert label in result.stdout, result.stdout
    (line,) = record.read_text().splitlines()
    report = json.loads(line)
    assert report["checkpoint"]["success"] and report["exit_code"] == 0
    committed, restored = report["newest_committed"], report["newest_restored"]
    assert report["markers_committed"] == committed["seq"] >= restored["seq"] >= 1
    assert report["markers_lost"] == committed["seq"] - restored["seq"]
    assert report["rto_seconds"] >= report["restore_seconds"] > 0


def test_drill_exit_code_is_the_verdict_and_the_targets():
    from ytempire_dq.ops.drill import DrillReport

    def report(exit_code: int, rto: float = 60, rpo: float = 10) -> DrillReport:
        return DrillReport(users=1, interval=1, archive_timeout=1, rto_seconds=rto, rpo_seconds=rpo,
                           checkpoint={"exit_code": exit_code})  # fmt: skip

    assert report(0).exit_code == 0
    assert report(1).exit_code == 1  # a rule failed on the restored copy
    assert report(2).exit_code == 2  # the checkpoint could not run
    assert report(0, rto=31 * 60).exit_code == 1 and report(0, rpo=16 * 60).exit_code == 1  # a target missed
