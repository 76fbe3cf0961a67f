"""Alerts: what one is (:class:`Alert`, :class:`Severity`) and how CRITICAL ones reach people (SMTP).

Email is configured from the environment only; nothing here names a host, a user or a password:

=====================  ==========================================================
``YTDQ_SMTP_HOST``     SMTP server; unset means email is off (one log line, no error)
``YTDQ_SMTP_PORT``     default 25
``YTDQ_SMTP_USER``     login user (no login when unset)
``YTDQ_SMTP_PASSWORD`` login password (never logged)
``YTDQ_SMTP_STARTTLS`` ``1`` to upgrade the connection with STARTTLS (default ``0``)
``YTDQ_ALERT_FROM``    sender address (default ``ytdq@<this host's name>``)
``YTDQ_ALERT_TO``      recipients, comma-separated (required when the host is set)
=====================  ==========================================================

Sending never raises: a bad setting or a failed delivery is a logged warning, because an alert
path that crashes the monitor is worse than one that cannot mail.
"""

from __future__ import annotations

import enum
import logging
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Iterable, Mapping

from typing_extensions import override

from ytempire_dq.config import mask_secrets
from ytempire_dq.values import plural

log = logging.getLogger("ytempire_dq.ops.alerts")

ENV_VARS = (
    "YTDQ_SMTP_HOST",
    "YTDQ_SMTP_PORT",
    "YTDQ_SMTP_USER",
    "YTDQ_SMTP_PASSWORD",
    "YTDQ_SMTP_STARTTLS",
    "YTDQ_ALERT_FROM",
    "YTDQ_ALERT_TO",
)


class Severity(enum.IntEnum):
    """Alert severity; the values are the matching :mod:`logging` levels (``log.log(sev, ...)``)."""

    INFO = logging.INFO
    WARNING = logging.WARNING
    CRITICAL = logging.CRITICAL

    @override
    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Alert:
    """One finding of the monitor: ``check`` names the rule (e.g. ``postgres.connections``),
    ``target`` the object it is about when there are several (a table, a replica), ``""`` otherwise."""

    severity: Severity
    check: str
    message: str
    target: str = ""

    @override
    def __str__(self) -> str:
        return f"{self.severity.name} {self.check}: {self.message}"

    def to_dict(self) -> dict:
        return {"severity": self.severity.name, "check": self.check, "target": self.target, "message": self.message}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how alert email goes (from :func:`smtp_settings`)."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    sender: str = ""
    recipients: tuple[str, ...] = ()
    timeout: float = 10.0

    def describe(self) -> str:
        return f"{self.host}:{self.port}" + (" (STARTTLS)" if self.starttls else "")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def smtp_settings(env: Mapping[str, str] | None = None, *, quiet: bool = False) -> SmtpSettings | None:
    """The SMTP settings from ``YTDQ_*`` variables, or ``None`` (email off, with the reason logged)."""
    env = os.environ if env is None else env
    host = (env.get("YTDQ_SMTP_HOST") or "").strip()
    say = (lambda *a: None) if quiet else log.info
    warn = (lambda *a: None) if quiet else log.warning
    if not host:
        say("alert email is off: YTDQ_SMTP_HOST is not set")
        return None
    port_text = (env.get("YTDQ_SMTP_PORT") or "25").strip()
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        warn("alert email is off: YTDQ_SMTP_PORT=%r is not a port number", port_text)
        return None
    tls_text = (env.get("YTDQ_SMTP_STARTTLS") or "0").strip().lower()
    if tls_text not in _TRUE | _FALSE:
        warn("alert email is off: YTDQ_SMTP_STARTTLS=%r is not 0 or 1", tls_text)
        return None
    recipients = tuple(a.strip() for a in (env.get("YTDQ_ALERT_TO") or "").split(",") if a.strip())
    if not recipients:
        warn("alert email is off: YTDQ_SMTP_HOST is set but YTDQ_ALERT_TO is empty")
        return None
    sender = (env.get("YTDQ_ALERT_FROM") or "").strip() or f"ytdq@{socket.gethostname()}"
    return SmtpSettings(
        host=host,
        port=port,
        user=(env.get("YTDQ_SMTP_USER") or None),
        password=(env.get("YTDQ_SMTP_PASSWORD") or None),
        starttls=tls_text in _TRUE,
        sender=sender,
        recipients=recipients,
    )


def format_email(alerts: list[Alert], settings: SmtpSettings, *, source: str = "ytdq monitor") -> EmailMessage:
    """One message listing every alert given (worst first)."""
    alerts = sorted(alerts, key=lambda a: (-a.severity, a.check, a.target))
    worst = alerts[0].severity.name if alerts else "INFO"
    checks = ", ".join(dict.fromkeys(a.check for a in alerts))
    msg = EmailMessage()
    msg["Subject"] = f"[ytdq {worst}] {plural(len(alerts), 'alert')}: {checks}"[:200]
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    lines = [f"{source} on {socket.gethostname()} reports:", ""]
    lines += [f"{a.severity.name:8} {a.check}{f' [{a.target}]' if a.target else ''}: {a.message}" for a in alerts]
    msg.set_content(mask_secrets("\n".join(lines)) + "\n")
    return msg


def send_email(message: EmailMessage, settings: SmtpSettings) -> bool:
    """Deliver ``message``; ``False`` (and a warning) when it could not be sent. Never raises."""
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            refused = smtp.send_message(message)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        log.warning("alert email via %s failed: %s", settings.describe(), mask_secrets(f"{type(exc).__name__}: {exc}"))
        return False
    if refused:
        log.warning("alert email via %s: refused for %s", settings.describe(), ", ".join(sorted(refused)))
    return len(refused) < len(settings.recipients)


def notify(
    alerts: Iterable[Alert], settings: SmtpSettings | None = None, *, min_severity: Severity = Severity.CRITICAL
) -> bool:
    """Email the alerts at ``min_severity`` or worse in one message. ``settings`` default: from the
    environment. Returns whether a message went out (``False`` when none qualified, email is off,
    or sending failed)."""
    chosen = [a for a in alerts if a.severity >= min_severity]
    if not chosen:
        return False
    if settings is None:
        settings = smtp_settings()
        if settings is None:
            return False
    sent = send_email(format_email(chosen, settings), settings)
    if sent:
        log.info(
            "emailed %s to %s via %s", plural(len(chosen), "alert"), ", ".join(settings.recipients), settings.describe()
        )
    return sent
