"""What a policy sees of an agent, and the hooks a policy implements."""

from __future__ import annotations

from ..model import Agent, Task

__all__ = ["AgentSlot", "Policy"]


class AgentSlot:
    """The dispatcher's live view of one agent.

    ``queue`` is a heap of ``(-priority, seq, state)``; ``queued`` counts the entries in
    it that still wait (cancelled ones are dropped lazily); ``running`` the tasks it runs.
    """

    __slots__ = ("agent", "idx", "id", "capacity", "speed", "capabilities", "queue", "queued", "running")

    def __init__(self, agent: Agent, idx: int) -> None:
        self.agent = agent
        self.idx = idx
        self.id = agent.id
        self.capacity = agent.capacity
        self.speed = agent.speed
        self.capabilities = agent.capabilities
        self.queue: list = []
        self.queued = 0
        self.running = 0

    @property
    def load(self) -> float:
        """Queued plus running tasks per unit of capacity."""
        return (self.queued + self.running) / self.capacity

    def __repr__(self) -> str:
        return f"AgentSlot({self.id!r}, queued={self.queued}, running={self.running})"


class Policy:
    """Picks the agent for each ready task.

    The dispatcher calls :meth:`bind` once with every agent, :meth:`choose` when a task
    becomes ready (``eligible`` is every agent holding the task's required capabilities,
    never empty; ``all_eligible`` says it is the whole pool) and :meth:`load_decreased`
    when an agent's load went down (a task finished or was cancelled). Increases happen
    only through :meth:`choose`, so a policy sees them there. A policy keeps no clock:
    the dispatcher is clock-free.
    """

    name = "policy"

    def bind(self, slots: list[AgentSlot]) -> None:
        self.slots = slots

    def choose(self, task: Task, eligible: list[AgentSlot], all_eligible: bool) -> AgentSlot:
        raise NotImplementedError

    def load_decreased(self, slot: AgentSlot) -> None:
        pass
