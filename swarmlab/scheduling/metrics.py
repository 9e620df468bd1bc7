"""How tasks were placed: the per-run counts behind :class:`SchedulingMetrics`.

Every run (and every offline plan) counts its own placements in a :class:`Placements`;
the policy never does, so one policy object may drive many runs at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import AgentSlot, Eligible

__all__ = ["SchedulingMetrics", "Placements", "fit"]


@dataclass(frozen=True, slots=True)
class SchedulingMetrics:
    """How the scheduler placed tasks (offline plans and online placements alike).

    An agent's load is the work placed on it: the ``estimate_s`` of its tasks (1 s for a
    task without one); a stolen task counts for the thief.

    - ``scheduling_time``: seconds spent deciding, measured by whatever drives the
      decisions: an offline plan around each policy decision; a real run (the
      executor) around each call into the dispatcher that places or starts tasks. A
      simulated run reads no wall clock: 0.
    - ``load_balance_score`` = mean load / max load, in [0, 1]; 1 = balanced.
    - ``imbalance`` = max load / mean load - 1; 0 = balanced.
    - ``capability_match_score``: the mean over placed tasks of their :func:`fit`, in
      (0, 1]: 1.0 when every task ran on one of the agents that hold what it needs with
      the fewest capabilities to spare, i.e. no specialist was spent on work a plainer
      agent could do; a task with no requirement placed on a three-capability agent while
      an agent without capabilities could take it scores 1/4.
    - ``max_agent_load`` / ``min_agent_load``: over every agent of the pool.
    """

    total_scheduled: int = 0
    scheduling_time: float = 0.0
    load_balance_score: float = 0.0
    capability_match_score: float = 0.0
    max_agent_load: float = 0.0
    min_agent_load: float = 0.0
    imbalance: float = 0.0


def fit(slot: AgentSlot, group: Eligible) -> float:
    """How well ``slot`` fits the tasks of ``group``:
    ``(1 + fewest spare capabilities in the group) / (1 + spare capabilities of slot)``,
    a spare capability being one the agent holds and the task does not require."""
    return (1 + group.min_spare()) / (1 + len(slot.capabilities) - len(group.requires))


class Placements:
    """The counts of one run's (or plan's) placements, by agent index."""

    __slots__ = ("n", "seconds", "placed", "ids", "fit_sum")

    def __init__(self, slots: list[AgentSlot] = ()) -> None:
        self.n = 0
        self.seconds = 0.0  # spent deciding, added by the driver that measures it
        self.fit_sum = 0.0
        self.placed: list[float] = [0.0] * len(slots)
        self.ids: list[str] = [s.id for s in slots]

    def add_agent(self, slot: AgentSlot) -> None:
        self.placed.append(0.0)
        self.ids.append(slot.id)

    def place(self, slot: AgentSlot, weight: float, group: Eligible) -> None:
        self.n += 1
        self.placed[slot.idx] += weight
        # fit(slot, group), inlined: this runs once per placement
        spare = group.spare
        if spare is None:
            spare = group.min_spare()
        self.fit_sum += (1 + spare) / (1 + len(slot.capabilities) - len(group.requires))

    def move(self, victim: AgentSlot, thief: AgentSlot, weight: float, group: Eligible) -> None:
        """A placed task moved (stolen): its work and its fit go with it."""
        self.placed[victim.idx] -= weight
        self.placed[thief.idx] += weight
        self.fit_sum += fit(thief, group) - fit(victim, group)

    def metrics(self) -> SchedulingMetrics:
        loads = self.placed or [0.0]
        hi, lo = max(loads), min(loads)
        mean = sum(loads) / len(loads)
        return SchedulingMetrics(
            total_scheduled=self.n,
            scheduling_time=self.seconds,
            load_balance_score=mean / hi if hi > 0 else 1.0,
            capability_match_score=self.fit_sum / self.n if self.n else 1.0,
            max_agent_load=hi,
            min_agent_load=lo,
            imbalance=hi / mean - 1.0 if mean > 0 else 0.0,
        )
