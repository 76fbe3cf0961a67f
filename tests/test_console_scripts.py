"""The exit codes of a checkpoint run through the REAL console scripts, as a pipeline calls them.

``.venv/bin/great_expectations checkpoint run NAME`` (the project found through ``YTDQ_HOME``, no
flags, the way pipelines already call it) and ``.venv/bin/ytdq checkpoint run NAME --config DIR
--json FILE``, each in its own process, on a copy of the GX project and this module's databases:

- 0: clean seeded data (the cache seeded from it too, since nightly validates the cache);
- 1: seeded defects; the ``--json`` file has the documented shape and the injected counts;
- 2: an unknown checkpoint (stderr lists the known ones), a malformed suite file (named), an
  unreachable database (its URL masked, the password nowhere in the output).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.helpers import copy_project, empty_redis_db
from tests.test_cli_errors import closed_url
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.cache_seed import seed_cache
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.locations import list_checkpoints

BIN = Path(sys.executable).parent
SCRIPTS = ("great_expectations", "ytdq")
#: The Redis database REDIS_URL names here (nightly validates the cache; tests keep apart by database).
REDIS_DB = 10
INJECT = {"bad_email": 2, "orphan_videos": 3, "markup_in_title": 1, "duplicate_email": 1}
#: The documented --json shape (docs/pipelines.md).
RUN_KEYS = {"checkpoint", "success", "exit_code", "run_id", "data_docs", "snapshot", "scan", "errors", "validations"}
VALIDATION_KEYS = {"suite", "asset", "success", "results"}
RESULT_KEYS = {
    "rule_id",
    "expectation_type",
    "column",
    "success",
    "unexpected_count",
    "observed_value",
    "partial_unexpected_list",
}


def checkpoint_run(
    script: str, name: str, project: Path, database_url: str, redis_url: str, json_file: Path | None = None
) -> subprocess.CompletedProcess:
    """One ``checkpoint run`` in a fresh process: ``great_expectations`` finds the project by
    ``YTDQ_HOME`` (cwd is the project too), ``ytdq`` by ``--config``."""
    args = [str(BIN / script), "checkpoint", "run", name]
    if script == "ytdq":
        args += ["--config", str(project / "gx")]
    if json_file is not None:
        args += ["--json", str(json_file)]
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "COLUMNS": "200"}
    if script == "great_expectations":
        env["YTDQ_HOME"] = str(project)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=project, timeout=300)


def check_json_shape(doc: dict, name: str) -> dict[str, dict]:
    """The documented shape, checked all the way down; ``{rule_id: result}``."""
    assert RUN_KEYS <= set(doc), doc.keys()
    assert doc["checkpoint"] == name and doc["run_id"].startswith(f"{name}-")
    assert Path(doc["data_docs"]).name == "index.html" and Path(doc["data_docs"]).is_file()
    assert doc["validations"]
    results = {}
    for v in doc["validations"]:
        assert VALIDATION_KEYS <= set(v), v.keys()
        assert v["success"] is all(r["success"] for r in v["results"])
        for r in v["results"]:
            assert RESULT_KEYS <= set(r), r.keys()
            assert isinstance(r["partial_unexpected_list"], list)
            results[r["rule_id"]] = r
    assert doc["success"] is all(v["success"] for v in doc["validations"])
    return results


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the GX project (the committed config and stores); its root."""
    return copy_project(tmp_path_factory.mktemp("project")).parent


@pytest.fixture(scope="module")
def clean(db_url, cache_url) -> str:
    seed.seed(db_url, users=20, seed=7)
    seed_cache(db_url, cache_url, seed=7)
    return db_url


@pytest.fixture(scope="module")
def defective(new_database) -> str:
    url = new_database("console_defects")
    seed.seed(url, users=20, seed=7, inject=INJECT)
    return url


@pytest.mark.parametrize("script", SCRIPTS)
def test_clean_data_exits_0(script, clean, cache_url, project, tmp_path):
    out = tmp_path / "run.json"
    proc = checkpoint_run(script, "nightly", project, clean, cache_url, out)
    assert proc.returncode == ExitCode.OK, proc.stdout + proc.stderr
    assert "checkpoint nightly passed" in proc.stdout
    results = check_json_shape(json.loads(out.read_text()), "nightly")
    assert all(r["success"] for r in results.values())
    assert results["videos.title_has_no_markup"]["unexpected_count"] == 0


@pytest.mark.parametrize("script", SCRIPTS)
def test_defective_data_exits_1_and_the_json_counts_the_bad_rows(script, defective, cache_url, project, tmp_path):
    redis.Redis.from_url(cache_url).flushdb()  # an empty cache breaks no cache rule; the tables fail
    out = tmp_path / "run.json"
    proc = checkpoint_run(script, "nightly", project, defective, cache_url, out)
    assert proc.returncode == ExitCode.DATA_FAILED, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    results = check_json_shape(doc, "nightly")
    assert doc["success"] is False
    assert doc["exit_code"] == ExitCode.DATA_FAILED and doc["errors"] == []  # every rule ran: data failed
    assert "error:" not in proc.stderr
    expected = {
        "users.email_format": INJECT["bad_email"],
        "videos.channel_exists": INJECT["orphan_videos"],
        "videos.title_has_no_markup": INJECT["markup_in_title"],
        "users.email_unique": INJECT["duplicate_email"] * DEFECT_KINDS["duplicate_email"].rows_per_defect,
    }
    failed = {rule_id: r["unexpected_count"] for rule_id, r in results.items() if not r["success"]}
    assert failed == expected
    bad_title = results["videos.title_has_no_markup"]
    assert bad_title["column"] == "title" and bad_title["expectation_type"] == "expect_column_values_to_not_match_regex"
    assert any("<script>alert(1)</script>" in str(v) for v in bad_title["partial_unexpected_list"])
    for rule_id in expected:  # the terminal table names each failed rule
        assert rule_id in proc.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_checkpoint_exits_2_listing_the_known_ones(script, clean, cache_url, project):
    proc = checkpoint_run(script, "weekly", project, clean, cache_url)
    assert proc.returncode == ExitCode.RUN_FAILED, proc.stdout + proc.stderr
    known = list_checkpoints(project / "gx")
    assert "nightly" in known and "critical" in known
    assert f"no checkpoint 'weekly'; known checkpoints: {', '.join(known)}" in " ".join(proc.stderr.split())


@pytest.mark.parametrize("script", SCRIPTS)
def test_malformed_suite_file_exits_2_naming_the_file(script, clean, cache_url, tmp_path):
    broken = copy_project(tmp_path).parent
    path = broken / "expectations" / "videos.json"
    path.write_text(path.read_text()[:-30])
    proc = checkpoint_run(script, "nightly", broken, clean, cache_url)
    assert proc.returncode == ExitCode.RUN_FAILED, proc.stdout + proc.stderr
    message = "".join(proc.stderr.split())  # the path may be wrapped across lines
    assert "".join(str(path).split()) in message and "malformedJSONatline" in message


@pytest.mark.parametrize("script", SCRIPTS)
def test_unreachable_database_exits_2_with_the_url_masked(script, cache_url, project):
    url, port = closed_url("s3cret-pw")
    proc = checkpoint_run(script, "nightly", project, url, cache_url)
    assert proc.returncode == ExitCode.RUN_FAILED, proc.stdout + proc.stderr
    assert f"postgresql+psycopg2://ytdq:***@127.0.0.1:{port}/ytempire" in proc.stderr
    assert "s3cret-pw" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_great_expectations_answers_help_and_version(flag):
    done = subprocess.run([str(BIN / "great_expectations"), flag], capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.OK, done.stderr
    want = "usage: great_expectations checkpoint run NAME" if flag == "--help" else "Great Expectations 1."
    assert want in done.stdout and not done.stderr
    bare = subprocess.run([str(BIN / "great_expectations")], capture_output=True, text=True, timeout=60)
    assert bare.returncode == ExitCode.RUN_FAILED and "usage:" in bare.stderr
