"""``make report`` (issue 13, item 3): the seed's test report from pytest's own JUnit counts.

A tiny project of tests (two groups: one all green, one with a failure, an error and a skip) is run
through the real pytest by ``tests.report.run``; the report counts each group exactly and fails.
The real groups name only test modules that exist, and every test module is in at most one group.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests import report

TINY = {
    "test_green.py": "def test_a():\n    pass\n\n\ndef test_b():\n    assert 1 + 1 == 2\n",
    "test_mixed.py": (
        "import pytest\n\n\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('setup broke')\n\n\n"
        "def test_ok():\n    pass\n\n\n"
        "def test_fails():\n    assert 1 == 2\n\n\n"
        "def test_errors(broken):\n    pass\n\n\n"
        "@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n"
    ),
}


def tiny_project(tmp_path: Path) -> Path:
    for name, text in TINY.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_failing_group_is_counted_exactly_and_fails_the_report(tmp_path):
    root = tiny_project(tmp_path)
    got = report.run(
        {"green": ["test_green"], "mixed": ["test_mixed"]}, root=root, pytest_args=["-p", "no:cacheprovider"]
    )
    assert got["groups"]["green"] | {"duration": 0} == {
        "total": 2,
        "passed": 2,
        "failed": 0,
        "skipped": 0,
        "duration": 0,
    }
    assert got["groups"]["mixed"] | {"duration": 0} == {
        "total": 4,
        "passed": 1,
        "failed": 2,
        "skipped": 1,
        "duration": 0,
    }
    summary = got["summary"]
    assert (summary["total"], summary["passed"], summary["failed"], summary["skipped"]) == (6, 3, 2, 1)
    assert summary["pytest_exit_code"] == 1 and summary["success"] is False
    assert got["timestamp"].endswith("+00:00")


def test_an_all_green_group_passes_and_main_writes_the_file(tmp_path, monkeypatch, capsys):
    root = tiny_project(tmp_path)
    monkeypatch.setattr(report, "ROOT", root)
    monkeypatch.setattr(report, "GROUPS", {"green": ["test_green"], "empty": ["test_missing"]})
    out = tmp_path / "database_test_report.json"
    assert report.main(["green", "--output", str(out), "--pytest-args", "-p no:cacheprovider"]) == 0
    written = json.loads(out.read_text())
    assert written["summary"]["success"] is True and written["groups"]["green"]["passed"] == 2
    assert "Database test report" in capsys.readouterr().out


def test_a_group_that_runs_no_test_fails_the_report(tmp_path):
    root = tiny_project(tmp_path)
    (root / "test_none.py").write_text("X = 1\n")
    got = report.run(
        {"green": ["test_green"], "none": ["test_none"]}, root=root, pytest_args=["-p", "no:cacheprovider"]
    )
    assert got["summary"]["groups_without_tests"] == ["none"] and got["summary"]["success"] is False


def test_the_seed_groups_name_existing_modules_once():
    seen = []
    for modules in report.GROUPS.values():
        for path in report.pytest_paths(modules, report.ROOT):
            assert Path(path).exists(), path
        seen += modules
    assert len(seen) == len(set(seen))
    assert list(report.GROUPS) == ["schema", "data validation", "performance", "integrity", "migrations"]
