"""Defect injection: add EXACTLY ``count`` rows breaking one rule, for each kind asked for.

Every kind is a :class:`DefectKind` in :data:`DEFECT_KINDS`: its name, the ONE rule that catches it
(``rule_id``: that rule's unexpected count equals the injected rows), the table it breaks, a one-line
description, and ``count_sql``, the plain SQL (``SELECT count(*) ...``, run it without parameters)
that counts its offending rows, which is the rule written down. After
``inject(url, {kind: count})`` on clean data, each kind's ``count_sql`` returns exactly ``count``,
also when every kind is injected at once: the injector picks disjoint victim rows, and every row
it writes keeps all the *other* rules (inserted analytics rows have ``views = 0`` so view sums
stay right; orphans reference random UUIDs; new channels and videos get valid ids and values).

The three ``duplicate_*`` kinds count duplicated *keys*: ``count`` keys are made, each shared by
exactly 2 rows, so ``2 × count`` rows share a duplicated key (``DefectKind.rows_per_defect`` is 2
for them, 1 for every other kind). ``analytics_sum_mismatch`` and ``over_tier_limit`` count
videos and users respectively.

Copies of the data (replicas, restored backups) may lack constraints, and the database's own
constraints would reject most of these rows, so injection drops just the constraint(s) that would
reject each kind (``ALTER TABLE ... DROP CONSTRAINT IF EXISTS``, names looked up in
``pg_constraint``; ``null_video_title`` drops ``videos.title``'s NOT NULL), then writes the rows,
all in one transaction: on any error nothing is changed. **``ytdq db reset`` restores the
constraints** (it rolls every migration back and applies them again, on an empty schema).
"""

from __future__ import annotations

from ytempire_dq import config
from ytempire_dq.db.connect import connect
from ytempire_dq.db.defects import business_writers, constraint_writers, privacy_writers  # noqa: F401 - register the writers
from ytempire_dq.db.defects.catalog import DEFECT_KINDS, validate_counts
from ytempire_dq.db.defects.injector import _INJECTORS, _Injector
from ytempire_dq.db.defects.kinds import MARKUP_TITLE, DefectKind, UnknownDefectKind

assert set(_INJECTORS) == set(DEFECT_KINDS), set(DEFECT_KINDS) ^ set(_INJECTORS)  # every kind is written

__all__ = ["DEFECT_KINDS", "MARKUP_TITLE", "DefectKind", "UnknownDefectKind", "inject", "validate_counts"]

_ORDER = ["over_tier_limit"] + [k for k in DEFECT_KINDS if k != "over_tier_limit"]


def inject(url: str | None, counts: dict[str, int], *, seed: int = 42, conn=None) -> dict[str, int]:
    """Add exactly ``counts[kind]`` offending rows (duplicate_* kinds: duplicated keys, 2 rows each).

    Works on already-seeded data: victims are rows that currently break no rule. Drops the
    constraints that would reject the bad rows (``ytdq db reset`` restores them), all in one
    transaction; unknown kinds (:class:`UnknownDefectKind`), negative counts, or more defects than
    the data can hold (:class:`YtdqError`) change nothing. Returns ``{kind: count}`` for count > 0.
    """
    counts = validate_counts(counts)
    wanted = {k: counts[k] for k in _ORDER if counts.get(k, 0) > 0}
    if not wanted:
        return {}
    own = conn is None
    conn = conn or connect(url or config.store_url())  # writes: the owner, never the checks' role
    try:
        with conn.cursor() as cur:
            ij = _Injector(cur, seed)
            for kind, count in wanted.items():
                _INJECTORS[kind](ij, count)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if own:
            conn.close()
    return {k: counts[k] for k in DEFECT_KINDS if counts.get(k, 0) > 0}
