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

``gx/great_expectations.yml`` names the two renderer classes under
``data_docs_sites.local_site.site_section_builders`` (GX's documented place for them); nothing
is patched in GX.
"""

from __future__ import annotations

import html
from typing import Any, Callable, Optional

from great_expectations.expectations.registry import get_renderer_impl
from great_expectations.render import (
    LegacyRendererType,
    RenderedStringTemplateContent,
    RenderedTableContent,
)
from great_expectations.render.renderer.content_block import (
    ExpectationSuiteBulletListContentBlockRenderer,
    ValidationResultsTableContentBlockRenderer,
)

#: The parameter that carries the description under a custom rule's sentence.
DESCRIPTION_PARAM = "rule_description"


def description_block(description: str, runtime_configuration: Optional[dict] = None) -> RenderedStringTemplateContent:
    """GX's description block, with the text as an (escaped) parameter instead of the template."""
    return RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={"template": "$description", "params": {"description": description}},
        styling=(runtime_configuration or {}).get("styling", {}),
    )


def as_text(value: Any) -> Any:
    """``value`` with every plain string in it (lists, table cells) HTML-escaped; other blocks as they are.

    String templates are left alone: GX escapes their parameters and their templates are ours.
    """
    if isinstance(value, str):
        return html.escape(value, quote=False)
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

    def render(configuration: Any = None, result: Any = None, runtime_configuration: Optional[dict] = None,
               **kwargs: Any) -> list:
        blocks = sentence_fn(configuration=configuration, result=result,
                             runtime_configuration=runtime_configuration, **kwargs)
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


class _RuleRendering:
    """What both pages share: which function renders an expectation that has a description."""

    @classmethod
    def _get_content_block_fn_from_expectation_description(cls, expectation_config: Any) -> Optional[Callable]:
        expectation = expectation_config.to_domain_obj()
        if not expectation.description:
            return None
        if _is_ours(expectation):
            impl = get_renderer_impl(object_name=expectation_config.type, renderer_type=LegacyRendererType.PRESCRIPTIVE)
            if impl:
                return sentence_and_description(impl[1])
        return cls._render_expectation_description

    @classmethod
    def _render_expectation_description(cls, configuration: Any, runtime_configuration: dict, **kwargs: Any) -> list:
        return [description_block(rule_note(configuration.to_domain_obj()), runtime_configuration)]


class RuleBulletListContentBlockRenderer(_RuleRendering, ExpectationSuiteBulletListContentBlockRenderer):
    """The suite page's list of rules (``expectations/<suite>.html``)."""


class RuleValidationResultsTableContentBlockRenderer(_RuleRendering, ValidationResultsTableContentBlockRenderer):
    """The validation page's table of results; every data value in a row is shown as text."""

    @classmethod
    def _get_content_block_fn(cls, expectation_type: str, expectation_config: Any = None) -> Optional[Callable]:
        row_fn = super()._get_content_block_fn(expectation_type=expectation_type, expectation_config=expectation_config)
        if row_fn is None:  # pragma: no cover - GX always returns its row generator
            return None

        def escaped_row_fn(*args: Any, **kwargs: Any) -> list:
            return as_text(row_fn(*args, **kwargs))

        return escaped_row_fn
