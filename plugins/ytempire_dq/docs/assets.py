"""Data Docs that never reach the network: every script, style, font and image a page loads is
served from the site's own ``static/`` folder.

GX 1.24.1's page templates load jQuery, Bootstrap, popper, bootstrap-table (filter-control),
bootstrap-datepicker, Font Awesome, vega and a dark-mode stylesheet from public CDNs, and the
header logo from GX's S3 bucket with the project's ``dataContextId`` in its query string. Here:

- **Where the files come from.** ``docs-assets/package.json`` pins the npm packages (the
  versions GX's templates name; vega at the newest release of the major GX names) and
  ``docs-assets/package-lock.json`` their integrity hashes; ``make install`` (``.ci/install``)
  runs ``npm ci`` there. :data:`ASSETS` lists the files of each package a page uses.
- **How they reach the site.** :func:`finish_site`, called by the site builder
  (:class:`ytempire_dq.docs.site.IncrementalSiteBuilder`) after each build, copies those files,
  each package's licence file and its ``package.json`` (which states the licence) into
  ``static/vendor/<package>/``, unless the site already holds this exact set
  (``static/vendor/ASSETS.json``): a run's cost does not depend on it.
- **How pages point at them.** :class:`OfflinePageView` (the ``view`` of each section builder,
  GX's documented place) puts ``templates/`` in front of GX's templates: page, script imports,
  navbar, favicon, footer and the default styles, each GX's own with the URLs made relative to
  the page (``ytdq_static.j2``), the logo from ``static/images/`` (GX ships it), no footer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from great_expectations.render.view import DefaultJinjaPageView
from jinja2 import ChoiceLoader, FileSystemLoader

from ytempire_dq.errors import YtdqError

#: Where ``make install`` ran ``npm ci`` (``docs-assets/node_modules``, git-ignored): the checkout
#: this package is installed from (editable), whatever project ``YTDQ_HOME`` names.
NPM_DIR = Path(__file__).resolve().parents[3] / "docs-assets"  # plugins/ytempire_dq/docs/ -> the checkout
#: The templates that replace GX's (page, script imports, navbar, favicon, footer, styles).
TEMPLATES = Path(__file__).with_name("templates")
#: Folder of the site the packages are copied to (``static/vendor/<package>/<path>``).
VENDOR = ("static", "vendor")
#: The stamp that says which package versions a site's ``static/vendor`` holds.
STAMP = "ASSETS.json"

#: npm package -> the files of it the pages load (paths inside the package; globs allowed).
ASSETS: dict[str, tuple[str, ...]] = {
    "jquery": ("dist/jquery.min.js",),
    "popper.js": ("dist/umd/popper.min.js",),
    "bootstrap": ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js"),
    "bootstrap-table": (
        "dist/bootstrap-table.min.css",
        "dist/bootstrap-table.min.js",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "bootstrap-datepicker": ("dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js"),
    "@forevolve/bootstrap-dark": ("dist/css/bootstrap-prefers-dark.min.css",),
    "@fortawesome/fontawesome-free": ("css/all.min.css", "webfonts/*.woff2", "webfonts/*.ttf"),
    "vega": ("build/vega.min.js",),
    "vega-lite": ("build/vega-lite.min.js",),
    "vega-embed": ("build/vega-embed.min.js",),
}
#: Licence files looked for in each package (vega's and popper.js's npm packages ship none: their
#: ``package.json``, copied too, states the licence; the scripts carry it in their header).
LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE")


def pinned_versions() -> dict[str, str]:
    """``{package: version}`` as ``docs-assets/package.json`` pins them."""
    return json.loads((NPM_DIR / "package.json").read_text())["dependencies"]


def installed_versions(node_modules: Path | None = None) -> dict[str, str]:
    """``{package: version}`` of what ``npm ci`` installed; YtdqError when one is missing or
    differs from its pin (the message says to run ``make install``)."""
    node_modules = node_modules or NPM_DIR / "node_modules"
    pins = pinned_versions()
    found = {}
    for package in ASSETS:
        manifest = node_modules / package / "package.json"
        version = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        if version != pins[package]:
            state = f"{version} is installed" if version else "it is not installed"
            raise YtdqError(
                f"Data Docs asset {package}@{pins[package]} is missing from {node_modules} ({state}): "
                "run make install (npm ci in docs-assets/)"
            )
        found[package] = version
    return found


def files_of(package: str, node_modules: Path) -> list[Path]:
    """The files of ``package`` a site ships: :data:`ASSETS`, licence files, ``package.json``."""
    root = node_modules / package
    files: list[Path] = []
    for pattern in ASSETS[package]:
        matched = sorted(root.glob(pattern))
        if not matched:
            raise YtdqError(f"{root / pattern} is missing: run make install (npm ci in docs-assets/)")
        files += matched
    files += [root / name for name in LICENCE_FILES if (root / name).is_file()]
    return files + [root / "package.json"]


def ship_assets(site_dir: Path, node_modules: Path | None = None) -> bool:
    """Copy the pages' assets into ``site_dir/static/vendor`` unless it holds this exact set
    already; True when it copied."""
    node_modules = node_modules or NPM_DIR / "node_modules"
    versions = installed_versions(node_modules)
    vendor = site_dir.joinpath(*VENDOR)

    def copy() -> None:
        for package in ASSETS:
            for source in files_of(package, node_modules):
                target = vendor / package / source.relative_to(node_modules / package)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    return _copied_once(vendor / STAMP, versions, copy)


def _copied_once(stamp: Path, wanted: Any, copy: Any, present: Any = lambda: True) -> bool:
    """Run ``copy`` unless ``stamp`` (a JSON file) records ``wanted`` and ``present()`` holds, then
    record ``wanted`` there; True when it copied. A site's static files are copied once this way."""
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted and present():
        return False
    copy()
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n")
    return True


#: What :func:`copy_gx_static` last copied into ``static/``: GX's version and its static files.
GX_STATIC_STAMP = "GX_STATIC.json"


def copy_gx_static(site_dir: Path, target_store: Any) -> bool:
    """GX's own static files (fonts, images, styles) into ``site_dir/static`` by ``target_store``
    (the site's ``HtmlSiteStore``), unless this GX version's set is there already, every file in
    place; True when it copied. GX copies them on every build: 20 files read and written for
    each validation a run stores."""
    import great_expectations as gx

    source = Path(gx.__file__).parent / "render" / "view" / "static"
    files = sorted(str(f.relative_to(source)) for f in source.rglob("*") if f.is_file() and f.name != ".DS_Store")
    static = site_dir / "static"
    wanted = {"great_expectations": gx.__version__, "files": files}
    return _copied_once(
        static / GX_STATIC_STAMP,
        wanted,
        target_store.copy_static_assets,
        lambda: all((static / f).is_file() for f in files),
    )


def finish_site(site_dir: Path) -> None:
    """What a site builder does after GX copied its static files: the pages' assets shipped
    (:func:`ship_assets`), and GX's copy of its default-styles *source* (a template no page
    loads; it names the S3 logo) replaced by ours, which names none. One call for any builder."""
    ship_assets(site_dir)
    styles = site_dir / "static" / "styles" / "data_docs_default_styles.css"
    if styles.is_file():
        shutil.copyfile(TEMPLATES / styles.name, styles)


class _OfflineTemplates:
    """Our templates first, then GX's (GX's loader puts a project's custom views last, so they
    can add templates but not replace one)."""

    env: Any

    def _prefer_offline_templates(self) -> None:
        self.env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), self.env.loader])


class OfflinePageView(_OfflineTemplates, DefaultJinjaPageView):
    """The suite and validation pages' view, with the offline templates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prefer_offline_templates()
