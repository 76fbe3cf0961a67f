"""`ytdq cache`: seed Redis from PostgreSQL (with known defects)."""

from __future__ import annotations

from pathlib import Path

import click

from ytempire_dq import config
from ytempire_dq.cli.app import main, parse_inject
from ytempire_dq.values import plural


@main.group("cache")
def cache_group() -> None:
    """The Redis cache: seed it from PostgreSQL (with known defects)."""


@cache_group.command("seed")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True)
@click.option("--inject", multiple=True, metavar="KIND=COUNT", help="Break COUNT keys by KIND (repeatable).")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the {kind: count} manifest [default: .ytdq/cache_manifest.json].",
)
@click.option("--list-kinds", is_flag=True, help="List the cache defect kinds and exit.")
def cache_seed(seed_value: int, inject: tuple[str, ...], manifest: Path | None, list_kinds: bool) -> None:
    """Fill Redis consistently with PostgreSQL (sessions, video stats, rate limits), then break it on purpose."""
    from ytempire_dq.fixtures import cache_seed

    if list_kinds:
        for name, description in cache_seed.CACHE_DEFECT_KINDS.items():
            click.echo(f"{name:28} {description}")
        return
    result = cache_seed.seed_cache(
        seed=seed_value,
        inject=parse_inject(inject),
        manifest_path=manifest or config.STATE_DIR / "cache_manifest.json",
    )
    click.echo(
        f"cache: {plural(result['keys'], 'key', fmt=',')} ({plural(result['sessions'], 'session', fmt=',')}, {plural(result['video_stats'], 'video stat', fmt=',')}, "
        f"{result['rate_limits']:,} rate limits) in {result['seconds']:.1f} s; injected {result['injected'] or 'nothing'}"
    )
