"""One run of a checkpoint at a time: a per-checkpoint file lock next to the result stores.

Why a file lock under ``gx/uncommitted/locks/`` rather than a PostgreSQL advisory lock: what two
runs could interleave are the context's *file* stores (validation results, Data Docs) and the
history rows they write for the same run. The lock file lives beside those stores, so it covers
exactly the runs that share them, whatever database each one points at (a run against a replica
and one against the primary from the same checkout still share ``gx/uncommitted``); it needs no
write access to the database (copies and standbys can be read-only); and the kernel drops an
``flock`` when its process dies, so a killed run never leaves a stale lock. Runs from other
checkouts or hosts do not share these stores, and their history rows are keyed by their own
``run_id``, so they need no lock against each other.

A second run waits, polling, for at most ``YTDQ_LOCK_TIMEOUT`` seconds (default 600), then
raises :class:`YtdqError` (exit code 2) naming the checkpoint and the holder's pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from ytempire_dq.errors import YtdqError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
POLL_SECONDS = 0.2
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def lock_timeout() -> float:
    """``YTDQ_LOCK_TIMEOUT`` seconds (default 600); a malformed value is a usage error."""
    raw = os.environ.get("YTDQ_LOCK_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise YtdqError(f"YTDQ_LOCK_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise YtdqError(f"YTDQ_LOCK_TIMEOUT must be >= 0, got {raw!r}")
    return value


def lock_path(config_dir: Path, checkpoint: str) -> Path:
    """``<gx>/uncommitted/locks/<checkpoint>.lock``."""
    return Path(config_dir) / "uncommitted" / "locks" / f"{_SAFE_NAME.sub('_', checkpoint)}.lock"


@contextlib.contextmanager
def run_lock(config_dir: Path, checkpoint: str, timeout: float | None = None) -> Iterator[Path]:
    """Hold the checkpoint's lock for the ``with`` block; wait up to ``timeout`` seconds for it."""
    timeout = lock_timeout() if timeout is None else timeout
    path = lock_path(config_dir, checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, checkpoint, timeout)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, checkpoint: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _holder(path)
        if time.monotonic() >= deadline:
            raise YtdqError(
                f"checkpoint {checkpoint!r} is already running{holder}; gave up waiting after {timeout:g} s "
                f"(YTDQ_LOCK_TIMEOUT; lock file {path})"
            )
        if not waiting:
            waiting = True
            log.warning(
                "checkpoint %r is already running%s; waiting up to %g s for it to finish", checkpoint, holder, timeout
            )
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
