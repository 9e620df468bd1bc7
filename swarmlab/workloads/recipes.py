"""Seeded workloads: recipes for the same tasks and agent pool, run after run.

(Layer: above orchestration, whose agent pool and runners the ``swarm`` workload uses.)

A :class:`Workload` builds fresh tasks on each call to :meth:`Workload.tasks` (sync
bodies, or coroutine bodies for ASYNCIO with ``style="async"``); every task carries its
nominal duration as ``estimate_s``, so the same workload can also be simulated. Task
bodies are module-level functions, so worker processes import them by name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checks import positive_int, unit_map
from ..errors import ConfigError
from ..model import Agent, ResourceLimits, Task
from ..orchestration.config import STRATEGY_CAPABILITIES, CoordinationMode, StrategyType, default_pool, strategy_for
from ..orchestration.manager import run_objective
from ..orchestration.runners import BASE_S, SimulatedAgentRunner

__all__ = [
    "Workload", "io", "cpu", "mixed", "heavy_tailed", "capability_mix", "dag", "swarm", "WORKLOADS",
    "make", "needing", "pool_capabilities", "specialist_pool", "io_wait", "io_wait_async", "spin", "spin_async",
]


def io_wait(seconds: float) -> float:
    """Stands for an I/O call: sleeps, holding no CPU."""
    time.sleep(seconds)
    return seconds


async def io_wait_async(seconds: float) -> float:
    """Stands for an awaitable I/O call."""
    await asyncio.sleep(seconds)
    return seconds


def spin(seconds: float) -> float:
    """Stands for CPU-bound work: busy for ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return seconds


async def spin_async(seconds: float) -> float:
    """CPU-bound work written as a coroutine: it blocks the event loop while it runs."""
    return spin(seconds)


def pool_capabilities(agents: Sequence[Agent]) -> list[str]:
    """Every capability some agent of ``agents`` holds."""
    return sorted(set().union(*(a.capabilities for a in agents)))


@dataclass(frozen=True)
class Workload:
    """A named, seeded recipe: ``tasks(style)`` builds the tasks afresh, ``agents`` is
    the pool they are meant for. ``meta`` says where it came from (a trace's recorded
    makespan, say); ``task_meta`` maps a task id to facts a trace measured about it
    (cores, memory, bytes, program), kept beside the tasks, not in them. ``limits``:
    the pools and rates its tasks ask for (a provider's), None when it declares none
    (:meth:`limits_with` puts them under a user's own). ``options``: the recipe's keyword
    arguments beyond ``n`` and ``seed``, so that ``make(name, n, seed=seed, **options)``
    builds it again (resume, replay). ``redraw``: see the field."""

    name: str
    n: int
    seed: int
    agents: list[Agent]
    build: Callable[[str], list[Task]] = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict, repr=False)
    task_meta: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    limits: ResourceLimits | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The same work with its random draws taken from another seed (``redraw(seed)``), for
    #: a comparison's repeats (None: each repeat runs the very same tasks).
    redraw: Callable[[int], Workload] | None = field(default=None, repr=False)

    def limits_with(self, limits: ResourceLimits | None) -> ResourceLimits | None:
        """``limits`` (a user's) with the workload's pools and rates added; the user's win
        by name. None when both are None."""
        own = self.limits
        if own is None or limits is None:
            return limits if own is None else own
        return dataclasses.replace(limits, pools={**own.pools, **limits.pools},
                                   rates={**own.rates, **limits.rates})

    def tasks(self, style: str = "sync") -> list[Task]:
        if style not in ("sync", "async"):
            raise ConfigError(f"workload style must be 'sync' or 'async'; got {style!r}")
        return self.build(style)

    def __len__(self) -> int:
        return self.n


def _plain_pool(k: int) -> list[Agent]:
    return [Agent(f"agent-{i}") for i in range(k)]


def specialist_pool(k: int) -> list[Agent]:
    """Half the original's role specialists (``default_pool``), half general workers that
    hold no capability (``worker-i``): tasks that need nothing are best kept off the
    specialists, which the capability tasks need."""
    positive_int(k, "the number of agents")
    n_spec = (k + 1) // 2
    return default_pool(n_spec) + [Agent(f"worker-{i}") for i in range(n_spec, k)]


def _timed(name: str, n: int, seed: int, agents: list[Agent], durations: Callable[[random.Random], float],
           kind: str, cpu_share: float = 0.0, requires: Sequence[str] = ()) -> Workload:
    """Tasks that wait (I/O) or spin (CPU) for seeded durations."""
    positive_int(n, f"workload {name!r}'s number of tasks")

    def build(style: str) -> list[Task]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = round(durations(rng), 6)
            cpu = rng.random() < cpu_share if kind == "mixed" else kind == "cpu"
            fn = (spin if cpu else io_wait) if style == "sync" else (spin_async if cpu else io_wait_async)
            req = {rng.choice(list(requires))} if requires and rng.random() < 0.3 else ()
            out.append(Task(fn, (d,), id=f"{name}-{i}", kind="cpu" if cpu else "io", estimate_s=d,
                            priority=rng.randint(1, 6), requires=req))
        return out

    return Workload(name, n, seed, agents, build)


def io(n: int = 100, *, seed: int = 0, mean_s: float = 0.02, agents: int = 8) -> Workload:
    """``n`` I/O waits, uniform in [0.5, 1.5) x ``mean_s``."""
    return _timed("io", n, seed, _plain_pool(agents), lambda r: mean_s * (0.5 + r.random()), "io")


def cpu(n: int = 20, *, seed: int = 0, mean_s: float = 0.02, agents: int = 2) -> Workload:
    """``n`` CPU-bound tasks, uniform in [0.5, 1.5) x ``mean_s``."""
    return _timed("cpu", n, seed, _plain_pool(agents), lambda r: mean_s * (0.5 + r.random()), "cpu")


def heavy_tailed(n: int = 200, *, seed: int = 0, mean_s: float = 0.02, agents: int = 8) -> Workload:
    """I/O waits with Pareto(2) durations of mean ``mean_s``: a few are very long."""
    return _timed("heavy_tailed", n, seed, _plain_pool(agents), lambda r: mean_s / 2 * r.paretovariate(2.0), "io")


def capability_mix(n: int = 120, *, seed: int = 0, mean_s: float = 0.02, agents: int = 8) -> Workload:
    """I/O waits, three in ten requiring one capability of the specialists of
    :func:`specialist_pool` (half role specialists, half general workers)."""
    pool = specialist_pool(agents)
    return _timed("capability_mix", n, seed, pool, lambda r: mean_s * (0.5 + r.random()), "io",
                  requires=pool_capabilities(pool))


def mixed(n: int = 120, *, seed: int = 0, mean_s: float = 0.02, agents: int = 8) -> Workload:
    """Mostly I/O, a fifth CPU-bound, capability requirements (three in ten tasks) from the
    specialists of :func:`specialist_pool`, a dependency on the previous task every tenth
    task and a critical one every twentieth."""
    pool = specialist_pool(agents)
    base = _timed("mixed", n, seed, pool, lambda r: mean_s * (0.5 + r.random()), "mixed", cpu_share=0.2,
                  requires=pool_capabilities(pool))

    def build(style: str) -> list[Task]:
        tasks = base.build(style)
        for i, t in enumerate(tasks):
            if i and i % 10 == 0:
                t.dependencies = (tasks[i - 1].id,)
            if i % 20 == 7:
                t.priority = 10
        return tasks

    return Workload("mixed", n, seed, pool, build)


def dag(n: int = 120, *, seed: int = 0, mean_s: float = 0.02, agents: int = 8, width: int = 4) -> Workload:
    """Layers of ``width`` I/O tasks, each depending on one or two of the layer before."""
    positive_int(width, "dag width")
    base = _timed("dag", n, seed, _plain_pool(agents), lambda r: mean_s * (0.5 + r.random()), "io")

    def build(style: str) -> list[Task]:
        tasks = base.build(style)
        rng = random.Random(seed + 1)
        for i in range(width, n):
            layer = i // width
            prev = range((layer - 1) * width, layer * width)
            t = tasks[i]
            t.dependencies = tuple(tasks[j].id for j in sorted(rng.sample(list(prev), min(len(prev), rng.randint(1, 2)))))
        return tasks

    return Workload("dag", n, seed, base.agents, build)


_SWARM_OBJECTIVES = (
    "Research caching strategies", "Build the REST API client", "Analyze latency metrics",
    "Test the login flow", "Optimize the database queries", "Document the deployment",
    "Investigate flaky builds", "Implement retry logic", "Validate the schema", "Refactor the parser",
)


def swarm(n: int = 20, *, seed: int = 0, time_scale: float = 0.01) -> Workload:
    """``n`` objectives for the original's agent pool, run by a seeded
    :class:`~swarmlab.orchestration.SimulatedAgentRunner` (``style`` does not matter:
    the runner is a coroutine)."""
    positive_int(n, "workload 'swarm''s number of objectives")
    runner = SimulatedAgentRunner(seed, time_scale=time_scale)

    def build(style: str) -> list[Task]:
        out = []
        for i in range(n):
            objective = _SWARM_OBJECTIVES[i % len(_SWARM_OBJECTIVES)] + (f" #{i // len(_SWARM_OBJECTIVES)}" if i >= len(_SWARM_OBJECTIVES) else "")
            strategy = strategy_for(objective, StrategyType.AUTO)
            out.append(Task(run_objective, (runner, objective, strategy, CoordinationMode.CENTRALIZED, None),
                            id=f"swarm-{i}", name=objective, requires=STRATEGY_CAPABILITIES[strategy],
                            estimate_s=BASE_S[strategy] * time_scale, with_agent=True))
        return out

    return Workload("swarm", n, seed, default_pool(), build)


WORKLOADS: dict[str, Callable[..., Workload]] = {
    "io": io, "cpu": cpu, "mixed": mixed, "heavy_tailed": heavy_tailed, "capability_mix": capability_mix,
    "dag": dag, "swarm": swarm,
}


def needing(workload: Workload, resources: Mapping[str, float]) -> Workload:
    """``workload`` whose every task needs ``resources`` (``{"llm": 1, "rpm": 1}``: a
    pool's or a rate's units) beside what it needed already: the way a recipe, and the
    command line's ``--task-resources``, meets the limits of ``--pool`` and ``--rate``.
    Its ``meta["task_resources"]`` says so, so a journaled run of it is rebuilt alike
    (:func:`swarmlab.resume`)."""
    need = unit_map(resources, "needing resources", positive_only=True)
    if not need:
        return workload

    def build(style: str) -> list[Task]:
        tasks = workload.build(style)
        for t in tasks:
            t.resources = {**(t.resources or {}), **need}  # checked above, as Task checks it
        return tasks

    meta = {**workload.meta, "task_resources": {**(workload.meta.get("task_resources") or {}), **need}}
    return dataclasses.replace(workload, build=build, meta=meta)


def make(name: str, n: int, *, seed: int = 0, **options: Any) -> Workload:
    """A workload by name; ``options`` are its recipe's other keyword arguments
    (``Workload.options`` of the one to build again)."""
    try:
        gen = WORKLOADS[name]
    except KeyError:
        allowed = ", ".join(repr(k) for k in WORKLOADS)
        raise ConfigError(f"workload must be one of {allowed}; got {name!r}") from None
    wl = gen(n, seed=seed, **options)
    # the options it was made with, so that it is made alike again (resume, replay), by
    # every recipe (most do not record them themselves)
    return dataclasses.replace(wl, options={**options, **wl.options}) if options else wl
