"""Connections to PostgreSQL from a SQLAlchemy-style URL, with errors that name the masked URL."""

from __future__ import annotations

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ytempire_dq.config import database_url, mask_secrets, mask_url
from ytempire_dq.errors import YtdqError


class DatabaseUnavailable(YtdqError):
    """PostgreSQL could not be reached at the configured URL."""


def libpq_dsn(url: str) -> str:
    """``postgresql+psycopg2://...`` -> ``postgresql://...`` (what psycopg2/libpq accept)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise YtdqError(f"DATABASE_URL is not a valid database URL: {mask_url(url)} ({exc})") from None
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def connect(url: str | None = None, *, autocommit: bool = False, connect_timeout: int = 5):
    """A psycopg2 connection; an unreachable server raises :class:`DatabaseUnavailable`."""
    url = url or database_url()
    try:
        conn = psycopg2.connect(libpq_dsn(url), connect_timeout=connect_timeout)
    except psycopg2.OperationalError as exc:
        reason = mask_secrets(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {mask_url(url)}: {reason}") from None
    conn.autocommit = autocommit
    return conn


def engine(url: str | None = None, **kw) -> sa.Engine:
    """A SQLAlchemy engine (psycopg2 driver) for the URL."""
    url = url or database_url()
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return sa.create_engine(parsed, connect_args={"connect_timeout": 5}, **kw)


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=dbname).render_as_string(hide_password=False)
