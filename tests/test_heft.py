"""HEFT (issue 17): upward ranks, start order, earliest-finish placement, on virtual time."""

import dataclasses
import random

import pytest

import swarmlab as sl
from swarmlab import Agent, SchedulingAlgorithm, Task, TaskScheduler, simulate
from swarmlab.scheduling.dag import list_schedule, upward_ranks
from swarmlab.workloads import from_wfformat, wfformat_instance, wfformat_runtimes


def layered(seed, n_layers=6, width=(4, 40), fan=3):
    """Montage-like: wide layers of independent tasks joined by narrow merge layers."""
    rng = random.Random(seed)
    tasks, prev = [], []
    for layer in range(n_layers):
        cur = []
        for _ in range(rng.randint(*width) if layer % 2 == 0 else rng.randint(1, 4)):
            deps = rng.sample(prev, min(len(prev), rng.randint(1, fan))) if prev else []
            t = Task(None, id=f"t{len(tasks)}", estimate_s=round(rng.uniform(1, 30), 3), dependencies=deps)
            tasks.append(t)
            cur.append(t.id)
        prev = cur
    return tasks


def fork_join(seed, width=50):
    rng = random.Random(seed)
    mids = [Task(None, id=f"m{i}", estimate_s=round(rng.uniform(1, 40), 3), dependencies=["src"]) for i in range(width)]
    return [Task(None, id="src", estimate_s=2.0), *mids,
            Task(None, id="sink", estimate_s=3.0, dependencies=[m.id for m in mids])]


def chains(seed, n=12, length=8):
    rng = random.Random(seed)
    out = []
    for c in range(n):
        for j in range(rng.randint(1, length)):
            out.append(Task(None, id=f"c{c}_{j}", estimate_s=round(rng.uniform(1, 10), 3),
                            dependencies=[f"c{c}_{j - 1}"] if j else []))
    return out


def diamonds(seed, n=10):
    rng = random.Random(seed)
    out = []
    for d in range(n):
        top, left, right, bottom = (f"d{d}{x}" for x in "tlrb")
        out += [Task(None, id=top, estimate_s=rng.uniform(1, 5)),
                Task(None, id=left, estimate_s=rng.uniform(1, 20), dependencies=[top]),
                Task(None, id=right, estimate_s=rng.uniform(1, 20), dependencies=[top]),
                Task(None, id=bottom, estimate_s=rng.uniform(1, 5), dependencies=[left, right])]
    return out


FAMILIES = {"montage_like": layered, "fork_join": fork_join, "chains": chains, "diamonds": diamonds}


def makespan(rec):
    return float(rec.tasks["finished_s"].max())


def test_upward_ranks_are_the_longest_path_to_an_exit():
    rng = random.Random(5)
    for _ in range(30):
        n = rng.randint(1, 25)
        deps = [rng.sample(range(i), rng.randint(0, min(i, 3))) for i in range(n)]
        w = [rng.uniform(0.1, 5) for _ in range(n)]
        kids = [[j for j in range(n) if i in deps[j]] for i in range(n)]

        def longest(i):  # brute force: every path from i to an exit
            return w[i] + max((longest(k) for k in kids[i]), default=0.0)

        assert upward_ranks(w, deps) == pytest.approx([longest(i) for i in range(n)])


def test_the_higher_upward_rank_starts_first():
    # one agent: 'short' was submitted first, but 'head' unlocks a long chain
    tasks = [Task(None, id="short", estimate_s=1.0), Task(None, id="head", estimate_s=1.0),
             Task(None, id="tail", estimate_s=9.0, dependencies=["head"])]
    f = simulate(tasks, [Agent("solo")], scheduler="heft").final().set_index("task_id")
    # head (rank 10), then tail (rank 9, ready at 1 s), then short (rank 1)
    assert (f.loc["head", "started_s"], f.loc["tail", "started_s"], f.loc["short", "started_s"]) == (0.0, 1.0, 10.0)
    lazy = simulate([Task(None, id="short", estimate_s=1.0), Task(None, id="head", estimate_s=1.0),
                     Task(None, id="tail", estimate_s=9.0, dependencies=["head"])], [Agent("solo")],
                    scheduler="least_loaded").final().set_index("task_id")
    assert lazy.loc["short", "started_s"] == 0.0


def test_critical_work_still_leads_under_heft():
    tasks = [Task(None, id="long", estimate_s=1.0), Task(None, id="x", estimate_s=50.0, dependencies=["long"]),
             Task(None, id="urgent", estimate_s=1.0, priority=10)]
    f = simulate(tasks, [Agent("solo")], scheduler="heft").final().set_index("task_id")
    assert f.loc["urgent", "started_s"] == 0.0


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_heft_matches_the_bottom_level_list_schedule_on_identical_agents(family):
    for seed in range(3):
        ref = list_schedule(FAMILIES[family](seed), 16)
        got = makespan(simulate(FAMILIES[family](seed), [Agent(f"a{i}") for i in range(16)], scheduler="heft"))
        assert got <= 1.02 * ref, (family, seed, got, ref)


@pytest.mark.parametrize("family", ["montage_like", "fork_join", "diamonds"])
def test_heft_beats_dynamic_on_heterogeneous_agents(family):
    def pool():
        return [Agent(f"a{i}", speed=(0.5, 1.0, 2.0, 4.0)[i % 4]) for i in range(16)]

    for seed in range(3):
        heft = makespan(simulate(FAMILIES[family](seed), pool(), scheduler="heft"))
        dyn = makespan(simulate(FAMILIES[family](seed), pool(), scheduler="dynamic"))
        assert heft < dyn, (family, seed, heft, dyn)


def test_a_slow_idle_agent_does_not_steal_what_a_fast_one_finishes_first():
    # the fast agent holds two 4 s tasks (1 s each at speed 4); the slow one, idle, would need 8 s
    tasks = [Task(None, id=f"t{i}", estimate_s=4.0) for i in range(2)]
    rec = simulate(tasks, [Agent("fast", speed=4.0), Agent("slow", speed=0.5)], scheduler="heft")
    assert not (rec.events["event"] == "stolen").any()
    assert set(rec.final()["agent_id"]) == {"fast"} and makespan(rec) == 2.0
    assert rec.meta["stealing"] == "highest_rank" and rec.meta["aging_s"] is None


def test_heft_is_everywhere_an_algorithm_is():
    assert SchedulingAlgorithm.HEFT.value == "heft"
    assert TaskScheduler("heft").enable_work_stealing
    tasks = diamonds(1, n=3)
    plan = TaskScheduler("heft").schedule_tasks(tasks, [Agent("a"), Agent("b")])
    assert sum(len(v) for v in plan.values()) == len(tasks)

    async def main():
        async def body(x):
            return x

        async with sl.ParallelExecutor(mode="asyncio", agents=[Agent("a"), Agent("b")], scheduler="heft") as ex:
            ids = await ex.submit_batch([Task(body, (i,), id=f"r{i}", estimate_s=0.001,
                                              dependencies=[f"r{i - 1}"] if i % 3 else []) for i in range(9)])
            await ex.wait_for_completion(30)
            res = await ex.get_all_results()
        return [res[i].value for i in ids]

    assert sl.run(main()) == list(range(9))


def test_list_schedule_reference():
    chain = [Task(None, id=f"c{i}", estimate_s=2.0, dependencies=[f"c{i - 1}"] if i else []) for i in range(3)]
    assert list_schedule(chain, 4) == 6.0
    assert list_schedule([Task(None, estimate_s=1.0) for _ in range(5)], 2) == 3.0
    with pytest.raises(sl.ConfigError, match="agents"):
        list_schedule(chain, 0)
    with pytest.raises(sl.ConfigError, match="agents"):
        list_schedule(chain, ["a"])


@pytest.mark.parametrize("law", ["sizes", "apart", "mixed"])
@pytest.mark.parametrize("shape", ["montage_like", "fork_join"])
def test_heft_on_durations_learned_from_a_sibling_is_within_10_percent_of_the_truth(shape, law):
    # both kinds of trace: runtimes that follow the input sizes (with noise), runtimes drawn
    # apart from them, and kinds of both; trained on one instance, used on its sibling
    # with no estimates
    a, b = (from_wfformat(wfformat_runtimes(wfformat_instance(shape, 200, seed=s), law, seed=s), agents=8)
            for s in (0, 1))
    est = sl.learn_durations(simulate(a.tasks(), a.agents, scheduler="heft"), facts=a.task_meta)
    assert bool(est.kind_models) == (law != "apart")
    truth = {t.id: t.estimate_s for t in b.tasks()}
    blind = [dataclasses.replace(t, estimate_s=None) for t in b.tasks()]
    learned = simulate(blind, b.agents, scheduler="heft", estimator=est.with_facts(b.task_meta),
                       durations=lambda t, ag, k, rng: truth[t.id] / ag.speed)
    assert set(learned.tasks["estimate_source"]) == {"learned"}
    assert makespan(learned) <= 1.10 * makespan(simulate(b.tasks(), b.agents, scheduler="heft"))
