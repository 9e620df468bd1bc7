"""Invariants of the dispatcher on virtual time, over generated workloads."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmlab import Agent, Policy, ResourceLimits, SchedulingAlgorithm, Task, TaskScheduler, simulate

ALGORITHMS = [a.value for a in SchedulingAlgorithm]


class Fewest(Policy):
    """A user's policy, held to the same invariants as the six."""

    name = "fewest_tasks"

    def choose(self, task, candidates):
        return min(candidates, key=lambda a: (a.queued + a.running, a.idx))


POLICIES = [*ALGORITHMS, Fewest()]
#: (work stealing, aging_s): as shipped, stealing added, aging off and on with stealing.
VARIANTS = [(None, 60.0), (True, None), (True, 0.5), (False, 0.5)]

TERMINAL = {"completed", "failed", "timed_out", "cancelled", "upstream_failed"}


@st.composite
def workloads(draw):
    n = draw(st.integers(1, 30))
    specs = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        specs.append(dict(
            est=draw(st.sampled_from([0.0, 0.5, 1.0, 2.5])),
            priority=draw(st.integers(1, 10)),
            deps=deps,
            retries=draw(st.integers(0, 2)),
            timeout=draw(st.sampled_from([None, None, 2.0])),
            fails=draw(st.sets(st.integers(1, 3), max_size=2)),
        ))
    agents = [
        dict(capacity=draw(st.integers(1, 3)), speed=draw(st.sampled_from([0.5, 1.0, 2.0])))
        for _ in range(draw(st.integers(1, 4)))
    ]
    cap = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 3))
    return specs, agents, cap, seed


def build(specs, agents, cap):
    tasks = [
        Task(None, id=f"t{i}", estimate_s=s["est"], priority=s["priority"],
             dependencies=[f"t{d}" for d in s["deps"]], max_retries=s["retries"],
             timeout=s["timeout"], retry_backoff_s=0.25)
        for i, s in enumerate(specs)
    ]
    pool = [Agent(f"a{i}", capacity=a["capacity"], speed=a["speed"]) for i, a in enumerate(agents)]
    fails = {f"t{i}": s["fails"] for i, s in enumerate(specs)}
    return tasks, pool, ResourceLimits(max_concurrent_tasks=cap, task_timeout=None), \
        (lambda t, n: RuntimeError("x") if n in fails[t.id] else None)


def max_overlap(intervals):
    points = sorted([(f, 0) for s, f in intervals] + [(s, 1) for s, f in intervals])
    cur = best = 0
    for _, kind in points:  # ends sort before starts at the same instant
        cur += 1 if kind else -1
        best = max(best, cur)
    return best


@pytest.mark.parametrize("steal,aging", VARIANTS, ids=lambda v: str(v))
@pytest.mark.parametrize("algorithm", POLICIES, ids=lambda p: getattr(p, "name", p))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=workloads())
def test_dispatch_invariants(algorithm, steal, aging, w):
    specs, agents, cap, seed = w
    tasks, pool, limits, failures = build(specs, agents, cap)
    sched = TaskScheduler(algorithm, enable_work_stealing=steal, aging_s=aging)
    rec = simulate(tasks, pool, scheduler=sched, limits=limits, seed=seed, failures=failures)
    t, ev = rec.tasks, rec.events

    # every task ends in exactly one terminal state
    final = t.groupby("task_id", observed=True).tail(1).set_index("task_id")
    assert set(final.index) == {f"t{i}" for i in range(len(specs))}
    assert set(final["status"]) <= TERMINAL
    term = ev[ev["event"].isin(TERMINAL)]["task_id"].value_counts()
    retried = ev[ev["event"] == "retried"]["task_id"].value_counts()
    for tid, n in term.items():
        assert n == 1 + retried.get(tid, 0)

    # no task starts before its dependencies completed
    done = final["finished_s"]
    ran = t.dropna(subset=["started_s"])
    for _, row in ran.iterrows():
        i = int(row["task_id"][1:])
        for d in specs[i]["deps"]:
            assert final.loc[f"t{d}", "status"] == "completed"
            assert row["started_s"] >= done[f"t{d}"]
    for tid, row in final.iterrows():
        deps = specs[int(tid[1:])]["deps"]
        if any(final.loc[f"t{d}", "status"] != "completed" for d in deps):
            assert row["status"] == "upstream_failed"

    # no agent runs more than its capacity; the run never exceeds max_concurrent_tasks
    for a in pool:
        mine = ran[ran["agent_id"] == a.id]
        assert max_overlap(list(zip(mine["started_s"], mine["finished_s"]))) <= a.capacity
    assert max_overlap(list(zip(ran["started_s"], ran["finished_s"]))) <= cap

    # same seed, identical frames
    tasks2, pool2, limits2, failures2 = build(specs, agents, cap)
    again = simulate(tasks2, pool2, scheduler=sched, limits=limits2, seed=seed, failures=failures2)
    assert again.tasks.drop(columns="run_id").equals(t.drop(columns="run_id"))
    assert again.events.drop(columns="run_id").equals(ev.drop(columns="run_id"))


@st.composite
def capability_workloads(draw):
    caps = ["web", "code", "gpu"]
    agents = [
        dict(capabilities=draw(st.sets(st.sampled_from(caps), max_size=2)),
             capacity=draw(st.integers(1, 2)), speed=draw(st.sampled_from([0.5, 1.0, 3.0])))
        for _ in range(draw(st.integers(1, 5)))
    ]
    n = draw(st.integers(1, 25))
    specs = []
    for i in range(n):
        holder = draw(st.sampled_from(agents))
        specs.append(dict(
            est=draw(st.sampled_from([0.1, 1.0, 4.0])),
            priority=draw(st.integers(1, 10)),
            requires=draw(st.sets(st.sampled_from(sorted(holder["capabilities"])))) if holder["capabilities"] else set(),
            deps=draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else [],
            joins_late=False,
        ))
    late = draw(st.sampled_from([None, 0.5, 3.0]))
    return agents, specs, late


@pytest.mark.parametrize("steal,aging", VARIANTS, ids=lambda v: str(v))
@pytest.mark.parametrize("algorithm", POLICIES, ids=lambda p: getattr(p, "name", p))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=capability_workloads())
def test_every_algorithm_keeps_placement_invariants(algorithm, steal, aging, w):
    agents, specs, late = w
    pool = [Agent(f"a{i}", capabilities=a["capabilities"], capacity=a["capacity"], speed=a["speed"])
            for i, a in enumerate(agents)]
    joins = [(late, Agent("late", capabilities={"web", "code", "gpu"}))] if late is not None else []
    tasks = [Task(None, id=f"t{i}", estimate_s=s["est"], priority=s["priority"], requires=s["requires"],
                  dependencies=[f"t{d}" for d in s["deps"]]) for i, s in enumerate(specs)]
    sched = TaskScheduler(algorithm, enable_work_stealing=steal, aging_s=aging)
    rec = simulate(tasks, pool, scheduler=sched, joins=joins)
    t, ev = rec.tasks, rec.events
    caps = {a.id: a.capabilities for a in pool} | {a.id: a.capabilities for _, a in joins}

    # each task placed once (and ends once)
    placed = ev[ev["event"] == "assigned"]["task_id"].value_counts()
    assert set(placed.index) == {f"t{i}" for i in range(len(specs))}
    assert (placed == 1).all()
    assert (t.groupby("task_id", observed=True).size() == 1).all()
    assert set(t["status"]) == {"completed"}
    # capability constraint never violated, stolen or not
    for _, row in t.iterrows():
        assert set(row["requires"]) <= caps[row["agent_id"]]
    # dependency order never violated
    fin = t.set_index("task_id")["finished_s"]
    for _, row in t.iterrows():
        for d in row["dependencies"]:
            assert row["started_s"] >= fin[d]
    # stealing only within the band
    stolen = ev[ev["event"] == "stolen"]["task_id"]
    prio = t.set_index("task_id")["priority"]
    assert all(prio[x] <= 3 for x in stolen)
    if not sched.enable_work_stealing:
        assert stolen.empty
    assert sched.get_metrics().total_scheduled == len(specs)
    assert 0 < rec.meta["scheduling_metrics"]["capability_match_score"] <= 1
