"""The seasonal band's statistics (``expectations._seasonal``) on plain numbers: eight weeks of
simulated nights (Saturdays ×1.25, Sundays ×1.30, ±6 % noise, +0.3 %/day growth), each night
judging its last two complete days against the 28 before, as the committed rules do."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from ytempire_dq.expectations._seasonal import judge, pair_sigma, theil_sen

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
