"""The project's custom GX checkpoint actions; importing this package registers them with GX.

A checkpoint file naming an action type that is not registered yet does not load, so
:func:`ytempire_dq.gx.context.open_context` imports this package before opening the context.

- ``publish_to_redis``: each run's summary in the hash ``dq:last:<checkpoint>`` and on the
  channel ``dq:results``; Redis being down is a warning, never a failed run.
- ``notify``: each rule owner hears what changed in the run (new failures, still failing,
  recovered) on their channels (:mod:`ytempire_dq.actions.notify`).
- ``prune_results``: the checkpoint's retention of old results and Data Docs pages
  (:mod:`ytempire_dq.store.retention`).
"""

from ytempire_dq.actions.notify import NotifyAction
from ytempire_dq.actions.prune_results import PruneResultsAction
from ytempire_dq.actions.publish_to_redis import PublishToRedisAction, run_summary

__all__ = ["NotifyAction", "PruneResultsAction", "PublishToRedisAction", "run_summary"]
