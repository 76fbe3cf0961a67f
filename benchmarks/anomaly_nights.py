"""Simulated nights of the platform under a faked clock: the volume/drift rules' false alarms on
clean nights and what catches each injected anomaly (``python -m benchmarks.anomaly_nights --weeks 8
--out DIR`` writes ``results.json`` and ``results.md``; ``tests/test_anomaly_nights.py`` is the short
version).

The data: :mod:`benchmarks.platform_sim` (a history of ``history_days`` days before night 1). Each
night at 03:00 (the clock of PostgreSQL and of ``ytdq``: :class:`benchmarks.nights.FakeClock`) the
platform writes the day before (new users, channels, videos, workflows, one analytics row per
published video), then ``ytdq checkpoint run CHECKPOINT --json`` runs (the real CLI) and its failed
rule ids are kept. A clean night after the ``warmup`` nights on which a rule fails is a false alarm.

Each scenario starts from the database as it was before the clean ``inject_night`` (a copy of a
template database: ``CREATE DATABASE ... TEMPLATE``, history included) and a copy of the project;
on that night (and the next ones for the kinds that last) the platform's day is changed by one
anomaly (:data:`SCENARIOS`). It is caught on its first night when a rule fails that passed on the
clean run of the same night.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from benchmarks.nights import FakeClock, run_checkpoint
from benchmarks.platform_sim import FAILURE_RATE, Day, Platform
from ytempire_dq import config
from ytempire_dq.db import migrations
from ytempire_dq.db.connect import connect, with_database
from ytempire_dq.locations import PROJECT_PARTS


def _no_analytics(day: Day, r: random.Random) -> None:
    day.analytics.clear()


def _half_analytics(day: Day, r: random.Random) -> None:
    keep = sorted(r.sample(range(len(day.analytics)), len(day.analytics) // 2))
    day.analytics[:] = [day.analytics[i] for i in keep]


def _views_doubled(day: Day, r: random.Random) -> None:
    for row in day.analytics:
        row["views"] *= 2
        row["watch_time_minutes"] = round(row["watch_time_minutes"] * 2, 2)


def _largest_users_silent(day: Day, r: random.Random) -> None:
    """The channels of the 5 users with the most views get none; the others' views are scaled up
    so the day's total stays what it was."""
    per_user = Counter()
    for row in day.analytics:
        per_user[row["user_id"]] += row["views"]
    largest = {user for user, _ in per_user.most_common(5)}
    total = sum(per_user.values())
    rest = total - sum(per_user[u] for u in largest)
    scale = total / rest if rest else 1.0
    for row in day.analytics:
        if row["user_id"] in largest:
            row.update(views=0, watch_time_minutes=0.0, subscribers_gained=0, revenue_cents=0)
        else:
            views = round(row["views"] * scale)
            wpv = row["watch_time_minutes"] / row["views"] if row["views"] else 1.0
            row.update(views=views, watch_time_minutes=round(views * wpv, 2))


def _no_new_videos(day: Day, r: random.Random) -> None:
    day.videos.clear()  # Platform.advance forgets them and their rows


def _revenue_zero(day: Day, r: random.Random) -> None:
    for row in day.analytics:
        row["revenue_cents"] = 0


def _failures_tripled(day: Day, r: random.Random) -> None:
    day.failure_rate = 3 * FAILURE_RATE


@dataclass(frozen=True)
class Scenario:
    description: str
    anomaly: Callable[[Day, random.Random], None]
    nights: int = 1  # how many nights in a row it lasts


SCENARIOS = {
    "a_no_analytics": Scenario("no analytics rows for yesterday", _no_analytics),
    "b_half_analytics": Scenario("half of yesterday's analytics rows", _half_analytics),
    "c_views_doubled": Scenario("yesterday's views doubled", _views_doubled),
    "d_stalled_two_days": Scenario("no new analytics for 2 days", _no_analytics, nights=2),
    "e_largest_users_silent": Scenario(
        "the channels of the 5 largest users at zero views, the total in band", _largest_users_silent
    ),
    "f_no_new_videos": Scenario("no new videos for 3 days", _no_new_videos, nights=3),
    "g_revenue_zero": Scenario("revenue zero on every row, views normal", _revenue_zero),
    "h_failures_tripled": Scenario("the failed-workflow rate triples", _failures_tripled),
}


@dataclass
class Options:
    """What to simulate. ``project``: a checkout (its ``gx/``, suites, checkpoints, validation
    definitions are copied; default this one); ``checkpoint``: what runs each night."""

    users: int = 20
    weeks: int = 3
    history_days: int = 120
    warmup: int = 7
    seed: int = 7
    checkpoint: str = "nightly"
    project: Path | None = None
    first_night: dt.date = dt.date(2027, 1, 4)  # a Monday
    inject_night: int | None = None  # default: the first Tuesday night after the warm-up and a night
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    hour: int = 3
    #: False: the checkpoint's actions (Data Docs, Redis, pruning) are dropped from the project
    #: copy -- the verdicts and the history are the same, each night is cheaper (the CI version).
    actions: bool = True

    def night_date(self, n: int) -> dt.date:
        return self.first_night + dt.timedelta(days=n - 1)

    def nights(self) -> int:
        return 7 * self.weeks

    def injection(self) -> int:
        if self.inject_night is not None:
            return self.inject_night
        n = self.warmup + 2
        while self.night_date(n).weekday() != 1:  # yesterday a Monday: a normal weekday
            n += 1
        return n


@dataclass
class Result:
    options: dict
    nights: list[dict] = field(default_factory=list)
    scenarios: dict[str, dict] = field(default_factory=dict)

    def false_alarms(self) -> dict:
        """Clean nights after the warm-up on which any rule failed, per simulated week, with the rules."""
        weeks: dict[int, dict] = {}
        rules = Counter()
        counted = [n for n in self.nights if n["night"] > self.options["warmup"]]
        for n in counted:
            week = weeks.setdefault((n["night"] - 1) // 7 + 1, {"nights": 0, "alarms": 0, "rules": Counter()})
            week["nights"] += 1
            if n["failed"]:
                week["alarms"] += 1
                week["rules"].update(n["failed"])
                rules.update(n["failed"])
        total = sum(w["alarms"] for w in weeks.values())
        return {
            "nights_counted": len(counted),
            "nights_with_alarm": total,
            "per_week": {w: {**v, "rules": dict(v["rules"])} for w, v in sorted(weeks.items())},
            "alarms_per_simulated_week": round(7 * total / len(counted), 2) if counted else 0.0,
            "rules": dict(rules.most_common()),
        }

    def as_dict(self) -> dict:
        return {
            "options": self.options,
            "nights": self.nights,
            "false_alarms": self.false_alarms(),
            "scenarios": self.scenarios,
        }


def _copy_project(source: Path, dest: Path, opts: Options) -> Path:
    """A copy of the project at ``source`` (its GX configuration) whose runs write under ``dest``."""
    for part in PROJECT_PARTS:
        src, target = source / part, dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
    if not opts.actions:
        path = dest / "checkpoints" / f"{opts.checkpoint}.json"
        checkpoint = json.loads(path.read_text())
        path.write_text(json.dumps({**checkpoint, "actions": []}, indent=2))
    return dest / "gx"


def _admin(server_url: str):
    return connect(with_database(server_url, "postgres"), autocommit=True)


def _create_database(server_url: str, name: str, template: str | None = None) -> str:
    import psycopg2.errors

    conn = _admin(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for attempt in range(50):  # a session of the template that just closed may still be ending
                try:
                    cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
                    break
                except psycopg2.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.2)
    finally:
        conn.close()
    return with_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    conn = _admin(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def _night(opts: Options, n: int) -> dt.datetime:
    return dt.datetime.combine(opts.night_date(n), dt.time(opts.hour), dt.timezone.utc)


def simulate(opts: Options, *, server_url: str, redis_url: str, clock: FakeClock, workdir: Path, log=print) -> Result:
    """Run the clean nights, then each scenario from the template taken before ``inject_night``.
    ``server_url``: the owner's URL of a PostgreSQL cluster preloaded with ``clock``'s libfaketime
    (its databases ``sim_*`` are made and dropped here); ``redis_url``: a Redis database the
    checkpoint's cache suite and actions use (emptied first)."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    workdir = Path(workdir)
    project_root = Path(opts.project or config.PROJECT_ROOT)
    inject = opts.injection()
    result = Result(options={**asdict(opts), "project": str(project_root), "inject_night": inject})
    result.options["first_night"] = opts.first_night.isoformat()

    clean_url = _create_database(server_url, "sim_clean")
    migrations.migrate(clean_url)
    platform = Platform(opts.users, opts.night_date(1) - dt.timedelta(days=opts.history_days + 1), seed=opts.seed)
    started = time.perf_counter()
    history = [platform.advance(opts.night_date(1) - dt.timedelta(days=k)) for k in range(opts.history_days + 1, 1, -1)]
    conn = connect(clean_url)
    platform.load(conn, history)
    conn.close()
    log(f"history of {opts.history_days} days loaded in {time.perf_counter() - started:.1f} s")
    del history

    clean_gx = _copy_project(project_root, workdir / "project-clean", opts)
    env = {**clock.env, "DATABASE_URL": clean_url, "REDIS_URL": redis_url}
    forked: Platform | None = None
    for n in range(1, opts.nights() + 1):
        if n == inject:  # the state before the injection night: every scenario starts here
            _create_database(server_url, "sim_template", template="sim_clean")
            forked = platform.fork()
        clock.at(_night(opts, n))
        conn = connect(clean_url)
        platform.write(conn, platform.advance(opts.night_date(n) - dt.timedelta(days=1)))
        conn.close()
        run = run_checkpoint(env, clean_gx, opts.checkpoint, workdir / f"clean-{n}.json")
        _check_ran(run, n)
        night = {
            "night": n,
            "date": opts.night_date(n).isoformat(),
            "weekday": opts.night_date(n).strftime("%a"),
            "exit": run["exit"],
            "failed": run["failed"],
            "seconds": round(run["seconds"], 1),
        }
        result.nights.append(night)
        log(
            f"night {n:3d} {night['date']} {night['weekday']} exit {run['exit']} {run['seconds']:.0f} s {run['failed']}"
        )

    clean_failed = {n["night"]: set(n["failed"]) for n in result.nights}
    for name in opts.scenarios:
        if forked is None:
            break
        scenario = SCENARIOS[name]
        db = f"sim_{name}"
        url = _create_database(server_url, db, template="sim_template")
        gx = _copy_project(project_root, workdir / f"project-{name}", opts)
        senv = {**env, "DATABASE_URL": url}
        state = forked.fork()
        nights = []
        for k in range(scenario.nights):
            n = inject + k
            clock.at(_night(opts, n))
            conn = connect(url)
            state.write(conn, state.advance(opts.night_date(n) - dt.timedelta(days=1), scenario.anomaly))
            conn.close()
            run = run_checkpoint(senv, gx, opts.checkpoint, workdir / f"{name}-{n}.json")
            _check_ran(run, n)
            new = sorted(set(run["failed"]) - clean_failed.get(n, set()))
            nights.append({"night": n, "exit": run["exit"], "failed": run["failed"], "new_failures": new})
        _drop_database(server_url, db)
        caught = [x["night"] for x in nights if x["new_failures"]]
        result.scenarios[name] = {
            "description": scenario.description,
            "nights": nights,
            "caught_first_night": bool(nights and nights[0]["new_failures"]),
            "caught_by": nights[0]["new_failures"] if nights else [],
            "caught_on_night": caught[0] if caught else None,
        }
        log(f"scenario {name}: {result.scenarios[name]['caught_by'] or 'not caught on its first night'}")
    _drop_database(server_url, "sim_template")
    return result


def _check_ran(run: dict, n: int) -> None:
    """Exit 0 or 1 (every rule ran); anything else stops the simulation with the run's stderr."""
    if run["exit"] not in (0, 1):
        raise RuntimeError(f"night {n}: ytdq exited {run['exit']}: {run['stderr'][-3000:]}")


def markdown(result: dict) -> str:
    """The results as a short Markdown page: false alarms per week and the catch table."""
    fa, opts = result["false_alarms"], result["options"]
    lines = [
        "# Anomaly nights",
        "",
        f"{opts['weeks']} simulated weeks of checkpoint `{opts['checkpoint']}`, {opts['users']} users at the start, "
        f"{opts['history_days']} days of history before night 1, warm-up {opts['warmup']} nights, "
        f"anomalies injected on night {opts['inject_night']}.",
        "",
        "## False alarms (clean nights after the warm-up on which a rule failed)",
        "",
        "| week | nights | nights with an alarm | rules |",
        "|---|---|---|---|",
    ]
    for week, w in fa["per_week"].items():
        rules = ", ".join(f"`{r}` ×{c}" for r, c in w["rules"].items())
        lines.append(f"| {week} | {w['nights']} | {w['alarms']} | {rules} |")
    lines += [
        "",
        f"{fa['nights_with_alarm']} of {fa['nights_counted']} nights: "
        f"{fa['alarms_per_simulated_week']} nights with an alarm per simulated week.",
        "",
        "## Injected anomalies",
        "",
        "| scenario | caught on its first night | by (rules failing that passed on the clean night) | caught on night |",
        "|---|---|---|---|",
    ]
    for name, s in result["scenarios"].items():
        by = ", ".join(f"`{r}`" for r in s["caught_by"]) or "—"
        lines.append(
            f"| {name}: {s['description']} | {'yes' if s['caught_first_night'] else 'no'} | {by} | "
            f"{s['caught_on_night'] or '—'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.anomaly_nights", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--history-days", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checkpoint", default="nightly")
    parser.add_argument(
        "--project", type=Path, default=None, help="A checkout whose GX project runs (default: this one)."
    )
    parser.add_argument("--inject-night", type=int, default=None)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="Comma-separated scenario names.")
    parser.add_argument("--no-actions", action="store_true", help="Drop the checkpoint's actions (faster nights).")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    opts = Options(
        users=args.users,
        weeks=args.weeks,
        history_days=args.history_days,
        warmup=args.warmup,
        seed=args.seed,
        checkpoint=args.checkpoint,
        project=args.project,
        inject_night=args.inject_night,
        scenarios=tuple(s for s in args.scenarios.split(",") if s),
        actions=not args.no_actions,
    )
    unknown = set(opts.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with faked_servers(args.out / "servers") as (server_url, redis_url, clock):
        result = simulate(opts, server_url=server_url, redis_url=redis_url, clock=clock, workdir=args.out / "work")
    doc = result.as_dict()
    doc["seconds"] = round(time.perf_counter() - started, 1)
    doc["command"] = "python -m benchmarks.anomaly_nights " + " ".join(argv if argv is not None else sys.argv[1:])
    doc["measured_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    (args.out / "results.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(doc) + f"\nCommand: `{doc['command']}` ({doc['seconds']} s).\n")
    print(markdown(doc))
    return 0


class faked_servers:
    """A PostgreSQL cluster preloaded with a :class:`FakeClock`'s libfaketime and a Redis server
    (real time), started in ``state_dir`` and purged on exit: ``(server_url, redis_url, clock)``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def __enter__(self):
        from tests.topologies import start_cluster
        from ytempire_dq.ops import services

        self.clock = FakeClock()
        self.cluster = start_cluster(self.state_dir / "postgres", **self.clock.env)
        self.redis = services.up(self.state_dir / "redis", postgres=False, redis=True)["redis"]["url"]
        return self.cluster.url, self.redis, self.clock

    def __exit__(self, *exc):
        from tests.topologies import stop_cluster
        from ytempire_dq.ops import services

        stop_cluster(self.cluster)
        services.down(self.state_dir / "redis", purge=True)
        self.clock.remove()


if __name__ == "__main__":
    sys.exit(main())
