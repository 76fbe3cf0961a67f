"""The module paths a GX configuration written before the sub-packages names still load, as the
very classes the new paths give (importing a plugin class twice under two names would register it
twice): kept for one release."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
OLD = {  # new module -> the module path the configuration named before
    "ytempire_dq.gx.stores": "ytempire_dq.gx_stores",
    "ytempire_dq.docs.site": "ytempire_dq.docs_site",
    "ytempire_dq.docs.assets": "ytempire_dq.docs_assets",
    "ytempire_dq.docs.renderers": "ytempire_dq.data_docs",
}


def _named(node) -> list[tuple[str, str]]:
    """Every (module_name, class_name) pair in a parsed yml."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("module_name"), str) and isinstance(node.get("class_name"), str):
            found.append((node["module_name"], node["class_name"]))
        for value in node.values():
            found += _named(value)
    elif isinstance(node, list):
        for value in node:
            found += _named(value)
    return found


PAIRS = sorted(
    {p for p in _named(YAML(typ="safe").load((ROOT / "gx" / "great_expectations.yml").read_text())) if p[0] in OLD}
)


def test_the_configuration_names_the_new_paths():
    assert {module for module, _ in PAIRS} == set(OLD)


@pytest.mark.parametrize(("module", "class_name"), PAIRS)
def test_the_old_path_gives_the_same_class(module, class_name):
    new = getattr(importlib.import_module(module), class_name)
    assert getattr(importlib.import_module(OLD[module]), class_name) is new
