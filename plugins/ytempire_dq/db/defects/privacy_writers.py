"""How each privacy kind is written (see :mod:`.privacy_kinds`)."""

from __future__ import annotations

from psycopg2.extras import execute_values

from ytempire_dq import config
from ytempire_dq.db.defects.injector import _Injector, injects
from ytempire_dq.db.defects.privacy_kinds import DAYS_PAST, SEEDED_DQ_CHECKPOINT


@injects("erased_user_leftovers")
def _erased_user_leftovers(ij: _Injector, n: int) -> None:
    # the erasure recorded, the erasure never done: every row of the user stays (and keeps every other rule)
    victims = ij.users("erased_user_leftovers", n)
    execute_values(
        ij.cur,
        "INSERT INTO user_erasures (user_id, erased_at) SELECT v.id::uuid, localtimestamp - interval '1 day' "
        "FROM (VALUES %s) AS v(id)",
        [(str(v[0]),) for v in victims],
    )


def _old() -> str:
    return f"now() - make_interval(days => {config.retention_days() + DAYS_PAST})"


def _run(ij: _Injector, tag: str, started: str) -> str:
    """A ``dq.runs`` row of :data:`SEEDED_DQ_CHECKPOINT` started at ``started`` (SQL); its run_id."""
    run_id = f"{SEEDED_DQ_CHECKPOINT}-{tag}-{ij.uuid()}"
    ij.cur.execute(
        "INSERT INTO dq.runs (run_id, checkpoint, success, rules_total, rules_failed, started_at, finished_at) "
        f"VALUES (%s, %s, true, 0, 0, {started}, {started})",
        (run_id, SEEDED_DQ_CHECKPOINT),
    )
    return run_id


@injects("dq_run_beyond_retention")
def _dq_run_beyond_retention(ij: _Injector, n: int) -> None:
    for _ in range(n):
        _run(ij, "old-run", _old())


@injects("dq_rule_result_beyond_retention")
def _dq_rule_result_beyond_retention(ij: _Injector, n: int) -> None:
    # a run of today holding outcomes dated past retention (a prune that skipped dq.rule_results)
    run_id = _run(ij, "old-results", "now()")
    ij.cur.execute(
        "INSERT INTO dq.rule_results (run_id, checkpoint, rule_id, suite, table_name, expectation_type, success, "
        f"unexpected_count, observed_at) SELECT %s, %s, 'seeded.defect', 'seeded', NULL, 'seeded', true, 0, {_old()} "
        "FROM generate_series(1, %s)",
        (run_id, SEEDED_DQ_CHECKPOINT, n),
    )


@injects("dq_quarantine_beyond_retention")
def _dq_quarantine_beyond_retention(ij: _Injector, n: int) -> None:
    run_id = _run(ij, "old-keys", "now()")
    ij.cur.execute(
        "INSERT INTO dq.quarantine (run_id, rule_id, table_name, row_key, quarantined_at) "
        f"SELECT %s, 'seeded.defect', 'users', jsonb_build_object('id', gen_random_uuid()), {_old()} "
        "FROM generate_series(1, %s)",
        (run_id, n),
    )
