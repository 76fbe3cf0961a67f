"""Real servers for the whole test session, and a fresh migrated database per test module.

With ``DATABASE_URL``/``REDIS_URL`` set, those servers are used; otherwise the session starts the
embedded ones with the same code as ``ytdq services up`` (in a temporary state directory) and
stops them at the end. A server that cannot be reached fails the tests; nothing is skipped, except
the tests marked ``local_servers`` when the servers come from the environment (see below).
Under ``pytest -n N`` each worker is its own session: its own embedded servers, databases and
project copy (``tests/worker_home.py``; a plain session has its own copy too).
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

import tests.worker_home  # noqa: F401 - first: sets this session's YTDQ_HOME before ytempire_dq reads it
from tests.helpers import module_environ, with_redis_db
from ytempire_dq.db import migrations
from ytempire_dq.db.connect import connect, with_database
from ytempire_dq.ops import services

TEMPLATE_DB = f"ytdq_template_{os.getpid()}"
#: Servers from the environment (the GitHub workflow's service containers) instead of embedded ones.
EXTERNAL = [name for name in ("DATABASE_URL", "REDIS_URL") if os.environ.get(name)]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest -n, the controller: hand each worker our COLUMNS. A worker starts with COLUMNS=80 in
    its environment, and the CLI takes an exported COLUMNS as its table width (80 cuts rule ids)."""
    node.workerinput["ytdq_columns"] = os.environ.get("COLUMNS", "")


def pytest_configure(config):
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # before any test module imports the CLI (its width is read at import)
        if workerinput.get("ytdq_columns"):
            os.environ["COLUMNS"] = workerinput["ytdq_columns"]
        else:
            os.environ.pop("COLUMNS", None)
    if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("REDIS_URL"):
        # the modules keep their cache keys apart by Redis database number, which workers would share
        raise pytest.UsageError(
            "pytest -n needs a Redis per worker: unset REDIS_URL (each worker then starts its own servers)"
        )


#: The modules that take longest (one worker's seconds in a clean-clone ``make test``: 530 down to
#: 70), run first. ``make test`` hands each module to one worker whole (``--dist loadscope``: a
#: module's fixtures, often a seeded database and a nightly run, are set up once, not once per
#: worker that gets one of its tests), in this order: a long module that started last would keep
#: one worker busy after the others are done.
LONGEST_FIRST = (
    "tests.test_anomaly_nights",
    "tests.test_recipes",
    "tests.test_topologies",
    "tests.gx.test_checkpoint_defects",
    "tests.test_history",
    "tests.test_console_scripts",
    "tests.test_fast",
    "tests.test_standby",
    "tests.test_least_privilege",
    "tests.test_add_a_rule",
    "tests.test_junit",
    "tests.test_retention_nights",
    "tests.test_partition",
    "tests.test_backup",
    "tests.test_transactions",
)


#: Modules marked ``slow`` (``pytest -m slow`` / ``-m "not slow"``): a minute or more each: the
#: longest above, and three more measured over a minute in an earlier ``pytest -n 2 --junitxml`` run.
SLOW_MODULES = set(LONGEST_FIRST) | {
    "tests.test_server_states",
    "tests.cache.test_cache_checkpoint",
    "tests.gx.test_checkpoint_errors",
}


def _longest_first(item) -> int:
    name = getattr(item.module, "__name__", None)
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    """Puts the LONGEST_FIRST modules first (the others keep their order; a module's tests stay
    together) and marks the tests of SLOW_MODULES ``slow``. Tests marked ``local_servers`` start, stop or kill
    servers of their own from the machine's PostgreSQL/redis-server binaries; with servers given
    by the environment (the GitHub workflow) the machine need not have those binaries, and the
    tests are skipped saying so. .ci/run sets neither variable: there they run."""
    items.sort(key=_longest_first)
    for item in items:
        if getattr(item.module, "__name__", None) in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    if not EXTERNAL:
        return
    skip = pytest.mark.skip(
        reason=f"needs the machine's PostgreSQL/redis-server binaries (servers of its own, pg_dump); {' and '.join(EXTERNAL)} "
        "name external servers here (they run in .ci/run, which uses embedded servers)"
    )
    for item in items:
        if item.get_closest_marker("local_servers"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory) -> dict[str, str]:
    """{'postgres': url, 'redis': url} of running servers (external or embedded)."""
    state_dir = tmp_path_factory.mktemp("services")
    with pytest.MonkeyPatch.context() as env:  # no WAL archive: the session's data is throwaway
        env.setenv("YTDQ_WAL_ARCHIVE", "off")  # (tests/test_backup.py starts its own archiving cluster)
        state = services.up(state_dir)
    urls = {
        "postgres": os.environ.get("DATABASE_URL") or state["postgres"]["url"],
        "redis": os.environ.get("REDIS_URL") or state["redis"]["url"],
        "state_dir": str(state_dir),
    }
    connect(urls["postgres"]).close()  # fail loudly, now, if it is unreachable
    yield urls
    services.down(state_dir, purge=True)


def _admin(url: str):
    conn = connect(url)
    conn.autocommit = True
    return conn


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    conn = _admin(server_url)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    conn.close()
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    conn = _admin(server_url)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="session")
def template_url(server_urls) -> str:
    """A database migrated to the latest version, copied for every module."""
    url = create_database(server_urls["postgres"], TEMPLATE_DB)
    migrations.migrate(url)
    yield url
    drop_database(server_urls["postgres"], TEMPLATE_DB)


@pytest.fixture(scope="session")
def new_database(server_urls, template_url):
    """Factory: a fresh database (migrated unless ``empty=True``); all are dropped at session end."""
    made = []

    def make(label: str = "db", *, empty: bool = False) -> str:
        name = f"t_{re.sub(r'[^a-z0-9]+', '_', label.lower())[:30]}_{uuid.uuid4().hex[:8]}"
        made.append(name)
        return create_database(server_urls["postgres"], name, None if empty else TEMPLATE_DB)

    yield make
    for name in made:
        drop_database(server_urls["postgres"], name)


@pytest.fixture(scope="module")
def db_url(new_database, request) -> str:
    """This module's own fresh, migrated database."""
    return new_database(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture
def db(db_url):
    """An autocommit psycopg2 connection to the module's database."""
    conn = connect(db_url, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def redis_url(server_urls) -> str:
    return server_urls["redis"]


#: The Redis database REDIS_URL names in the modules using module_env: emptied for each (an empty cache breaks no
#: cache rule), so nightly's cache validation never sees keys another module seeded.
MODULE_ENV_REDIS_DB = 12


@pytest.fixture(scope="module")
def module_env(db_url, redis_url):
    """DATABASE_URL = this module's database, REDIS_URL = an emptied Redis database, for the whole module."""
    import redis

    cache_url = with_redis_db(redis_url, MODULE_ENV_REDIS_DB)
    client = redis.Redis.from_url(cache_url)
    client.flushdb()
    client.close()
    for _ in module_environ(DATABASE_URL=db_url, REDIS_URL=cache_url):
        yield db_url


# ---------------------------------------------------------------------------------------------
# production topologies (tests/topologies.py): started only by the tests that ask for them
# (mark those tests ``local_servers``: they run the machine's PostgreSQL binaries)


@pytest.fixture(scope="session")
def primary_cluster(tmp_path_factory):
    """A cluster of its own (not the session's: a replica copies a whole cluster) whose database
    ``ytempire`` is migrated and seeded with clean data (10 users)."""
    from tests import topologies
    from ytempire_dq.fixtures import seed

    cluster = topologies.start_cluster(tmp_path_factory.mktemp("primary"))
    try:
        migrations.migrate(cluster.url)
        seed.seed(cluster.url, users=10, seed=7)
        yield cluster
    finally:
        topologies.stop_cluster(cluster)


@pytest.fixture(scope="session")
def standby(primary_cluster):
    """A hot standby of ``primary_cluster`` (``pg_basebackup -R``), caught up with it."""
    from tests import topologies

    replica = topologies.start_replica(primary_cluster)
    try:
        yield replica
    finally:
        topologies.stop_cluster(replica)


@pytest.fixture(scope="session")
def store_cluster(tmp_path_factory):
    """A second cluster to serve as the results store; its database ``ytempire`` is migrated."""
    from tests import topologies

    cluster = topologies.start_cluster(tmp_path_factory.mktemp("store"))
    try:
        migrations.migrate(cluster.url)
        yield cluster
    finally:
        topologies.stop_cluster(cluster)


@pytest.fixture(scope="session")
def select_only_role():
    """Factory ``(owner_url, role) -> the role's URL`` (password ``topologies.ROLE_PASSWORD``): a
    role that may only read every table of the owner URL's database (``GRANT USAGE ON SCHEMA public,
    dq`` + ``SELECT ON ALL TABLES``); each is dropped at the end of the session."""
    from tests import topologies

    made = []

    def make(owner_url: str, role: str) -> str:
        made.append((owner_url, role))
        return topologies.create_select_only_role(owner_url, role)

    yield make
    for owner_url, role in reversed(made):
        try:
            topologies.drop_role(owner_url, role)
        except Exception:  # noqa: BLE001, S110 - its cluster or database may be gone already
            pass
