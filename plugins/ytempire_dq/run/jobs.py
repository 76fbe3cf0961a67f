"""How many validation definitions a run validates at a time, and in which order.

A checkpoint's definitions are independent reads of one snapshot, so on a server with cores to
spare (a replica that serves nothing else at night) they can run side by side: ``--jobs N`` (or
``YTDQ_JOBS``; default 1, one after the other). Each job is a thread with its own Data Context and
engine (``run.checkpoint``), and PostgreSQL does the work.

**The connection budget.** A run holds :data:`BASE_CONNECTIONS` connections to the checked
database (the snapshot it exports, and the pre-flight's or the history's reader) and each job at
most :data:`CONNECTIONS_PER_JOB` more (GX's engine, and the fast path's key capture): ``2 + 2 ×
jobs`` in all, measured by sampling ``pg_stat_activity`` during runs at 10M analytics rows. Before
validating, the run asks the server how many it may still open (the role's ``CONNECTION LIMIT``,
``max_connections`` less the reserved ones and those in use) and runs fewer jobs when the budget
does not fit, with one warning: a job never fails for want of a connection.

**The order.** The longest definitions go first (their tables' estimated rows, ``reltuples``): with
two jobs, the analytics suite starts at once and the small suites fill the other job meanwhile,
instead of the run ending on one long suite alone.
"""

from __future__ import annotations

import os
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.values import plural

JOBS_ENV = "YTDQ_JOBS"
#: Connections a run holds to the checked database besides its jobs'.
BASE_CONNECTIONS = 2
#: Connections one job holds at most.
CONNECTIONS_PER_JOB = 2
#: More jobs than this are refused (threads in one process, GX's Python in each).
MAX_JOBS = 16

ROOM_SQL = """
SELECT r.rolconnlimit,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.usename = current_user),
       current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
       - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
FROM pg_roles r WHERE r.rolname = current_user
"""


def requested(jobs: int | None) -> int:
    """``jobs`` if given, else ``YTDQ_JOBS``, else 1; a value that is not a whole number from 1 to
    :data:`MAX_JOBS` is a usage error (exit 2)."""
    if jobs is None:
        raw = os.environ.get(JOBS_ENV, "").strip()
        if not raw:
            return 1
        try:
            jobs = int(raw)
        except ValueError:
            raise YtdqError(f"{JOBS_ENV} must be a whole number of jobs from 1 to {MAX_JOBS}, got {raw!r}") from None
    if not 1 <= jobs <= MAX_JOBS:
        raise YtdqError(f"--jobs / {JOBS_ENV} must be from 1 to {MAX_JOBS}, got {jobs}")
    return jobs


def budget(jobs: int) -> int:
    """The connections a run of ``jobs`` jobs holds to the checked database at most."""
    return BASE_CONNECTIONS + CONNECTIONS_PER_JOB * jobs


def fit(conn: Any, jobs: int, url: str) -> tuple[int, str | None]:
    """(jobs that fit the connections the server still allows, a warning when fewer than asked).
    ``conn``: a DB-API connection to the checked database (counted among those in use: the run
    keeps one)."""
    if jobs == 1:
        return 1, None
    with conn.cursor() as cur:
        cur.execute(ROOM_SQL)
        limit, mine, server_room = cur.fetchone()
    room = server_room + 1  # this connection is one of the run's own
    if limit is not None and limit >= 0:
        room = min(room, limit - mine + 1)
    fits = max(1, min(jobs, (room - BASE_CONNECTIONS) // CONNECTIONS_PER_JOB))
    if fits == jobs:
        return jobs, None
    why = f"CONNECTION LIMIT {limit} of its role" if limit is not None and limit >= 0 else "max_connections"
    return fits, (
        f"{plural(fits, 'validation definition')} at a time, not {jobs}: {config.mask_url(url)} has room for "
        f"{plural(max(room, 0), 'more connection')} ({why}), and {jobs} jobs need {budget(jobs)} "
        f"({BASE_CONNECTIONS} + {CONNECTIONS_PER_JOB} a job)"
    )


def longest_first(vds: list, tables_of: Any, conn: Any) -> list:
    """``vds`` by the rows of the tables each reads (``tables_of(vd)``; the server's estimate),
    most first; ties keep the declared order."""
    estimates: dict[str, float] = {}
    names = sorted({t for vd in vds for t in tables_of(vd)})
    if names:
        with conn.cursor() as cur:
            # a partitioned table's own estimate is -1: its partitions' are summed
            cur.execute(
                "SELECT t, coalesce((SELECT sum(greatest(k.reltuples, 0)) "
                "FROM pg_partition_tree(c.oid) p JOIN pg_class k ON k.oid = p.relid WHERE p.isleaf), "
                "greatest(c.reltuples, 0)) FROM unnest(%s::text[]) AS t JOIN pg_class c ON c.oid = to_regclass(t)",
                (names,),
            )
            estimates = {t: float(n) for t, n in cur.fetchall()}
    cost = {id(vd): sum(estimates.get(t, 0.0) for t in tables_of(vd)) for vd in vds}
    return sorted(vds, key=lambda vd: -cost[id(vd)])
