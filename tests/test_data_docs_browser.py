"""Data Docs as a browser shows them: headless Chromium loads the pages ``nightly`` built on seeded
defects (a video title carrying ``<script>alert(1)</script>`` and an ``onerror`` image among them).

Proves: every custom rule reads as its sentence with its parameters (and its description) in the
rendered DOM, on the suite pages and the validation page; the markup title is shown as text and
nothing in it runs (a control page with the same payload unescaped shows the detector works).

Chromium is required (``.ci/install`` installs Debian's ``chromium`` when absent): without it these
tests fail. DNS is mapped to nowhere, so the pages' CDN scripts never load and nothing leaves the
machine; inline scripts and handlers still run. (127.0.0.1 stays reachable: test_data_docs_escaping
serves local copies of the pages' scripts there.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from string import Template
from urllib.parse import unquote

import pytest
import redis

from tests.helpers import copy_project, with_redis_db
from ytempire_dq.checkpoints import run_checkpoint
from ytempire_dq.db import seed
from ytempire_dq.db.defects import MARKUP_TITLE
from ytempire_dq.errors import ExitCode

CHROMIUM = "chromium"
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
#: Elements that break the text flow (a browser puts a line break around them).
BLOCKS = {
    "br",
    "div",
    "p",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "pre",
    "section",
    "nav",
    "header",
    "footer",
}


class Dom(HTMLParser):
    """A dumped DOM: its visible text (inline elements joined as a browser shows them, blocks apart),
    its script elements' text, and every element's attributes."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.markup = markup
        self.elements: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._text: list[str] = []
        self._in: list[str] = []
        self.feed(markup)
        self.close()
        self.text = " ".join("".join(self._text).split())

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in BLOCKS:
            self._text.append(" ")
        if tag in ("script", "style", "title"):
            self._in.append(tag)
            if tag == "script":
                self.scripts.append("")

    def handle_endtag(self, tag):
        if tag in BLOCKS:
            self._text.append(" ")
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if not self._in:
            self._text.append(data)
        elif self._in[-1] == "script":
            self.scripts[-1] += data

    def tags(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.elements if tag == name]


def dump_dom(page: Path | str, profile: Path) -> str:
    """The DOM of ``page`` (a file, or an http URL) after Chromium loaded it and ran its scripts
    (``--dump-dom``)."""
    chromium = shutil.which(CHROMIUM)
    assert chromium, "chromium is not installed (bash .ci/install installs it); the Data Docs browser tests need it"
    if isinstance(page, Path):
        assert page.is_file(), page
    url = page.resolve().as_uri() if isinstance(page, Path) else page
    name = page.name if isinstance(page, Path) else page
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        url,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish loading {name} (a script dialog such as alert() blocks it)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "</html>" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


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
    """The run's validation page of ``suite``, as the index links it (a static link: docs_index.py)."""
    (link,) = {
        a["href"] for a in index.tags("a") if re.fullmatch(rf"validations/{suite}/[^'\"]+\.html", a.get("href", ""))
    }
    return site[1] / unquote(link)


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
    assert "cross_table" in custom and len(custom["cross_table"]) == 7
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
