"""`ytdq docs`: build and serve Data Docs."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from ytempire_dq.cli.app import config_option, main, out
from ytempire_dq.errors import YtdqError


@main.group("docs")
def docs_group() -> None:
    """Data Docs: the browsable pages of suites and validation results."""


@docs_group.command("build")
@config_option
def docs_build(config_dir: Path | None) -> None:
    """Rebuild Data Docs from the stored suites and results; print the path of index.html."""
    from ytempire_dq.docs_site import docs_build

    click.echo(docs_build(config_dir))


@docs_group.command("serve")
@config_option
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def docs_serve(config_dir: Path | None, port: int, host: str) -> None:
    """Build Data Docs and serve them over HTTP until Ctrl-C."""
    import http.server

    from ytempire_dq.docs_site import docs_build

    index = docs_build(config_dir)
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
