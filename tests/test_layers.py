"""The layers of docs/concepts.md, in code: a module imports only its own layer or the layers
below it (imports inside functions count: a lazy import hides the dependency from Python, not
from the next reader)."""

from __future__ import annotations

from tests.test_import_cycles import _graph

#: (layer, the module-name prefixes in it), bottom first; a longer prefix wins over a shorter one.
LAYERS = [
    ("leaves", ["ytempire_dq", "ytempire_dq.errors", "ytempire_dq.config", "ytempire_dq.locations"]),
    ("leaves", ["ytempire_dq.pii", "ytempire_dq.values"]),
    ("servers", ["ytempire_dq.db", "ytempire_dq.cache"]),
    # the SQL guard sits with the boundary: it reproduces GX's {batch} text and sets the data sources' sessions
    ("gx", ["ytempire_dq.gx", "ytempire_dq.sql_guard"]),
    ("rules", ["ytempire_dq.expectations", "ytempire_dq.rules"]),
    # what the expectations themselves use: the run's snapshot (a cross-store rule reads PostgreSQL in
    # it), row keys (how a rule's offending rows are named) and the band rules' baselines (read from
    # the results store); the rest of run/ and store/ is above
    (
        "rules",
        [
            "ytempire_dq.run.snapshot",
            "ytempire_dq.store.row_keys",
            "ytempire_dq.store.run_store",
            "ytempire_dq.store.streaks",
        ],
    ),
    ("run parts", ["ytempire_dq.run"]),
    ("books", ["ytempire_dq.store", "ytempire_dq.docs"]),
    ("the run", ["ytempire_dq.run.checkpoint"]),
    # gx.stores: GX plugins its configuration names, like the actions (they read the report and the suite files)
    ("around the run", ["ytempire_dq.actions", "ytempire_dq.gx.stores", "ytempire_dq.ops", "ytempire_dq.fixtures"]),
    ("around the run", ["ytempire_dq.gx_stores", "ytempire_dq.docs_site", "ytempire_dq.docs_assets"]),
    ("around the run", ["ytempire_dq.data_docs"]),  # the old paths of GX plugins, kept for one release
    ("commands", ["ytempire_dq.cli"]),
]


#: A layer's rank: its first line's place (a layer may take several lines).
RANK = {name: rank for rank, name in enumerate(dict.fromkeys(name for name, _ in LAYERS))}


def layer_name(module: str) -> str:
    best, found = "", None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, found = prefix, name
    assert found is not None, f"{module} is in no layer: add it to LAYERS and to docs/concepts.md"
    return found


def layer_of(module: str) -> int:
    return RANK[layer_name(module)]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({layer_name(a)}) imports {b} ({layer_name(b)})"
        for a, targets in graph.items()
        for b in targets
        if layer_of(b) > layer_of(a)
    )


def test_the_checker_finds_an_upward_import():
    graph = {"ytempire_dq.config": {"ytempire_dq.cli.app"}, "ytempire_dq.cli.app": {"ytempire_dq.config"}}
    assert upward_imports(graph) == ["ytempire_dq.config (leaves) imports ytempire_dq.cli.app (commands)"]


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(_graph()) == []
