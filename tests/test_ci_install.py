"""``.ci/install`` runs apt-get through ``.ci/apt-get-waiting``: another process holding the
apt/dpkg lock is waited for (bounded by YTDQ_APT_LOCK_TIMEOUT), then one line names it. An
``apt-get`` of our own on PATH stands for the real one (the machine's lock is never touched)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
WAITING = CHECKOUT / ".ci" / "apt-get-waiting"
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)"


def fake_apt_get(tmp_path: Path, *, locked_calls: int, other_error: str = "") -> Path:
    """An ``apt-get`` that records its arguments, fails ``locked_calls`` times on the lock, then succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    script = bin_dir / "apt-get"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        f"n=$(wc -l < {calls})\n"
        + (f'echo "{other_error}" >&2; exit 100\n' if other_error else "")
        + f'if [ "$n" -le {locked_calls} ]; then echo "{LOCKED}" >&2; exit 100; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return bin_dir


def waiting(bin_dir: Path, timeout: str, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "YTDQ_APT_LOCK_TIMEOUT": timeout}
    started = time.monotonic()
    done = subprocess.run([str(WAITING), *args], capture_output=True, text=True, env=env, timeout=60)
    return done, time.monotonic() - started


def test_a_held_lock_is_waited_for_then_one_line_names_its_holder(tmp_path):
    bin_dir = fake_apt_get(tmp_path, locked_calls=1000)
    done, seconds = waiting(bin_dir, "4", "update", "-qq")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "held by process 4242 (unattended-upgr) after 4 s" in done.stderr
    assert 4 <= seconds < 12  # bounded: waited the timeout, not for ever, not at once
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) >= 2 and calls[0].startswith("-o DPkg::Lock::Timeout=") and calls[0].endswith("update -qq")


def test_a_lock_released_while_waiting_lets_the_install_go_on(tmp_path):
    bin_dir = fake_apt_get(tmp_path, locked_calls=1)
    done, _ = waiting(bin_dir, "30", "install", "-y", "redis-server")
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "calls").read_text().splitlines()) == 2


def test_another_error_is_one_line_at_once(tmp_path):
    bin_dir = fake_apt_get(tmp_path, locked_calls=0, other_error="E: Unable to locate package nosuch")
    done, seconds = waiting(bin_dir, "30", "install", "-y", "nosuch")
    assert done.returncode == 1 and seconds < 5
    assert done.stderr == "error: apt-get install -y nosuch: E: Unable to locate package nosuch\n"


def test_install_calls_apt_get_only_through_the_wait():
    text = (CHECKOUT / ".ci" / "install").read_text()
    lines = [line for line in text.splitlines() if "apt-get" in line and not line.lstrip().startswith("#")]
    assert lines and all(".ci/apt-get-waiting" in line or "sudo apt-get" in line for line in lines), lines
