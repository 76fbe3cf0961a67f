"""Bounded sizes and linear time (issue 9, item 3).

Reproduces: 30 rows holding a 1 MB value, broken by a rule: the failed-rule table ran a quadratic
regex over the whole sample (the run spun for over 10 minutes), ``--json`` was 21 MB and the
stored result 22 MB. Now every value is cut to ``VALUE_CHARS`` (200) characters plus
``…(N chars)`` before any regex or rendering: the run ends in seconds and its outputs are small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.custom_project import add_checkpoint
from tests.helpers import copy_project, insert_channel, insert_user, insert_video
from ytempire_dq.run.report import VALUE_CHARS, bounded, bounded_text

BIN = Path(sys.executable).parent
ROWS = 30
MB = 1024 * 1024
#: A value of 1 MB: a markup-looking head, then a long run that a backtracking regex chokes on.
BIG = "<b>" + "postgresql://u:" + "x" * (MB - 18)
MARKER = f"…({MB} chars)"
RULES = [
    {
        "type": "expect_column_value_lengths_to_be_between",
        "kwargs": {"column": "description", "max_value": 100000},
        "meta": {"rule_id": "videos.description_not_huge"},
        "description": "a description is at most 100000 characters",
    },
    {
        "type": "unexpected_rows_expectation",
        "kwargs": {"unexpected_rows_query": "SELECT id, description FROM {batch} WHERE length(description) > 100000"},
        "meta": {"rule_id": "videos.no_huge_description_rows"},
        "description": "no row has a huge description",
    },
]


@pytest.fixture(scope="module")
def big_project(db_url, tmp_path_factory):
    """A project copy with checkpoint ``big`` (the two rules above, COMPLETE results) and 30 videos
    whose description is 1 MB."""
    from ytempire_dq.db.connect import connect

    conn = connect(db_url, autocommit=True)
    try:
        channel = insert_channel(conn, insert_user(conn))
        for i in range(ROWS):
            insert_video(conn, channel, title=f"big {i}", description=BIG)
    finally:
        conn.close()
    gx_dir = copy_project(tmp_path_factory.mktemp("big_project"))
    add_checkpoint(
        gx_dir, checkpoint="big", suite="big_values", asset="videos", expectations=RULES, result_format="COMPLETE"
    )
    return gx_dir


@pytest.fixture(scope="module")
def big_run(big_project, db_url, tmp_path_factory):
    """``ytdq checkpoint run big --json FILE``: (process, seconds, json path)."""
    out = tmp_path_factory.mktemp("big_out") / "run.json"
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "ytdq"), "checkpoint", "run", "big", "--config", str(big_project), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DATABASE_URL": db_url, "COLUMNS": "200"},
    )
    return proc, time.monotonic() - started, out


def test_a_run_over_30_values_of_1_mb_finishes_in_seconds_with_exit_1(big_run):
    proc, seconds, _ = big_run
    assert proc.returncode == 1, proc.stderr[-3000:]
    # a hang fails here (the old quadratic mask: minutes per 1 MB value); not a speed test, CI may be loaded
    assert seconds < 300, seconds
    assert "videos.description_not_huge" in proc.stdout and f"{ROWS:,}" in proc.stdout


def test_json_carries_only_bounded_prefixes(big_run):
    _, _, out = big_run
    size = out.stat().st_size
    assert size < 100_000, size  # was 21 MB
    report = json.loads(out.read_text())
    (validation,) = report["validations"]
    by_id = {r["rule_id"]: r for r in validation["results"]}
    lengths = by_id["videos.description_not_huge"]
    assert lengths["unexpected_count"] == ROWS and lengths["partial_unexpected_list"]
    for value in lengths["partial_unexpected_list"]:
        assert value == BIG[:VALUE_CHARS] + MARKER
    rows = by_id["videos.no_huge_description_rows"]
    assert rows["unexpected_count"] == ROWS and len(rows["partial_unexpected_list"]) == 20
    for row in rows["partial_unexpected_list"]:
        assert row["description"] == BIG[:VALUE_CHARS] + MARKER


def test_the_stored_result_and_its_data_docs_page_are_bounded(big_run, big_project):
    proc, _, _ = big_run
    stored = list((big_project / "uncommitted" / "validations" / "big_values").rglob("*.json"))
    assert len(stored) == 1, stored
    size = stored[0].stat().st_size
    assert size < 200_000, size  # was 22 MB
    text = stored[0].read_text()
    assert f"({MB} chars)" in text and "x" * (VALUE_CHARS + 1) not in text  # JSON escapes the ellipsis
    pages = list(
        (big_project / "uncommitted" / "data_docs" / "local_site" / "validations" / "big_values").rglob("*.html")
    )
    assert len(pages) == 1, pages
    page = pages[0].read_text()
    assert len(page) < 500_000, len(page)
    assert "x" * (VALUE_CHARS + 1) not in page and f"({MB} chars)" in page


def test_bounding_is_linear_and_states_the_length():
    started = time.monotonic()
    cut = bounded([BIG] * ROWS)
    assert time.monotonic() - started < 5
    assert cut == [BIG[:VALUE_CHARS] + MARKER] * ROWS
    assert bounded_text("short") == "short"
    assert bounded({"a": [b"\xff" * 300]}) == {"a": ["\\xff" * 50 + "…(300 bytes)"]}


@pytest.mark.parametrize(
    "text",
    [
        "a" * MB,  # a long run of scheme characters, no ':'
        "postgresql://u:" + "x" * MB,  # a URL whose password never ends
        "x:/" * (MB // 3) + "@",  # many URL starts, one '@' at the end
        "postgresql://u:p@h " * (MB // 20),  # many credentialed URLs on one line
        "?password=" * (MB // 10),  # many secret query parameters, no '&' to end their values
        "&password=xyz" * (MB // 13),  # many secret query parameters, each ended by an '&'
        "?password=*** " * (MB // 14),  # many values masked already (each skipped, the scan goes on)
        "?" + "a" * MB + "=x",  # a parameter name that never ends
        "a=" * (MB // 2),  # many '=' with no query around them
    ],
)
def test_masking_is_linear_on_hostile_text(text):
    """The old regex took 4.5 s on 64 KB (quadratic); 1 MB would take minutes."""
    from ytempire_dq.config import mask_secrets, mask_url

    started = time.monotonic()
    masked = mask_secrets(text)
    mask_url(text)
    assert time.monotonic() - started < 10  # milliseconds here; a quadratic pass takes minutes
    assert len(masked) <= len(text) + 3
