"""A test session works on its own project home (``YTDQ_HOME``, ``tests/worker_home.py``): running
checkpoints in it leaves the checkout's ``gx/uncommitted/`` and ``.ytdq/`` byte for byte as they were."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
#: Tests that run checkpoints on the project (results, Data Docs, the history) and seed (manifest).
SESSION = [
    "tests/cache/test_cache_checkpoint.py::test_nightly_runs_the_cache_suite_on_the_same_snapshot_rules",
    "tests/cache/test_cache_checkpoint.py::test_cli_runs_the_cache_checkpoint",
]


def state(root: Path) -> dict[str, str | None]:
    """``{path: sha256 of its bytes}`` of every file under the checkout's written folders (None: absent)."""
    out: dict[str, str | None] = {}
    for part in ("gx/uncommitted", ".ytdq"):
        folder = root / part
        out[part] = None if not folder.exists() else "folder"
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_session_that_runs_checkpoints_leaves_the_checkout_alone():
    before = state(CHECKOUT)
    env = {k: v for k, v in os.environ.items() if k != "YTDQ_HOME" and not k.startswith("PYTEST_XDIST")}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SESSION],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "2 passed" in ran.stdout
    assert state(CHECKOUT) == before


def test_each_worker_runs_in_a_home_of_its_own():
    """Under ``pytest -n`` the controller loads the conftest first and its workers inherit its
    environment: a worker must still make its own home, or the workers share run locks and results."""
    from tests.worker_home import MADE_HERE
    from ytempire_dq import config

    home = os.environ["YTDQ_HOME"]
    if home != os.environ.get(MADE_HERE):
        pytest.skip("YTDQ_HOME was set before the session: every worker uses it as given")
    worker = os.environ.get("PYTEST_XDIST_WORKER") or "session"
    assert Path(home).name.startswith(f"ytdq-{worker}-")
    assert Path(config.PROJECT_ROOT) == Path(home)
