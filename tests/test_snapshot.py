"""One snapshot per run (ytempire_dq.run.snapshot): while a writer commits orphans and duplicates
throughout a checkpoint run, every count in the run's result is the count at the run's snapshot,
the snapshot the result names, not a later one."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid

import pytest

from tests.helpers import copy_project, rows, scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed
from ytempire_dq.run import snapshot
from ytempire_dq.run.checkpoint import run_checkpoint

ORPHANS, DUPLICATE_EMAILS = 3, 2
VDS = ["users", "cross_table"]


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory, module_env):
    """Seeded data with known orphans and duplicates (their constraints dropped, so GX really scans
    ``users.email`` and the orphan rule really joins), and a checkpoint of a table suite and the
    cross-table suite."""
    seed.seed(module_env, users=30, inject={"orphan_videos": ORPHANS, "duplicate_email": DUPLICATE_EMAILS})
    gx = copy_project(tmp_path_factory.mktemp("snapshot"))
    root = gx.parent
    vds = [
        {"id": json.loads((root / "validation_definitions" / f"{n}.json").read_text())["id"], "name": n} for n in VDS
    ]
    (root / "checkpoints" / "snap.json").write_text(
        json.dumps(
            {
                "actions": [],
                "id": "00000000-0000-4000-8000-00000005a4a9",
                "name": "snap",
                "result_format": "SUMMARY",
                "validation_definitions": vds,
            }
        )
    )
    return gx


class Writer(threading.Thread):
    """Commits, one transaction at a time, an orphan video and two users sharing a new email;
    keeps each transaction's id to ask later whether the run's snapshot saw it."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.xids, self.stop, self.error = url, [], threading.Event(), None

    def run(self) -> None:
        conn = connect(self.url)
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    email = f"dup-{uuid.uuid4().hex[:12]}@example.com"
                    cur.execute(
                        "INSERT INTO videos (channel_id, title) VALUES (%s, 'orphan from the writer')",
                        (str(uuid.uuid4()),),
                    )
                    for n in (1, 2):
                        tag = uuid.uuid4().hex[:10]
                        cur.execute(
                            "INSERT INTO users (email, username, password_hash) VALUES (%s, %s, %s)",
                            (email, f"w{n}_{tag}", "x" * 60),
                        )
                    cur.execute("SELECT txid_current()")
                    xid = cur.fetchone()[0]
                    conn.commit()
                    self.xids.append(xid)
                    time.sleep(0.01)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            conn.close()


def _wait_for(writer: Writer, n: int) -> None:
    deadline = time.monotonic() + 30
    while len(writer.xids) < n and time.monotonic() < deadline and writer.error is None:
        time.sleep(0.01)
    assert writer.error is None, writer.error
    assert len(writer.xids) >= n


def test_every_count_is_the_count_at_the_runs_snapshot(gx_dir, module_env, db):
    writer = Writer(module_env)
    writer.start()
    try:
        _wait_for(writer, 5)  # the writer commits before the snapshot ...
        report = run_checkpoint("snap", config_dir=gx_dir, database_url=module_env)
        _wait_for(writer, len(writer.xids) + 5)  # ... and after the run
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None, writer.error

    snap = report.snapshot
    assert snap is not None and set(snap) == {"id", "taken_at", "txids", "as_of", "replica_lag_seconds", "standby"}
    assert snap["as_of"] == snap["taken_at"] and snap["replica_lag_seconds"] is None and snap["standby"] is False
    assert report.to_dict()["snapshot"] == snap
    seen = scalar(
        db,
        "SELECT count(*) FROM unnest(%s::bigint[]) AS x WHERE pg_visible_in_snapshot(x::text::xid8, %s::pg_snapshot)",
        (writer.xids, snap["txids"]),
    )
    # the writer's commits straddle the snapshot: some seen, some (committed during the run) not
    assert 0 < seen < len(writer.xids)

    assert report.rule("videos.channel_exists").unexpected_count == ORPHANS + seen
    assert report.rule("users.email_unique").unexpected_count == 2 * (DUPLICATE_EMAILS + seen)
    # a table rule and a cross-table rule agree on the table's rows at that instant
    assert report.rule("users.email_unique").error is None
    # the history names the instant, and quarantines the rows counted at it, not the later ones
    run = rows(db, "SELECT snapshot_id, snapshot_at, snapshot_txids FROM dq.runs WHERE run_id = %s", (report.run_id,))
    assert run == [(snap["id"], dt.datetime.fromisoformat(snap["taken_at"]), snap["txids"])]
    for rule_id in ("videos.channel_exists", "users.email_unique"):
        quarantined = scalar(
            db, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", (report.run_id, rule_id)
        )
        assert quarantined == report.rule(rule_id).unexpected_count
    # and the data did move on: a run at the end would have counted more
    now = scalar(
        db, "SELECT count(*) FROM videos v WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.id = v.channel_id)"
    )
    assert now == ORPHANS + len(writer.xids) > report.rule("videos.channel_exists").unexpected_count


def test_the_snapshot_is_the_runs_not_the_process(module_env):
    """No process-wide "active snapshot": a transaction starts on a snapshot only on an engine the
    run attached it to, and only until it is detached (two runs in one process keep their own)."""
    import sqlalchemy as sa

    from ytempire_dq.db.connect import engine

    assert not hasattr(snapshot, "active")
    eng, other = engine(module_env), engine(module_env)
    try:
        with snapshot.take(module_env) as snap, snapshot.attached(eng, snap):
            with eng.connect() as conn:
                assert (
                    conn.execute(sa.text("SELECT current_setting('transaction_isolation')")).scalar()
                    == "repeatable read"
                )
            with other.connect() as conn:  # not the run's: its transactions are its own
                assert (
                    conn.execute(sa.text("SELECT current_setting('transaction_isolation')")).scalar()
                    == "read committed"
                )
    finally:
        eng.dispose()
        other.dispose()


def test_a_lost_snapshot_is_an_error_never_another_instant(module_env, db):
    """The exporter's connection gone, a transaction that needed the run's snapshot fails (its rule
    is an error, exit 2) instead of reading the database as it is now."""
    import sqlalchemy as sa

    from ytempire_dq.db.connect import engine

    eng = engine(module_env)
    try:
        with snapshot.take(module_env) as snap, snapshot.attached(eng, snap):
            with eng.connect() as conn:
                level = conn.execute(sa.text("SELECT current_setting('transaction_isolation')")).scalar()
            assert level == "repeatable read"
            exporter = rows(
                db,
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND query ILIKE '%pg_export_snapshot%'",
            )
            assert len(exporter) == 1
            # With a timeout, pg_terminate_backend waits until the backend has exited: without one
            # it only signals, and the next import could still find the exporter alive.
            assert scalar(db, "SELECT pg_terminate_backend(%s, 10000)", exporter[0]) is True
            with pytest.raises(Exception, match="invalid snapshot identifier"), eng.connect() as conn:
                conn.execute(sa.text("SELECT count(*) FROM videos"))
        with eng.connect() as conn:  # after the run: the engine's transactions are its own again
            level = conn.execute(sa.text("SELECT current_setting('transaction_isolation')")).scalar()
        assert level == "read committed"
    finally:
        eng.dispose()
