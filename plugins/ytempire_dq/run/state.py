"""One checkpoint run's state, in one explicit value: :class:`Run`.

:func:`ytempire_dq.run.checkpoint.run_checkpoint` makes one per run and hands it to what needs it:
validating each definition (the incremental plan's scoped rules, the captured row keys, the
run's snapshot on every engine), the history and the quarantine. Nothing about a run is kept in
a module global, so two runs in one process (two threads, or a test driving two runs' steps
alternately) never see each other's snapshot, plan or keys (``tests/test_run_state.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ytempire_dq.run.incremental import Plan
    from ytempire_dq.run.snapshot import Snapshot
    from ytempire_dq.store.row_keys import Captured
    from ytempire_dq.store.run_store import RunStore


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
      ``store``: the results store as the run reads it, for this source, on one connection (the
      band rules' baselines, the notifier's previous run: :mod:`ytempire_dq.store.run_store`);
    - ``snapshot``: the run's one database instant (:mod:`ytempire_dq.run.snapshot`), held while the
      run's ``scope`` is open (on a standby a recovery conflict can end it: :meth:`renew_snapshot`);
      ``as_of``: the time the run's data is as of (the first snapshot's);
      ``plan``: which rows its rules scan (:mod:`ytempire_dq.run.incremental`);
    - ``retries``: the rules retried after a recovery conflict (:mod:`ytempire_dq.run.standby`);
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
    store: RunStore | None = None
    run_id: Any = None
    snapshot: Snapshot | None = None
    as_of: dt.datetime | None = None
    retries: list[dict] = field(default_factory=list)
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
            if self.snapshot is not None:  # the run's current snapshot, renewed or not
                self.scope.callback(attach_engine(engine, lambda: self.snapshot))

    def renew_snapshot(self) -> bool:
        """Take a new snapshot for the rest of the run when the run's can no longer be imported
        (a recovery conflict on a standby ended its exporter); True when it did."""
        from ytempire_dq.run.snapshot import importable, take

        with self._lock:
            if self.snapshot is None or importable(self.source_url, self.snapshot):
                return False
            old = self.snapshot
            self.snapshot = self.scope.enter_context(take(self.source_url))
            log.warning(
                "run snapshot %s was lost (recovery conflict?): the run goes on on %s", old.id, self.snapshot.id
            )
            return True
