"""The six placement algorithms, one small class each.

Every policy places a ready task on one agent of its eligible group (the agents holding
all of ``task.requires``): the capability constraint holds for every algorithm. The
ranked ones keep one lazy :class:`~swarmlab.scheduling.base.Ranking` per group, so a
decision costs O(log agents) whatever the pool size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import ConfigError
from ..model import Task
from .base import AgentSlot, Eligible, Policy, Ranking

__all__ = [
    "RoundRobin", "LeastLoaded", "CapabilityBased", "PriorityBased", "Dynamic", "WorkStealing",
    "POLICIES", "resolve_policy",
]


class RoundRobin(Policy):
    """Each group's agents in turn, whatever their load."""

    name = "round_robin"

    def bind(self, slots: list[AgentSlot]) -> None:
        super().bind(slots)
        self._next: dict[int, int] = {}

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        i = self._next.get(group.gid, 0)
        self._next[group.gid] = i + 1
        return group.slots[i % len(group.slots)]


class _Ranked(Policy):
    """A policy that picks the minimum of ``key`` in one lazy ranking per group."""

    def bind(self, slots: list[AgentSlot]) -> None:
        super().bind(slots)
        self._rankings: dict[int, Ranking] = {}
        self._of_slot: list[list[Ranking]] = [[] for _ in slots]

    def key_for(self, group: Eligible, which: int = 0) -> Callable[[AgentSlot], tuple]:
        """The ranking key for ``group``; ``which`` numbers a policy's second ranking."""
        raise NotImplementedError

    def ranking(self, group: Eligible, which: int = 0) -> Ranking:
        r = self._rankings.get(group.gid * 2 + which)
        if r is None:
            r = self._rankings[group.gid * 2 + which] = Ranking(group.slots, self.key_for(group, which))
            for s in group.slots:
                self._of_slot[s.idx].append(r)
        return r

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        r = self._rankings.get(group.gid * 2)
        return (r or self.ranking(group)).best(self.slots)

    def load_decreased(self, slot: AgentSlot) -> None:
        for r in self._of_slot[slot.idx]:
            r.dirty.add(slot)

    def agent_removed(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        for r in self._of_slot[slot.idx]:
            r.remove(slot)
        self._of_slot[slot.idx] = []

    def agent_added(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        self._of_slot.append([])
        gids = {g.gid for g in groups}
        for k, r in self._rankings.items():
            if k // 2 in gids:
                r.add(slot)
                self._of_slot[slot.idx].append(r)


class LeastLoaded(_Ranked):
    """The eligible agent with the least estimated work to finish (queued + running
    estimates over capacity x speed); ties by pool order."""

    name = "least_loaded"

    def key_for(self, group: Eligible, which: int = 0) -> Callable[[AgentSlot], tuple]:
        return lambda s: (s.work / s.rate, s.idx)


def _misfit(slot: AgentSlot, requires: frozenset) -> float:
    """Share of the agent's capabilities the task does not need (0 = exact fit)."""
    caps = slot.capabilities
    return (len(caps) - len(requires)) / len(caps) if caps else 0.0


class CapabilityBased(_Ranked):
    """Among the agents holding every required capability, the least loaded; ties go to
    the closest fit (fewest capabilities the task does not need), keeping generalists
    free for the tasks only they can run."""

    name = "capability_based"

    def key_for(self, group: Eligible, which: int = 0) -> Callable[[AgentSlot], tuple]:
        req = group.requires
        misfit: dict[int, float] = {}  # static per agent and group: computed once

        def key(s: AgentSlot) -> tuple:
            m = misfit.get(s.idx)
            if m is None:
                m = misfit[s.idx] = _misfit(s, req)
            return (s.work / s.rate, m, s.idx)

        return key


def _performance(slot: AgentSlot, requires: frozenset) -> float:
    """Measured success rate times measured speed on these capabilities."""
    return slot.success_rate * slot.measured_speed(requires)


class PriorityBased(_Ranked):
    """High priority (7-9) to the best performer: the least estimated time to finish once
    the agent's measured success rate and speed on the task's capabilities are counted;
    critical (10) to the best-performing idle agent when there is one, so it starts
    immediately; everything else least loaded."""

    name = "priority_based"

    def key_for(self, group: Eligible, which: int = 0) -> Callable[[AgentSlot], tuple]:
        req = group.requires
        if which == 0:
            return lambda s: (s.work / s.rate, s.idx)

        def by_performance(s: AgentSlot) -> tuple:
            perf = _performance(s, req)
            return (s.work / (s.capacity * perf), -perf, s.idx)

        return by_performance

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        if task.priority < 7:
            return self.ranking(group, 0).best(self.slots)
        best = self.ranking(group, 1).best(self.slots)
        if task.priority == 10 and best.running >= best.capacity:
            idle = [s for s in group.slots if s.running < s.capacity and not s.queued]
            if idle:
                return max(idle, key=lambda s: (_performance(s, group.requires), -s.idx))
        return best


class Dynamic(_Ranked):
    """A weighted score over load, capability fit and measured performance:

    ``score = w_load * load + w_fit * misfit + w_perf * (1 - performance)``

    with ``load`` the estimated seconds to finish the agent's queued and running work,
    ``misfit`` the share of its capabilities the task does not need, and ``performance``
    = success rate x speed / (1 + speed), speed measured on the task's capabilities
    (both in [0, 1)). The objective is the tuple ``(score, load, index)``: ties go to the
    less loaded agent, then to pool order.
    """

    name = "dynamic"

    def __init__(self, w_load: float = 1.0, w_fit: float = 0.25, w_perf: float = 0.5) -> None:
        for n, w in (("w_load", w_load), ("w_fit", w_fit), ("w_perf", w_perf)):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not (w >= 0 and math.isfinite(w)):
                raise ConfigError(f"Dynamic {n} must be a number >= 0; got {w!r}")
        self.w_load, self.w_fit, self.w_perf = float(w_load), float(w_fit), float(w_perf)

    def key_for(self, group: Eligible, which: int = 0) -> Callable[[AgentSlot], tuple]:
        req = group.requires
        wl, wf, wp = self.w_load, self.w_fit, self.w_perf

        def key(s: AgentSlot) -> tuple:
            load = s.work / s.rate
            speed = s.measured_speed(req)
            perf = s.success_rate * speed / (1.0 + speed)
            return (wl * load + wf * _misfit(s, req) + wp * (1.0 - perf), load, s.idx)

        return key


class WorkStealing(RoundRobin):
    """Cheap round-robin placement; idle agents then steal waiting work (always on)."""

    name = "work_stealing"
    steal = True


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (RoundRobin, LeastLoaded, CapabilityBased, PriorityBased, Dynamic, WorkStealing)
}


def resolve_policy(scheduler: object) -> Policy:
    """A policy from None (least loaded), a name, an enum, a Policy class or instance, or
    a TaskScheduler."""
    if scheduler is None:
        return LeastLoaded()
    if isinstance(scheduler, Policy):
        return scheduler
    policy = getattr(scheduler, "policy", None)
    if isinstance(policy, Policy):
        return policy
    if isinstance(scheduler, type) and issubclass(scheduler, Policy):
        return scheduler()
    name = getattr(scheduler, "value", scheduler)
    if isinstance(name, str) and name in POLICIES:
        return POLICIES[name]()
    allowed = ", ".join(repr(n) for n in POLICIES)
    raise ConfigError(
        f"scheduler must be None, a TaskScheduler, a Policy or one of {allowed}; got {scheduler!r}"
    )
