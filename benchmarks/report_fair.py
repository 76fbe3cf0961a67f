"""results.md's section on the fair floor, the whole commands and the deadlock rate (issue 12).

Rows come from every scale of ``results.json`` that has ``floor_fair`` runs (a full harness run)
and from ``fair_runs``: partial runs (e.g. 100k and 1M on a shared machine) merged into the
committed ``results.json`` without replacing its other scales, each with its own date and load:

    .venv/bin/python -m benchmarks.run --scales 100k,1m --reuse --out /tmp/bench ...
    .venv/bin/python -m benchmarks.report_fair --merge /tmp/bench/results.json   # into benchmarks/
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _med(runs: list, key: str) -> float | None:
    xs = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def _f(x, digits: int = 2, unit: str = "") -> str:
    return "–" if x is None else f"{x:.{digits}f}{unit}"


def _ratio(a, b) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}×"


def scale_row(s: dict) -> dict:
    """The figures of one scale: floor, fair floor, GX fast validation, whole commands, deadlocks."""
    n = s.get("nightly", {})
    w = s.get("whole_run") or {}
    d = s.get("deadlocks") or {}
    parity = s.get("parity_floor_fair") or {}
    return {
        "label": s["label"],
        "rows": s["seed"]["rows"]["analytics"],
        "repeats": len(n.get("floor_fair", [])),
        "floor_s": _med(n.get("floor", []), "seconds"),
        "floor_fair_s": _med(n.get("floor_fair", []), "seconds"),
        "proved": len((n.get("floor_fair") or [{}])[-1].get("proved_by_index", [])),
        "validate_s": _med(n.get("gx_fast", []), "validate_s"),
        "validate_jobs_s": _med(n.get("gx_fast_jobs", []), "validate_s"),
        "jobs": (n.get("gx_fast_jobs") or [{}])[-1].get("jobs"),
        "gx_alone_s": _med(n.get("gx", []), "validate_s"),
        "soda_s": _med(n.get("soda", []), "seconds"),
        "failed": _failed(s),
        "history_days": s["seed"].get("history_days", 36),
        "layout": s["seed"].get("layout", "seeded"),
        "on_replica": bool(s.get("replica")),
        "whole_ytdq_s": w.get("ytdq_median_s"),
        "whole_ytdq_max_rss_mb": w.get("ytdq_max_rss_mb"),
        "whole_soda_s": w.get("soda_median_s"),
        "whole_repeats": w.get("repeats"),
        "whole_exit": (w.get("ytdq_exit_codes"), w.get("soda_exit_codes")),
        "fair_mismatches": len(parity.get("gx_vs_floor_count_mismatches", {}) or {}),
        "deadlocks": d,
        "load": (s.get("loadavg_before", [None])[0], s.get("loadavg_after", [None])[0]),
    }


def _jobs(x: dict) -> str:
    """The validation seconds with ``--jobs N`` and N, or a dash when not measured."""
    return f"{_f(x['validate_jobs_s'])} ({x['jobs']})" if x.get("validate_jobs_s") else "–"


def _failed(s: dict) -> str | None:
    """``GX fast / floor / Soda`` failed-rule counts of the scale's last repeat, and whether they agree."""
    p = s.get("parity_fast") or {}
    if "gx_failed" not in p:
        return None
    counts = [len(p["gx_failed"]), len(p["floor_failed"]), len(p.get("soda_failed", []))]
    same = not p.get("gx_vs_floor_count_mismatches") and not p.get("only_gx") and not p.get("only_soda")
    return " / ".join(map(str, counts)) + (" (same rules, same counts)" if same else " (they differ)")


def runs_of(r: dict) -> list[dict]:
    """``[{"date", "command", "load", "rows": [scale_row ...]}]``: the full run, then merged ones."""
    out = []
    full = [scale_row(s) for s in r.get("scales", []) if s.get("nightly", {}).get("floor_fair")]
    if full:
        m = r["machine"]
        out.append({"date": m["date"], "command": m.get("command"), "rows": full})
    for run in r.get("fair_runs", []):
        out.append({"date": run["date"], "command": run.get("command"), "rows": run["rows"]})
    return out


def render(r: dict) -> list[str]:
    runs = runs_of(r)
    if not runs:
        return []
    L = ["## Fair floor, whole commands, deadlock rate", ""]
    L.append(
        "**Fair floor** = the floor's single-pass SQL allowed the fast path's catalog proof: a uniqueness "
        "rule backed by a valid, live, immediate, non-partial unique index on exactly its columns is not "
        "scanned (`benchmarks/whole.py`, the same `pg_index` query as `ytempire_dq.run.validation`, timed inside). "
        "**Validation** = `run_checkpoint`'s `timings['validate']` on the seven table suites (GX fast). "
        "**Whole** = a process from start to exit, median of the repeats after one warm-up, interleaved: "
        "`ytdq checkpoint run nightly` with everything default (every suite and the Redis cache, history "
        "and quarantine, Data Docs, publish) vs `soda scan -d ytempire -c configuration.yml checks.yml` on "
        "the same rules. Rows from different runs carry their date and load average (1 min, before→after "
        "the scale): on this shared 2-core machine, a load near or above 2 means the figures are pessimistic."
    )
    L.append("")
    L.append(
        "| run | analytics rows | repeats | load | floor s | fair floor s (proved) | validation s | "
        "validation ÷ fair floor | validation, N jobs s | GX alone s | Soda scan s | whole ytdq s | whole Soda s | whole ytdq ÷ whole Soda | "
        "ytdq peak memory MB | history days, analytics layout, checked on | "
        "exit codes ytdq/Soda | fair-floor count mismatches | rules failed GX fast / floor / Soda |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        for x in run["rows"]:
            lo, hi = x["load"]
            L.append(
                f"| {run['date']} | {x['rows']:,} | {x['repeats']} / {x['whole_repeats'] or '–'} | "
                f"{_f(lo)}→{_f(hi)} | {_f(x['floor_s'])} | {_f(x['floor_fair_s'])} ({x['proved']}) | "
                f"{_f(x['validate_s'])} | {_ratio(x['validate_s'], x['floor_fair_s'])} | {_jobs(x)} | {_f(x.get('gx_alone_s'))} | "
                f"{_f(x.get('soda_s'))} | {_f(x['whole_ytdq_s'])} | "
                f"{_f(x['whole_soda_s'])} | {_ratio(x['whole_ytdq_s'], x['whole_soda_s'])} | "
                f"{_f(x.get('whole_ytdq_max_rss_mb'), 0)} | {x.get('history_days', 36)}, {x.get('layout', 'seeded')}, "
                f"{'a streaming replica' if x.get('on_replica') else 'the primary'} | "
                f"{x['whole_exit'][0]}/{x['whole_exit'][1]} | {x['fair_mismatches']} | {x.get('failed') or '–'} |"
            )
    L += ["", "Commands: " + "; ".join(f"{run['date']}: `{run['command']}`" for run in runs), ""]
    L.append(
        "**Deadlock rate** (seed target < 0.1% of transactions, critical > 1%): clients running the "
        "platform's write patterns (analytics sync: analytics → video → channel; channel update: channel → "
        "its videos; publish: video → channel) on random channels, each transaction rolled back at its end "
        "(`benchmarks/deadlocks.py`); deadlocks = `pg_stat_database.deadlocks` delta."
    )
    L += ["", "| run | analytics rows | clients | seconds | transactions | deadlocks | rate | verdict |"]
    L.append("|---|---|---|---|---|---|---|---|")
    for run in runs:
        for x in run["rows"]:
            d = x["deadlocks"]
            if d and "transactions" in d:
                rate = "–" if d["rate"] is None else f"{100 * d['rate']:.3f}%"
                L.append(
                    f"| {run['date']} | {x['rows']:,} | {d['clients']} | {d['seconds']:.1f} | {d['transactions']:,} | "
                    f"{d['deadlocks']} | {rate} | {d['verdict']} |"
                )
    L.append("")
    return L


def merge(partial: Path, committed: Path = HERE / "results.json") -> dict:
    """Append ``partial``'s scales (as one ``fair_runs`` entry) to ``committed``; its other figures stay."""
    p = json.loads(partial.read_text())
    r = json.loads(committed.read_text())
    rows = [scale_row(s) for s in p["scales"] if s.get("nightly", {}).get("floor_fair")]
    raw = [
        {
            "label": s["label"],
            "floor_fair": [{k: v for k, v in run.items() if k != "pgss"} for run in s["nightly"]["floor_fair"]],
            "whole_run": s.get("whole_run"),
            "deadlocks": s.get("deadlocks"),
        }
        for s in p["scales"]
        if s.get("nightly", {}).get("floor_fair")
    ]
    entry = {"date": p["machine"]["date"], "command": p["machine"].get("command"), "rows": rows, "raw": raw}
    r.setdefault("fair_runs", []).append(entry)
    committed.write_text(json.dumps(r, indent=1, default=str))
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="merge a partial benchmark run's fair-floor/whole-command figures")
    ap.add_argument("--merge", required=True, help="results.json of a partial run (e.g. --scales 100k,1m)")
    args = ap.parse_args(argv)
    from benchmarks import report

    r = merge(Path(args.merge))
    (HERE / "results.md").write_text(report.render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
