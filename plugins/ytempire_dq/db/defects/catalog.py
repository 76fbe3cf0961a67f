"""Every defect kind by name (:data:`DEFECT_KINDS`), and the check of a ``{kind: count}`` request."""

from __future__ import annotations

from ytempire_dq.db.defects.business_kinds import BUSINESS_KINDS
from ytempire_dq.db.defects.constraint_kinds import CONSTRAINT_KINDS
from ytempire_dq.db.defects.kinds import DefectKind, UnknownDefectKind
from ytempire_dq.db.defects.privacy_kinds import PRIVACY_KINDS
from ytempire_dq.errors import YtdqError

DEFECT_KINDS: dict[str, DefectKind] = {k.name: k for k in CONSTRAINT_KINDS + BUSINESS_KINDS + PRIVACY_KINDS}


def validate_counts(counts: dict[str, int]) -> dict[str, int]:
    """Check kinds and counts before anything is written; unknown kinds raise :class:`UnknownDefectKind`."""
    unknown = sorted(k for k in counts if k not in DEFECT_KINDS)
    if unknown:
        raise UnknownDefectKind(
            f"unknown defect kind{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid kinds: {', '.join(DEFECT_KINDS)}"
        )
    clean: dict[str, int] = {}
    for kind, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise YtdqError(f"defect count for {kind!r} must be an integer, got {count!r}")
        if count < 0:
            raise YtdqError(f"defect count for {kind!r} must be >= 0, got {count}")
        clean[kind] = count
    return clean
