"""ytempire_dq.docs.page_cache: a suite page is rendered again when its suite or what renders it
changed (the renderers, the verdict marks, the templates, GX's version), and not otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest

from ytempire_dq.docs import page_cache

DOCS = Path(page_cache.__file__).resolve().parent
SUITE = {"name": "users", "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}


@pytest.fixture
def docs_copy(tmp_path, monkeypatch):
    """A copy of the docs package's files the fingerprint reads; page_cache reads it instead."""
    target = tmp_path / "docs"
    shutil.copytree(DOCS, target, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(page_cache, "__file__", str(target / "page_cache.py"))
    page_cache._renderers_fingerprint.cache_clear()
    yield target
    page_cache._renderers_fingerprint.cache_clear()


def _fingerprint() -> str:
    page_cache._renderers_fingerprint.cache_clear()
    return page_cache.suite_fingerprint(SUITE)


@pytest.mark.parametrize("name", ["renderers.py", "verdict.py", "templates/page.j2", "templates/ytdq_styles.css"])
def test_the_fingerprint_changes_when_what_renders_a_page_changes(docs_copy, name):
    before = _fingerprint()
    assert _fingerprint() == before  # the same files: the same fingerprint
    path = docs_copy / name
    assert path.is_file(), f"{name} is no longer in the docs package: update this test and the fingerprint"
    path.write_bytes(path.read_bytes() + b"\n# changed\n")
    assert _fingerprint() != before


def test_the_fingerprint_ignores_files_that_do_not_render_suite_pages(docs_copy):
    before = _fingerprint()
    (docs_copy / "history_page.py").write_bytes(b"# changed")
    assert _fingerprint() == before


def test_the_fingerprint_changes_with_the_suite_and_not_with_key_order():
    other = {**SUITE, "expectations": [{**SUITE["expectations"][0], "kwargs": {"column": "email"}}]}
    assert page_cache.suite_fingerprint(other) != page_cache.suite_fingerprint(SUITE)
    reordered = dict(reversed(list(SUITE.items())))
    assert page_cache.suite_fingerprint(reordered) == page_cache.suite_fingerprint(SUITE)


def test_suite_pages_file_sits_beside_the_site(tmp_path):
    site = tmp_path / "local_site"
    assert page_cache.suite_pages_path(site) == tmp_path / "local_site.suite_pages.json"


def test_read_json_and_write_json(tmp_path):
    path = tmp_path / "pages.json"
    assert page_cache.read_json(path) == {}  # missing
    page_cache.write_json(path, {"users": "abc"})
    assert page_cache.read_json(path) == {"users": "abc"}
    assert not list(tmp_path.glob("*.tmp"))  # written in place by rename
    path.write_text("{not json")
    assert page_cache.read_json(path) == {}
    path.write_text("[1, 2]")
    assert page_cache.read_json(path) == {}  # not a mapping


def test_compiled_templates_are_compiled_once_per_source():
    cache = page_cache.CompiledTemplates()
    compiled = []

    class Env(jinja2.Environment):
        def _compile(self, source, filename):
            compiled.append(source)
            return super()._compile(source, filename)

    def env(text: str) -> Env:
        return Env(loader=jinja2.DictLoader({"t.j2": text}), bytecode_cache=cache)

    assert env("hello {{ x }}").get_template("t.j2").render(x=1) == "hello 1"
    assert env("hello {{ x }}").get_template("t.j2").render(x=2) == "hello 2"  # a new env: from the cache
    assert len(compiled) == 1
    assert env("bye {{ x }}").get_template("t.j2").render(x=3) == "bye 3"  # changed source: compiled again
    assert len(compiled) == 2
