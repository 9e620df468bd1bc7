"""The six algorithms, work stealing, aging and the TaskScheduler API, on virtual time."""

import random

import pytest

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, SchedulingAlgorithm, Task, TaskScheduler, simulate
from swarmlab.scheduling import POLICIES

ALGORITHMS = [a.value for a in SchedulingAlgorithm]


def T(est=1.0, **kw):
    return Task(None, estimate_s=est, **kw)


def assigned(rec):
    ev = rec.events
    return list(ev.loc[ev["event"] == "assigned", "agent_id"])


def by_id(rec):
    return rec.final().set_index("task_id")


def test_every_algorithm_is_reachable_by_enum_name_and_class():
    for alg in SchedulingAlgorithm:
        assert TaskScheduler(alg).policy.name == alg.value
        assert TaskScheduler(alg.value).algorithm is alg
        assert POLICIES[alg.value]().name == alg.value
    with pytest.raises(sl.ConfigError, match="scheduling algorithm must be one of"):
        TaskScheduler("fastest")


def test_round_robin_cycles():
    rec = simulate([T() for _ in range(6)], [Agent("a"), Agent("b"), Agent("c")],
                   scheduler=TaskScheduler("round_robin", enable_work_stealing=False))
    assert assigned(rec) == ["a", "b", "c", "a", "b", "c"]


def test_least_loaded_prefers_the_idle_agent():
    tasks = [T(10.0, id="long"), T(1.0, id="x"), T(1.0, id="y")]
    rec = simulate(tasks, [Agent("a"), Agent("b")], scheduler="least_loaded")
    t = by_id(rec)
    assert t.loc["long", "agent_id"] != t.loc["x", "agent_id"]
    assert t.loc["y", "agent_id"] == t.loc["x", "agent_id"]  # estimate-weighted: 1 + 1 < 10


def test_least_loaded_counts_agent_speed():
    rec = simulate([T(1.0) for _ in range(5)], [Agent("slow"), Agent("fast", speed=4.0)], scheduler="least_loaded")
    assert list(rec.tasks["agent_id"]).count("fast") == 4


def test_capability_based_keeps_generalists_free():
    agents = [Agent("generalist", capabilities={"web", "code"}), Agent("coder", capabilities={"code"})]
    rec = simulate([T(id="c", requires={"code"})], agents, scheduler="capability_based")
    assert by_id(rec).loc["c", "agent_id"] == "coder"


def test_capability_constraint_holds_for_every_algorithm():
    agents = [Agent("w", capabilities={"web"}), Agent("c", capabilities={"code"}), Agent("x")]
    tasks = [T(requires={"web"}) for _ in range(5)] + [T(requires={"code"}) for _ in range(5)] + [T() for _ in range(5)]
    for alg in ALGORITHMS:
        for t in tasks:
            t.id = None
        t_ = simulate(tasks, agents, scheduler=TaskScheduler(alg)).final()
        req = t_["requires"].map(frozenset)
        caps = t_["agent_id"].map({a.id: a.capabilities for a in agents})
        assert all(r <= c for r, c in zip(req, caps)), alg


def test_priority_based_gives_high_priority_to_the_best_performer():
    agents = [Agent("a"), Agent("b", speed=4.0)]
    rec = simulate([T(id="hi", priority=8)], agents, scheduler="priority_based")
    assert by_id(rec).loc["hi", "agent_id"] == "b"
    rec = simulate([T(id="lo", priority=2)], agents, scheduler="priority_based")
    assert by_id(rec).loc["lo", "agent_id"] == "a"  # least loaded, ties by pool order


def test_priority_based_ranks_by_measured_success():
    agents = [Agent("flaky"), Agent("solid")]  # equal but for what gets measured
    tasks = [T(id="w0"), T(id="w1"), T(id="hi", priority=8, dependencies=["w1"]),
             T(id="lo", priority=2, dependencies=["w1"])]
    rec = simulate(tasks, agents, scheduler="priority_based",
                   failures=lambda task, attempt: RuntimeError("flaky") if task.id == "w0" else None)
    t = by_id(rec)
    assert t.loc["w0", "agent_id"] == "flaky" and t.loc["w0", "status"] == "failed"
    # at t=1 both agents are idle; pool order would pick "flaky": measured success picks "solid"
    assert t.loc["hi", "agent_id"] == "solid" and t.loc["hi", "started_s"] == 1.0
    assert t.loc["lo", "agent_id"] == "flaky"  # normal priority: least loaded


def test_critical_task_goes_to_an_idle_agent():
    agents = [Agent("a"), Agent("b")]
    tasks = [T(5.0, id="busy"), T(1.0, id="crit", priority=10)]
    rec = simulate(tasks, agents, scheduler="priority_based")
    t = by_id(rec)
    assert t.loc["crit", "started_s"] == 0.0 and t.loc["crit", "agent_id"] == "b"


def test_dynamic_weights_are_configurable_and_checked():
    agents = [Agent("generalist", capabilities={"web", "code"}), Agent("coder", capabilities={"code"})]
    fit = TaskScheduler("dynamic", w_load=0.0, w_fit=1.0, w_perf=0.0)
    rec = simulate([T(id=f"c{i}", requires={"code"}) for i in range(3)], agents, scheduler=fit)
    assert set(rec.tasks["agent_id"]) == {"coder"}  # fit alone: never the generalist
    with pytest.raises(sl.ConfigError, match="w_fit must be a number >= 0"):
        TaskScheduler("dynamic", w_fit=-1)
    with pytest.raises(sl.ConfigError, match="takes no options"):
        TaskScheduler("round_robin", w_load=1)


def test_work_stealing_moves_work_from_a_slow_agent_to_an_idle_one():
    # "slow" is declared as fast as "fast" but takes four times longer: placement by
    # estimates splits the work evenly, and only stealing moves it back
    agents = [Agent("slow"), Agent("fast")]
    tasks = [T(1.0) for _ in range(8)]

    def durations(task, agent, attempt, rng):
        return task.estimate_s * (4 if agent.id == "slow" else 1)

    rr = simulate(tasks, agents, scheduler=TaskScheduler("round_robin"), durations=durations)
    for t in tasks:
        t.id = None
    ws = simulate(tasks, agents, scheduler=TaskScheduler("work_stealing"), durations=durations)
    stolen = ws.events[ws.events["event"] == "stolen"]
    assert len(stolen) > 0
    assert set(stolen["agent_id"]) == {"fast"} and set(stolen["detail"]) == {"slow"}
    assert ws.tasks["finished_s"].max() < rr.tasks["finished_s"].max()


def test_stealing_respects_the_band_and_capabilities():
    agents = [Agent("slow", speed=0.1, capabilities={"gpu"}), Agent("fast")]
    tasks = ([T(1.0, priority=5) for _ in range(3)] + [T(1.0, priority=1, requires={"gpu"}) for _ in range(3)]
             + [T(1.0, priority=2) for _ in range(3)])
    rec = simulate(tasks, agents, scheduler=TaskScheduler("round_robin", enable_work_stealing=True, aging_s=None))
    stolen = set(rec.events.loc[rec.events["event"] == "stolen", "task_id"])
    final = by_id(rec)
    assert stolen, "something must be stolen"
    assert all(final.loc[t, "priority"] <= 3 and not final.loc[t, "requires"] for t in stolen)
    wider = simulate([T(1.0, priority=5) for _ in range(6)], agents,
                     scheduler=TaskScheduler("round_robin", True, steal_max_priority=5, aging_s=None))
    assert (wider.events["event"] == "stolen").any()


def test_late_joining_agent_receives_work():
    tasks = [T(1.0) for _ in range(12)]
    rec = simulate(tasks, [Agent("a")], scheduler=TaskScheduler("least_loaded", enable_work_stealing=True),
                   joins=[(2.5, Agent("late"))])
    ev = rec.events
    assert ev.loc[ev["event"] == "joined", "agent_id"].tolist() == ["late"]
    late = rec.tasks[rec.tasks["agent_id"] == "late"]
    assert len(late) >= 4 and late["started_s"].min() == 2.5
    assert rec.meta["n_agents"] == 2


def test_aging_lifts_a_starved_task():
    def tasks():  # a stream of priority-5 work, one ready at a time, and one low task
        stream = [T(1.0, id=f"n{i}", priority=5, dependencies=[f"n{i - 1}"] if i else []) for i in range(20)]
        return [T(1.0, id="starved", priority=1)] + stream

    plain = by_id(simulate(tasks(), [Agent("solo")], scheduler=TaskScheduler("least_loaded", aging_s=None)))
    aged = simulate(tasks(), [Agent("solo")], scheduler=TaskScheduler("least_loaded", aging_s=3.0))
    t = by_id(aged)
    assert plain.loc["starved", "started_s"] == 20.0  # last, without aging
    # ready at 0 with priority 1, it ranks with priority-5 work readied 4 x 3 s later: it
    # ties with n12 (ready at 12 s) and its earlier readiness wins the tie
    assert t.loc["starved", "started_s"] == 12.0
    assert t.loc["starved", "priority"] == 1  # its declared priority: aging changes only the order
    assert not (aged.events["event"] == "aged").any()  # no promotions to pay for


def test_schedule_tasks_places_each_task_once_in_dependency_order():
    a = T(2.0, id="a")
    b = T(1.0, id="b", dependencies=[a], priority=9)
    c = T(1.0, id="c", priority=9)
    d = T(3.0, id="d", dependencies=["b", "c"])
    agents = [Agent("x"), Agent("y")]
    for alg in ALGORITHMS:
        s = TaskScheduler(alg)
        plan = s.schedule_tasks([d, c, b, a], agents)
        placed = [t.id for ts in plan.values() for t in ts]
        assert sorted(placed) == ["a", "b", "c", "d"], alg
        order = [t.id for t in sorted((t for ts in plan.values() for t in ts), key=lambda t: 0)]
        for ts in plan.values():
            ids = [t.id for t in ts]
            for before, after in (("a", "b"), ("b", "d"), ("c", "d")):
                if before in ids and after in ids:
                    assert ids.index(before) < ids.index(after), (alg, ids)
        assert order  # every task appears


def test_scheduling_metrics_formulas():
    s = TaskScheduler("round_robin")
    agents = [Agent("x", capabilities={"code", "web"}), Agent("y", capabilities={"code"})]
    s.schedule_tasks([T(3.0, requires={"code"}), T(1.0, requires={"code"}), T(2.0)], agents)
    m = s.get_metrics()
    # x: 3 + 2 = 5 (tasks 1 and 3), y: 1
    assert (m.total_scheduled, m.max_agent_load, m.min_agent_load) == (3, 5.0, 1.0)
    assert m.load_balance_score == pytest.approx(3.0 / 5.0)
    assert m.imbalance == pytest.approx(5.0 / 3.0 - 1)
    # fit = (1 + fewest spare capabilities in the group) / (1 + the chosen agent's spare):
    # code on x (spare 1, y spares 0): 1/2; code on y: 1; the free task on x (spare 2, y 1): 2/3
    assert m.capability_match_score == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert m.scheduling_time > 0


def test_steal_work_rebalance_and_completion_tracking():
    s = TaskScheduler("round_robin", enable_work_stealing=False)
    x, y, idle = Agent("x"), Agent("y"), Agent("idle")
    tasks = [T(1.0, id=f"t{i}", priority=1) for i in range(6)] + [T(1.0, id="hi", priority=8)]
    plan = s.schedule_tasks(tasks, [x, y, idle])
    before = {a.id: len(ts) for a, ts in plan.items()}
    got = s.steal_work(idle)
    assert got is not None and got.priority <= 3
    assert len(plan[idle]) == before["idle"] + 1
    s.rebalance_workload()
    loads = [len(ts) for ts in plan.values()]
    assert max(loads) - min(loads) <= 1
    dep = T(1.0, id="dep", dependencies=["t0", "t1"])
    assert not s.can_execute_task(dep)
    s.mark_task_completed("t0")
    s.mark_task_completed("t1")
    assert s.can_execute_task(dep)


def test_agents_are_hashable_plan_keys():
    plan = TaskScheduler("least_loaded").schedule_tasks([T()], [Agent("solo")])
    assert plan[Agent("solo")][0].estimate_s == 1.0


def test_scheduler_drives_a_real_executor():
    async def main():
        sched = TaskScheduler("work_stealing")
        agents = [Agent("a"), Agent("b", capabilities={"math"})]
        async with sl.ParallelExecutor(mode="thread", agents=agents, scheduler=sched,
                                       limits=ResourceLimits(max_concurrent_tasks=2)) as ex:
            ids = [await ex.submit_task(Task(pow, (2, i), requires={"math"} if i % 2 else ())) for i in range(6)]
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        assert [res[i].value for i in ids] == [2**i for i in range(6)]
        assert all(res[i].agent_id == "b" for i in ids[1::2])
        rec = ex.record()
        assert rec.meta["algorithm"] == "work_stealing" and set(rec.tasks["algorithm"]) == {"work_stealing"}
        assert sched.get_metrics().total_scheduled == 6

    sl.run(main())


def test_rankings_survive_many_load_changes():
    """Enough finishes between two decisions rebuild the lazy heap; decisions go on."""
    for alg in ("least_loaded", "capability_based", "priority_based", "dynamic"):
        chain = [T(0.5, id=f"c{i}", priority=5, dependencies=[f"c{i - 1}"] if i else []) for i in range(30)]
        rest = [T(0.05 + (i % 7) / 10) for i in range(1500)]
        rec = simulate(chain + rest, [Agent(f"a{i}") for i in range(16)],
                       scheduler=TaskScheduler(alg, aging_s=None), limits=ResourceLimits(max_concurrent_tasks=64))
        assert (rec.final()["status"] == "completed").all(), alg


def test_agent_queue_gives_ranks_in_order_whatever_order_they_came_in():
    # ranks mostly arrive in order (appended); a stolen or aged task's older rank is
    # inserted; taking heads and cutting off the consumed prefix never reorders them
    from swarmlab.scheduling.base import AgentSlot

    rng = random.Random(3)
    slot, pending, taken = AgentSlot(Agent("a"), 0), [], []
    nxt = 1000
    for step in range(5000):
        if rng.random() < 0.55:
            nxt += 1
            key = nxt if rng.random() < 0.9 else rng.randrange(1, nxt)  # in order, or an older rank
            slot.put(key)
            pending.append(key)
        elif slot.head < len(slot.queue):
            taken.append(slot.queue[slot.head])
            assert taken[-1] == min(pending)
            pending.remove(taken[-1])
            slot.pop_head()
        assert sorted(pending) == slot.queue[slot.head:]
    assert len(slot.queue) - slot.head == len(pending) and len(slot.queue) < 2 * len(pending) + 260


def test_too_many_agents_is_refused_with_the_limit(monkeypatch):
    # a startable entry packs the agent's index in IDX_BITS bits; a pool that outgrows
    # them is refused at the boundary, at the start or when an agent joins
    from swarmlab.core import dispatcher as dispatch
    from swarmlab.core import pool
    from swarmlab.events import Recorder

    monkeypatch.setattr(pool, "IDX_MASK", 3)  # the pool checks it, at the start and as agents join
    pol = sl.TaskScheduler("round_robin").policy
    with pytest.raises(sl.ConfigError, match="at most 3 agents; got 4"):
        dispatch.Dispatcher([Agent(f"a{i}") for i in range(4)], pol, ResourceLimits(), Recorder())
    d = dispatch.Dispatcher([Agent(f"a{i}") for i in range(3)], pol, ResourceLimits(), Recorder())
    with pytest.raises(sl.ConfigError, match="at most 3 agents; agent 'a3' is one too many"):
        d.membership.add_agent(Agent("a3"), 0.0)
