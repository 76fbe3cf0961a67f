"""The GitHub workflows cannot rot silently (issue 13, item 1).

``actionlint`` (its binary ships in a PyPI wheel, installed with the test extra) passes on them;
every ``ytdq``/``great_expectations`` command line they run exists: ``--help`` of its subcommand
path exits 0 and click accepts its options and arguments as written; the CI workflow keeps what the
pipeline promises (service containers with health checks, the gate's reports kept even when it
fails); the nightly's secrets only ever reach the tools as environment variables.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
TOOLS = ("ytdq", "great_expectations")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "2>", "2>&1", "&"}


def load(name: str) -> dict:
    from ruamel.yaml import YAML  # GX's own YAML library

    return YAML(typ="safe").load((WORKFLOWS / name).read_text())


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def command_lines(script: str) -> list[list[str]]:
    """Each ``ytdq``/``great_expectations`` invocation in a ``run:`` script: [tool, args...]
    (up to the next shell operator; ``${{ }}`` expressions become a placeholder word)."""
    script = re.sub(r"\$\{\{.*?\}\}", "EXPR", script.replace("\\\n", " "))
    found = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            if Path(word).name in TOOLS:
                args = []
                for arg in words[i + 1 :]:
                    if arg in SHELL_OPERATORS:
                        break
                    args.append(arg)
                found.append([Path(word).name, *args])
    return found


def all_command_lines() -> list[list[str]]:
    return [
        line
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for step in steps(load(path.name))
        for line in command_lines(step.get("run", ""))
    ]


def check_command_line(line: list[str]) -> None:
    """Raise (AssertionError or click.UsageError) unless ``line`` is a command ytdq accepts."""
    from ytempire_dq.cli import main

    tool, args = line[0], line[1:]
    if tool == "great_expectations":  # gx_main runs only `checkpoint ...`, through ytdq's group
        assert args[:1] == ["checkpoint"], f"great_expectations runs only 'checkpoint run': {line}"
    command, path = main, []
    while isinstance(command, click.Group):
        assert args, f"{line}: names a command group, not a command"
        sub = command.get_command(click.Context(command), args[0])
        assert sub is not None, f"{line}: no command {args[0]!r} in {' '.join(['ytdq', *path])}"
        command, path, args = sub, [*path, args[0]], args[1:]
    proc = subprocess.run([str(BIN / tool), *path, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{tool} {' '.join(path)} --help: {proc.stderr}"
    command.make_context(" ".join(path), list(args))  # unknown option, missing argument: click.UsageError


def test_actionlint_passes_on_the_workflows():
    actionlint = BIN / "actionlint"
    assert actionlint.exists(), "actionlint is missing: bash .ci/install installs the test extra"
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 2
    proc = subprocess.run([str(actionlint), "-color=false", *files], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check above can fail: an unknown input and a bad expression are reported."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    broken = (
        (WORKFLOWS / "ci.yml")
        .read_text()
        .replace("if-no-files-found: warn", "if-no-files-found: warn\n          bogus: 1")
    )
    broken = broken.replace("if: always()", "if: always(", 1)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(broken)
    proc = subprocess.run(
        [str(BIN / "actionlint"), "-color=false", "-oneline"], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 1
    assert 'input "bogus" is not defined' in proc.stdout and "unexpected end of input" in proc.stdout


def test_every_command_line_of_the_workflows_exists():
    lines = all_command_lines()
    assert ["ytdq", "db", "migrate"] in lines
    assert any(line[:4] == ["great_expectations", "checkpoint", "run", "critical"] for line in lines)
    assert any(line[:4] == ["great_expectations", "checkpoint", "run", "nightly"] for line in lines)
    for line in lines:
        check_command_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "ytdq checkpoint run critical --jsn out.json",
        "ytdq checkpoint runn critical",
        "ytdq checkpoint run",
        "ytdq db",
        "great_expectations suite list",
    ],
)
def test_the_command_check_catches_a_command_that_does_not_exist(line):
    with pytest.raises((AssertionError, click.UsageError)):
        check_command_line(command_lines(line)[0])


def test_ci_runs_the_suite_against_service_containers_then_gates_on_critical():
    workflow = load("ci.yml")
    (job,) = workflow["jobs"].values()
    services = job["services"]
    assert services["postgres"]["image"] == "postgres:15" and services["redis"]["image"] == "redis:7"
    for service in services.values():
        assert "--health-cmd" in service["options"]
    assert (
        job["env"]["DATABASE_URL"].startswith("postgresql+psycopg2://")
        and "@localhost:5432/" in job["env"]["DATABASE_URL"]
    )
    assert job["env"]["REDIS_URL"] == "redis://localhost:6379/0"
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    runs = [s.get("run", "") for s in job["steps"]]
    order = [
        next(i for i, r in enumerate(runs) if text in r)
        for text in ("ytdq db migrate", "pytest", "checkpoint run critical")
    ]
    assert order == sorted(order), "migrate, then the tests, then the gate"
    gate = next(r for r in runs if "checkpoint run critical" in r)
    assert "--json reports/" in gate and "--junit reports/" in gate
    kept = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert kept and kept[0]["if"] == "always()"
    assert "reports/" in kept[0]["with"]["path"] and "data_docs" in kept[0]["with"]["path"]
    report = next(s for s in job["steps"] if "junit" in s.get("uses", ""))
    assert report["if"] == "always()"


def test_the_nightly_runs_on_a_schedule_and_never_prints_its_secrets():
    text = (WORKFLOWS / "nightly.yml").read_text()
    workflow = load("nightly.yml")
    assert workflow["on"]["schedule"][0]["cron"]
    for step in steps(workflow):
        script = step.get("run", "")
        for secret in ("DATABASE_URL", "REDIS_URL"):
            assert secret not in script, f"a run script names {secret}: {script}"
        assert "secrets." not in script, "secrets reach scripts only through env"
        assert not re.search(r"\bset -x\b|\bprintenv\b|^\s*env\s*$", script, re.M)
    assert set(re.findall(r"secrets\.(\w+)", text)) == {"DATABASE_URL", "REDIS_URL", "PAGER_WEBHOOK_URL"}
    gate = next(s for s in steps(workflow) if "checkpoint run nightly" in s.get("run", ""))
    assert gate["env"] == {"DATABASE_URL": "${{ secrets.DATABASE_URL }}", "REDIS_URL": "${{ secrets.REDIS_URL }}"}
    page = next(s for s in steps(workflow) if "exit_code == '2'" in str(s.get("if", "")))
    assert gate["id"] in page["if"]
