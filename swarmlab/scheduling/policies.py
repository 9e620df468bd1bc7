"""Placement policies, one small class each."""

from __future__ import annotations

import heapq

from ..errors import ConfigError
from ..model import Task
from .base import AgentSlot, Policy

__all__ = ["LeastLoaded", "resolve_policy"]

# Rebuild the lazy load heap once stale entries outnumber live agents this many times,
# so its size stays proportional to the pool, not to the number of load changes.
_STALE_FACTOR = 4


class LeastLoaded(Policy):
    """The eligible agent with the least (queued + running) / capacity; ties by pool order.

    With no capability constraint the choice comes from a heap of ``(load, index)``
    entries kept lazily: an agent whose load went down is only noted (a set insert on
    the hot path) and pushed when the next choice is made; an increase is noticed when
    the agent's entry reaches the top, and fixed there. A decision costs O(log agents)
    however large the pool.
    """

    name = "least_loaded"

    def bind(self, slots: list[AgentSlot]) -> None:
        super().bind(slots)
        self._dirty: set[int] = set()
        self.load_decreased = lambda slot, _add=self._dirty.add: _add(slot.idx)
        self._rebuild()

    def _rebuild(self) -> None:
        self._heap = [(s.load, s.idx) for s in self.slots]
        heapq.heapify(self._heap)
        self._dirty.clear()

    def choose(self, task: Task, eligible: list[AgentSlot], all_eligible: bool) -> AgentSlot:
        if not all_eligible:
            return min(eligible, key=lambda s: (s.load, s.idx))
        heap, slots = self._heap, self.slots
        if self._dirty:
            if len(self._dirty) + len(heap) > _STALE_FACTOR * len(slots) + 64:
                self._rebuild()
            else:
                for idx in self._dirty:
                    heapq.heappush(heap, (slots[idx].load, idx))
                self._dirty.clear()
        while True:
            load, idx = heap[0]
            slot = slots[idx]
            now = (slot.queued + slot.running) / slot.capacity
            if now == load:
                return slot
            if now > load:
                heapq.heapreplace(heap, (now, idx))  # it grew since: move it down
            else:
                heapq.heappop(heap)  # a lower entry for this agent was pushed since


_POLICIES: dict[str, type[Policy]] = {"least_loaded": LeastLoaded}


def resolve_policy(scheduler: object) -> Policy:
    """A fresh policy from None (least loaded), a name, a Policy class or instance."""
    if scheduler is None:
        return LeastLoaded()
    if isinstance(scheduler, Policy):
        return scheduler
    if isinstance(scheduler, type) and issubclass(scheduler, Policy):
        return scheduler()
    name = getattr(scheduler, "value", scheduler)
    if isinstance(name, str) and name in _POLICIES:
        return _POLICIES[name]()
    allowed = ", ".join(repr(n) for n in _POLICIES)
    raise ConfigError(
        f"scheduler must be None, a Policy or one of {allowed}; got {scheduler!r}"
    )
