"""Counts are written with their noun in the number it takes: "1 bad row", "2 bad rows", one
helper (``values.plural``) everywhere a count meets a noun."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ytempire_dq.store.retention import summary
from ytempire_dq.values import plural

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "ytempire_dq"


@pytest.mark.parametrize(
    ("count", "noun", "kw", "want"),
    [
        (1, "bad row", {}, "1 bad row"),
        (0, "bad row", {}, "0 bad rows"),
        (2, "run", {}, "2 runs"),
        (1234, "row", {"fmt": ","}, "1,234 rows"),
        (1, "row", {"fmt": ","}, "1 row"),
        (None, "bad row", {}, "None bad rows"),
        (1.5, "day", {}, "1.5 days"),
        (1, "index", {"nouns": "indexes"}, "1 index"),
        (3, "index", {"nouns": "indexes"}, "3 indexes"),
    ],
)
def test_plural(count, noun, kw, want):
    assert plural(count, noun, **kw) == want


def test_prune_summary_says_one_run_one_page():
    assert summary({"runs": ["r"], "results": 1, "pages": 1, "history_runs": ["r"]}) == (
        "removed 1 run (1 result file, 1 page); 1 run from the history (dq)"
    )
    assert (
        summary({"runs": [], "results": 0, "pages": 2}, dry_run=True) == "would remove 0 runs (0 result files, 2 pages)"
    )


#: A count in an f-string followed by a plural noun, or a "(s)" plural: each goes through plural().
HARD_PLURAL = re.compile(
    r"\{[^{}]*(?:len\(|count|_runs|rows|keys|ids|errors|pages)[^{}]*\} "
    r"(?:bad rows|rows|runs|pages|rules|keys|ids|errors|warnings|migrations|alerts)\b(?!/)|(?<!str)\(s\)[ ,:\"']"
)


def test_no_count_meets_its_noun_outside_the_helper():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if ('f"' in code or "f'" in code or "%d" in code) and HARD_PLURAL.search(code):
                found.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert found == []
