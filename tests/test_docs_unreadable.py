"""Data Docs never show a result they could not read, nor a run that never finished, as good: a
truncated stored result of a failing run is "unreadable" (its file named) in the index and on its
page and ``ytdq docs build`` exits 2 naming it; a ``nightly`` run killed with SIGKILL
mid-validation is listed as incomplete, the latest ``nightly`` stays the previous complete run, and
``ytdq results prune --keep-runs 1`` keeps that run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs_runs import index_tables, result_files, site_of
from tests.helpers import copy_project
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

#: The failing validation of the seeded nightly run (3 orphan videos).
FAILING = "cross_table"


@pytest.fixture(scope="module")
def complete(module_env, tmp_path_factory):
    """A project copy holding one complete, failing ``nightly`` run with its Data Docs: (root, report)."""
    seed.seed(module_env, users=20, seed=11, inject={"orphan_videos": 3})
    root = tmp_path_factory.mktemp("unreadable") / "base"
    report = run_checkpoint("nightly", config_dir=copy_project(root), database_url=module_env)
    assert report.exit_code == ExitCode.DATA_FAILED
    assert [v.suite for v in report.validations if not v.success] == [FAILING]  # the premise: one failing validation
    return root, report


def project_of(complete, dest: Path) -> Path:
    """A copy of the complete run's project (results, site and all): its gx/ directory."""
    shutil.copytree(complete[0], dest)
    return dest / "gx"


def ytdq(*args: str, **streams) -> subprocess.Popen:
    """``ytdq ARGS`` in a process of its own (DATABASE_URL, REDIS_URL: this module's); output piped."""
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams}
    return subprocess.Popen([sys.executable, "-m", "ytempire_dq.cli", *args], text=True, **streams)


def docs_build(gx_dir: Path) -> tuple[int, str, str]:
    proc = ytdq("docs", "build", "--config", str(gx_dir))
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def test_a_truncated_result_of_a_failing_run_is_unreadable_never_passed(complete, tmp_path):
    gx_dir = project_of(complete, tmp_path / "project")
    store = gx_dir / "uncommitted" / "validations"
    (failing,) = [p for p in result_files(gx_dir) if p.relative_to(store).parts[0] == FAILING]
    failing.write_text('{"truncated')
    rel = failing.relative_to(store).as_posix()

    code, out, err = docs_build(gx_dir)

    assert code == ExitCode.RUN_FAILED, out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert str(failing) in " ".join(err.split()) and "unreadable" in errors[0]
    latest, validations = index_tables(gx_dir)
    (run,) = [r for r in latest if r["attrs"]["data-checkpoint"] == "nightly"]
    assert run["attrs"]["class"] == "unreadable"
    assert run["cells"][0] == "⚠ Unreadable" and rel in run["cells"][2]
    assert run["cells"][4] == complete[1].run_id
    (row,) = [r for r in validations if unquote(r["links"][0]) == f"validations/{rel[: -len('.json')]}.html"]
    assert row["attrs"]["class"] == "unreadable validation-row"
    assert row["cells"][0] == "⚠ Unreadable" and row["cells"][-1] == f"unreadable: {rel}"
    assert not any("Passed" in cell for r in (run, row) for cell in r["cells"])
    # the rest was built: the other 8 validations' rows and pages
    assert len([r for r in validations if r["attrs"]["class"] != "unreadable validation-row"]) == 8
    page = (site_of(gx_dir) / unquote(row["links"][0])).read_text()  # not the page it had when readable
    assert "Unreadable" in page and rel in page and "Succeeded" not in page and "Failed" not in page


def stored_whole(files: set[Path]) -> bool:
    """Some files, each whole (GX writes a result in several writes: a kill between them is the
    truncated file of the other test, not a killed run's state)."""
    try:
        return bool(files) and all(json.loads(f.read_text()) for f in files)
    except ValueError:
        return False


def test_a_run_killed_mid_validation_is_never_the_latest(complete, tmp_path):
    gx_dir = project_of(complete, tmp_path / "project")
    before = set(result_files(gx_dir))
    log = tmp_path / "run.log"
    with open(log, "w") as output:
        proc = ytdq("checkpoint", "run", "nightly", "--config", str(gx_dir), stdout=output, stderr=output)
    deadline = time.monotonic() + 600
    while not stored_whole(set(result_files(gx_dir)) - before):  # killed once its first result is stored
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the run stored no result in 600 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    killed = sorted(set(result_files(gx_dir)) - before)
    assert 1 <= len(killed) < 9  # the premise: some of nightly's 9 validation results, not all
    for path in killed:  # the premise: killed between two results, not while writing one
        json.loads(path.read_text())
    killed_run = killed[0].parent.parent.name

    code, out, err = docs_build(gx_dir)

    assert code == ExitCode.OK, out + err
    latest, validations = index_tables(gx_dir)
    (run,) = [r for r in latest if r["attrs"]["data-checkpoint"] == "nightly"]
    assert run["cells"][4] == complete[1].run_id  # the previous, complete run
    assert (run["cells"][0], run["cells"][6]) == ("✘ Failed", "9")  # after the run name and its source
    listed = [r for r in validations if r["cells"][2] == killed_run]
    assert len(listed) == len(killed)
    assert {r["cells"][0] for r in listed} == {"⚠ Incomplete run"}
    assert {r["attrs"]["class"] for r in listed} == {"incomplete validation-row"}

    # a retention of 1 run keeps that complete run: the killed one takes no place among the kept
    prune = ytdq("results", "prune", "--keep-runs", "1", "--config", str(gx_dir))
    out, err = prune.communicate(timeout=600)
    assert prune.returncode == ExitCode.OK, out + err
    assert set(result_files(gx_dir)) == before | set(killed)
    (run,) = [r for r in index_tables(gx_dir)[0] if r["attrs"]["data-checkpoint"] == "nightly"]
    assert run["cells"][4] == complete[1].run_id
