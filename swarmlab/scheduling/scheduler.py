"""TaskScheduler: the original design's scheduling API over the policy classes.

The same policy object places tasks offline (:meth:`TaskScheduler.schedule_tasks`) and
online, when a ``ParallelExecutor`` or ``simulate`` is given the scheduler: then each
ready task is placed by the algorithm as it becomes ready, and idle agents steal.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ..errors import ConfigError
from ..model import Agent, Task, _enum_value
from .base import STEAL_MAX_PRIORITY, AgentSlot, Eligible, Policy, task_weight
from .capabilities import CapabilityIndex
from .dag import topological_order
from .policies import POLICIES, Dynamic, WorkStealing

__all__ = ["SchedulingAlgorithm", "SchedulingMetrics", "TaskScheduler"]

#: Seconds a task may wait before it gains a priority level, by default.
AGING_S = 60.0


class SchedulingAlgorithm(str, Enum):
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    CAPABILITY_BASED = "capability_based"
    PRIORITY_BASED = "priority_based"
    DYNAMIC = "dynamic"
    WORK_STEALING = "work_stealing"


@dataclass(frozen=True, slots=True)
class SchedulingMetrics:
    """How the scheduler placed tasks (offline plans and online placements alike).

    An agent's load is the work placed on it: the ``estimate_s`` of its tasks (1 s for a
    task without one); a stolen task counts for the thief.

    - ``scheduling_time``: seconds spent deciding (measured around each decision).
    - ``load_balance_score`` = mean load / max load, in [0, 1]; 1 = balanced.
    - ``imbalance`` = max load / mean load - 1; 0 = balanced.
    - ``capability_match_score``: mean over tasks that require capabilities of
      (capabilities required / capabilities the agent holds), in [0, 1]; 1 = every such
      task went to an agent holding exactly what it needs (1.0 when no task requires any).
    - ``max_agent_load`` / ``min_agent_load``: over every agent of the pool.
    """

    total_scheduled: int = 0
    scheduling_time: float = 0.0
    load_balance_score: float = 0.0
    capability_match_score: float = 0.0
    max_agent_load: float = 0.0
    min_agent_load: float = 0.0
    imbalance: float = 0.0


class TaskScheduler:
    """Schedules tasks onto agents with one of the six algorithms.

    Parameters
    ----------
    algorithm : SchedulingAlgorithm or str
    enable_work_stealing : bool
        In online runs, idle agents take waiting tasks of the stealable band from the
        most loaded agent's queue (always on for WORK_STEALING).
    steal_max_priority : int
        Highest priority that may be stolen (default 3, as in the original design).
    aging_s : float or None
        A task waiting longer than this gains a priority level, again after each further
        ``aging_s`` (up to 9); None turns aging off.
    **options
        For DYNAMIC: ``w_load``, ``w_fit``, ``w_perf`` (see :class:`~swarmlab.scheduling.policies.Dynamic`).

    Examples
    --------
    >>> from swarmlab import Agent, Task
    >>> s = TaskScheduler("round_robin")
    >>> plan = s.schedule_tasks([Task(None, estimate_s=1) for _ in range(4)], [Agent("a"), Agent("b")])
    >>> {a.id: len(ts) for a, ts in plan.items()}
    {'a': 2, 'b': 2}
    """

    def __init__(
        self,
        algorithm: SchedulingAlgorithm | str = SchedulingAlgorithm.DYNAMIC,
        enable_work_stealing: bool = True,
        *,
        steal_max_priority: int = STEAL_MAX_PRIORITY,
        aging_s: float | None = AGING_S,
        **options: float,
    ) -> None:
        self.algorithm = _enum_value(SchedulingAlgorithm, algorithm, "scheduling algorithm")
        cls = POLICIES[self.algorithm.value]
        if options and cls is not Dynamic:
            raise ConfigError(
                f"{self.algorithm.value} takes no options; got {sorted(options)} (only dynamic "
                "takes w_load, w_fit, w_perf)"
            )
        try:
            self.policy: Policy = cls(**options)
        except TypeError as e:
            raise ConfigError(f"dynamic takes w_load, w_fit and w_perf; got {sorted(options)}") from e
        self.enable_work_stealing = bool(enable_work_stealing) or cls is WorkStealing
        self.policy.configure(steal=self.enable_work_stealing, steal_max_priority=steal_max_priority,
                              aging_s=aging_s)
        self._wrap_policy()
        self._reset_counts()
        self._plan: dict[Agent, list[Task]] = {}
        self._rank: dict[int, int] = {}
        self._completed: set[str] = set()

    # ------------------------------------------------------------------ accounting
    def _reset_counts(self, slots: Sequence[AgentSlot] = ()) -> None:
        self._placed: dict[str, float] = {s.id: 0.0 for s in slots}
        self._n = 0
        self._seconds = 0.0
        self._match_sum = 0.0
        self._match_n = 0

    def _wrap_policy(self) -> None:
        """Count and time every decision of the policy, online or offline."""
        policy = self.policy
        choose, bind = policy.choose, policy.bind

        clock = time.perf_counter

        def timed_choose(task: Task, group: Eligible) -> AgentSlot:
            t0 = clock()
            slot = choose(task, group)
            self._seconds += clock() - t0
            self._n += 1  # the placement counted, inline: this runs once per decision
            placed = self._placed
            placed[slot.id] = placed.get(slot.id, 0.0) + task_weight(task)
            if task.requires:
                self._match_n += 1
                self._match_sum += len(task.requires) / len(slot.capabilities)
            return slot

        def counting_bind(slots: list[AgentSlot]) -> None:
            self._reset_counts(slots)
            bind(slots)

        def moved(task: Task, victim: AgentSlot, thief: AgentSlot) -> None:
            w = task_weight(task)
            self._placed[victim.id] -= w
            self._placed[thief.id] = self._placed.get(thief.id, 0.0) + w

        def agent_added(slot: AgentSlot, groups: list[Eligible], _added=policy.agent_added) -> None:
            self._placed.setdefault(slot.id, 0.0)
            _added(slot, groups)

        policy.choose, policy.bind, policy.moved, policy.agent_added = timed_choose, counting_bind, moved, agent_added

    def get_metrics(self) -> SchedulingMetrics:
        """Metrics over every placement since the last plan or run started."""
        loads = list(self._placed.values()) or [0.0]
        hi, lo = max(loads), min(loads)
        mean = sum(loads) / len(loads)
        return SchedulingMetrics(
            total_scheduled=self._n,
            scheduling_time=self._seconds,
            load_balance_score=mean / hi if hi > 0 else 1.0,
            capability_match_score=self._match_sum / self._match_n if self._match_n else 1.0,
            max_agent_load=hi,
            min_agent_load=lo,
            imbalance=hi / mean - 1.0 if mean > 0 else 0.0,
        )

    # ------------------------------------------------------------------ offline plans
    def schedule_tasks(self, tasks: Sequence[Task], agents: Sequence[Agent]) -> dict[Agent, list[Task]]:
        """Place every task on one agent, without running anything.

        Tasks are visited in dependency order, higher priority first among those whose
        dependencies are placed, so each agent's list never puts a task before one it
        depends on. Dependencies must be among ``tasks``.

        Raises ConfigError (unknown dependency, no agents), DependencyCycleError,
        NoEligibleAgentError.
        """
        agents = list(agents)
        if not agents:
            raise ConfigError("schedule_tasks needs at least one agent; got none")
        order = topological_order(tasks)
        slots = [AgentSlot(a, i) for i, a in enumerate(agents)]
        index = CapabilityIndex(slots)
        known = index.groups
        groups = [known.get(t.requires) or index.eligible(t.requires, t.id or t.name or f"#{i}")
                  for i, t in enumerate(order)]
        self.policy.bind(slots)
        plan: dict[Agent, list[Task]] = {a: [] for a in agents}
        for t, group in zip(order, groups):
            slot = self.policy.choose(t, group)
            slot.queued += 1
            slot.work += task_weight(t)
            plan[slot.agent].append(t)
        self._plan = plan
        self._rank = {id(t): i for i, t in enumerate(order)}
        self._completed = set()
        return plan

    def _plan_load(self, agent: Agent) -> float:
        return sum(task_weight(t) for t in self._plan[agent]) / (agent.capacity * agent.speed)

    def _insert(self, agent: Agent, task: Task) -> None:
        lst = self._plan[agent]
        ranks = [self._rank[id(t)] for t in lst]
        lst.insert(bisect.bisect(ranks, self._rank[id(task)]), task)

    def steal_work(self, idle_agent: Agent) -> Task | None:
        """Move one waiting task of the stealable band that ``idle_agent`` can run from
        the most loaded agent's plan to ``idle_agent``'s; returns it, or None."""
        if idle_agent not in self._plan:
            raise ConfigError(f"agent {idle_agent.id!r} is not in the current plan; call schedule_tasks first")
        band = self.policy.steal_max_priority
        victims = sorted((a for a in self._plan if a != idle_agent), key=lambda a: -self._plan_load(a))
        for victim in victims:
            for task in reversed(self._plan[victim]):  # its last task: the one it would run last
                if (task.priority <= band and task.requires <= idle_agent.capabilities
                        and (task.id is None or task.id not in self._completed)):
                    self._plan[victim].remove(task)
                    self._insert(idle_agent, task)
                    self.policy.moved(task, _Named(victim.id), _Named(idle_agent.id))
                    return task
        return None

    def rebalance_workload(self, agents: Sequence[Agent] | None = None) -> dict[Agent, list[Task]]:
        """Move stealable tasks from the most to the least loaded agents of the plan while
        that lowers the highest load; returns the plan."""
        pool = list(agents) if agents is not None else list(self._plan)
        for a in pool:
            self._plan.setdefault(a, [])
        while True:
            loads = {a: self._plan_load(a) for a in pool}
            hi = max(pool, key=lambda a: loads[a])
            moved = False
            for lo in sorted(pool, key=lambda a: loads[a]):
                if lo == hi:
                    break
                for task in reversed(self._plan[hi]):
                    w = task_weight(task)
                    gain = loads[lo] + w / (lo.capacity * lo.speed) < loads[hi]
                    if gain and task.priority <= self.policy.steal_max_priority and task.requires <= lo.capabilities:
                        self._plan[hi].remove(task)
                        self._insert(lo, task)
                        self.policy.moved(task, _Named(hi.id), _Named(lo.id))
                        moved = True
                        break
                if moved:
                    break
            if not moved:
                return self._plan

    def mark_task_completed(self, task_id: str) -> None:
        """Record that a task finished, for :meth:`can_execute_task`."""
        self._completed.add(task_id)

    def can_execute_task(self, task: Task) -> bool:
        """True when every dependency of ``task`` was marked completed."""
        return all((d.id if isinstance(d, Task) else d) in self._completed for d in task.dependencies)


class _Named:
    """The part of an agent slot that accounting needs, for moves within a plan."""

    __slots__ = ("id",)

    def __init__(self, id_: str) -> None:
        self.id = id_
