"""The six platform tables the seeder fills, in load order, with the columns it writes (COPY order)."""

from __future__ import annotations

TABLES = ("users", "channels", "videos", "analytics", "api_keys", "workflows")

COLUMNS = {
    "users": ("id", "email", "username", "password_hash", "status", "subscription_tier", "created_at", "updated_at"),
    "channels": (
        "id",
        "user_id",
        "youtube_channel_id",
        "channel_name",
        "niche",
        "status",
        "monetization_status",
        "created_at",
    ),
    "videos": (
        "id",
        "channel_id",
        "youtube_video_id",
        "title",
        "description",
        "status",
        "generation_cost",
        "view_count",
        "revenue",
        "published_at",
        "created_at",
    ),
    "analytics": ("video_id", "date", "views", "watch_time_minutes", "revenue", "subscribers_gained"),
    "api_keys": ("id", "user_id", "key_hash", "name", "scopes", "created_at", "last_used_at", "revoked_at"),
    "workflows": (
        "id",
        "channel_id",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "cost",
        "error_message",
        "created_at",
    ),
}
