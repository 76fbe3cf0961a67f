"""The ``ytdq`` commands beyond checkpoint runs (those are in tests/test_console_scripts.py),
called in-process with click's runner against the real servers of the session.

Each command is a thin shell over one library function; these tests check the shell: what it
prints, and that it exits 0/1/2 as documented.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from tests.helpers import copy_project, scalar
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import cache_seed, seed


@pytest.fixture(scope="module")
def seeded(db_url, redis_url):
    seed.seed(db_url, users=20, seed=7)
    return db_url


@pytest.fixture
def env(seeded, redis_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", seeded)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("COLUMNS", "200")
    return seeded


def ytdq(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_checkpoint_list_names_the_committed_checkpoints(env):
    result = ytdq("checkpoint", "list")
    assert result.exit_code == 0
    assert {"nightly", "critical"} <= set(result.output.split())


def test_suite_list_and_show(env):
    listed = ytdq("suite", "list")
    assert listed.exit_code == 0
    for name in ("users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table"):
        assert name in listed.output
    shown = ytdq("suite", "show", "videos")
    assert shown.exit_code == 0
    assert "videos.published_has_youtube_id" in shown.output
    unknown = ytdq("suite", "show", "nope")
    assert unknown.exit_code == 2
    assert "known suites:" in unknown.output and "videos" in unknown.output


def test_suite_lint_exit_codes(env, tmp_path):
    clean = ytdq("suite", "lint")
    assert clean.exit_code == 0, clean.output
    assert "0 errors" in clean.output

    gx_dir = copy_project(tmp_path)
    suite = gx_dir.parent / "expectations" / "users.json"
    doc = json.loads(suite.read_text())
    doc["expectations"].append(
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "emial"},
            "meta": {"rule_id": "users.typo"},
            "description": "a typo",
        }
    )
    suite.write_text(json.dumps(doc))
    broken = ytdq("suite", "lint", "--config", str(gx_dir))
    assert broken.exit_code == 2
    assert "users.json [users.typo]" in broken.output and "'emial'" in broken.output
    assert "1 error," in broken.output
    shutil.rmtree(tmp_path)


def test_docs_build_prints_an_index_that_exists(env, tmp_path):
    gx_dir = copy_project(tmp_path)
    result = ytdq("docs", "build", "--config", str(gx_dir))
    assert result.exit_code == 0, result.output
    index = result.output.strip().splitlines()[-1]
    assert index.endswith("index.html") and index.startswith(str(gx_dir))
    assert "users" in open(index, encoding="utf-8").read()


def test_cache_seed_writes_the_manifest_and_breaks_exactly_what_it_says(env, redis_url, tmp_path):
    kinds = ytdq("cache", "seed", "--list-kinds")
    assert kinds.exit_code == 0
    assert set(cache_seed.CACHE_DEFECT_KINDS) <= {line.split()[0] for line in kinds.output.splitlines()}

    manifest = tmp_path / "cache.json"
    result = ytdq("cache", "seed", "--inject", "session_without_ttl=2", "--manifest", str(manifest))
    assert result.exit_code == 0, result.output
    assert json.loads(manifest.read_text())["session_without_ttl"] == 2
    assert cache_seed.count_defects(env, redis_url)["session_without_ttl"] == 2

    bad = ytdq("cache", "seed", "--inject", "no_such_kind=1")
    assert bad.exit_code == 2
    assert "no_such_kind" in bad.output


def test_monitor_once_json_prints_readings_of_both_servers(env):
    result = ytdq("monitor", "--once", "--json")
    assert result.exit_code in (0, 1), result.output  # 1 only if a WARNING is raised on this machine
    doc = json.loads(result.output.strip().splitlines()[-1])
    assert doc["readings"]["postgres"]["connections"]["max_connections"] > 0
    assert "used_memory" in json.dumps(doc["readings"]["redis"])
    assert isinstance(doc["alerts"], list)


def test_suite_new_then_a_rule_added_to_its_file_runs_in_the_checkpoint(env, tmp_path):
    gx_dir = copy_project(tmp_path)
    made = ytdq(
        "suite", "new", "workflows_extra", "--asset", "workflows", "--checkpoint", "critical", "--config", str(gx_dir)
    )
    assert made.exit_code == 0, made.output
    path = tmp_path / "expectations" / "workflows_extra.json"
    suite = json.loads(path.read_text())
    assert suite["name"] == "workflows_extra" and suite["expectations"] == []
    # refused: a taken name, an unknown asset (known ones listed), an unknown checkpoint; nothing written
    assert ytdq("suite", "new", "workflows_extra", "--asset", "workflows", "--config", str(gx_dir)).exit_code == 2
    bad_asset = ytdq("suite", "new", "other", "--asset", "nope", "--config", str(gx_dir))
    assert bad_asset.exit_code == 2 and "redis_snapshot" in bad_asset.output
    assert (
        ytdq("suite", "new", "other", "--asset", "users", "--checkpoint", "nope", "--config", str(gx_dir)).exit_code
        == 2
    )
    assert not (tmp_path / "expectations" / "other.json").exists()
    # an analyst's rule, no Python: every workflow breaks it, so its count is the table's row count
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "description": "no workflow kind is known yet",
            "kwargs": {"column": "kind", "value_set": ["__none__"]},
            "meta": {"rule_id": "workflows.kind_unknown"},
        }
    )
    path.write_text(json.dumps(suite))
    assert ytdq("suite", "lint", "--config", str(gx_dir)).exit_code == 0
    out = tmp_path / "run.json"
    run = ytdq("checkpoint", "run", "critical", "--config", str(gx_dir), "--json", str(out))
    assert run.exit_code == 1, run.output
    report = json.loads(out.read_text())
    assert report["validations"][-1]["suite"] == "workflows_extra"
    (rule,) = report["validations"][-1]["results"]
    conn = connect(env)
    try:
        assert rule["rule_id"] == "workflows.kind_unknown"
        assert rule["unexpected_count"] == scalar(conn, "SELECT count(*) FROM workflows") > 0
    finally:
        conn.close()
    assert all(v["success"] for v in report["validations"][:-1])  # the committed rules still pass


def test_a_ytdq_error_exits_with_its_own_exit_code_as_one_line(env, monkeypatch, capsys):
    """Every command's errors go through the group: a YtdqError is one ``error:`` line on stderr
    and exits with its ``exit_code`` (2 unless the error says otherwise), no traceback."""
    from ytempire_dq import locations
    from ytempire_dq.errors import ExitCode, YtdqError

    class DataError(YtdqError):
        exit_code = ExitCode.DATA_FAILED

    for error, code in ((YtdqError("no such thing: postgresql://u:hunter2@h/db"), 2), (DataError("bad data"), 1)):

        def broken(*_args, error=error, **_kwargs):
            raise error

        monkeypatch.setattr(locations, "list_checkpoints", broken)
        with pytest.raises(SystemExit) as exited:
            main(["checkpoint", "list"], standalone_mode=True)
        assert exited.value.code == code
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert "hunter2" not in err and "Traceback" not in err


def test_db_seed_list_kinds_names_the_rule_that_catches_each_kind(env):
    from ytempire_dq.fixtures.defects import DEFECT_KINDS

    result = ytdq("db", "seed", "--list-kinds")
    assert result.exit_code == 0, result.output
    listed = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert listed == {name: kind.rule_id for name, kind in DEFECT_KINDS.items()}
    assert listed["over_tier_limit"] == "users.active_channels_within_tier_limit"
