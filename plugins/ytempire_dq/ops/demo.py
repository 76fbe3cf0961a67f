"""The README's tour (`make demo`), end to end: services up, migrate, seed with a few known defects, fill
the cache from the database, run the ``nightly`` checkpoint (it fails, naming the injected rules)
and rebuild Data Docs.

Each step is a library call the CLI also exposes; this module only strings them together.
"""

from __future__ import annotations

import os

from ytempire_dq import config
from ytempire_dq.db import migrations
from ytempire_dq.ops import services
from ytempire_dq.values import plural

# A handful of defects, one per kind of rule, so the run shows what a failure looks like.
DEMO_DEFECTS = {
    "orphan_videos": 3,
    "bad_email": 2,
    "cost_out_of_range": 4,
    "published_without_youtube_id": 5,
    "analytics_sum_mismatch": 2,
    "over_tier_limit": 1,
    "duplicate_analytics_day": 2,
    "markup_in_title": 1,  # Data Docs show the <script> title as text
}
DEMO_CACHE_DEFECTS = {"stale_video_stats": 3}


def run_demo(*, users: int = 200, seed: int = 42, log=print, progress=None) -> dict:
    """Start (or reuse) the servers, rebuild the schema, seed data with DEMO_DEFECTS injected (and
    the cache with DEMO_CACHE_DEFECTS),
    run ``nightly``; ``{"url", "seed", "cache", "report"}``."""
    from ytempire_dq.fixtures import seed as seeder
    from ytempire_dq.fixtures.cache_seed import seed_cache
    from ytempire_dq.run.checkpoint import run_checkpoint

    services.up(config.STATE_DIR, log=log)
    url = config.database_url()
    log(f"database: {config.mask_url(url)}")
    if not os.environ.get("REDIS_URL"):
        log(f"redis:    {config.mask_url(config.redis_url())}")
    # A previous demo injected defects by dropping constraints: start from a clean schema.
    owner = config.store_url(url)  # migrations and seed data: the owner (the checks' role cannot write)
    migrations.rollback(owner, to=0)
    applied = migrations.migrate(owner)
    log(f"migrated: {plural(len(applied), 'migration')} applied")
    report = seeder.seed(
        owner,
        users=users,
        seed=seed,
        inject=DEMO_DEFECTS,
        manifest_path=config.STATE_DIR / "seed_manifest.json",
        progress=True,
    )
    cache = seed_cache(
        url,
        config.redis_url(),
        seed=seed,
        inject=DEMO_CACHE_DEFECTS,
        manifest_path=config.STATE_DIR / "cache_manifest.json",
    )
    log(f"cache:    {plural(cache['keys'], 'key', fmt=',')} written from the database; injected {cache['injected']}")
    log("running checkpoint nightly (Data Docs are rebuilt by its action)")
    run = run_checkpoint("nightly", database_url=url, progress=progress)
    return {"url": url, "seed": report, "cache": cache, "report": run}
