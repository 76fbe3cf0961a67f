"""Two libraries GX imports at its own import that no rule of this project uses: ``scipy.stats``
and ``altair``, for GX's KL-divergence expectation and its charts alone. Together they are about
0.9 s of the ``great_expectations`` import (2.6 → 1.7 s on the benchmark machine), which every
``ytdq`` command that opens a context pays. :func:`defer` puts a stand-in module in their place,
so the import costs nothing, and the stand-in imports the real module the first time anything is
read from it: a suite that uses the KL-divergence expectation still gets real ``scipy.stats``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

#: Imported by GX's ``expect_column_kl_divergence_to_be_less_than`` and its KS-test metrics only,
#: and read there only inside functions (``stats.entropy``, ``alt.Chart``).
DEFERRED = ("scipy.stats", "altair")


def defer(names: tuple[str, ...] = DEFERRED) -> None:
    """Stand-ins for ``names`` that are not imported yet; called by the command line before GX."""
    for name in names:
        if name not in sys.modules and (spec := importlib.util.find_spec(name)) is not None:
            sys.modules[name] = _stand_in(name, spec.origin)


def _stand_in(name: str, origin: str | None) -> types.ModuleType:
    """A module that, on the first attribute read, replaces itself with the real ``name`` in
    ``sys.modules`` and answers from it (then and on every later read through old references).
    It has the real one's ``__file__``: ``inspect.getmodule``, which GX calls through
    ``inspect.stack()``, reads every module's file and would otherwise import it."""
    stand_in = types.ModuleType(name, f"{name}: imported on first use (ytempire_dq.gx.deferred_imports)")
    stand_in.__file__ = origin

    def __getattr__(attr: str):
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)

    stand_in.__getattr__ = __getattr__
    return stand_in
