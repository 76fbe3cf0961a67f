"""``ytdq db seed``: realistic, rule-abiding data at any scale, then (optionally) known defects.

:func:`seed` empties the six tables (``TRUNCATE ... CASCADE``) and fills them with data that keeps
every rule ytempire-dq checks, deterministic for a given ``seed``:

- users: tier mix about free 40% / starter 35% / professional 20% / enterprise 5%, unique valid
  emails and usernames; about 94% active, 4% suspended, 2% deleted (their channels are suspended
  or deleted, never active);
- channels: 1-5 per user, never more *active* channels than the tier allows (free 1, starter 5,
  professional 20, enterprise 100), YouTube channel ids ``UC`` + 22 characters;
- videos: 10-30 per channel (about 20), most published; published ones carry an 11-character
  YouTube id and ``published_at >= created_at``; generation cost in [0.10, 5.00];
- analytics: one row per day per published video, from its publish date up to today (the DB
  server's ``current_date``), whose views add up to ``videos.view_count`` and whose revenue adds
  up to ``videos.revenue`` exactly; each day's ``subscribers_gained`` is at most its views;
- api_keys (0-3 per user, sha256 hex hashes) and workflows (0-6 per channel).

Every timestamp is placed before the start of the database server's ``current_date``, as an offset
drawn from the seeded random streams, so the same seed gives the same rows and row counts whenever
it runs (and nothing lies in the future of the server's clock). The one exception: a *running*
workflow started 1-30 minutes before the seed ran (its clock, ``localtimestamp``), so clean data is
fresh (no workflow stuck in ``running``) whatever the time of day. The data is fresh in the other
sense too: every published video has analytics up to today, a revoked API key was last used no
later than its revocation, and only channels whose videos gained 1,000+ subscribers (the sum of
their analytics' ``subscribers_gained``) are monetized.

Rows are generated in Python (factory_boy + Faker for the small tables, numpy for analytics) and
bulk-loaded with ``COPY ... FROM STDIN (FREEZE)`` in one transaction; analytics is generated in
chunks by a producer thread while the server ingests the previous chunk, so neither all rows nor
all their text are ever in memory at once. ``ANALYZE`` runs at the end.

Defects: ``inject={kind: count}`` then calls :func:`ytempire_dq.db.defects.inject` (see there; it
drops the constraints that would reject the bad rows, so run ``ytdq db reset`` to get them back).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ytempire_dq import config
from ytempire_dq.db import defects as _defects
from ytempire_dq.db.connect import connect
from ytempire_dq.db.copy_rows import copy_lines, copy_stream, defer_indexes
from ytempire_dq.db.defects import DEFECT_KINDS, DefectKind, UnknownDefectKind, inject, validate_counts
from ytempire_dq.db.defects.privacy_kinds import SEEDED_DQ_CHECKPOINT
from ytempire_dq.db.generate import analytics_chunks, generate_plan
from ytempire_dq.db.tables import COLUMNS, TABLES
from ytempire_dq.errors import YtdqError

__all__ = ["DEFECT_KINDS", "DefectKind", "SeedReport", "UnknownDefectKind", "inject", "seed", "TABLES"]


@dataclass
class SeedReport:
    """What a seed run made: rows per table, time taken, defects injected."""

    rows: dict[str, int]
    seconds: float
    injected: dict[str, int] = field(default_factory=dict)
    seed: int = 42
    users: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    manifest_path: Path | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self):
        """A rich renderable: one headline, then rows per table and the injected defects."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        headline = Text(
            f"seeded {self.users:,} users (seed {self.seed}) in {self.seconds:.1f} s: "
            f"{self.total_rows:,} rows, {self.rows_per_second:,.0f} rows/s",
            style="bold",
        )
        table = Table()
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("seconds", justify="right")
        for name in TABLES:
            t = self.timings.get(name)
            table.add_row(name, f"{self.rows.get(name, 0):,}", "" if t is None else f"{t:.2f}")
        table.add_row("[bold]total[/]", f"[bold]{self.total_rows:,}[/]", "")
        for kind, count in self.injected.items():
            table.add_row(f"[yellow]defect[/] {kind}", str(count), "")
        parts = [headline, table]
        if self.manifest_path:
            parts.append(Text(f"manifest: {self.manifest_path}", style="dim"))
        return Group(*parts)

    def __str__(self) -> str:
        parts = ", ".join(f"{t}={self.rows.get(t, 0)}" for t in TABLES)
        inj = (" injected " + ", ".join(f"{k}={v}" for k, v in self.injected.items())) if self.injected else ""
        return f"seeded {parts} in {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s){inj}"


# ---------------------------------------------------------------------------------------------
# the entry point


class _Progress:
    """rich.progress per table when asked, else nothing."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress = None
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description:>10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.__exit__(*exc)

    def table(self, name: str, total: int):
        if self._progress:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def advance(self, name: str, rows: int):
        if self._progress and name in self._tasks:
            self._progress.advance(self._tasks[name], rows)

    def note(self, name: str, total: int | None = None):
        if self._progress:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def done(self, name: str):
        if self._progress and name in self._tasks:
            self._progress.update(self._tasks[name], total=1, completed=1)


def _clear_privacy_defects(cur) -> None:
    """A seeded database starts with no erased users (migration 007) and none of the history rows
    a defect kind wrote earlier (real run history is left alone)."""
    cur.execute("SELECT to_regclass('user_erasures'), to_regclass('dq.runs')")
    erasures, runs = cur.fetchone()
    if erasures is not None:
        cur.execute("TRUNCATE user_erasures")
    if runs is not None:
        cur.execute("DELETE FROM dq.runs WHERE checkpoint = %s", (SEEDED_DQ_CHECKPOINT,))


def seed(
    url: str | None = None,
    *,
    users: int,
    seed: int = 42,
    inject: dict[str, int] | None = None,
    manifest_path: Path | None = None,
    progress: bool = False,
) -> SeedReport:
    """Empty the six tables, fill them with clean data for ``users`` users, then inject defects.

    ``url=None`` uses :func:`ytempire_dq.config.store_url` (the checks' role cannot write). ``inject`` maps defect kinds
    (:data:`DEFECT_KINDS`) to how many offending rows (for ``duplicate_*`` kinds: duplicated keys,
    each shared by 2 rows) to add; unknown kinds or negative counts raise before anything is
    written. Injection drops the constraints that would reject the bad rows (``ytdq db reset``
    restores them). ``manifest_path`` gets ``{kind: count}`` (kinds with count > 0) as JSON.
    If the seeded data cannot hold that many defects, :class:`YtdqError` is raised after the clean
    data is committed (the injection itself changes nothing) and no manifest is written.
    """
    counts = validate_counts(inject or {})
    if users < 1:
        raise YtdqError(f"--users must be at least 1 (got {users})")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    url = url or config.store_url()
    conn = connect(url)
    try:
        with _Progress(progress) as prog:
            with conn.cursor() as cur:
                cur.execute("SELECT current_date, localtimestamp")
                today, clock = cur.fetchone()
            # Everything is placed before the server's today started, at offsets drawn from the seeded
            # streams: the same seed gives the same rows and counts whatever the time of day.
            now = datetime.combine(today, datetime.min.time()) - timedelta(seconds=1)

            t = time.perf_counter()
            plan = generate_plan(users, seed, now, today, clock)
            timings["generate"] = time.perf_counter() - t
            rows = {
                "users": len(plan.users),
                "channels": len(plan.channels),
                "videos": len(plan.videos),
                "analytics": plan.analytics_rows,
                "api_keys": len(plan.api_keys),
                "workflows": len(plan.workflows),
            }
            for name in TABLES:
                prog.table(name, rows[name])

            with conn.cursor() as cur:
                cur.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")
                _clear_privacy_defects(cur)
                for name in TABLES:
                    t = time.perf_counter()
                    on_rows = lambda k, name=name: prog.advance(name, k)  # noqa: E731
                    indexes = defer_indexes(cur, name) if name in ("videos", "analytics") else []
                    if name == "analytics":
                        copy_stream(cur, name, COLUMNS[name], analytics_chunks(plan, today, seed), on_rows)
                    else:
                        copy_lines(cur, name, getattr(plan, name), on_rows)
                    for definition in indexes:
                        cur.execute(definition)
                    timings[name] = time.perf_counter() - t
            conn.commit()
            del plan

            t = time.perf_counter()
            prog.note("analyze")
            _analyze(conn, TABLES)
            prog.done("analyze")
            timings["analyze"] = time.perf_counter() - t
            seeded_seconds = time.perf_counter() - started

            injected: dict[str, int] = {}
            if any(counts.values()):
                t = time.perf_counter()
                prog.note("defects")
                injected = _defects.inject(url, counts, seed=seed, conn=conn)
                prog.done("defects")
                _analyze(conn, sorted({DEFECT_KINDS[k].table for k, v in injected.items() if v}))
                timings["inject"] = time.perf_counter() - t
    finally:
        conn.close()

    manifest = {k: v for k, v in counts.items() if v > 0}
    if manifest_path is not None:
        manifest_path = Path(manifest_path)
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report = SeedReport(
        rows=rows,
        seconds=seeded_seconds,
        injected=manifest,
        seed=seed,
        users=users,
        timings=timings,
        manifest_path=manifest_path,
    )
    return report


def _analyze(conn, tables) -> None:
    old = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in tables:
                cur.execute(f"ANALYZE {name}")
    finally:
        conn.autocommit = old
