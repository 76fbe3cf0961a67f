"""results.json -> results.md (tables: median and p95 over repeats) and results.png (matplotlib).

.venv/bin/python -m benchmarks.report [benchmarks/results.json]   # re-render without re-running
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from benchmarks import report_fair

HERE = Path(__file__).resolve().parent


def p95(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * 0.95
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit="", digits=2):
    if x is None:
        return "n/a"
    if isinstance(x, (int,)) or (isinstance(x, float) and x >= 100):
        return f"{x:,.0f}{unit}"
    return f"{x:.{digits}f}{unit}"


def mp(xs, unit="", digits=2):
    """'median / p95' of a list."""
    return f"{fmt(med(xs), unit, digits)} / {fmt(p95(xs), unit, digits)}"


def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "n/a"


def _gx_s(run):
    return run["validate_s"]


def _stmts(run, key="statements"):
    p = run.get("pgss")
    return p.get(key) if p else None


def _same(base: dict, run: dict) -> str:
    """Does a lever keep the baseline's verdicts and bad-row counts (for the rules it still runs)?"""
    verdicts = (
        "same verdicts"
        if base.get("failed") is None or run.get("failed") == [r for r in base["failed"] if r in run["counts"]]
        else "DIFFERENT verdicts"
    )
    counts = run["counts"]
    if all(v is None for v in counts.values()):
        return f"{verdicts}; **no counts, no samples**"
    diff = [k for k, v in counts.items() if v != base["counts"].get(k)]
    return f"{verdicts}; {'same counts' if not diff else str(len(diff)) + ' counts differ'}"


def write(results: dict, out: Path = HERE) -> None:
    out = Path(out)
    (out / "results.md").write_text(render(results))
    plot(results, out / "results.png")


def render(r: dict) -> str:
    m = r["machine"]
    S = r["scales"]
    L = []
    add = L.append
    add("# Benchmarks: results")
    add("")
    add(
        f"Produced by `{m.get('command', 'python -m benchmarks.run')}` (from the project root, with "
        "`.venv/bin/python`) on {date}. Every figure is **median / p95** over the repeats said beside it "
        "(with 3 repeats the p95 is close to the slowest run). Raw numbers: `results.json`; plot: "
        "`results.png`.".replace("{date}", m["date"])
    )
    add("")
    add("| machine | |")
    add("|---|---|")
    add(f"| CPU | {m['cpu']}, {m['cores']} cores |")
    add(f"| memory | {m['memory_mb']:,} MB |")
    add(f"| OS / Python | {m['os']} / {m['python']} |")
    add(
        f"| PostgreSQL | {m['postgres']} (embedded benchmark cluster: "
        + ", ".join(f"{k}={v}" for k, v in m["postgres_settings"].items())
        + ", `pg_stat_statements` preloaded) |"
    )
    add(
        f"| GX / SQLAlchemy / psycopg2 | great_expectations {m['great_expectations']} / {m['sqlalchemy']} / {m['psycopg2']} |"
    )
    add(f"| Soda | soda-core / soda-core-postgres {m['soda'] or 'not run'} (own venv, telemetry off) |")
    add(
        f"| load average (1 min) | {m['loadavg_start'][0]:.2f} at start, "
        + ", ".join(f"{s['label']}: {s['loadavg_before'][0]:.2f}→{s['loadavg_after'][0]:.2f}" for s in S)
        + f", {m.get('loadavg_end', [0])[0]:.2f} at the end |"
    )
    add(f"| total run time | {fmt(m.get('total_s'), ' s', 0)} |")
    add("")
    add(
        "**Load caveat.** The 2-core machine was shared with other work during this run (other "
        "agents' test suites and seeders: see the load averages above, a value near or above 2 means the two "
        "cores were busy besides the benchmark). Absolute times are therefore pessimistic and noisier "
        "than on an idle machine; the ratios compare runs interleaved in the same minutes "
        "(count, floor, GX and Soda take turns in each repeat), so they suffer less."
    )
    add("")

    # ---------------------------------------------------------------- nightly
    add("## `nightly` (the table suites) vs `count(*)`, the floor and Soda Core")
    add("")
    add(
        "What runs: GX = the project's `run_checkpoint()` on a copy of the GX config whose checkpoint "
        "holds nightly's seven table validation definitions (users, channels, videos, analytics, "
        "api_keys, workflows, cross_table; {nrules} rules), no actions (the Redis `cache` definition and the "
        "actions other work adds are not part of the comparison), result_format SUMMARY as committed. "
        "Time = `timings['validate']` (the validation work; opening the context and pre-flight, ~0.2 s, "
        "excluded). `count(*)` = one `SELECT count(*)` per table. **Floor** = per table one statement "
        "with a `count(*) FILTER (WHERE <rule broken>)` per row-level rule, plus one `GROUP BY ... HAVING "
        "count(*) > 1` per uniqueness rule, one query per cross-table rule and one catalog query for the "
        "column/type rules ({nfloor} statements; generated from the suite files by `benchmarks/rules.py`). "
        "**Soda** = the same rules as SodaCL (`benchmarks/rules.py`, `sodacl_checks`), `scan.execute()` "
        "time (its imports excluded). Statements = `pg_stat_statements` calls in the benchmark "
        "database during the run (BEGIN/ROLLBACK included; 'on data' excludes transaction control and "
        "catalog/session queries).".replace("{nrules}", str(len(S[0]["nightly"]["gx"][-1]["counts"]))).replace(
            "{nfloor}", str(S[0]["nightly"]["floor"][-1]["statements"])
        )
    )
    add("")
    add(
        "**GX alone** = before (`YTDQ_FAST=0`: GX's own `ValidationDefinition.run` per definition); "
        "**GX fast** = after: the committed `run_checkpoint`, which runs each definition through "
        "`ytempire_dq.run.validation` (uniqueness proved by a valid unique index, no sample query on a clean rule, "
        "a second pass for the failed rules' samples; results stored as before). Both run in every repeat, "
        "in turn with count(*), the floor and Soda."
    )
    add("")
    add(
        "| analytics rows | repeats | count(*) s | floor s | GX alone s | GX fast s | Soda s | GX alone ÷ floor | GX fast ÷ floor | Soda ÷ floor | GX alone ÷ Soda | GX fast ÷ Soda |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in S:
        n = s["nightly"]
        c = [x["seconds"] for x in n["count"]]
        f = [x["seconds"] for x in n["floor"]]
        g = [_gx_s(x) for x in n["gx"]]
        gf = [_gx_s(x) for x in n.get("gx_fast", [])]
        so = [x.get("seconds") for x in n["soda"] if "seconds" in x]
        add(
            f"| {s['seed']['rows']['analytics']:,} | {len(g)} | {mp(c)} | {mp(f)} | {mp(g)} | {mp(gf) if gf else 'n/a'} | "
            f"{mp(so) if so else 'n/a'} | {ratio(med(g), med(f))} | {ratio(med(gf), med(f)) if gf else 'n/a'} | "
            f"{ratio(med(so), med(f)) if so else 'n/a'} | {ratio(med(g), med(so)) if so else 'n/a'} | "
            f"{ratio(med(gf), med(so)) if so and gf else 'n/a'} |"
        )
    add("")
    add("Statements per run (`pg_stat_statements`; GX also: statements SQLAlchemy sent, counted in-process):")
    add("")
    add("| analytics rows | run | total | BEGIN/ROLLBACK | catalog/session | on data | via SQLAlchemy |")
    add("|---|---|---|---|---|---|---|")
    for s in S:
        n = s["nightly"]
        fl, rows = n["floor"][-1], f"{s['seed']['rows']['analytics']:,}"
        add(f"| {rows} | count(*) | {n['count'][-1]['statements']} | | | | |")
        add(
            f"| {rows} | floor | {_stmts(fl)} | {_stmts(fl, 'transaction_control')} | {_stmts(fl, 'catalog_or_session')} | {_stmts(fl, 'on_data')} | |"
        )
        for label, key in (("GX alone", "gx"), ("GX fast", "gx_fast")):
            if n.get(key):
                g = n[key][-1]
                add(
                    f"| {rows} | {label} | {_stmts(g)} | {_stmts(g, 'transaction_control')} | "
                    f"{_stmts(g, 'catalog_or_session')} | {_stmts(g, 'on_data')} | {g['sqlalchemy_statements']} |"
                )
        if n["soda"] and _stmts(n["soda"][-1]) is not None:
            so = n["soda"][-1]
            add(
                f"| {rows} | Soda | {_stmts(so)} | {_stmts(so, 'transaction_control')} | {_stmts(so, 'catalog_or_session')} | {_stmts(so, 'on_data')} | |"
            )
    add("")
    add(
        "Server-side execution time (sum of `total_exec_time` over the run's statements) shows how "
        "much of each wall time is the database's work and how much is the client's:"
    )
    add("")
    add(
        "| analytics rows | floor: exec ms | GX alone: exec ms of validate ms | GX fast: exec ms of validate ms | Soda: exec ms of scan ms |"
    )
    add("|---|---|---|---|---|")
    for s in S:
        n = s["nightly"]
        g, fl = n["gx"][-1], n["floor"][-1]
        gf = n["gx_fast"][-1] if n.get("gx_fast") else None
        so = n["soda"][-1] if n["soda"] else {}
        add(
            f"| {s['seed']['rows']['analytics']:,} | {fmt((fl.get('pgss') or {}).get('exec_ms'))} | "
            f"{fmt((g.get('pgss') or {}).get('exec_ms'))} of {fmt(g['validate_s'] * 1000)} | "
            f"{(fmt((gf.get('pgss') or {}).get('exec_ms')) + ' of ' + fmt(gf['validate_s'] * 1000)) if gf else 'n/a'} | "
            f"{fmt((so.get('pgss') or {}).get('exec_ms')) if so else 'n/a'} of {fmt(so['seconds'] * 1000) if so.get('seconds') else 'n/a'} |"
        )
    add("")
    add(
        "**Same verdicts.** In every scale's last repeat the three found the same broken rules, and GX's "
        "bad-row count equals the floor's for every rule:"
    )
    add("")
    add("| analytics rows | GX run | rules failed (GX / floor / Soda) | GX ≠ floor counts | only GX | only Soda |")
    add("|---|---|---|---|---|---|")
    for s in S:
        for label, key in (("alone", "parity"), ("fast", "parity_fast")):
            if key not in s:
                continue
            p = s[key]
            add(
                f"| {s['seed']['rows']['analytics']:,} | {label} | {len(p['gx_failed'])} / {len(p['floor_failed'])} / "
                f"{len(p.get('soda_failed', [])) if 'soda_failed' in p else 'n/a'} | "
                f"{len(p['gx_vs_floor_count_mismatches']) or 'none'} | {', '.join(p.get('only_gx', [])) or 'none'} | "
                f"{', '.join(p.get('only_soda', [])) or 'none'} |"
            )
    add("")
    proved = (S[-1]["nightly"].get("gx_fast") or [{}])[-1].get("proved_by_index")
    if proved:
        add(
            f"GX fast proved {len(proved)} uniqueness rules from the catalog (each result's observed value "
            "names the index; Data Docs shows it): " + ", ".join(f"`{x}`" for x in proved) + ". The duplicate "
            "defect kinds are not injected here, so every unique constraint is in place."
        )
        add("")
    add(
        "(Seeded with every non-duplicate defect kind injected 5 times, "
        f"{len(S[0]['seed'].get('manifest', {}))} kinds; so {len(S[0]['parity']['floor_failed'])} rules fail on purpose. Soda folds a table's column-type "
        "rules into one schema check, and SodaCL's schema check has no 'exact column set' option, so "
        "'no extra column' is not checked by the Soda side.)"
    )
    add("")

    # ---------------------------------------------------------------- levers
    if any("levers" in s for s in S):
        add("## Item 2: levers on GX's nightly, measured")
        add("")
        add("Each variant changes only the benchmark's copy of the config; same data, same run_checkpoint.")
        add("")
        add(
            "| analytics rows | variant | what | GX s | ÷ floor | statements (BEGIN/ROLLBACK, on data) | verdicts / counts vs baseline |"
        )
        add("|---|---|---|---|---|---|---|")
        from benchmarks.nightly import VARIANTS

        for s in S:
            if "levers" not in s:
                continue
            f = med([x["seconds"] for x in s["nightly"]["floor"]])
            rows = s["seed"]["rows"]["analytics"]
            base = s["nightly"]["gx"]
            add(
                f"| {rows:,} | baseline | {VARIANTS['baseline']} | {mp([_gx_s(x) for x in base])} | "
                f"{ratio(med([_gx_s(x) for x in base]), f)} | {_stmts(base[-1])} ({_stmts(base[-1], 'transaction_control')}, {_stmts(base[-1], 'on_data')}) | — |"
            )
            fast = s["nightly"].get("gx_fast")
            if fast:
                add(
                    f"| {rows:,} | fast | {VARIANTS['fast']} | {mp([_gx_s(x) for x in fast])} | "
                    f"{ratio(med([_gx_s(x) for x in fast]), f)} | {_stmts(fast[-1])} ({_stmts(fast[-1], 'transaction_control')}, {_stmts(fast[-1], 'on_data')}) | "
                    f"{_same(base[-1], fast[-1])} |"
                )
            for v, lv in s["levers"].items():
                runs = lv["runs"]
                add(
                    f"| {rows:,} | {v} | {VARIANTS[v]} | {mp([_gx_s(x) for x in runs])} | "
                    f"{ratio(med([_gx_s(x) for x in runs]), f)} | {_stmts(runs[-1])} ({_stmts(runs[-1], 'transaction_control')}, {_stmts(runs[-1], 'on_data')}) | "
                    f"{_same(base[-1], runs[-1])} |"
                )
        add("")
        big = S[-1]
        lv = big.get("levers", {}).get("unique_from_catalog")
        if lv:
            add(
                "`unique_from_catalog` proof: one `pg_index` query (`indisunique AND indisvalid AND "
                "indimmediate AND indislive`, no predicate, no expression, exactly the rule's columns) names "
                "the index that proves each rule; rules proved: "
                + ", ".join(f"`{x}`" for x in lv["facts"].get("proved_by_index", []))
                + "."
            )
            add("")
    # ---------------------------------------------------------------- top statements
    big = S[-1]
    top = (big["nightly"]["gx"][-1].get("pgss") or {}).get("top")
    if top:
        add(
            f"### Where GX's time goes at {big['seed']['rows']['analytics']:,} analytics rows (GX alone, top statements by server time)"
        )
        add("")
        add("| server ms | calls | statement (start) |")
        add("|---|---|---|")
        for t in top:
            add(f"| {fmt(t['ms'])} | {t['calls']} | `{t['query'][:160].replace('|', '/')}` |")
        add("")
        ftop = ((big["nightly"].get("gx_fast") or [{}])[-1].get("pgss") or {}).get("top")
        if ftop:
            add("GX fast's top statements at the same scale:")
            add("")
            add("| server ms | calls | statement (start) |")
            add("|---|---|---|")
            for t in ftop:
                add(f"| {fmt(t['ms'])} | {t['calls']} | `{t['query'][:160].replace('|', '/')}` |")
            add("")
        ftop = (big["nightly"]["floor"][-1].get("pgss") or {}).get("top")
        if ftop:
            add("The floor's top statements at the same scale:")
            add("")
            add("| server ms | statement (start) |")
            add("|---|---|")
            for t in ftop[:6]:
                add(f"| {fmt(t['ms'])} | `{t['query'][:160].replace('|', '/')}` |")
            add("")

    # ---------------------------------------------------------------- app queries
    if any("app_queries" in s for s in S):
        add("## The seed's app queries (target: p95 well under 100 ms)")
        add("")
        n_exec = len(next(s for s in S if "app_queries" in s)["app_queries"]["user_by_email"]["ms"])
        add(
            f"Each query {n_exec} times with random keys on one connection (after 10 warm-up runs); "
            "p50 / p95 in ms over those executions. Plan = `EXPLAIN (FORMAT JSON)` of one execution."
        )
        add("")
        add(
            "| query | "
            + " | ".join(f"{s['seed']['rows']['analytics']:,} rows p50 / p95 ms" for s in S if "app_queries" in s)
            + " | plan at the largest scale |"
        )
        add("|---|" + "---|" * (sum(1 for s in S if "app_queries" in s) + 1))
        last = [s for s in S if "app_queries" in s][-1]
        for q in last["app_queries"]:
            cells = []
            for s in S:
                if "app_queries" in s:
                    ms = s["app_queries"][q]["ms"]
                    cells.append(f"{fmt(statistics.median(ms), '', 3)} / {fmt(p95(ms), '', 3)}")
            plan = last["app_queries"][q]["plan"]
            desc = " → ".join(plan["nodes"]) + (f" (indexes: {', '.join(plan['indexes'])})" if plan["indexes"] else "")
            add(f"| `{q}` | " + " | ".join(cells) + f" | {desc} |")
        add("")
        from benchmarks.workloads import APP_QUERIES

        for q, sql in APP_QUERIES.items():
            add(f"- `{q}`: `{sql}`")
        add("")

    # ---------------------------------------------------------------- bulk insert
    if any("bulk_insert" in s for s in S):
        add("## Bulk insert of 1,000 videos (seed target: < 5 s)")
        add("")
        add(
            "1,000 valid `videos` rows (existing channels), one transaction, timed to COMMIT (the rows "
            "are deleted again afterwards, untimed); seconds, median / p95 over the repeats."
        )
        add("")
        add("| analytics rows | repeats | executemany | execute_values (page 1000) | COPY |")
        add("|---|---|---|---|---|")
        for s in S:
            if "bulk_insert" in s:
                b = s["bulk_insert"]
                add(
                    f"| {s['seed']['rows']['analytics']:,} | {len(b['copy'])} | {mp(b['executemany'], '', 3)} | "
                    f"{mp(b['execute_values'], '', 3)} | {mp(b['copy'], '', 3)} |"
                )
        add("")

    # ---------------------------------------------------------------- concurrency
    if any("concurrent" in s for s in S):
        add("## Concurrent load")
        add("")
        add(
            "100 app queries (the three kinds in turn, random keys) from 20 threads, each with its own "
            "connection (opened before the clock starts); repeated, median / p95 over the repeats of "
            "the wall time and throughput, and over all queries of the per-query latency. "
            "Transaction rate: `pgbench -n -c 20 -j 2 -T N` with the app's own transaction (BEGIN; user by "
            "email; channels of that user; an indexed UPDATE of that user; END; keys from a helper table), "
            "target 1,000 tx/s."
        )
        add("")
        add(
            "| analytics rows | 100 queries wall s | queries/s | per-query ms p50 / p95 | pgbench tx/s | pgbench latency avg ms |"
        )
        add("|---|---|---|---|---|---|")
        for s in S:
            if "concurrent" in s:
                c = s["concurrent"]
                allms = [x for run in c for x in run["ms"]]
                pg = s.get("pgbench", {})
                add(
                    f"| {s['seed']['rows']['analytics']:,} | {mp([x['wall_s'] for x in c], '', 3)} | "
                    f"{mp([x['qps'] for x in c], '', 0)} | {fmt(med(allms), '', 2)} / {fmt(p95(allms), '', 2)} | "
                    f"{mp(pg['tps'], '', 0) if 'tps' in pg else pg.get('error', 'n/a')} | "
                    f"{mp(pg.get('latency_avg_ms', []), '', 2) if 'tps' in pg else 'n/a'} |"
                )
        add("")

    # ---------------------------------------------------------------- limits
    lim = next((s for s in S if "max_connections" in s), None)
    if lim:
        mc, pe = lim["max_connections"], lim["pool_exhaustion"]
        add("## Connection limits")
        add("")
        add(
            f"- **At `max_connections`** ({mc['max_connections']}; {mc['in_use_before']} client connections in use "
            f"before): opening {mc['max_connections'] - mc['in_use_before'] + 5} more one by one, "
            f"{mc['opened'] - 1} succeeded and {mc['refused']} were refused at once, "
            f"refusal in {mp(mc['refusal_s'], ' s', 4)} (median / p95), with: `{mc['error']}`. "
            f"The held connections still answered queries ({mc['still_serves']}), and a new connection "
            "succeeded as soon as they were closed. So a client past the limit gets an immediate, "
            "named error, not a hang; `ytdq monitor` warns at 80 % and alerts at 95 % of the limit."
        )
        add(
            f"- **SQLAlchemy pool exhaustion** (`pool_size={pe['pool_size']}, max_overflow=0, "
            f"pool_timeout={pe['pool_timeout']}`; all {pe['pool_size']} checked out): the next checkout waited "
            f'{mp(pe["wait_s"], " s", 3)} and raised `{pe["error_type"]}`: "{pe["error"]}". After one '
            f"connection was returned, a checkout took {fmt(pe['checkout_after_release_s'] * 1000, ' ms', 2)}."
        )
        add("")

    L += report_fair.render(r)  # fair floor, whole commands, deadlock rate (issue 12)

    # ---------------------------------------------------------------- seeding
    add("## Seeding (the project's seeder, `ytempire_dq.fixtures.seed.seed`)")
    add("")
    add("| scale | users | analytics rows | all rows | seed s (clean data, COPY, indexes, ANALYZE) |")
    add("|---|---|---|---|---|")
    for s in S:
        sd = s["seed"]
        add(
            f"| {s['label']} | {sd['users']:,} | {sd['rows']['analytics']:,} | {sum(sd['rows'].values()):,} | "
            f"{fmt(sd['seed_s'], '', 1)}{' (from an earlier run: --reuse)' if sd.get('reused') else ''} |"
        )
    add("")
    return "\n".join(L) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S = r["scales"]
    x = [s["seed"]["rows"]["analytics"] for s in S]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = {
        "count(*) every table": [med([v["seconds"] for v in s["nightly"]["count"]]) for s in S],
        "floor (one pass per table + grouped)": [med([v["seconds"] for v in s["nightly"]["floor"]]) for s in S],
        "GX alone (before)": [med([v["validate_s"] for v in s["nightly"]["gx"]]) for s in S],
        "GX fast (committed run_checkpoint)": [
            med([v["validate_s"] for v in s["nightly"].get("gx_fast", [])]) for s in S
        ],
        "Soda Core 3.5": [med([v["seconds"] for v in s["nightly"]["soda"] if "seconds" in v]) for s in S],
    }
    if all("levers" in s and "combined" in s["levers"] for s in S):
        series["GX, all levers"] = [med([v["validate_s"] for v in s["levers"]["combined"]["runs"]]) for s in S]
    for label, ys in series.items():
        if all(y is not None for y in ys):
            a1.plot(x, ys, marker="o", label=label)
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("analytics rows")
    a1.set_ylabel("seconds (median)")
    a1.set_title("Validating every table rule")
    a1.grid(True, which="both", alpha=0.3)
    a1.legend(fontsize=8)
    if all("app_queries" in s for s in S):
        for q in S[0]["app_queries"]:
            a2.plot(x, [p95(s["app_queries"][q]["ms"]) for s in S], marker="o", label=f"{q} p95")
        a2.set_xscale("log")
        a2.set_xlabel("analytics rows")
        a2.set_ylabel("ms")
        a2.set_title("App queries, p95 (target ≪ 100 ms)")
        a2.grid(True, which="both", alpha=0.3)
        a2.legend(fontsize=8)
    fig.suptitle(f"ytempire-dq benchmarks, {r['machine']['date']}, {r['machine']['cores']} cores (shared)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    write(json.loads(src.read_text()), src.parent)
    print(src.parent / "results.md")
