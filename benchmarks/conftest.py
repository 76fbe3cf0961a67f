"""The session database of the pytest-benchmark tests (``pytest benchmarks --benchmark-only``).

Seeded once per session, on DATABASE_URL's server or else on embedded PostgreSQL started (and
purged) for the session, as ``tests/conftest.py`` does for the test suite. These are timings, so
they live here and never run in ``make test`` (its testpaths are ``tests/``).
"""

from __future__ import annotations

import os

import pytest

#: Users seeded (about 10 channels, 100 videos and 3,000 analytics rows per 10 users).
USERS = int(os.environ.get("YTDQ_BENCH_USERS", "200"))


@pytest.fixture(scope="session")
def bench_url(tmp_path_factory) -> str:
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import connect, with_database
    from ytempire_dq.fixtures.seed import seed
    from ytempire_dq.ops import services

    state_dir = tmp_path_factory.mktemp("services")
    server = os.environ.get("DATABASE_URL") or services.up(state_dir, redis=False)["postgres"]["url"]
    name = f"ytdq_bench_{os.getpid()}"
    admin = connect(server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    migrations.migrate(url)
    seed(url, users=USERS, seed=42, manifest_path=state_dir / "manifest.json")
    yield url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
    services.down(state_dir, purge=True)
