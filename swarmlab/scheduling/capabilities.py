"""The capability index: capability -> agents, and the cached groups of eligible agents."""

from __future__ import annotations

from ..errors import NoEligibleAgentError
from .base import AgentSlot, Eligible

__all__ = ["CapabilityIndex", "holds"]


class CapabilityIndex:
    """Finds the agents holding every capability a task requires.

    A group is computed once per distinct ``requires`` set, by filtering the agents of
    its rarest capability, so its cost does not grow with the agents that lack it; then
    it is a dictionary lookup.
    """

    def __init__(self, slots: list[AgentSlot]) -> None:
        self._by_cap: dict[str, list[AgentSlot]] = {}
        self.groups: dict[frozenset, Eligible] = {}
        self._all = Eligible(frozenset(), [], 0)
        self.groups[frozenset()] = self._all
        for s in slots:
            self.add(s)

    @property
    def all(self) -> Eligible:
        return self._all

    def add(self, slot: AgentSlot) -> list[Eligible]:
        """Index a new agent; returns the existing groups it joined."""
        for c in slot.capabilities:
            self._by_cap.setdefault(c, []).append(slot)
        joined = []
        for g in self.groups.values():
            if g.requires <= slot.capabilities and (not g.needs or holds(slot, g.needs)):
                g.add(slot)
                joined.append(g)
        return joined

    def eligible(self, requires: frozenset, task_id: str) -> Eligible:
        """The group for ``requires``; raises NoEligibleAgentError when it is empty."""
        g = self.groups.get(requires)
        if g is not None:
            return g
        lists = [self._by_cap.get(c, ()) for c in requires]
        rarest = min(lists, key=len)
        slots = [s for s in rarest if requires <= s.capabilities]
        if not slots:
            missing = frozenset(c for c in requires if c not in self._by_cap)
            raise NoEligibleAgentError(task_id, missing or requires)
        g = Eligible(requires, slots, len(self.groups))
        self.groups[requires] = g
        return g

    def eligible_for(self, requires: frozenset, needs: tuple, task_id: str) -> Eligible:
        """The group of agents holding ``requires`` and at least ``needs`` (agent
        resources, (name, units) sorted by name); raises NoEligibleAgentError naming the
        resource when none does."""
        key = (requires, needs)
        g = self.groups.get(key)
        if g is not None:
            return g
        base = self.eligible(requires, task_id)
        slots = [s for s in base.slots if holds(s, needs)]
        if not slots:
            have = {r: max(((s.agent.resources or {}).get(r, 0.0) for s in base.slots), default=0.0) for r, _ in needs}
            short = ", ".join(f"{r}: needs {n:g}, the most an agent holds is {have[r]:g}"
                              for r, n in needs if have[r] < n)
            raise NoEligibleAgentError(task_id, frozenset(r for r, n in needs if have[r] < n),
                                       f"task {task_id!r} needs more resource units than any single agent holds "
                                       f"({short}); give an agent more units or lower Task.resources")
        g = Eligible(requires, slots, len(self.groups), needs)
        self.groups[key] = g
        return g

    def forget(self, slot: AgentSlot) -> None:
        """Drop a retired agent from the per-capability lists (groups are the caller's)."""
        for c in slot.capabilities:
            self._by_cap[c].remove(slot)

    def groups_of(self, slot: AgentSlot) -> list[Eligible]:
        return [g for g in self.groups.values()
                if g.requires <= slot.capabilities and (not g.needs or holds(slot, g.needs))]


def holds(slot: AgentSlot, needs: tuple) -> bool:
    """``slot``'s agent holds at least ``needs`` units of its own resources (free or not)."""
    held = slot.agent.resources or {}
    return all(held.get(r, 0.0) + 1e-9 >= n for r, n in needs)
