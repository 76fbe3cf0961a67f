"""Several sources, one results store: each run records the name of the database it checked
(``YTDQ_SOURCE``, else host:port/database), and what a run learns from the history -- the
volume/drift baselines, the ``--since-last`` watermarks -- is read for its own source only;
``ytdq history --source``, the rule-history page and the Data Docs index say which source."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.custom_project import add_checkpoint
from tests.helpers import a_day_passes, copy_project, rows, scalar
from ytempire_dq import config
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

RULE = "analytics.rows_band_per_source"
BAND = {
    "type": "expect_table_row_count_to_be_within_history_band",
    "kwargs": {"table": "analytics", "runs": 3, "min_runs": 2},
    "meta": {"rule_id": RULE},
}


@pytest.fixture(scope="module")
def setup(module_env, new_database, tmp_path_factory):
    """Two seeded databases (production and staging, different sizes), one store apart, and a
    checkpoint ``band`` with one row-count band rule that forms after 2 runs."""
    production, staging = new_database("src_production"), new_database("src_staging")
    seed.seed(production, users=8, seed=3)
    seed.seed(staging, users=4, seed=4)
    store = new_database("src_store", empty=True)
    gx_dir = copy_project(tmp_path_factory.mktemp("sources"))
    add_checkpoint(gx_dir, checkpoint="band", suite="band", asset="analytics", expectations=[BAND])
    return {"production": production, "staging": staging, "store": store, "gx": gx_dir}


def run(setup, monkeypatch, source: str | None, db: str, store: str | None = None, **kwargs):
    monkeypatch.setenv("YTDQ_STORE_URL", store or setup["store"])
    if source is None:
        monkeypatch.delenv("YTDQ_SOURCE", raising=False)
    else:
        monkeypatch.setenv("YTDQ_SOURCE", source)
    return run_checkpoint("band", config_dir=setup["gx"], database_url=setup[db], **kwargs)


@pytest.fixture(scope="module")
def recorded(setup):
    """Three runs on production, one on staging, one more on production, in one store."""
    with pytest.MonkeyPatch.context() as mp:
        production = []
        for _ in range(3):  # nightly: a day apart (the band counts one value a day)
            production.append(run(setup, mp, "production", "production"))
            a_day_passes(setup["store"])
        staging = run(setup, mp, "staging", "staging")
        again = run(setup, mp, "production", "production")
    return {"production": production, "staging": staging, "again": again}


def test_staging_never_teaches_productions_band(setup, recorded):
    assert [r.rule(RULE).observed_value["status"] for r in recorded["production"]] == [
        "not enough history yet (0 of 2 days)",
        "not enough history yet (1 of 2 days)",
        "within band",
    ]
    # staging holds half the rows: judged against production's band it would fail; it has none
    staging = recorded["staging"]
    assert staging.success and staging.rule(RULE).observed_value["status"] == "not enough history yet (0 of 2 days)"
    assert staging.source == "staging" and staging.to_dict()["source"] == "staging"
    # staging's value did not join production's
    assert recorded["again"].rule(RULE).observed_value["baseline_runs"] == 3
    c = connect(setup["store"], autocommit=True)
    try:
        counts = dict(rows(c, "SELECT source, count(*) FROM dq.runs GROUP BY source"))
        assert counts["production"] >= 4 and counts["staging"] >= 1
        ids = {r.run_id for r in [*recorded["production"], recorded["again"]]}
        assert ids <= {i for (i,) in rows(c, "SELECT run_id FROM dq.runs WHERE source = 'production'")}
    finally:
        c.close()


def test_history_lists_each_source_and_filters_by_one(setup, recorded, monkeypatch):
    monkeypatch.setenv("YTDQ_STORE_URL", setup["store"])
    cli = CliRunner()
    every = json.loads(cli.invoke(main, ["history", "--json", "--limit", "100"]).output)
    assert {r["source"] for r in every} == {"production", "staging"}
    staging = json.loads(cli.invoke(main, ["history", "--json", "--source", "staging"]).output)
    assert {r["source"] for r in staging} == {"staging"} and recorded["staging"].run_id in {
        r["run_id"] for r in staging
    }
    trend = json.loads(cli.invoke(main, ["history", RULE, "--json", "--source", "staging"]).output)
    assert [r["run_id"] for r in trend["runs"]] == [r["run_id"] for r in staging]
    table = cli.invoke(main, ["history", "--source", "production"])
    assert table.exit_code == 0 and "production" in table.output and "staging" not in table.output
    unknown = cli.invoke(main, ["history", "--source", "nowhere"])
    assert unknown.exit_code == ExitCode.RUN_FAILED
    assert "no runs of source 'nowhere'" in unknown.output and "its sources: " in unknown.output
    assert "'production'" in unknown.output and "'staging'" in unknown.output


def test_the_default_source_is_host_port_database_without_secrets(setup, monkeypatch):
    url = setup["staging"].replace("://ytdq@", "://ytdq:s3cret@")
    monkeypatch.delenv("YTDQ_SOURCE", raising=False)
    name = config.source_name(url)
    host, port = config.host_port(url, 5432)
    assert name == f"{host}:{port}/{url.rsplit('/', 1)[1]}" and "s3cret" not in name and "ytdq" not in name
    report = run(setup, monkeypatch, None, "staging")
    assert report.source == config.source_name(setup["staging"])
    monkeypatch.setenv("YTDQ_SOURCE", "x" * 101)
    with pytest.raises(Exception, match="YTDQ_SOURCE must be a printable name of at most 100 characters"):
        config.source_name(url)


def test_watermarks_are_kept_per_source(setup, monkeypatch):
    """``--since-last`` on staging does not start from production's watermark."""
    run(setup, monkeypatch, "production", "production")
    incremental = run(setup, monkeypatch, "production", "production", since_last=True)
    first_on_qa = run(setup, monkeypatch, "qa", "staging", since_last=True)
    assert incremental.scan["mode"] == "incremental"
    assert first_on_qa.scan["mode"] == "full" and first_on_qa.scan["reason"] == "no successful run with a watermark yet"


def test_runs_recorded_before_sources_are_adopted_by_the_next_run(setup, monkeypatch, new_database):
    store = new_database("src_store_legacy", empty=True)
    first = run(setup, monkeypatch, "legacy", "staging", store=store)
    c = connect(store, autocommit=True)
    try:
        c.cursor().execute("UPDATE dq.runs SET source = NULL")  # as recorded before sources were named
        second = run(setup, monkeypatch, "legacy", "staging", store=store)
        assert scalar(c, "SELECT count(*) FROM dq.runs WHERE source IS NULL") == 0
        assert rows(c, "SELECT run_id FROM dq.runs WHERE source = 'legacy' ORDER BY started_at") == [
            (first.run_id,),
            (second.run_id,),
        ]
        assert second.rule(RULE).observed_value["baseline_runs"] == 1  # the adopted run's value counts
    finally:
        c.close()


def test_data_docs_say_which_source_each_run_checked(setup, recorded):
    from ytempire_dq.docs import history_page, index_page

    checkpoints = history_page.history(setup["store"])
    assert {(cp["checkpoint"], cp["source"]) for cp in checkpoints} >= {("band", "production"), ("band", "staging")}
    markup = history_page.render_history(checkpoints)
    assert "source production" in markup and "source staging" in markup
    assert "--source staging" in markup or "--source production" in markup  # the other source's own command
    anchors = [part.split('"')[0] for part in markup.split('id="')[1:]]
    assert len(anchors) == len(set(anchors))  # one section per source, no anchor twice
    index = (setup["gx"] / "uncommitted" / "data_docs" / "local_site" / "index.html").read_text()
    latest = index[index.index('class="latest-runs"') :]
    assert '<td class="source">' in latest
    source_cell = latest.split('<td class="source">', 1)[1].split("<", 1)[0]
    names = {"production", "staging", "qa", "legacy", "readme", config.source_name(setup["staging"])}
    assert source_cell in {index_page.e(name) for name in names}  # the module's runs share one Data Docs site


def test_the_readme_store_block_makes_a_store_the_first_run_migrates(setup, monkeypatch, server_urls):
    """The second ```sql block of docs/production.md ("Run it against production"), run as written (names and
    password replaced) on the session's server: an empty database owned by a plain role is a store
    the first run migrates and writes."""
    import uuid

    import sqlalchemy as sa

    from tests.doc_pages import code_block
    from ytempire_dq.db import migrations

    block = code_block("production.md", "Run it against production", "sql", 1)
    role, db, password = f"st_{uuid.uuid4().hex[:8]}", f"st_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = connect(server_urls["postgres"], autocommit=True)
    try:
        for statement in filter(None, (s.strip() for s in block.split(";"))):
            statement = statement.replace("ytdq_store", role).replace("ytdq_results", db)
            admin.cursor().execute(statement.replace("change-me", password))
        url = sa.make_url(server_urls["postgres"]).set(username=role, password=password, database=db)
        monkeypatch.setenv("YTDQ_SOURCE", "readme")
        monkeypatch.setenv("YTDQ_STORE_URL", url.render_as_string(hide_password=False))
        report = run_checkpoint("band", config_dir=setup["gx"], database_url=setup["staging"])
        assert report.exit_code == ExitCode.OK and report.history_error is None
        store = connect(url.render_as_string(hide_password=False), autocommit=True)
        try:
            assert rows(store, "SELECT run_id, source FROM dq.runs") == [(report.run_id, "readme")]
            with store.cursor() as cur:
                assert migrations.applied_versions(cur) == frozenset(migrations.STORE)
        finally:
            store.close()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.cursor().execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
