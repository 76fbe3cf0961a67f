"""A run's state is its own (ytempire_dq.run.state.Run), never a module global.

Two checkpoint runs with different incremental plans, interleaved in one process (two threads,
each held at a barrier until the other has planned, and again until the other is about to
quarantine, so both plans and both snapshots are live at once), each quarantine their own rows:
the incremental run the new day's offending rows, the full run those and the old row's.

And an AST check over the package: no ``global`` statement and no module-level name bound to a
mutable container unless it is an UPPER_CASE constant nothing mutates; it is shown to catch a
synthetic violation.
"""

from __future__ import annotations

import ast
import re
import textwrap
import threading
from pathlib import Path

import pytest

from tests.helpers import analytics_checkpoints, rows
from ytempire_dq.run import checkpoint as run_path
from ytempire_dq.run.checkpoint import run_checkpoint
from ytempire_dq.store import history

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "ytempire_dq"
RULE = "analytics.revenue_non_negative"
NEW_BAD, OLD_BAD = 3, 2


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory, module_env):
    """Two checkpoints of the analytics suite alone: ``inc`` (run with ``--since-last``) and ``whole``."""
    return analytics_checkpoints(
        tmp_path_factory.mktemp("run_state"),
        module_env,
        {"inc": "00000000-0000-4000-8000-000000000000", "whole": "00000000-0000-4000-8000-000000000001"},
    )


def _quarantined_ids(db, run_id: str) -> set[str]:
    keys = rows(db, "SELECT row_key FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", (run_id, RULE))
    return {key["id"] for (key,) in keys}


def test_two_interleaved_runs_quarantine_their_own_rows(gx_dir, module_env, db, monkeypatch):
    # a successful run of `inc` records the watermark its --since-last run starts from
    first = run_checkpoint("inc", config_dir=gx_dir, database_url=module_env)
    assert first.exit_code == 0, first.failed_rules()
    with db.cursor() as cur:  # a new day (yesterday) with defects, and defects planted in old rows
        cur.execute(
            "INSERT INTO analytics (id, video_id, date, views, watch_time_minutes, revenue, subscribers_gained) "
            "SELECT gen_random_uuid(), video_id, current_date - 1, views, watch_time_minutes, revenue, "
            "subscribers_gained FROM analytics WHERE date = current_date - 2"
        )
        cur.execute(
            "UPDATE analytics SET revenue = -0.01 WHERE id IN (SELECT id FROM analytics "
            "WHERE date = current_date - 1 AND revenue = 0 ORDER BY id LIMIT %s) RETURNING id::text",
            (NEW_BAD,),
        )
        new_bad = {r[0] for r in cur.fetchall()}
        cur.execute(
            "UPDATE analytics SET revenue = -0.01 WHERE id IN (SELECT id FROM analytics "
            "WHERE date < current_date - 2 AND revenue = 0 ORDER BY id LIMIT %s) RETURNING id::text",
            (OLD_BAD,),
        )
        old_bad = {r[0] for r in cur.fetchall()}
    assert len(new_bad) == NEW_BAD and len(old_bad) == OLD_BAD

    # both runs planned and holding their snapshots before either validates, and both validated
    # before either quarantines: a plan or snapshot kept per process would be the other run's
    validating, quarantining = threading.Barrier(2, timeout=300), threading.Barrier(2, timeout=300)
    validate, record = run_path._validate, history.record_run

    def validate_together(vd, checkpoint, run):
        validating.wait()
        return validate(vd, checkpoint, run)

    def record_together(report, ctx, vds, run):
        quarantining.wait()
        return record(report, ctx, vds, run)

    # GX's get_context is not safe in two threads at once (the concurrent runner, too, opens its
    # contexts in one thread): the two runs open theirs one after the other
    opening, open_context = threading.Lock(), run_path.open_context

    def open_one_at_a_time(*args, **kwargs):
        with opening:
            return open_context(*args, **kwargs)

    monkeypatch.setattr(run_path, "open_context", open_one_at_a_time)
    monkeypatch.setattr(run_path, "_validate", validate_together)
    monkeypatch.setattr(history, "record_run", record_together)
    reports, errors = {}, []

    def run(name: str, **flags) -> None:
        try:
            reports[name] = run_checkpoint(name, config_dir=gx_dir, database_url=module_env, **flags)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            validating.abort()
            quarantining.abort()

    threads = [
        threading.Thread(target=run, args=("inc",), kwargs={"since_last": True}),
        threading.Thread(target=run, args=("whole",)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    inc, whole = reports["inc"], reports["whole"]

    assert inc.scan["mode"] == "incremental" and whole.scan["mode"] == "full"
    assert inc.snapshot["id"] != whole.snapshot["id"]
    assert inc.rule(RULE).unexpected_count == NEW_BAD
    assert whole.rule(RULE).unexpected_count == NEW_BAD + OLD_BAD
    assert _quarantined_ids(db, inc.run_id) == new_bad  # the rows its plan judged: the new day's
    assert _quarantined_ids(db, whole.run_id) == new_bad | old_bad  # every row, the old ones too


# ---------------------------------------------------------------------------------------------
# no module-level mutable run state

#: Calls that make a mutable container (or per-thread/per-context state).
CONTAINER_FACTORIES = {
    "dict",
    "list",
    "set",
    "bytearray",
    "defaultdict",
    "OrderedDict",
    "Counter",
    "deque",
    "ChainMap",
    "WeakKeyDictionary",
    "WeakValueDictionary",
    "WeakSet",
    "local",  # threading.local
    "ContextVar",
}
#: Methods that change a container in place.
MUTATORS = {
    "append",
    "appendleft",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "clear",
    "extend",
    "extendleft",
    "insert",
    "remove",
    "discard",
    "sort",
    "reverse",
}
#: ``(module path in the package, name)`` allowed anyway, each with its reason. The GX boundary's
#: reference-counted patch of a GX class (``gx/fast_hooks.configuration_built_once_per_rule``) is
#: process-wide by nature (it patches a class) and holds no run's data: the count of runs inside
#: it and GX's own methods to restore.
ALLOWED = {
    ("gx/fast_hooks.py", "_KWARGS_USERS"),
    ("gx/fast_hooks.py", "_GX_KWARGS"),
}
CONSTANT = re.compile(r"_*[A-Z][A-Z0-9_]*")


def _makes_container(value: ast.expr) -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        return name in CONTAINER_FACTORIES
    return False


def _names(target: ast.expr):
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _names(element)


def _module_statements(body: list[ast.stmt]):
    """The statements run at import: the module's, including those inside top-level if/try/with."""
    for stmt in body:
        if isinstance(stmt, (ast.If, ast.Try, ast.With)):
            yield from _module_statements(stmt.body)
            yield from _module_statements(getattr(stmt, "orelse", []))
            yield from _module_statements(getattr(stmt, "finalbody", []))
            for handler in getattr(stmt, "handlers", []):
                yield from _module_statements(handler.body)
        else:
            yield stmt


def _container_target(node: ast.expr) -> str | None:
    """The name (or attribute name: ``module.NAME``) whose container ``node`` changes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def module_state(sources: dict[str, str]) -> list[str]:
    """Violations in ``{module path: source}``: ``global`` statements, and module-level names bound
    to a mutable container that are not UPPER_CASE constants or are mutated anywhere in the sources
    (subscript assignment or ``del``, augmented assignment, an in-place method)."""
    found, bound, mutated = [], {}, set()
    for path, source in sources.items():
        tree = ast.parse(source)
        for stmt in _module_statements(tree.body):
            if isinstance(stmt, ast.Assign) and _makes_container(stmt.value):
                targets = [n for t in stmt.targets for n in _names(t)]
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and _makes_container(stmt.value):
                targets = list(_names(stmt.target))
            else:
                continue
            for name in targets:
                if not (name.startswith("__") and name.endswith("__")):  # __all__
                    bound[(path, name)] = stmt.lineno
        for node in ast.walk(tree):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                found.append(f"{path}:{node.lineno}: {type(node).__name__.lower()} {', '.join(node.names)}")
            elif isinstance(node, (ast.Assign, ast.Delete, ast.AugAssign)):
                targets = [node.target] if isinstance(node, ast.AugAssign) else node.targets
                for target in targets:
                    if isinstance(target, ast.Subscript):
                        mutated.add(_container_target(target.value))
                    elif isinstance(node, ast.AugAssign):
                        mutated.add(_container_target(target))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                mutated.add(_container_target(node.func.value))
    for (path, name), line in sorted(bound.items()):
        if (path, name) in ALLOWED:
            continue
        if not CONSTANT.fullmatch(name):
            found.append(f"{path}:{line}: module-level {name} is a mutable container")
        elif name in mutated:
            found.append(f"{path}:{line}: module-level {name} is mutated")
    return found


def test_no_module_level_mutable_run_state():
    """What a run reads and writes travels in its ``Run`` (``run/state.py``) or objects it owns.
    Allowed: UPPER_CASE constants nothing mutates, and caches of *pure* functions
    (``functools.cache``/``lru_cache``: their result depends only on their arguments, e.g. a
    file's parse keyed by its path and modification stamp); a cache keyed by what varies from run
    to run (an engine, a plan, a snapshot) is run state and is not allowed."""
    sources = {str(p.relative_to(PACKAGE)): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}
    assert "run/state.py" in sources and len(sources) > 40  # the package was read
    assert module_state(sources) == []
    assert len(ALLOWED) <= 2


def test_the_checker_finds_module_state():
    synthetic = {
        "a.py": textwrap.dedent(
            """
            import threading, weakref
            from collections import defaultdict

            _active = []                       # lower case: run state
            _BY_ENGINE = weakref.WeakKeyDictionary()   # UPPER, but mutated below
            LIMITS = {"free": 1}               # a constant nobody changes: fine
            _local = threading.local()
            counts = defaultdict(int)
            __all__ = ["x"]

            def push(plan):
                _active.append(plan)

            def remember(engine, pk):
                _BY_ENGINE[engine] = pk

            def bump():
                global total
                total = 1
            """
        ),
        "b.py": "import a\n\ndef forget():\n    a._BY_ENGINE.clear()\n",
    }
    found = module_state(synthetic)
    assert any("a.py:5: module-level _active is a mutable container" in f for f in found), found
    assert any("a.py:6: module-level _BY_ENGINE is mutated" in f for f in found), found
    assert any("_local is a mutable container" in f for f in found), found
    assert any("counts is a mutable container" in f for f in found), found
    assert any("global total" in f for f in found), found
    assert not any("LIMITS" in f or "__all__" in f for f in found), found
    assert len(found) == 5, found


def test_a_cache_rule_reads_postgresql_at_the_snapshot_its_batch_carries(monkeypatch):
    """The run's snapshot reaches the cross-store rules with their batch (the Redis snapshot's
    DataFrame), through GX's row_condition filtering, not through a process global."""
    import datetime as dt

    import great_expectations as gx
    import pandas as pd

    from ytempire_dq.expectations import ExpectColumnValuesToReferenceActiveRows
    from ytempire_dq.expectations._cross_store import CrossStoreExpectation
    from ytempire_dq.run.snapshot import Snapshot, for_batch

    seen = []
    monkeypatch.setattr(CrossStoreExpectation, "fetch", lambda self, values, snap=None: seen.append(snap) or {})
    ctx = gx.get_context(mode="ephemeral")
    batch_definition = (
        ctx.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("w")
    )
    rule = ExpectColumnValuesToReferenceActiveRows(
        column="user_id", table="users", row_condition='kind=="session"', condition_parser="pandas"
    )
    frame = pd.DataFrame(
        {"key": ["k1", "k2", "k3"], "user_id": ["u1", "u2", "u3"], "kind": ["session", "session", "x"]}
    )
    snap = Snapshot("00000003-0000002A-1", dt.datetime.now(dt.timezone.utc), "700:700:")
    batch_definition.get_batch(batch_parameters={"dataframe": for_batch(frame, snap)}).validate(rule)
    plain = pd.DataFrame({"key": ["k1"], "user_id": ["u1"], "kind": ["session"]})  # outside a run: none
    batch_definition.get_batch(batch_parameters={"dataframe": plain}).validate(rule)
    assert seen == [snap, None]


def test_validation_runs_with_what_existed_before_it_frozen_for_the_collector(gx_dir, module_env):
    """Python's full collections skip the objects that exist when validation starts (GX's modules,
    the Data Context) while it runs, and only then: they are collected again once the run ends."""
    import gc

    frozen = []
    report = run_checkpoint(
        "whole", config_dir=gx_dir, database_url=module_env, progress=lambda _: frozen.append(gc.get_freeze_count())
    )
    assert report.exit_code in (0, 1), report.failed_rules()
    assert frozen and min(frozen) > 10_000
    assert gc.get_freeze_count() == 0
