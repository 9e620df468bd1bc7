"""The original six placement algorithms, one small class each (HEFT is in heft.py).

Every policy places a ready task on one agent of its eligible group (the agents holding
all of ``task.requires``): the capability constraint holds for every algorithm. The
ranked ones keep one lazy :class:`~swarmlab.scheduling.base.Ranking` per group in their
per-run state, so a decision costs O(log agents) whatever the pool size. None of them
steals unless asked, except :class:`WorkStealing`, whose point it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import ConfigError
from ..model import Task
from .base import AgentSlot, Eligible, Policy, PolicyState, RankedPolicy, RankedState
from .stealing import Stealing

__all__ = ["RoundRobin", "LeastLoaded", "CapabilityBased", "PriorityBased", "Dynamic", "WorkStealing"]


class RoundRobin(Policy):
    """Each group's agents in turn, whatever their load."""

    name = "round_robin"

    def choose(self, task: Task, candidates: list[AgentSlot]) -> AgentSlot:
        raise ConfigError("round robin takes turns, and whose turn it is belongs to a run: its choice "
                          "lives in the state bind(slots) makes")

    def bind(self, slots: list[AgentSlot]) -> PolicyState:
        return _RoundRobinState(self, slots)


class _RoundRobinState(PolicyState):
    def __init__(self, policy: Policy, slots: list[AgentSlot]) -> None:
        super().__init__(policy, slots)
        self._next: dict[int, int] = {}

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        i = self._next.get(group.gid, 0)
        self._next[group.gid] = i + 1
        return group.slots[i % len(group.slots)]


class LeastLoaded(RankedPolicy):
    """The eligible agent with the least estimated work to finish (queued + running
    estimates over capacity x speed); ties by pool order."""

    name = "least_loaded"

    def key(self, requires: frozenset) -> Callable[[AgentSlot], tuple]:
        return lambda s: (s.work / s.rate, s.idx)


def _misfit(slot: AgentSlot, requires: frozenset) -> float:
    """Share of the agent's capabilities the task does not need (0 = exact fit)."""
    caps = slot.capabilities
    return (len(caps) - len(requires)) / len(caps) if caps else 0.0


class CapabilityBased(RankedPolicy):
    """The closest fit: among the agents holding every required capability, the one with
    the fewest capabilities to spare (then the least loaded), so specialists stay free
    for the tasks only they can run; unless a broader agent would be done with its work
    more than one such task sooner (``slack`` times the task's estimate), when the least
    loaded agent takes it."""

    name = "capability_based"

    def __init__(self, slack: float = 1.0) -> None:
        if isinstance(slack, bool) or not isinstance(slack, (int, float)) or not (slack >= 0 and math.isfinite(slack)):
            raise ConfigError(f"CapabilityBased slack must be a number >= 0 (task estimates); got {slack!r}")
        self.slack = float(slack)

    def key(self, requires: frozenset) -> Callable[[AgentSlot], tuple]:
        return lambda s: (len(s.capabilities), s.work / s.rate, s.idx)

    def choose(self, task: Task, candidates: list[AgentSlot]) -> AgentSlot:
        fit = min(candidates, key=self.key(task.requires))
        return _closest_unless_slower(fit, min(candidates, key=lambda s: (s.work / s.rate, s.idx)), task, self.slack)

    def bind(self, slots: list[AgentSlot]) -> RankedState:
        return _CapabilityState(self, slots)


def _closest_unless_slower(fit: AgentSlot, free: AgentSlot, task: Task, slack: float) -> AgentSlot:
    if fit is free:
        return fit
    e = task.estimate_s
    w = (1.0 if e is None else e) * slack
    return fit if fit.work / fit.rate <= free.work / free.rate + w / fit.rate else free


class _CapabilityState(RankedState):
    def key_for(self, requires: frozenset, which: int) -> Callable[[AgentSlot], tuple]:
        if which == 0:
            return self.policy.key(requires)
        return lambda s: (s.work / s.rate, len(s.capabilities), s.idx)

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        fit = self.ranking(group, 0).best(self.slots)
        return _closest_unless_slower(fit, self.ranking(group, 1).best(self.slots), task, self.policy.slack)


def _performance(slot: AgentSlot, requires: frozenset) -> float:
    """Measured success rate times measured speed on these capabilities."""
    return slot.success_rate * slot.measured_speed(requires)


class PriorityBased(RankedPolicy):
    """High priority (7-9) to the best performer for it: the agent that would be done
    soonest with the high-priority work it holds (the only work a high-priority task
    waits behind in its priority-ordered queue, bar what is running), once its measured
    success rate and speed on the task's capabilities are counted; critical (10) to the
    best-performing idle agent when there is one, so it starts immediately; everything
    else least loaded."""

    name = "priority_based"

    def key(self, requires: frozenset) -> Callable[[AgentSlot], tuple]:
        return lambda s: (s.work / s.rate, s.idx)

    def performance_key(self, requires: frozenset) -> Callable[[AgentSlot], tuple]:
        def by_performance(s: AgentSlot) -> tuple:
            perf = _performance(s, requires)
            return (s.hi_work / (s.capacity * perf), s.work / s.rate, -perf, s.idx)

        return by_performance

    def choose(self, task: Task, candidates: list[AgentSlot]) -> AgentSlot:
        if task.priority < 7:
            return min(candidates, key=self.key(task.requires))
        return _critical(task, min(candidates, key=self.performance_key(task.requires)), candidates)

    def bind(self, slots: list[AgentSlot]) -> RankedState:
        return _PriorityState(self, slots)


def _critical(task: Task, best: AgentSlot, candidates: list[AgentSlot]) -> AgentSlot:
    if task.priority == 10 and best.running >= best.capacity:
        idle = [s for s in candidates if s.running < s.capacity and not s.queued]
        if idle:
            return max(idle, key=lambda s: (_performance(s, task.requires), -s.idx))
    return best


class _PriorityState(RankedState):
    def key_for(self, requires: frozenset, which: int) -> Callable[[AgentSlot], tuple]:
        return self.policy.key(requires) if which == 0 else self.policy.performance_key(requires)

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        if task.priority < 7:
            return self.ranking(group, 0).best(self.slots)
        return _critical(task, self.ranking(group, 1).best(self.slots), group.slots)


class Dynamic(RankedPolicy):
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

    def key(self, requires: frozenset) -> Callable[[AgentSlot], tuple]:
        wl, wf, wp = self.w_load, self.w_fit, self.w_perf

        def key(s: AgentSlot) -> tuple:
            load = s.work / s.rate
            speed = s.measured_speed(requires)
            perf = s.success_rate * speed / (1.0 + speed)
            return (wl * load + wf * _misfit(s, requires) + wp * (1.0 - perf), load, s.idx)

        return key


class WorkStealing(Dynamic):
    """The original's work stealing: the dynamic placement, and idle agents steal
    waiting work of the stealable band from the most loaded agents."""

    name = "work_stealing"
    stealing = Stealing()
