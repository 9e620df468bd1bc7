"""HYBRID: route each task to the backend that suits it, and record the route.

coroutine function -> asyncio; ``kind="cpu"`` -> process; ``kind="io"`` -> thread. An
undeclared sync function runs on threads for its first ``MEASURE_RUNS`` attempts while
its CPU time over wall time is measured; from then on it goes to processes when that
ratio reaches ``CPU_BOUND_RATIO`` and a run takes at least ``MIN_PROCESS_S``, and stays
on threads otherwise. The decision is
recorded once per function as a ``routed`` event. :class:`HybridBackend` is the three
backends behind one, routing each attempt with a :class:`Router`.
"""

from __future__ import annotations

from ..model import Task
from .aio import AsyncioBackend
from .base import Backend
from .process import ProcessBackend
from .thread import ThreadBackend

__all__ = ["HybridBackend", "Router", "MEASURE_RUNS", "CPU_BOUND_RATIO", "MIN_PROCESS_S"]

# Three runs smooth out a cold first call (imports, caches) without delaying the decision.
MEASURE_RUNS = 3
# A thread that spends at least half its wall time on the CPU holds the GIL most of the
# time: in a process it no longer blocks the other threads.
CPU_BOUND_RATIO = 0.5
# A call shorter than this holds the GIL too briefly to slow the other threads, and the
# round trip to a process (pickling both ways) would cost more than it frees.
MIN_PROCESS_S = 0.01


def _key(fn) -> object:
    try:
        hash(fn)
        return fn
    except TypeError:
        return (getattr(fn, "__module__", None), getattr(fn, "__qualname__", repr(fn)))


class Router:
    """Remembers what was measured of each undeclared sync function."""

    def __init__(self) -> None:
        self._samples: dict[object, list[tuple[float, float]]] = {}
        self._route: dict[object, str] = {}

    def route(self, task: Task) -> str:
        if task.is_coroutine:
            return "asyncio"
        if task.kind == "cpu":
            return "process"
        if task.kind == "io":
            return "thread"
        return self._route.get(_key(task.fn), "thread")

    def measured(self, task: Task, cpu_s: float, wall_s: float) -> str | None:
        """Add one measurement; returns a description when it settles the route."""
        if task.kind is not None or task.is_coroutine:
            return None
        key = _key(task.fn)
        if key in self._route:
            return None
        samples = self._samples.setdefault(key, [])
        samples.append((cpu_s, wall_s))
        if len(samples) < MEASURE_RUNS:
            return None
        cpu = sum(c for c, _ in samples)
        wall = sum(w for _, w in samples)
        ratio = cpu / wall if wall > 0 else 0.0
        mean_wall = wall / len(samples)
        cpu_bound = ratio >= CPU_BOUND_RATIO and mean_wall >= MIN_PROCESS_S
        route = "process" if cpu_bound else "thread"
        self._route[key] = route
        del self._samples[key]
        return (f"{route} (cpu/wall {ratio:.2f}, mean {mean_wall * 1e3:.1f} ms "
                f"over {MEASURE_RUNS} runs)")


class HybridBackend(Backend):
    """THREAD, PROCESS (``process_workers`` workers) and ASYNCIO behind one backend."""

    mode = "hybrid"

    def __init__(self, host, process_workers: int | None = None) -> None:
        super().__init__(host)
        self.router = Router()
        self.process = ProcessBackend(host, process_workers)
        self.backends: dict[str, Backend] = {
            "thread": ThreadBackend(host, self._measured), "process": self.process,
            "asyncio": AsyncioBackend(host),
        }

    async def start(self) -> None:
        await self.process.start()

    def run(self, st) -> None:
        st.mode = None  # until it starts: the attempt before may have run elsewhere
        self.backends[self.router.route(st.task)].run(st)

    def kill(self, st) -> bool:
        # threads and coroutines start as they are handed over: an attempt with no mode
        # yet waits for a worker process
        return self.backends[st.mode or "process"].kill(st)

    def running_pids(self) -> list[tuple]:
        return self.process.running_pids()

    async def close(self) -> None:
        for b in self.backends.values():
            await b.close()

    def _measured(self, task: Task, cpu_s: float, wall_s: float) -> None:
        settled = self.router.measured(task, cpu_s, wall_s)
        if settled is not None:
            self.host.emit("routed", task.id, f"{task.name}: {settled}")
