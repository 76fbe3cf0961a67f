"""Where settings come from: ``DATABASE_URL`` / ``REDIS_URL`` and the project root; URL masking."""

from __future__ import annotations

import os
from pathlib import Path

from ytempire_dq.errors import YtdqError

# plugins/ytempire_dq/config.py -> the checkout: the package is installed editable (docs/index.md, "Set up
# and run") because gx/, expectations/, checkpoints/ and schema/ are read from the checkout, not the wheel.
PROJECT_ROOT = Path(os.environ.get("YTDQ_HOME") or Path(__file__).resolve().parents[2])
STATE_DIR = PROJECT_ROOT / ".ytdq"

#: What stands for a masked password (or, in a URL that does not parse, the whole user part).
MASK = "***"
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def mask_url(url: str | None) -> str:
    """The URL with its password replaced by ``***`` (for every log line, error and page), and the
    value of every secret query parameter too (``?password=``, ``&sslpassword=``: libpq and
    redis-py take a password there as well; see :func:`_query_secret_spans`).

    A URL SQLAlchemy's ``make_url`` parses is rendered by it with the password hidden, unless it
    holds more than one ``@`` (an unencoded ``@`` in the password: the parser ends the password at
    the first one). Any other URL is masked as text: everything between ``://``
    (or ``:/``) and the last ``@`` becomes ``***``. Linear time.
    """
    if not url:
        return "<unset>"
    parsed = _parsed(url)
    if parsed is not None:
        if parsed.password is None and not any(_secret_name(key) for key in parsed.query):
            return url
        shown = parsed.render_as_string(hide_password=True)  # its query re-encoded: one '?', '&' between
        return _masked(shown, _query_secret_spans(shown))
    spans = _query_secret_spans(url)  # found in the original text: a raw '@' may follow a password
    at = url.rfind("@")
    start = _user_part_start(url)
    if 0 <= start <= at:
        spans.append((start, at))
    return _masked(url, spans)


def mask_secrets(text: str) -> str:
    """Mask every URL password inside a longer text (error messages from drivers), in linear time.

    In each line, from the first URL (``scheme://`` or ``scheme:/``) that is followed by an ``@``
    on the same line, everything after the user name up to the line's last ``@`` becomes ``***``:
    a password may hold spaces and ``@``, so nothing shorter is safe (an e-mail address later on
    the line is masked too). The value of a secret query parameter is masked up to the next ``&``
    or the line's end, for the same reason.
    """
    return "\n".join(_mask_line(line) for line in text.split("\n"))


#: Query parameters whose value is a secret, matched in the decoded, lower-case name: libpq's
#: ``password`` and ``sslpassword``, redis-py's ``password`` and ``ssl_password``, tokens and the
#: like. ``passfile`` (libpq) is a path, not a secret: shown, so a wrong path can be seen.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "credential")
_NOT_SECRET = frozenset({"passfile"})
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-~%+")
#: No parameter a driver takes has a longer name (even fully %-encoded): the walk back stays short.
_NAME_LIMIT = 64
#: What may follow a value that is ``***`` already (a URL masked before, in a longer text).
_AFTER_MASK = frozenset("&#'\"),;)]>: \t")


def _secret_name(name: str) -> bool:
    from urllib.parse import unquote_plus  # as the parsers read it: ``pass%77ord`` is ``password``

    name = unquote_plus(name).lower()
    return name not in _NOT_SECRET and any(word in name for word in _SECRET_WORDS)


def _query_secret_spans(line: str) -> list[tuple[int, int]]:
    """Where the values of secret query parameters (``?password=…``, ``&sslpassword=…``) lie in
    ``line``: each runs to the next ``&`` (the parsers split there, so no value holds a raw one) or
    to the line's end (a raw value may hold spaces). A value that is ``***`` already is left, so
    a second URL on the line is still looked at. Linear: the scan only moves forward, and each
    walk back over a name is bounded."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (eq := line.find("=", pos)) >= 0:
        start = eq
        while start > max(pos, eq - _NAME_LIMIT) and line[start - 1] in _NAME_CHARS:
            start -= 1
        if not (start < eq and start > 0 and line[start - 1] in "?&" and _secret_name(line[start:eq])):
            pos = eq + 1
            continue
        value = eq + 1
        if line.startswith(MASK, value) and (value + len(MASK) == len(line) or line[value + len(MASK)] in _AFTER_MASK):
            pos = value + len(MASK)
            continue
        end = line.find("&", value)
        end = len(line) if end < 0 else end
        if end > value:
            spans.append((value, end))
        pos = end
    return spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (overlapping ones merged) replaced by ``***``."""
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:  # overlaps the span before it: one mask covers both
            last = max(last, end)
            continue
        parts += [text[last:start], MASK]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _parsed(url: str):
    """``make_url(url)`` when it parses and the URL holds at most one ``@`` (with more, the parser
    ends the password at the first and what follows is not known to be host, port or query)."""
    from sqlalchemy.engine import make_url  # keeps `import config` light
    from sqlalchemy.exc import ArgumentError

    if url.count("@") > 1:
        return None
    try:
        return make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number; masked as text
        return None


def _user_part_start(url: str) -> int:
    """Where the user part of ``url`` begins: after its ``scheme://`` or ``scheme:/``, else at 0."""
    end = 0
    while end < len(url) and url[end] in _SCHEME_CHARS:
        end += 1
    if end and url[0].isalpha() and url.startswith(":/", end):
        return end + (3 if url.startswith("://", end) else 2)
    return 0


def safe_prefix(text: str, limit: int) -> str:
    """``text[:limit]``, never less masked than :func:`mask_secrets` would mask the whole text: when
    the cut line has a URL and an ``@`` follows the cut on that line, the user part may run past
    the cut (a password's head with no ``@`` after it is invisible to ``mask_secrets``), so the
    prefix ends at that URL's user part with ``***``. Linear time."""
    if len(text) <= limit:
        return text
    line_start = text.rfind("\n", 0, limit) + 1
    line_end = text.find("\n", limit)
    if text.find("@", limit, line_end if line_end >= 0 else len(text)) < 0:
        return text[:limit]
    start = _url_user_start(text[line_start:limit], limit - line_start)
    return text[:limit] if start < 0 else text[: line_start + start] + MASK


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """``exc``'s text (its class name when empty) on one line, cut to ``limit`` characters, then
    masked: cut first with :func:`safe_prefix` (never less masked, and masking a bounded text is
    cheap), mask after, never the other way round (a cut after masking could expose a password's head)."""
    text = " ".join(str(exc).split()) or (type(exc).__name__ if isinstance(exc, BaseException) else "")
    return mask_secrets(safe_prefix(text, limit))


def _user_name(line: str, start: int, at: int) -> str:
    """``user:`` when the user part begins with a plain user name and a ``:``, else nothing."""
    colon = line.find(":", start, at)
    name = line[start:colon] if colon >= 0 else ""
    return name + ":" if colon >= 0 and not any(c in name for c in " \t/@?#") else ""


def _url_user_start(line: str, before: int) -> int:
    """Where the user part of the first URL (``scheme://`` or ``scheme:/``) of ``line`` that
    starts before ``before`` begins; -1 if none. The stretches walked back over schemes are
    disjoint (':' is no scheme character), so the walk is linear."""
    i = line.find(":/")
    while 0 <= i < before:
        j = i
        while j > 0 and line[j - 1] in _SCHEME_CHARS:
            j -= 1
        if j < i and line[j].isalpha():
            return i + (3 if line.startswith("://", i) else 2)
        i = line.find(":/", i + 2)
    return -1


def _mask_line(line: str) -> str:
    spans = _query_secret_spans(line)
    user = _password_span(line)
    if user is not None:
        spans.append(user)
    return _masked(line, spans)


def _password_span(line: str) -> tuple[int, int] | None:
    """Where the password of the first URL with one lies in ``line``: after ``user:``, up to the
    line's last ``@`` (a password may hold '@'); None when no URL on the line has a password."""
    at = line.rfind("@")
    offset = 0
    while at >= offset:
        start = _url_user_start(line[offset:], at - offset)
        if start < 0:
            return None
        start += offset
        first_at = line.find("@", start)
        if ":" in line[start:first_at]:  # user:password (a password may hold '@': mask to the last one)
            return start + len(_user_name(line, start, at)), at
        offset = first_at + 1  # user@host: no password in this URL; look at the next one
    return None


#: The one message for "no database to use" (context, monitor and every command say the same).
NO_DATABASE_URL = (
    "DATABASE_URL is not set and no embedded PostgreSQL runs: export DATABASE_URL="
    "postgresql+psycopg2://USER@HOST:5432/DB (password from ~/.pgpass or PGPASSWORD) "
    "or run `ytdq services up`"
)


def database_url(required: bool = True) -> str | None:
    """The URL the checks read with: ``DATABASE_URL``, else the embedded cluster's (``ytdq services
    up``) read-only checking role (``ytempire_dq.db.roles``)."""
    url = os.environ.get("DATABASE_URL") or _embedded_url("postgres", "check_url")
    if not url and required:
        raise YtdqError(NO_DATABASE_URL)
    return url


#: Where the project writes, when not where the checks read (docs/production.md, "Run it against production").
STORE_URL_ENV = "YTDQ_STORE_URL"


def store_url(checks: str | None = None, required: bool = True) -> str | None:
    """The URL the project writes with (migrations, seed data, its run history, metrics, quarantined
    keys and watermarks; backups): ``YTDQ_STORE_URL``; else the URL the checks read with (``checks``,
    else :func:`database_url`), the embedded cluster's checking role replaced by the cluster's owner
    on the same database (the checks' role cannot write)."""
    url = os.environ.get(STORE_URL_ENV)
    if not url:
        url = checks or database_url(required=False)
        url = _embedded_owner(url) or url
    if not url and required:
        raise YtdqError(NO_DATABASE_URL)
    return url


#: The name a run records for the database it checked (docs/production.md, "Run it against production").
SOURCE_ENV = "YTDQ_SOURCE"
_SOURCE_CHARS = 100


def source_name(checks: str) -> str:
    """The name of the checked database in the results store: ``YTDQ_SOURCE`` (e.g. ``production``:
    the same name for a replica and its primary, or after a move), else ``host:port/database`` of
    ``checks``, with no user or secret. History, baselines and watermarks are kept per source."""
    raw = os.environ.get(SOURCE_ENV)
    if raw is not None and raw.strip():
        name = raw.strip()
        if len(name) > _SOURCE_CHARS or not name.isprintable():
            raise YtdqError(f"{SOURCE_ENV} must be a printable name of at most {_SOURCE_CHARS} characters")
        return name
    parsed = _parsed(checks)
    if parsed is None:
        return "unnamed database"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def redis_url(required: bool = True) -> str | None:
    """``REDIS_URL``, else the URL of the embedded redis-server."""
    url = os.environ.get("REDIS_URL") or _embedded_url("redis")
    if not url and required:
        raise YtdqError("REDIS_URL is not set and no embedded redis-server runs; run `ytdq services up`")
    return url


#: The embedded servers' state file in :data:`STATE_DIR` (written by ``ytdq services up``).
SERVICES_FILE = "services.json"
#: The embedded cluster's read-only role the checks connect as (created by ``ytempire_dq.db.roles``).
CHECK_USER = "ytdq_check"
_DEFAULT_PORTS = {"postgres": 5432, "redis": 6379}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def read_services(state_dir: Path) -> dict:
    """The embedded servers' recorded state (``{}`` when there is none or it does not parse)."""
    import json

    path = Path(state_dir) / SERVICES_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def host_port(url: str, default_port: int) -> tuple[str, int] | None:
    """``(host, port)`` a URL points at; None when it does not parse."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return (parts.hostname or "localhost").lower(), parts.port or default_port
    except ValueError:
        return None


def is_embedded(url: str, name: str, entry: dict | None) -> bool:
    """Whether ``url`` points at the embedded server ``name`` recorded in ``entry`` (loopback, its port)."""
    if not entry:
        return False
    where = host_port(url, _DEFAULT_PORTS[name])
    return where is not None and where[0] in _LOOPBACK and where[1] == entry["port"]


def _embedded_url(service: str, key: str = "url") -> str | None:
    """The embedded server's URL (``key``; a state written before there was one: its ``url``)."""
    state = read_services(STATE_DIR)
    entry = state.get(service)
    return (entry.get(key) or entry.get("url")) if entry else None


def _embedded_owner(url: str | None) -> str | None:
    """The embedded cluster's owner URL on ``url``'s database when ``url`` is the cluster's
    checking role (``DATABASE_URL`` unset, or exported as ``ytdq services up`` prints it); else None."""
    parsed = _parsed(url) if url else None
    entry = read_services(STATE_DIR).get("postgres")
    if parsed is None or parsed.username != CHECK_USER or not is_embedded(url, "postgres", entry):
        return None
    owner = _parsed(entry["url"])
    return owner.set(database=parsed.database).render_as_string(hide_password=False) if owner else None


#: How long the project keeps its own data (``dq`` run history and quarantine, stored validation
#: results, Data Docs pages): ``YTDQ_RETENTION_DAYS``, else this. The one place every reader takes
#: it from (``ytdq results prune``, the ``privacy`` suite's retention rules, the statement in docs/personal-data.md).
RETENTION_DAYS = 30
RETENTION_ENV = "YTDQ_RETENTION_DAYS"


def retention_days() -> int:
    """``retention_days``: days the project's own data is kept (a positive integer, else YtdqError)."""
    raw = os.environ.get(RETENTION_ENV)
    if raw is None or raw.strip() == "":
        return RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1:
        raise YtdqError(f"{RETENTION_ENV} must be a whole number of days >= 1, got {raw!r}")
    return days
