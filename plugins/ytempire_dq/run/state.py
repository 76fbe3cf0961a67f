"""One checkpoint run's state, in one explicit value: :class:`Run`.

:func:`ytempire_dq.run.checkpoint.run_checkpoint` makes one per run and hands it to what needs it:
validating each definition (the incremental plan's scoped rules, the captured row keys, the
run's snapshot on every engine), the history and the quarantine. Nothing about a run is kept in
a module global, so two runs in one process (two threads, or a test driving two runs' steps
alternately) never see each other's snapshot, plan or keys (``tests/test_run_state.py``).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ytempire_dq.run.incremental import Plan
    from ytempire_dq.run.snapshot import Snapshot
    from ytempire_dq.store.baselines import Baselines
    from ytempire_dq.store.row_keys import Captured


def _captured() -> Captured:
    from ytempire_dq.store.row_keys import Captured  # SQLAlchemy: not for commands that only import the run path

    return Captured()


@dataclass
class Run:
    """What belongs to one run of checkpoint ``checkpoint``.

    - ``run_id``: GX's ``RunIdentifier`` (``run_name``: ``<checkpoint>-<UTC time>``);
    - ``source_url``: the checked database (the checks' URL); ``store_url``: where the run's
      history, metrics and quarantine are written (unless set, ``config.store_url`` of
      ``source_url``, filled in when the history is written), the slot the results store uses;
    - ``source``: the checked database's name in the store (:func:`ytempire_dq.config.source_name`);
      ``baselines``: what the volume/drift rules learn from (the store, for this source: one
      connection for the run, :mod:`ytempire_dq.store.baselines`);
    - ``snapshot``: the run's one database instant (:mod:`ytempire_dq.run.snapshot`), held while the
      run's ``scope`` is open; ``plan``: which rows its rules scan (:mod:`ytempire_dq.run.incremental`);
    - ``captured``: what validating read that the quarantine reuses (row keys, validators, primary
      keys: :class:`~ytempire_dq.store.row_keys.Captured`);
    - ``durations`` (seconds per validation definition), ``timings`` (per phase), ``params``
      (batch parameters per validation definition: the Redis snapshot's DataFrame).
    """

    checkpoint: str
    config_dir: Path
    source_url: str
    store_url: str | None = None
    source: str | None = None
    baselines: Baselines | None = None
    run_id: Any = None
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    captured: Captured = field(default_factory=_captured)
    durations: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    params: dict[str, dict] = field(default_factory=dict)
    #: Closed when the run ends: the exporter's transaction, the engines' listeners.
    scope: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    _attached: list = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # concurrent definitions attach

    @property
    def run_name(self) -> str | None:
        return getattr(self.run_id, "run_name", None)

    def scoped(self, vd: Any, expectations: list) -> list:
        """``expectations`` of ``vd`` as this run judges them (:func:`ytempire_dq.run.incremental.scoped`)."""
        from ytempire_dq.run.incremental import scoped

        return scoped(vd, expectations, self.plan)

    def attach(self, engine: Any) -> None:
        """Every transaction of ``engine`` (a PostgreSQL SQLAlchemy engine reading the checked
        database) starts on the run's snapshot, and every statement it sends is checked as sent
        (:func:`ytempire_dq.sql_guard.guard`); both undone when the run ends. Once per engine."""
        from ytempire_dq.run.snapshot import attach_engine
        from ytempire_dq.sql_guard import guard

        with self._lock:
            if engine is None or any(e is engine for e in self._attached):
                return
            self._attached.append(engine)
            self.scope.callback(self._attached.remove, engine)
            self.scope.callback(guard(engine))
            if self.snapshot is not None:
                self.scope.callback(attach_engine(engine, self.snapshot))
