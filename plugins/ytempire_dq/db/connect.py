"""Connections to PostgreSQL from a SQLAlchemy-style URL, with errors that name the masked URL."""

from __future__ import annotations

import re
from urllib.parse import quote

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ytempire_dq.config import MASK, database_url, mask_secrets, mask_url
from ytempire_dq.errors import YtdqError

#: A double-quoted fragment of a libpq message (host names, URI pieces); linear: no nesting.
_QUOTED = re.compile(r'"([^"\n]*)"')


class DatabaseUnavailable(YtdqError):
    """PostgreSQL could not be reached at the configured URL."""


def parse_url(url: str):
    """SQLAlchemy's ``URL`` of ``url``; a malformed or ambiguous URL is a one-line, masked error
    (an unencoded ``@`` in the password would send its tail to libpq as part of the host name)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number; their text may repeat the URL
        raise YtdqError(
            f"DATABASE_URL is not a valid database URL: {mask_url(url)} "
            "(expected postgresql+psycopg2://USER@HOST:PORT/DBNAME, a password after USER as :PASSWORD, %-encoded)"
        ) from None
    if url.count("@") > 1:
        raise YtdqError(
            f"DATABASE_URL is ambiguous: {mask_url(url)} has more than one '@' "
            "(percent-encode an '@' in the password as %40)"
        )
    return parsed


def libpq_dsn(url: str) -> str:
    """``postgresql+psycopg2://...`` -> ``postgresql://...`` (what psycopg2/libpq accept)."""
    return parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def connect(url: str | None = None, *, autocommit: bool = False, connect_timeout: int = 5):
    """A psycopg2 connection; an unreachable server raises :class:`DatabaseUnavailable`."""
    url = url or database_url()
    dsn = libpq_dsn(url)
    try:
        conn = psycopg2.connect(dsn, connect_timeout=connect_timeout)
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {mask_url(url)}: {driver_reason(first, url, dsn)}"
        ) from None
    conn.autocommit = autocommit
    return conn


def driver_reason(message: str, url: str, dsn: str) -> str:
    """libpq's message with nothing of the URL's secret part: the password (raw and encoded)
    and any quoted fragment of the URL other than its host, user, port or database name (libpq
    quotes the host name it could not resolve, and pieces of a URI it could not parse)."""
    try:
        parsed = make_url(dsn)
    except (ArgumentError, ValueError):  # not parsed: nothing is known to be safe to show
        parsed = None
    parts = (parsed.host, parsed.username, parsed.port, parsed.database) if parsed else ()
    shown = {str(part) for part in parts if part and "@" not in str(part)}
    password = parsed.password if parsed else None
    secrets = [url, dsn] + ([password, quote(password, safe="")] if password and len(password) >= 3 else [])
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, MASK)
    message = _QUOTED.sub(
        lambda m: m[0] if m[1] in shown or (m[1] not in url and m[1] not in dsn) else f'"{MASK}"', message
    )
    return mask_secrets(message)


def engine(url: str | None = None, **kw) -> sa.Engine:
    """A SQLAlchemy engine (psycopg2 driver) for the URL."""
    parsed = parse_url(url or database_url())
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return sa.create_engine(parsed, connect_args={"connect_timeout": 5}, **kw)


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=dbname).render_as_string(hide_password=False)
