"""Work stealing as a plugin: idle agents take waiting work from busy agents' queues.

The dispatcher knows nothing of how stealing decides. It calls the hooks of the run's
:class:`StealingState` when something a thief may care about happens (a task was placed
on an agent's queue, an agent's load rose, an agent got a free slot, an agent joined or
left) and offers a :class:`StealingHost` in return: ``pool.slots``,
``pool.waiting(slot)`` (the agent's waiting tasks, best first), ``pool.task_of(key)``
(the task a queue key belongs to) and ``pool.move(task, thief, now)``. That is all a
strategy sees of a run: the dispatcher's queues implement it for a run,
:class:`~swarmlab.scheduling.scheduler.TaskScheduler` for an offline plan. Another
strategy is a subclass of :class:`Stealing` whose :meth:`~Stealing.bind` returns its
own state.

What may be stolen is decided by the task's declared priority (``max_priority``, the
original's band 1-3); aging never changes it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError

if TYPE_CHECKING:  # base imports this module for the Policy's default strategy
    from ..model import Task
    from .base import AgentSlot, Eligible

__all__ = ["Stealing", "StealingHost", "StealingState", "MostLoadedFirst", "WaitingTask", "STEAL_MAX_PRIORITY"]

#: The original design's stealable band: priority 1-3.
STEAL_MAX_PRIORITY = 3


class WaitingTask(Protocol):
    """What a strategy reads of a waiting task (the dispatcher's ``TaskState`` is one).

    Attributes
    ----------
    id : str
    task : Task
        The submitted task (its ``requires``).
    priority : int
        The declared priority: what may be stolen is decided on it.
    slot : AgentSlot
        The agent whose queue it waits in.
    group : Eligible
        The agents that may run it.
    weight : float
        The work it adds to an agent's load (its estimate, seconds).
    key : int
        Its rank in the queue (the smaller starts first); names it for ``task_of``.
    """

    id: str
    task: Task
    priority: int
    slot: AgentSlot
    group: Eligible
    weight: float
    key: int


class StealingHost(Protocol):
    """What a stealing strategy may see and do of the run (or plan) it is bound to."""

    @property
    def slots(self) -> Sequence[AgentSlot]:
        """Every agent of the pool, by index (``slot.retired`` once it left)."""

    def waiting(self, slot: AgentSlot) -> Iterator[WaitingTask]:
        """The tasks waiting in ``slot``'s queue, best rank first."""

    def task_of(self, key: int) -> WaitingTask | None:
        """The task waiting under queue key ``key``; None once it started, ended or was
        placed again."""

    def move(self, st: WaitingTask, thief: AgentSlot, now: float) -> None:
        """Move the waiting task ``st`` to ``thief``'s queue (a steal), keeping its rank."""


class Stealing:
    """Idle agents steal from the most loaded agents (configuration only; per-run state
    comes from :meth:`bind`).

    Parameters
    ----------
    max_priority : int
        Only tasks whose declared priority is at most this are stolen (default 3).
    """

    name = "most_loaded_first"

    def __init__(self, max_priority: int = STEAL_MAX_PRIORITY) -> None:
        p = max_priority
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 10:
            raise ConfigError(f"steal_max_priority must be an int from 1 to 10; got {p!r}")
        self.max_priority = p

    def bind(self, pool: StealingHost) -> StealingState:
        """The per-run state over ``pool`` (the run's queues, or an offline plan)."""
        return MostLoadedFirst(self, pool)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_priority={self.max_priority})"


class StealingState:
    """The hooks a stealing strategy reacts to; each does nothing here."""

    def __init__(self, config: Stealing, pool: StealingHost) -> None:
        self.config = config
        self.pool = pool
        self.band = config.max_priority

    def stealable(self, st: WaitingTask, thief: AgentSlot) -> bool:
        """``thief`` may take the waiting task ``st``: declared priority in the band and
        every capability it requires held, and the agent resources it needs (its group)."""
        return (st.priority <= self.band and st.task.requires <= thief.capabilities
                and (not st.group.needs or thief in st.group.slots))

    def placed(self, st: WaitingTask, now: float) -> None:
        """``st`` was just placed on the queue of ``st.slot`` (by the policy)."""

    def load_rose(self, slot: AgentSlot) -> None:
        """A task was queued on ``slot`` (placed or moved there)."""

    def slot_free(self, slot: AgentSlot, now: float) -> None:
        """``slot`` just got a free slot (its own best waiting task, if any, is next)."""

    def agent_joined(self, slot: AgentSlot, now: float) -> None:
        """A new agent, idle."""

    def agent_left(self, slot: AgentSlot) -> None:
        """An agent left the pool (``slot.retired`` is set)."""

    def steal(self, thief: AgentSlot, now: float) -> None:
        """``thief`` asks for work now, whatever it holds (``TaskScheduler.steal_work``
        on an offline plan): by default the strategy answers as to a free slot."""
        self.slot_free(thief, now)


class MostLoadedFirst(StealingState):
    """An idle agent takes, while it has a free slot, the best stealable task of the
    most loaded agent that has one; a stealable task queued behind a busy agent goes at
    once to an idle agent that can run it.

    Victims come off a heap of (-load, agent index) entries pushed at every load rise
    and fixed lazily: an entry whose agent's load has since fallen is pushed again at
    its current load; one whose load has risen was superseded by the push of that rise
    and is dropped. With no thief for a while the heap is dropped and rebuilt by the
    next one, so it never holds more than a few entries per agent.
    """

    def __init__(self, config: Stealing, pool: StealingHost) -> None:
        super().__init__(config, pool)
        self._loaded: list[tuple[float, int]] = []
        self._stale = False

    def load_rose(self, slot: AgentSlot) -> None:
        if not self._stale:
            h = self._loaded
            heapq.heappush(h, (-slot.work / slot.rate, slot.idx))
            if len(h) > 4 * len(self.pool.slots) + 64:  # no thief came for a while
                h.clear()
                self._stale = True

    def placed(self, st: WaitingTask, now: float) -> None:
        """A stealable task queued behind a busy agent goes to an idle agent at once."""
        victim = st.slot
        if victim.running < victim.capacity or st.priority > self.band:
            return
        for thief in st.group.slots:
            if thief.running < thief.capacity and not thief.queued and self.stealable(st, thief):
                self.pool.move(st, thief, now)
                return

    def slot_free(self, slot: AgentSlot, now: float) -> None:
        if not slot.queued:  # an agent with work of its own does that first
            self._steal_for(slot, now)

    agent_joined = slot_free

    def steal(self, thief: AgentSlot, now: float) -> None:
        """One task for ``thief``, by the same rule, whatever it holds already."""
        self._steal_for(thief, now, once=True)

    def _steal_for(self, thief: AgentSlot, now: float, once: bool = False) -> None:
        if self._stale:
            h = self._loaded
            h[:] = [(-s.work / s.rate, s.idx) for s in self.pool.slots if s.queued and not s.retired]
            heapq.heapify(h)
            self._stale = False
        heap, slots, pool = self._loaded, self.pool.slots, self.pool
        pop, push = heapq.heappop, heapq.heappush
        passed = []  # current entries of agents with nothing this thief may take
        while heap and (thief.queued + thief.running < thief.capacity or once):
            negl, idx = heap[0]
            victim = slots[idx]
            now_negl = -victim.work / victim.rate
            if victim is thief and once:  # asked for work while holding some: its entry stays
                passed.append(pop(heap))
                continue
            if victim is thief or not victim.queued or victim.retired or negl > now_negl:
                pop(heap)  # nothing queued (a later placement pushes it again), or superseded
                continue
            if negl < now_negl:  # its load fell since: move the entry to where it belongs
                heapq.heapreplace(heap, (now_negl, idx))
                continue
            best = next((st for st in pool.waiting(victim) if self.stealable(st, thief)), None)
            if best is None:
                passed.append(pop(heap))
                continue
            pool.move(best, thief, now)
            if once:
                break
        for e in passed:
            push(heap, e)
