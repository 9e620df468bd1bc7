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
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

from ..errors import ConfigError
from ..checks import enum_value, instances, unique_ids
from ..model import Agent, Task, agent_list
from .base import MIN_WEIGHT_S, AgentSlot, Eligible, Policy, task_weight
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
        self._placed: tuple[list[Task], list[Eligible], list[float]] = ([], [], [])
        self._pool: _PlanPool | None = None
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
        agents = agent_list(agents, "schedule_tasks agents")
        if not agents:
            raise ConfigError("schedule_tasks needs at least one agent; got none")
        unique_ids([a.id for a in agents], "schedule_tasks agent")
        tasks = instances(tasks, Task, "schedule_tasks tasks", "give a list of swarmlab.Task")
        unique_ids([t.id for t in tasks if t.id is not None], "schedule_tasks task")
        order = topological_order(tasks)
        slots = [AgentSlot(a, i) for i, a in enumerate(agents)]
        index = CapabilityIndex(slots)
        known = index.groups
        groups = [known.get(t.requires) or index.eligible(t.requires, t.id or t.name or f"#{i}")
                  for i, t in enumerate(order)]
        state = self.policy.bind(slots)
        counts = self._placements = Placements(slots)
        clock = time.perf_counter  # an offline plan drives the policy itself: it times the decisions
        plan: dict[Agent, list[Task]] = {a: [] for a in agents}
        weights = []
        for t, group in zip(order, groups):
            t0 = clock()
            slot = state.choose(t, group)
            counts.seconds += clock() - t0
            w = task_weight(t) if t.estimate_s is not None or self.estimator is None else _predicted(self.estimator, t)
            counts.place(slot, w, group)
            slot.queued += 1
            slot.work += w
            plan[slot.agent].append(t)
            weights.append(w)
        self._plan = plan
        self._index = index
        self._slots = {s.agent: s for s in slots}
        self._placed = (order, groups, weights)
        self._pool = None  # the plan as stealing sees it, made when a steal is first asked for
        self._completed = set()
        return plan

    def _stealing_pool(self) -> _PlanPool:
        """The last plan as a :class:`~swarmlab.scheduling.stealing.StealingHost`, with the
        policy's stealing strategy bound to it (the default one, with this scheduler's
        band, when the policy does not steal) and told of every placement, as in a run."""
        if self._pool is None:
            stealing = self.policy.stealing or Stealing(self.steal_max_priority)
            self._pool = _PlanPool(self._plan, self._slots, self._placements, *self._placed, self._completed,
                                  stealing)
        return self._pool

    def steal_work(self, idle_agent: Agent) -> Task | None:
        """Move one waiting task that ``idle_agent`` can run to its plan, as work stealing
        does in a run (the same strategy: by default the best task of the stealable band
        of the most loaded agent that has one); returns it, or None."""
        if idle_agent not in self._plan:
            raise ConfigError(f"agent {idle_agent.id!r} is not in the current plan; call schedule_tasks first")
        pool = self._stealing_pool()
        return pool.steal_for(self._slots[idle_agent])

    def rebalance_workload(self, agents: Sequence[Agent] | None = None) -> dict[Agent, list[Task]]:
        """Move tasks the stealing strategy lets an agent take from the most to the least
        loaded agents of the plan while that lowers the highest load; returns the plan."""
        group = list(agents) if agents is not None else list(self._plan)
        pool = self._stealing_pool()
        for a in group:
            if a not in self._plan:
                slot = self._slots[a] = AgentSlot(a, len(self._slots))
                self._index.add(slot)
                self._placements.add_agent(slot)
                pool.add(slot)
        slots = [self._slots[a] for a in group]
        rule = pool.stealer.stealable
        while True:
            hi = max(slots, key=lambda s: s.load)
            moved = False
            for lo in sorted(slots, key=lambda s: s.load):
                if lo is hi:
                    break
                for st in pool.waiting(hi):
                    if lo.load + st.weight / lo.rate < hi.load and rule(st, lo):
                        pool.move(st, lo, 0.0)
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


class _Planned:
    """A task of an offline plan, as a stealing strategy sees a waiting task
    (:class:`~swarmlab.scheduling.stealing.WaitingTask`); ``key`` is its place in the
    plan's order (the smaller goes first)."""

    __slots__ = ("task", "id", "priority", "slot", "group", "weight", "key")

    def __init__(self, task: Task, slot: AgentSlot, group: Eligible, weight: float, key: int) -> None:
        self.task = task
        self.id = task.id
        self.priority = task.priority
        self.slot = slot
        self.group = group
        self.weight = weight
        self.key = key


class _PlanPool:
    """An offline plan as a :class:`~swarmlab.scheduling.stealing.StealingHost`: each
    agent's list is its queue, a task marked completed no longer waits, and a move
    keeps the lists in plan order and the loads and placement counts right."""

    def __init__(self, plan: dict[Agent, list[Task]], slots: dict[Agent, AgentSlot], placements: Placements,
                 order: list[Task], groups: list[Eligible], weights: list[float], completed: set[str],
                 stealing: Stealing) -> None:
        self.plan = plan
        self.slots = sorted(slots.values(), key=lambda s: s.idx)
        self.placements = placements
        self.completed = completed
        self.moved: list[_Planned] = []
        key = {id(t): i for i, t in enumerate(order)}  # a task's place in the plan's order
        self.of_task: dict[int, _Planned] = {}  # id of a planned Task -> its _Planned
        for agent, tasks in plan.items():
            for t in tasks:
                k = key[id(t)]
                self.of_task[id(t)] = _Planned(t, slots[agent], groups[k], weights[k], k)
        self.by_key = {st.key: st for st in self.of_task.values()}
        self.stealer = stealing.bind(self)
        for k in sorted(self.by_key):  # the strategy hears of each placement, as in a run
            st = self.by_key[k]
            self.stealer.placed(st, 0.0)
            self.stealer.load_rose(st.slot)

    def add(self, slot: AgentSlot) -> None:
        """An agent joins the plan, with nothing planned on it."""
        self.slots.append(slot)
        self.plan[slot.agent] = []

    def _waits(self, st: _Planned) -> bool:
        return st.id is None or st.id not in self.completed

    def waiting(self, slot: AgentSlot) -> Iterator[_Planned]:
        of_task = self.of_task
        for t in list(self.plan[slot.agent]):
            st = of_task[id(t)]
            if self._waits(st):
                yield st

    def task_of(self, key: int) -> _Planned | None:
        st = self.by_key.get(key)
        return st if st is not None and self._waits(st) else None

    def move(self, st: _Planned, thief: AgentSlot, now: float) -> None:
        victim = st.slot
        if not self._waits(st) or thief is victim or thief.retired:
            raise ConfigError(f"cannot move task {st.id!r} from {victim.id!r} to {thief.id!r}: only a waiting "
                              "task moves, to another agent of the plan")
        if not st.task.requires <= thief.capabilities:
            raise ConfigError(f"agent {thief.id!r} lacks {sorted(st.task.requires - thief.capabilities)} "
                              f"that task {st.id!r} requires")
        self.plan[victim.agent].remove(st.task)
        mine = self.plan[thief.agent]
        mine.insert(bisect.bisect([self.of_task[id(t)].key for t in mine], st.key), st.task)
        victim.queued -= 1
        victim.work -= st.weight
        thief.queued += 1
        thief.work += st.weight
        self.placements.move(victim, thief, st.weight, st.group)
        st.slot = thief
        self.moved.append(st)
        self.stealer.load_rose(thief)

    def steal_for(self, thief: AgentSlot) -> Task | None:
        """Ask the strategy for work for ``thief`` now; the first task it moved there, or None."""
        self.moved.clear()
        self.stealer.steal(thief, 0.0)
        return next((st.task for st in self.moved if st.slot is thief), None)


def _predicted(estimator: Any, task: Task) -> float:
    """The weight of a task without estimate_s in a plan: the estimator's prediction, else 1 s."""
    p = estimator.predict(task)
    return task_weight(task) if p is None else max(float(p), MIN_WEIGHT_S)


def note_run(scheduler: object, placements: Placements) -> None:
    """A run driven by ``scheduler`` started: its :meth:`TaskScheduler.get_metrics` reports on it."""
    if isinstance(scheduler, TaskScheduler):
        scheduler._placements = placements
