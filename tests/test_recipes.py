"""Every recipe of the documentation (tests/recipes.py reads them from docs/), applied to a copy
of the checkout (its own project home), leaves the project green: ``suite lint`` finds nothing,
``nightly`` on clean seeded data runs the new rules with the others and fails none, and the
benchmark's floor translates and counts every rule."""

from __future__ import annotations

import json

import pytest

from benchmarks import rules as R
from tests.helpers import empty_redis_db
from tests.recipes import apply_recipes
from tests.test_add_a_rule import run
from tests.worker_home import copy_checkout
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed

REDIS_DB = 9  # emptied: nightly validates the cache, an empty one breaks no rule


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def clean_db(new_database) -> str:
    url = new_database("recipes")
    seed.seed(url, users=20, seed=7)
    return url


def test_the_documented_recipes_applied_to_a_copy_of_the_checkout_keep_it_green(clean_db, cache_url, tmp_path):
    project = copy_checkout(tmp_path / "project")

    def ytdq(*args: str, **env: str):
        return run([".venv/bin/ytdq", *args], project, clean_db, cache_url, **env)

    applied = apply_recipes(project, lambda args: ytdq(*args))
    added = {rule_id for ids in applied.rules.values() for rule_id in ids}
    assert applied.threshold and len(applied.rules) >= 3 and len(added) > 5

    lint = ytdq("suite", "lint")
    assert lint.returncode == ExitCode.OK, lint.stdout[-3000:] + lint.stderr[-2000:]
    assert " 0 errors, 0 warnings" in lint.stdout

    nightly = json.loads((project / "checkpoints" / "nightly.json").read_text())
    names = [vd["name"] for vd in nightly["validation_definitions"]]
    assert names[-1] == "cache" and set(applied.suites) <= set(names)  # the new suites run; the cache stays last

    out = tmp_path / "nightly.json"
    ran = ytdq("checkpoint", "run", "nightly", "--json", str(out))
    report = json.loads(out.read_text())
    results = {r["rule_id"]: r for v in report["validations"] for r in v["results"]}
    failed = sorted(rule_id for rule_id, r in results.items() if not r["success"])
    assert ran.returncode == ExitCode.OK and failed == [], (failed, ran.stdout[-3000:], ran.stderr[-2000:])
    assert added <= set(results)  # every rule the recipes added ran
    assert applied.threshold in results

    # the benchmark's smoke path on the same project: every table rule translated, all clean
    rules = R.load_rules(project)
    assert {r for s, ids in applied.rules.items() for r in ids} <= {r.rule_id for r in rules}
    conn = connect(clean_db, autocommit=True)
    try:
        counts = R.run_floor(conn, rules)
    finally:
        conn.close()
    assert set(counts) == {r.rule_id for r in rules}
    assert {k: v for k, v in counts.items() if v} == {}
    assert R.sodacl_checks(rules)
