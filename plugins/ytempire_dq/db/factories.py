"""Row shapes for the seeder: factory_boy ``DictFactory`` classes and the value pools they draw from.

Each factory builds one row of a table as a ``dict`` keyed by column name. The seeder computes
everything that ties rows together (ids, foreign keys, timestamps relative to "now", counts) and
passes it in as keyword arguments; the factories fill in the free-text shape of a row with Faker
(usernames, channel names, key names...). Call :func:`reseed` first: factory_boy and Faker share
one random state, so the same seed gives the same rows.

The big tables (videos, analytics) are not built through factory_boy: at ~100 µs per factory
call it would dominate the run. Their text comes from :func:`title_vocabulary`, made once by Faker.
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid

import factory
import factory.random
from faker import Faker

from ytempire_dq import gx_compat

TIERS = ("free", "starter", "professional", "enterprise")
TIER_WEIGHTS = (40, 35, 20, 5)
TIER_LIMITS = {"free": 1, "starter": 5, "professional": 20, "enterprise": 100}

USER_STATUSES = ("active", "suspended", "deleted")
USER_STATUS_WEIGHTS = (94, 4, 2)
# A suspended or deleted user keeps no active channel.
INACTIVE_USER_STATUSES = ("suspended", "deleted")
CHANNEL_STATUSES = ("active", "paused", "suspended", "deleted")
MONETIZATION_STATUSES = ("not_eligible", "pending", "monetized", "demonetized")
VIDEO_STATUSES = ("draft", "generating", "ready", "scheduled", "published", "failed", "archived")
# Most videos are published; the rest are spread over the pipeline's other states.
VIDEO_STATUS_WEIGHTS = (6, 2, 5, 5, 72, 5, 5)
WORKFLOW_KINDS = ("script_generation", "voice_synthesis", "video_render", "thumbnail", "upload", "analytics_sync")
WORKFLOW_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
WORKFLOW_STATUS_WEIGHTS = (8, 6, 73, 9, 4)
API_KEY_SCOPES = ("read", "write", "analytics", "upload", "admin")
API_KEY_NAMES = ("ci", "zapier", "dashboard", "mobile", "backup", "reporting", "n8n", "cli")

NICHES = (
    "tech",
    "gaming",
    "finance",
    "cooking",
    "fitness",
    "travel",
    "education",
    "music",
    "science",
    "history",
    "motivation",
    "crypto",
    "diy",
    "pets",
    "beauty",
    "news",
)
GENERATION_COST = (0.10, 5.00)  # a video's generation cost must stay in this range
# Statuses of a video that was never published (no YouTube id, publish time, views or analytics).
NEVER_PUBLISHED_STATUSES = ("draft", "generating", "ready", "scheduled", "failed")
YPP_MIN_SUBSCRIBERS = 1000  # YouTube Partner Program: a monetized channel has at least this many subscribers
# A channel's subscribers: what its videos gained, day by day (analytics.subscribers_gained).
MAX_SUBSCRIBERS_PER_VIEW = 1  # a day's subscribers_gained is at most that day's views
REVENUE_TOLERANCE = 0.01  # videos.revenue and the sum of its analytics' revenue may differ by a cent
MAX_VIDEO_MINUTES = 720  # YouTube's longest upload (12 hours): a view watches at most this long
ANALYTICS_MAX_AGE_DAYS = 3  # the newest analytics day of a published video is at most this old
STUCK_RUNNING_HOURS = 6  # a workflow running longer than this is stuck

YT_ALPHABET = string.ascii_letters + string.digits + "-_"


def reseed(seed: int) -> None:
    """Seed factory_boy's and Faker's shared random state (same seed, same rows)."""
    factory.random.reseed_random(seed)
    UserFactory.reset_sequence(0, force=True)


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (deterministic, unlike gen_random_uuid())."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def youtube_channel_id(rng: random.Random) -> str:
    """``UC`` + 22 characters of ``[A-Za-z0-9_-]``, the shape YouTube gives channel ids."""
    return "UC" + "".join(rng.choices(YT_ALPHABET, k=22))


def youtube_video_id(rng: random.Random) -> str:
    """11 characters of ``[A-Za-z0-9_-]``."""
    return "".join(rng.choices(YT_ALPHABET, k=11))


def sha256_hex(rng: random.Random) -> str:
    """A SHA-256 digest as 64 lowercase hex characters (what ``api_keys.key_hash`` holds)."""
    return hashlib.sha256(rng.getrandbits(256).to_bytes(32, "big")).hexdigest()


def _username(n: int) -> str:
    # Faker's user_name is [a-z0-9._]; the sequence suffix makes it unique.
    return f"{gx_compat.shared_faker().user_name()}{n}"


class UserFactory(factory.DictFactory):
    """A ``users`` row. Pass ``id``, ``status``, ``subscription_tier``, ``created_at``, ``updated_at``."""

    username = factory.Sequence(_username)
    email = factory.LazyAttribute(lambda o: f"{o.username}@{o.email_domain}")
    password_hash = factory.LazyFunction(lambda: "$2b$12$" + gx_compat.shared_faker().pystr(min_chars=53, max_chars=53))

    class Params:
        email_domain = factory.Faker("free_email_domain")


class ChannelFactory(factory.DictFactory):
    """A ``channels`` row. Pass ids, ``status``, counts and timestamps."""

    niche = factory.Faker("random_element", elements=NICHES)
    channel_name = factory.LazyAttribute(lambda o: f"{gx_compat.shared_faker().catch_phrase()} {o.niche.title()}"[:255])


class ApiKeyFactory(factory.DictFactory):
    """An ``api_keys`` row. Pass ids, ``key_hash`` and timestamps."""

    name = factory.Faker("random_element", elements=API_KEY_NAMES)
    scopes = factory.LazyFunction(
        lambda: sorted(gx_compat.shared_faker().random_elements(API_KEY_SCOPES, length=2, unique=True))
    )


def title_vocabulary(faker: Faker | None = None, size: int = 400) -> list[str]:
    """Words for video titles, made once by Faker (per-row Faker calls would be too slow)."""
    faker = faker or gx_compat.shared_faker()
    words = {w.capitalize() for w in faker.words(nb=size * 2)}
    words.update(n.capitalize() for n in NICHES)
    return sorted(words)


TITLE_PATTERNS = (
    "{n} {a} {b} You Need to Know",
    "Why {a} {b} Matters in {y}",
    "How to {a} Your {b} (Step by Step)",
    "The Truth About {a} {b}",
    "{a} vs {b}: Which Wins?",
    "I Tried {a} {b} for 30 Days",
    "{n} {a} Mistakes Everyone Makes",
    "The Ultimate {a} {b} Guide",
    "{a} {b} Explained in {n} Minutes",
)
