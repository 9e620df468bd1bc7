"""Bounds that know the limits, the resource table and the limits' text (issue 24, items 9-10)."""

import pytest

from swarmlab import simulate
from swarmlab.analysis.figures import name_bound, quality
from swarmlab.analysis.limits import resource_table
from swarmlab.errors import ConfigError
from swarmlab.experiments.comparison import compare
from swarmlab.model import Agent, RateLimit, ResourceLimits, Task, parse_limits
from swarmlab.workloads import needing
from swarmlab.workloads.recipes import io

# ---------------------------------------------------------------- the lower bound


def test_a_rate_that_binds_is_the_lower_bound_and_is_named_in_meta():
    # 420 one-second calls, 32 agents, 120 a minute: the bucket's 120 go at once, the
    # other 300 come at 2 a second, so no schedule starts the last before 150 s
    tasks = [Task(None, estimate_s=1.0, resources={"rpm": 1}) for _ in range(420)]
    rec = simulate(tasks, [Agent(f"a{i}") for i in range(32)],
                   limits=ResourceLimits(rates={"rpm": RateLimit(120, per_s=60)}))
    q = quality(rec)
    assert q["lower_bound_s"] == pytest.approx((420 - 120) / (120 / 60))
    assert q["bound_by"] == "rate rpm"
    assert "lower_bound" not in rec.meta  # simulate leaves it: building frames would cost more than the run
    bound = name_bound(rec)
    assert rec.meta["lower_bound"] is bound
    assert bound["bound_by"] == "rate rpm" and bound["bound_by_limit"] == "rate rpm (120 per 60 s)"
    assert bound["lower_bound_s"] == pytest.approx(150.0)
    assert bound["bounds_s"]["work over agents"] == pytest.approx(420 / 32)
    assert q["makespan_s"] == pytest.approx(151.0)  # the last start at 150 s, 1 s long
    # the last take emptied the bucket, which refilled 2 units in the last second
    assert resource_table(rec)["in_use"].tolist() == [pytest.approx(118.0)]


def test_a_pool_that_binds_is_its_unit_seconds_over_its_size():
    # 60 tasks of 2 s holding 2 units of a pool of 6: 240 unit-seconds / 6 = 40 s
    tasks = [Task(None, estimate_s=2.0, resources={"llm": 2}) for _ in range(60)]
    rec = simulate(tasks, [Agent(f"a{i}") for i in range(16)], limits=ResourceLimits(pools={"llm": 6}))
    name_bound(rec)
    assert rec.meta["lower_bound"]["bound_by"] == "pool llm"
    assert rec.meta["lower_bound"]["lower_bound_s"] == pytest.approx(60 * 2 * 2 / 6)
    assert quality(rec)["makespan_s"] == pytest.approx(40.0)  # three at a time, twenty rounds: the bound is met


def test_agent_units_bound_over_the_units_the_agents_hold():
    # 10 gpu tasks of 3 s; 2 of the 4 agents hold one gpu each: 30 gpu-seconds / 2 = 15 s,
    # above the 30 s of work over 4 agents (7.5 s)
    agents = [Agent("g0", resources={"gpu": 1}), Agent("g1", resources={"gpu": 1}), Agent("c0"), Agent("c1")]
    tasks = [Task(None, estimate_s=3.0, resources={"gpu": 1}) for _ in range(10)]
    rec = simulate(tasks, agents)
    name_bound(rec)
    assert rec.meta["lower_bound"]["bound_by"] == "agent gpu"
    assert rec.meta["lower_bound"]["lower_bound_s"] == pytest.approx(15.0)


def test_without_limits_the_bound_is_the_work_or_the_critical_path_and_meta_is_untouched():
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(8)], [Agent("a"), Agent("b")])
    assert name_bound(rec) is None and "lower_bound" not in rec.meta
    q = quality(rec)
    assert q["bound_by"] == "work over agents" and q["lower_bound_s"] == pytest.approx(4.0)


def test_a_comparison_bound_by_one_limit_says_so_in_its_report():
    wl = needing(io(60, seed=1, mean_s=0.5, agents=8), {"rpm": 1})
    limits = ResourceLimits(rates={"rpm": RateLimit(10, per_s=1)})  # 50 beyond the bucket at 10 a second
    result = compare(wl, algorithms=["round_robin", "least_loaded"], modes=(), simulate=True, repeats=2,
                     limits=limits, baseline=False)
    assert all(r.meta["lower_bound"]["bound_by"] == "rate rpm" for r in result.runs)  # every run names it
    lines = result.report()
    said = [line for line in lines if "bound by" in line]
    spans = result.per_run["makespan_s"]  # the figures, from the runs: mean bound against mean makespan
    assert said == ["every set-up is bound by rate rpm (10 per 1 s): none can finish under 5 s "
                    f"(the least lower bound of the runs); the runs took {spans.mean():.3g} s on average, of which "
                    f"rpm alone needs 5 s ({5 / spans.mean():.0%}): no schedule can be more than "
                    f"{(1 - 5 / spans.mean()) * 100:.2g} % faster than the mean run, so the algorithms cannot gain "
                    "more than that on these runs; compare them on cost, not makespan"]
    free = compare(io(60, seed=1, mean_s=0.5, agents=8), algorithms=["round_robin", "least_loaded"], modes=(),
                   simulate=True, repeats=2, baseline=False)
    assert not [line for line in free.report() if "bound by" in line]


# ---------------------------------------------------------------- the resource table


def test_the_resource_table_of_a_finished_run_counts_what_was_held_and_the_waits():
    tasks = [Task(None, estimate_s=2.0, resources={"llm": 2, "rpm": 1}) for _ in range(12)]
    rec = simulate(tasks, [Agent(f"a{i}") for i in range(8)],
                   limits=ResourceLimits(pools={"llm": 6}, rates={"rpm": RateLimit(6, per_s=3)}))
    table = resource_table(rec).set_index("resource")
    assert list(table.index) == ["llm", "rpm"]
    llm, rpm = table.loc["llm"], table.loc["rpm"]
    assert (llm["kind"], llm["capacity"], rpm["kind"], rpm["capacity"], rpm["per_s"]) == ("pool", 6, "rate", 6, 3)
    assert llm["unit_s"] == pytest.approx(12 * 2 * 2.0) and rpm["unit_s"] == 12  # unit-seconds; units taken
    assert llm["in_use"] == 0 and llm["running"] == 0 and llm["held_now"] == 0 and rpm["held_now"] == 0
    held = rec.meta["resources"]["held_s"]  # the dispatcher's own count of the waits
    assert llm["held_s"] + rpm["held_s"] == pytest.approx(sum(held.values()))
    assert llm["held_s"] + rpm["held_s"] > 0
    # the pool lets three start every 2 s: the bucket gives 3 and refills 4 meanwhile, so it is full at the end
    assert rpm["in_use"] == 0


def test_a_run_without_limits_has_an_empty_resource_table():
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(3)], [Agent("a")])
    assert resource_table(rec).empty


# ---------------------------------------------------------------- the limits as text


def test_limits_as_text_are_pools_and_rates_and_bad_items_are_named():
    pools, rates = parse_limits("llm=8, rpm=120/60,, tpm = 300000 / 60")
    assert pools == {"llm": 8.0} and rates == {"rpm": RateLimit(120, per_s=60), "tpm": RateLimit(300000, per_s=60)}
    assert parse_limits("") == ({}, {})
    for bad in ("llm", "llm=0", "llm=-1", "rpm=1/0", "a b=2", "x=nan", "x=inf", "=3", "x=1/2/3"):
        with pytest.raises(ConfigError, match=f"limits: {bad!r} is not NAME=N .* or NAME=N/S"):
            parse_limits(bad)
    with pytest.raises(ConfigError, match="'x' is given twice"):
        parse_limits("x=1, x=2/3")


@pytest.mark.slow
def test_a_cut_short_compare_run_with_task_resources_resumes_with_them(tmp_path):
    from conftest import cut_journal

    import swarmlab as sl
    from swarmlab.store.runs import RunStore

    store = RunStore(tmp_path / "runs")
    wl = needing(io(30, seed=4, mean_s=0.01), {"llm": 1})
    compare(wl, algorithms=["least_loaded"], modes=["asyncio"], repeats=1, baseline=False, warmup=False, store=store,
            limits=ResourceLimits(pools={"llm": 2}, max_cpu_percent=None, max_memory_mb=None))
    run_id, _ = cut_journal(store, 11)  # as if killed after 11 tasks completed
    rec = sl.resume(run_id, store)
    assert rec.meta["resumed_tasks"] == 19
    ev = rec.events
    after = ev[ev["seq"] > ev.loc[ev["event"] == "resumed", "seq"].iloc[0]]
    # the tasks run again need the pool too: 19 tasks on 8 agents, 2 at a time, are held back for it
    held = after[after["event"] == "held"]
    assert len(held) > 0 and set(held["detail"]) == {"llm"}


def test_the_units_calls_took_count_in_the_bounds():
    """llm_swarm's tasks take the provider's units per call (swarmlab.call), not per
    task: the request rate that binds it is found from what the calls took."""
    from swarmlab.analysis.figures import name_bound

    from swarmlab.workloads import llm_swarm

    wl = llm_swarm(30, seed=0, tier=0.5)  # 20 requests per 2 s
    rec = simulate(wl.tasks(), wl.agents, limits=wl.limits_with(None))
    name_bound(rec)
    n_calls = sum(len(m["calls"]) for m in wl.task_meta.values())
    assert rec.meta["resources"]["calls"]["rate_units"]["rpm"] == n_calls
    assert rec.meta["lower_bound"]["bound_by"] == "rate rpm"
    assert rec.meta["lower_bound"]["lower_bound_s"] == pytest.approx((n_calls - 20) / 10)
    assert rec.tasks["finished_s"].max() >= rec.meta["lower_bound"]["lower_bound_s"]
