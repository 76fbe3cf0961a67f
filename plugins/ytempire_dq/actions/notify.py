"""NotifyAction: tell each rule's owner when data breaks, once per new failure.

Checkpoint file entry::

    {"type": "notify", "name": "notify", "routing": "notifications.json"}

The routing file (in ``gx/``, committed, no secrets) names the channels and who hears what::

    {"channels": {"email": {"type": "email", "to": "${YTDQ_ALERT_TO}"},
                  "slack": {"type": "slack", "url": "${YTDQ_SLACK_WEBHOOK}"}},
     "default": ["email", "slack"],
     "owners": {"growth-analytics": ["slack"]}}

A channel is on when every ``${VAR}`` of it is set (GX's substitution: the environment or
``config_variables.yml``); a channel left off costs nothing. Channel types: ``email`` (SMTP with
the settings of ``ytdq monitor``: ``YTDQ_SMTP_*``; the channel's ``host`` and ``to`` override
``YTDQ_SMTP_HOST`` and ``YTDQ_ALERT_TO``), ``slack``
and ``teams`` (an incoming webhook: ``{"text": ...}``) and ``webhook`` (any URL: the message as
JSON, GX's ``APINotificationAction`` idea with our fields), and for paging ``pagerduty`` (Events
API v2, ``routing_key``) and ``opsgenie`` (Alert API, ``api_key``): the checkpoints listed in the
routing file's ``"paging"`` open one incident per checkpoint and source when they start failing
or cannot run (exit 2, :func:`page_not_running`), and resolve it when they pass again.

A rule's owner is its ``meta.owner``, else its suite's ``meta.owner``; each owner gets one message
with their rules only, sent to their channels; rules without an owner go to ``default``.

Why not GX's own Slack/Teams/Email actions: they send one message per run for every failing
rule, with GX's rendering of the raw results (unmasked samples, unbounded text), to one channel,
every night. Here a message goes out when something changed against the previous run of the same
checkpoint on the same source (read from the results store): rules that *start* failing are
announced with their sentence, bad-row count and a few masked sample values; rules still failing
ride along in a short "still failing since ..." list; rules that recovered are announced as
recovered. Nothing changed: no message, except a short reminder of what still fails once an
owner has heard nothing for ``digest_days`` (routing file, default 7; 0: never), so a rule
failing for weeks is not forgotten (``notify_on: "failure"`` sends on every failing run, ``"all"``
on every run). The text is bounded, passwords and personal data masked, and the same on
every channel.

Each message and channel is a row of ``dq.notifications``: a channel that cannot be reached
leaves it undelivered and the next run retries it (:mod:`ytempire_dq.store.notifications`).
Failing to deliver is never a failure of the data: the action raises one line naming the channels
(a ``warning:`` on stderr, in ``--json``), and the run's exit code stays the data's own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Optional

from great_expectations.checkpoint.actions import ActionContext, ValidationAction
from great_expectations.checkpoint.checkpoint import CheckpointResult
from great_expectations.datasource.fluent.config_str import ConfigStr
from typing_extensions import override

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.gx import compat
from ytempire_dq.run.report import RuleResult, bounded_text, read_expectation_result

log = logging.getLogger(__name__)

CHANNEL_TYPES = ("email", "slack", "teams", "webhook", "pagerduty", "opsgenie")
#: Where the paging services take events, unless a channel names its own ``url``.
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_URL = "https://api.opsgenie.com/v2/alerts"
#: Rules listed per section of a message, sample values per rule, characters per sample and in all.
RULES_SHOWN = 15
SAMPLES_SHOWN = 3
SAMPLE_CHARS = 40
MESSAGE_CHARS = 3500
#: Quiet days after which an owner whose rules still fail gets a reminder (routing ``digest_days``).
DIGEST_DAYS = 7
#: Seconds a webhook or SMTP server gets to answer.
TIMEOUT = 10.0
_VAR = re.compile(r"\$\{[^}]*\}")


class NotDelivered(YtdqError):
    """A message could not be delivered to a channel (kept in the store, retried by the next run)."""


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    settings: dict  # substituted: url, to


@dataclass
class Routing:
    channels: dict[str, Channel]  # the channels that are on
    default: list[str]
    owners: dict[str, list[str]]
    paging: dict = field(default_factory=dict)  # {"checkpoints": [...], "channels": [...]}
    digest_days: int = DIGEST_DAYS  # an owner with rules still failing hears again after so many quiet days

    def pagers(self, checkpoint: str) -> list[Channel]:
        """The paging channels (on) of ``checkpoint``: it pages when it starts failing or cannot run."""
        if checkpoint not in self.paging.get("checkpoints", []):
            return []
        return [self.channels[n] for n in self.paging.get("channels", []) if n in self.channels]

    def of(self, owner: Optional[str]) -> list[Channel]:
        names = self.owners.get(owner, self.default) if owner is not None else self.default
        return [self.channels[n] for n in names if n in self.channels]


def read_routing(path: Path, substitute: Any) -> Routing:
    """The routing file at ``path``, its ``${VAR}`` values through ``substitute``; a channel with
    a variable left unset is off. A malformed file: :class:`YtdqError` naming it and the problem."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise YtdqError(f"{path}: not a readable JSON routing file: {config.one_line(exc, 200)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict):
        raise YtdqError(f'{path}: needs an object "channels" of channel name -> {{"type": ..., ...}}')
    channels = {}
    for name, spec in data["channels"].items():
        if not isinstance(spec, dict) or spec.get("type") not in CHANNEL_TYPES:
            raise YtdqError(f"{path}: channel {name!r} needs a type, one of {', '.join(CHANNEL_TYPES)}")
        values = {k: substitute(v) if isinstance(v, str) else v for k, v in spec.items() if k != "type"}
        if any(isinstance(v, str) and (not v or _VAR.search(v)) for v in values.values()):
            continue  # a variable is not set: the channel is off
        channels[name] = Channel(name, spec["type"], values)
    names = set(data["channels"])
    default = data.get("default", [])
    owners = data.get("owners", {})
    paging = data.get("paging", {})
    if not isinstance(paging, dict) or not isinstance(paging.get("checkpoints", []), list):
        raise YtdqError(f'{path}: "paging" is {{"checkpoints": [names], "channels": [channel names]}}')
    lists = [("default", default), ("paging.channels", paging.get("channels", []))]
    lists += [(f"owners.{o}", v) for o, v in owners.items()]
    for where, listed in lists:
        if not isinstance(listed, list) or not all(isinstance(n, str) and n in names for n in listed):
            raise YtdqError(f'{path}: {where} must list channel names of "channels" ({", ".join(sorted(names))})')
    digest = data.get("digest_days", DIGEST_DAYS)
    if isinstance(digest, bool) or not isinstance(digest, int) or digest < 0:
        raise YtdqError(f'{path}: "digest_days" must be a whole number of days >= 0 (0: no reminders), got {digest!r}')
    return Routing(channels, default, owners, paging, digest)


@dataclass
class OwnerNews:
    """What one owner hears about one run."""

    new: list[RuleResult] = field(default_factory=list)
    still: list[tuple[RuleResult, Any]] = field(default_factory=list)  # (rule, failing since)
    recovered: list[str] = field(default_factory=list)
    failing: int = 0
    rules: int = 0


class NotifyAction(ValidationAction):
    """Send each rule owner what changed in this run (see the module docstring)."""

    type: Literal["notify"] = "notify"
    routing: str = "notifications.json"
    notify_on: Literal["change", "failure", "all"] = "change"

    @override
    def run(self, checkpoint_result: CheckpointResult, action_context: ActionContext | None = None) -> dict:
        from ytempire_dq.db.connect import connect
        from ytempire_dq.store import notifications, run_store

        ctx = compat.action_data_context(self)
        routing = read_routing(Path(ctx.root_directory) / self.routing, self._substitute)
        if not routing.channels:
            return {"sent": 0, "reason": "no channel is on"}
        checkpoint = checkpoint_result.checkpoint_config.name
        reader = run_store.current()  # the run's results store and source
        run_id = str(checkpoint_result.run_id.run_name or checkpoint_result.run_id.to_id())
        docs = _docs_url(action_context)
        conn = connect(reader.store_url, connect_timeout=5)
        problems: list[str] = []
        sent = 0
        try:

            def send(channel: Channel, message: dict, owner: Optional[str], what: str) -> int:
                """Store, deliver and mark one message; 1 when delivered."""
                row = {"run_id": run_id, "checkpoint": checkpoint, "source": reader.source, "owner": owner}
                ident = notifications.save(conn, **row, channel=channel.name, message=message)
                error = deliver(channel, message)
                notifications.mark(conn, ident, error)
                if error:
                    problems.append(f"{channel.name} ({what}): {error}")
                return int(error is None)

            for row in notifications.pending(conn, checkpoint, reader.source):  # earlier runs' first
                channel = routing.channels.get(row["channel"])
                if channel is not None:
                    error = deliver(channel, row["message"])
                    notifications.mark(conn, row["id"], error)
                    sent += error is None
                    if error:
                        problems.append(f"{row['channel']} (run {row['run_id']}): {error}")
            previous = notifications.previous_outcomes(conn, checkpoint, reader.source)
            news = _news(ctx, checkpoint_result, previous)
            for owner, mine in news.items():
                reminder = _reminder_due(conn, mine, self.notify_on, routing, checkpoint, reader.source, owner)
                if reminder or _worth_sending(mine, self.notify_on):
                    message = compose(checkpoint, reader.source, run_id, owner, mine, docs, reminder=reminder)
                    for channel in routing.of(owner):
                        sent += send(channel, message, owner, f"owner {owner or 'default'}")
            failing = sum(n.failing for n in news.values())
            was_failing = any(not o.success for o in previous.values())
            event = "trigger" if failing and not was_failing else "resolve" if was_failing and not failing else None
            for channel in routing.pagers(checkpoint) if event else []:
                summary = _verdict_line(checkpoint, reader.source, news)
                sent += send(channel, page(checkpoint, reader.source, event, summary, docs), None, event)
        finally:
            conn.close()
        if problems:
            raise NotDelivered(
                "notification not delivered to "
                + "; ".join(problems)
                + " — kept in the results store, the next run retries it"
            )
        return {"sent": sent}

    def _substitute(self, value: str) -> str:
        """``value`` with its ``${VAR}`` from the environment or ``config_variables.yml`` (as GX
        substitutes its actions' fields); unset: the template stays (the channel is off)."""
        if not ConfigStr.str_contains_config_template(value):
            return value
        try:
            return compat.action_config_str(self, ConfigStr(value)) or ""
        except Exception:  # noqa: BLE001 - GX's missing-variable error: the channel is off
            return value


def _docs_url(action_context: ActionContext | None) -> str | None:
    """The Data Docs index the run's ``update_data_docs`` action wrote (GX runs it first)."""
    for _action, result in getattr(action_context, "data", None) or []:
        if isinstance(result, dict):
            for value in result.values():
                if isinstance(value, dict):
                    url = value.get("local_site") or next(iter(value.values()), None)
                    if isinstance(url, str):
                        return url
    return None


def _news(ctx: Any, checkpoint_result: CheckpointResult, previous: dict) -> dict[Optional[str], OwnerNews]:
    """Per owner: the rules that started failing, still fail (since when) and recovered."""
    news: dict[Optional[str], OwnerNews] = {}
    suite_owner: dict[str, Optional[str]] = {}
    for vr in checkpoint_result.run_results.values():
        suite = vr.suite_name
        if suite not in suite_owner:
            try:
                suite_owner[suite] = (ctx.suites.get(suite).meta or {}).get("owner")
            except Exception:  # noqa: BLE001 - a suite GX cannot hand back has no owner here
                suite_owner[suite] = None
        for evr in vr.results:
            rule = read_expectation_result(evr)
            meta = (evr.expectation_config.meta if evr.expectation_config else None) or {}
            owner = meta.get("owner") or suite_owner[suite]
            owner = str(owner) if owner else None
            mine = news.setdefault(owner, OwnerNews())
            rule_id = rule.rule_id or rule.expectation_type
            mine.rules += 1
            before = previous.get(rule_id)
            if rule.success:
                if before is not None and not before.success:
                    mine.recovered.append(rule_id)
                continue
            mine.failing += 1
            if before is None or before.success:
                mine.new.append(rule)
            else:
                mine.still.append((rule, before.failing_since))
    return news


def _reminder_due(
    conn: Any, news: OwnerNews, notify_on: str, routing: Routing, checkpoint: str, source: str | None, owner: Any
) -> bool:
    """Whether ``owner``, whose rules only still fail (nothing new, nothing recovered), has heard
    nothing about ``checkpoint`` on ``source`` for ``routing.digest_days`` (by the store's clock)."""
    from ytempire_dq.store import notifications

    if notify_on != "change" or not news.still or news.new or news.recovered or not routing.digest_days:
        return False
    channels = [channel.name for channel in routing.of(owner)]
    return bool(channels) and notifications.quiet_for(conn, checkpoint, source, owner, channels, routing.digest_days)


def _worth_sending(news: OwnerNews, notify_on: str) -> bool:
    if notify_on == "all":
        return True
    if notify_on == "failure":
        return news.failing > 0
    return bool(news.new or news.recovered)


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def compose(
    checkpoint: str,
    source: str | None,
    run_id: str,
    owner: Optional[str],
    news: OwnerNews,
    docs: str | None,
    *,
    reminder: bool = False,
) -> dict:
    """``{"subject", "text", "payload"}``: the same words on every channel; bounded, masked.
    ``reminder``: nothing changed, the owner is reminded of what still fails."""
    verdict = f"failed {news.failing} of {news.rules}" if news.failing else f"passed {news.rules} of {news.rules}"
    subject = f"[ytdq] {checkpoint} on {source}: {verdict} rules" + (f" ({owner})" if owner else "")
    if reminder:
        subject += " - reminder, nothing changed"
    lines = [f"{subject} — run {run_id}"]

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  - {item}" for item in items[:RULES_SHOWN])
            if len(items) > RULES_SHOWN:
                lines.append(f"  ... and {len(items) - RULES_SHOWN} more")

    section("New failures", [_failure(rule) for rule in news.new])
    section(
        "Still failing",
        [f"{rule.rule_id or rule.expectation_type} since {_when(since)}{_bad(rule)}" for rule, since in news.still],
    )
    section("Recovered", news.recovered)
    if docs:
        lines.append(f"Data Docs: {docs}")
    text = config.mask_secrets(bounded_text("\n".join(lines), MESSAGE_CHARS))
    payload = {
        "checkpoint": checkpoint,
        "source": source,
        "run_id": run_id,
        "owner": owner,
        "verdict": verdict,
        "new_failures": [rule.rule_id or rule.expectation_type for rule in news.new][:RULES_SHOWN],
        "still_failing": [rule.rule_id or rule.expectation_type for rule, _ in news.still][:RULES_SHOWN],
        "recovered": news.recovered[:RULES_SHOWN],
        "reminder": reminder,
        "data_docs": docs,
        "text": text,
    }
    return {"subject": config.mask_secrets(subject[:200]), "text": text, "payload": payload}


def _verdict_line(checkpoint: str, source: str | None, news: dict[Optional[str], OwnerNews]) -> str:
    failing, total = sum(n.failing for n in news.values()), sum(n.rules for n in news.values())
    if failing:
        return f"[ytdq] {checkpoint} on {source}: failed {failing} of {total} rules"
    return f"[ytdq] {checkpoint} on {source}: passed {total} of {total} rules"


def page(checkpoint: str, source: str | None, event: str, summary: str, docs: str | None = None) -> dict:
    """A paging event (``trigger`` or ``resolve``) of ``checkpoint`` on ``source``: one incident per
    checkpoint and source (its dedup key), opened when it starts failing or cannot run, resolved
    when it passes again."""
    summary = config.mask_secrets(bounded_text(summary, 900))
    return {
        "subject": summary[:200],
        "text": summary + (f"\nData Docs: {docs}" if docs else ""),
        "event": event,
        "dedup_key": f"ytdq/{checkpoint}/{source}",
        "payload": {"checkpoint": checkpoint, "source": source, "event": event, "summary": summary, "data_docs": docs},
    }


def page_not_running(checkpoint: str, config_dir: Path, error: BaseException | str) -> None:
    """Page the paging channels of ``checkpoint`` (routing file in ``config_dir``, its ``${VAR}``
    from the environment) that it could not run (exit 2). Never raises: the run's own error stands;
    a page that cannot be sent is logged."""
    from string import Template

    try:
        path = Path(config_dir) / "notifications.json"
        if not path.exists():
            return
        routing = read_routing(path, lambda v: Template(v).safe_substitute(os.environ))
        source = config.source_name(config.database_url(required=False) or "")
        message = page(checkpoint, source, "trigger", f"[ytdq] {checkpoint} on {source} could not run: {error}")
        for channel in routing.pagers(checkpoint):
            problem = deliver(channel, message)
            if problem:
                log.error(
                    "checkpoint %r could not run, and the page to %s failed: %s", checkpoint, channel.name, problem
                )
    except Exception as exc:  # noqa: BLE001 - the run's own error is what the caller reports
        log.error("checkpoint %r could not run; paging failed: %s", checkpoint, config.one_line(exc, 300))


def _failure(rule: RuleResult) -> str:
    what = rule.sentence or rule.description or rule.expectation_type
    head = f"{rule.rule_id or rule.expectation_type}: {bounded_text(str(what), 200)}"
    if rule.error:
        return f"{head} — could not run: {bounded_text(rule.error, 200)}"
    samples = [bounded_text(str(v), SAMPLE_CHARS) for v in (rule.partial_unexpected_list or [])[:SAMPLES_SHOWN]]
    shown = f"; e.g. {', '.join(samples)}" if samples else ""
    return f"{head}{_bad(rule)}{shown}"


def _bad(rule: RuleResult) -> str:
    return f" — {_count(rule.unexpected_count, 'bad row')}" if rule.unexpected_count is not None else ""


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else "an earlier run"


def deliver(channel: Channel, message: dict) -> str | None:
    """Send ``message`` on ``channel``; None when delivered, else why not (one line, masked)."""
    try:
        if channel.type == "email":
            _email(channel, message)
        else:
            url, body, headers = _request(channel, message)
            request = urllib.request.Request(
                url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", **headers},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                if response.status >= 300:
                    return f"HTTP {response.status}"
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is that channel's, never the run's
        where = channel.settings.get("url") or channel.name
        return f"{config.mask_url(str(where))}: {config.one_line(exc, 200)}"
    return None


def _request(channel: Channel, message: dict) -> tuple[str, dict, dict]:
    """(URL, JSON body, extra headers) of ``message`` on a channel that takes HTTP."""
    settings = channel.settings
    if channel.type in ("slack", "teams"):
        return settings["url"], {"text": message["text"]}, {}
    if channel.type == "webhook":
        return settings["url"], message["payload"], {}
    event = message.get("event", "trigger")
    key = message.get("dedup_key") or f"ytdq/{message['payload'].get('checkpoint')}"
    if channel.type == "pagerduty":  # Events API v2
        body = {"routing_key": settings.get("routing_key"), "event_action": event, "dedup_key": key}
        if event == "trigger":
            body["payload"] = {
                "summary": message["subject"],
                "source": str(message["payload"].get("source")),
                "severity": "critical",
                "custom_details": message["payload"],
            }
        return settings.get("url") or PAGERDUTY_URL, body, {}
    headers = {"Authorization": f"GenieKey {settings.get('api_key')}"}  # opsgenie: Alert API
    base = (settings.get("url") or OPSGENIE_URL).rstrip("/")
    if event == "resolve":
        return f"{base}/{urllib.parse.quote(key, safe='')}/close?identifierType=alias", {"source": "ytdq"}, headers
    body = {"message": message["subject"][:130], "alias": key, "description": message["text"], "priority": "P1"}
    return base, body, headers


def _email(channel: Channel, message: dict) -> None:
    from ytempire_dq.ops.alerts import send_email, smtp_settings

    # the channel's own host and recipients over the monitor's settings (YTDQ_SMTP_*, YTDQ_ALERT_TO)
    overrides = {"YTDQ_SMTP_HOST": channel.settings.get("host"), "YTDQ_ALERT_TO": channel.settings.get("to")}
    settings = smtp_settings({**os.environ, **{k: v for k, v in overrides.items() if v}}, quiet=True)
    if settings is None:
        raise NotDelivered("SMTP is not configured (YTDQ_SMTP_HOST, YTDQ_SMTP_PORT, YTDQ_ALERT_TO)")
    mail = EmailMessage()
    mail["Subject"] = message["subject"]
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.recipients)
    mail.set_content(message["text"] + "\n")
    if not send_email(mail, settings):
        raise NotDelivered(f"SMTP {settings.describe()} did not take the message")
