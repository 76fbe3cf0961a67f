"""Where settings come from: ``DATABASE_URL`` / ``REDIS_URL`` and the project root; URL masking."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ytempire_dq.errors import YtdqError

# plugins/ytempire_dq/config.py -> the checkout (the package is installed editable)
PROJECT_ROOT = Path(os.environ.get("YTDQ_HOME") or Path(__file__).resolve().parents[2])
STATE_DIR = PROJECT_ROOT / ".ytdq"

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)")
# a whole URL: the password runs to the last '@' before the path (it may hold spaces or a raw '@')
_PASSWORD_IN_WHOLE_URL = re.compile(r"^(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^/]*)(?P<tail>@.*)$", re.S)


def mask_url(url: str | None) -> str:
    """The URL with its password replaced by ``***`` (for every log line, error and page)."""
    if not url:
        return "<unset>"
    return _PASSWORD_IN_WHOLE_URL.sub(lambda m: m["head"] + "***" + m["tail"], url)


def mask_secrets(text: str) -> str:
    """Mask every URL password inside a longer text (error messages from drivers)."""
    return _PASSWORD_IN_URL.sub(lambda m: m["head"] + "***" + m["tail"], text)


def database_url(required: bool = True) -> str | None:
    """``DATABASE_URL``, else the URL of the embedded cluster that ``ytdq services up`` started."""
    url = os.environ.get("DATABASE_URL") or _embedded_url("postgres")
    if not url and required:
        raise YtdqError("DATABASE_URL is not set and no embedded PostgreSQL runs; run `ytdq services up`")
    return url


def redis_url(required: bool = True) -> str | None:
    """``REDIS_URL``, else the URL of the embedded redis-server."""
    url = os.environ.get("REDIS_URL") or _embedded_url("redis")
    if not url and required:
        raise YtdqError("REDIS_URL is not set and no embedded redis-server runs; run `ytdq services up`")
    return url


def _embedded_url(service: str) -> str | None:
    from ytempire_dq import services  # local: services imports this module

    state = services.read_state(STATE_DIR)
    entry = state.get(service)
    return entry.get("url") if entry else None
