"""The statistics of a comparison, checked on synthetic repeats whose effects are known."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from swarmlab import ConfigError
from swarmlab.analysis.stats import (
    METRIC_INFO,
    adjust,
    describe_drift,
    describe_verdicts,
    drift,
    holm,
    interval,
    repeats_needed,
    verdicts,
    welch,
)


def _per_run(samples: dict[str, np.ndarray], metric: str = "makespan_s", **extra) -> pd.DataFrame:
    rows = [{"algorithm": label, "mode": "thread", "role": "measured", metric: float(v), **extra}
            for label, values in samples.items() for v in values]
    return pd.DataFrame(rows)


def _noisy(rng, center: float, n: int, cv: float = 0.05) -> np.ndarray:
    return center * rng.lognormal(0.0, cv, n)


def test_a_30_percent_effect_is_found_significant_in_the_right_direction():
    found = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        base = _noisy(rng, 1.0, 3)
        runs = pd.concat([
            _per_run({"round_robin": base, "work_stealing": 0.7 * _noisy(rng, 1.0, 3)}),
            _per_run({"round_robin": 100 / base, "work_stealing": 130 * _noisy(rng, 1.0, 3) / 1.0},
                     metric="throughput_tps"),
        ])
        v = verdicts(runs, metrics=["makespan_s"]).iloc[0]
        assert (v["algorithm"], v["versus"]) == ("work_stealing", "round_robin")  # the best first
        assert v["verdict"] in ("faster", "no significant difference")  # never the wrong way
        assert v["rel_ci_low"] <= v["rel_diff"] <= v["rel_ci_high"] and v["rel_ci_low"] > -1
        if v["verdict"] == "faster":
            found += 1
            assert v["p_adjusted"] < 0.05 and v["rel_ci_high"] < 0
    assert found >= 190  # 3 repeats at 5 % noise: a 30 % effect is found nearly always
    rng = np.random.default_rng(0)
    runs = _per_run({"round_robin": _noisy(rng, 1.0, 5), "work_stealing": _noisy(rng, 0.7, 5)})
    v = verdicts(runs, metrics=["makespan_s"]).iloc[0]
    assert v["rel_diff"] == pytest.approx(-0.30, abs=0.05) and v["verdict"] == "faster"
    line = describe_verdicts(verdicts(runs, metrics=["makespan_s"]))[0]
    assert line.startswith("work_stealing: makespan ") and " lower than round_robin [" in line
    assert line.endswith(")") and "%, significant (p = " in line
    tps = _per_run({"round_robin": _noisy(rng, 100, 5), "work_stealing": _noisy(rng, 130, 5)}, "throughput_tps")
    v = verdicts(tps, metrics=["throughput_tps"]).iloc[0]
    assert v["algorithm"] == "work_stealing" and v["verdict"] == "faster" and v["rel_diff"] > 0.2
    worse = verdicts(tps, metrics=["throughput_tps"], against="work_stealing").iloc[0]
    assert (worse["algorithm"], worse["verdict"]) == ("round_robin", "slower")


@pytest.mark.parametrize("labels", [2, 4])
def test_identical_distributions_are_not_significant_in_at_least_90_percent_of_200_trials(labels):
    quiet = 0
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        runs = _per_run({f"setup{i}": _noisy(rng, 2.0, 3, cv=0.1) for i in range(labels)})
        v = verdicts(runs, metrics=["makespan_s"], against="pairs" if labels > 2 else "best")
        assert len(v) == labels * (labels - 1) // 2
        quiet += not v["significant"].any()
        assert set(v["verdict"]) <= {"faster", "no significant difference"}
    assert quiet >= 180


def test_holm_and_bh_adjust_as_defined():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    expect = []  # the definition: the i-th smallest times (m - i), made non-decreasing, at most 1
    ordered = np.sort(p)
    steps = np.maximum.accumulate([(len(p) - i) * x for i, x in enumerate(ordered)])
    for x in p:
        expect.append(min(1.0, steps[list(ordered).index(x)]))
    assert holm(p) == pytest.approx(expect)
    assert adjust(p, "bh") == pytest.approx(sps.false_discovery_control(p, method="bh"))
    got = adjust([0.01, math.nan, 0.04], "holm")
    assert got[0] == pytest.approx(0.02) and math.isnan(got[1]) and got[2] == pytest.approx(0.04)
    with pytest.raises(ConfigError, match="correction must be one of 'holm', 'bh', 'none'"):
        adjust(p, "sidak")


def test_repeats_needed_gives_the_asked_power():
    diff, sd = 0.05, 0.08  # on the log scale: a 5 % difference, 8 % noise
    n = repeats_needed(diff, sd, alpha=0.05)
    assert n is not None and 10 < n < 100

    def power(k: int) -> float:
        rng = np.random.default_rng(7)
        a = rng.normal(0.0, sd, (4000, k))
        b = rng.normal(diff, sd, (4000, k))
        return float((sps.ttest_ind(a, b, axis=1).pvalue < 0.05).mean())

    assert power(n) >= 0.78 and power(n - 2) < 0.8  # found by simulating the test itself
    assert repeats_needed(0.0, sd) is None and repeats_needed(diff, 0.0) is None
    assert repeats_needed(diff, sd, 3 * sd) > n  # a noisier side asks for more
    assert repeats_needed(1e-6, 1.0) is None  # beyond MOST_REPEATS


def test_verdicts_say_how_many_repeats_would_separate_what_is_not_yet_separated():
    runs = _per_run({"least_loaded": [1.00, 1.06, 0.95], "dynamic": [1.05, 1.10, 1.00]})
    v = verdicts(runs, metrics=["makespan_s"]).iloc[0]
    assert v["verdict"] == "no significant difference" and not v["significant"]
    assert v["repeats_needed"] > 3
    line = describe_verdicts(verdicts(runs, metrics=["makespan_s"]))[0]
    assert line.startswith(f"{v['algorithm']} vs {v['versus']}: no significant difference in makespan at 3 repeats")
    assert f"about {v['repeats_needed']} repeats each would tell a" in line


def test_runs_without_spread_are_told_apart_exactly_and_too_few_repeats_are_said():
    same = _per_run({"a": [2.0, 2.0], "b": [2.0, 2.0], "c": [1.5, 1.5]})
    v = verdicts(same, metrics=["makespan_s"], against="pairs").set_index(["algorithm", "versus"])
    assert v.loc[("c", "a"), "verdict"] == "faster" and v.loc[("c", "a"), "scale"] == "exact"
    assert v.loc[("c", "a"), "rel_diff"] == pytest.approx(-0.25)
    assert v.loc[("a", "b"), "verdict"] == "no significant difference" and v.loc[("a", "b"), "p_value"] == 1
    words = describe_verdicts(verdicts(same, metrics=["makespan_s"]))
    assert "c: makespan 25 % lower than a, significant (exact: no spread on virtual time)" in words
    one = verdicts(_per_run({"a": [1.0], "b": [2.0, 2.1]}), metrics=["makespan_s"]).iloc[0]
    assert one["verdict"] == "too few repeats" and math.isnan(one["p_value"])
    assert "too few repeats to compare makespan" in describe_verdicts(
        verdicts(_per_run({"a": [1.0], "b": [2.0, 2.1]}), metrics=["makespan_s"]))[0]
    with pytest.raises(ConfigError, match="against must be 'best', 'pairs' or one of the set-ups"):
        verdicts(same, metrics=["makespan_s"], against="zzz")
    with pytest.raises(ConfigError, match="metrics must be among"):
        verdicts(same, metrics=["joy"])


def test_scores_and_values_at_zero_are_compared_on_the_raw_scale():
    waits = _per_run({"a": [0.0, 0.1, 0.05], "b": [0.4, 0.5, 0.45]}, metric="p50_wait_s")
    v = verdicts(waits, metrics=["p50_wait_s"]).iloc[0]
    assert v["scale"] == "raw" and v["algorithm"] == "a" and v["verdict"] == "faster"
    w = welch([0.0, 0.1, 0.05], [0.4, 0.5, 0.45])
    assert w.rel == pytest.approx(0.05 / 0.45 - 1)
    scores = _per_run({"a": [0.9, 0.92, 0.91], "b": [0.6, 0.62, 0.61]}, metric="load_balance_score")
    assert verdicts(scores, metrics=["load_balance_score"]).iloc[0]["verdict"] == "better"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6))
def test_intervals_of_scores_stay_within_0_and_1(values):
    i = interval(values, METRIC_INFO["load_balance_score"].bounds)
    assert 0.0 <= i.low <= i.high <= 1.0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(1e-3, 1e4), min_size=2, max_size=6))
def test_intervals_of_positive_quantities_stay_above_0(values):
    i = interval(values, METRIC_INFO["throughput_tps"].bounds)
    assert 0.0 < i.low <= i.high


def test_the_intervals_of_the_issue_respect_their_bounds():
    tps = interval([97.0, 551.0], METRIC_INFO["throughput_tps"].bounds)  # a t interval: 324 [-225, 872]
    assert tps.method == "log-t" and 0 < tps.low < 97 and tps.high > 551
    lb = interval([0.42, 0.99], METRIC_INFO["load_balance_score"].bounds)  # t: 0.861 [-0.42, 2.14]
    assert lb.method == "logit-t" and 0 < lb.low < 0.42 and 0.99 < lb.high < 1
    edge = interval([1.0, 1.0, 0.9], METRIC_INFO["efficiency"].bounds)
    assert edge.method == "t within bounds" and edge.high == 1.0 and 0 < edge.low < 0.9
    assert interval([0.0, 0.0, 2.0], METRIC_INFO["p95_wait_s"].bounds).low == 0.0
    point = interval([3.0, 3.0], METRIC_INFO["makespan_s"].bounds)
    assert (point.low, point.high, point.method) == (3.0, 3.0, "no spread")
    assert math.isnan(interval([5.0]).low) and interval([5.0]).method == "one run"
    plain = interval([1.0, 2.0, 3.0])  # no bounds: Student's t as scipy gives it
    assert (plain.low, plain.high) == pytest.approx(sps.t.interval(0.95, 2, loc=2.0, scale=1 / math.sqrt(3)))


def test_the_drift_check_compares_the_first_and_last_baseline_runs():
    rows = pd.DataFrame([
        {"mode": "thread", "role": "baseline", "order": 0, "makespan_s": 1.00},
        {"mode": "thread", "role": "measured", "order": 1, "makespan_s": 0.20},
        {"mode": "thread", "role": "baseline", "order": 9, "makespan_s": 1.20},
        {"mode": "asyncio", "role": "baseline", "order": 2, "makespan_s": 2.00},
        {"mode": "asyncio", "role": "baseline", "order": 8, "makespan_s": 2.02},
    ])
    d = drift(rows).set_index("mode")
    assert d.loc["thread", "change"] == pytest.approx(0.2) and not d.loc["thread", "steady"]
    assert d.loc["asyncio", "change"] == pytest.approx(0.01) and d.loc["asyncio", "steady"]
    words = describe_drift(drift(rows))
    assert words[0].startswith("drift check (thread): the sequential baseline's makespan was 1 s first and 1.2 s "
                               "last (+20 %): the machine changed")
    assert words[1].endswith("(+1.0 %): steady")
    assert drift(rows[rows["role"] == "measured"]).empty
