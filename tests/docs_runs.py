"""Helpers of the Data Docs growth, history and prune tests: small checkpoints over the committed
validation definitions, and the index page read back as rows."""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path


def add_checkpoint_of(gx_dir: Path, name: str, definitions: list[str], *, extra_actions: list | None = None) -> None:
    """Checkpoint ``name`` running the committed validation definitions ``definitions`` and
    updating Data Docs (plus ``extra_actions``), written into the project copy at ``gx_dir``."""
    root = gx_dir.parent
    vds = [
        {"id": json.loads((root / "validation_definitions" / f"{n}.json").read_text())["id"], "name": n}
        for n in definitions
    ]
    actions = [{"name": "update_data_docs", "site_names": [], "type": "update_data_docs"}, *(extra_actions or [])]
    (root / "checkpoints" / f"{name}.json").write_text(
        json.dumps(
            {
                "actions": actions,
                "id": str(uuid.uuid4()),
                "name": name,
                "result_format": "SUMMARY",
                "validation_definitions": vds,
            },
            indent=2,
        )
    )


def site_of(gx_dir: Path) -> Path:
    return gx_dir / "uncommitted" / "data_docs" / "local_site"


def result_files(gx_dir: Path) -> list[Path]:
    return sorted((gx_dir / "uncommitted" / "validations").rglob("*.json"))


def validation_pages(gx_dir: Path) -> list[Path]:
    return sorted((site_of(gx_dir) / "validations").rglob("*.html"))


class Tables(HTMLParser):
    """Every ``<table>`` of a page: its attributes and its body rows (row attributes, cell texts, hrefs)."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"attrs": attrs, "rows": []})
        elif tag == "tr" and self.tables:
            self._row = {"attrs": attrs, "cells": [], "links": []}
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "a" and self._row is not None and "href" in attrs:
            self._row["links"].append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row["cells"]:
                self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table(self, key: str, value: str) -> list[dict]:
        (found,) = [t for t in self.tables if t["attrs"].get(key) == value]
        return found["rows"]


def index_tables(gx_dir: Path) -> tuple[list[dict], list[dict]]:
    """(the index's latest-run rows, its validation rows), as the page lists them."""
    page = Tables((site_of(gx_dir) / "index.html").read_text())
    return page.table("class", "latest-runs"), page.table("id", "validation-results-table")


def failed_count(cell: str) -> int:
    return int(re.match(r"(\d+) of \d+", cell)[1])
