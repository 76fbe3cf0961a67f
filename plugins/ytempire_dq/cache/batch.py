"""The Redis snapshot as the batch of GX's ``cache`` data source (a pandas dataframe asset).

``gx/great_expectations.yml`` declares a pandas data source ``cache`` with the dataframe asset
``redis_snapshot`` and its batch definition ``whole_dataframe``. A dataframe asset has no data of
its own: each run hands it the DataFrame as the batch parameter ``dataframe``.
:func:`batch_parameters` is what :func:`ytempire_dq.run.checkpoint.run_checkpoint` calls at the start
of a run: one :func:`snapshot` of Redis for every validation definition on the ``cache`` data
source (none taken when the checkpoint has none), so every cache rule sees the same instant and a
Redis that goes away later in the run does not change the cache's verdict.

Redis unreachable at the start of such a run: the cache cannot be validated, so the run cannot
happen as asked, exactly like an unreachable PostgreSQL: :class:`YtdqError` (exit code 2) naming
the URL with its password masked, before any validation runs or any result is stored.
"""

from __future__ import annotations

from typing import Any, Iterable

from ytempire_dq import config
from ytempire_dq.errors import YtdqError

#: The GX data source and asset of the cache (gx/great_expectations.yml).
DATASOURCE = "cache"
ASSET = "redis_snapshot"

#: Every column the cache rules name, with the dtype it has when the snapshot lacks it (an empty
#: cache, or no key of a kind): a rule on a missing column would fail instead of passing.
COLUMNS = {
    "key": "object",
    "key_not_utf8": "object",
    "kind": "object",
    "type": "object",
    "ttl": "int64",
    "user_id": "object",
    "created_at": "object",
    "video_id": "object",
    "view_count": "Int64",
    "revenue": "float64",
    "cached_at": "object",
    "window": "object",
    "value": "Int64",
}


def window_seconds(window: Any) -> float:
    """``'3600s'`` -> 3600.0; anything else NaN (a window the rules do not know)."""
    if isinstance(window, str) and window.endswith("s") and window[:-1].isdigit():
        return float(window[:-1])
    return float("nan")


def cache_frame(frame: Any) -> Any:
    """The snapshot as the cache suite's batch: every column present, plus ``window_seconds``
    (a counter's window length, for the TTL-within-window rule)."""
    import pandas as pd

    for name, dtype in COLUMNS.items():
        if name not in frame:
            frame[name] = pd.Series(None if dtype != "float64" else float("nan"), index=frame.index, dtype=dtype)
    if frame.empty:  # the empty snapshot's base columns are untyped
        frame = frame.astype({name: dtype for name, dtype in COLUMNS.items() if dtype != "object"})
    frame["window_seconds"] = frame["window"].map(window_seconds).astype("float64")
    return frame


def read_cache(redis_url: str) -> Any:
    """:func:`cache_frame` of a snapshot of ``redis_url``; unreachable -> YtdqError, URL masked."""
    import redis

    from ytempire_dq.cache.dump import snapshot

    try:
        frame = snapshot(redis_url)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise YtdqError(
            f"cannot read the Redis cache at {config.mask_url(redis_url)}: {config.one_line(exc, 300)}"
        ) from None
    return cache_frame(frame)


def on_cache(validation_definition: Any) -> bool:
    """Whether a validation definition validates the cache (its batch is the Redis snapshot)."""
    return validation_definition.data.data_asset.datasource.name == DATASOURCE


def batch_parameters(validation_definitions: Iterable[Any], redis_url: str | None = None) -> dict[str, dict]:
    """``{validation definition name: {"dataframe": snapshot}}`` for those on the cache (one
    snapshot shared); ``{}`` (Redis untouched) when there are none."""
    names = [vd.name for vd in validation_definitions if on_cache(vd)]
    if not names:
        return {}
    frame = read_cache(redis_url or config.redis_url())
    return {name: {"dataframe": frame} for name in names}
