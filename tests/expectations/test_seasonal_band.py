"""The seasonal band's statistics (``expectations._seasonal``) on plain numbers: eight weeks of
simulated nights (Saturdays ×1.25, Sundays ×1.30, ±6 % noise, +0.3 %/day growth), each night
judging its last two complete days against the 28 before, as the committed rules do."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from ytempire_dq.expectations._seasonal import judge, judge_gap, pair_sigma, theil_sen

START = dt.date(2026, 1, 5)  # a Monday
NIGHTS = 56
WINDOW = 30


def nights(seed: int, *, weekend: bool = True, growth: float = 0.003, noise: float = 0.06) -> list[float]:
    rng = random.Random(seed)
    out = []
    for i in range(WINDOW + NIGHTS):
        day = START + dt.timedelta(days=i)
        season = {5: 1.25, 6: 1.30}.get(day.weekday(), 1.0) if weekend else 1.0
        out.append(100_000 * season * (1 + growth) ** i * (1 + rng.uniform(-noise, noise)))
    return out


def night(series: list[float], k: int, **kwargs):
    """Night k's verdicts: the window of WINDOW days ending the day before."""
    window = series[k : k + WINDOW]
    return judge(START + dt.timedelta(days=k), window, [1000] * WINDOW, detection_days=2, kind="sum", **kwargs)


@pytest.mark.parametrize("seed", range(5))
def test_eight_weeks_of_seasonal_growing_data_raise_no_alarm(seed):
    series = nights(seed)
    verdicts = [v for k in range(NIGHTS) for v in night(series, k)]
    assert sum(v.anomalous for v in verdicts) == 0
    assert all(v.weekly for v in verdicts)  # the weekend is found every night
    weekend = [v for v in verdicts if v.day.weekday() >= 5]
    assert len(weekend) == 32 and all(v.expected > 1.15 * 100_000 for v in weekend)


@pytest.mark.parametrize("factor, direction", [(0.5, "below"), (2.0, "above"), (0.0, "below"), (0.7, "below")])
def test_halving_doubling_zero_and_a_30_percent_loss_are_caught_on_every_weekday(factor, direction):
    series = nights(11)
    for k in range(NIGHTS - 7, NIGHTS):  # one week of nights: each weekday once
        broken = series[: k + WINDOW - 1] + [series[k + WINDOW - 1] * factor]
        yesterday = night(broken, k)[-1]
        assert yesterday.anomalous and yesterday.direction == direction, (k, yesterday)
        assert yesterday.value == pytest.approx(series[k + WINDOW - 1] * factor)


def test_without_seasonality_the_weekend_is_an_alarm_unless_the_band_widens():
    series = nights(3)
    forced = [v for k in range(NIGHTS) for v in night(series, k, seasonality="none")]
    assert not any(v.weekly for v in forced)
    # one band for every day must hold weekdays and weekends: wide, so nothing alarms, and a halved
    # weekday is caught by the weekly band only
    k = 14  # its yesterday is a Tuesday
    assert (START + dt.timedelta(days=k + WINDOW - 1)).weekday() == 1
    broken = series[: k + WINDOW - 1] + [series[k + WINDOW - 1] * 0.75]
    assert night(broken, k)[-1].anomalous
    assert not night(broken, k, seasonality="none")[-1].anomalous


def test_flat_noise_is_not_mistaken_for_a_weekly_pattern():
    series = nights(4, weekend=False, growth=0)
    verdicts = [v for k in range(NIGHTS) for v in night(series, k)]
    assert sum(v.weekly for v in verdicts) <= 4  # auto picks "none" (nearly) every night
    assert sum(v.anomalous for v in verdicts) == 0


def test_not_enough_history_passes_and_counts_the_days():
    values = [None] * 20 + [100.0] * 10
    verdicts = judge(START, values, [1] * 30, detection_days=2, kind="sum")
    assert [v.status for v in verdicts] == ["not enough history yet (8 of 14 days)"] * 2
    assert not any(v.anomalous for v in verdicts) and verdicts[0].expected is None


def test_a_rate_expected_at_zero_tolerates_nothing_large():
    """Zero revenue on 0 of 1,000 rows for 28 days, then on every row: caught; on 2 rows: caught
    too (the binomial floor is taken 1 in 28,001 away from 0)."""
    base = [0.0] * 28
    assert judge(START, base + [0.0, 1.0], [1000] * 30, detection_days=2, kind="zero_rate")[-1].anomalous
    assert judge(START, base + [0.0, 0.002], [1000] * 30, detection_days=2, kind="zero_rate")[-1].anomalous


def test_rows_added_are_judged_with_at_least_poisson_noise():
    """Three videos a day, every day: 6 is within √3-noise × 5, 0 on a quiet day too, 30 is not."""
    values = [3.0] * 28
    assert not judge(START, values + [3.0, 6.0], [1] * 30, detection_days=2, kind="row_count")[-1].anomalous
    assert judge(START, values + [3.0, 30.0], [1] * 30, detection_days=2, kind="row_count")[-1].anomalous


def test_the_robust_pieces():
    points = [(i, 10 + 2 * i + (50 if i == 3 else 0)) for i in range(21)]  # one outlier
    assert theil_sen(points) == 2
    assert pair_sigma([[1.0, 1.0, 1.0]]) == 0
    assert pair_sigma([[0.0, 0.954]]) == pytest.approx(1.0, rel=1e-3)


#: New channels a day on the simulated platform (60 users) for the 30 days before the night on
#: which the rule alarmed: new users bring 1-3 channels at once. Day 0 is a Sunday.
CHANNELS = [0, 5, 0, 2, 3, 2, 3, 2, 4, 4, 1, 4, 0, 2, 1, 0, 1, 0, 5, 1, 4, 1, 2, 1, 4, 5, 1, 2, 8, 1]
SUNDAY = dt.date(2027, 1, 17)


def test_a_weekday_effect_of_a_few_rows_is_not_chosen_over_the_sampling_noise():
    """Four Sundays of 0, 2, 1, 1 new channels are not a weekly pattern: judged every day alike
    (expected ≈ 2), a Sunday of 8 is within √2-noise × 5; chosen as a pattern, it failed against
    an expected 1 (the false alarm the eight simulated weeks showed)."""
    head = judge(SUNDAY, [float(c) for c in CHANNELS], [1.0] * 30, detection_days=2, kind="row_count")
    assert [v.weekly for v in head] == [False, False]
    assert [v.anomalous for v in head] == [False, False]
    forced = judge(
        SUNDAY, [float(c) for c in CHANNELS], [1.0] * 30, detection_days=2, kind="row_count", seasonality="day_of_week"
    )
    assert forced[0].anomalous and forced[0].value == 8 and forced[0].expected == 1


def test_a_rise_the_training_days_have_shown_is_not_an_anomaly_a_doubled_quiet_day_is():
    """The retention test's seeded views (2 users: a new video's launch triples a day): a launch
    of the same size passes; on a series with no such rise, a doubled day fails."""
    seeded = [331, 714, 590, 656, 1043, 908, 977, 896, 705, 708, 610, 494, 491, 430, 515, 2113, 1811]
    seeded += [874, 665, 523, 526, 364, 373, 350, 351, 782, 2106, 2362, 2568, 1727]
    verdicts = judge(START, [float(v) for v in seeded], [1.0] * 30, detection_days=2, kind="sum", tolerance_pct=5)
    assert [v.anomalous for v in verdicts] == [False, False]
    assert verdicts[0].upper > 2568 > verdicts[0].expected + 5 * verdicts[0].sigma
    series = nights(3)
    for k in range(0, NIGHTS, 5):
        window = series[k : k + WINDOW]
        window[-1] *= 2
        v = judge(START + dt.timedelta(days=k), window, [1000] * 30, detection_days=2, kind="sum", tolerance_pct=5)
        assert v[-1].anomalous and v[-1].direction == "above", k


def gap(counts: list[float], **kwargs):
    return judge_gap(START, counts, detection_days=2, **kwargs)


def test_days_since_the_newest_row_fail_when_the_training_days_make_the_gap_unlikely():
    """12 new rows a day: one empty day already fails (e^-12 below the 4 σ tail, 3.2e-5); an empty
    day in four: 2 in a row are ordinary, up to 7 pass (0.25^7 = 6.1e-5), 8 would not."""
    busy = [12.0] * 28
    assert [(v.value, v.anomalous) for v in gap(busy + [12.0, 12.0], sensitivity=4)] == [(0, False), (0, False)]
    (before, last) = gap(busy + [12.0, 0.0], sensitivity=4)
    assert (before.value, before.anomalous, last.value, last.upper, last.anomalous) == (0, False, 1, 0, True)
    assert last.status == "above band" and last.direction == "above"
    quiet = [2.0, 0.0, 3.0, 1.0] * 7
    assert [v.anomalous for v in gap(quiet + [0.0, 0.0], sensitivity=4)] == [False, False]
    assert gap(quiet + [0.0, 0.0], sensitivity=4)[-1].upper == 7
    assert gap(quiet + [0.0, 0.0], sensitivity=5)[-1].upper == 10  # a 5 σ tail (2.9e-7) waits longer


def test_days_since_the_newest_row_allow_the_gaps_the_training_days_show():
    """A table whose training days hold 3 empty days in a row (3 in 28: their share, not e^-12, is
    the chance of an empty day) passes a gap of 4 (0.107^4 = 1.3e-4), whatever its median."""
    counts = [12.0] * 10 + [0.0] * 3 + [12.0] * 15
    assert [v.anomalous for v in gap(counts + [0.0, 0.0], sensitivity=4)] == [False, False]
    assert gap(counts + [0.0, 0.0], sensitivity=4)[-1].upper == 4
    assert gap(counts[:14] + [0.0] * 14, min_training_days=14)[0].status == "within band"
    short = gap([None] * 20 + [5.0] * 10)
    assert short[0].status == "not enough history yet (8 of 14 days)" and not short[0].anomalous
