"""Does a run's cost grow with the stored results? ``checkpoint run nightly`` with 1 vs N stored runs.

Two copies of the GX project in a temporary directory, both on the database of ``DATABASE_URL``
(or the embedded one): ``one`` holds 1 stored nightly run, ``many`` holds N (default 365),
made cheaply by copying one real run's result files, pages and index rows N-1 times with new run
ids one day apart (:func:`copy_runs`). Then, alternated, ``--repeat`` times each: the whole
process ``ytdq checkpoint run nightly --config <copy>/gx`` (wall and user+sys CPU), each time after
pruning the copy back to its 1 or N runs (not timed). Then ``ytdq docs build`` once per copy.
Load average is printed before and after (the machine is shared).

    .venv/bin/python benchmarks/docs_growth.py [--runs 365] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ytempire_dq import config
from ytempire_dq.docs import site as docs_site
from ytempire_dq.store import retention

ROOT = Path(__file__).resolve().parents[1]
YTDQ = str(Path(sys.executable).with_name("ytdq"))
PROJECT_PARTS = ("gx/great_expectations.yml", "expectations", "checkpoints", "validation_definitions")
TOKEN = "%Y%m%dT%H%M%S.%fZ"


def copy_project(dest: Path) -> Path:
    for part in PROJECT_PARTS:
        src, target = ROOT / part, dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
    return dest / "gx"


def copy_runs(gx_dir: Path, copies: int, *, days_apart: float = 1.0) -> list[str]:
    """Copy the newest stored run of ``gx_dir`` ``copies`` times, each ``days_apart`` earlier than
    the one before: its result files, its validation pages and its index rows, with the run name,
    the run time directory and the ISO run time replaced. The new run names."""
    results = gx_dir / "uncommitted" / "validations"
    site = gx_dir / "uncommitted" / "data_docs" / "local_site"
    runs = retention.stored_runs(results)
    (run_name, token), run = max(runs.items(), key=lambda item: item[1]["run_time"])
    iso = run["run_time"].isoformat()
    rows = [r for r in docs_site.read_rows(site) if r["run_name"] == run_name]
    made, new_rows = [], []
    for n in range(1, copies + 1):
        when = run["run_time"] - dt.timedelta(days=n * days_apart)
        new_token = when.strftime(TOKEN)
        new_name = run_name.replace(token, new_token)

        def moved(text: str, new_token=new_token, when=when) -> str:
            return text.replace(token, new_token).replace(iso, when.isoformat())

        for rel in run["files"]:
            for src, dest in (
                (results / rel, results / moved(rel.as_posix())),
                (
                    site / "validations" / rel.with_suffix(".html"),
                    site / "validations" / moved(rel.with_suffix(".html").as_posix()),
                ),
            ):
                if src.is_file():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(moved(src.read_text()))
        new_rows += [json.loads(moved(json.dumps(r))) for r in rows]
        made.append(new_name)
    docs_site.append_rows(site, new_rows)
    return made


def timed(cmd: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": round(wall, 2), "cpu": round(cpu, 2)}


def stored(gx_dir: Path) -> int:
    return len(retention.stored_runs(gx_dir / "uncommitted" / "validations"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=365, help="stored nightly runs of the 'many' copy")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per copy (median reported)")
    parser.add_argument("--no-docs-build", action="store_true", help="skip the docs build timings")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    env = {**os.environ, "DATABASE_URL": config.database_url(), "REDIS_URL": config.redis_url()}
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="ytdq-docs-growth-") as tmp:
        one = copy_project(Path(tmp) / "one")
        timed([YTDQ, "checkpoint", "run", "nightly", "--config", str(one)], env)  # its one stored run
        many = Path(tmp) / "many"
        shutil.copytree(one.parent, many)
        many = many / "gx"
        copy_runs(many, args.runs - 1)
        copies = {"one": (one, 1), "many": (many, args.runs)}
        times: dict[str, list[dict]] = {"one": [], "many": []}
        for _ in range(args.repeat):
            for label, (gx_dir, keep) in copies.items():
                site = gx_dir / "uncommitted" / "data_docs" / "local_site"
                retention.prune(gx_dir / "uncommitted" / "validations", [("local_site", site)], [], keep_runs=keep)
                assert stored(gx_dir) == keep, (label, stored(gx_dir))
                times[label].append(timed([YTDQ, "checkpoint", "run", "nightly", "--config", str(gx_dir)], env))
                print(label, keep, "stored runs:", times[label][-1], file=sys.stderr)
        out = {
            "stored_runs": {k: v[1] for k, v in copies.items()},
            "checkpoint_run": {
                k: {
                    "median_wall": statistics.median(t["wall"] for t in v),
                    "median_cpu": statistics.median(t["cpu"] for t in v),
                    "runs": v,
                }
                for k, v in times.items()
            },
        }
        out["ratio"] = round(
            out["checkpoint_run"]["many"]["median_wall"] / out["checkpoint_run"]["one"]["median_wall"], 3
        )
        if not args.no_docs_build:
            out["docs_build"] = {}
            for label, (gx_dir, keep) in copies.items():
                site = gx_dir / "uncommitted" / "data_docs" / "local_site"
                retention.prune(gx_dir / "uncommitted" / "validations", [("local_site", site)], [], keep_runs=keep)
                out["docs_build"][label] = timed([YTDQ, "docs", "build", "--config", str(gx_dir)], env)
                out["docs_build"][label]["stored_runs"] = stored(gx_dir)
                print(label, "docs build:", out["docs_build"][label], file=sys.stderr)
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    out["load_average"] = load
    out["cpus"] = os.cpu_count()
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
