"""The documentation's recipes for analysts (docs/rules.md, docs/suggest.md, docs/anomaly-rules.md),
applied to a project home as an analyst applies them: the "Add a rule" snippets appended to their
suite file, a suite of one's own (``suite new``), a draft (``suite suggest --checkpoint nightly``),
a drift rule's threshold edited, then ``suite lint --fix``.

A recipe the project already holds (an analyst applied it to the checkout) is applied again over
it: a rule replaces the rule of the same ``rule_id``, a new suite takes a free name."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.doc_pages import code_blocks, section

#: Where "Add a rule" lives: its page and heading.
ADD_A_RULE = ("rules.md", "Add a rule (no Python)")
#: Where "Suggest a draft suite" lives.
SUGGEST = ("suggest.md", "Suggest a draft suite")
#: Where tuning a band rule lives.
TUNE = ("anomaly-rules.md", "How to tune a drift rule")


#: The suites the project ships; an analyst's own suites and drafts are other files.
SHIPPED_SUITES = (
    "users",
    "channels",
    "videos",
    "analytics",
    "api_keys",
    "workflows",
    "cross_table",
    "privacy",
    "cache",
)


def recipe_rules() -> list[tuple[str, dict]]:
    """[(suite the text before it names, rule)] of every JSON snippet of "Add a rule"."""
    text = section(*ADD_A_RULE)
    out = []
    for offset, body in code_blocks(text, "json"):
        named = re.findall(r"`expectations/(\w+)\.json`", text[:offset])
        assert named, f"docs/{ADD_A_RULE[0]} names no suite file before the snippet {body[:60]!r}"
        out.append((named[-1], json.loads(body)))
    return out


def recipe_commands(where: tuple[str, str] = ADD_A_RULE) -> list[list[str]]:
    """Every command line of the section's ```bash blocks, as argv (comments dropped)."""
    return [
        shlex.split(line, comments=True)
        for _, body in code_blocks(section(*where), "bash")
        for line in body.splitlines()
        if shlex.split(line, comments=True)
    ]


def append_rules(project: Path, suite: str, rules: list[dict]) -> Path:
    """Append ``rules`` to ``expectations/<suite>.json`` the way an analyst edits the file; a rule
    of the same ``rule_id`` already there (the recipe applied before) is replaced."""
    path = project / "expectations" / f"{suite}.json"
    doc = json.loads(path.read_text())
    new = {r["meta"]["rule_id"] for r in rules}
    doc["expectations"] = [e for e in doc["expectations"] if (e.get("meta") or {}).get("rule_id") not in new] + rules
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


@dataclass
class Applied:
    """What the recipes added: rule_ids by suite, the suites made, the rule whose threshold changed."""

    rules: dict[str, list[str]] = field(default_factory=dict)
    suites: list[str] = field(default_factory=list)
    threshold: str | None = None


def apply_recipes(project: Path, ytdq: Callable[[list[str]], subprocess.CompletedProcess]) -> Applied:
    """Apply the documentation's recipes to ``project``; ``ytdq(args)`` runs ``ytdq args`` on it."""
    applied = Applied()
    expectations = project / "expectations"

    def ok(args: list[str]) -> subprocess.CompletedProcess:
        done = ytdq(args)
        assert done.returncode == 0, f"ytdq {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    for suite, rule in recipe_rules():  # "Add a rule": the snippets, built-in and SQL
        append_rules(project, suite, [rule])
        applied.rules.setdefault(suite, []).append(rule["meta"]["rule_id"])
    own = next(
        f"recipe_checks{n or ''}" for n in range(100) if not (expectations / f"recipe_checks{n or ''}.json").exists()
    )
    ok(["suite", "new", own, "--asset", "videos", "--checkpoint", "nightly"])
    rule = {
        "type": "expect_column_values_to_not_be_null",
        "description": "a video has a title",
        "kwargs": {"column": "title"},
        "meta": {"rule_id": f"{own}.title_set"},
    }
    append_rules(project, own, [rule])
    applied.rules[own] = [rule["meta"]["rule_id"]]
    table = next(t for t in ("videos", "channels", "users") if not (expectations / f"{t}_suggested.json").exists())
    # "Suggest a draft suite": its printed `suite suggest TABLE --checkpoint nightly`, for a free table
    documented = next(argv for argv in recipe_commands(SUGGEST) if "--checkpoint" in argv)
    assert documented[:3] == [".venv/bin/ytdq", "suite", "suggest"], documented
    ok(["suite", "suggest", table, *documented[4:]])
    draft = json.loads((expectations / f"{table}_suggested.json").read_text())
    applied.rules[draft["name"]] = [e["meta"]["rule_id"] for e in draft["expectations"]]
    applied.suites = [own, draft["name"]]
    assert "`mad_multiplier`" in section(*TUNE)  # "How to tune a drift rule": widen one band
    for path in sorted(expectations.glob("*.json")):
        doc = json.loads(path.read_text())
        banded = [e for e in doc["expectations"] if "mad_multiplier" in (e.get("kwargs") or {})]
        if banded:
            banded[0]["kwargs"]["mad_multiplier"] += 1
            path.write_text(json.dumps(doc, indent=2) + "\n")
            applied.threshold = banded[0]["meta"]["rule_id"]
            break
    ok(["suite", "lint", "--fix"])
    return applied


def shipped(suite: str, rule_id: str) -> bool:
    """Whether a rule is of the rule book as the project ships it (not a recipe's, not an analyst's suite)."""
    return suite in SHIPPED_SUITES and rule_id not in {r["meta"]["rule_id"] for _, r in recipe_rules()}
