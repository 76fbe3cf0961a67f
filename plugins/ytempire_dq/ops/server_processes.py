"""Finding and running the machine's server binaries: free loopback ports, live pids, PostgreSQL's
bin directory and redis-server, and running PostgreSQL as an unprivileged user when we are root
(used by :mod:`ytempire_dq.ops.services` and by the test session's own servers)."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ytempire_dq.errors import YtdqError


class ServiceError(YtdqError):
    """A server could not be found, started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def cmdline(pid: int) -> list[str]:
    """The arguments of process ``pid`` ([] when it is gone); a process that retitled itself
    (redis-server: ``/usr/bin/redis-server 127.0.0.1:6379``) shows its title as one argument."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg for arg in raw.decode(errors="replace").split("\0") if arg]


def pg_bindir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: on PATH, else the newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise ServiceError(
            "PostgreSQL server binaries not found (no initdb on PATH or under /usr/lib/postgresql/*/bin); "
            "install them (`apt-get install -y postgresql`) or set DATABASE_URL"
        )
    return Path(candidates[-1]).parent


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise ServiceError(
            "redis-server not found on PATH; install it (`apt-get install -y redis-server`) or set REDIS_URL"
        )
    return found


@dataclass
class RunAs:
    """Who runs the PostgreSQL processes: ourselves, or an unprivileged user when we are root."""

    uid: int
    gid: int
    name: str

    @classmethod
    def for_postgres(cls) -> "RunAs":
        if os.geteuid() != 0:
            return cls(os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name)
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_uid, entry.pw_gid, name)
        raise ServiceError("running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL")

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if not self.is_self:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
            kw.setdefault("env", {**os.environ, "HOME": "/tmp", "USER": self.name})
            kw.setdefault("cwd", "/")
        return subprocess.run(args, capture_output=True, text=True, **kw)

    def can_use(self, path: Path) -> bool:
        """Whether this user can reach ``path`` (every ancestor searchable)."""
        if self.is_self:
            return True
        probe = self.run(["test", "-x", str(path)])
        return probe.returncode == 0

    def own(self, path: Path) -> None:
        if not self.is_self:
            for p in [path, *path.rglob("*")]:
                os.chown(p, self.uid, self.gid)


def pg_dir(state_dir: Path, run_as: RunAs) -> Path:
    """Where the cluster lives: ``<state>/postgres`` when the server's user can reach it.

    As root with a state dir under a private home (``/root/...``, pytest's ``/tmp/pytest-of-root``),
    the unprivileged user cannot get there; the cluster then goes to ``/var/tmp/ytdq-<hash>``
    and the state file records where.
    """
    preferred, elsewhere = pg_dirs(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return preferred if run_as.can_use(state_dir) else elsewhere


def pg_dirs(state_dir: Path) -> tuple[Path, Path]:
    """The two places :func:`pg_dir` may choose (``<state>/postgres``, ``/var/tmp/ytdq-<hash>/postgres``),
    where ``services`` looks for a cluster that its state file does not record."""
    digest = hashlib.sha1(str(Path(state_dir).resolve()).encode()).hexdigest()[:10]
    return Path(state_dir) / "postgres", Path("/var/tmp") / f"ytdq-{digest}" / "postgres"
