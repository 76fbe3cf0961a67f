"""Data Docs renderers: our rules keep their sentence, and data values are shown as text, never run.

Two things GX 1.24.1 does that this module changes (checked in its source):

- **A description replaces the sentence.** ``ExpectationConfiguration``'s ``description`` "will
  be rendered instead of the default template" (``ContentBlockRenderer._get_content_block_fn``),
  so a custom rule with a description (every rule in our suites has one) showed only that line
  and lost its parameters. Our custom rules (classes of this package with a sentence renderer)
  are rendered by that renderer instead, with the description added on a second line.
- **Values are pasted into the page as HTML.** The ``.j2`` templates are not autoescaped (Jinja's
  ``select_autoescape(["html", "xml"])`` does not match ``.j2``); GX escapes string-template
  *parameters* only. A description is used as the template itself, and the sampled unexpected
  values and observed values of a validation page are plain strings emitted raw: a video title
  ``<script>alert(1)</script>`` ran in the browser. Here descriptions become an escaped
  parameter, and every plain string of a validation row is HTML-escaped.

- **Names and error texts are pasted into the page as HTML too.** GX 1.24.1 writes the suite,
  run, checkpoint and asset names raw into breadcrumbs, info tables, links and the index's table
  data, and an exception's traceback is used as a string *template* (only parameters are escaped).
  The page renderers here render an escaped copy of what they are given: every string of the
  names, of every ``meta`` (result, batch, suite, rule) and of exception tracebacks is HTML-escaped
  (quotes too) before GX sees it. After GX built a page, the string-template *parameters* among
  those strings get their originals back (GX's view escapes parameters itself), so a page shows
  each name once escaped. The index is the project's own page (:mod:`ytempire_dq.docs.index_page`),
  not GX's: it escapes what it shows itself.
  Descriptions and sampled values keep their own, single, escape (above).

``gx/great_expectations.yml`` names these classes under ``data_docs_sites.local_site``
(``site_section_builders``, GX's documented place); nothing is patched in GX.
"""

from __future__ import annotations

import copy
import html
from typing import TYPE_CHECKING, Any, Callable, Optional

from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.render import (
    LegacyRendererType,
    RenderedStringTemplateContent,
    RenderedTableContent,
)
from great_expectations.render.renderer.content_block import (
    ExpectationSuiteBulletListContentBlockRenderer,
    ValidationResultsTableContentBlockRenderer,
)
from great_expectations.render.renderer.page_renderer import (
    ExpectationSuitePageRenderer,
    ValidationResultsPageRenderer,
)
from typing_extensions import override

from ytempire_dq.docs.verdict import failed_first, mark_overview, status_mark, verdict
from ytempire_dq.gx import compat
from ytempire_dq.values import map_leaves

#: The parameter that carries the description under a custom rule's sentence.
DESCRIPTION_PARAM = "rule_description"


def description_block(description: str, runtime_configuration: Optional[dict] = None) -> RenderedStringTemplateContent:
    """GX's description block, with the text as an (escaped) parameter instead of the template."""
    return RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={"template": "$description", "params": {"description": description}},
        styling=(runtime_configuration or {}).get("styling", {}),
    )


#: A value shown on one line when it has no space and is at most this long (a UUID, an e-mail).
UNBROKEN_CHARS = 64


def unbroken(text: str) -> str:
    """An escaped value a browser must not wrap (it would break a UUID at a hyphen, which reads
    as two values) in a ``text-nowrap`` span (Bootstrap); longer or spaced text wraps as usual."""
    if not text or len(text) > UNBROKEN_CHARS or any(c.isspace() for c in text):
        return text
    return f'<span class="text-nowrap">{text}</span>'


def as_text(value: Any) -> Any:
    """``value`` with every plain string in it (lists, table cells) HTML-escaped; other blocks as they are.

    String templates are left alone: GX escapes their parameters and their templates are ours.
    """
    if isinstance(value, str):
        return unbroken(html.escape(value, quote=False))
    if isinstance(value, list):
        return [as_text(item) for item in value]
    if isinstance(value, RenderedTableContent):
        value.table = as_text(value.table)
        if value.header_row:
            value.header_row = as_text(value.header_row)
    elif isinstance(value, dict) and "content_block_type" not in value:
        return html.escape(str(value), quote=False)  # a JSON value: the view would print its repr raw
    return value


def rule_note(expectation: Any) -> Optional[str]:
    """The rule's description, plus the constraint that also enforces it (``meta.enforced_by``)."""
    description = expectation.description
    enforced_by = (expectation.meta or {}).get("enforced_by")
    if description and enforced_by:
        return f"{description} (also enforced by constraint {enforced_by})"
    return description


def sentence_and_description(sentence_fn: Callable) -> Callable:
    """A custom rule's sentence renderer that adds the rule's description on a second line."""

    def render(
        configuration: Any = None, result: Any = None, runtime_configuration: Optional[dict] = None, **kwargs: Any
    ) -> list:
        blocks = sentence_fn(
            configuration=configuration, result=result, runtime_configuration=runtime_configuration, **kwargs
        )
        config = configuration if configuration is not None else result.expectation_config
        description = rule_note(config.to_domain_obj())
        if not description or not blocks or not isinstance(blocks[0], RenderedStringTemplateContent):
            return blocks
        template = dict(blocks[0].string_template)
        template["template"] = template["template"] + "\n$" + DESCRIPTION_PARAM
        template["params"] = {**(template.get("params") or {}), DESCRIPTION_PARAM: description}
        styling = dict(template.get("styling") or {})
        styling["params"] = {**(styling.get("params") or {}), DESCRIPTION_PARAM: {"classes": ["text-muted"]}}
        template["styling"] = styling
        blocks[0].string_template = template
        return blocks

    return render


def _is_ours(expectation: Any) -> bool:
    return type(expectation).__module__.startswith("ytempire_dq.")


if TYPE_CHECKING:  # for the type checker, the mixin is a ContentBlockRenderer (so @override is checked)
    from great_expectations.render.renderer.content_block.content_block import ContentBlockRenderer as _MixinBase
else:
    _MixinBase = object


class _RuleRendering(_MixinBase):
    """What both pages share: which function renders an expectation that has a description."""

    @classmethod
    @override
    def _get_content_block_fn_from_expectation_description(cls, expectation_config: Any) -> Optional[Callable]:
        expectation = expectation_config.to_domain_obj()
        if not expectation.description:
            return None
        if _is_ours(expectation):
            impl = compat.registered_renderer(expectation_config.type, LegacyRendererType.PRESCRIPTIVE)
            if impl:
                return sentence_and_description(impl[1])
        return cls._render_expectation_description

    @classmethod
    @override
    def _render_expectation_description(cls, configuration: Any, runtime_configuration: dict, **kwargs: Any) -> list:
        return [description_block(rule_note(configuration.to_domain_obj()), runtime_configuration)]


class RuleBulletListContentBlockRenderer(_RuleRendering, ExpectationSuiteBulletListContentBlockRenderer):
    """The suite page's list of rules (``expectations/<suite>.html``)."""


class RuleValidationResultsTableContentBlockRenderer(_RuleRendering, ValidationResultsTableContentBlockRenderer):
    """The validation page's table of results; every data value in a row is shown as text."""

    @classmethod
    @override
    def _get_content_block_fn(cls, expectation_type: str, expectation_config: Any = None) -> Optional[Callable]:
        row_fn = super()._get_content_block_fn(expectation_type=expectation_type, expectation_config=expectation_config)
        if row_fn is None:  # pragma: no cover - GX always returns its row generator
            return None

        def escaped_row_fn(*args: Any, **kwargs: Any) -> list:
            rows = as_text(row_fn(*args, **kwargs))
            result = kwargs.get("result")
            if result is not None and rows and rows[0] and isinstance(rows[0][0], RenderedStringTemplateContent):
                rows[0][0] = status_mark(verdict(result), rows[0][0].styling)
            return rows

        return escaped_row_fn


# ---------------------------------------------------------------------------------------------
# names, meta and error texts: escaped before GX renders them


def escaped(value: Any, record: Optional[dict] = None) -> Any:
    """``value`` with every string in it (dict keys too, nested) HTML-escaped, quotes included;
    ``record`` (if given) maps each escaped string that changed to its original."""

    def leaf(item: Any) -> Any:
        if isinstance(item, str):
            out = html.escape(item, quote=True)
            if record is not None and out != item:
                record[out] = item
            return out
        if isinstance(item, RunIdentifier):
            return RunIdentifier(run_name=leaf(item.run_name), run_time=item.run_time)
        return item

    return map_leaves(value, leaf, keys=leaf)


#: Parameters GX's view emits raw (renderer-made HTML): never given an original back.
_RAW_PARAMS = compat.trusted_html_params()


def unescape_params(node: Any, record: dict, seen: Optional[set] = None) -> None:
    """Put the originals back into string-template *parameters* of a rendered document (GX's
    view escapes parameters itself; left escaped, a name would read ``&lt;…``). Only strings this
    module escaped (``record``) are touched; templates and plain strings stay escaped."""
    seen = set() if seen is None else seen
    if id(node) in seen or isinstance(node, (str, int, float, bool, type(None))):
        return
    seen.add(id(node))
    if isinstance(node, dict):
        params = node.get("params") if "template" in node else None
        if isinstance(params, dict):
            for key, value in params.items():
                if isinstance(value, str) and value in record and key not in _RAW_PARAMS:
                    params[key] = record[value]
        children = list(node.values())
    elif isinstance(node, (list, tuple)):
        children = list(node)
    else:
        children = list(getattr(node, "__dict__", {}).values())
    for child in children:
        unescape_params(child, record, seen)


def _escaped_config(config: Any, record: dict) -> Any:
    """A copy of an expectation configuration whose ``meta`` is escaped (the description keeps
    its own escape: GX renders it as a parameter)."""
    config = copy.deepcopy(config)
    config.meta = escaped(dict(config.meta or {}), record)
    return config


def _escaped_tracebacks(exception_info: dict) -> dict:
    """``exception_info`` (flat or keyed by metric id) with its tracebacks escaped: GX uses a
    traceback as a string template (raw) and the message as a parameter (escaped by GX)."""
    if "exception_traceback" in exception_info:
        return {**exception_info, "exception_traceback": escaped(exception_info["exception_traceback"])}
    return {key: _escaped_tracebacks(info) if isinstance(info, dict) else info for key, info in exception_info.items()}


class EscapedValidationResultsPageRenderer(ValidationResultsPageRenderer):
    """The validation page, rendered from a copy whose suite name, ``meta`` (run, batch,
    checkpoint, asset), rule ``meta`` and exception tracebacks are escaped; failed rules (and
    the sections holding them) come first, and the overview names the tables the rules check
    (:mod:`ytempire_dq.docs.verdict`)."""

    @override
    def render(self, validation_results: Any, *args: Any, **kwargs: Any) -> Any:
        record: dict = {}
        vr = copy.deepcopy(validation_results)
        vr.suite_name = escaped(vr.suite_name, record)
        vr.meta = escaped(dict(vr.meta or {}), record)
        for evr in vr.results:
            if evr.expectation_config is not None:
                evr.expectation_config = _escaped_config(evr.expectation_config, record)
            if evr.exception_info:
                evr.exception_info = _escaped_tracebacks(evr.exception_info)
        vr.results = failed_first(vr.results)
        document = super().render(vr, *args, **kwargs)
        unescape_params(document, record)
        mark_overview(document, validation_results)
        return document


class EscapedExpectationSuitePageRenderer(ExpectationSuitePageRenderer):
    """The suite page, rendered from a copy whose name, ``meta`` and rules' ``meta`` are escaped
    (its notes are markdown, which GX's markdown renderer escapes)."""

    @override
    def render(self, expectations: Any, *args: Any, **kwargs: Any) -> Any:
        record: dict = {}
        suite = copy.deepcopy(expectations)
        if isinstance(suite, dict):
            suite["name"] = escaped(suite.get("name"), record)
            suite["meta"] = escaped(suite.get("meta") or {}, record)
            for exp in suite.get("expectations") or []:
                if isinstance(exp, dict):
                    exp["meta"] = escaped(exp.get("meta") or {}, record)
        else:
            suite.name = escaped(suite.name, record)
            suite.meta = escaped(dict(suite.meta or {}), record)
            for exp in suite.expectations:
                exp.meta = escaped(dict(exp.meta or {}), record)
        document = super().render(suite, *args, **kwargs)
        unescape_params(document, record)
        return document
