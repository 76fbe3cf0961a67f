"""What GX imports and no rule uses (ytempire_dq.gx.deferred_imports): a checkpoint run from the
command line never loads it, and anything that does use it gets the real module."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.helpers import console_script, copy_project

DEFERRED_PARTS = ["altair.vegalite", "scipy.stats._stats_py"]  # what each import would load


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("prog", ["ytdq", "great_expectations"])
def test_a_checkpoint_run_does_not_load_what_no_rule_uses(module_env, tmp_path, prog):
    gx_dir = copy_project(tmp_path)
    args = ["checkpoint", "run", "critical", "--config", str(gx_dir)]
    report = f"[sorted(m for m in {DEFERRED_PARTS!r} if m in sys.modules), 'great_expectations.core' in sys.modules]"
    out, stderr = console_script(args, prog=prog, report=report)
    assert out == {"code": 0, "report": [[], True]}, stderr  # GX ran the rules; scipy.stats and altair stayed out


def test_what_is_deferred_is_the_real_module_on_first_use():
    code = f"""
import inspect, json, math, sys
from ytempire_dq.gx import deferred_imports
deferred_imports.defer()
import great_expectations  # its KL-divergence expectation imports both
inspect.stack()  # inspect.getmodule reads every module's __file__: no import for it
before = sorted(m for m in {DEFERRED_PARTS!r} if m in sys.modules)
from scipy import stats
entropy = stats.entropy([0.5, 0.5], [0.9, 0.1])
import altair
chart = altair.Chart.__name__
after = sorted(m for m in {DEFERRED_PARTS!r} if m in sys.modules)
real = hasattr(sys.modules["scipy.stats"], "__path__") and hasattr(sys.modules["altair"], "__path__")
print(json.dumps([before, round(entropy, 9), chart, after, real]))
"""
    before, entropy, chart, after, real = json.loads(_python(code))
    assert before == []
    assert entropy == round(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1), 9)
    assert (chart, after, real) == ("Chart", DEFERRED_PARTS, True)


def test_a_module_already_imported_is_left_as_it_is():
    code = """
import json, sys
import scipy.stats
real = sys.modules["scipy.stats"]
from ytempire_dq.gx import deferred_imports
deferred_imports.defer()
print(json.dumps([sys.modules["scipy.stats"] is real, "on first use" in sys.modules["altair"].__doc__]))
"""
    assert json.loads(_python(code)) == [True, True]  # altair, not imported yet, is deferred
