"""Build the Data Docs site (``ytdq docs build``, each run's update) at a constant cost per run.

Our renderers are in :mod:`ytempire_dq.docs.renderers`, the index page in :mod:`ytempire_dq.docs.index_page`,
the rule history page in :mod:`ytempire_dq.docs.history_page`.

Profiled (cProfile, ``checkpoint run nightly`` with 100 stored nightly runs, 808 results): of
48 s, 37 s were GX's ``UpdateDataDocsAction``. It calls ``SiteBuilder.build`` once per
validation result (8 per nightly run), and each call rebuilds the index with GX's
``DefaultSiteIndexBuilder``, which *reads and deserialises every stored result* to learn its
success and asset (6,500 reads: 22 s of marshmallow), lists every page and result (2.4 s), and
renders every row through Jinja (5.3 s); the site sections list every stored key to find the two
they render. :class:`IncrementalSiteBuilder` (``gx/great_expectations.yml``, ``data_docs_sites``)
replaces that ``build``:

- with ``resource_identifiers`` (a run's update): renders just those pages (one store read each),
  with the configured section renderers and views (``data_docs.py``), appends one *index row*
  per validation (:func:`index_row`: its names, success and failed-rule count) to
  ``<site>.index.jsonl`` beside the site, and writes ``index.html`` from those rows
  (:mod:`ytempire_dq.docs.index_page`). No stored result of another run is read.
- without (``ytdq docs build``): renders every page, reading each result once, and writes the
  rows anew (pages whose result is gone are removed, as GX does).

A run's update re-renders a suite's page only when the suite (or the renderers) changed since the
page was written: a fingerprint per suite in ``<site>.suite_pages.json`` beside the site. Every page
is rendered through GX's Jinja views, each built anew per build with its own template cache; the
compiled templates are shared by all of them in this process (:mod:`ytempire_dq.docs.page_cache`), so a
run compiles each template once instead of once per validation.

A run's update takes the rows file's lock (``flock``): runs of two checkpoints may update one
site at once. With no rows file yet beside an existing site (a site built before this), the first
update writes the rows of every stored result once. Sites on other backends than the filesystem
get GX's own build.

A stored result that cannot be read (a truncated file) is never skipped: its row and its page say
"unreadable" and name the file, and ``ytdq docs build`` exits 2 naming it, after building the rest.
Rows of a run that never finished validating (:mod:`ytempire_dq.run.marks`) are marked
``incomplete``: the index never shows such a run as its checkpoint's latest.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from great_expectations.core import ExpectationSuite
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.render.renderer.site_builder import SiteBuilder
from typing_extensions import override

from ytempire_dq import config
from ytempire_dq.docs import index_page
from ytempire_dq.docs.page_cache import COMPILED_TEMPLATES, read_json, suite_fingerprint, suite_pages_path, write_json
from ytempire_dq.errors import YtdqError
from ytempire_dq.gx import compat
from ytempire_dq.locations import config_dir_of
from ytempire_dq.run import marks

log = logging.getLogger(__name__)

#: Index rows kept parsed (:func:`_parsed_row`): more than the validations a site keeps for 30 days.
ROWS_PARSED = 20_000

#: run names of ``run_checkpoint`` (``<checkpoint>-<UTC time>``): the checkpoint when its id is unknown.
RUN_NAME = re.compile(r"^(?P<checkpoint>.+)-\d{8}T\d{6}\.\d{6}Z$")


def rows_path(site: Path) -> Path:
    """The index rows of the site at ``site`` (outside it: not a page of the site)."""
    return site.parent / f"{site.name}.index.jsonl"


@contextlib.contextmanager
def rows_lock(site: Path):
    """Exclusive use of the site's index rows and ``index.html`` (one writer at a time)."""
    site.parent.mkdir(parents=True, exist_ok=True)
    with open(site.parent / f"{site.name}.index.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_rows(site: Path) -> list[dict]:
    """The site's index rows, one per validation page (a page's later row replaces its earlier one)."""
    try:
        data = rows_path(site).read_bytes()
    except FileNotFoundError:
        return []
    complete = data[: data.rfind(b"\n") + 1]
    rows: dict[str, dict] = {}
    for line in complete.decode("utf-8").splitlines():
        if line.strip():
            row = dict(_parsed_row(line))  # a copy: the cached one is shared
            rows[row["filepath"]] = row
    return list(rows.values())


@functools.lru_cache(maxsize=ROWS_PARSED)
def _parsed_row(line: str) -> dict:
    """One line of the rows file, parsed (a pure function of the line): a run updates the index
    once per validation, and each update parses only the lines it has not seen."""
    return json.loads(line)


def write_rows(site: Path, rows: list[dict]) -> None:
    """Replace the site's index rows (atomically)."""
    path = rows_path(site)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


def append_rows(site: Path, rows: list[dict]) -> None:
    with open(rows_path(site), "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def write_index(site: Path, site_name: str, rows: list[dict], suites: list[str]) -> Path:
    index = site / "index.html"
    tmp = site / "index.html.tmp"
    tmp.write_text(index_page.render_index(site_name, rows, suites), encoding="utf-8")
    os.replace(tmp, index)
    return index


def checkpoint_names(ctx: Any) -> dict[str, str]:
    """``{checkpoint id: name}`` from the checkpoint store's files (no GX deserialisation)."""
    names: dict[str, str] = {}
    backend = getattr(ctx.stores.get(ctx.checkpoint_store_name), "store_backend", None)
    base = getattr(backend, "full_base_directory", None)
    if base and Path(base).is_dir():
        for path in Path(base).glob("*.json"):
            with contextlib.suppress(ValueError, OSError):
                doc = json.loads(path.read_text())
                if doc.get("id") and doc.get("name"):
                    names[str(doc["id"])] = str(doc["name"])
    return names


def checkpoint_of(result: Any, run_name: str, names: dict[str, str]) -> str:
    """The checkpoint that produced ``result`` (None: unreadable): by its ``checkpoint_id``, else by its run name."""
    name = names.get(str((getattr(result, "meta", None) or {}).get("checkpoint_id")))
    if name:
        return name
    match = RUN_NAME.match(run_name or "")
    return match["checkpoint"] if match else "(no checkpoint)"


def page_path(key: ValidationResultIdentifier) -> str:
    """The validation page's path in the site (as GX's HtmlSiteStore writes it)."""
    return "/".join(["validations", *key.to_tuple()]) + ".html"


def result_path(key: ValidationResultIdentifier) -> str:
    """The stored result's path in the results store (as GX's TupleFilesystemStoreBackend writes it)."""
    return "/".join(key.to_tuple()) + ".json"


def unreadable_row(key: ValidationResultIdentifier, names: dict[str, str], exc: BaseException) -> dict:
    """The index row of a stored result that cannot be read: no verdict, the file and why."""
    from urllib.parse import quote

    suite = key.expectation_suite_identifier.name
    run_time = key.run_id.run_time
    return {
        "filepath": quote(page_path(key)),
        "suite": suite,
        "suite_filepath": index_page.suite_filepath(suite),
        "run_name": key.run_id.run_name,
        "run_time": run_time.isoformat() if run_time else None,
        "batch_identifier": key.batch_identifier,
        "asset_name": None,
        "checkpoint": checkpoint_of(None, key.run_id.run_name, names),
        "success": False,
        "evaluated": 0,
        "failed": 0,
        "unreadable": result_path(key),
        "error": config.one_line(exc, 300),
    }


def index_row(key: ValidationResultIdentifier, result: Any, names: dict[str, str]) -> dict:
    """What the index shows of one stored validation (read from the result once, when rendered)."""
    from urllib.parse import quote

    suite = key.expectation_suite_identifier.name
    run_name = key.run_id.run_name
    run_time = key.run_id.run_time
    stats = result.statistics or {}
    return {
        "filepath": quote(page_path(key)),
        "suite": suite,
        "suite_filepath": index_page.suite_filepath(suite),
        "run_name": run_name,
        "run_time": run_time.isoformat() if run_time else None,
        "batch_identifier": key.batch_identifier,
        "asset_name": compat.resolved_asset_name(result),
        "checkpoint": checkpoint_of(result, run_name, names),
        "source": (result.meta or {}).get("ytdq_source"),
        "success": bool(result.success),
        "evaluated": int(stats.get("evaluated_expectations") or 0),
        "failed": int(stats.get("unsuccessful_expectations") or 0),
    }


def _readable(key: ExpectationSuiteIdentifier, read: Callable[[], Any]) -> Any:
    """``read()`` of a suite, or None with a warning: as GX, a suite that cannot be read is skipped."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - any failure to read it
        log.warning("Data Docs: suite %s could not be read, skipped: %s", key.name, exc)
        return None


class IncrementalSiteBuilder(SiteBuilder):
    """GX's site builder whose ``build`` reads only what it renders (see the module docstring)."""

    def site_dir(self) -> Path | None:
        base = getattr(self.target_store.store_backends["index_page"], "full_base_directory", None)
        return Path(base) if base else None

    @override
    def build(self, resource_identifiers: Any = None, build_index: bool = True) -> Any:
        site = self.site_dir()
        if site is None:  # not a filesystem site: GX's own build
            return super().build(resource_identifiers=resource_identifiers, build_index=build_index)
        site.mkdir(parents=True, exist_ok=True)
        names = checkpoint_names(self.data_context)
        section = self.site_section_builders.get("validations")
        self._unfinished = marks.unfinished(marks.results_dir_of(section.source_store if section else None))
        if resource_identifiers is None:
            rows = self._render_all(site, names)
            with rows_lock(site):
                write_rows(site, rows)
                self._finish(site, rows, build_index)
        else:
            rows = self._render(site, list(resource_identifiers), names)
            with rows_lock(site):
                if not rows_path(site).is_file():
                    write_rows(site, self._rows_of_stored_results(names))
                append_rows(site, rows)
                self._finish(site, read_rows(site), build_index)
        return self.get_resource_url(only_if_exists=False), None

    def _finish(self, site: Path, rows: list[dict], build_index: bool) -> None:
        from ytempire_dq.docs.assets import copy_gx_static, finish_site

        copy_gx_static(site, self.target_store)
        finish_site(site)  # the pages' scripts, styles and fonts in static/ (docs_assets.py)
        if build_index:
            section = self.site_section_builders.get("expectations")
            suites = [k.name for k in section.source_store.list_keys()] if section else []
            write_index(site, self.site_name or site.name, rows, suites)
        from ytempire_dq.docs import history_page

        history_page.ensure_page(site)

    # -- rendering ------------------------------------------------------------------------------

    def _render(self, site: Path, keys: list, names: dict[str, str]) -> list[dict]:
        """Render the pages of ``keys`` (a suite's only when it changed); the index rows of the
        validations among them."""
        rows = []
        for key in keys:
            if isinstance(key, ValidationResultIdentifier):
                row = self._render_validation(key, names)
                if row is not None:
                    rows.append(row)
            elif isinstance(key, ExpectationSuiteIdentifier):
                self._render_suite(key, site, unless_unchanged=True)
        return rows

    def _render_all(self, site: Path, names: dict[str, str]) -> list[dict]:
        suites = self.site_section_builders.get("expectations")
        for key in suites.source_store.list_keys() if suites else []:
            self._render_suite(key, site)
        section = self.site_section_builders.get("validations")
        keys = set(section.source_store.list_keys()) if section else set()
        rows = [row for key in sorted(keys, key=str) if (row := self._render_validation(key, names)) is not None]
        backend = self.target_store.store_backends[ValidationResultIdentifier]
        for page in backend.list_keys():  # pages whose result is gone (as GX's index builder does)
            key = ValidationResultIdentifier.from_tuple(page)
            if key not in keys:
                backend.remove_key(page)
        if "profiling" in self.site_section_builders:
            self.site_section_builders["profiling"].build()
        return rows

    def _rows_of_stored_results(self, names: dict[str, str]) -> list[dict]:
        """The rows of every stored result that has a page (once: a site built before the rows file)."""
        section = self.site_section_builders.get("validations")
        if section is None:
            return []
        backend = self.target_store.store_backends[ValidationResultIdentifier]
        pages = {ValidationResultIdentifier.from_tuple(p) for p in backend.list_keys()}
        return [self._row_of(section, key, names)[0] for key in section.source_store.list_keys() if key in pages]

    def _row_of(self, section: Any, key: ValidationResultIdentifier, names: dict[str, str]) -> tuple[dict, Any]:
        """``(index row, result)``; an unreadable result's row says so (result None)."""
        try:
            result = section.source_store.get(key)
        except Exception as exc:  # noqa: BLE001 - any failure to read: shown as unreadable, never skipped
            log.warning("Data Docs: validation result %s cannot be read: %s", result_path(key), config.one_line(exc))
            row, result = unreadable_row(key, names, exc), None
        else:
            row = index_row(key, result, names)
        if marks.mark_name(row["run_name"]) in getattr(self, "_unfinished", ()):
            row["incomplete"] = True
        return row, result

    def _render_validation(self, key: ValidationResultIdentifier, names: dict[str, str]) -> dict | None:
        from ytempire_dq.gx.compat import passes_run_name_filter

        section = self.site_section_builders.get("validations")
        if section is None or (section.run_name_filter and not passes_run_name_filter(key, section.run_name_filter)):
            return None
        row, result = self._row_of(section, key, names)
        if result is None:  # its page says so (an older page of it must not show an old verdict)
            self._store_page(section, key, index_page.unreadable_page(row))
        else:
            self._write_page(section, key, result, lambda markup: with_failed_rules(markup, result, row))
        return row

    def _render_suite(self, key: ExpectationSuiteIdentifier, site: Path, unless_unchanged: bool = False) -> None:
        section = self.site_section_builders.get("expectations")
        if section is None:
            return
        store = section.source_store
        # the suite's JSON as stored (its file), fingerprinted before GX builds anything of it
        fingerprint = _readable(key, lambda: suite_fingerprint(json.loads(store.store_backend.get(key.to_tuple()))))
        if fingerprint is None:
            return
        pages = read_json(suite_pages_path(site))
        page = self.target_store.store_backends[ExpectationSuiteIdentifier]
        if unless_unchanged and pages.get(key.name) == fingerprint and page.has_key(key.to_tuple()):
            return
        suite = _readable(key, lambda: ExpectationSuite(**store.get(key)))
        if suite is None:
            return
        if self._write_page(section, key, suite):
            with rows_lock(site):  # two runs may update one site
                pages = read_json(suite_pages_path(site))
                pages[key.name] = fingerprint
                write_json(suite_pages_path(site), pages)

    def _store_page(self, section: Any, key: Any, markup: str) -> None:
        from great_expectations.data_context.types.resource_identifiers import SiteSectionIdentifier

        self.target_store.set(SiteSectionIdentifier(site_section_name=section.name, resource_identifier=key), markup)

    def _write_page(self, section: Any, key: Any, resource: Any, post: Any = None) -> bool:
        """Render and store one page; False when it could not be rendered (logged)."""
        section.view_class.env.bytecode_cache = COMPILED_TEMPLATES
        try:
            rendered = section.renderer_class.render(resource)
            markup = section.view_class.render(
                rendered, data_context_id=section.data_context_id, show_how_to_buttons=section.show_how_to_buttons
            )
            if post is not None:
                markup = post(markup)
            self._store_page(section, key, markup)
        except Exception:  # as GX: one page failing to render must not stop the others
            log.exception("Data Docs: the page of %s could not be rendered", key.to_tuple())
            return False
        return True


def with_failed_rules(markup: str, result: Any, row: dict) -> str:
    """A validation page with a box of its failed rules on top, each linked to its rule history."""
    from ytempire_dq.docs import history_page

    box = history_page.failed_rules_box(result, row["checkpoint"], depth=row["filepath"].count("/"))
    if not box:
        return markup
    anchor = '<div class="col-md-10 col-lg-10 col-xs-12 pl-md-4 pr-md-3">'
    if anchor in markup:
        return markup.replace(anchor, anchor + box, 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + box, markup, count=1)


# ---------------------------------------------------------------------------------------------
# building (ytdq docs build) and finding the index


class UnreadableResults(YtdqError):
    """``ytdq docs build`` built the site, but stored results could not be read (shown as such)."""

    def __init__(self, files: list[Path], index: Path):
        shown = ", ".join(map(str, files[:3])) + (f" … and {len(files) - 3} more" if len(files) > 3 else "")
        what = "a stored validation result" if len(files) == 1 else f"{len(files)} stored validation results"
        super().__init__(
            f"cannot read {what}: {shown}; Data Docs show {'it' if len(files) == 1 else 'them'} as unreadable"
            f" ({index}): restore or delete the file, then run ytdq docs build again"
        )
        self.files, self.index = files, index


def docs_build(config_dir: Path | str | None = None) -> Path:
    """Rebuild Data Docs from the stored suites and results (each read once) and the rule history
    page (when the database is reachable); the path of ``index.html``. Raises
    :class:`UnreadableResults` (exit 2) after building everything, when a stored result could not be read."""
    from ytempire_dq.gx.context import open_context

    cdir = config_dir_of(config_dir)
    url = config.database_url(required=False)
    ctx = open_context(cdir, database_url=url or "postgresql://unused/unused")
    index = build_docs(ctx)
    from ytempire_dq.docs import history_page

    history_page.write_pages(ctx, config.store_url(url, required=False))  # the history: the results store
    results_dir = marks.results_dir_of(ctx.stores[ctx.validation_results_store_name]) or Path()
    unreadable = sorted({r["unreadable"] for r in read_rows(index.parent) if r.get("unreadable")})
    if unreadable:
        raise UnreadableResults([results_dir / rel for rel in unreadable], index)
    return index


def build_docs(ctx: Any) -> Path:
    sites = ctx.build_data_docs()
    return docs_index(ctx, sites)


def docs_index(ctx: Any, sites: dict | None = None) -> Path:
    """Path of the local site's ``index.html``."""
    url = (sites or {}).get("local_site")
    if url and url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(url).path))
    return site_index(ctx.root_directory)


def site_index(config_dir: Path | str) -> Path:
    """Where the local site's ``index.html`` is, for the GX context in ``config_dir``."""
    return Path(config_dir) / "uncommitted" / "data_docs" / "local_site" / "index.html"
