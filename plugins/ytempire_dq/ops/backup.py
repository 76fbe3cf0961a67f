"""Backups with PostgreSQL's own tools: ``pg_basebackup`` base backups plus archived WAL.

A backup folder holds ``base/<label>/`` (one plain-format ``pg_basebackup`` each, label
``base-YYYYMMDDTHHMMSSZ`` = when it started, UTC) and ``wal/`` (the segments the server's
``archive_command`` copies there). A base backup restores to any instant from its end up to the
newest archived segment (``ytempire_dq.ops.restore``). No format of our own: every file is
PostgreSQL's, and ``pg_verifybackup`` checks each base backup against its ``backup_manifest``.

The embedded cluster (``ytdq services up``) archives into its backup folder (``walarchive``);
any other server archives where its administrator says (docs/backups.md, "Backups and recovery").
Retention is by age (:func:`prune`): base backups older than the limit go, the newest always
stays, and ``pg_archivecleanup`` drops the WAL no remaining base backup needs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ytempire_dq import config
from ytempire_dq.ops import server_processes, services
from ytempire_dq.ops.walarchive import BackupError, archive_dir, make_folder

DEFAULT_RETENTION_DAYS = 30
_LABEL = re.compile(r"^base-(\d{8}T\d{6})Z(?:-\d+)?$")
_START_WAL = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.M)


@dataclass
class Backup:
    """One base backup in a backup folder."""

    label: str
    path: Path
    started: dt.datetime  # from the label (UTC)
    finished: dt.datetime | None  # when pg_basebackup wrote backup_manifest (its last file)
    size: int
    start_wal: str | None  # the first WAL segment it needs (from backup_label)

    def age_days(self, now: dt.datetime | None = None) -> float:
        return ((now or utcnow()) - self.started).total_seconds() / 86400

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "path": str(self.path),
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "size": self.size,
            "start_wal": self.start_wal,
        }


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def retention_days(days: float | None = None) -> float:
    """``days``, else ``YTDQ_BACKUP_RETENTION_DAYS``, else 30."""
    if days is not None:
        value = days
    else:
        raw = os.environ.get("YTDQ_BACKUP_RETENTION_DAYS", str(DEFAULT_RETENTION_DAYS))
        try:
            value = float(raw)
        except ValueError:
            raise BackupError(f"YTDQ_BACKUP_RETENTION_DAYS={raw!r} is not a number of days") from None
    if value <= 0:
        raise BackupError(f"retention must be a positive number of days (got {value})")
    return value


# ---------------------------------------------------------------------------------------------
# where backups go, and the server settings that archive WAL there


def backup_dir(state_dir: Path, explicit: Path | str | None = None, url: str | None = None) -> Path:
    """The backup folder: ``explicit``, else ``YTDQ_BACKUP_DIR``, else the embedded cluster's
    (recorded by ``services up``), which only that cluster's backups may use: ``url`` pointing at
    another server is an error (its base backups beside another server's WAL would restore nothing)."""
    chosen = explicit or os.environ.get("YTDQ_BACKUP_DIR")
    if chosen:
        return Path(chosen).resolve()
    entry = services.read_services(Path(state_dir)).get("postgres") or {}
    if entry.get("backup_dir") and url and not services.is_embedded(url, "postgres", entry):
        raise BackupError(
            f"DATABASE_URL ({config.mask_url(url)}) is not the embedded cluster, whose backup folder this would be: "
            "name that server's folder with --dir DIR or YTDQ_BACKUP_DIR"
        )
    if entry and not entry.get("backup_dir"):
        raise BackupError(
            "the embedded cluster was started before it archived WAL: restart it (`ytdq services down && "
            "ytdq services up`), or pass --dir DIR / export YTDQ_BACKUP_DIR"
        )
    if not entry.get("backup_dir"):
        raise BackupError(
            "no backup folder: pass --dir DIR or export YTDQ_BACKUP_DIR (the embedded cluster of "
            "`ytdq services up` has one of its own)"
        )
    return Path(entry["backup_dir"]).resolve()


# ---------------------------------------------------------------------------------------------
# taking, listing, pruning


def libpq_env(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it (never on
    a command line, where ``ps`` shows it)."""
    from ytempire_dq.db.connect import parse_url

    parsed = parse_url(url)
    parts = {"host": parsed.host or "localhost", "port": parsed.port or 5432, "user": parsed.username}
    parts["dbname"] = parsed.database or "postgres"
    conninfo = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in parts.items() if v)
    return conninfo, ({"PGPASSWORD": parsed.password} if parsed.password else {})


def run_tool(run_as, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None):
    """A PostgreSQL client tool, as the server's user (its files must be that user's)."""
    full_env = {**os.environ, **(env or {})}
    if not run_as.is_self:
        full_env.update(HOME="/tmp", USER=run_as.name)
    return run_as.run(args, env=full_env, timeout=timeout)


def server_archiving(url: str) -> dict[str, str]:
    """The server's ``wal_level``, ``archive_mode``, ``archive_command``, ``archive_timeout`` and
    ``data_directory`` (this one only for a role allowed to read it)."""
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            names = ("wal_level", "archive_mode", "archive_command", "archive_timeout", "data_directory")
            cur.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(names),))
            return dict(cur.fetchall())
    finally:
        conn.close()


def take_backup(url: str, folder: Path, *, verify: bool = True, log=lambda msg: None) -> tuple[Backup, dict]:
    """A base backup of the server at ``url`` into ``folder/base/<label>``; returns it and the
    server's archiving settings (``archive_mode`` off: it restores only to its own end)."""
    run_as = server_processes.RunAs.for_postgres()
    folder = Path(folder).resolve()
    settings = server_archiving(url)
    refuse_server_dirs(folder, settings)
    if settings.get("wal_level") == "minimal":
        raise BackupError(f"{config.mask_url(url)} runs with wal_level=minimal: set wal_level=replica and restart it")
    make_folder(folder, run_as)
    now = utcnow()
    label = "base-" + now.strftime("%Y%m%dT%H%M%SZ")
    n = 1
    while (folder / "base" / label).exists():
        n += 1
        label = "base-" + now.strftime("%Y%m%dT%H%M%SZ") + f"-{n}"
    partial = folder / "base" / f".{label}.partial"
    bindir = server_processes.pg_bindir()
    conninfo, env = libpq_env(url)
    log(f"pg_basebackup of {config.mask_url(url)} into {folder / 'base' / label}")
    args = [str(bindir / "pg_basebackup"), "-d", conninfo, "-D", str(partial), "-Fp", "-X", "stream"]
    res = run_tool(run_as, [*args, "-c", "fast", "-l", label, "-w"], env)
    if res.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"pg_basebackup of {config.mask_url(url)} failed: {config.one_line(res.stderr, 400)}")
    if verify:
        check = run_tool(run_as, [str(bindir / "pg_verifybackup"), "-q", str(partial)])
        if check.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise BackupError(f"pg_verifybackup rejected the new backup: {config.one_line(check.stderr, 400)}")
    partial.rename(folder / "base" / label)
    return _read(folder / "base" / label), settings


def refuse_server_dirs(folder: Path, settings: dict[str, str]) -> None:
    """Refuse a backup folder inside (or equal to) the server's data directory or its WAL archive
    (symlinks and ``..`` resolved), before anything is written: pg_basebackup copies the whole data
    directory, so every later backup would contain the earlier ones (each one doubles), and the
    WAL archive is the server's own (segments, which pruning deletes)."""
    folder = Path(os.path.realpath(folder))
    wal = archive_dir(settings.get("archive_command") or "")
    for what, where in (("data directory", settings.get("data_directory")), ("WAL archive", wal)):
        if where and folder.is_relative_to(os.path.realpath(where)):
            raise BackupError(
                f"backup folder {folder} is inside the server's {what} {where}: "
                "choose a --dir outside its data directory and its WAL archive"
            )


def _read(path: Path) -> Backup:
    match = _LABEL.match(path.name)
    started = dt.datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
    manifest = path / "backup_manifest"
    finished = dt.datetime.fromtimestamp(manifest.stat().st_mtime, dt.timezone.utc) if manifest.exists() else None
    try:
        found = _START_WAL.search((path / "backup_label").read_text())
    except OSError:
        found = None
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return Backup(path.name, path, started, finished, size, found[1] if found else None)


def list_backups(folder: Path) -> list[Backup]:
    """The base backups in ``folder``, oldest first (unfinished ``.partial`` ones left out)."""
    base = Path(folder) / "base"
    if not base.is_dir():
        return []
    found = [_read(p) for p in base.iterdir() if p.is_dir() and _LABEL.match(p.name)]
    return sorted(found, key=lambda b: (b.started, b.label))


def wal_summary(folder: Path) -> dict:
    """Archived WAL: how many segments, their size, the newest and when it arrived."""
    segments = sorted(p for p in (Path(folder) / "wal").glob("*") if re.fullmatch(r"[0-9A-F]{24}", p.name))
    newest = segments[-1] if segments else None
    return {
        "segments": len(segments),
        "size": sum(p.stat().st_size for p in segments),
        "newest": newest.name if newest else None,
        "newest_at": dt.datetime.fromtimestamp(newest.stat().st_mtime, dt.timezone.utc).isoformat() if newest else None,
    }


def prune(folder: Path, days: float | None = None, *, now: dt.datetime | None = None, log=lambda m: None) -> dict:
    """Delete base backups older than ``days`` (the newest is always kept), then the archived WAL
    older than the oldest one kept (``pg_archivecleanup``). ``{removed, kept, wal_removed}``."""
    limit = retention_days(days)
    now = now or utcnow()
    backups = list_backups(folder)
    old = [b for b in backups[:-1] if b.age_days(now) > limit]
    for b in old:
        log(f"removing {b.label} ({b.age_days(now):.1f} days old)")
        shutil.rmtree(b.path)
    kept = [b for b in backups if b not in old]
    wal = Path(folder) / "wal"
    before = len(list(wal.glob("*"))) if wal.is_dir() else 0
    oldest_needed = kept[0].start_wal if kept else None
    if oldest_needed and wal.is_dir():
        res = run_tool(
            server_processes.RunAs.for_postgres(),
            [str(server_processes.pg_bindir() / "pg_archivecleanup"), str(wal), oldest_needed],
        )
        if res.returncode != 0:
            raise BackupError(f"pg_archivecleanup {wal} failed: {config.one_line(res.stderr, 300)}")
        for history in wal.glob("*.backup"):  # backup history files: PostgreSQL 15's tool keeps them
            if history.name[:24] < oldest_needed:
                history.unlink()
    after = len(list(wal.glob("*"))) if wal.is_dir() else 0
    return {"removed": [b.label for b in old], "kept": [b.label for b in kept], "wal_removed": before - after}


def switch_wal(url: str, folder: Path, timeout: float = 60) -> str | None:
    """Close the server's current WAL segment and wait until it is in ``folder/wal`` (so a restore
    to "latest" includes the last commits); the segment's name, None when nothing had to be switched."""
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
            segment = cur.fetchone()[0]
    finally:
        conn.close()
    deadline = time.monotonic() + timeout
    while not (Path(folder) / "wal" / segment).exists():
        if time.monotonic() > deadline:
            raise BackupError(
                f"WAL segment {segment} did not reach {Path(folder) / 'wal'} within {timeout:.0f} s: "
                "is archive_command copying there? (see the server log)"
            )
        time.sleep(0.1)
    return segment
