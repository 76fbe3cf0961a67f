"""The defect kinds: each names the ONE rule that catches it and the SQL that counts its rows.

The table of kinds is in two modules: :mod:`.constraint_kinds` (what a schema constraint or a
schema-restating rule catches) and :mod:`.business_kinds` (rules no constraint can hold)."""

from __future__ import annotations

from dataclasses import dataclass

from ytempire_dq.db import factories as f
from ytempire_dq.errors import YtdqError

EMAIL_RE = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
YT_CHANNEL_RE = r"^UC[A-Za-z0-9_-]{22}$"
YT_VIDEO_RE = r"^[A-Za-z0-9_-]{11}$"
#: An HTML/XML tag (what a scraped or pasted title should never carry); the suite's
#: ``videos.title_has_no_markup`` uses the same pattern.
MARKUP_RE = r"<[a-zA-Z/!][^>]*>"
#: What ``markup_in_title`` writes: a script tag, and an ``onerror`` handler that would mark the
#: page if a viewer (Data Docs) ever ran it instead of showing it as text.
MARKUP_TITLE = "<script>alert(1)</script><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_NEVER = _in(f.NEVER_PUBLISHED_STATUSES)
#: The subscribers channel ``c`` has: what its videos gained, summed over their analytics days
#: (the platform's schema keeps no subscriber count of its own).
GAINED = (
    "(SELECT coalesce(sum(ga.subscribers_gained), 0) FROM videos gv JOIN analytics ga ON ga.video_id = gv.id "
    "WHERE gv.channel_id = c.id)"
)
#: (singular, table, the event/creation/publication timestamps that must not lie in the future)
_TIMESTAMPS = (
    ("user", "users", ("created_at", "updated_at")),
    ("channel", "channels", ("created_at",)),
    ("video", "videos", ("created_at", "published_at")),
    ("api_key", "api_keys", ("created_at", "last_used_at", "revoked_at")),
    ("workflow", "workflows", ("created_at", "started_at", "finished_at")),
)
_TIER_LIMITS_SQL = "(VALUES " + ", ".join(f"('{t}', {n})" for t, n in f.TIER_LIMITS.items()) + ")"


class UnknownDefectKind(YtdqError):
    """A defect kind that :data:`DEFECT_KINDS` does not define."""


@dataclass(frozen=True)
class DefectKind:
    """One kind of defect: what it breaks and the SQL that counts its offending rows."""

    name: str
    rule_id: str  # the ONE rule that catches it: its unexpected count equals the injected rows
    table: str
    description: str
    count_sql: str
    rows_per_defect: int = 1  # rows that share one duplicated key (2 for duplicate_* kinds)


def _orphans(child: str, fk: str, parent: str) -> str:
    return f"SELECT count(*) FROM {child} x WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = x.{fk})"


def _outside(table: str, column: str, allowed) -> str:
    return f"SELECT count(*) FROM {table} WHERE {column} NOT IN {_in(allowed)}"


def _duplicates(table: str, columns: str) -> str:
    return (
        f"SELECT count(*) FROM (SELECT {columns} FROM {table} WHERE ({columns}) IS NOT NULL "
        f"GROUP BY {columns} HAVING count(*) > 1) d"
    )
