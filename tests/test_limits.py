"""Bounds that know the limits, the resource table and the limits' text (issue 24, items 9-10)."""

import pytest

from swarmlab import simulate
from swarmlab.analysis.figures import quality
from swarmlab.experiments.comparison import compare
from swarmlab.model import Agent, RateLimit, ResourceLimits, Task
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
    bound = rec.meta["lower_bound"]
    assert bound["bound_by"] == "rate rpm" and bound["bound_by_limit"] == "rate rpm (120 per 60 s)"
    assert bound["lower_bound_s"] == pytest.approx(150.0)
    assert bound["bounds_s"]["work over agents"] == pytest.approx(420 / 32)
    assert q["makespan_s"] >= bound["lower_bound_s"]


def test_a_pool_that_binds_is_its_unit_seconds_over_its_size():
    # 60 tasks of 2 s holding 2 units of a pool of 6: 240 unit-seconds / 6 = 40 s
    tasks = [Task(None, estimate_s=2.0, resources={"llm": 2}) for _ in range(60)]
    rec = simulate(tasks, [Agent(f"a{i}") for i in range(16)], limits=ResourceLimits(pools={"llm": 6}))
    assert rec.meta["lower_bound"]["bound_by"] == "pool llm"
    assert rec.meta["lower_bound"]["lower_bound_s"] == pytest.approx(60 * 2 * 2 / 6)
    assert quality(rec)["makespan_s"] == pytest.approx(40.0)  # three at a time, twenty rounds: the bound is met


def test_agent_units_bound_over_the_units_the_agents_hold():
    # 10 gpu tasks of 3 s; 2 of the 4 agents hold one gpu each: 30 gpu-seconds / 2 = 15 s,
    # above the 30 s of work over 4 agents (7.5 s)
    agents = [Agent("g0", resources={"gpu": 1}), Agent("g1", resources={"gpu": 1}), Agent("c0"), Agent("c1")]
    tasks = [Task(None, estimate_s=3.0, resources={"gpu": 1}) for _ in range(10)]
    rec = simulate(tasks, agents)
    assert rec.meta["lower_bound"]["bound_by"] == "agent gpu"
    assert rec.meta["lower_bound"]["lower_bound_s"] == pytest.approx(15.0)


def test_without_limits_the_bound_is_the_work_or_the_critical_path_and_meta_is_untouched():
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(8)], [Agent("a"), Agent("b")])
    assert "lower_bound" not in rec.meta
    q = quality(rec)
    assert q["bound_by"] == "work over agents" and q["lower_bound_s"] == pytest.approx(4.0)


def test_a_comparison_bound_by_one_limit_says_so_in_its_report():
    wl = needing(io(60, seed=1, mean_s=0.5, agents=8), {"rpm": 1})
    limits = ResourceLimits(rates={"rpm": RateLimit(10, per_s=1)})  # 50 beyond the bucket at 10 a second
    result = compare(wl, algorithms=["round_robin", "least_loaded"], modes=(), simulate=True, repeats=2,
                     limits=limits, baseline=False)
    lines = result.report()
    said = [line for line in lines if "bound by" in line]
    assert said == ["every set-up is bound by rate rpm (10 per 1 s): none can finish under 5 s "
                    "(the least lower bound of the runs); compare them on cost, not makespan"]
    free = compare(io(60, seed=1, mean_s=0.5, agents=8), algorithms=["round_robin", "least_loaded"], modes=(),
                   simulate=True, repeats=2, baseline=False)
    assert not [line for line in free.report() if "bound by" in line]
