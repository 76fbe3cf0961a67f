"""Defect kinds of the privacy suite (GDPR): an erased user still named by rows, and the project's
own ``dq`` history kept past ``retention_days`` (README, "Personal data")."""

from __future__ import annotations

from ytempire_dq import config
from ytempire_dq.db.defects.kinds import DefectKind

#: ``dq.runs.checkpoint`` of the history rows the ``dq_*`` kinds write (``db seed`` removes them again).
SEEDED_DQ_CHECKPOINT = "seeded-defect"
#: How far past the retention period the ``dq_*`` kinds date their rows.
DAYS_PAST = 10


def _older(table: str, column: str) -> str:
    days = config.retention_days()
    return f"SELECT count(*) FROM dq.{table} WHERE {column} < now() - make_interval(days => {days})"


PRIVACY_KINDS = [
    DefectKind(
        "erased_user_leftovers",
        "user_erasures.no_leftover_rows",
        "user_erasures",
        "user recorded as erased (user_erasures) whose users row, channels and API keys are all still there",
        "SELECT count(*) FROM user_erasures e WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id) "
        "OR EXISTS (SELECT 1 FROM channels c WHERE c.user_id = e.user_id) "
        "OR EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = e.user_id)",
    ),
    DefectKind(
        "dq_run_beyond_retention",
        "dq.runs_within_retention",
        "dq.runs",
        "dq.runs row older than retention_days (its rule results and keys would go with it)",
        _older("runs", "started_at"),
    ),
    DefectKind(
        "dq_rule_result_beyond_retention",
        "dq.rule_results_within_retention",
        "dq.rule_results",
        "dq.rule_results row observed longer ago than retention_days",
        _older("rule_results", "observed_at"),
    ),
    DefectKind(
        "dq_quarantine_beyond_retention",
        "dq.quarantine_within_retention",
        "dq.quarantine",
        "dq.quarantine row key quarantined longer ago than retention_days",
        _older("quarantine", "quarantined_at"),
    ),
]
