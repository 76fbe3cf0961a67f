"""Suite files: every expectation survives loading in a fresh process, nothing is rewritten, lint."""

from __future__ import annotations

import collections
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ytempire_dq import locations
from ytempire_dq.config import PROJECT_ROOT
from ytempire_dq.errors import YtdqError
from ytempire_dq.rules import lint, suite_files

SUITE_NAMES = ["analytics", "api_keys", "cache", "channels", "cross_table", "privacy", "users", "videos", "workflows"]
CUSTOM_TYPES = {
    "expect_column_values_to_exist_in_table",
    "expect_child_aggregate_to_match_parent_column",
    "expect_child_count_per_parent_within_limit",
}
CACHE_CUSTOM_TYPES = {
    "expect_column_values_to_match_table_column",
    "expect_column_values_to_reference_active_rows",
    "expect_column_values_to_be_within_table_category_limit",
}

_LOAD_SCRIPT = """
import json, sys
from ytempire_dq.gx.context import open_context
ctx = open_context()
out = {s.name: [e.expectation_type for e in s.expectations] for s in ctx.suites.all()}
out["__checkpoints__"] = sorted(c.name for c in ctx.checkpoints.all())
out["__validation_definitions__"] = [vd.name for vd in ctx.checkpoints.get("nightly").validation_definitions]
print(json.dumps(out))
"""


def _snapshot() -> dict[str, str]:
    files = [PROJECT_ROOT / "gx" / "great_expectations.yml"]
    for d in ("expectations", "checkpoints", "validation_definitions"):
        files += sorted((PROJECT_ROOT / d).iterdir())
    return {str(p.relative_to(PROJECT_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def _file_types(name: str) -> list[str]:
    doc = json.loads((PROJECT_ROOT / "expectations" / f"{name}.json").read_text())
    return [e["type"] for e in doc["expectations"]]


@pytest.fixture(scope="module")
def loaded(module_env, tmp_path_factory):
    """Suites as a FRESH process loads them (nothing imported beforehand), and the files before/after."""
    before = _snapshot()
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD_SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path_factory.mktemp("elsewhere"),
        timeout=120,
    )  # any cwd works
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), before, _snapshot()


def _files(folder: str) -> list[str]:
    return sorted(p.stem for p in (PROJECT_ROOT / folder).glob("*.json"))


def test_the_suites_are_there():
    """The shipped suites, and every suite file of the project (an analyst's own too)."""
    assert locations.list_suites() == _files("expectations") and set(SUITE_NAMES) <= set(locations.list_suites())


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_a_fresh_process_loads_every_expectation_of_the_file(loaded, name):
    types, _, _ = loaded
    assert collections.Counter(types[name]) == collections.Counter(_file_types(name))


def test_the_custom_expectations_survive_loading(loaded):
    types, _, _ = loaded
    assert CUSTOM_TYPES <= set(types["cross_table"])
    assert collections.Counter(types["cross_table"])["expect_column_values_to_exist_in_table"] == 5
    assert CACHE_CUSTOM_TYPES <= set(types["cache"])


def test_loading_rewrites_no_file(loaded):
    _, before, after = loaded
    assert before == after


def test_checkpoints_and_validation_definitions_load(loaded):
    types, _, _ = loaded
    assert types["__checkpoints__"] == _files("checkpoints") and {"cache", "critical", "nightly"} <= set(
        types["__checkpoints__"]
    )
    nightly = json.loads((PROJECT_ROOT / "checkpoints" / "nightly.json").read_text())
    # GX loads nightly's validation definitions in the file's order: every table suite, the cache last
    assert types["__validation_definitions__"] == [vd["name"] for vd in nightly["validation_definitions"]]
    assert set(SUITE_NAMES) <= set(types["__validation_definitions__"])
    assert types["__validation_definitions__"][-1] == "cache"


def test_every_expectation_has_a_unique_rule_id_and_a_description():
    seen = set()
    for name in SUITE_NAMES:
        for exp in json.loads((PROJECT_ROOT / "expectations" / f"{name}.json").read_text())["expectations"]:
            rule_id = exp["meta"]["rule_id"]
            assert rule_id not in seen
            seen.add(rule_id)
            assert "." in rule_id and exp["description"].strip(), rule_id


def test_show_suite_lists_rules_in_file_order():
    shown = suite_files.show_suite("videos")
    assert shown["name"] == "videos" and shown["file"].endswith("expectations/videos.json")
    ids = [e["rule_id"] for e in shown["expectations"]]
    assert "videos.published_has_youtube_id" in ids and ids[0] == "videos.columns"


def test_show_suite_unknown_name_lists_the_known_ones():
    with pytest.raises(YtdqError, match="known suites: analytics, api_keys"):
        suite_files.show_suite("nope")


def test_lint_finds_nothing_wrong_in_the_committed_files(module_env):
    problems = lint.lint()
    assert [p for p in problems if p.level == "error"] == []
    assert problems == []  # the database is reachable: no "skipped" warning either


def _edit_suite(gx_dir: Path, name: str, edit) -> Path:
    path = gx_dir.parent / "expectations" / f"{name}.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_lint_reports_each_kind_of_problem_by_file_and_rule(module_env, project_copy):
    def users(doc):
        exps = doc["expectations"]
        exps.append(
            {
                "type": "expect_column_values_to_be_sparkly",
                "kwargs": {"column": "email"},
                "meta": {"rule_id": "users.sparkly"},
                "description": "unknown type",
            }
        )
        exps.append(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "emial"},
                "meta": {"rule_id": "users.typo"},
                "description": "column not in the table",
            }
        )
        exps.append(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "email"},
                "meta": {},
                "description": "no rule id",
            }
        )
        exps.append(
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE nosuchcol > 1"},
                "meta": {"rule_id": "users.bad_sql"},
                "description": "bad SQL",
            }
        )
        exps.append(
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} b JOIN nosuchtable n ON n.id = b.id"},
                "meta": {"rule_id": "users.missing_table"},
                "description": "missing table",
            }
        )
        exps.append(
            {
                "type": "unexpected_rows_expectation",  # GX aliases {batch} itself without a JOIN
                "kwargs": {"unexpected_rows_query": "SELECT u.id FROM {batch} AS u WHERE u.email IS NULL"},
                "meta": {"rule_id": "users.own_alias"},
                "description": "aliased batch",
            }
        )

    _edit_suite(project_copy, "users", users)
    (project_copy.parent / "expectations" / "workflows.json").write_text('{"name": "workflows", "expectations": [')
    problems = lint.lint(project_copy)
    by_rule = {(Path(p.file).name, p.rule_id): p.message for p in problems}
    assert "unknown expectation type" in by_rule[("users.json", "users.sparkly")]
    assert "column 'emial' is not in table 'users'" in by_rule[("users.json", "users.typo")]
    assert "SQL rule does not run" in by_rule[("users.json", "users.bad_sql")]
    assert "nosuchcol" in by_rule[("users.json", "users.bad_sql")]
    assert "nosuchtable" in by_rule[("users.json", "users.missing_table")]
    assert "write FROM {batch} with no alias" in by_rule[("users.json", "users.own_alias")]
    assert any(p.rule_id is None and "no meta.rule_id" in p.message and p.file.endswith("users.json") for p in problems)
    assert any(p.file.endswith("workflows.json") and "malformed JSON" in p.message for p in problems)
    assert len([p for p in problems if p.file.endswith("users.json") and p.level == "error"]) == 6
    # the six appended rules have no id: a warning each, naming the id runs give them
    assert (
        len(
            [
                p
                for p in problems
                if p.file.endswith("users.json") and "has no id: runs give it" in p.message and p.level == "warning"
            ]
        )
        == 6
    )
    # a checkpoint whose suite cannot be read cannot load either: reported, naming the checkpoint
    assert any(p.file.endswith("checkpoints/nightly.json") for p in problems)


def test_lint_without_a_database_fails_unless_offline(monkeypatch, project_copy):
    """A lint that silently skipped the column and SQL checks would pass bad rules: without a
    reachable database it is an error (exit 2 in the CLI), unless asked to run offline."""
    _edit_suite(project_copy, "users", lambda d: d["expectations"][0]["meta"].pop("rule_id"))
    with pytest.raises(YtdqError) as raised:
        lint.lint(project_copy, database_url="postgresql+psycopg2://u:secret@127.0.0.1:1/x")
    assert "u:***@127.0.0.1:1/x" in str(raised.value) and "--offline" in str(raised.value)
    assert "secret" not in str(raised.value)
    problems = lint.lint(project_copy, offline=True)
    assert [p.message for p in problems if p.level == "warning"] == [lint.OFFLINE_SKIPPED]
    assert [p.message for p in problems if p.level == "error"] == [
        "expectation #1 (expect_table_columns_to_match_set): no meta.rule_id "
        "(every rule needs one: history, quarantine and alerts key on it)"
    ]
