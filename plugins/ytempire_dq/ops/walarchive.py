"""WAL archiving settings: where a server copies its finished WAL segments, and how a restore reads them.

Shared by ``services up`` (the embedded cluster archives into its backup folder), ``ytempire_dq.ops.backup``,
``ytempire_dq.ops.restore`` and the drill's own primary. Nothing here imports ``services``: the user
who runs PostgreSQL (``run_as``) is passed in.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from ytempire_dq.errors import YtdqError

#: Seconds after which the server switches to a new WAL segment (so it gets archived) even when
#: the current one is not full: the bound on what a loss can take with it (the RPO).
DEFAULT_ARCHIVE_TIMEOUT = 60


class BackupError(YtdqError):
    """A backup could not be taken, listed, pruned or restored."""


def archive_command(wal_dir: Path) -> str:
    """A shell command for ``archive_command``: copy ``%p`` to ``wal_dir/%f`` under a temporary
    name, fsync it, rename it; an already archived identical segment counts as done (a retry after
    a crash between the copy and PostgreSQL noting it), a different one fails (never overwritten)."""
    f = shlex.quote(str(wal_dir)) + "/%f"
    return f"if test -f {f}; then cmp -s %p {f}; else cp %p {f}.part && sync {f}.part && mv {f}.part {f}; fi"


def archive_dir(command: str) -> Path | None:
    """The ``wal_dir`` of an :func:`archive_command` (None for any other command): where a running
    server archives, for ``services`` finding its cluster without the state file."""
    match = re.match(r"if test -f (.+?)/%f; then ", command)
    try:
        parts = shlex.split(match[1]) if match else []
    except ValueError:
        return None
    return Path(parts[0]) if len(parts) == 1 else None


def restore_command(wal_dir: Path) -> str:
    return f"cp {shlex.quote(str(wal_dir))}/%f %p"


def archive_settings(wal_dir: Path, timeout: float = DEFAULT_ARCHIVE_TIMEOUT) -> dict[str, str]:
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive_command(wal_dir),
        "archive_timeout": str(int(timeout)),
    }


def server_options(settings: dict[str, str]) -> str:
    """``-c name=value`` options for ``pg_ctl -o`` (which hands them to a shell)."""
    return " ".join(f"-c {name}={shlex.quote(value)}" for name, value in settings.items())


def prepare_archive(base: Path, entry: dict | None, run_as) -> tuple[Path, str]:
    """For ``services up``: the embedded cluster's backup folder (``YTDQ_BACKUP_DIR``, else the one
    recorded, else ``<cluster>/backups``), created and owned by the server's user, and the
    ``pg_ctl -o`` options that archive WAL into its ``wal/``. ``YTDQ_WAL_ARCHIVE=off`` leaves
    archiving out (a benchmark seeding 10M rows need not copy gigabytes of WAL)."""
    folder = Path(os.environ.get("YTDQ_BACKUP_DIR") or (entry or {}).get("backup_dir") or base / "backups")
    make_folder(folder, run_as)
    if os.environ.get("YTDQ_WAL_ARCHIVE", "on").strip().lower() in ("off", "0", "no", "false"):
        return folder.resolve(), ""
    return folder.resolve(), server_options(archive_settings(folder.resolve() / "wal"))


def make_folder(folder: Path, run_as) -> None:
    """``folder`` with ``base/`` and ``wal/``, owned by the PostgreSQL user, which must reach it."""
    for sub in ("base", "wal"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for path in (folder, folder / "base", folder / "wal"):
        if not run_as.is_self:
            os.chown(path, run_as.uid, run_as.gid)
    if not run_as.can_use(folder / "wal"):
        raise BackupError(
            f"backup folder {folder}: user {run_as.name} (who runs PostgreSQL) cannot reach it; "
            "choose one outside a private home (e.g. YTDQ_BACKUP_DIR=/var/backups/ytdq)"
        )
