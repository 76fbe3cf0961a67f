"""PruneResultsAction: a checkpoint applies its own retention after each run (bounded growth).

Checkpoint file entry (``checkpoints/nightly.json`` keeps a year of nightly runs)::

    {"type": "prune_results", "name": "prune_results", "keep_runs": 365}

``keep_runs`` (newest runs kept per checkpoint) and/or ``older_than_days``; ``history: true``
also deletes those runs from the ``dq`` history. Same rules as ``ytdq results prune``
(:mod:`ytempire_dq.store.retention`). GX runs it after ``update_data_docs``; a failure is logged as a
WARNING and never changes the run's verdict.
"""

from __future__ import annotations

import logging
from typing import Literal, Optional

from great_expectations.checkpoint.actions import ActionContext, ValidationAction
from great_expectations.checkpoint.checkpoint import CheckpointResult
from typing_extensions import override

from ytempire_dq.config import one_line
from ytempire_dq.gx import compat

log = logging.getLogger(__name__)


class PruneResultsAction(ValidationAction):
    """Remove runs beyond ``keep_runs`` / older than ``older_than_days`` (results, pages, index rows)."""

    type: Literal["prune_results"] = "prune_results"
    keep_runs: Optional[int] = None
    older_than_days: Optional[float] = None
    history: bool = False

    @override
    def run(self, checkpoint_result: CheckpointResult, action_context: ActionContext | None = None) -> dict:
        from ytempire_dq.store import retention

        try:
            out = retention.prune_context(
                compat.action_data_context(self),
                keep_runs=self.keep_runs,
                older_than_days=self.older_than_days,
                history=self.history,
                from_rows=True,  # the runs its Data Docs update just listed: no directory walk
            )
        except Exception as exc:  # noqa: BLE001 - retention must not change the verdict
            log.warning("checkpoint %r: old results not pruned: %s", checkpoint_result.name, one_line(exc, 300))
            return {"pruned": False}
        if out["runs"]:
            log.info("checkpoint %r: %s", checkpoint_result.name, retention.summary(out))
        return {"pruned": True, **{k: v if isinstance(v, int) else len(v) for k, v in out.items()}}
