"""Smoke test of ``benchmarks/incremental.py`` at a tiny scale: the benchmark's own checks pass
(full and incremental runs of both checkpoints find exactly the new day's defects). No timing is
asserted (timing belongs in benchmarks/)."""

from __future__ import annotations

import json

from benchmarks import incremental as bench


def test_the_incremental_benchmark_finds_exactly_the_new_days_defects(module_env, capsys):
    # DATABASE_URL (module_env) is the test server: the benchmark makes its own database there
    assert bench.main(["--users", "15", "--repeats", "1", "--layout", "by-date,partitioned"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out[out.index("{") :])
    for layout in (doc["layouts"]["by-date"], doc["layouts"]["partitioned"]):
        assert set(layout) == {"prepare_s", "duplicate_ids_query_s", "analytics_only", "cross_only"}
        for name in ("analytics_only", "cross_only"):
            assert layout[name]["found"] == bench.CHECKPOINTS[name][1]
            assert set(layout[name]["validate_s"]) == {"full", "incremental"}
