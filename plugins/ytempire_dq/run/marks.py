"""Which stored runs never finished: a mark per checkpoint run while it validates.

GX stores each validation result as its definition finishes, so a run killed mid-validation (the
OOM killer, SIGKILL, a machine going down) leaves some of its results and no sign that others are
missing: Data Docs would show those results as the checkpoint's latest run. :func:`running`
writes ``<results store>.running/<run name>`` beside the results store before the first
validation and removes it once every validation result is stored; a mark still there names a run
that is incomplete (or still validating). Results stored by other means (GX's own
``Checkpoint.run``, a store written before marks existed) have no mark and count as complete.

A mark costs one file per *unfinished* run, so reading them costs nothing per stored run; pruning
a run (:mod:`ytempire_dq.store.retention`) removes its mark.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


def marks_dir(results_dir: Path) -> Path:
    """The marks of the results store at ``results_dir`` (beside it: not a key of the store)."""
    return results_dir.parent / f"{results_dir.name}.running"


def mark_name(run_name: str) -> str:
    """A file name for ``run_name`` (our run names are safe as they are; any other is hashed)."""
    return run_name if _SAFE.fullmatch(run_name or "") else hashlib.sha1(str(run_name).encode()).hexdigest()


def results_dir_of(store: Any) -> Path | None:
    """The directory of a filesystem validation-results store, else None (no marks)."""
    base = getattr(getattr(store, "store_backend", None), "full_base_directory", None)
    return Path(base) if base else None


@contextlib.contextmanager
def running(results_dir: Path | None, run_name: str) -> Iterator[None]:
    """Mark ``run_name`` unfinished for the ``with`` block; the mark stays if the block raises
    (or the process dies): its stored results are then not a whole run."""
    if results_dir is None:
        yield
        return
    mark = marks_dir(results_dir) / mark_name(run_name)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(f"{run_name}\npid {os.getpid()}\n", encoding="utf-8")
    yield
    mark.unlink(missing_ok=True)


def unfinished(results_dir: Path | None) -> set[str]:
    """The mark names (:func:`mark_name`) of the runs that started and did not finish."""
    if results_dir is None:
        return set()
    try:
        return {entry.name for entry in os.scandir(marks_dir(results_dir)) if entry.is_file()}
    except FileNotFoundError:
        return set()


def forget(results_dir: Path, run_name: str) -> None:
    """Remove the mark of ``run_name`` (its results are being removed)."""
    (marks_dir(results_dir) / mark_name(run_name)).unlink(missing_ok=True)
