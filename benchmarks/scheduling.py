"""Scheduling benchmarks: decision rate per algorithm, and schedule quality on virtual time."""

from __future__ import annotations

import heapq
import copy
import random
import time
from collections.abc import Callable

import swarmlab as sl
from swarmlab.analysis.figures import quality

from ._harness import Row, Settings, medians

__all__ = ["decision_rate", "scheduling_quality"]

ALGORITHMS = [a.value for a in sl.SchedulingAlgorithm]
# The targets: the four simple algorithms place 100k tasks in < 1 s, the ones that
# weigh more (dynamic's score, work stealing's bookkeeping, HEFT's speed classes) in < 2 s.
RATE_TARGET_S = {"dynamic": 2.0, "work_stealing": 2.0, "heft": 2.0}
CAPS = ("research", "code", "analysis", "testing")


def _tasks(n: int, seed: int) -> list[sl.Task]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        req = {rng.choice(CAPS)} if rng.random() < 0.3 else ()
        out.append(sl.Task(None, estimate_s=rng.uniform(0.1, 2.0), priority=rng.randint(1, 10), requires=req))
    return out


def _agents(n: int, seed: int, speeds: tuple[float, ...] = (1.0,)) -> list[sl.Agent]:
    rng = random.Random(seed)
    return [sl.Agent(f"a{i}", capabilities=set(rng.sample(CAPS, 2)), speed=rng.choice(speeds)) for i in range(n)]


def _plan_seconds(algorithm: str, tasks: list[sl.Task], agents: list[sl.Agent]) -> tuple[float, float]:
    """Wall seconds of one offline plan, and the seconds spent inside decisions."""
    s = sl.TaskScheduler(algorithm)
    t0 = time.perf_counter()
    s.schedule_tasks(tasks, agents)
    return time.perf_counter() - t0, s.get_metrics().scheduling_time


def _heap_floor(n_agents: int, tasks: list[sl.Task]) -> float:
    """Seconds of the least work a least-loaded choice can do: one heapreplace per task."""
    heap = [(0.0, i) for i in range(n_agents)]
    loads = [0.0] * n_agents
    t0 = time.perf_counter()
    for t in tasks:
        i = heap[0][1]
        loads[i] += t.estimate_s
        heapq.heapreplace(heap, (loads[i], i))
    return time.perf_counter() - t0


def decision_rate(s: Settings) -> list[Row]:
    """Placing 100k tasks onto 1k agents per algorithm; cost per decision as agents grow."""
    n, n_agents = s.size(100_000, 10_000), s.size(1_000, 100)
    tasks, agents = _tasks(n, 0), _agents(n_agents, 1)
    rows = []
    for alg in ALGORITHMS:
        m = medians(lambda alg=alg: {"wall": _plan_seconds(alg, tasks, agents)[0]}, s.reps)
        target = RATE_TARGET_S.get(alg, 1.0)
        rows.append(Row("decision_rate", f"{alg}: {n:,} tasks onto {n_agents:,} agents", m["wall"], None, "s",
                        f"< {target:g} s", m["wall"] < target if not s.quick else None))
    sizes = (10, 100, 1_000, 10_000) if not s.quick else (10, 100, 1_000)
    per = s.size(20_000, 5_000)
    small = _tasks(per, 2)
    floor = [medians(lambda k=k: {"d": _heap_floor(k, small)}, s.reps)["d"] / per * 1e6 for k in sizes]
    rows.append(Row("decision_rate", "floor: a bare heapq min-load loop, us per decision at "
                    + " / ".join(f"{k:,}" for k in sizes) + " agents: " + " / ".join(f"{u:.2f}" for u in floor),
                    floor[-1], floor[0], "us", "(information: memory effects alone)", None))
    for alg in ALGORITHMS:
        us = []
        for k in sizes:
            pool = _agents(k, 3)
            m = medians(lambda pool=pool, alg=alg: {"d": _plan_seconds(alg, small, pool)[1]}, s.reps)
            us.append(m["d"] / per * 1e6)
        case = f"{alg}: us per decision at " + " / ".join(f"{k:,}" for k in sizes) + " agents: " + \
            " / ".join(f"{u:.2f}" for u in us)
        rows.append(Row("decision_rate", case, us[-1], us[0], "us", f"<= 3x ({sizes[0]} -> {sizes[-1]:,} agents)",
                        us[-1] <= 3 * us[0]))
    k = s.size(20_000, 5_000)
    plain_t, res_t = _tasks(k, 4), _tasks(k, 4)
    for t in res_t:
        t.resources = {"llm": 1, "rpm": 1}
    lim = sl.ResourceLimits(task_timeout=None, pools={"llm": n_agents}, rates={"rpm": sl.RateLimit(k, per_s=1.0)})
    plain = medians(lambda: {"d": _dispatch_seconds(plain_t, agents, sl.ResourceLimits(task_timeout=None))}, s.reps)
    res = medians(lambda: {"d": _dispatch_seconds(res_t, agents, lim)}, s.reps)
    ratio = res["d"] / plain["d"]
    rows.append(Row("decision_rate", f"decision cost with resources (a pool and a rate on every task, ample) over "
                    f"without: {k:,} tasks through the dispatcher onto {n_agents:,} agents "
                    f"({res['d'] / k * 1e6:.2f} vs {plain['d'] / k * 1e6:.2f} us a task)", ratio, None, "x",
                    "<= 1.3x", ratio <= 1.3 if not s.quick else None))
    return rows


def _dispatch_seconds(tasks: list[sl.Task], agents: list[sl.Agent], limits: sl.ResourceLimits) -> float:
    """Seconds the dispatcher spends placing, starting and ending ``tasks`` (least
    loaded), each attempt lasting one virtual second; nothing else is timed."""
    from swarmlab.core.dispatcher import Dispatcher
    from swarmlab.events import Recorder
    from swarmlab.scheduling.registry import resolve_policy

    tasks = [copy.copy(t) for t in tasks]  # ids are given by the run
    d = Dispatcher(agents, resolve_policy("least_loaded"), limits, Recorder())
    d.max_queue = float("inf")
    done = sl.TaskStatus.COMPLETED
    t0 = time.perf_counter()
    d.submit(tasks, 0.0)
    now = 0.0
    while not d.done:
        starts = d.take_starts(now)
        now += 1.0
        for st in starts:
            d.finish(st, st.attempt, now, done)
        if not starts:
            d.wake(now)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- quality on virtual time
Workload = Callable[[int], tuple[list[sl.Task], list[sl.Agent], list[tuple[float, sl.Agent]]]]


def heavy_tailed(seed: int, n: int = 2000) -> tuple:
    """The issue's case: Pareto(1.5) durations capped at 30 s, on 16 equal agents."""
    rng = random.Random(seed)
    tasks = [sl.Task(None, estimate_s=min(30.0, rng.paretovariate(1.5))) for _ in range(n)]
    return tasks, [sl.Agent(f"a{i}") for i in range(16)], []


def heterogeneous(seed: int, n: int = 2000) -> tuple:
    """Uniform tasks on agents whose speeds range from 0.5x to 4x."""
    rng = random.Random(seed)
    tasks = [sl.Task(None, estimate_s=rng.uniform(0.05, 0.5)) for _ in range(n)]
    return tasks, [sl.Agent(f"a{i}", speed=(0.5, 1.0, 2.0, 4.0)[i % 4]) for i in range(16)], []


def capability_mix(seed: int, n: int = 2000) -> tuple:
    """Half the tasks need one of four capabilities; each agent holds two."""
    rng = random.Random(seed)
    tasks = [sl.Task(None, estimate_s=rng.uniform(0.05, 0.5),
                     requires={rng.choice(CAPS)} if rng.random() < 0.5 else ()) for _ in range(n)]
    return tasks, _agents(16, seed), []


def long_chain(seed: int, n: int = 2000) -> tuple:
    """A chain of 40 dependent steps beside independent tasks: the critical path binds."""
    rng = random.Random(seed)
    chain = [sl.Task(None, id=f"c{i}", estimate_s=0.5, priority=5, dependencies=[f"c{i - 1}"] if i else [])
             for i in range(40)]
    rest = [sl.Task(None, estimate_s=rng.uniform(0.05, 0.5)) for _ in range(n)]
    return chain + rest, [sl.Agent(f"a{i}") for i in range(16)], []


def late_joiners(seed: int, n: int = 2000) -> tuple:
    """8 agents start; 8 more join a quarter of the way through."""
    rng = random.Random(seed)
    tasks = [sl.Task(None, estimate_s=rng.uniform(0.05, 0.5)) for _ in range(n)]
    expected = sum(t.estimate_s for t in tasks) / 16
    return tasks, [sl.Agent(f"a{i}") for i in range(8)], [(expected / 4, sl.Agent(f"late{i}")) for i in range(8)]


WORKLOADS: dict[str, Workload] = {
    "heavy_tailed": heavy_tailed, "heterogeneous": heterogeneous, "capability_mix": capability_mix,
    "long_chain": long_chain, "late_joiners": late_joiners,
}


def scheduling_quality(s: Settings) -> list[Row]:
    """Makespan over the lower bound for every algorithm as itself and with stealing
    added, with the defaults (aging 60 s, no limits); the number of tasks stolen."""
    rows = []
    for wname, make in WORKLOADS.items():
        for alg in ALGORITHMS:
            for steal in ((None,) if sl.TaskScheduler(alg).enable_work_stealing else (None, True)):
                tasks, agents, joins = make(0) if not s.quick else make(0, 200)
                rec = sl.simulate(tasks, agents, joins=joins, scheduler=sl.TaskScheduler(alg, enable_work_stealing=steal))
                q = quality(rec, basis="estimates")
                ratio = q["makespan_s"] / q["lower_bound_s"]
                judged = wname == "heavy_tailed" and alg == "work_stealing"
                n_stolen = int((rec.events["event"] == "stolen").sum())
                case = (f"{wname} / {alg}{'+stealing' if steal else ''}: {n_stolen} stolen, "
                        f"imbalance {q['imbalance']:.3f}, p95 wait {q['p95_wait_s']:.2f} s")
                rows.append(Row("scheduling_quality", case, ratio, None, "x bound",
                                "<= 1.05x lower bound, defaults" if judged else "(information)",
                                (ratio <= 1.05) if judged and not s.quick else None))
    return rows
