"""`ytdq docs`: build and serve Data Docs."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from ytempire_dq.cli.app import config_option, err, main, out
from ytempire_dq.errors import YtdqError


@main.group("docs")
def docs_group() -> None:
    """Data Docs: the browsable pages of suites and validation results."""


@docs_group.command("build")
@config_option
def docs_build(config_dir: Path | None) -> None:
    """Rebuild Data Docs from the stored suites and results; print the path of index.html."""
    from ytempire_dq.docs.site import docs_build

    click.echo(docs_build(config_dir))


@docs_group.command("serve")
@config_option
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--rebuild", is_flag=True, help="Rebuild the whole site first (as `ytdq docs build`).")
def docs_serve(config_dir: Path | None, port: int, host: str, rebuild: bool) -> None:
    """Serve Data Docs over HTTP until Ctrl-C. Each run keeps the site current, so the site is
    built first only when it does not exist yet or with --rebuild (a full build re-reads every
    stored result: ~45 s with a year of nightly runs)."""
    import http.server

    from ytempire_dq.docs.site import UnreadableResults, docs_build, site_index
    from ytempire_dq.locations import config_dir_of

    index = site_index(config_dir_of(config_dir))
    if rebuild or not index.is_file():
        try:
            index = docs_build(config_dir)
        except UnreadableResults as exc:  # the site is built and says so: serve it, and say so here too
            err.print(f"warning: {exc}", highlight=False, markup=False, soft_wrap=True)
            index = exc.index
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index.parent))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise YtdqError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    out.print(f"serving Data Docs at http://{host}:{port}/index.html (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
