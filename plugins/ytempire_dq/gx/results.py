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
    raised: ``{"raised_exception": True, "exception_message": ..., ...}``; None when none was.
    Keyed by metric id, the first by metric id: GX adds the metrics that failed in the order it
    met them, which varies from run to run (it resolves a step's metrics from a set), and a rule
    whose two metrics both fail (a SQL rule that does not parse) must give the same error in every
    run, and in the fast path as in GX alone."""
    if not isinstance(exception_info, dict) or not exception_info:
        return None
    if "raised_exception" in exception_info:
        infos = [exception_info]
    else:
        infos = [exception_info[key] for key in sorted(exception_info, key=str)]
    return next((info for info in infos if isinstance(info, dict) and info.get("raised_exception")), None)


def raised(result: Any) -> bool:
    """Whether a rule result (GX's ``ExpectationValidationResult``, or its JSON dict) says the
    rule could not be evaluated."""
    info = result.get("exception_info") if isinstance(result, dict) else getattr(result, "exception_info", None)
    return raised_info(info) is not None
