"""TaskScheduler: the original design's scheduling API over the policy classes.

A TaskScheduler is configuration: an algorithm (a registered policy), whether idle
agents steal, and aging. It places tasks offline (:meth:`TaskScheduler.schedule_tasks`)
and online, when a ``ParallelExecutor`` or ``simulate`` is given it: each ready task is
then placed by the algorithm as it becomes ready. The same object may drive any number
of runs, at the same time; :meth:`TaskScheduler.get_metrics` reports on the last one
started (every run's own figures are in its record's ``meta["scheduling_metrics"]``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from enum import Enum
from typing import Any

from ..errors import ConfigError
from ..checks import enum_value
from ..model import Agent, Task
from .base import MIN_WEIGHT_S, AgentSlot, Policy, task_weight
from .capabilities import CapabilityIndex
from .dag import topological_order
from .metrics import Placements, SchedulingMetrics
from .registry import POLICIES, resolve_policy
from .stealing import STEAL_MAX_PRIORITY, Stealing

__all__ = ["SchedulingAlgorithm", "SchedulingMetrics", "TaskScheduler", "AGING_S", "note_run"]

#: Seconds of waiting that count as one priority level, by default (see Policy.aging_s).
AGING_S = 60.0


class SchedulingAlgorithm(str, Enum):
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    CAPABILITY_BASED = "capability_based"
    PRIORITY_BASED = "priority_based"
    DYNAMIC = "dynamic"
    WORK_STEALING = "work_stealing"
    HEFT = "heft"


_BUILTIN = frozenset(a.value for a in SchedulingAlgorithm)


class TaskScheduler:
    """Schedules tasks onto agents with one of the seven algorithms (or a registered or
    given :class:`~swarmlab.Policy`).

    Parameters
    ----------
    algorithm : SchedulingAlgorithm, str or Policy
        A built-in name or enum, a registered name, ``"module:Class"``, or a Policy.
    enable_work_stealing : bool or None
        Idle agents take waiting tasks of the stealable band from the most loaded agents'
        queues. None (default): as the algorithm does by itself: only WORK_STEALING and
        HEFT (which steals only what the thief finishes sooner) steal. WORK_STEALING always
        steals.
    steal_max_priority : int
        Highest declared priority that may be stolen (default 3, as in the original design).
    aging_s : float or None
        A waiting task ranks one priority level higher for every ``aging_s`` seconds it
        has waited (start order only; critical tasks still first); None turns aging off.
    estimator : DurationEstimator, optional
        Predicts the ``estimate_s`` of tasks that have none (:func:`swarmlab.learn_durations`),
        in the plans of :meth:`schedule_tasks`, in ``simulate`` and in a
        ``ParallelExecutor`` given this scheduler, where it also learns from each
        completed attempt.
    **options
        The built-in policy's parameters: for DYNAMIC and WORK_STEALING ``w_load``,
        ``w_fit``, ``w_perf``; for CAPABILITY_BASED ``slack``.

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
        algorithm: SchedulingAlgorithm | str | Policy = SchedulingAlgorithm.DYNAMIC,
        enable_work_stealing: bool | None = None,
        *,
        steal_max_priority: int = STEAL_MAX_PRIORITY,
        aging_s: float | None = AGING_S,
        estimator: Any = None,
        **options: float,
    ) -> None:
        if estimator is not None and not callable(getattr(estimator, "predict", None)):
            raise ConfigError(f"estimator must have predict(task) (a swarmlab.DurationEstimator); got {estimator!r}")
        self.estimator = estimator
        name = getattr(algorithm, "value", algorithm)
        if isinstance(algorithm, Policy) or (isinstance(algorithm, type) and issubclass(algorithm, Policy)):
            if options:
                raise ConfigError(f"options {sorted(options)} apply to built-in names; configure the policy instead")
            base = resolve_policy(algorithm)
            self.algorithm = SchedulingAlgorithm(base.name) if base.name in _BUILTIN else base.name
        elif isinstance(name, str) and name in _BUILTIN:
            self.algorithm: SchedulingAlgorithm | str = SchedulingAlgorithm(name)
            cls = POLICIES[name]
            try:
                base: Policy = cls(**options)
            except TypeError:
                raise ConfigError(
                    f"{name} takes no options {sorted(options)} (dynamic and work_stealing take w_load, "
                    "w_fit, w_perf; capability_based takes slack)") from None
        else:
            if isinstance(name, str) and ":" not in name and name not in POLICIES:
                enum_value(SchedulingAlgorithm, name, "scheduling algorithm")  # names the allowed ones
            if options:
                raise ConfigError(f"options {sorted(options)} apply to the built-in algorithms only; configure "
                                  f"your policy object instead")
            base = resolve_policy(algorithm)
            self.algorithm = base.name
        if enable_work_stealing is not None and not isinstance(enable_work_stealing, bool):
            raise ConfigError(f"enable_work_stealing must be True, False or None; got {enable_work_stealing!r}")
        steal = base.stealing is not None if enable_work_stealing is None else enable_work_stealing
        steal = steal or self.algorithm is SchedulingAlgorithm.WORK_STEALING
        self.enable_work_stealing = steal
        self.steal_max_priority = Stealing(steal_max_priority).max_priority  # validated
        stealing = (type(base.stealing)(steal_max_priority) if base.stealing is not None
                    else Stealing(steal_max_priority)) if steal else None  # the policy's own kind
        self.policy = base.with_options(stealing=stealing, aging_s=aging_s)
        self._placements = Placements()
        self._plan: dict[Agent, list[Task]] = {}
        self._slots: dict[Agent, AgentSlot] = {}
        self._index = CapabilityIndex([])
        self._rank: dict[int, int] = {}
        self._completed: set[str] = set()

    def __repr__(self) -> str:
        name = getattr(self.algorithm, "value", self.algorithm)
        return (f"TaskScheduler({name!r}, enable_work_stealing={self.enable_work_stealing}, "
                f"aging_s={self.policy.aging_s})")

    def get_metrics(self) -> SchedulingMetrics:
        """Metrics over every placement of the last plan or run started with this scheduler."""
        return self._placements.metrics()

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
        state = self.policy.bind(slots)
        counts = self._placements = Placements(slots)
        clock = time.perf_counter
        plan: dict[Agent, list[Task]] = {a: [] for a in agents}
        for t, group in zip(order, groups):
            t0 = clock()
            slot = state.choose(t, group)
            counts.seconds += clock() - t0
            w = task_weight(t) if t.estimate_s is not None or self.estimator is None else _predicted(self.estimator, t)
            counts.place(slot, w, group)
            slot.queued += 1
            slot.work += w
            plan[slot.agent].append(t)
        self._plan = plan
        self._index = index
        self._slots = {s.agent: s for s in slots}
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
        band = self.steal_max_priority
        victims = sorted((a for a in self._plan if a != idle_agent), key=lambda a: -self._plan_load(a))
        for victim in victims:
            for task in reversed(self._plan[victim]):  # its last task: the one it would run last
                if (task.priority <= band and task.requires <= idle_agent.capabilities
                        and (task.id is None or task.id not in self._completed)):
                    self._plan[victim].remove(task)
                    self._insert(idle_agent, task)
                    self._moved(task, victim, idle_agent)
                    return task
        return None

    def rebalance_workload(self, agents: Sequence[Agent] | None = None) -> dict[Agent, list[Task]]:
        """Move stealable tasks from the most to the least loaded agents of the plan while
        that lowers the highest load; returns the plan."""
        pool = list(agents) if agents is not None else list(self._plan)
        for a in pool:
            if a not in self._plan:
                self._plan[a] = []
                slot = self._slots[a] = AgentSlot(a, len(self._slots))
                self._index.add(slot)
                self._placements.add_agent(slot)
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
                    if gain and task.priority <= self.steal_max_priority and task.requires <= lo.capabilities:
                        self._plan[hi].remove(task)
                        self._insert(lo, task)
                        self._moved(task, hi, lo)
                        moved = True
                        break
                if moved:
                    break
            if not moved:
                return self._plan

    def _moved(self, task: Task, victim: Agent, thief: Agent) -> None:
        group = self._index.eligible(task.requires, task.id or task.name or "?")
        self._placements.move(self._slots[victim], self._slots[thief], task_weight(task), group)

    def mark_task_completed(self, task_id: str) -> None:
        """Record that a task finished, for :meth:`can_execute_task`."""
        self._completed.add(task_id)

    def can_execute_task(self, task: Task) -> bool:
        """True when every dependency of ``task`` was marked completed."""
        return all((d.id if isinstance(d, Task) else d) in self._completed for d in task.dependencies)


def _predicted(estimator: Any, task: Task) -> float:
    """The weight of a task without estimate_s in a plan: the estimator's prediction, else 1 s."""
    p = estimator.predict(task)
    return task_weight(task) if p is None else max(float(p), MIN_WEIGHT_S)


def note_run(scheduler: object, placements: Placements) -> None:
    """A run driven by ``scheduler`` started: its :meth:`TaskScheduler.get_metrics` reports on it."""
    if isinstance(scheduler, TaskScheduler):
        scheduler._placements = placements
