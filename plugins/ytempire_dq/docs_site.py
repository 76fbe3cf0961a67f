"""Build the Data Docs site and find its index page (GX's site builder, our renderers: see
:mod:`ytempire_dq.data_docs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ytempire_dq import config
from ytempire_dq.locations import config_dir_of


def docs_build(config_dir: Path | str | None = None) -> Path:
    """Rebuild Data Docs from the stored suites and results; the path of ``index.html``."""
    from ytempire_dq.context import open_context

    cdir = config_dir_of(config_dir)
    ctx = open_context(cdir, database_url=config.database_url(required=False) or "postgresql://unused/unused")
    return build_docs(ctx)


def build_docs(ctx: Any) -> Path:
    sites = ctx.build_data_docs()
    return docs_index(ctx, sites)


def docs_index(ctx: Any, sites: dict | None = None) -> Path:
    """Path of the local site's ``index.html``."""
    url = (sites or {}).get("local_site")
    if url and url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(url).path))
    return Path(ctx.root_directory) / "uncommitted" / "data_docs" / "local_site" / "index.html"
