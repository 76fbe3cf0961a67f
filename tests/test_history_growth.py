"""benchmarks/history_growth.py plants a results store's nights as the benchmark says, and its
three readers of the history answer on it."""

from __future__ import annotations

from benchmarks import history_growth
from tests.helpers import scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.docs import history_page


def test_planted_nights_fail_as_the_benchmark_says(new_database):
    url = new_database("history_growth")
    history_growth.plant(url, nights=10, rules=6, failing=4)
    conn = connect(url)
    try:
        assert scalar(conn, "SELECT count(*) FROM dq.runs WHERE source = %s", (history_growth.SOURCE,)) == 10
        assert scalar(conn, "SELECT count(*) FROM dq.rule_results WHERE NOT success") == 2 * 10 + 2 * 7
    finally:
        conn.close()
    (checkpoint,) = history_page.history(url)
    since = {r["rule_id"]: r["failing_since"] for r in checkpoint["rules"] if r["failing_since"]}
    # rules 0 and 1 fail every night; 2 and 3 failed in the first week and pass in the second
    assert since == {
        history_growth.rule_id(0): history_growth.FIRST_NIGHT,
        history_growth.rule_id(1): history_growth.FIRST_NIGHT,
    }
    timed = history_growth.readers(url)
    assert sorted(timed) == ["history_page", "notify_previous_outcomes", "ytdq_history"]
    assert all(seconds > 0 for seconds in timed.values())
