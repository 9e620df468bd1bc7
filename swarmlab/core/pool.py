"""The run's agents: their views (slots), the capability index over them, the policy's
per-run state and the placement counts, which change together as agents join, retire
or leave. The tasks an agent held are the dispatcher's business (``lose_agent``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..checks import unique_ids
from ..errors import ConfigError
from ..model import Agent
from ..scheduling.base import AgentSlot, Eligible, Policy
from ..scheduling.capabilities import CapabilityIndex
from ..scheduling.metrics import Placements
from .taskstate import IDX_MASK

__all__ = ["Pool"]


class Pool:
    """The agents of one run.

    Parameters
    ----------
    agents : sequence of Agent
        At least one, with unique ids; at most ``IDX_MASK`` (a startable entry packs the
        agent's index in ``IDX_BITS`` bits).
    policy : Policy
        Bound to the slots: :attr:`state` is what it learns in this run.

    Attributes
    ----------
    slots : list of AgentSlot
        Every agent that was ever in the pool, by index (``retired`` once it left).
    index : CapabilityIndex
        Finds the group of agents that may run a task.
    state : PolicyState
        The policy's per-run state; hears of every pool change.
    placements : Placements
        Where tasks were placed (``SchedulingMetrics``).
    """

    __slots__ = ("slots", "index", "state", "placements")

    def __init__(self, agents: Sequence[Agent], policy: Policy) -> None:
        agents = list(agents)
        if not agents:
            raise ConfigError("a run needs at least one agent; got an empty agent list")
        ids = [a.id for a in agents]
        if len(ids) > IDX_MASK:
            raise ConfigError(f"a run holds at most {IDX_MASK:,} agents; got {len(ids):,}")
        unique_ids(ids, "agent")
        self.slots = [AgentSlot(a, i) for i, a in enumerate(agents)]
        self.index = CapabilityIndex(self.slots)
        self.state = policy.bind(self.slots)  # what the policy learns in this run
        self.placements = Placements(self.slots)

    def member(self, agent_id: str) -> AgentSlot | None:
        """The agent of that id still in the pool, or None."""
        return next((s for s in self.slots if s.id == agent_id and not s.retired), None)

    def join(self, agent: Agent) -> AgentSlot:
        """A new agent joins; returns its slot."""
        if any(s.id == agent.id for s in self.slots):
            raise ConfigError(f"agent id {agent.id!r} is already in the pool; agent ids must be unique")
        if len(self.slots) >= IDX_MASK:
            raise ConfigError(f"a run holds at most {IDX_MASK:,} agents; agent {agent.id!r} is one too many")
        slot = AgentSlot(agent, len(self.slots))
        self.slots.append(slot)
        groups = self.index.add(slot)
        self.placements.add_agent(slot)
        self.state.agent_added(slot, groups)
        return slot

    def retire(self, agent_id: str) -> AgentSlot | None:
        """Take an idle agent out; None (and nothing changes) while it has queued or
        running work, or when it is the last agent of some capability group."""
        slot = self.member(agent_id)
        if slot is None or slot.queued or slot.running:
            return None
        groups = self.index.groups_of(slot)
        if any(len(g.slots) <= 1 for g in groups):
            return None
        self._remove(slot, groups)
        return slot

    def leave(self, agent_id: str) -> AgentSlot:
        """An agent leaves whatever it holds (the caller places its tasks again)."""
        slot = self.member(agent_id)
        if slot is None:
            raise ConfigError(f"no agent {agent_id!r} in the pool")
        self._remove(slot, self.index.groups_of(slot))
        return slot

    def _remove(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        for g in groups:
            g.remove(slot)
        slot.retired = True
        self.index.forget(slot)
        self.state.agent_removed(slot, groups)
