"""Does reading the run history cost more as it grows? The three readers of since when a rule
fails, over a results store holding N nightly runs.

For each N of ``--nights`` (default 30 and 365): a new database on the server of ``DATABASE_URL``
(or the embedded one), migrated as a results store, holding N runs of checkpoint ``nightly``, one
a night, each with ``--rules`` rule results (default 211, as ``nightly``): the first ``--failing``
rules fail, half of them every night and half every other week, the rest pass (:func:`plant`).
Then, ``--repeat`` times each, timed: the Data Docs history page's queries
(``docs.history_page.history``), the notify action's previous outcomes
(``store.notifications.previous_outcomes``) and ``ytdq history`` of an always-failing rule
(``store.history.rule_trend``). The database is dropped at the end.

    .venv/bin/python -m benchmarks.history_growth [--nights 30,365] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import time
from pathlib import Path

SOURCE = "benchmark"
FIRST_NIGHT = dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone.utc)


def rule_id(j: int) -> str:
    return f"rule.{j:03d}"


def plant(url: str, nights: int, rules: int = 211, failing: int = 59) -> None:
    """``nights`` runs of ``nightly`` on source :data:`SOURCE` (:func:`plant_nights`): rules
    ``0 .. failing/2`` fail every night, the rest of the first ``failing`` fail every other week,
    the others pass."""
    plant_nights(
        url,
        [
            ("nightly", SOURCE, [j >= failing or (j >= failing // 2 and (i // 7) % 2 == 1) for j in range(rules)])
            for i in range(nights)
        ],
    )


def plant_nights(url: str, nights: list[tuple[str, str | None, list[bool]]]) -> None:
    """One run a night from :data:`FIRST_NIGHT` on, each ``(checkpoint, source, outcomes)``: rule
    :func:`rule_id` ``j`` passed when ``outcomes[j]``; into the store at ``url``, emptied first,
    then analyzed."""
    from ytempire_dq.db.connect import connect

    runs, results = io.StringIO(), io.StringIO()
    for i, (checkpoint, source, outcomes) in enumerate(nights):
        at, run = (FIRST_NIGHT + dt.timedelta(days=i)).isoformat(), f"night-{i}"
        src = "\\N" if source is None else source
        ok_all, bad_rules = "t" if all(outcomes) else "f", outcomes.count(False)
        runs.write(f"{run}\t{checkpoint}\t{ok_all}\t{len(outcomes)}\t{bad_rules}\t{at}\t{at}\t{src}\n")
        for j, ok in enumerate(outcomes):
            bad = 0 if ok else 5
            results.write(
                f"{run}\t{checkpoint}\t{rule_id(j)}\tusers\tusers\texpect_x\t{'t' if ok else 'f'}\t{bad}\t\\N\t{at}\n"
            )
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE dq.runs CASCADE")
            runs.seek(0), results.seek(0)
            cur.copy_expert(
                "COPY dq.runs (run_id, checkpoint, success, rules_total, rules_failed, started_at, finished_at,"
                " source) FROM STDIN",
                runs,
            )
            cur.copy_expert(
                "COPY dq.rule_results (run_id, checkpoint, rule_id, suite, table_name, expectation_type, success,"
                " unexpected_count, error, observed_at) FROM STDIN",
                results,
            )
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE dq.runs")
            cur.execute("ANALYZE dq.rule_results")
    finally:
        conn.close()


def readers(url: str) -> dict:
    """Seconds of each reader of the history, once."""
    from ytempire_dq.db.connect import connect
    from ytempire_dq.docs import history_page
    from ytempire_dq.store import history, notifications

    out = {}
    t = time.perf_counter()
    history_page.history(url)
    out["history_page"] = time.perf_counter() - t
    conn = connect(url)
    try:
        t = time.perf_counter()
        notifications.previous_outcomes(conn, "nightly", SOURCE)
        out["notify_previous_outcomes"] = time.perf_counter() - t
    finally:
        conn.close()
    t = time.perf_counter()
    history.rule_trend(rule_id(0), store_url=url, source=SOURCE)
    out["ytdq_history"] = time.perf_counter() - t
    return out


def main(argv: list[str] | None = None) -> dict:
    from ytempire_dq import config
    from ytempire_dq.db import migrations
    from ytempire_dq.db.connect import connect, with_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", default="30,365", help="stored runs, comma-separated")
    parser.add_argument("--rules", type=int, default=211)
    parser.add_argument("--failing", type=int, default=59)
    parser.add_argument("--repeat", type=int, default=3, help="timed reads per size (median reported)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    server = config.database_url()
    name = f"ytdq_history_growth_{os.getpid()}"
    admin = connect(with_database(server, "postgres"), autocommit=True)
    out: dict = {"rules": args.rules, "failing": args.failing, "load_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        url = with_database(server, name)
        migrations.migrate_store(url)
        for nights in (int(n) for n in args.nights.split(",")):
            plant(url, nights, args.rules, args.failing)
            runs = [readers(url) for _ in range(args.repeat)]
            out[str(nights)] = {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}
            print(nights, "nights:", out[str(nights)])
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
