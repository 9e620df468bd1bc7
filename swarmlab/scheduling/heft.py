"""HEFT: the DAG-aware algorithm (Heterogeneous Earliest Finish Time, Topcuoglu et al.).

Ready tasks start in order of their upward rank, the longest estimated path from the task
to an exit of its batch's graph (its own estimate included), computed once per submitted
batch in O(V + E): the work that unlocks the most waits least. Each ready task is placed
on the eligible agent where it would finish earliest: ``load + estimate / speed``, the
agent's queued and running work over its capacity x speed, then the task itself at the
agent's speed. A queue is committed early, on estimates, so a free agent takes the
highest-ranked waiting task of the run when it ranks above its own next one and the
agent would finish it sooner than where it waits (:class:`RankStealing`): a critical
task never waits behind a long one while a fast enough agent sits free, and a slow agent
never takes one a fast agent would finish first.
"""

from __future__ import annotations

import heapq

from ..model import Task
from .base import AgentSlot, Eligible, Policy, PolicyState, Ranking
from .stealing import Stealing, StealingHost, StealingState, WaitingTask

__all__ = ["HEFT", "RankStealing"]


class RankStealing(Stealing):
    """A free agent takes the highest-ranked waiting task of the run (by queue rank: the
    priority, then the upward rank) when it ranks above its own next task, and only when
    it would finish it sooner than the agent it waits on: ``estimate / thief speed <
    wait + estimate / victim speed``, ``wait`` the victim's other work over its capacity x
    speed. On identical agents that is greedy list scheduling by bottom level: whenever an
    agent is free it runs the best ready task, wherever that was queued."""

    name = "highest_rank"

    def bind(self, pool: StealingHost) -> StealingState:
        return _RankStealingState(self, pool)


#: Entries a thief looks past (tasks it may not take) before it gives up for this slot.
_LOOK_PAST = 64


class _RankStealingState(StealingState):
    """The queue keys of every placed task, in a heap (a key is the task's rank and names
    it): a task about to start may yet be displaced by a better one placed or stolen onto
    its agent. Stale entries (started, cancelled, placed again) drop lazily."""

    def __init__(self, config: Stealing, pool: StealingHost) -> None:
        super().__init__(config, pool)
        self._waiting: list[int] = []

    def stealable(self, st: WaitingTask, thief: AgentSlot) -> bool:
        if not super().stealable(st, thief):
            return False
        victim = st.slot
        wait = max(0.0, victim.work - st.weight) / victim.rate
        return st.weight / thief.speed < wait + st.weight / victim.speed

    def placed(self, st: WaitingTask, now: float) -> None:
        heapq.heappush(self._waiting, st.key)

    def slot_free(self, thief: AgentSlot, now: float) -> None:
        own = next(iter(self.pool.waiting(thief)), None)
        heap, task_of = self._waiting, self.pool.task_of
        passed = []
        while heap and len(passed) < _LOOK_PAST:
            key = heap[0]
            st = task_of(key)
            if st is None:
                heapq.heappop(heap)  # started, cancelled or placed again since
                continue
            if own is not None and own.key <= key:
                break  # its own next task ranks higher
            if st.slot is not thief and self.stealable(st, thief):
                heapq.heappop(heap)
                self.pool.move(st, thief, now)
                break
            passed.append(heapq.heappop(heap))
        for k in passed:
            heapq.heappush(heap, k)

    agent_joined = slot_free


class HEFT(Policy):
    """Upward-rank start order, earliest-finish-time placement, stealing (see the module
    docstring). Aging does not apply: the start order is the rank, within a priority."""

    name = "heft"
    orders_starts = True  # the dispatcher ranks batches and orders starts by upward rank
    stealing = RankStealing()

    def choose(self, task: Task, candidates: list[AgentSlot]) -> AgentSlot:
        e = 1.0 if task.estimate_s is None else task.estimate_s
        return min(candidates, key=lambda s: (s.work / s.rate + e / s.speed, s.idx))

    def bind(self, slots: list[AgentSlot]) -> PolicyState:
        return _HEFTState(self, slots)


def _by_load(s: AgentSlot) -> tuple:
    return (s.work / s.rate, s.idx)


class _HEFTState(PolicyState):
    """Per group, one lazy ranking by load per distinct agent speed: the earliest finish
    is the best of ``best load in the class + estimate / speed`` over the classes, so a
    decision costs O(speeds x log agents)."""

    def __init__(self, policy: Policy, slots: list[AgentSlot]) -> None:
        super().__init__(policy, slots)
        self._classes: dict[int, list[tuple[float, Ranking]]] = {}
        self._of_slot: dict[int, list[Ranking]] = {}

    def _for(self, group: Eligible) -> list[tuple[float, Ranking]]:
        classes = self._classes.get(group.gid)
        if classes is None:
            by_speed: dict[float, list[AgentSlot]] = {}
            for s in group.slots:
                by_speed.setdefault(s.speed, []).append(s)
            classes = self._classes[group.gid] = [(sp, Ranking(ss, _by_load)) for sp, ss in by_speed.items()]
            for _, r in classes:
                for s in r.slots:
                    self._of_slot.setdefault(s.idx, []).append(r)
        return classes

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        classes = self._classes.get(group.gid) or self._for(group)
        e = 1.0 if task.estimate_s is None else task.estimate_s
        if len(classes) == 1:
            return classes[0][1].best(self.slots)
        best, at = None, 0.0
        for speed, r in classes:
            s = r.best(self.slots)
            t = s.work / s.rate + e / speed
            if best is None or t < at or (t == at and s.idx < best.idx):
                best, at = s, t
        return best

    def load_decreased(self, slot: AgentSlot) -> None:
        for r in self._of_slot.get(slot.idx, ()):
            r.dirty.add(slot)

    def _forget(self) -> None:  # the pool changed: rebuild the classes lazily
        self._classes.clear()
        self._of_slot.clear()

    def agent_added(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        self._forget()

    def agent_removed(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        self._forget()
