"""Scheduling you can trust (issue 13): each algorithm is itself, stealing is a plugin that
aging never switches off, policies are configuration, nothing is capped unseen. Virtual
time, deterministic, unless a real executor is the point."""

import random
import subprocess
import sys

import pytest

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, SchedulingAlgorithm, Task, TaskScheduler, simulate, workloads
from swarmlab.errors import ConfigError
from swarmlab.scheduling import Policy, RankedPolicy, Stealing, StealingState, register_policy

ALGORITHMS = [a.value for a in SchedulingAlgorithm]


def heavy_tailed(n=2000, seed=7):
    """The issue's case: Pareto(1.5) durations capped at 30 s."""
    rng = random.Random(seed)
    return [Task(None, estimate_s=min(30.0, rng.paretovariate(1.5))) for _ in range(n)]


def lower_bound(tasks, agents):
    work = sum(t.estimate_s for t in tasks)
    return max(work / sum(a.capacity * a.speed for a in agents), max(t.estimate_s for t in tasks))


def stolen(rec):
    return int((rec.events["event"] == "stolen").sum())


class Fewest(Policy):
    """A user's policy: the fewest tasks queued and running."""

    name = "fewest_tasks"

    def choose(self, task, candidates):
        return min(candidates, key=lambda a: (a.queued + a.running, a.idx))


class NearestLoad(RankedPolicy):
    name = "nearest_load"

    def key(self, requires):
        return lambda s: (round(s.load, 3), -s.idx)


# ---------------------------------------------------------------- stealing and aging
def test_aging_never_blocks_a_steal():
    """Waiting tasks age (default 60 s a level) yet stay stealable: stealability is the
    declared priority band, aging only orders starts."""
    agents = [Agent(f"a{i}") for i in range(16)]
    tasks = heavy_tailed()
    rr = simulate(tasks, agents, scheduler=TaskScheduler("round_robin"))
    for t in tasks:
        t.id = None
    rr_steal = simulate(tasks, agents, scheduler=TaskScheduler("round_robin", enable_work_stealing=True))
    assert rr.meta["aging_s"] == rr_steal.meta["aging_s"] == 60.0
    assert stolen(rr) == 0
    assert stolen(rr_steal) > 50
    lb = lower_bound(tasks, agents)
    assert rr_steal.tasks["finished_s"].max() < rr.tasks["finished_s"].max()
    assert rr_steal.tasks["finished_s"].max() <= 1.05 * lb
    # every stolen task kept its declared (low) priority
    ids = set(rr_steal.events.loc[rr_steal.events["event"] == "stolen", "task_id"])
    assert set(rr_steal.final().set_index("task_id").loc[sorted(ids), "priority"]) == {1}


def test_work_stealing_with_the_defaults_is_near_the_lower_bound():
    agents = [Agent(f"a{i}") for i in range(16)]
    tasks = heavy_tailed()
    ws = simulate(tasks, agents, scheduler=TaskScheduler("work_stealing"))
    assert ws.meta["work_stealing"] and ws.meta["stealing"] == "most_loaded_first"
    assert ws.tasks["finished_s"].max() <= 1.05 * lower_bound(tasks, agents)


def test_aging_orders_starts_without_promotions():
    """One rank per placement: no 'aged' events, the declared priority is recorded."""
    stream = [Task(None, id=f"n{i}", estimate_s=1.0, priority=5, dependencies=[f"n{i - 1}"] if i else [])
              for i in range(40)]
    low = Task(None, id="low", estimate_s=1.0, priority=1)
    rec = simulate([low, *stream], [Agent("solo")], scheduler=TaskScheduler("least_loaded", aging_s=5.0))
    f = rec.final().set_index("task_id")
    assert f.loc["low", "started_s"] == 20.0  # ranks with priority-5 work readied 4 x 5 s later
    assert f.loc["low", "priority"] == 1
    assert not (rec.events["event"] == "aged").any()


# ---------------------------------------------------------------- each algorithm is itself
def test_only_work_stealing_and_heft_steal_unless_asked():
    agents = [Agent("slow"), Agent("fast")]

    def durations(task, agent, attempt, rng):
        return task.estimate_s * (4 if agent.id == "slow" else 1)

    for alg in ALGORITHMS:
        tasks = [Task(None, estimate_s=1.0) for _ in range(12)]
        rec = simulate(tasks, agents, scheduler=TaskScheduler(alg), durations=durations)
        steals = alg in ("work_stealing", "heft")
        assert rec.meta["work_stealing"] is steals, alg
        assert (stolen(rec) > 0) is steals, alg
        for t in tasks:
            t.id = None
        asked = simulate(tasks, agents, scheduler=TaskScheduler(alg, enable_work_stealing=True), durations=durations)
        assert asked.meta["work_stealing"] and stolen(asked) > 0, alg


def test_work_stealing_places_as_dynamic():
    rng = random.Random(1)
    caps = ["a", "b", "c"]
    agents = [Agent(f"x{i}", capabilities=set(rng.sample(caps, 2)), speed=rng.choice([0.5, 1, 2])) for i in range(6)]
    tasks = [Task(None, estimate_s=rng.uniform(0.1, 3), priority=rng.randint(1, 10),
                  requires={rng.choice(caps)} if rng.random() < 0.4 else ()) for _ in range(200)]
    ws = TaskScheduler("work_stealing").schedule_tasks(tasks, agents)
    dyn = TaskScheduler("dynamic").schedule_tasks(tasks, agents)
    assert {a.id: [id(t) for t in ts] for a, ts in ws.items()} == {a.id: [id(t) for t in ts] for a, ts in dyn.items()}


def test_the_main_jobs_workload_gets_a_different_placement_per_algorithm():
    wl = workloads.mixed(120)
    placements = {}
    for alg in ALGORITHMS:
        f = simulate(wl.tasks(), wl.agents, scheduler=TaskScheduler(alg)).final().sort_values("task_id")
        placements[alg] = tuple(f["agent_id"])
    assert len(set(placements.values())) == len(ALGORITHMS) == 7, {a: hash(p) for a, p in placements.items()}


# ---------------------------------------------------------------- policies are configuration
def test_one_policy_object_drives_many_runs_like_fresh_ones():
    wl = workloads.capability_mix(200, seed=3)
    for alg in ALGORITHMS:
        shared = TaskScheduler(alg)
        runs = [simulate(wl.tasks(), wl.agents, scheduler=shared, seed=1) for _ in range(2)]
        fresh = simulate(wl.tasks(), wl.agents, scheduler=TaskScheduler(alg), seed=1)
        for rec in runs:
            assert rec.tasks.drop(columns="run_id").equals(fresh.tasks.drop(columns="run_id")), alg
            assert rec.meta["scheduling_metrics"]["total_scheduled"] == 200
    # the policy object itself holds no run state
    p = sl.scheduling.LeastLoaded()
    before = dict(vars(p))
    simulate(wl.tasks(), wl.agents, scheduler=p)
    assert vars(p) == before


def test_a_shared_scheduler_in_two_concurrent_real_runs():
    sched = TaskScheduler("least_loaded")

    async def one(prefix):
        agents = [Agent(f"{prefix}{i}") for i in range(3)]
        async with sl.ParallelExecutor(mode="asyncio", agents=agents, scheduler=sched) as ex:
            async def body(i):
                await sl.workloads.io_wait_async(0.002)
                return i
            await ex.submit_batch([Task(body, (i,)) for i in range(30)])
        return ex.record()

    async def main():
        import asyncio

        return await asyncio.wait_for(asyncio.gather(one("p"), one("q")), 60)

    recs = sl.run(main())
    for rec, prefix in zip(recs, "pq"):
        f = rec.final()
        assert (f["status"] == "completed").all() and len(f) == 30
        assert f["agent_id"].str.startswith(prefix).all()
        assert rec.meta["scheduling_metrics"]["total_scheduled"] == 30


def test_a_policy_returning_a_foreign_candidate_is_named():
    class Rogue(Policy):
        name = "rogue"

        def choose(self, task, candidates):
            return candidates[0].agent  # the Agent, not its view

    with pytest.raises(ConfigError, match=r"policy 'rogue'.*returned Agent\(.*task 'task-0'.*candidates"):
        simulate([Task(None, estimate_s=1.0)], [Agent("a")], scheduler=Rogue())

    class Lacking(Policy):
        name = "lacking"

        def choose(self, task, candidates):
            return self.other

    a = Agent("a")
    lacking = Lacking()
    rec_agents = [a, Agent("gpu", capabilities={"gpu"})]
    # another run's view of an agent is not a candidate either
    other_state = sl.scheduling.AgentSlot(a, 0)
    lacking.other = other_state
    with pytest.raises(ConfigError, match="lacking"):
        simulate([Task(None, estimate_s=1.0, requires={"gpu"})], rec_agents, scheduler=lacking)


def test_a_foreign_candidate_in_a_real_run_fails_that_task_and_loses_none():
    class Rogue(Policy):
        name = "rogue"

        def choose(self, task, candidates):
            return "agent-0"

    async def main():
        async with sl.ParallelExecutor(mode="asyncio", agents=[Agent("agent-0")], scheduler=Rogue()) as ex:
            async def body():
                return 1
            with pytest.raises(ConfigError, match="'rogue'.*'agent-0'"):
                await ex.submit_task(Task(body, id="t"))
            assert await ex.wait_for_completion(5)
        return ex.record()

    f = sl.run(main()).final().set_index("task_id")
    assert f.loc["t", "status"] == "failed" and f.loc["t", "error_type"] == "policy_error"


# ---------------------------------------------------------------- one registry
def test_a_user_policy_is_accepted_everywhere(tmp_path):
    tasks = [Task(None, estimate_s=1.0) for _ in range(6)]
    rec = simulate(tasks, [Agent("a"), Agent("b")], scheduler=Fewest())
    assert rec.meta["algorithm"] == "fewest_tasks"
    assert rec.final()["agent_id"].value_counts().to_dict() == {"a": 3, "b": 3}
    s = TaskScheduler(Fewest(), enable_work_stealing=True)
    assert s.algorithm == "fewest_tasks" and s.policy.stealing is not None
    ranked = simulate([Task(None, estimate_s=1.0) for _ in range(4)], [Agent("a"), Agent("b")], scheduler=NearestLoad())
    assert set(ranked.final()["agent_id"]) == {"a", "b"}

    from swarmlab import compare

    result = compare(workloads.io(20), algorithms=[Fewest(), "round_robin"], modes=[], simulate=True,
                                repeats=1, baseline=False, add_stealing=True)
    labels = set(result.per_run["algorithm"])
    assert labels == {"fewest_tasks", "fewest_tasks+stealing", "round_robin", "round_robin+stealing"}
    steal = result.per_run.set_index("algorithm")["stealing"].to_dict()
    assert steal == {"fewest_tasks": False, "fewest_tasks+stealing": True, "round_robin": False,
                     "round_robin+stealing": True}
    assert "stolen" in set(result.summary["metric"]) and "stealing" in result.summary.columns

    # the command line takes module:Class from the folder it runs in
    (tmp_path / "mypolicies.py").write_text(
        "import swarmlab\n"
        "class Fewest(swarmlab.Policy):\n"
        "    name = 'fewest_tasks'\n"
        "    def choose(self, task, candidates):\n"
        "        return min(candidates, key=lambda a: (a.queued + a.running, a.idx))\n")
    out = subprocess.run([sys.executable, "-m", "swarmlab", "simulate", "--tasks", "200", "--algorithms",
                          "round_robin,mypolicies:Fewest", "--add-stealing"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for label in ("round_robin", "round_robin+stealing", "fewest_tasks", "fewest_tasks+stealing"):
        assert label in out.stdout
    bad = subprocess.run([sys.executable, "-m", "swarmlab", "simulate", "--algorithms", "nosuch:Thing"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "nosuch:Thing" in bad.stderr and "Traceback" not in bad.stderr


def test_registered_policies_are_listed_by_name():
    register_policy(Fewest)
    try:
        assert "fewest_tasks" in sl.scheduling.policy_names()
        rec = simulate([Task(None, estimate_s=1.0)], [Agent("a")], scheduler="fewest_tasks")
        assert rec.meta["algorithm"] == "fewest_tasks"
        pytest.importorskip("ipywidgets")
        from swarmlab.ui.widgets import ExperimentPanel

        panel = ExperimentPanel(algorithms=["fewest_tasks"])
        assert "fewest_tasks" in panel.algorithms.options and ALGORITHMS[0] in panel.algorithms.options
    finally:
        sl.scheduling.POLICIES.pop("fewest_tasks", None)
    with pytest.raises(ConfigError, match="built-in"):
        register_policy(type("RR", (Policy,), {"name": "round_robin", "choose": Fewest.choose}))


# ---------------------------------------------------------------- stealing is a plugin
def test_another_stealing_strategy_needs_no_dispatcher_change():
    """A strategy that steals the victim's *last* stealable task, from the agent that
    waits longest: written against the hooks alone."""
    seen = []

    class LastFirstState(StealingState):
        def slot_free(self, slot, now):
            seen.append("slot_free")
            victims = [s for s in self.pool.slots if s is not slot and s.queued]
            for victim in sorted(victims, key=lambda s: -s.queued):
                mine = [st for st in self.pool.waiting(victim) if self.stealable(st, slot)]
                if mine:
                    self.pool.move(mine[-1], slot, now)
                    return

    class LastFirst(Stealing):
        name = "last_first"

        def bind(self, pool):
            return LastFirstState(self, pool)

    agents = [Agent("slow"), Agent("fast")]

    def durations(task, agent, attempt, rng):
        return task.estimate_s * (4 if agent.id == "slow" else 1)

    tasks = [Task(None, id=f"t{i}", estimate_s=1.0) for i in range(8)]
    policy = sl.scheduling.RoundRobin().with_options(stealing=LastFirst())
    rec = simulate(tasks, agents, scheduler=policy, durations=durations)
    ev = rec.events[rec.events["event"] == "stolen"]
    assert "slot_free" in seen and len(ev) > 0
    assert ev["task_id"].iloc[0] == "t6"  # slow's queue t0 t2 t4 t6: the last one went first
    assert rec.meta["stealing"] == "last_first"


# ---------------------------------------------------------------- no silent caps
def test_defaults_do_not_cap_50_agents_of_capacity_2():
    agents = [Agent(f"a{i}", capacity=2) for i in range(50)]
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(200)], agents)
    assert rec.tasks["finished_s"].max() == 2.0  # 100 at a time
    assert rec.meta["limits"]["max_concurrent_tasks"] is None and rec.meta["max_concurrent_tasks"] == 100
    assert not (rec.events["event"] == "capped").any()
    assert ResourceLimits().max_concurrent_tasks is None
    ex = sl.ParallelExecutor(mode="thread", agents=agents)
    assert ex.meta["max_concurrent_tasks"] == 100
    assert len(sl.ParallelExecutor(mode="thread").agents) == 10


def test_a_cap_that_binds_is_in_the_meta_and_an_event():
    agents = [Agent(f"a{i}", capacity=2) for i in range(5)]
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(30)], agents,
                   limits=ResourceLimits(max_concurrent_tasks=4, task_timeout=None))
    assert rec.meta["max_concurrent_tasks"] == 4
    capped = rec.events[rec.events["event"] == "capped"]
    assert len(capped) == 1 and "max_concurrent_tasks=4" in capped["detail"].iloc[0]
    assert rec.tasks["finished_s"].max() == 8.0


def test_a_3600_s_simulated_task_completes():
    rec = simulate([Task(None, estimate_s=3600.0), Task(None, estimate_s=1300.0)])
    assert set(rec.final()["status"]) == {"completed"}
    assert rec.meta["limits"]["task_timeout"] is None
    # a limit given is a limit kept, and it says so
    cut = simulate([Task(None, estimate_s=3600.0)], limits=ResourceLimits())
    assert cut.final()["status"].tolist() == ["timed_out"] and cut.meta["limits"]["task_timeout"] == 300


# ---------------------------------------------------------------- capability match measures fit
def test_capability_match_score_is_one_for_exact_fits():
    agents = [Agent("gpu", capabilities={"gpu"}), Agent("plain")]
    tasks = [Task(None, estimate_s=1.0, requires={"gpu"})] * 1 + [Task(None, estimate_s=1.0)]
    rec = simulate(tasks, agents, scheduler=TaskScheduler("capability_based"))
    assert rec.meta["scheduling_metrics"]["capability_match_score"] == 1.0
    spent = simulate([Task(None, estimate_s=1.0) for _ in range(2)], [Agent("gpu", capabilities={"gpu", "web"}),
                     Agent("plain")], scheduler=TaskScheduler("round_robin"))
    assert spent.meta["scheduling_metrics"]["capability_match_score"] == pytest.approx((1 + 1 / 3) / 2)


def test_capability_based_fits_better_than_round_robin_on_capability_mix():
    wl = workloads.capability_mix(240, seed=2)
    score = {alg: simulate(wl.tasks(), wl.agents, scheduler=TaskScheduler(alg)).meta["scheduling_metrics"][
        "capability_match_score"] for alg in ("round_robin", "capability_based")}
    assert score["capability_based"] > score["round_robin"]
