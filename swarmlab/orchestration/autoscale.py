"""Auto-scaling: grow the pool while work waits on busy agents, shrink it when agents idle."""

from __future__ import annotations

import asyncio
import itertools

from ..model import Agent
from ..realtime.executor import ParallelExecutor

__all__ = ["AutoScaler", "SUSTAIN_CHECKS"]

# A signal must hold at this many checks in a row before the pool changes: one busy
# instant is no reason to grow, one idle instant none to shrink.
SUSTAIN_CHECKS = 2


class AutoScaler:
    """Checks the executor every ``interval`` seconds on its event loop.

    Grows by one agent (a copy of the role with the most waiting work) when tasks wait
    and every slot is busy; shrinks by one idle agent (those it added first go first)
    when nothing waits and some agent is idle; both only after ``SUSTAIN_CHECKS`` checks
    in a row and within ``[min_agents, max_agents]``. Each change is a ``scaled`` event
    that gives the reason. ``peak`` is the most agents the pool held at once.
    """

    def __init__(self, executor: ParallelExecutor, *, min_agents: int, max_agents: int, interval: float) -> None:
        self.ex, self.min_agents, self.max_agents, self.interval = executor, min_agents, max_agents, interval
        self._handle: asyncio.TimerHandle | None = None
        self._busy = self._idle = 0
        self._added: list[str] = []
        self._ids = itertools.count()
        self.ups = self.downs = 0
        self.peak = len(executor.agents)

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self.interval, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        ex = self.ex
        pool = [a for a in ex.pool_status() if not a["retired"]]
        waiting = ex.get_queue_size()
        capacity = sum(a["capacity"] for a in pool)
        running = sum(a["running"] for a in pool)
        idle = [a for a in pool if not a["running"] and not a["queued"]]
        self._busy = self._busy + 1 if waiting and running >= capacity else 0
        self._idle = self._idle + 1 if idle and not waiting else 0
        now = ex.now()
        if self._busy >= SUSTAIN_CHECKS and len(pool) < self.max_agents:
            model = max(pool, key=lambda a: (a["queued"], a["agent_id"]))
            agent = Agent(f"{model['type']}-scaled-{next(self._ids)}", type=model["type"],
                          capabilities=model["capabilities"], capacity=model["capacity"])
            ex.add_agent(agent)
            self._added.append(agent.id)
            self.ups += 1
            self.peak = max(self.peak, len(pool) + 1)
            ex.recorder.emit(now, "scaled", None, agent.id,
                             f"+1 ({len(pool) + 1} agents): {waiting} tasks waiting and all {capacity} "
                             f"slots busy for {self._busy} checks")
            self._busy = 0
        elif self._idle >= SUSTAIN_CHECKS and len(pool) > self.min_agents:
            idle_ids = {a["agent_id"] for a in idle}
            order = [i for i in self._added if i in idle_ids] + sorted(idle_ids - set(self._added))
            for agent_id in order:
                if ex.retire_agent(agent_id, "auto-scaling"):
                    self.downs += 1
                    if agent_id in self._added:
                        self._added.remove(agent_id)
                    ex.recorder.emit(now, "scaled", None, agent_id,
                                     f"-1 ({len(pool) - 1} agents): idle with nothing waiting for "
                                     f"{self._idle} checks")
                    break
            self._idle = 0
        self._handle = asyncio.get_running_loop().call_later(self.interval, self._check)
