"""Data Docs as a person sees them: headless Chromium, network cut off, loads the pages ``nightly``
built on seeded defects (a video title carrying ``<script>alert(1)</script>`` and an ``onerror``
image among them) and the tests read the *rendered* page.

Proves: the site is self-contained (no page names an http(s) URL for a script, stylesheet, font or
image; loading the index and a validation page from ``file://`` and from ``ytdq docs serve``
requests nothing off the machine, and nothing fails to load); the index's scripts build its table,
one row per stored validation; every failed rule shows a red "✗ failed" (rendered text and
computed colour of its status cell), failed rules come first, and the cross-table page names the
tables its rules check; every custom rule reads as its sentence with its parameters (and its
description); the markup title is shown as text and nothing in it runs (a control page with the
same payload unescaped shows the detector works). Screenshots of the index, a failed validation
page and any other top-level page (the rule history) land in ``tests/artifacts/`` (git-ignored).

Chromium is required (``.ci/install`` installs Debian's ``chromium`` when absent): without it these
tests fail. Every host name resolves to nowhere (loopback excepted), see ``tests/chromium.py``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from string import Template
from urllib.parse import unquote

import pytest
import redis

from tests.chromium import Browser, Dom, dump_dom
from tests.helpers import copy_project, with_redis_db
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import MARKUP_TITLE
from ytempire_dq.run.checkpoint import run_checkpoint

#: Where the screenshots go (git-ignored); the picture in README.md and docs/data-docs.md is one of them, copied by hand.
ARTIFACTS = Path(__file__).parent / "artifacts"
#: Defects for the run; markup_in_title makes the titles the XSS checks look for.
INJECT = {
    "markup_in_title": 2,
    "orphan_videos": 2,
    "orphan_channels": 1,
    "over_tier_limit": 1,
    "analytics_sum_mismatch": 1,
    "bad_email": 1,
}
#: The Redis database REDIS_URL names here (emptied: an empty cache breaks no cache rule).
REDIS_DB = 11
PWNED = "data-pwned"


def expected_sentence(expectation: dict) -> str | None:
    """The sentence a custom rule of ours renders (its own renderer, parameters filled in); None
    for GX's own expectation types."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.registry import get_expectation_impl, get_renderer_impl
    from great_expectations.render import LegacyRendererType

    if not get_expectation_impl(expectation["type"]).__module__.startswith("ytempire_dq."):
        return None
    configuration = ExpectationConfiguration(type=expectation["type"], kwargs=expectation["kwargs"])
    _, render = get_renderer_impl(object_name=expectation["type"], renderer_type=LegacyRendererType.PRESCRIPTIVE)
    (block,) = render(configuration=configuration)
    template = block.string_template
    text = Template(template["template"]).safe_substitute({k: str(v) for k, v in template["params"].items()})
    return " ".join(text.split())


@pytest.fixture(scope="module")
def site(db_url, redis_url, tmp_path_factory):
    """Data Docs of one ``nightly`` run on seeded defects, in a project copy: (report, site dir, gx dir)."""
    cache_url = with_redis_db(redis_url, REDIS_DB)
    client = redis.Redis.from_url(cache_url)
    client.flushdb()
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", db_url)
    mp.setenv("REDIS_URL", cache_url)  # in case nightly validates the cache too
    try:
        seed.seed(db_url, users=30, seed=42, inject=INJECT)
        gx_dir = copy_project(tmp_path_factory.mktemp("docs_project"))
        report = run_checkpoint("nightly", config_dir=gx_dir, database_url=db_url)
    finally:
        mp.undo()
        client.flushdb()
        client.close()
    assert report.data_docs, "nightly built no Data Docs"
    return report, Path(report.data_docs).parent, gx_dir


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """``open(page) -> Dom`` with a fresh Chromium profile per page."""
    profiles = tmp_path_factory.mktemp("chromium")
    count = iter(range(1000))

    def open_page(page: Path) -> Dom:
        return Dom(dump_dom(page, profiles / f"p{next(count)}"))

    return open_page


@pytest.fixture(scope="module")
def index(site, browser) -> Dom:
    return browser(site[1] / "index.html")


def validation_page(site, index: Dom, suite: str) -> Path:
    """The run's validation page of ``suite``, as the index links it (a link, or GX's table data)."""
    pattern = rf"validations/{suite}/[^'\"]+\.html"
    links = {m for s in index.scripts for m in re.findall(pattern, s)}
    links |= {a["href"] for a in index.tags("a") if re.fullmatch(pattern, a.get("href", ""))}
    (link,) = {unquote(link) for link in links}
    return site[1] / link


def suites_with_custom_rules(gx_dir: Path) -> dict[str, list[dict]]:
    found = {}
    for path in sorted((gx_dir.parent / "expectations").glob("*.json")):
        exps = [e for e in json.loads(path.read_text())["expectations"] if expected_sentence(e)]
        if exps:
            found[path.stem] = exps
    return found


def test_the_run_failed_on_the_injected_rules(site):
    report = site[0]
    assert report.exit_code == ExitCode.DATA_FAILED
    assert report.rule("videos.title_has_no_markup").unexpected_count == INJECT["markup_in_title"]
    assert report.rule("videos.channel_exists").unexpected_count == INJECT["orphan_videos"]


def test_the_index_loads_and_links_every_validation_of_the_run(site, index):
    assert "Data Docs" in index.text and "Validation Results" in index.text and "Expectation Suites" in index.text
    for suite in ("users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table"):
        assert validation_page(site, index, suite).is_file(), suite


def test_every_custom_rule_shows_its_sentence_and_description_on_its_suite_page(site, browser):
    custom = suites_with_custom_rules(site[2])
    assert "cross_table" in custom and len(custom["cross_table"]) == 8
    for suite, expectations in custom.items():
        page = browser(site[1] / "expectations" / f"{suite}.html")
        for exp in expectations:
            assert expected_sentence(exp) in page.text, (suite, exp["meta"]["rule_id"])
            assert " ".join(exp["description"].split()) in page.text, (suite, exp["meta"]["rule_id"])
        assert "SELECT" not in page.text


def test_every_custom_rule_shows_its_sentence_on_the_validation_page(site, index, browser):
    page = browser(validation_page(site, index, "cross_table"))
    for exp in suites_with_custom_rules(site[2])["cross_table"]:
        assert expected_sentence(exp) in page.text, exp["meta"]["rule_id"]
        assert " ".join(exp["description"].split()) in page.text, exp["meta"]["rule_id"]
    # the sentence with its parameters, literally, and the verdict under it
    assert "Every videos.channel_id value exists in channels.id (nulls are not checked)." in page.text
    assert "every videos.channel_id names an existing channel (no orphaned videos)" in page.text
    assert f"{INJECT['orphan_videos']} unexpected rows found." in page.text


def test_a_markup_title_is_shown_as_text_and_never_runs(site, index, browser):
    page_path = validation_page(site, index, "videos")
    raw = page_path.read_text()
    page = browser(page_path)

    # shown: the title, character for character, as visible text (escaped in the DOM)
    for i in range(INJECT["markup_in_title"]):
        assert f"Injected {i} {MARKUP_TITLE}" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.markup and "<script>alert(1)" not in raw
    # never run: no script element holds it, no image element was made, no handler marked the page
    assert not [s for s in page.scripts if "alert(1)" in s]
    assert not [img for img in page.tags("img") if img.get("src") == "x"]
    assert not [attrs for _tag, attrs in page.elements if PWNED in attrs]
    # and a description with a tag in it reads as written on the suite page
    suite_page = browser(site[1] / "expectations" / "videos.html")
    assert "videos.title carries no HTML markup (no <tag>: titles are shown on web pages)" in suite_page.text


def test_the_detector_sees_the_same_payload_run_when_it_is_not_escaped(tmp_path, browser):
    """Control: the same handler, pasted raw into a page, runs in this Chromium and marks the body."""
    control = tmp_path / "control.html"
    control.write_text(
        "<!doctype html><html><body><p>" + MARKUP_TITLE.replace("<script>alert(1)</script>", "") + "</p></body></html>"
    )
    page = browser(control)
    assert [img for img in page.tags("img") if img.get("src") == "x"]
    assert [attrs for tag, attrs in page.elements if tag == "body" and attrs.get(PWNED) == "1"]


# ---------------------------------------------------------------------------------------------
# the site as a person browses it: offline, styled, verdicts visible (issue 14)

#: Elements that load what they name, and the attribute naming it.
LOADERS = {"script": "src", "link": "href", "img": "src", "source": "src", "iframe": "src", "embed": "src"}
#: A stylesheet's reference to a remote file (font, image, another stylesheet).
REMOTE_IN_CSS = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"]?)\s*(?:https?:)?//""", re.I)
#: JavaScript: the rows of the index's validation results, as rendered: a static index's
#: ``tr.validation-row``s, or the rows bootstrap-table built (each has a data-index) in GX's.
RESULT_ROWS = """(() => {
  const rows = document.querySelectorAll('tr.validation-row');
  if (rows.length) return rows.length;
  const table = [...document.querySelectorAll('table')].find(t => t.tHead && /Run Time/.test(t.tHead.innerText));
  return table ? table.querySelectorAll('tbody tr[data-index]').length : -1;
})()"""
#: JavaScript: every image of the page was found and decoded (no broken logo).
IMAGES_LOADED = "[...document.images].every(i => i.complete && i.naturalWidth > 0)"
#: JavaScript: each status mark as rendered (text, colour, whether it takes up room on screen).
MARKS = """[...document.querySelectorAll('[data-status]')].map(e => {
  const box = e.getBoundingClientRect();
  return {status: e.dataset.status, text: e.innerText.trim(), color: getComputedStyle(e).color,
          visible: box.width > 0 && box.height > 0 && getComputedStyle(e).visibility === 'visible'};
})"""


class _Links(HTMLParser):
    """Every URL a page loads: (tag, URL) of script/link/img/... and CSS in style blocks/attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []
        self.css: list[str] = []
        self._style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in LOADERS and attrs.get(LOADERS[tag]):
            self.loads.append((tag, attrs[LOADERS[tag]]))
        if attrs.get("style"):
            self.css.append(attrs["style"])
        self._style = tag == "style"

    def handle_endtag(self, tag):
        self._style = False

    def handle_data(self, data):
        if self._style:
            self.css.append(data)


def rgb(css_color: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", css_color)[:3])


def assert_offline(tab) -> None:
    """Nothing the page did left the machine, nothing it asked for failed, no script error."""
    assert tab.page.requests, "the page made no request at all (did it load?)"
    assert tab.page.external() == [], tab.page.external()
    assert tab.page.failed == [], tab.page.failed
    assert tab.page.errors == [], tab.page.errors  # every page links the site's own favicon
    assert tab.page.dialogs == []


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    browser = Browser(tmp_path_factory.mktemp("chromium_cdp"), width=1200, height=900)
    yield browser
    browser.close()


def stored_validations(gx_dir: Path) -> list[Path]:
    return sorted((gx_dir / "uncommitted" / "validations").rglob("*.json"))


def test_no_page_or_stylesheet_of_the_site_names_a_remote_url(site):
    site_dir = site[1]
    pages = sorted(site_dir.rglob("*.html"))
    assert len(pages) >= 16  # index, 8 suites, 8 validations
    for page in pages:
        links = _Links()
        links.feed(page.read_text())
        remote = [(tag, url) for tag, url in links.loads if re.match(r"(?i)\s*(https?:)?//", url)]
        assert remote == [], (page.relative_to(site_dir), remote)
        assert not [css for css in links.css if REMOTE_IN_CSS.search(css)], page
        assert "dataContextId" not in page.read_text() and "amazonaws" not in page.read_text(), page
    for sheet in site_dir.rglob("*.css"):
        assert not REMOTE_IN_CSS.search(sheet.read_text(errors="replace")), sheet
    # what the pages load is there, with the licences of the packages it comes from
    vendor = site_dir / "static" / "vendor"
    for package in ("jquery", "bootstrap", "bootstrap-table", "bootstrap-datepicker", "@fortawesome/fontawesome-free"):
        assert list((vendor / package).glob("LICENSE*")), package
    assert (vendor / "popper.js" / "package.json").is_file() and (vendor / "vega" / "package.json").is_file()


def test_offline_the_index_lists_every_stored_validation(site, chromium):
    tab = chromium.open((site[1] / "index.html").as_uri())
    assert_offline(tab)
    # one run of nightly: one stored result per validation, one index row each
    assert tab.evaluate(RESULT_ROWS) == len(stored_validations(site[2])) == len(site[0].validations) >= 8
    # styled, and every image (the logo) is the site's own file, found
    assert tab.evaluate("document.styleSheets.length") > 0
    assert tab.evaluate(IMAGES_LOADED)
    tab.screenshot(ARTIFACTS / "index.png")


def test_offline_a_failed_rule_is_visibly_failed_and_comes_first(site, index, chromium):
    report = site[0]
    expected = {r.rule_id for v in report.validations if v.suite == "cross_table" for r in v.results if not r.success}
    assert len(expected) == 4
    tab = chromium.open(validation_page(site, index, "cross_table").as_uri())
    assert_offline(tab)
    assert tab.evaluate(IMAGES_LOADED) and tab.evaluate("document.styleSheets.length") > 1
    marks = tab.evaluate(MARKS)
    failed = [m for m in marks if m["status"] == "failed"]
    assert len(failed) == len(expected) + 1  # each failed rule, and the overview's status
    for mark in failed:
        assert mark["visible"] and mark["text"] in ("✗ failed", "✗ Failed"), mark
        red, green, blue = rgb(mark["color"])
        assert red > 150 and green < 80 and blue < 80, mark
    passed = [m for m in marks if m["status"] == "passed"]
    assert len(passed) == 8 - len(expected) and all(m["text"] == "✓ passed" for m in passed)
    assert all(rgb(m["color"])[1] > rgb(m["color"])[0] for m in passed)
    # the first rule on the page failed; the asset line names the rules' tables, not the batch
    assert marks[1]["status"] == "failed"
    text = tab.evaluate("document.body.innerText")
    assert "Data asset: users" not in text
    assert re.search(r"Tables: .*videos.*", text) and "analytics" in text.split("Tables:")[1].split("\n")[0]
    tab.screenshot(ARTIFACTS / "validation-cross_table.png")


def test_offline_the_markup_title_stays_text(site, index, chromium):
    tab = chromium.open(validation_page(site, index, "videos").as_uri())
    assert_offline(tab)
    text = tab.evaluate("document.body.innerText")
    assert f"Injected 0 {MARKUP_TITLE}" in " ".join(text.split())
    assert tab.evaluate(f"document.querySelectorAll('[{PWNED}]').length") == 0
    assert tab.evaluate("[...document.images].filter(i => i.getAttribute('src') === 'x').length") == 0


def test_every_other_page_loads_offline(site, chromium):
    """Any page beside the index, suite and validation pages (the rule history, once there) loads
    offline too; a screenshot of each."""
    site_dir = site[1]
    suite_page = chromium.open((site_dir / "expectations" / "cross_table.html").as_uri())
    assert_offline(suite_page)
    assert "Every videos.channel_id value exists in channels.id" in suite_page.evaluate("document.body.innerText")
    for page in sorted(site_dir.rglob("*.html")):
        parts = page.relative_to(site_dir).parts
        if parts[0] in ("validations", "expectations", "static") or parts == ("index.html",):
            continue
        tab = chromium.open(page.as_uri())
        assert_offline(tab)
        tab.screenshot(ARTIFACTS / ("-".join(parts).removesuffix(".html") + ".png"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_by_ytdq_docs_serve_the_index_lists_every_validation(site, db_url, chromium):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "ytempire_dq.cli", "docs", "serve", "--port", str(port), "--config", str(site[2])]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "ytdq docs serve did not listen"
                time.sleep(0.2)
        tab = chromium.open(f"http://127.0.0.1:{port}/index.html")
        assert_offline(tab)
        assert tab.evaluate(RESULT_ROWS) == len(stored_validations(site[2]))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
