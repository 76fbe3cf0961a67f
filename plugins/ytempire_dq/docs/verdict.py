"""What a validation page says at a glance: each rule's verdict as text, failed rules first, and
the tables the rules really check.

GX 1.24.1 marks a rule's status with an empty ``<i class="fas fa-…">``: an icon font, so without
it (offline, or blocked) a failed rule looks like a passed one. It lists rules in suite order
and names the validation's *batch* as "Data asset", which for the ``cross_table`` suite is
``users`` although its rules check videos, analytics, channels and api_keys. Here the status is
text and colour ("✗ failed", "✓ passed", "! error"; ``ytdq_styles.css``), rules that failed or
could not run come first (in their sections, and those sections first), and the overview's
asset line names each rule's own table (a cross-table rule's ``table``, else the batch's table).
Used by the renderers in :mod:`ytempire_dq.docs.renderers`.
"""

from __future__ import annotations

import html
from typing import Any, Optional

from great_expectations.render import RenderedStringTemplateContent

from ytempire_dq.gx.results import raised

#: A rule's verdict -> the mark its status cell shows (no icon font needed).
MARKS = {"failed": "\u2717 failed", "passed": "\u2713 passed", "error": "! error"}
#: The page's overall status, as GX words it, with its mark.
PAGE_MARKS = {False: ("\u2717 Failed", "failed"), True: ("\u2713 Succeeded", "passed")}
#: GX's section of the rules that name no column.
TABLE_LEVEL = "Table-Level Expectations"


def verdict(result: Any) -> str:
    """``failed``, ``passed`` or ``error`` (the rule could not run) of one expectation result."""
    if raised(result):
        return "error"
    return "passed" if result.success else "failed"


def status_mark(state: str, styling: Optional[dict] = None) -> RenderedStringTemplateContent:
    """The status cell of a validation row: the verdict as coloured text; ``styling`` keeps GX's
    row classes (the page's "Failed Only" filter hides rows by them)."""
    return RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={
            "template": "$status",
            "params": {"status": MARKS[state]},
            "styling": {
                "params": {
                    "status": {"classes": ["ytdq-status", f"ytdq-{state}"], "attributes": {"data-status": state}}
                }
            },
        },
        styling=styling or {},
    )


def _section_of(result: Any) -> str:
    config = result.expectation_config
    return (config.kwargs or {}).get("column", TABLE_LEVEL) if config is not None else TABLE_LEVEL


def failed_first(results: list) -> list:
    """``results`` with the rules that failed or could not run first (stable: suite order kept)."""
    return sorted(results, key=lambda r: verdict(r) == "passed")


def rule_tables(validation_results: Any) -> list[str]:
    """The tables the page's rules check, in rule order: a cross-table rule's own ``table``
    parameter, else the batch's ``[schema.]table`` (else its asset name)."""
    spec = validation_results.meta.get("batch_spec") or {}
    schema, name = spec.get("schema_name"), spec.get("table_name")
    batch = f"{schema}.{name}" if schema and name else name or spec.get("data_asset_name")
    tables: list[str] = []
    for result in validation_results.results:
        config = result.expectation_config
        own = (config.kwargs or {}).get("table") if config is not None else None
        table = own if isinstance(own, str) and own else batch
        if table and table not in tables:
            tables.append(table)
    return tables


def mark_overview(document: Any, validation_results: Any) -> None:
    """In a rendered validation page: sections holding a failed rule first (after the overview),
    the overview's status as coloured text, and its asset line naming the rules' tables."""
    failing = {_section_of(r) for r in validation_results.results if verdict(r) != "passed"}
    overview, rest = document.sections[:1], document.sections[1:]
    document.sections = overview + sorted(rest, key=lambda s: s.section_name not in failing)
    header = overview[0].content_blocks[0] if overview and overview[0].content_blocks else None
    template = getattr(getattr(header, "subheader", None), "string_template", None)
    if not isinstance(template, dict) or "data_asset" not in (template.get("params") or {}):
        return
    params = template["params"]
    tables = rule_tables(validation_results)
    if tables:
        params["data_asset"] = "Tables:" if len(tables) > 1 else "Table:"
        params["data_asset_name"] = ", ".join(tables)
        # the title is pasted raw (GX's navbar): it holds escaped names (data_docs.escaped)
        title = f"Validations / {document.expectation_suite_name} / "
        asset = html.escape(str((validation_results.meta.get("batch_spec") or {}).get("data_asset_name")), quote=True)
        if document.page_title.startswith(f"{title}{asset} /"):
            shown = html.escape(params["data_asset_name"], quote=True)
            document.page_title = title + shown + document.page_title[len(title + asset) :]
    text, state = PAGE_MARKS[bool(validation_results.success)]
    params["success"], params["html_success_icon"] = text, ""
    styling = template.setdefault("styling", {}).setdefault("params", {})
    styling["success"] = {"classes": ["ytdq-status", f"ytdq-{state}"], "attributes": {"data-status": state}}
