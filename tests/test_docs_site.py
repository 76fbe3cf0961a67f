"""The user documentation holds together: the MkDocs site builds with ``--strict`` (a broken
internal link or anchor, a page missing from the nav, fails it), offline; the README stays short,
its links point at files that exist and it gives the test command CI runs; and neither the README
nor the pages carry what belongs in a tracker or a diary (issue numbers, branch names, clock times
of day)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doc_pages import CHECKOUT, DOCS, README

MKDOCS = Path(sys.executable).parent / "mkdocs"
README_MAX_LINES = 250


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans: what the rules below judge is
    the prose, never a command line, a log line or an example output."""
    text = re.sub(r"^([ \t]*)```.*?^\1```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`]*`", "", text)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return out


def test_the_site_builds_strict_with_every_page_in_the_nav(site):
    built = {p.stem for p in site.glob("*.html")} - {"404"}
    assert built == {p.stem for p in DOCS.glob("*.md")}
    # every page is reachable from the nav: each page's link is in the home page's navigation
    home = (site / "index.html").read_text()
    for page in DOCS.glob("*.md"):
        assert f'href="{page.stem}.html"' in home or page.stem == "index", page.name


def test_the_cli_reference_is_generated_from_the_click_commands(site):
    from ytempire_dq.cli import main

    html = (site / "cli.html").read_text()
    for name, group in main.commands.items():
        assert f'id="ytdq-{name}"' in html, name
        for sub in getattr(group, "commands", {}):
            assert f'id="ytdq-{name}-{sub}"' in html, f"{name} {sub}"
    assert "--since-last" in html and "--junit" in html  # options, from the commands' own help


def test_the_site_loads_nothing_from_the_network(site):
    """No web fonts, no script or stylesheet from elsewhere: the pages browse from disk, offline."""
    for page in site.glob("*.html"):
        html = page.read_text()
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html, page.name
        assert not re.search(r'<script[^>]+src="(https?:)?//', html), page.name
        assert not re.search(r'<link[^>]+href="(https?:)?//[^"]*"[^>]*rel="stylesheet"', html), page.name
        assert not re.search(r'<link[^>]+rel="stylesheet"[^>]+href="(https?:)?//', html), page.name
        assert 'href="cli/"' not in html  # use_directory_urls: false, links end in .html


def test_the_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)\s]+)\)", prose(text))
    relative = [link for link in links if not re.match(r"[a-z]+:|#", link)]
    assert len(relative) >= 10  # the README points into the site
    for link in relative:
        assert (CHECKOUT / link.split("#", 1)[0]).exists(), link
    # the screenshot of the tour
    assert "docs/img/data-docs-validation.png" in relative


def test_the_readme_gives_the_test_command_ci_runs():
    """.ci/run calls exactly the test command the README's set-up block gives."""
    run = (CHECKOUT / ".ci" / "run").read_text().splitlines()
    command = [line.strip() for line in run if line.strip().startswith("make ")]
    assert command == ["make test"], command
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.S | re.M)
    assert any(line.split("#")[0].strip() == command[0] for block in blocks for line in block.splitlines())


#: what a page must not say outside code: (what, pattern)
FORBIDDEN = [
    ("an issue number", re.compile(r"(?i)\bissues?\s*#?\d+|(?<![\w&/])#\d+\b")),
    ("a branch name", re.compile(r"(?i)\b(on|from|in) (the )?branch\b|\bbranch `")),
    ("a team note", re.compile(r"(?i)\bthe seed asks\b|\b\d+ engineers\b|\bengineers'? (jobs|worked)")),
    ("a clock time of day", re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s*(UTC|am|pm)?\b", re.I)),
]


def test_readme_and_pages_hold_no_issue_numbers_branches_team_notes_or_clock_times():
    found = []
    for path in pages():
        for n, line in enumerate(prose(path.read_text()).splitlines(), 1):
            found += [f"{path.name}:{n}: {what}: {line.strip()[:120]}" for what, rx in FORBIDDEN if rx.search(line)]
    assert not found, "\n".join(found)


def test_the_prose_rule_ignores_code_and_catches_prose():
    """The checks above judge prose only: a time in a code block or a code span is an example."""
    sample = "Run it at 02:30 UTC.\n\n```text\nsince 2026-12-03 03:00 UTC\n```\n`0 3 * * *` and `10:45`\nsee #12\n"
    kept = prose(sample)
    clock, issue = FORBIDDEN[3][1], FORBIDDEN[0][1]
    assert [line for line in kept.splitlines() if clock.search(line)] == ["Run it at 02:30 UTC."]
    assert issue.search(kept) and not issue.search("see [Layers](#layers)")
