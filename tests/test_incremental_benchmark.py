"""Smoke test of ``benchmarks/incremental.py`` at a tiny scale: the benchmark's own checks pass
(full and incremental runs of both checkpoints find exactly the new day's defects). No timing is
asserted (timing belongs in benchmarks/)."""

from __future__ import annotations

import json

from benchmarks import incremental as bench


def test_the_incremental_benchmark_finds_exactly_the_new_days_defects(module_env, capsys):
    # DATABASE_URL (module_env) is the test server: the benchmark makes its own database there
    assert bench.main(["--users", "15", "--repeats", "1", "--layout", "by-date"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out[out.index("{") :])
    layout = doc["layouts"]["by-date"]
    assert set(layout) == {"prepare_s", *bench.CHECKPOINTS}
    for name, (_vd, expected) in bench.CHECKPOINTS.items():
        assert layout[name]["found"] == expected
        assert set(layout[name]["validate_s"]) == {"full", "incremental"}
