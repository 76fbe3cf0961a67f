"""Simulated nights under a faked clock: what the faked-clock tests and the anomaly benchmark share.

libfaketime (``.ci/install`` installs it) is preloaded into a PostgreSQL cluster of their own and
into each ``ytdq`` process, both reading one timestamp file (``FAKETIME_TIMESTAMP_FILE``, re-read
on every call: ``FAKETIME_NO_CACHE=1``): the database's clock and the tool's move together without
restarting the server. :class:`FakeClock` writes that file; :func:`run_checkpoint` runs the real CLI
as a subprocess and reads its ``--json`` report.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

YTDQ = Path(sys.executable).with_name("ytdq")


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    assert found, "libfaketime is not installed: run .ci/install (apt-get install -y faketime libfaketime)"
    return found[0]


class FakeClock:
    """The timestamp file (readable by the cluster's unprivileged user) and the environment that
    preloads libfaketime with it. ``days(n)`` moves the clock ``n`` days ahead of real time;
    ``at(instant)`` puts it at that UTC instant (an offset from real time: it then ticks on)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ytdq-faketime-", dir="/var/tmp"))
        self.folder.chmod(0o755)
        self.path = self.folder / "clock"
        self._write("+0d")
        self.path.chmod(0o644)
        self.env = {
            "LD_PRELOAD": libfaketime(),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # timeouts and waits keep real time
        }

    def _write(self, text: str) -> None:
        self.path.write_text(text + "\n")

    def days(self, n: int) -> None:
        self._write(f"+{n}d")

    def at(self, instant: dt.datetime) -> None:
        offset = instant - dt.datetime.now(dt.timezone.utc)
        self._write(f"{int(offset.total_seconds()):+d}")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def ytdq(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, with ``env`` (the faked clock, DATABASE_URL, REDIS_URL) over
    this process's environment less its server URLs."""
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YTDQ_STORE_URL")}
    full.update(COLUMNS="200", **env)
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=full, timeout=timeout)


def run_checkpoint(env: dict, project: Path, checkpoint: str, report: Path) -> dict:
    """``ytdq checkpoint run CHECKPOINT --json REPORT`` on the project copy whose ``gx/`` is
    ``project``: its exit code, the failed rule ids, the report and the stderr."""
    started = time.perf_counter()
    run = ytdq(env, "checkpoint", "run", checkpoint, "--json", str(report), "--config", str(project))
    seconds = time.perf_counter() - started
    doc = json.loads(report.read_text()) if report.exists() else {"validations": []}
    failed = sorted(r["rule_id"] for v in doc.get("validations", []) for r in v["results"] if not r["success"])
    return {
        "checkpoint": checkpoint,
        "exit": run.returncode,
        "failed": failed,
        "doc": doc,
        "stderr": run.stderr,
        "seconds": seconds,
    }
