"""Whether a GX rule result says the rule raised: the one answer every reader uses (the run report,
the progress line, Data Docs' status marks and failed-rules box, the fast path's second pass).

GX 1.24.1 gives ``exception_info`` two shapes: flat (``{"raised_exception": bool,
"exception_message": ..., "exception_traceback": ...}``, e.g. a rule whose metric could not be
built) and keyed by metric id (``{"<metric id>": {"raised_exception": ...}, ...}``, e.g. an
``unexpected_rows_expectation`` whose SQL fails: GX does not raise, the result has
``success=False``). Read results through :func:`raised_info`; no GX import needed.
"""

from __future__ import annotations

from typing import Any


def raised_info(exception_info: Any) -> dict | None:
    """The first info in ``exception_info`` (either shape, or None) that says an exception was
    raised: ``{"raised_exception": True, "exception_message": ..., ...}``; None when none was."""
    if not isinstance(exception_info, dict) or not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    return next((info for info in infos if isinstance(info, dict) and info.get("raised_exception")), None)


def raised(result: Any) -> bool:
    """Whether a rule result (GX's ``ExpectationValidationResult``, or its JSON dict) says the
    rule could not be evaluated."""
    info = result.get("exception_info") if isinstance(result, dict) else getattr(result, "exception_info", None)
    return raised_info(info) is not None
