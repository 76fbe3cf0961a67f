"""The project's custom GX checkpoint actions; importing this package registers them with GX.

A checkpoint file naming an action type that is not registered yet does not load, so
:func:`ytempire_dq.context.open_context` imports this package before opening the context.

- ``publish_to_redis``: each run's summary in the hash ``dq:last:<checkpoint>`` and on the
  channel ``dq:results``; Redis being down is a warning, never a failed run.
"""

from ytempire_dq.actions.publish_to_redis import PublishToRedisAction, run_summary

__all__ = ["PublishToRedisAction", "run_summary"]
