"""The user documentation's text as tests read it: a section of a page of ``docs/`` by its heading,
and the fenced code blocks in it. Tests that run a documented snippet read it here, from the page
it lives on, so the snippet runs exactly as printed. Always the checkout's pages (the source), not
a worker's project copy."""

from __future__ import annotations

import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
DOCS = CHECKOUT / "docs"
README = CHECKOUT / "README.md"

_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def page(name: str) -> str:
    """The text of ``docs/<name>`` (``README.md`` for the README)."""
    return README.read_text() if name == "README.md" else (DOCS / name).read_text()


def section(name: str, heading: str) -> str:
    """The section of page ``name`` under the heading whose text is ``heading`` (any level), up to
    the next heading of the same or a higher level; headings inside code blocks do not count."""
    text = page(name)
    fenced = [m.span() for m in _FENCE.finditer(text)]
    headings = [m for m in _HEADING.finditer(text) if not any(a <= m.start() < b for a, b in fenced)]
    starts = [m for m in headings if m.group(2) == heading]
    assert len(starts) == 1, f"docs/{name}: {len(starts)} headings {heading!r}"
    start, level = starts[0], len(starts[0].group(1))
    end = next((m.start() for m in headings if m.start() > start.start() and len(m.group(1)) <= level), len(text))
    return text[start.start() : end]


def code_blocks(text: str, lang: str) -> list[tuple[int, str]]:
    """(offset, body) of every fenced ```lang block of ``text``."""
    return [(m.start(), m.group(1)) for m in re.finditer(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)]


def code_block(name: str, heading: str, lang: str, index: int = 0) -> str:
    """The ``index``-th fenced ```lang block of a page's section, as printed."""
    blocks = code_blocks(section(name, heading), lang)
    assert len(blocks) > index, f"docs/{name}, {heading!r}: no ```{lang} block number {index + 1}"
    return blocks[index][1]
