"""The seed's database test report (§9.2): ``make report`` = ``python -m tests.report``.

Runs the seed's test groups in ONE pytest session (one set of servers) with ``--junitxml``, reads
the JUnit file back with junitparser (pytest's own counts, not ours), and writes
``database_test_report.json``: the time, per group total/passed/failed/skipped/duration, and a
summary; prints the seed's summary table; exits 0 only if every group ran and nothing failed.

The seed's groups are mapped onto this project's test modules (a module is in one group):

- schema: the migrated catalog and the data types, and the seed's own tests ported (their three
  generous timing bounds are the seed's assertions, kept as it states them);
- data validation: the suites, checkpoints, custom expectations, cache rules, defect injection
  and the seeder (clean data passes, each defect fails its one rule with the exact count);
- performance: the benchmark smoke test and bounded, linear-time outputs (timings themselves are
  in ``benchmarks/``, never asserted in tests);
- integrity: transactions, isolation, cascades, CHECK and UNIQUE constraints;
- migrations: the runner, the files, and migrations that cannot wedge or half-apply.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: group -> the test modules or packages (dotted, as pytest's JUnit ``classname`` starts).
GROUPS: dict[str, list[str]] = {
    "schema": ["tests.test_schema", "tests.test_data_types", "tests.test_seed_ports"],
    "data validation": [
        "tests.gx",
        "tests.expectations",
        "tests.cache",
        "tests.test_defects",
        "tests.test_seed",
        "tests.test_fast",
        "tests.test_add_a_rule",
    ],
    "performance": ["tests.test_benchmarks_smoke", "tests.test_bounded_outputs"],
    "integrity": ["tests.test_transactions"],
    "migrations": ["tests.test_migrations", "tests.test_migrations_hostile"],
}


def pytest_paths(modules: list[str], root: Path) -> list[str]:
    """``tests.gx`` -> ``tests/gx``, ``tests.test_schema`` -> ``tests/test_schema.py``."""
    paths = []
    for module in modules:
        base = root / module.replace(".", "/")
        paths.append(str(base if base.is_dir() else base.with_suffix(".py")))
    return paths


def group_of(classname: str, groups: dict[str, list[str]]) -> str | None:
    for group, modules in groups.items():
        if any(classname == m or classname.startswith(m + ".") for m in modules):
            return group
    return None


def _status(case) -> str:
    from junitparser import Error, Failure, Skipped

    kinds = {type(result) for result in case.result}
    if kinds & {Failure, Error}:
        return "failed"
    return "skipped" if Skipped in kinds else "passed"


def build_report(junit_file: Path, groups: dict[str, list[str]], pytest_exit: int) -> dict:
    """The report from pytest's JUnit file: per group and in total."""
    from junitparser import JUnitXml, TestSuite

    counts = {g: {"total": 0, "passed": 0, "failed": 0, "skipped": 0, "duration": 0.0} for g in groups}
    xml = JUnitXml.fromfile(str(junit_file)) if junit_file.exists() else JUnitXml()
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    for suite in suites:
        for case in suite:
            group = group_of(case.classname or "", groups)
            if group is None:
                continue
            row = counts[group]
            row["total"] += 1
            row[_status(case)] += 1
            row["duration"] += case.time or 0.0
    for row in counts.values():
        row["duration"] = round(row["duration"], 2)
    summary = {key: sum(row[key] for row in counts.values()) for key in ("total", "passed", "failed", "skipped")}
    summary["duration"] = round(sum(row["duration"] for row in counts.values()), 2)
    empty = [g for g, row in counts.items() if row["total"] == 0]
    summary["pytest_exit_code"] = pytest_exit
    summary["groups_without_tests"] = empty
    summary["success"] = pytest_exit == 0 and summary["failed"] == 0 and not empty
    return {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "groups": counts,
        "summary": summary,
    }


def run(groups: dict[str, list[str]], *, root: Path | None = None, pytest_args: list[str] = ()) -> dict:
    """Run the groups' tests in one pytest session (in ``root``, the checkout by default) and build the report."""
    root = root or ROOT
    paths = [p for modules in groups.values() for p in pytest_paths(modules, root)]
    with tempfile.TemporaryDirectory() as tmp:
        junit_file = Path(tmp) / "tests.xml"
        command = [sys.executable, "-m", "pytest", "-q", f"--junitxml={junit_file}", *pytest_args, *paths]
        code = subprocess.call(command, cwd=root)
        return build_report(junit_file, groups, code)


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("Test group", "Total", "Passed", "Failed", "Skipped", "Duration (s)", title="Database test report")
    rows = [*report["groups"].items(), ("summary", report["summary"])]
    for name, row in rows:
        table.add_row(
            name,
            *(str(row[k]) for k in ("total", "passed", "failed", "skipped")),
            f"{row['duration']:.1f}",
            style="bold" if name == "summary" else None,
        )
    console = Console()
    console.print(table)
    verdict = "[bold green]ALL PASSED[/]" if report["summary"]["success"] else "[bold red]FAILED[/]"
    console.print(f"{verdict} (pytest exit code {report['summary']['pytest_exit_code']})")
    if report["summary"]["groups_without_tests"]:
        console.print(f"groups that ran no test: {', '.join(report['summary']['groups_without_tests'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.report", description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"only these groups (default: all): {', '.join(GROUPS)}")
    parser.add_argument(
        "--output", type=Path, default=None, help="[default: database_test_report.json in the checkout]"
    )
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-n 2'")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; the groups: {', '.join(GROUPS)}")
    groups = {g: GROUPS[g] for g in (args.groups or GROUPS)}
    report = run(groups, pytest_args=args.pytest_args.split())
    output = args.output or ROOT / "database_test_report.json"
    output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"report: {output}")
    return 0 if report["summary"]["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
