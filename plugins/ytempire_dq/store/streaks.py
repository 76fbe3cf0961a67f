"""Since when a rule fails: its first failure after its last success, read from the run history
(schema ``dq``, :mod:`ytempire_dq.store.history`). One home for the question that ``ytdq history``
(:func:`ytempire_dq.store.history.rule_trend`), the Data Docs history page
(:mod:`ytempire_dq.docs.history_page`) and the notify action
(:func:`ytempire_dq.store.notifications.previous_outcomes`) each ask; and a checkpoint's runs on a
source, the latest one's outcomes among them, which the notify action and the fast path (a SQL rule
that passed last run is counted first) read. A module of its own, which imports nothing of the
package, so that Data Docs, the store and the run's reader (``store.run_store``) can all use it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: The columns of ``dq.rule_results`` and ``dq.runs`` read here (every store since migration 004;
#: ``source``: 011).
_RESULTS = sa.table(
    "rule_results", *map(sa.column, ("run_id", "checkpoint", "rule_id", "success", "observed_at")), schema="dq"
)
_RUNS = sa.table("runs", *map(sa.column, ("run_id", "checkpoint", "source", "started_at")), schema="dq")


def runs_of(checkpoint: str, source: str | None, named: bool) -> sa.Select:
    """The run ids of ``checkpoint`` on ``source`` (a store before migration 011, not ``named``:
    every run of the checkpoint)."""
    of_source = [_RUNS.c.source.is_not_distinct_from(source)] if named else []
    return sa.select(_RUNS.c.run_id).where(_RUNS.c.checkpoint == checkpoint, *of_source)


def newest_runs(checkpoint: str, source: str | None, named: bool, n: int) -> sa.Select:
    """``(run_id, started_at)`` of the ``n`` newest of :func:`runs_of`, newest first (the history
    page's runs; the notify action's previous run)."""
    runs = runs_of(checkpoint, source, named).add_columns(_RUNS.c.started_at)
    return runs.order_by(_RUNS.c.started_at.desc()).limit(n)


def failing_since(rule_ids: list[str], checkpoint: str | None = None, runs: Any = None) -> sa.Select:
    """``(rule_id, since)`` for each of ``rule_ids`` that failed after its last success: its first
    failure since, among the results of ``checkpoint`` (None: every checkpoint) in ``runs`` (a
    selectable of run ids, e.g. one source's; None: every run). One read of the rules' stored
    results, the last success found by a window over them: a subquery per failed result would
    read the history again for each one (quadratic in the runs)."""
    r = _RESULTS
    scope = [r.c.rule_id.in_(rule_ids)]
    scope += [r.c.checkpoint == checkpoint] if checkpoint is not None else []
    scope += [r.c.run_id.in_(runs)] if runs is not None else []
    last_success = sa.func.max(r.c.observed_at).filter(r.c.success).over(partition_by=r.c.rule_id)
    mine = sa.select(r.c.rule_id, r.c.success, r.c.observed_at, last_success.label("last_success"))
    mine = mine.where(*scope).subquery("mine")
    never = sa.literal_column("'-infinity'::timestamptz")
    return (
        sa.select(mine.c.rule_id, sa.func.min(mine.c.observed_at))
        .where(sa.not_(mine.c.success), mine.c.observed_at > sa.func.coalesce(mine.c.last_success, never))
        .group_by(mine.c.rule_id)
    )


def last_outcomes(conn: Any, checkpoint: str, source: str | None) -> dict[str, bool] | None:
    """``{rule_id: passed}`` of the latest run of ``checkpoint`` on ``source`` in the store (a DB-API
    connection; a rule that could not run did not pass); None when there is no such run (the notify
    action's previous run, the fast path's earlier verdicts)."""
    with conn.cursor() as cur:
        previous = rows_of(cur, newest_runs(checkpoint, source, named=True, n=1))
        if not previous:
            return None
        cur.execute(
            "SELECT rule_id, bool_and(success AND error IS NULL) FROM dq.rule_results WHERE run_id = %s "
            "GROUP BY rule_id",
            (previous[0][0],),
        )
        return {rule_id: bool(ok) for rule_id, ok in cur.fetchall()}


def rows_of(cur: Any, query: Any) -> list[tuple]:
    """The rows of the SQLAlchemy ``query`` on the DB-API cursor ``cur`` (PostgreSQL's dialect)."""
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True})
    cur.execute(str(compiled), compiled.params)
    return cur.fetchall()
