"""Every test session (each ``pytest -n N`` worker, and a plain ``pytest``) gets its own copy of
the project as ``YTDQ_HOME``, unless ``YTDQ_HOME`` is set already.

Checkpoint runs write ``gx/uncommitted/`` (results, Data Docs, run locks) and ``.ytdq/`` (seed
manifests) under the project: tests never write them into the checkout, and two workers sharing
them would wait on each other's run locks and read each other's results. Imported by
``tests/conftest.py`` before anything of ``ytempire_dq`` (whose ``config.PROJECT_ROOT`` reads
``YTDQ_HOME`` once, at import); xdist names the worker in the environment before the worker loads
any conftest. Servers and databases are per session already (``server_urls`` starts its own
embedded servers).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
#: What is read from ``YTDQ_HOME`` (config.PROJECT_ROOT): the GX project and the migrations (tests
#: read the documentation from the checkout itself: tests/doc_pages.py). ``locations.copy_project`` cannot be used here: importing
#: the package fixes PROJECT_ROOT.
PROJECT_PARTS = ("gx", "expectations", "checkpoints", "validation_definitions", "schema")


def copy_checkout(home: Path) -> Path:
    """A copy of the checkout's project parts (without ``gx/uncommitted``) at ``home``, a project
    home of its own; world-readable, as the embedded servers run as an unprivileged user when we
    are root."""
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    for part in PROJECT_PARTS:
        if (CHECKOUT / part).is_dir():
            shutil.copytree(CHECKOUT / part, home / part, ignore=shutil.ignore_patterns("uncommitted", "__pycache__"))
        else:
            shutil.copy2(CHECKOUT / part, home / part)
    return home


def make_worker_home(worker: str) -> Path:
    """:func:`copy_checkout` into a new temporary folder."""
    return copy_checkout(Path(tempfile.mkdtemp(prefix=f"ytdq-{worker}-")))


#: The home this module made, in the environment: the ``pytest -n`` controller loads this conftest
#: too, before it starts its workers, and they inherit its environment. A worker that finds the
#: controller's home (not one the user set) makes its own.
MADE_HERE = "YTDQ_TEST_SESSION_HOME"

_worker = os.environ.get("PYTEST_XDIST_WORKER") or "session"
_given = os.environ.get("YTDQ_HOME")
if not _given or _given == os.environ.get(MADE_HERE):
    _home = make_worker_home(_worker)
    os.environ["YTDQ_HOME"] = os.environ[MADE_HERE] = str(_home)
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
