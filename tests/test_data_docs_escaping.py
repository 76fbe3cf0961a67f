"""Nothing from the data or from hand-written files runs in Data Docs (issue 9, item 2).

Reproduces: a channel named ``<img src=x onerror=document.body.dataset.pwned=1>`` and a SQL rule
that casts it: PostgreSQL's ``invalid input syntax … "<img …>"`` was pasted raw into the
validation page and ran in Chromium; suite and checkpoint names written by hand into files were
not escaped either (suite page, validation page, index). Here the payload is put into every
place a string reaches Data Docs from: the error text, the suite, checkpoint, asset and rule
names, every ``meta`` (suite, rule, batch), descriptions and notes, and sampled values. Each page
is loaded in headless Chromium, served from 127.0.0.1 with the site's own scripts (jQuery,
Bootstrap, bootstrap-table…, shipped into ``static/vendor/`` by ``docs_assets.py``) — the index's
table is built by those scripts, so names there run only if they run. The control page proves the detector sees the payload run when it is not escaped.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shutil
import threading
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.chromium import Dom, dump_dom
from tests.custom_project import add_checkpoint
from tests.helpers import copy_project, insert_channel, insert_user
from tests.test_data_docs_browser import PWNED
from ytempire_dq.db.connect import connect
from ytempire_dq.run.checkpoint import run_checkpoint

PAYLOAD = "<img src=x onerror=document.body.dataset.pwned=1>"
#: The same handler for names that become file paths (GX turns each '.' of a suite name into a
#: directory level): no dots, quotes around the handler.
NAME = "<img src=x onerror=\"document['body']['dataset']['pwned']=1\">"


def add_table_asset(gx_dir: Path, name: str, table: str) -> dict:
    """Add a table asset called ``name`` (with a hostile batch_metadata) to the copy's data source
    ``ytempire``; the ``data`` block of a validation definition on its whole table."""
    yml = gx_dir / "great_expectations.yml"
    asset_id, batch_id = str(uuid.uuid4()), str(uuid.uuid4())
    block = (
        f"      {json.dumps(name)}:\n        type: table\n        id: {asset_id}\n"
        f"        batch_metadata:\n          source: {json.dumps(PAYLOAD)}\n        batch_definitions:\n"
        f"          whole_table:\n            id: {batch_id}\n            partitioner:\n"
        f"        table_name: {table}\n"
    )
    text = yml.read_text()
    anchor = "  ytempire:\n    type: postgres\n"
    head, tail = text.split(anchor)
    assets_at = tail.index("    assets:\n") + len("    assets:\n")
    yml.write_text(head + anchor + tail[:assets_at] + block + tail[assets_at:])
    datasource = re.search(r"  ytempire:\n    type: postgres\n    id: (\S+)", text)[1]
    return {
        "asset": {"id": asset_id, "name": name},
        "batch_definition": {"id": batch_id, "name": "whole_table"},
        "datasource": {"id": datasource, "name": "ytempire"},
    }


RULES = [
    {
        "type": "unexpected_rows_expectation",
        "description": PAYLOAD,
        "kwargs": {
            # niche, not channel_name: values PostgreSQL quotes from a personal column are masked
            "unexpected_rows_query": "SELECT id FROM {batch} WHERE niche::int > 0",
            "description": PAYLOAD,
        },
        "meta": {"rule_id": NAME, "notes": PAYLOAD, "owner": {"name": PAYLOAD, "tags": [PAYLOAD]}},
    },
    {
        "type": "expect_column_value_lengths_to_be_between",
        "description": PAYLOAD,
        "kwargs": {"column": "channel_name", "max_value": 20},
        "meta": {"rule_id": "channels.name_short", "notes": PAYLOAD},
    },
    {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "channel_name"},
        "meta": {"rule_id": "channels.name_set", PAYLOAD: PAYLOAD},
    },
]


@pytest.fixture(scope="module")
def site(db_url, tmp_path_factory):
    """Data Docs of a run of checkpoint NAME (suite NAME on asset NAME) over a channel named
    PAYLOAD: (report, site directory)."""
    conn = connect(db_url, autocommit=True)
    try:
        insert_channel(conn, insert_user(conn), channel_name=PAYLOAD, niche=PAYLOAD)
    finally:
        conn.close()
    gx_dir = copy_project(tmp_path_factory.mktemp("xss_project"))
    data = add_table_asset(gx_dir, NAME, "channels")
    add_checkpoint(
        gx_dir,
        checkpoint=NAME,
        suite=NAME,
        asset="channels",
        expectations=RULES,
        data=data,
        meta={"notes": PAYLOAD, "owner": PAYLOAD},
        notes=PAYLOAD,
    )
    report = run_checkpoint(NAME, config_dir=gx_dir, database_url=db_url)
    assert report.data_docs
    return report, gx_dir / "uncommitted" / "data_docs" / "local_site"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log in the test output
        pass


@pytest.fixture(scope="module")
def served(site, tmp_path_factory):
    """``url(page) -> str``: a copy of the site served over HTTP on 127.0.0.1 (its pages load
    their scripts from its own static/vendor/)."""
    root = tmp_path_factory.mktemp("served") / "site"
    shutil.copytree(site[1], root)
    assert (root / "static" / "vendor" / "jquery" / "dist" / "jquery.min.js").is_file()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    def url(page: Path) -> str:
        return base + quote(page.relative_to(root).as_posix())

    url.root = root
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profiles = tmp_path_factory.mktemp("chromium_xss")
    count = iter(range(1000))
    return lambda url: Dom(dump_dom(url, profiles / f"p{next(count)}"))


def assert_nothing_ran(page: Dom) -> None:
    """No handler marked the page, no payload became an element, and no text was escaped twice
    (a name reading ``&lt;img`` would be safe but wrong)."""
    assert not [attrs for _tag, attrs in page.elements if PWNED in attrs], "a payload's handler ran"
    assert not [img for img in page.tags("img") if img.get("src") == "x" or "onerror" in img], "a payload made an <img>"
    assert "&lt;img" not in page.text and "&quot;" not in page.text


def test_the_run_reports_the_sql_error_that_quotes_the_payload(site):
    report = site[0]
    (error_rule,) = [r for r in report.rules() if r.error]
    assert "invalid input syntax for type integer" in error_rule.error and PAYLOAD in error_rule.error
    assert report.rule("channels.name_short").unexpected_count == 1


def test_the_index_shows_the_names_as_text(served, browser):
    page = browser(served(served.root / "index.html"))
    assert_nothing_ran(page)
    # the index is static HTML (docs_index.py): a row per validation, the names as text in its cells
    assert [attrs for tag, attrs in page.elements if tag == "tr" and "validation-row" in attrs.get("class", "")]
    assert NAME in page.text


def test_the_suite_page_shows_names_meta_and_descriptions_as_text(served, browser):
    (suite_page,) = list((served.root / "expectations").glob("<img*.html"))
    page = browser(served(suite_page))
    assert_nothing_ran(page)
    assert f"Expectations / {NAME}" in page.text
    assert PAYLOAD in page.text  # the descriptions, as written


def test_the_validation_page_shows_the_error_text_and_names_as_text(served, browser):
    (validation_page,) = list((served.root / "validations").rglob("*.html"))
    page = browser(served(validation_page))
    assert_nothing_ran(page)
    assert f'invalid input syntax for type integer: "{PAYLOAD}"' in page.text  # the traceback, as text
    assert "Run Name" in page.text and NAME in page.text
    assert PAYLOAD in page.text  # the sampled channel name, the descriptions


def test_control_the_same_index_with_one_name_unescaped_runs_in_this_browser(served, browser):
    """Control: the detector sees a payload run once the index's scripts put it into the page."""
    index = (served.root / "index.html").read_text()
    escaped_name = html.escape(NAME, quote=True)  # as the index page wrote it into its cells
    assert escaped_name in index
    control = served.root / "control_index.html"
    control.write_text(index.replace(escaped_name, PAYLOAD))
    page = browser(served(control))
    assert [attrs for tag, attrs in page.elements if tag == "body" and attrs.get(PWNED) == "1"]
