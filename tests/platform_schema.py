"""The platform's schema for users, channels, videos and analytics as its specification defines it
(the seed document's "Core Database Schema"), as data the tests compare the migrated catalog with.

Each column: (type as ``format_type`` prints it, nullable, default as ``pg_get_expr`` prints it).
The specification's inline MySQL ``INDEX`` lines are PostgreSQL ``CREATE INDEX`` statements here,
under the same names. :data:`EXTENSIONS` lists what the project adds, each with its reason (the
"The platform's schema" in docs/concepts.md says the same to users).
"""

from __future__ import annotations

_UUID_PK = ("uuid", False, "gen_random_uuid()")
_NOW = ("timestamp with time zone", True, "now()")


def _status(default: str) -> tuple:
    return ("character varying(20)", True, f"'{default}'::character varying")


COLUMNS = {
    "users": {
        "id": _UUID_PK,
        "email": ("character varying(255)", False, None),
        "username": ("character varying(50)", False, None),
        "password_hash": ("character varying(255)", False, None),
        "created_at": _NOW,
        "updated_at": _NOW,
        "status": _status("active"),
        "subscription_tier": _status("free"),
    },
    "channels": {
        "id": _UUID_PK,
        "user_id": ("uuid", False, None),
        "youtube_channel_id": ("character varying(100)", False, None),
        "channel_name": ("character varying(255)", False, None),
        "niche": ("character varying(100)", False, None),
        "status": _status("active"),
        "created_at": _NOW,
        "monetization_status": _status("pending"),
    },
    "videos": {
        "id": _UUID_PK,
        "channel_id": ("uuid", False, None),
        "title": ("character varying(500)", False, None),
        "description": ("text", True, None),
        "youtube_video_id": ("character varying(100)", True, None),
        "status": _status("draft"),
        "generation_cost": ("numeric(10,2)", True, None),
        "created_at": _NOW,
        "published_at": ("timestamp with time zone", True, None),
        "view_count": ("bigint", True, "0"),
        "revenue": ("numeric(10,2)", True, "0"),
    },
    "analytics": {
        "id": _UUID_PK,
        "video_id": ("uuid", False, None),
        "date": ("date", False, None),
        "views": ("integer", True, "0"),
        "watch_time_minutes": ("numeric(10,2)", True, "0"),
        "subscribers_gained": ("integer", True, "0"),
        "revenue": ("numeric(10,2)", True, "0"),
    },
}

#: Named constraints (PostgreSQL's names for the unnamed ones): (table, name) -> kind
#: (p primary key, u unique, f foreign key ON DELETE CASCADE, c check).
CONSTRAINTS = {
    ("users", "users_pkey"): "p",
    ("users", "users_email_key"): "u",
    ("users", "users_username_key"): "u",
    ("users", "email_format"): "c",
    ("users", "username_length"): "c",
    ("channels", "channels_pkey"): "p",
    ("channels", "channels_user_id_fkey"): "f",
    ("channels", "channels_youtube_channel_id_key"): "u",
    ("videos", "videos_pkey"): "p",
    ("videos", "videos_channel_id_fkey"): "f",
    ("videos", "videos_youtube_video_id_key"): "u",
    ("analytics", "analytics_pkey"): "p",
    ("analytics", "analytics_video_id_fkey"): "f",
    ("analytics", "analytics_video_id_date_key"): "u",
}

#: The inline INDEX lines: name -> (table, column).
INDEXES = {
    "idx_user_channels": ("channels", "user_id"),
    "idx_channel_status": ("channels", "status"),
    "idx_channel_videos": ("videos", "channel_id"),
    "idx_video_status": ("videos", "status"),
    "idx_published_date": ("videos", "published_at"),
    "idx_analytics_date": ("analytics", "date"),
    "idx_video_analytics": ("analytics", "video_id"),
}

#: What the project's schema adds to the specification's, and why. Nothing here is needed by a rule.
EXTENSIONS = {
    # CHECKs reject a bad row when it is written; the suites hold the same rules for copies without them
    ("users", "users_subscription_tier_check"): "c",
    ("channels", "channels_status_check"): "c",
    ("channels", "channels_monetization_status_check"): "c",
    ("videos", "videos_status_check"): "c",
    ("videos", "videos_view_count_check"): "c",
    ("analytics", "analytics_views_check"): "c",
    ("analytics", "analytics_watch_time_check"): "c",
    ("analytics", "analytics_revenue_check"): "c",
}

#: Where the project's constraint text departs from the specification's on purpose: its e-mail
#: pattern's top-level-domain class is ``[A-Z|a-z]``, which admits ``|``; the project's is ``[A-Za-z]``.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
