"""compare(): a fair order (warm-up, interleaved shuffled repeats, baseline first and last),
adaptive repeats, a tidy summary and verdicts on set-ups."""

import io

import pandas as pd
import pytest

from swarmlab import ConfigError, workloads
from swarmlab.analysis.stats import METRIC_INFO, interval
from swarmlab.experiments.comparison import AUTO_MIN_REPEATS, METRICS, SEQUENTIAL, RunOrder, compare, setups


def _tiny(n=8):
    return workloads.io(n, seed=2, mean_s=0.002)


def test_repeats_are_interleaved_and_shuffled_with_the_seed():
    plan = setups()  # the seven built-in ones
    k = len(plan)
    order = RunOrder(plan, ["thread", "simulated"], seed=5)
    opening = order.opening()
    assert [i.role for i in opening] == ["warmup"] * k + ["baseline"] * 2  # virtual time needs no warm-up
    assert {i.setup.label for i in opening[:k]} == {s.label for s in plan} and {i.mode for i in opening[:k]} == {"thread"}
    assert [(i.setup.label, i.mode) for i in opening[k:]] == [(SEQUENTIAL, "thread"), (SEQUENTIAL, "simulated")]
    rounds = [order.round(r) for r in range(4)]
    everything = sorted((s.label, m) for s in plan for m in ("thread", "simulated"))
    for r, items in enumerate(rounds):
        assert sorted((i.setup.label, i.mode) for i in items) == everything  # each set-up and mode once a round
        assert {i.repeat for i in items} == {r} and {i.role for i in items} == {"measured"}
    sequences = [[(i.setup.label, i.mode) for i in items] for items in rounds]
    planned = [(s.label, m) for m in ("thread", "simulated") for s in plan]
    assert all(seq != planned for seq in sequences) and len({tuple(s) for s in sequences}) == 4  # shuffled anew
    closing = order.closing()
    assert [i.role for i in closing] == ["baseline"] * 2
    numbers = [i.order for i in opening + [x for items in rounds for x in items] + closing]
    assert numbers == list(range(len(numbers)))

    def labels(seed):
        o = RunOrder(plan, ["thread"], seed=seed)
        return [i.setup.label for i in o.opening() + o.round(0) + o.round(1)]

    assert labels(5) == labels(5) and labels(5) != labels(6)
    bare = RunOrder(plan, ["thread"], warmup=False, baseline=False)
    assert bare.opening() == [] and bare.closing() == []


def test_compare_runs_in_the_recorded_order_and_leaves_the_warmup_out_of_the_figures():
    result = compare(_tiny(), algorithms=["round_robin", "least_loaded"], modes=["asyncio"], repeats=3, seed=4)
    p = result.per_run
    assert list(p["order"]) == list(range(len(p))) and len(p) == len(result.runs)
    assert [r.meta["order"] for r in result.runs] == list(p["order"])
    assert [r.run_id for r in result.runs] == list(p["run_id"])
    expect = RunOrder(setups(["round_robin", "least_loaded"]), ["asyncio"], seed=4)
    items = expect.opening() + [x for r in range(3) for x in expect.round(r)] + expect.closing()
    assert [(i.role, i.setup.label, i.repeat) for i in items] == \
        [(r.role, a, None if pd.isna(k) else k) for r, a, k in zip(p.itertuples(), p["algorithm"], p["repeat"])]
    warm = p[p["role"] == "warmup"]
    assert sorted(warm["algorithm"]) == ["least_loaded", "round_robin"] and (warm["order"] < 2).all()
    s = result.summary.set_index(["algorithm", "metric"])
    for alg in ("round_robin", "least_loaded"):
        rows = p[(p["algorithm"] == alg) & (p["role"] == "measured")]
        assert len(rows) == 3 and s.loc[(alg, "makespan_s"), "n"] == 3
        want = interval(rows["makespan_s"], METRIC_INFO["makespan_s"].bounds)
        assert (s.loc[(alg, "makespan_s"), "mean"], s.loc[(alg, "makespan_s"), "ci_low"]) == pytest.approx(
            (want.mean, want.low))
    v = result.verdicts
    assert set(v["n"]) == {3} and set(v["metric"]) >= {"makespan_s", "throughput_tps"}
    assert result.meta["repeats"] == 3


def test_the_sequential_baseline_runs_first_and_last_is_labelled_and_gives_speedup_and_the_drift_check():
    result = compare(_tiny(), algorithms=["least_loaded"], modes=["asyncio"], repeats=2, simulate=True)
    p = result.per_run
    base = p[p["role"] == "baseline"]
    assert list(base["algorithm"]) == [SEQUENTIAL] * 4 and set(base["mode"]) == {"asyncio", "simulated"}
    measured = p[p["role"] == "measured"]
    assert base["order"].min() < measured["order"].min() and base["order"].max() > measured["order"].max()
    for rec in result.runs:
        if rec.meta["role"] == "baseline":
            assert rec.meta["algorithm"] == SEQUENTIAL and rec.meta["n_agents"] == 1
    for mode in ("asyncio", "simulated"):
        seq = base.loc[base["mode"] == mode, "makespan_s"].mean()
        m = measured[measured["mode"] == mode]
        assert m["speedup"].tolist() == pytest.approx((seq / m["makespan_s"]).tolist())
    # eight agents against one: faster on virtual time, whatever the machine (the measured
    # speedup on a real clock is a figure of benchmarks sleep_makespan)
    assert (measured.loc[measured["mode"] == "simulated", "speedup"] > 1).all()
    d = result.drift.set_index("mode")
    first, last = base[base["mode"] == "asyncio"]["makespan_s"]
    assert (d.loc["asyncio", "first"], d.loc["asyncio", "last"]) == (first, last)
    assert d.loc["simulated", "change"] == 0 and d.loc["simulated", "steady"]
    report = result.report()
    assert any(line.startswith("drift check (asyncio): the sequential baseline's makespan was") for line in report)
    assert not any("drift check (simulated)" in line for line in report)  # virtual time cannot drift
    assert SEQUENTIAL not in set(result.summary["algorithm"]) and SEQUENTIAL not in set(result.verdicts["algorithm"])


def test_repeats_auto_stops_on_narrow_intervals_the_most_repeats_or_the_budget():
    sim = compare(workloads.heavy_tailed(60, seed=1), algorithms=["round_robin", "work_stealing"], modes=[],
                  simulate=True, repeats="auto", baseline=False)
    assert sim.meta["repeats"] == AUTO_MIN_REPEATS and "narrower than 10%" in sim.meta["stopped"]
    assert (sim.summary["n"][sim.summary["metric"] == "makespan_s"] == AUTO_MIN_REPEATS).all()
    most = compare(_tiny(6), algorithms=["round_robin"], modes=["asyncio"], repeats="auto", rel_width=1e-12,
                   max_repeats=4, baseline=False, warmup=False)
    assert most.meta["repeats"] == 4 and most.meta["stopped"] == "max_repeats (4) reached"
    spent = compare(_tiny(6), algorithms=["round_robin"], modes=["asyncio"], repeats="auto", rel_width=1e-12,
                    budget_s=0, baseline=False, warmup=False)
    assert spent.meta["repeats"] == AUTO_MIN_REPEATS and "time budget (0 s)" in spent.meta["stopped"]
    for bad, msg in (({"repeats": "many"}, "repeats must be a positive int or 'auto'"),
                     ({"repeats": "auto", "rel_width": 0}, "rel_width must be a fraction > 0"),
                     ({"repeats": "auto", "max_repeats": 2}, "max_repeats must be an int >= 3"),
                     ({"repeats": "auto", "budget_s": -1}, "budget_s must be None or seconds >= 0")):
        with pytest.raises(ConfigError, match=msg):
            compare(_tiny(), modes=[], simulate=True, **bad)


def test_the_summary_is_tidy_with_numbers_only_and_the_raw_repeats_are_per_run():
    result = compare(workloads.heavy_tailed(30, seed=1), algorithms=["round_robin", "least_loaded"], modes=[],
                     simulate=True, repeats=2)
    s = result.summary
    assert list(s.columns) == ["algorithm", "stealing", "mode", "metric", "n", "mean", "sd", "ci_low", "ci_high",
                               "ci_method"]
    assert set(s["metric"]) == set(METRICS) and len(s) == 2 * len(METRICS)
    back = pd.read_csv(io.StringIO(s.to_csv(index=False)))
    for col in ("n", "mean", "sd", "ci_low", "ci_high"):
        assert pd.api.types.is_numeric_dtype(back[col]), col
    runs = pd.read_csv(io.StringIO(result.per_run.to_csv(index=False)))
    assert set(runs["role"]) == {"baseline", "measured"} and runs["speedup"].notna().all()
    assert set(runs["algorithm"]) == {"round_robin", "least_loaded", SEQUENTIAL}


def test_verdicts_are_on_set_ups_with_the_stealing_label():
    result = compare(workloads.heavy_tailed(80, seed=0), algorithms=["round_robin"], modes=[], simulate=True,
                     repeats=2, add_stealing=True, baseline=False)
    v = result.verdicts.set_index("metric")
    row = v.loc["makespan_s"]
    assert (row["algorithm"], row["versus"], row["verdict"]) == ("round_robin+stealing", "round_robin", "faster")
    assert row["scale"] == "exact" and row["rel_diff"] < 0
    pairs = result.verdicts_for(against="round_robin", metrics=["makespan_s"])
    assert pairs.iloc[0]["algorithm"] == "round_robin+stealing"
    assert "speedup" not in set(result.verdicts["metric"])  # no baseline: no speedup to judge
    with pytest.raises(ConfigError, match="nothing to run"):
        compare(_tiny(), modes=[])


def test_the_sequential_baseline_holds_the_union_of_the_pools_resources_so_every_task_runs_on_it():
    from swarmlab import Agent, ResourceLimits, Task
    from swarmlab.workloads.recipes import Workload

    agents = [Agent("g0", capabilities={"gpu"}, resources={"gpu": 2, "lic": 1.5}, devices=(3, 1)),
              Agent("g1", capabilities={"train"}, resources={"gpu": 1}, devices=(0,)), Agent("cpu")]

    def build(style):  # a task needing all three devices runs only where units add up
        return ([Task(None, id=f"g{i}", estimate_s=1.0, resources={"gpu": 1, "llm": 1}) for i in range(4)]
                + [Task(None, id="big", estimate_s=1.0, requires={"gpu"}, resources={"gpu": 2, "lic": 1.5})]
                + [Task(None, id="train", estimate_s=1.0, requires={"train"}, resources={"gpu": 1})])

    wl = Workload("gpus", 6, 0, agents, build)
    result = compare(wl, algorithms=["least_loaded"], modes=[], repeats=1, simulate=True,
                     limits=ResourceLimits(pools={"llm": 2}))
    base = [r for r in result.runs if r.meta["role"] == "baseline"]
    assert len(base) == 2
    for rec in base:
        (solo,) = rec.meta["agents"]
        assert solo["resources"] == {"gpu": 3, "lic": 1.5} and solo["devices"] == (0, 1, 3)
        assert set(solo["capabilities"]) == {"gpu", "train"}
        assert rec.meta["resources"]["pools"] == {"llm": 2}  # the run's pools stay the run's
        assert (rec.tasks["status"] == "completed").sum() == 6
