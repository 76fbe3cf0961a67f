"""A suite, its validation definition and a checkpoint written by hand into a project copy (as an
analyst would), for tests that need rules or names of their own."""

from __future__ import annotations

import json
import uuid
from pathlib import Path


def add_checkpoint(
    gx_dir: Path,
    *,
    checkpoint: str,
    suite: str,
    asset: str,
    expectations: list[dict],
    result_format: str = "SUMMARY",
    data_docs: bool = True,
    meta: dict | None = None,
    notes: str | None = None,
    data: dict | None = None,
) -> None:
    """Write suite ``suite`` (``expectations``) on table ``asset``, a validation definition of
    the same name, and checkpoint ``checkpoint`` running it, into the project copy at ``gx_dir``.
    ``data`` replaces the validation definition's data source/asset/batch definition references."""
    root = gx_dir.parent
    # the committed validation definition of the table names its data source and batch definition
    template = json.loads((root / "validation_definitions" / f"{asset}.json").read_text())
    suite_id = str(uuid.uuid4())
    (root / "expectations" / f"{suite}.json").write_text(
        json.dumps(
            {
                "id": suite_id,
                "name": suite,
                "expectations": expectations,
                "meta": {"great_expectations_version": "1.24.1", **(meta or {})},
                "notes": notes,
            },
            indent=2,
        )
    )
    vd_id = str(uuid.uuid4())
    (root / "validation_definitions" / f"{suite}.json").write_text(
        json.dumps(
            {"data": data or template["data"], "id": vd_id, "name": suite, "suite": {"id": suite_id, "name": suite}},
            indent=2,
        )
    )
    actions = [{"name": "update_data_docs", "site_names": [], "type": "update_data_docs"}] if data_docs else []
    (root / "checkpoints" / f"{checkpoint}.json").write_text(
        json.dumps(
            {
                "actions": actions,
                "id": str(uuid.uuid4()),
                "name": checkpoint,
                "result_format": result_format,
                "validation_definitions": [{"id": vd_id, "name": suite}],
            },
            indent=2,
        )
    )
