"""The llm_swarm workload: objectives of agent tasks calling a local fake provider (issue 25, item 2)."""

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import ResourceLimits
from swarmlab.workloads import llm_swarm, make


def test_objectives_are_planner_workers_reviewer_on_two_roles_and_seeded():
    wl = llm_swarm(23, seed=4)
    tasks = wl.tasks()
    assert len(tasks) == wl.n == 23
    by_id = {t.id: t for t in tasks}
    for t in tasks:
        if t.name == "plan":
            assert t.dependencies == () and t.requires == frozenset({"lead"})
        elif t.name == "work":
            assert len(t.dependencies) == 1 and by_id[t.dependencies[0]].name == "plan"
            assert t.requires == frozenset({"worker"})
        else:
            assert t.name == "review" and all(by_id[d].name in ("work", "plan") for d in t.dependencies)
    assert {a.id.split("-")[0] for a in wl.agents} == {"lead", "worker"}
    calls = [c for m in wl.task_meta.values() for c in m["calls"]]
    assert wl.meta["expected_tokens"] == sum(a + b for a, b, _ in calls)
    again = make("llm_swarm", 23, seed=4, **wl.options)
    assert again.task_meta == wl.task_meta
    assert again.options == {"declare_limits": True, "tier": 1.0, "agents": 8, "draws": None}
    assert llm_swarm(23, seed=5).task_meta != wl.task_meta


def test_tiers_scale_the_provider_and_declared_limits_are_its_pools_and_rates():
    wl = llm_swarm(10, tier=2)
    assert wl.limits.pools == {"llm": 8} and wl.limits.rates["rpm"].limit == 80
    assert llm_swarm(10, declare_limits=False).limits is None
    mine = ResourceLimits(task_timeout=5, pools={"llm": 1})
    merged = wl.limits_with(mine)
    assert merged.pools == {"llm": 1} and merged.task_timeout == 5 and set(merged.rates) == {"rpm", "tpm"}


@pytest.mark.parametrize("kw, match", [({"declare_limits": "yes"}, "declare_limits"), ({"tier": 0}, "tier"),
                                       ({"agents": 1}, "at least 2 agents"), ({"seed": 1.5}, "seed")])
def test_bad_options_are_refused(kw, match):
    with pytest.raises(sl.ConfigError, match=match):
        llm_swarm(10, **kw)


def _run(wl, mode):
    tasks = wl.tasks("async" if mode == "asyncio" else "sync")
    provider = tasks[0].args[0]

    async def main():
        limits = wl.limits_with(ResourceLimits(task_timeout=60, max_cpu_percent=None, max_memory_mb=None))
        async with sl.ParallelExecutor(mode, limits=limits, agents=wl.agents) as ex:
            await ex.submit_batch(tasks)
            assert await ex.wait_for_completion(120)
            return ex.record()

    return run(main()), provider


def test_declared_limits_mean_no_429_and_every_token_is_paid_once():
    wl = llm_swarm(20, seed=1)
    rec, provider = _run(wl, "asyncio")
    t = rec.tasks
    assert t["status"].eq("completed").all() and len(t) == 20
    assert sum(provider.refused.values()) == 0
    assert t["tokens"].sum() == provider.billed_tokens == wl.meta["expected_tokens"]
    assert t["cost_usd"].sum() == pytest.approx(provider.billed_usd)


def test_undeclared_limits_draw_429s_each_retried_alone_so_nothing_is_paid_twice():
    wl = llm_swarm(20, seed=1, declare_limits=False, tier=0.5)  # 2 calls in flight, 20 requests per 2 s
    rec, provider = _run(wl, "thread")
    t = rec.tasks
    assert t["status"].eq("completed").all() and len(t) == 20  # no task ran twice
    refused = sum(provider.refused.values())
    assert refused > 0 and t["n_rate_limited"].fillna(0).sum() == refused
    assert t["tokens"].sum() == provider.billed_tokens == wl.meta["expected_tokens"]


def test_each_repeat_of_a_comparison_draws_its_own_calls_the_same_on_both_clocks():
    wl = llm_swarm(20, seed=3)
    again = wl.redraw(7)
    assert [t.id for t in again.tasks()] == [t.id for t in wl.tasks()]  # the same objectives
    assert again.task_meta != wl.task_meta and again.options["draws"] == 7
    result = sl.compare(wl, algorithms=["round_robin"], modes=[], simulate=True, repeats=3, warmup=False,
                        baseline=False)
    runs = [r for r in result.runs if r.meta.get("role") == "measured"]
    tokens = [r.tasks["tokens"].sum() for r in runs]
    assert len(set(tokens)) == 3  # simulated repeats differ as real ones do
