"""PublishToRedisAction: each checkpoint run's summary, written to Redis and published.

Consumers (dashboards, the platform's jobs) read the last verdict of a checkpoint from the hash
``dq:last:<checkpoint>`` and hear about every run on the channel ``dq:results``, without
parsing GX's result files.

``redis_url`` is typed ``Union[ConfigStr, str]`` like GX's own secret fields (EmailAction's
``sender_password``): GX 1.24 substitutes ``${VAR}`` only in fields of that type, a plain ``str``
field would reach redis-py as the literal text ``${REDIS_URL}``. The value is substituted when
the action runs (from the environment or the context's runtime variables), never written back.

Redis down, slow or misconfigured is logged as a WARNING naming the masked URL and the action
returns normally: the results are already stored by then and the exit code must reflect the
data, not the cache.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Literal, Union

from great_expectations.checkpoint.actions import ActionContext, ValidationAction
from great_expectations.checkpoint.checkpoint import CheckpointResult
from great_expectations.datasource.fluent.config_str import ConfigStr
from typing_extensions import override

from ytempire_dq.config import mask_url, one_line
from ytempire_dq.gx import compat
from ytempire_dq.run.report import read_validation_result

log = logging.getLogger(__name__)

#: Where every run's summary is published, and the prefix of each checkpoint's last-run hash.
CHANNEL = "dq:results"
LAST_KEY_PREFIX = "dq:last:"
#: Seconds to wait for Redis before giving up (a dead cache must not stall the pipeline).
TIMEOUT = 3.0


def last_key(checkpoint: str) -> str:
    return f"{LAST_KEY_PREFIX}{checkpoint}"


def run_summary(checkpoint_result: CheckpointResult) -> dict:
    """{checkpoint, success, run_id, failed_rules (rule ids, in run order), failed_count, timestamp}."""
    failed: list[str] = []
    for vr in checkpoint_result.run_results.values():
        for rule in read_validation_result(vr).results:
            if not rule.success:
                failed.append(rule.rule_id or rule.expectation_type)
    run_id = checkpoint_result.run_id
    when = run_id.run_time or dt.datetime.now(dt.timezone.utc)
    return {
        "checkpoint": checkpoint_result.checkpoint_config.name,
        "success": bool(checkpoint_result.success),
        "run_id": str(run_id.run_name or run_id.to_id()),
        "failed_rules": list(dict.fromkeys(failed)),
        "failed_count": len(dict.fromkeys(failed)),
        "timestamp": when.isoformat(),
    }


class PublishToRedisAction(ValidationAction):
    """Write the run's summary to ``dq:last:<checkpoint>`` and publish it on ``dq:results``.

    Checkpoint file entry::

        {"type": "publish_to_redis", "name": "publish_to_redis", "redis_url": "${REDIS_URL}"}

    Hash fields (all text): ``success`` (``true``/``false``), ``run_id``, ``failed_rules``
    (comma-separated rule ids), ``failed_count``, ``timestamp`` (ISO 8601, UTC). The message on
    the channel is the same summary as JSON, with ``failed_rules`` as a list.
    """

    type: Literal["publish_to_redis"] = "publish_to_redis"
    redis_url: Union[ConfigStr, str] = "${REDIS_URL}"

    def resolved_url(self) -> str | None:
        """``redis_url`` with ``${VAR}`` substituted (None when the variable is not set)."""
        url = compat.action_config_str(self, self.redis_url)
        if not url or ConfigStr.str_contains_config_template(url):
            return None
        return url

    @override
    def run(self, checkpoint_result: CheckpointResult, action_context: ActionContext | None = None) -> dict:
        summary = run_summary(checkpoint_result)
        url = self.resolved_url()
        if url is None:
            log.warning(
                "checkpoint %r: results not published to Redis: %s is not set", summary["checkpoint"], self.redis_url
            )
            return {"published": False, "summary": summary}
        try:
            receivers = publish(url, summary)
        except Exception as exc:  # noqa: BLE001 - redis/socket errors of every kind: the run stands
            log.warning(
                "checkpoint %r: results not published to Redis at %s: %s",
                summary["checkpoint"],
                mask_url(url),
                one_line(exc, 300),
            )
            return {"published": False, "summary": summary}
        return {"published": True, "receivers": receivers, "summary": summary}


def publish(url: str, summary: dict) -> int:
    """HSET ``dq:last:<checkpoint>`` and PUBLISH on ``dq:results`` in one round trip; the number of receivers."""
    import redis

    fields = {
        "success": "true" if summary["success"] else "false",
        "run_id": summary["run_id"],
        "failed_rules": ",".join(summary["failed_rules"]),
        "failed_count": str(summary["failed_count"]),
        "timestamp": summary["timestamp"],
    }
    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        pipe = client.pipeline(transaction=True)
        key = last_key(summary["checkpoint"])
        pipe.delete(key)  # no field left over from an older run
        pipe.hset(key, mapping=fields)
        pipe.publish(CHANNEL, json.dumps(summary))
        return int(pipe.execute()[-1])
    finally:
        client.close()
