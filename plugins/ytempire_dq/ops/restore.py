"""Point-in-time restore into a scratch cluster: a base backup plus archived WAL.

``restore`` copies the newest base backup finished before the target into a new data directory,
adds ``recovery.signal`` and the recovery settings (``restore_command`` reading the backup
folder's ``wal/``, ``recovery_target_time`` unless the target is "latest",
``recovery_target_action = promote``, no archiving of its own), starts it on a free loopback
port and waits until recovery has ended and the copy accepts writes. The source server is never
touched (apart from a WAL switch when it still answers, so "latest" includes its last commits).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.ops import server_processes, services
from ytempire_dq.ops.backup import list_backups, run_tool, switch_wal
from ytempire_dq.ops.walarchive import BackupError, restore_command

LOG_NAME = "server.log"


@dataclass
class Restored:
    url: str
    port: int
    datadir: Path
    base: str  # label of the base backup used
    target: dt.datetime | None  # None: latest
    recovered_to: dt.datetime | None  # the last commit replayed
    seconds: float

    def to_dict(self) -> dict:
        return {
            "url": config.mask_url(self.url),
            "port": self.port,
            "datadir": str(self.datadir),
            "base": self.base,
            "target": self.target.isoformat() if self.target else "latest",
            "recovered_to": self.recovered_to.isoformat() if self.recovered_to else None,
            "seconds": round(self.seconds, 3),
        }


def parse_target(text: str) -> dt.datetime | None:
    """``latest`` -> None; an ISO 8601 time (no zone: this machine's local time) -> aware datetime."""
    if text.strip().lower() == "latest":
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BackupError(f"--to {text!r}: expected 'latest' or a time like 2026-12-01T10:45:00+00:00") from None
    return value if value.tzinfo else value.astimezone()


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_target_dir(into: Path, run_as) -> None:
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise BackupError(f"--into {into}: exists and is not an empty directory")
    into.parent.mkdir(parents=True, exist_ok=True)
    if not run_as.can_use(into.parent):
        raise BackupError(
            f"--into {into}: user {run_as.name} (who runs PostgreSQL) cannot reach {into.parent}; "
            "choose a directory outside a private home (e.g. under /var/tmp)"
        )


def _write(path: Path, text: str, run_as, append: bool = False) -> None:
    with open(path, "a" if append else "w") as f:
        f.write(text)
    if not run_as.is_self:
        os.chown(path, run_as.uid, run_as.gid)


def restore(
    folder: Path,
    into: Path,
    *,
    target: dt.datetime | None = None,
    source_url: str | None = None,
    port: int | None = None,
    timeout: float = 3600,
    log=lambda msg: None,
) -> Restored:
    """A running scratch cluster in ``into``, recovered to ``target`` (None: the newest archived
    WAL). ``source_url`` gives the user, password and database of the printed URL (default: the
    embedded cluster's), and gets a WAL switch first when it answers."""
    started = time.monotonic()
    folder, into = Path(folder).resolve(), Path(into).resolve()
    run_as = server_processes.RunAs.for_postgres()
    _check_target_dir(into, run_as)
    backups = [b for b in list_backups(folder) if target is None or (b.finished and b.finished < target)]
    if not backups:
        when = f"finished before {target.isoformat()}" if target else "at all"
        raise BackupError(f"no base backup in {folder / 'base'} {when}; take one with `ytdq backup`")
    base = backups[-1]
    if source_url:
        _switch_if_alive(source_url, folder, log)
    else:
        source_url = f"postgresql+psycopg2://{services.DB_USER}@127.0.0.1:5432/{services.DB_NAME}"

    log(f"copying base backup {base.label} into {into}")
    into.mkdir(exist_ok=True)
    if not run_as.is_self:
        os.chown(into, run_as.uid, run_as.gid)
    res = run_as.run(["cp", "-a", f"{base.path}/.", str(into)])
    if res.returncode != 0:
        raise BackupError(f"copying {base.path} into {into} failed: {config.one_line(res.stderr, 300)}")
    os.chmod(into, 0o700)
    _complete_config(into, run_as)
    settings = {
        "restore_command": restore_command(folder / "wal"),
        "recovery_target_action": "promote",
        "archive_mode": "off",  # the copy must not write into the backups it came from
        # no read-only connections during recovery: a hot standby would need max_connections & co.
        # at least the source's, and nothing should read a half-recovered copy anyway
        "hot_standby": "off",
    }
    if target is not None:
        settings["recovery_target_time"] = target.isoformat(sep=" ")
    lines = "".join(f"{k} = {_conf_quote(v)}\n" for k, v in settings.items())
    _write(into / "postgresql.auto.conf", "\n# ytdq restore\n" + lines, run_as, append=True)
    _write(into / "recovery.signal", "", run_as)

    port = port or server_processes.free_port()
    log(f"recovering to {target.isoformat() if target else 'the newest archived WAL'} on port {port}")
    start_cluster(into, port, run_as, timeout=timeout)
    url = _url_at(source_url, port)
    recovered_to = wait_promoted(url, into, timeout=timeout) or last_commit_logged(into)
    return Restored(url, port, into, base.label, target, recovered_to, time.monotonic() - started)


def _switch_if_alive(source_url: str, folder: Path, log) -> None:
    import psycopg2

    try:
        segment = switch_wal(source_url, folder, timeout=30)
    except BackupError as exc:  # it answers but does not archive here: what is archived is all there is
        log(f"warning: {exc}; restoring from what is archived")
        return
    except (YtdqError, psycopg2.Error):  # the source is gone (that is what restores are for)
        log(f"source {config.mask_url(source_url)} does not answer: restoring from what is archived")
        return
    log(f"source answers: switched its WAL, {segment} archived")


def _complete_config(into: Path, run_as) -> None:
    """A server whose configuration lives outside its data directory (Debian's /etc/postgresql)
    leaves none in the base backup: defaults, password logins from loopback."""
    if not (into / "postgresql.conf").exists():
        _write(into / "postgresql.conf", "# written by ytdq restore: the source kept its own elsewhere\n", run_as)
    if not (into / "pg_hba.conf").exists():
        _write(into / "pg_hba.conf", "host all all 127.0.0.1/32 scram-sha-256\n", run_as)
    if not (into / "pg_ident.conf").exists():
        _write(into / "pg_ident.conf", "", run_as)


def _url_at(source_url: str, port: int) -> str:
    from ytempire_dq.db.connect import parse_url

    return parse_url(source_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def start_cluster(datadir: Path, port: int, run_as, *, options: str = "", timeout: float = 120) -> None:
    """``pg_ctl start`` on 127.0.0.1:``port`` (no Unix socket), log in ``datadir/server.log``."""
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' {options}"
    bindir = server_processes.pg_bindir()
    logfile = datadir / LOG_NAME
    args = [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", opts]
    res = run_tool(run_as, [*args, "-w", "-t", str(int(timeout)), "start"])
    if res.returncode != 0:
        raise BackupError(f"the cluster in {datadir} did not start: {log_tail(datadir)}")


def stop_cluster(datadir: Path, mode: str = "fast") -> bool:
    """``pg_ctl stop -m mode``; False when it was not running."""
    run_as = server_processes.RunAs.for_postgres()
    args = [str(server_processes.pg_bindir() / "pg_ctl"), "-D", str(datadir), "-m", mode, "-w", "-t", "120", "stop"]
    return run_tool(run_as, args).returncode == 0


def log_tail(datadir: Path, lines: int = 3) -> str:
    """Why the server stopped, from its log: the last FATAL/PANIC line of the process whose exit
    stopped it (``... process (PID n) exited``) and what that process logged next (DETAIL, HINT);
    else the log's last FATAL/PANIC line and the lines after it; else its last lines.

    A recovering server refuses connections with FATAL lines of their own ("the database system
    is not accepting connections", from :func:`wait_promoted`'s polling); the last FATAL of the
    log may be one of those, written after the startup process's own reason."""
    path = Path(datadir) / LOG_NAME
    if not path.exists():
        return "(no server log)"
    text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    exits = [m.group(1) for line in text for m in [_PROCESS_EXIT.search(line)] if m]
    own = [line for line in text if exits and f"[{exits[-1]}]" in line]
    for source in (own, text):
        fatal = [i for i, line in enumerate(source) if "FATAL:" in line or "PANIC:" in line]
        if fatal:
            return config.one_line(" | ".join(source[fatal[-1] : fatal[-1] + lines]), 600)
    return config.one_line(" | ".join(text[-lines:]), 600)


#: The postmaster's line when a server process stops it: ``startup process (PID 123) exited ...``.
_PROCESS_EXIT = re.compile(r"process \(PID (\d+)\) (?:exited|was terminated)")


_LAST_COMMIT = re.compile(r"last completed transaction was at log time (\d{4}-\d\d-\d\d [\d:.]+[+-]\d\d(?::?\d\d)?)")


def last_commit_logged(datadir: Path) -> dt.datetime | None:
    """The time of the last commit replayed, as the server logged it at the end of recovery
    ("last completed transaction was at log time ..."); None when it replayed none."""
    path = Path(datadir) / LOG_NAME
    found = _LAST_COMMIT.findall(path.read_text(errors="replace")) if path.exists() else []
    if not found:
        return None
    text = found[-1]
    return dt.datetime.fromisoformat(text + ("00" if re.search(r"[+-]\d\d$", text) else ""))


def wait_promoted(url: str, datadir: Path, timeout: float) -> dt.datetime | None:
    """Wait until the copy has left recovery (promoted); the time of the last commit it replayed."""
    import psycopg2

    from ytempire_dq.db.connect import libpq_dsn

    deadline = time.monotonic() + timeout
    while True:
        if not (Path(datadir) / "postmaster.pid").exists():
            tail = log_tail(datadir)
            hint = " (the archived WAL ends before --to: restore to an earlier time, or 'latest')"
            raise BackupError(
                f"the restored cluster in {datadir} stopped during recovery: {tail}"
                + (hint if "before configured recovery target" in tail else "")
            )
        try:
            conn = psycopg2.connect(libpq_dsn(url), connect_timeout=5, dbname="postgres")
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()")
                    in_recovery, replayed = cur.fetchone()
            finally:
                conn.close()
            if not in_recovery:
                return replayed
        except psycopg2.OperationalError:
            pass  # starting up, or not yet consistent
        if time.monotonic() > deadline:
            raise BackupError(f"the restored cluster in {datadir} was still recovering after {timeout:.0f} s")
        time.sleep(0.1)
