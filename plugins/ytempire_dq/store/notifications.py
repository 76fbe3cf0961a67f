"""What the notify action reads from and writes to the results store (migration 012).

- :func:`previous_outcomes`: each rule's outcome in the previous run of a checkpoint on a source
  (what "a new failure" and "recovered" are judged against), with since when a failing rule fails;
- :func:`save`, :func:`mark`, :func:`pending`: one ``dq.notifications`` row per message and
  channel, marked delivered or left for the next run to retry (at most :data:`MAX_ATTEMPTS`
  times), so a channel that cannot be reached never loses a message in silence;
- :func:`quiet_for`: whether an owner has heard nothing about a checkpoint for some days (when a
  reminder of what still fails is due).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ytempire_dq.store.streaks import failing_since, last_outcomes, rows_of, runs_of

#: Times a message is tried (its own run, then the next runs) before it is left undelivered.
MAX_ATTEMPTS = 5
#: Older undelivered messages retried per run, oldest first (bounded work).
RETRY_LIMIT = 20


@dataclass(frozen=True)
class Outcome:
    """A rule's outcome in the previous run: passed or not, and (failing) since when."""

    success: bool
    failing_since: dt.datetime | None = None


def previous_outcomes(conn: Any, checkpoint: str, source: str | None) -> dict[str, Outcome]:
    """``{rule_id: Outcome}`` of the latest run of ``checkpoint`` on ``source`` in the store (a
    DB-API connection); empty when there is none."""
    outcomes = last_outcomes(conn, checkpoint, source) or {}
    failing = [rule_id for rule_id, ok in outcomes.items() if not ok]
    since = {}
    if failing:
        with conn.cursor() as cur:
            since = dict(rows_of(cur, failing_since(failing, checkpoint, runs_of(checkpoint, source, named=True))))
    return {rule_id: Outcome(bool(ok), None if ok else since.get(rule_id)) for rule_id, ok in outcomes.items()}


def save(
    conn: Any, *, run_id: str, checkpoint: str, source: str | None, owner: str | None, channel: str, message: dict
) -> int:
    """A new undelivered message; its id."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO dq.notifications (run_id, checkpoint, source, owner, channel, message, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb, now()) RETURNING id",
            (run_id, checkpoint, source, owner, channel, json.dumps(message)),
        )
        (ident,) = cur.fetchone()
    conn.commit()
    return ident


def mark(conn: Any, ident: int, error: str | None) -> None:
    """One more attempt of message ``ident``: delivered (``error`` None) or not, with why."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE dq.notifications SET attempts = attempts + 1, last_error = %s, "
            "delivered_at = CASE WHEN %s THEN now() END WHERE id = %s",
            (error, error is None, ident),
        )
    conn.commit()


def pending(conn: Any, checkpoint: str, source: str | None) -> list[dict]:
    """Undelivered messages of ``checkpoint`` on ``source`` still to be retried, oldest first:
    ``[{"id", "run_id", "owner", "channel", "message", "attempts"}]``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, run_id, owner, channel, message, attempts FROM dq.notifications "
            "WHERE delivered_at IS NULL AND attempts < %s AND checkpoint = %s AND source IS NOT DISTINCT FROM %s "
            "ORDER BY created_at, id LIMIT %s",
            (MAX_ATTEMPTS, checkpoint, source, RETRY_LIMIT),
        )
        names = ("id", "run_id", "owner", "channel", "message", "attempts")
        found = [dict(zip(names, row)) for row in cur.fetchall()]
    conn.commit()
    return found


def quiet_for(
    conn: Any, checkpoint: str, source: str | None, owner: str | None, channels: list[str], days: int
) -> bool:
    """Whether no message to ``owner`` on ``channels`` about ``checkpoint`` on ``source`` was made in
    the last ``days`` days (by the store's clock; never any: True)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT coalesce(max(created_at) < now() - make_interval(days => %s), true) FROM dq.notifications "
            "WHERE checkpoint = %s AND source IS NOT DISTINCT FROM %s AND owner IS NOT DISTINCT FROM %s "
            "AND channel = ANY(%s)",
            (days, checkpoint, source, owner, channels),
        )
        (quiet,) = cur.fetchone()
    conn.commit()
    return bool(quiet)
