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

    With no capability constraint the choice comes from a lazily-invalidated heap, so a
    decision costs O(log agents) however large the pool.
    """

    name = "least_loaded"

    def bind(self, slots: list[AgentSlot]) -> None:
        super().bind(slots)
        self._rebuild()

    def _rebuild(self) -> None:
        self._heap = [(s.load, s.idx) for s in self.slots]
        heapq.heapify(self._heap)

    def choose(self, task: Task, eligible: list[AgentSlot], all_eligible: bool) -> AgentSlot:
        if not all_eligible:
            return min(eligible, key=lambda s: (s.load, s.idx))
        heap, slots = self._heap, self.slots
        while True:
            load, idx = heap[0]
            slot = slots[idx]
            if slot.load == load:
                return slot
            heapq.heappop(heap)

    def load_changed(self, slot: AgentSlot) -> None:
        heap = self._heap
        heapq.heappush(heap, (slot.load, slot.idx))
        if len(heap) > _STALE_FACTOR * len(self.slots) + 64:
            self._rebuild()


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
