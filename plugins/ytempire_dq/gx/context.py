"""The ONE place that opens the GX Data Context (``gx/great_expectations.yml``).

Order matters (see DESIGN, "Import before load"): a suite naming a custom expectation that is
not imported yet loads *without* it (GX only logs a line) and re-saving the suite then deletes
it from the file; a checkpoint naming an unimported action does not load at all. So
:func:`open_context` imports the package's expectations and actions first, then opens the
context. Everything that needs a context goes through it.

The committed config names the database as ``${DATABASE_URL}``; the URL is handed to GX as a
runtime substitution variable (from ``DATABASE_URL`` or the embedded cluster), so nothing
secret is ever written to disk and ``os.environ`` is left alone.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import os
from pathlib import Path
from typing import TYPE_CHECKING

from typing_extensions import override

from ytempire_dq import config
from ytempire_dq.errors import YtdqError

if TYPE_CHECKING:  # pragma: no cover
    from great_expectations.data_context import FileDataContext

log = logging.getLogger(__name__)

#: Where the committed Data Context lives.
DEFAULT_CONFIG_DIR = config.PROJECT_ROOT / "gx"

#: Modules whose import registers our custom expectation and action classes with GX.
PLUGIN_MODULES = ("ytempire_dq.expectations", "ytempire_dq.actions")


def register_plugins() -> list[str]:
    """Import every module that registers custom GX types; returns the ones found.

    A module that does not exist (yet) is skipped with a debug line; an error *inside* an
    existing module is raised, since suites would otherwise silently lose its expectations.
    """
    loaded = []
    for name in PLUGIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            log.debug("%s is not there; no custom types from it", name)
            continue
        loaded.append(name)
    return loaded


def _quiet_gx() -> None:
    # GX prints progress bars and INFO chatter; our CLI shows its own progress.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)


#: Where GX's own log output (its metric errors: raw exception dumps), SQLAlchemy's (its pool logs
#: a traceback when a connection cannot be reset: the server went away mid-run) and ours go, under
#: the context directory; the terminal gets one line per cause instead (``--verbose`` shows it all).
LOG_FILE = Path("uncommitted") / "logs" / "ytdq.log"
_LOGGERS = ("great_expectations", "ytempire_dq", "sqlalchemy")


class MaskingFormatter(logging.Formatter):
    """Log lines (and tracebacks) with every URL password and e-mail address masked, and the
    values PostgreSQL quotes when the line names a personal column (GX logs a failed rule's
    parameters with its raw exception: ``username::int`` ... ``integer: "<a username>"``)."""

    @override
    def format(self, record: logging.LogRecord) -> str:
        from ytempire_dq.pii import mask_error, reads_personal

        text = config.mask_secrets(super().format(record))
        return mask_error(text, reads_personal(text))


def _attach(handler: logging.Handler, kind: str) -> None:
    """Put ``handler`` on our loggers in place of an earlier one of the same ``kind``."""
    handler.set_name(f"ytdq-{kind}")
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == handler.get_name()]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
    ours = logging.getLogger("ytempire_dq")
    if ours.level == logging.NOTSET or ours.level > logging.INFO:
        ours.setLevel(logging.INFO)  # INFO reaches the file; stderr's last-resort handler shows WARNING+
    for name in ("great_expectations", "sqlalchemy"):  # no raw GX text, no pool traceback on stderr
        logging.getLogger(name).propagate = False


def log_to_file(config_dir: Path) -> Path:
    """Send GX's log output and ours to ``<config_dir>/uncommitted/logs/ytdq.log`` (passwords masked;
    rotated at 5 MB, two old files kept)."""
    path = Path(config_dir) / LOG_FILE
    current = next((h for h in logging.getLogger("great_expectations").handlers if h.get_name() == "ytdq-file"), None)
    if isinstance(current, logging.FileHandler) and Path(current.baseFilename) == path.resolve():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # bounded: a run's cost must not grow with the runs before it
    _attach(
        logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=2, encoding="utf-8", delay=True),
        "file",
    )
    return path


def log_to_stderr() -> None:
    """``--verbose``: GX's log output and ours on stderr too (passwords masked)."""
    import sys

    _attach(logging.StreamHandler(sys.stderr), "stderr")


def _runtime_variables(database_url: str) -> dict:
    """``${VAR}`` values GX substitutes: the database, and Redis when known (the
    ``publish_to_redis`` action's ``${REDIS_URL}``; unset, the action logs a warning)."""
    variables = {"DATABASE_URL": database_url}
    redis_url = config.redis_url(required=False)
    if redis_url:
        variables["REDIS_URL"] = redis_url
    return variables


def open_context(config_dir: Path | str | None = None, *, database_url: str | None = None) -> "FileDataContext":
    """The File Data Context at ``config_dir`` (default: the project's ``gx/``), any cwd.

    Custom expectations/actions are registered before anything is loaded. The database URL is
    ``database_url`` or :func:`ytempire_dq.config.database_url` (``DATABASE_URL`` or the embedded
    cluster); none at all raises :class:`YtdqError`.
    """
    config_dir = Path(config_dir).resolve() if config_dir is not None else DEFAULT_CONFIG_DIR
    yml = config_dir / "great_expectations.yml"
    if not yml.is_file():
        raise YtdqError(f"no GX configuration at {yml}")
    url = database_url or config.database_url()

    register_plugins()
    _quiet_gx()
    log_to_file(config_dir)
    import great_expectations as gx  # slow import, only when a context is needed
    from great_expectations.data_context import FileDataContext

    try:
        ctx = gx.get_context(mode="file", context_root_dir=str(config_dir), runtime_environment=_runtime_variables(url))
    except Exception as exc:  # noqa: BLE001 - GX config errors come in many classes: one masked line, exit 2
        raise YtdqError(f"cannot open the GX context at {config_dir}: {config.mask_secrets(str(exc))}") from None
    assert isinstance(ctx, FileDataContext)
    from ytempire_dq.sql_guard import apply_to_context

    apply_to_context(ctx)  # GX's engine: READ ONLY, statement timeout from YTDQ_STATEMENT_TIMEOUT
    return ctx
