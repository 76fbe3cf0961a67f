"""The seed data (ytempire_dq.fixtures: factory-boy, Faker) is an optional extra: the checks path
never imports it, and the commands that need it say how to install it when it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import console_script, copy_project

#: factory-boy and Faker made unimportable (``sys.modules[name] = None`` makes ``import name`` raise
#: and ``find_spec`` answer None, as when the extra is not installed).
_BLOCK = 'for name in ("factory", "faker"):\n    sys.modules[name] = None'
#: Every module of factory-boy, Faker or ytempire_dq.fixtures that was imported.
_LOADED = (
    "sorted(m for m in sys.modules if sys.modules[m] is not None"
    " and (m.split('.')[0] in ('factory', 'faker') or m.startswith('ytempire_dq.fixtures')))"
)


def _probe(*args: str, prog: str = "ytdq", block: bool = False) -> tuple[dict, str]:
    out, stderr = console_script(list(args), prog=prog, setup=_BLOCK if block else "", report=_LOADED)
    return {"code": out["code"], "loaded": out["report"]}, stderr


def test_importing_the_checks_path_imports_no_fixtures():
    code = (
        "import sys, ytempire_dq, ytempire_dq.cli, ytempire_dq.run.checkpoint, ytempire_dq.run.validation, "
        "ytempire_dq.store.history, ytempire_dq.store.quarantine, ytempire_dq.docs.site, ytempire_dq.actions\n"
        "from ytempire_dq.gx.context import register_plugins\n"
        "register_plugins()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('factory', 'faker') "
        "or m.startswith('ytempire_dq.fixtures')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("prog", ["ytdq", "great_expectations"])
def test_a_checkpoint_runs_without_the_extra(module_env, tmp_path, prog):
    gx_dir = copy_project(tmp_path)
    out, stderr = _probe("checkpoint", "run", "critical", "--config", str(gx_dir), prog=prog, block=True)
    assert out == {"code": 0, "loaded": []}, stderr  # a migrated, empty database: every rule passes


@pytest.mark.parametrize("command", [["db", "seed", "--users", "1"], ["cache", "seed"], ["demo"]])
def test_seed_commands_without_the_extra_say_how_to_install_it(command):
    out, stderr = _probe(*command, block=True)
    assert out["code"] == 2, stderr
    assert "ytempire-dq[fixtures]" in stderr
    assert "factory-boy, Faker not installed" in stderr
    assert "Traceback" not in stderr


def test_the_extra_names_what_is_installed_here():
    from ytempire_dq import fixtures

    assert fixtures.missing() == []
    assert set(fixtures.EXTRA.values()) == {"factory-boy", "Faker"}


def test_shared_faker_is_reproducible_under_factory_boys_seed():
    import inspect

    import factory
    import factory.random

    from ytempire_dq.fixtures.factories import shared_faker

    # factory_boy's internal, which shared_faker relies on: fails here when an upgrade renames it
    assert list(inspect.signature(factory.Faker._get_faker).parameters) == ["locale"]
    factory.random.reseed_random(7)
    first = shared_faker().user_name()
    factory.random.reseed_random(7)
    assert shared_faker().user_name() == first
