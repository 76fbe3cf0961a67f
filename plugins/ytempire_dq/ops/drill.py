"""The recovery drill: lose a primary under load, restore it, validate the copy, measure RTO/RPO.

The drill runs its OWN scratch primary, not the embedded cluster: that one runs with
``fsync=off`` and ``synchronous_commit=off`` for speed, and a drill against a server that
acknowledges commits before they are on disk proves nothing about what survives. The drill's
primary keeps PostgreSQL's durable defaults (``fsync``, ``synchronous_commit``,
``full_page_writes`` on), archives WAL like the embedded one (``archive_timeout`` bounds the
RPO), gets the project's migrations and seeded data (``--users N``), and then:

1. writes a marker row every ``interval`` seconds (its commit acknowledged = committed) while a
   workload inserts rows;
2. takes a base backup (``pg_basebackup``) and keeps writing;
3. loses the primary: ``pg_ctl stop -m immediate`` (no shutdown checkpoint, no last archiving),
   then its data directory is moved aside;
4. restores to the latest archived WAL into a new directory (``ytempire_dq.ops.restore``);
5. runs the ``nightly`` checkpoint against the copy (a copy of the project's GX config, so the
   project's Data Docs and stores are untouched; the run lands in the copy's own ``dq`` history).

RTO = loss -> the copy answering and validated. RPO = the newest marker committed before the loss
minus the newest marker in the copy (by the time each was written). Redis: a redis-server started
as ``ytdq services up`` starts it (AOF, ``appendfsync everysec``) is killed with SIGKILL while a
client writes, restarted, and the acknowledged writes that survived are counted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ytempire_dq import config
from ytempire_dq.locations import copy_project
from ytempire_dq.ops import server_processes, services
from ytempire_dq.ops.backup import take_backup
from ytempire_dq.ops.restore import restore, start_cluster, stop_cluster
from ytempire_dq.ops.walarchive import archive_settings, make_folder, server_options

#: The seed's targets (recovery time < 30 min, recovery point < 15 min).
RTO_TARGET = 30 * 60
RPO_TARGET = 15 * 60
_DRILL_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS ytdq_drill;
CREATE TABLE IF NOT EXISTS ytdq_drill.markers (seq int PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS ytdq_drill.load (id bigserial PRIMARY KEY, payload text NOT NULL);
"""


@dataclass
class DrillReport:
    users: int
    interval: float
    archive_timeout: int
    backup: dict = field(default_factory=dict)
    markers_committed: int = 0  # acknowledged before the loss
    newest_committed: dict | None = None  # {seq, written_at}
    newest_restored: dict | None = None
    markers_lost: int = 0
    rpo_seconds: float = 0.0
    restore_seconds: float = 0.0  # loss -> the copy answering
    validate_seconds: float = 0.0  # the checkpoint on the copy
    rto_seconds: float = 0.0  # loss -> the copy answering and validated
    workload_rows: int = 0
    checkpoint: dict = field(default_factory=dict)  # {name, success, exit_code, rules, failed, run_id}
    redis: dict = field(default_factory=dict)
    targets: dict = field(default_factory=lambda: {"rto_seconds": RTO_TARGET, "rpo_seconds": RPO_TARGET})

    @property
    def targets_met(self) -> bool:
        return self.rto_seconds <= self.targets["rto_seconds"] and self.rpo_seconds <= self.targets["rpo_seconds"]

    @property
    def exit_code(self) -> int:
        """The checkpoint's exit code (2: it could not run); 1 also when a target was missed."""
        code = self.checkpoint.get("exit_code", 2)
        return code if code else (0 if self.targets_met else 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "targets_met": self.targets_met, "exit_code": self.exit_code}


class _Loop(threading.Thread):
    """Run ``step(cursor)`` every ``every`` seconds on its own autocommit connection until the
    server goes away (the loss) or ``stop`` is set; ``done`` holds what each step returned."""

    def __init__(self, url: str, every: float, step):
        super().__init__(daemon=True)
        self.url, self.every, self.step = url, every, step
        self.stop = threading.Event()
        self.done: list = []

    def run(self) -> None:
        import psycopg2

        from ytempire_dq.db.connect import connect

        conn = connect(self.url, autocommit=True)
        try:
            while not self.stop.is_set():
                with conn.cursor() as cur:
                    self.done.append(self.step(cur, len(self.done) + 1))
                self.stop.wait(self.every)
        except psycopg2.Error:
            pass  # the primary is gone
        finally:
            with contextlib.suppress(Exception):
                conn.close()


def _marker(cur, seq: int) -> dict:
    cur.execute("INSERT INTO ytdq_drill.markers (seq) VALUES (%s) RETURNING written_at", (seq,))
    return {"seq": seq, "written_at": cur.fetchone()[0]}


def _load(rows: int):
    def step(cur, _n: int) -> int:
        cur.execute(
            "INSERT INTO ytdq_drill.load (payload) SELECT md5(random()::text) FROM generate_series(1, %s)", (rows,)
        )
        return rows

    return step


def start_primary(workdir: Path, *, archive_timeout: int, log) -> tuple[Path, str]:
    """A durable scratch primary in ``workdir/primary`` archiving into ``workdir/backups/wal``."""
    run_as = server_processes.RunAs.for_postgres()
    datadir = workdir / "primary"
    make_folder(workdir / "backups", run_as)
    log(f"initdb {datadir} (durable: fsync, synchronous_commit and full_page_writes on)")
    res = run_as.run(
        [str(server_processes.pg_bindir() / "initdb"), "-D", str(datadir), "-U", services.DB_USER, "--auth=trust"]
        + ["-E", "UTF8", "--locale=C.UTF-8", "--wal-segsize=1"]
    )
    if res.returncode != 0:
        raise server_processes.ServiceError(f"initdb failed: {config.one_line(res.stderr or res.stdout, 300)}")
    port = server_processes.free_port()
    durable = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=50 "
    archive = server_options(archive_settings(workdir / "backups" / "wal", archive_timeout))
    start_cluster(datadir, port, run_as, options=durable + archive)
    services.ensure_database(port)
    return datadir, f"postgresql+psycopg2://{services.DB_USER}@127.0.0.1:{port}/{services.DB_NAME}"


@contextlib.contextmanager
def _environ(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def run_drill(
    *,
    users: int = 20,
    interval: float = 5.0,
    before: float | None = None,
    after: float | None = None,
    archive_timeout: int = 60,
    workload_rate: int = 500,
    redis_seconds: float = 2.0,
    checkpoint: str = "nightly",
    workdir: Path | None = None,
    keep: bool = False,
    log=lambda msg: None,
) -> DrillReport:
    """The whole drill (module docstring); ``before``/``after``: seconds of writing before and after
    the backup (default: 3 intervals, and archive_timeout + 3 intervals)."""
    if interval <= 0 or archive_timeout < 1 or users < 1:
        raise server_processes.ServiceError("--interval must be > 0, --archive-timeout >= 1 s, --users >= 1")
    before = 3 * interval if before is None else before
    after = archive_timeout + 3 * interval if after is None else after
    work = Path(workdir or tempfile.mkdtemp(prefix="ytdq-drill-", dir="/var/tmp")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    run_as = server_processes.RunAs.for_postgres()
    if not run_as.is_self:
        os.chown(work, run_as.uid, run_as.gid)  # initdb makes primary/, restore makes restored/ in it
    report = DrillReport(users=users, interval=interval, archive_timeout=archive_timeout)
    redis_entry = None
    restored_dir = work / "restored"
    datadir = work / "primary"
    try:
        redis_entry = services.start_redis(work, None, log)
        datadir, url = start_primary(work, archive_timeout=archive_timeout, log=log)
        _fill_primary(url, users, log)

        markers = _Loop(url, interval, _marker)
        load = _Loop(url, 0.1, _load(max(1, workload_rate // 10)))
        markers.start()
        if workload_rate:
            load.start()
        time.sleep(before)
        t = time.monotonic()
        backup, _settings = take_backup(url, work / "backups", log=log)
        report.backup = {"label": backup.label, "seconds": round(time.monotonic() - t, 3), "size": backup.size}
        time.sleep(after)

        log("loss: immediate stop of the primary, its data directory moved aside")
        t_loss = time.monotonic()
        if not stop_cluster(datadir, mode="immediate"):
            raise server_processes.ServiceError(f"the drill's primary in {datadir} did not stop")
        datadir.rename(work / "primary.lost")
        _stop(markers, load)
        committed = markers.done
        report.markers_committed = len(committed)
        report.workload_rows = sum(load.done)
        report.newest_committed = _stamp(committed[-1]) if committed else None

        restored = restore(work / "backups", restored_dir, source_url=url, log=log)
        report.restore_seconds = round(time.monotonic() - t_loss, 3)
        _measure_loss(restored.url, committed, report)

        t_validate = time.monotonic()
        report.checkpoint = _validate(checkpoint, restored.url, _redis_db(redis_entry["url"], 1), work, log)
        report.validate_seconds = round(time.monotonic() - t_validate, 3)
        report.rto_seconds = round(time.monotonic() - t_loss, 3)

        report.redis = redis_aof_loss(work, redis_entry, seconds=redis_seconds, log=log)
        return report
    finally:
        stop_cluster(restored_dir)
        stop_cluster(datadir, mode="immediate")
        if redis_entry:
            services.stop_redis(redis_entry)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _fill_primary(url: str, users: int, log) -> None:
    """The primary's schema, ``users`` users of seed data, and the drill's own markers table."""
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import connect
    from ytempire_dq.fixtures import seed as seeder

    migrations.migrate(url)
    log(f"seeding {users} users")
    seeder.seed(url, users=users)
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(_DRILL_SCHEMA)
    conn.close()


def _stop(*loops: _Loop) -> None:
    for loop in loops:
        loop.stop.set()
        if loop.is_alive():
            loop.join(timeout=30)


def _measure_loss(restored_url: str, committed: list[dict], report: DrillReport) -> None:
    """The newest marker the restored copy holds, against the newest the primary committed: the
    markers lost and the RPO (no marker in the copy: all lost, the RPO at least their whole span)."""
    from ytempire_dq.db.connect import connect

    copy = connect(restored_url, autocommit=True)
    with copy.cursor() as cur:
        cur.execute("SELECT seq, written_at FROM ytdq_drill.markers ORDER BY seq DESC LIMIT 1")
        row = cur.fetchone()
    copy.close()
    report.newest_restored = _stamp({"seq": row[0], "written_at": row[1]}) if row else None
    if committed:
        newest = row[1] if row else committed[0]["written_at"]
        report.markers_lost = max(0, committed[-1]["seq"] - (row[0] if row else 0))
        report.rpo_seconds = round(max(0.0, (committed[-1]["written_at"] - newest).total_seconds()), 3)


def _redis_db(url: str, number: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


def _stamp(marker: dict) -> dict:
    return {"seq": marker["seq"], "written_at": marker["written_at"].isoformat()}


def _validate(name: str, url: str, redis_url: str, work: Path, log) -> dict:
    """Run checkpoint ``name`` against the copy (an emptied Redis database for the cache suite)."""
    import redis

    from ytempire_dq.run.checkpoint import run_checkpoint

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    log(f"running checkpoint {name} against the restored copy {config.mask_url(url)}")
    with _environ(DATABASE_URL=url, REDIS_URL=redis_url):
        run = run_checkpoint(name, config_dir=copy_project(work / "project"), database_url=url, redis_url=redis_url)
    rules = run.rules()
    return {
        "name": name,
        "success": run.success,
        "exit_code": int(run.exit_code),
        "rules": len(rules),
        "failed": [r["rule_id"] for r in run.failed_rules()],
        "run_id": run.run_id,
    }


def redis_aof_loss(work: Path, entry: dict, *, seconds: float = 2.0, log=lambda msg: None) -> dict:
    """SIGKILL the redis-server of ``entry`` while a client writes ``drill:N`` keys (N = 1, 2, ...),
    restart it on the same AOF and count the acknowledged writes that survived."""
    import redis

    client = redis.Redis.from_url(entry["url"])
    client.flushdb()
    acked: list[float] = []  # acked[n - 1]: when write n was acknowledged

    def write() -> None:
        try:
            while True:
                client.set(f"drill:{len(acked) + 1}", 1)
                acked.append(time.monotonic())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return

    writer = threading.Thread(target=write, daemon=True)
    t_start = time.monotonic()
    writer.start()
    time.sleep(seconds)
    pid = int(Path(entry["pidfile"]).read_text().strip())
    os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    writer.join(timeout=30)
    client.close()
    deadline = time.monotonic() + 20
    while server_processes.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    log(f"redis-server killed after {len(acked):,} acknowledged writes; restarting it on its AOF")
    Path(entry["pidfile"]).unlink(missing_ok=True)
    entry.update(services.start_redis(work, entry, log))
    client = redis.Redis.from_url(entry["url"])
    present = [False] * (len(acked) + 1)  # the one in flight may be there too
    names = [f"drill:{n}" for n in range(1, len(present) + 1)]
    for i in range(0, len(names), 10000):
        for j, value in enumerate(client.mget(names[i : i + 10000])):
            present[i + j] = value is not None
    client.close()
    survived = present.index(False) if False in present else len(present)
    kept = min(survived, len(acked))
    if 0 < kept < len(acked):
        window = acked[-1] - acked[kept - 1]  # how long before the kill the lost writes were acknowledged
    else:
        window = acked[-1] - acked[0] if acked and not kept else 0.0
    return {
        "appendfsync": "everysec",
        "acknowledged": len(acked),
        "survived": kept,
        "lost": len(acked) - kept,
        "in_flight_survived": survived > len(acked),
        "survivors_are_a_prefix": survived == sum(present),  # writes 1..survived, no hole after
        "lost_window_seconds": round(window, 3),
        "writes_per_second": round(len(acked) / (t_kill - t_start), 1),
    }
