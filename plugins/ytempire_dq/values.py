"""Plain values: the one JSON coercion, the one walk over nested dicts and lists, and the one
way a count is written with its noun (:func:`plural`: "1 bad row", "2 bad rows").

A leaf module (standard library only): the run report, the JUnit file, the CLI's ``--json``
outputs, the custom expectations' result details, key capture and the health readings coerce
values with :func:`jsonable`; masking, bounding and escaping walk nested results with
:func:`map_leaves` / :func:`any_leaf`, so a tuple, a dict key or a nested list is treated the
same way everywhere.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import Any


def map_leaves(
    value: Any,
    leaf: Callable[[Any], Any],
    *,
    keys: Callable[[Any], Any] | None = None,
    max_items: int | None = None,
) -> Any:
    """``value`` rebuilt with every leaf (anything but a dict, list or tuple) through ``leaf``:
    dicts stay dicts (their keys through ``keys`` when given), lists and tuples become lists (cut
    to ``max_items`` when given)."""
    if isinstance(value, dict):
        return {(keys(k) if keys else k): map_leaves(v, leaf, keys=keys, max_items=max_items) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = list(value) if max_items is None else list(value)[:max_items]
        return [map_leaves(v, leaf, keys=keys, max_items=max_items) for v in items]
    return leaf(value)


def any_leaf(value: Any, test: Callable[[Any], bool]) -> bool:
    """Whether ``test`` holds for a leaf of ``value`` (dict values, list and tuple items, nested)."""
    if isinstance(value, dict):
        return any(any_leaf(v, test) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(any_leaf(v, test) for v in value)
    return test(value)


def _json_leaf(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset)):
        return jsonable(list(value))
    if hasattr(value, "to_json_dict"):  # GX's result objects
        return jsonable(value.to_json_dict())
    return str(value)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: UUID as text, dates and times in ISO 8601 (what PostgreSQL's
    ``to_jsonb`` writes), Decimal as int when integral else float, timedelta in seconds, bytes in
    hex, NaN and infinities as text, tuples and sets as lists, dict keys as text, GX objects by
    their ``to_json_dict``, anything else as its ``str``."""
    return map_leaves(value, _json_leaf, keys=str)


def plural(count: Any, noun: str, nouns: str | None = None, *, fmt: str = "") -> str:
    """``count`` and ``noun`` in the number it takes: ``plural(1, "bad row")`` is "1 bad row",
    ``plural(2, "bad row")`` "2 bad rows" (``nouns``: an irregular plural; ``fmt``: the count's
    format spec, e.g. ``","``). A count that is no number (None, text) keeps the plural."""
    many = nouns or noun + "s"
    try:
        one = int(count) == 1 and float(count) == 1
    except (TypeError, ValueError):
        one = False
    return f"{format(count, fmt) if fmt else count} {noun if one else many}"
