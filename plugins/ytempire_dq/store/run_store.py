"""The results store as one run sees it: where it is, the name of the source the run checks, one
connection. What reads the store while GX validates or runs the actions asks :func:`current`:

- the volume/drift rules read the values their band learns from (for the run's own source);
- the notify action reads the previous run's outcomes;
- the validation-results store stamps each result with the source (:func:`running_source`);
- the seasonal rules read the daily values their earlier runs measured (:func:`running`, inside a
  run only: outside one they measure their whole window).

Those run inside GX with no handle on the run. The run makes its :class:`RunStore` current while
it validates and runs its actions (:meth:`RunStore.active`, a context variable: each validation
definition's thread sees its own run's). Outside a run (a rule validated by GX on its own) the
store and the source come from the environment, as a run would take them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ytempire_dq import config

log = logging.getLogger(__name__)

DAILY_VALUES_SQL = (
    "SELECT day, segment, relation, rows, numerator, denominator FROM dq.daily_values "
    "WHERE source = %s AND metric = %s ORDER BY day, segment"
)

_CURRENT: contextvars.ContextVar[RunStore | None] = contextvars.ContextVar("ytdq_run_store", default=None)


@dataclass
class RunStore:
    """The results store ``store_url`` read for the source named ``source`` (one connection, opened
    on first use and kept until :meth:`close` unless ``keep`` is False)."""

    store_url: str
    source: str
    keep: bool = True
    #: The checkpoint the run runs, when a run made this reader (what "its earlier run" is of).
    checkpoint: str | None = None
    #: The time the run's data is as of (its snapshot's), once taken: what the rules that judge age
    #: fall back on where a transaction did not carry it (``run.snapshot.as_of_clock``).
    as_of: Any = None
    #: What a rule read once in this run and asks again (GX builds a rule's query many times).
    memo: dict = field(default_factory=dict, repr=False)
    _conn: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def values(self, sql: str) -> list[float]:
        """The array of numbers the one-row SELECT ``sql`` returns (empty when NULL)."""
        rows = self.rows(sql)
        return [float(v) for v in (rows[0][0] if rows else None) or []]

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        """The rows the SELECT ``sql`` returns (psycopg2 ``params``)."""

        def fetch(conn: Any) -> list[tuple]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()

        return self.reading(fetch)

    def reading(self, read: Callable[[Any], Any]) -> Any:
        """``read(connection)`` on the store's one DB-API connection, its transaction rolled back after."""
        from ytempire_dq.db.connect import connect

        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.store_url, connect_timeout=5)
            try:
                return read(self._conn)
            finally:
                self._conn.rollback()
                if not self.keep:
                    self._close()

    def last_failures(self) -> frozenset[str] | None:
        """The rules that failed or could not run in the latest earlier run of the running
        :attr:`checkpoint` on this source, read once per run; None when the store has no such run or
        cannot say (then every rule is taken as failing)."""
        from ytempire_dq.store.streaks import last_outcomes

        def read() -> frozenset[str] | None:
            if self.checkpoint is None:
                return None
            try:
                outcomes = self.reading(lambda conn: last_outcomes(conn, self.checkpoint, self.source))
            except Exception as exc:  # noqa: BLE001 - as on a first run
                log.warning("no earlier run read from the results store: %s", config.one_line(exc, 300))
                return None
            return None if outcomes is None else frozenset(rule for rule, ok in outcomes.items() if not ok)

        return self.remembered(("last_failures",), read)

    def daily_values(self, metric: str) -> list[tuple]:
        """``[(day, segment, relation, rows, numerator, denominator)]`` of ``metric``, oldest first: the days
        earlier runs of this source measured (``dq.daily_values``; written by
        ``store.metrics.record_daily``), read once per run. A store that cannot say (not migrated
        yet, unreachable) keeps nothing: the rule measures its whole window, and the log says why."""

        def read() -> list[tuple]:
            try:
                return self.rows(DAILY_VALUES_SQL, (self.source, metric))
            except Exception as exc:  # noqa: BLE001 - the rule measures every day instead
                log.warning("no daily values read from the results store for %r: %s", metric, config.one_line(exc, 300))
                return []

        return self.remembered(("daily_values", metric), read)

    def remembered(self, key: Any, read: Any) -> Any:
        """``read()``, once per run for ``key``."""
        with self._lock:
            if key in self.memo:
                return self.memo[key]
        value = read()
        with self._lock:
            return self.memo.setdefault(key, value)

    @contextlib.contextmanager
    def active(self) -> Iterator[RunStore]:
        """This reader is :func:`current` in this thread (and context) while the block runs."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def running() -> RunStore | None:
    """The running checkpoint's reader; None outside a run."""
    return _CURRENT.get()


def running_as_of() -> Any:
    """The running checkpoint's "as of" time (a ``datetime``); None outside a run or before its snapshot."""
    found = _CURRENT.get()
    return found.as_of if found is not None else None


def running_source() -> str | None:
    """The source the running checkpoint checks (what its stored results are stamped with); None
    outside a run."""
    found = _CURRENT.get()
    return found.source if found is not None else None


def current() -> RunStore:
    """The running checkpoint's reader; outside a run, one for ``YTDQ_STORE_URL`` (else the checked
    database) and the source ``DATABASE_URL`` names, closed after each read."""
    found = _CURRENT.get()
    if found is not None:
        return found
    checks = config.database_url()
    return RunStore(config.store_url(checks), config.source_name(checks), keep=False)
