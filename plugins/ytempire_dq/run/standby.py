"""What is special about checking a hot standby: recovery conflicts and replica lag.

**Recovery conflicts.** A standby replays the primary's WAL; when the primary removes row versions
(VACUUM, HOT pruning) that a standby query's snapshot still needs, replay cancels that query after
``max_standby_streaming_delay`` ("canceling statement due to conflict with recovery", SQLSTATE
40001). The run's exported snapshot (:mod:`ytempire_dq.run.snapshot`) is held by an idle
transaction, which such a conflict terminates: the snapshot is then lost for every later rule
("invalid snapshot identifier"). :func:`retry_conflicts` retries each rule that failed either way
ONCE, after the validation definition, in a fresh transaction: on the run's snapshot when it can
still be imported, else on a new snapshot taken for the rest of the run (``Run.renew_snapshot``).
A rule that fails again is that rule's error (exit 2 like any rule error), and its text names the
fix. Other errors are not retried. GX alone (``YTDQ_FAST=0``) and the fast path are retried alike:
by GX's own Validator on the definition's batch.

**Replica lag.** The time the run's data is as of and the standby's lag are read with the run's
snapshot (``Snapshot.as_of``); a lag over ``YTDQ_MAX_REPLICA_LAG`` seconds (default 300) is said
once (:func:`lag_warning`); it is not a failure of the data.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from typing import Any

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.gx import compat
from ytempire_dq.gx import validator as gx_steps
from ytempire_dq.gx.results import raised_info

log = logging.getLogger(__name__)

#: What PostgreSQL says when replay cancels a query (ERROR) or ends an idle transaction (FATAL).
CONFLICT = re.compile(r"conflict with recovery", re.IGNORECASE)
#: What importing the run's snapshot says once a conflict ended its exporter.
SNAPSHOT_LOST = re.compile(r"invalid snapshot identifier|could not import the requested snapshot", re.IGNORECASE)
#: The fix, in the error of a rule cancelled twice.
FIX = "set hot_standby_feedback = on on the standby, or a larger max_standby_streaming_delay"

MAX_LAG_ENV = "YTDQ_MAX_REPLICA_LAG"
DEFAULT_MAX_LAG = 300.0


def max_replica_lag() -> float:
    """``YTDQ_MAX_REPLICA_LAG`` in seconds (default 300); anything but a number >= 0 is one error (exit 2)."""
    raw = os.environ.get(MAX_LAG_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_LAG
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise YtdqError(f"{MAX_LAG_ENV}={raw!r} is not a number of seconds >= 0 (the default is {DEFAULT_MAX_LAG:g})")
    return value


def lag_warning(snapshot: Any, url: str, threshold: float) -> dict | None:
    """``{"seconds", "max_seconds", "as_of", "message"}`` when the standby's data is more than
    ``threshold`` seconds behind, else None (a primary, or a standby that cannot tell)."""
    lag = getattr(snapshot, "replica_lag_seconds", None)
    if lag is None or lag <= threshold:
        return None
    as_of = snapshot.as_of.isoformat() if snapshot.as_of else None
    message = (
        f"the standby {config.mask_url(url)} is {lag:.0f} s behind its primary (data as of {as_of}; "
        f"{MAX_LAG_ENV}={threshold:g} s): the rules judged the data as of then"
    )
    return {"seconds": round(lag, 3), "max_seconds": threshold, "as_of": as_of, "message": message}


def _message(evr: Any) -> str:
    info = raised_info(getattr(evr, "exception_info", None))
    return str((info or {}).get("exception_message") or "")


def conflicted(evr: Any) -> bool:
    """A rule result that failed on a recovery conflict, or on the run's snapshot lost to one."""
    message = _message(evr)
    return bool(CONFLICT.search(message) or SNAPSHOT_LOST.search(message))


def _name_the_fix(evr: Any) -> Any:
    """``evr`` (a rule cancelled again) with its error's first line saying so and naming the fix."""
    infos = evr.exception_info if "raised_exception" not in evr.exception_info else {"": evr.exception_info}
    for info in infos.values():
        if isinstance(info, dict) and info.get("raised_exception"):
            info["exception_message"] = (
                f"canceled twice by a conflict with recovery on the standby (retried once): {FIX}\n"
                f"{info.get('exception_message') or ''}"
            )
    return evr


def retry_conflicts(vd: Any, vr: Any, run: Any, *, result_format: Any, batch_parameters: dict | None = None) -> Any:
    """``vr`` (``vd``'s validation result in ``run``) with each rule that failed on a recovery
    conflict validated once more, in a fresh transaction (see the module docstring); stored again
    when anything was retried. ``run.retries`` gets one entry per retried rule."""
    retried = [evr for evr in vr.results if conflicted(evr)]
    if not retried:
        return vr
    renewed = run.renew_snapshot()  # the run's snapshot if it can still be imported
    from great_expectations.core import ExpectationSuite

    suite = ExpectationSuite(
        name=vd.suite.name, expectations=[copy.deepcopy(evr.expectation_config) for evr in retried]
    )
    validator = gx_steps.new_validator(vd.batch_definition, result_format, batch_parameters)
    again = {evr.expectation_config.id: evr for evr in validator.validate_expectation_suite(suite).results}
    results = []
    for evr in vr.results:
        second = again.get(evr.expectation_config.id) if conflicted(evr) else None
        if second is None:
            results.append(evr)
            continue
        failed_again = conflicted(second)
        rule_id = (evr.expectation_config.meta or {}).get("rule_id")
        run.retries.append(
            {
                "rule_id": rule_id,
                "first_error": config.one_line(_message(evr), 300),
                "renewed_snapshot": renewed,
                "outcome": "error" if failed_again else ("met" if second.success else "failed"),
            }
        )
        log.warning("rule %s: recovery conflict, retried once: %s", rule_id, run.retries[-1]["outcome"])
        results.append(_name_the_fix(second) if failed_again else second)
    fixed = gx_steps.suite_result(
        vr,
        results,
        suite_name=vr.suite_name,
        vd_id=vr.meta.get("validation_id"),
        checkpoint_id=vr.meta.get("checkpoint_id"),
        run_id=run.run_id,
        extra_meta={"batch_parameters": vr.meta.get("batch_parameters")},
    )
    compat.store_validation_result(vd, validator, run.run_id, fixed)
    return fixed
