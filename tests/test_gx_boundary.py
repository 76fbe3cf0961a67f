"""One GX boundary: outside ``ytempire_dq.gx`` the package imports only GX's public API and the
documented extension API its plugins must build on; every other ``great_expectations`` module (GX
internals, which only the version pin protects) is reached through ``ytempire_dq.gx`` (``compat``,
``validator``, ``fast_hooks``, ``stores``, ``context``), whose uses ``tests/test_gx_compat.py`` checks."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "ytempire_dq"
BOUNDARY = PACKAGE / "gx"

#: GX's public namespaces (what its documentation imports): always allowed.
PUBLIC = {
    "great_expectations": "the public top level: get_context, ExpectationSuite, RunIdentifier, __version__",
    "great_expectations.core": "public result and suite classes (ExpectationSuite, ExpectationValidationResult)",
    "great_expectations.expectations": "the public expectation namespace (gxe.*, UnexpectedRowsExpectation)",
    "great_expectations.checkpoint": "the public checkpoint namespace (ValidationAction, CheckpointResult)",
    "great_expectations.exceptions": "GX's exception types (gx.exceptions): what a caller catches, e.g. an unknown expectation type",
}

#: The other GX module paths a module outside ``ytempire_dq.gx`` may import: {path: why it is public}.
EXTENSION = {
    # modules that define public (@public_api) classes, imported where GX defines them
    "great_expectations.core.run_identifier": "defines RunIdentifier (@public_api)",
    "great_expectations.core.expectation_validation_result": "defines the validation result classes (@public_api)",
    "great_expectations.checkpoint.actions": "defines ValidationAction, the base of custom actions (@public_api)",
    "great_expectations.checkpoint.checkpoint": "defines CheckpointResult and ActionContext, an action's arguments",
    "great_expectations.data_context.types.resource_identifiers": "the keys stores and site builders hand plugins",
    "great_expectations.expectations.row_conditions": "the row-condition classes GX's API reference documents",
    "great_expectations.expectations.expectation_configuration": "ExpectationConfiguration (API reference)",
    # the documented extension API: base classes custom expectations subclass, and what they declare
    "great_expectations.expectations.expectation": "the custom expectation base classes (Expectation, Column*)",
    "great_expectations.expectations.core.unexpected_rows_expectation": "UnexpectedRowsExpectation, the SQL base",
    "great_expectations.compatibility": "GX's pydantic (v1 API): the type of a custom expectation's fields",
    "great_expectations.core.metric_domain_types": "MetricDomainTypes: a custom expectation's domain type",
    "great_expectations.core.result_format": "ResultFormat: the result_format a custom _validate honours",
    "great_expectations.datasource.fluent.config_str": "ConfigStr: a ${VAR} config field, as data sources use",
    # the documented renderer / Data Docs plugin API (classes a yml `class_name` may name)
    "great_expectations.render": "rendered content types and renderer types (custom renderers return them)",
    "great_expectations.render.renderer.renderer": "the @renderer decorator that registers an expectation's renderer",
    "great_expectations.render.renderer_configuration": "RendererConfiguration, _prescriptive_template's argument",
    "great_expectations.render.renderer.content_block": "content block renderers a site config may replace",
    "great_expectations.render.renderer.content_block.content_block": "ContentBlockRenderer, their base",
    "great_expectations.render.renderer.page_renderer": "page renderers a site config may replace",
    "great_expectations.render.renderer.site_builder": "SiteBuilder / DefaultSiteIndexBuilder a site config names",
    "great_expectations.render.view": "the Jinja page views a site config names",
}
ALLOWED = {**PUBLIC, **EXTENSION}


def _gx_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module path) of every ``great_expectations`` import in a file, wherever it sits
    (top level, inside a function, under ``TYPE_CHECKING``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "great_expectations" or n.startswith("great_expectations.")]
    return sorted(found)


def _outside_boundary() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if BOUNDARY not in p.parents]


def test_only_the_gx_subpackage_imports_gx_internals():
    leaks = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {module}"
        for path in _outside_boundary()
        for line, module in _gx_imports(path)
        if module not in ALLOWED
    ]
    assert leaks == [], "GX internals outside ytempire_dq.gx (wrap them there, or justify in ALLOWED):\n" + "\n".join(
        leaks
    )


def test_every_allowed_path_exists_and_is_used():
    """No stale entry: each path is a module of the installed GX, and each beyond the public
    namespaces is imported by some module outside the boundary."""
    used = {module for path in _outside_boundary() for _, module in _gx_imports(path)}
    for module in ALLOWED:
        importlib.import_module(module)
    assert set(EXTENSION) <= used, sorted(set(EXTENSION) - used)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import great_expectations as gx\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from great_expectations.validator.validator import Validator\n"
        "def f():\n"
        "    import great_expectations.util\n"
        "    from great_expectations.core import ExpectationSuite\n"
        "    from .great_expectations import x\n"
    )
    assert _gx_imports(source) == [
        (1, "great_expectations"),
        (4, "great_expectations.validator.validator"),
        (6, "great_expectations.util"),
        (7, "great_expectations.core"),
    ]


@pytest.mark.parametrize("module", ["great_expectations.validator.validator", "great_expectations.util"])
def test_internals_are_not_allowed(module):
    assert module not in ALLOWED
