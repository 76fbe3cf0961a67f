"""Data Docs at a constant cost per run (issue 14, item 4): a run renders its own pages and updates
the index from kept rows, never reading another run's stored result; the index it writes equals a
full ``docs build``'s and lists the latest run of each checkpoint first with its failed-rule count."""

from __future__ import annotations

import html
import json

import pytest
from great_expectations.data_context.store.store import Store
from great_expectations.data_context.store.validation_results_store import ValidationResultsStore

from benchmarks.docs_growth import copy_runs
from tests.docs_runs import (
    add_checkpoint_of,
    failed_count,
    index_tables,
    result_files,
    site_of,
    validation_pages,
)
from tests.helpers import copy_project
from ytempire_dq.docs import index_page as docs_index
from ytempire_dq.docs import site as docs_site
from ytempire_dq.docs.site import docs_build
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

PAYLOAD = "<img src=x onerror=document.body.dataset.pwned=1>"


@pytest.fixture(scope="module")
def project(db_url, tmp_path_factory):
    """Runs alpha, beta, alpha (users + channels; users) on data with 2 bad emails:
    (gx dir, [reports in run order])."""
    seed.seed(db_url, users=20, seed=3, inject={"bad_email": 2})
    gx_dir = copy_project(tmp_path_factory.mktemp("docs_growth"))
    add_checkpoint_of(gx_dir, "alpha", ["users", "channels"])
    add_checkpoint_of(gx_dir, "beta", ["users"])
    reports = [run_checkpoint(name, config_dir=gx_dir, database_url=db_url) for name in ("alpha", "beta", "alpha")]
    return gx_dir, reports


def failed_rules(report) -> int:
    return sum(not r.success for r in report.rules())


def test_the_index_lists_the_latest_run_of_each_checkpoint_first_with_its_failed_count(project):
    gx_dir, (alpha1, beta, alpha2) = project
    latest, validations = index_tables(gx_dir)
    assert [row["attrs"]["data-checkpoint"] for row in latest] == ["alpha", "beta"]
    assert [failed_count(row["cells"][2]) for row in latest] == [failed_rules(alpha2), failed_rules(beta)] == [1, 1]
    assert [row["cells"][4] for row in latest] == [alpha2.run_id, beta.run_id]
    assert "Failed" in latest[0]["cells"][0]
    # one row per stored validation: the latest runs' first (failed validation first), then the rest
    assert len(validations) == len(result_files(gx_dir)) == 5
    assert [(row["cells"][2], row["cells"][5]) for row in validations] == [
        (alpha2.run_id, "users"),
        (alpha2.run_id, "channels"),
        (beta.run_id, "users"),
        (alpha1.run_id, "channels"),
        (alpha1.run_id, "users"),
    ]
    for row in validations:  # each links its page, which exists
        assert (site_of(gx_dir) / html.unescape(row["links"][0])).is_file()


def test_incremental_updates_give_the_index_a_full_build_gives(project):
    gx_dir, _ = project
    site = site_of(gx_dir)
    incremental_rows = sorted(docs_site.read_rows(site), key=lambda r: r["filepath"])
    incremental_index = (site / "index.html").read_text()
    docs_build(gx_dir)
    assert sorted(docs_site.read_rows(site), key=lambda r: r["filepath"]) == incremental_rows
    assert (site / "index.html").read_text() == incremental_index
    assert len(validation_pages(gx_dir)) == len(result_files(gx_dir))


@pytest.fixture
def store_reads(monkeypatch):
    """The keys every validation results store reads (GX's Store.get), in order."""
    read: list = []
    original = Store.get

    def get(self, key, *args, **kwargs):
        if isinstance(self, ValidationResultsStore):
            read.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(Store, "get", get)
    return read


def test_a_run_reads_only_its_own_results(project, db_url, store_reads):
    gx_dir, _ = project
    copy_runs(gx_dir, 20)  # 20 more stored alpha runs (files, pages, index rows)
    stored_before = len(result_files(gx_dir))
    report = run_checkpoint("alpha", config_dir=gx_dir, database_url=db_url)
    assert store_reads, "the docs update read no result at all (instrumentation broken?)"
    assert {key.run_id.run_name for key in store_reads} == {report.run_id}
    assert len(store_reads) == 2  # its two validations, once each
    latest, validations = index_tables(gx_dir)
    assert len(validations) == stored_before + 2 and latest[0]["cells"][4] == report.run_id


def test_docs_build_reads_each_stored_result_once(project, store_reads):
    gx_dir, _ = project
    docs_build(gx_dir)
    assert len(store_reads) == len(set(store_reads)) == len(result_files(gx_dir))


def test_a_site_without_index_rows_gets_them_once(project, db_url):
    """A site built before the rows existed: the first update reads the stored results once."""
    gx_dir, _ = project
    site = site_of(gx_dir)
    docs_site.rows_path(site).unlink()
    report = run_checkpoint("beta", config_dir=gx_dir, database_url=db_url)
    rows = docs_site.read_rows(site)
    assert len(rows) == len(result_files(gx_dir)) and report.run_id in {r["run_name"] for r in rows}


def test_a_run_renders_a_suite_page_only_when_the_suite_changed(project, db_url):
    gx_dir, _ = project
    page = site_of(gx_dir) / "expectations" / "users.html"
    written = page.stat().st_mtime_ns
    run_checkpoint("beta", config_dir=gx_dir, database_url=db_url)
    assert page.stat().st_mtime_ns == written  # the same suite: its page is not rendered again
    suite_file = gx_dir.parent / "expectations" / "users.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"][0]["description"] = "users has exactly its columns (fingerprint check)"
    suite_file.write_text(json.dumps(suite, indent=2))
    run_checkpoint("beta", config_dir=gx_dir, database_url=db_url)
    assert "fingerprint check" in page.read_text()  # a changed suite: rendered again
    page.unlink()
    run_checkpoint("beta", config_dir=gx_dir, database_url=db_url)
    assert "fingerprint check" in page.read_text()  # a page gone: rendered again


def test_the_index_shows_names_as_text():
    rows = [
        {
            "filepath": "validations/x/r/t/b.html",
            "suite": PAYLOAD,
            "suite_filepath": docs_index.suite_filepath(PAYLOAD),
            "run_name": PAYLOAD,
            "run_time": "2026-12-01T10:00:00+00:00",
            "batch_identifier": PAYLOAD,
            "asset_name": PAYLOAD,
            "checkpoint": PAYLOAD,
            "success": False,
            "evaluated": 3,
            "failed": 1,
        }
    ]
    page = docs_index.render_index(PAYLOAD, rows, [PAYLOAD])
    assert "<img" not in page and "onerror=document" in page
    assert page.count(html.escape(PAYLOAD, quote=True)) >= 6
    assert "http://" not in page and "https://" not in page and "<script" not in page
    json.dumps(rows)  # rows are plain JSON
