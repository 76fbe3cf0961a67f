"""The documentation's list of custom expectation types is generated from GX's registry and kept
whole: a new expectation file shows up in ``ytdq suite types`` and must show up in the docs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ytempire_dq.cli import main
from ytempire_dq.expectations.catalog import custom_types, markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "expectations.md"
PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "ytempire_dq" / "expectations"


def test_every_expectation_file_is_a_registered_type():
    files = {p.stem for p in PACKAGE.glob("expect_*.py")}
    assert {t.name for t in custom_types()} == files


def test_every_type_and_parameter_says_what_it_is():
    for t in custom_types():
        assert t.summary.startswith("Expect "), t.name
        assert t.parameters, t.name
        undescribed = [name for name, description in t.parameters if not description]
        assert not undescribed, f"{t.name}: parameters without a description: {undescribed}"


def test_the_documentation_lists_exactly_the_registered_types():
    result = CliRunner().invoke(main, ["suite", "types", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == markdown(custom_types())
    assert DOC.read_text() == result.output, (
        "docs/expectations.md is out of date: run `ytdq suite types --markdown > docs/expectations.md`"
    )
