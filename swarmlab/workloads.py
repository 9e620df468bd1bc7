"""Seeded workloads: lists of tasks that run for real and carry their nominal duration
as ``estimate_s``, so the same list can also be simulated.

Task bodies are module-level functions, so worker processes import them by name.
"""

from __future__ import annotations

import asyncio
import random
import time

from collections.abc import Sequence

from .errors import ConfigError
from .model import Agent, AgentType, Task

__all__ = [
    "io", "cpu", "mixed", "WORKLOADS", "make", "agent_pool", "pool_capabilities", "ROLES",
    "io_wait", "io_wait_async", "spin", "spin_async",
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


def _check(n: int, style: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"a workload needs a positive int number of tasks; got {n!r}")
    if style not in ("sync", "async"):
        raise ConfigError(f"workload style must be 'sync' or 'async'; got {style!r}")


def _uniform(n: int, seed: int, style: str, mean_s: float, kind: str, sync_fn, async_fn) -> list[Task]:
    _check(n, style)
    rng = random.Random(seed)
    fn = sync_fn if style == "sync" else async_fn
    out = []
    for i in range(n):
        d = round(mean_s * (0.5 + rng.random()), 6)
        out.append(Task(fn, (d,), id=f"{kind}-{i}", kind=kind, estimate_s=d, priority=rng.randint(1, 6)))
    return out


def io(n: int = 100, *, seed: int = 0, style: str = "sync", mean_s: float = 0.02) -> list[Task]:
    """``n`` I/O waits, uniform in [0.5, 1.5) x ``mean_s``, declared ``kind="io"``."""
    return _uniform(n, seed, style, mean_s, "io", io_wait, io_wait_async)


def cpu(n: int = 20, *, seed: int = 0, style: str = "sync", mean_s: float = 0.02) -> list[Task]:
    """``n`` CPU-bound tasks, uniform in [0.5, 1.5) x ``mean_s``, declared ``kind="cpu"``."""
    return _uniform(n, seed, style, mean_s, "cpu", spin, spin_async)


def mixed(n: int = 120, *, seed: int = 0, style: str = "sync",
          capabilities: Sequence[str] = ()) -> list[Task]:
    """Mostly I/O with a fifth CPU-bound and a few chains of dependent steps.

    Every tenth task depends on the one before it; one task in twenty is critical
    (priority 10). With ``capabilities``, three tasks in ten require one of them.
    """
    _check(n, style)
    rng = random.Random(seed)
    n_cpu = max(1, n // 5)
    tasks = io(n - n_cpu, seed=seed, style=style) + cpu(n_cpu, seed=seed + 1, style=style)
    rng.shuffle(tasks)
    caps = sorted(capabilities)
    for i, t in enumerate(tasks):
        if i and i % 10 == 0:
            t.dependencies = (tasks[i - 1].id,)
        if i % 20 == 7:
            t.priority = 10
        if caps and rng.random() < 0.3:
            t.requires = frozenset({rng.choice(caps)})
    return tasks


#: The original design's capability families, by the agent type that holds them.
ROLES: dict[AgentType, tuple[str, ...]] = {
    AgentType.RESEARCHER: ("research", "analysis", "web_search"),
    AgentType.DEVELOPER: ("development", "coding", "architecture"),
    AgentType.ANALYZER: ("analysis", "data_processing", "statistics"),
    AgentType.TESTER: ("testing", "validation", "quality_assurance"),
    AgentType.SPECIALIST: ("optimization", "performance", "profiling"),
}


def agent_pool(n: int = 8) -> list[Agent]:
    """``n`` agents cycling through the original roles, each with its capabilities."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"agent_pool needs a positive int number of agents; got {n!r}")
    roles = list(ROLES.items())
    return [Agent(f"{roles[i % len(roles)][0].value}-{i}", type=roles[i % len(roles)][0],
                  capabilities=roles[i % len(roles)][1]) for i in range(n)]


def pool_capabilities(agents: Sequence[Agent]) -> list[str]:
    """Every capability some agent of ``agents`` holds."""
    return sorted(set().union(*(a.capabilities for a in agents)))


WORKLOADS = {"io": io, "cpu": cpu, "mixed": mixed}


def make(name: str, n: int, *, seed: int = 0, style: str = "sync",
         capabilities: Sequence[str] = ()) -> list[Task]:
    """A workload by name; ``capabilities`` apply to ``mixed``."""
    try:
        gen = WORKLOADS[name]
    except KeyError:
        allowed = ", ".join(repr(k) for k in WORKLOADS)
        raise ConfigError(f"workload must be one of {allowed}; got {name!r}") from None
    if name == "mixed":
        return gen(n, seed=seed, style=style, capabilities=capabilities)
    return gen(n, seed=seed, style=style)
