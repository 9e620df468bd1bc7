"""What a policy sees of an agent, the lazy ranking policies share, and the public
Policy bases: configuration (Policy) and per-run state (PolicyState)."""

from __future__ import annotations

import copy
import heapq
import math
from bisect import insort
from collections.abc import Callable
from types import MappingProxyType

from ..errors import ConfigError
from ..model import Agent, Task
from .stealing import STEAL_MAX_PRIORITY, Stealing

__all__ = ["AgentSlot", "Eligible", "Ranking", "Policy", "PolicyState", "RankedPolicy", "RankedState",
           "task_weight", "STEAL_MAX_PRIORITY", "HIGH_PRIORITY"]

#: The original's high band (7-9, and critical 10): tasks that jump ahead of the rest.
HIGH_PRIORITY = 7
# A task without an estimate weighs one second; an estimate of 0 still weighs a little,
# so that a queue of free tasks is not mistaken for an empty one.
DEFAULT_WEIGHT_S = 1.0
MIN_WEIGHT_S = 1e-6


def task_weight(task: Task) -> float:
    """The work a task adds to an agent's load: its estimate in seconds, else 1."""
    e = task.estimate_s
    if e is None:
        return DEFAULT_WEIGHT_S
    return e if e > MIN_WEIGHT_S else MIN_WEIGHT_S


class AgentSlot:
    """The dispatcher's live view of one agent.

    ``queue[head:]`` holds the ranks (ints, see ``taskstate.SEQ_BITS``) of its waiting
    tasks in ascending order, the best first; entries of tasks that left the queue are
    dropped lazily when they reach the head. Ranks mostly arrive in order, so a placement
    is an append and taking the head moves ``head`` on (see :meth:`put`,
    :meth:`pop_head`). ``queued`` and ``running`` count tasks; ``work`` sums their
    weights (estimates). ``load`` is the estimated seconds to finish that work:
    ``work / (capacity * speed)``. The counters ``n_done``, ``n_ok``, ``est_sum`` and
    ``run_sum`` (also per capability set in ``by_caps``) are the agent's measured
    performance, updated from each finished attempt.
    """

    __slots__ = (
        "agent", "idx", "id", "capacity", "speed", "capabilities", "queue", "head", "queued",
        "running", "work", "hi_work", "rate", "n_done", "n_ok", "est_sum", "run_sum", "by_caps", "retired",
        "units",
    )

    def __init__(self, agent: Agent, idx: int) -> None:
        self.agent = agent
        self.idx = idx
        self.id = agent.id
        self.capacity = agent.capacity
        self.speed = agent.speed
        self.capabilities = agent.capabilities
        self.rate = agent.capacity * agent.speed  # work drained per second
        self.queue: list[int] = []
        self.head = 0
        self.queued = 0
        self.running = 0
        self.work = 0.0
        self.hi_work = 0.0
        self.n_done = 0
        self.n_ok = 0
        self.est_sum = 0.0  # estimates of its completed tasks that had one
        self.run_sum = 0.0  # and their measured run times
        self.by_caps: dict[frozenset, list[float]] = {}  # requires -> [estimate sum, run sum]
        self.retired = False  # taken out of the pool: no longer in any group
        # its agent resources' free units (the dispatcher takes and gives them back)
        self.units: dict[str, float] = dict(agent.resources) if agent.resources else {}

    @property
    def free_units(self) -> MappingProxyType:
        """The agent's resource units not held by a running attempt, by name (read-only):
        a policy may prefer the candidate with the most free ``gpu``."""
        return MappingProxyType(self.units)

    def put(self, key: int) -> None:
        """Queue a rank: appended when it ranks last (seqs only grow, so nearly always),
        else inserted in order (a stolen or aged task keeps its older seq)."""
        q = self.queue
        if not q or key >= q[-1]:
            q.append(key)
        else:
            insort(q, key, self.head)

    def add_work(self, weight: float, priority: int) -> None:
        """A task of this weight and priority was queued here."""
        self.work += weight
        if priority >= HIGH_PRIORITY:
            self.hi_work += weight

    def drop_work(self, weight: float, priority: int) -> None:
        """A task of this weight and priority left (ended, stolen or cancelled)."""
        self.work -= weight
        if priority >= HIGH_PRIORITY:
            self.hi_work -= weight

    def pop_head(self) -> None:
        """Drop the head rank. The consumed prefix is cut off once the queue is empty or
        the prefix is its larger half, so a pop costs O(1) amortized."""
        h = self.head + 1
        q = self.queue
        if h == len(q):
            q.clear()
            h = 0
        elif h >= 256 and h + h > len(q):
            del q[:h]
            h = 0
        self.head = h

    @property
    def load(self) -> float:
        """Estimated seconds to finish the queued and running work."""
        return self.work / self.rate

    @property
    def success_rate(self) -> float:
        """Completed over finished attempts, smoothed (Laplace): 0.5 before any."""
        return (self.n_ok + 1) / (self.n_done + 2)

    def measure(self, requires: frozenset, estimate_s: float, run_s: float) -> None:
        """Add a completed attempt of a task needing ``requires`` (not empty) to the
        measured speed for it (the totals over every task are the caller's)."""
        sums = self.by_caps.get(requires)
        if sums is None:
            self.by_caps[requires] = [estimate_s, run_s]
        else:
            sums[0] += estimate_s
            sums[1] += run_s

    def measured_speed(self, requires: frozenset = frozenset()) -> float:
        """Estimated over measured run time of its completed tasks needing ``requires``
        (all of its tasks when none did), else its declared speed."""
        sums = self.by_caps.get(requires) if requires else None
        est, run = (sums[0], sums[1]) if sums is not None else (self.est_sum, self.run_sum)
        if run <= 0 or est <= 0:
            return self.speed
        return est / run

    def __repr__(self) -> str:
        return f"AgentSlot({self.id!r}, queued={self.queued}, running={self.running}, load={self.load:.3g})"


class Eligible:
    """The agents holding every capability in ``requires``, in pool order; ``gid`` numbers
    the group so that policies can keep state per group. Change ``slots`` only through
    :meth:`add` and :meth:`remove` (they keep :meth:`min_spare` right). ``spare`` is
    :meth:`min_spare` once computed, None until then (read it, never set it: each
    placement reads it, where a method call would cost more than the rest of its sum)."""

    __slots__ = ("requires", "slots", "gid", "spare", "needs")

    def __init__(self, requires: frozenset, slots: list[AgentSlot], gid: int, needs: tuple = ()) -> None:
        self.requires = requires
        self.needs = needs  # (name, units) of agent resources each agent must hold
        self.slots = slots
        self.gid = gid
        self.spare: int | None = None

    def add(self, slot: AgentSlot) -> None:
        self.slots.append(slot)
        self.spare = None

    def remove(self, slot: AgentSlot) -> None:
        self.slots.remove(slot)
        self.spare = None

    def min_spare(self) -> int:
        """The fewest capabilities an agent of the group holds beyond ``requires``."""
        m = self.spare
        if m is None:
            n = len(self.requires)
            m = self.spare = min((len(s.capabilities) - n for s in self.slots), default=0)
        return m


class Ranking:
    """The agent of a group with the smallest ``key(slot)``, kept in a lazy heap.

    ``key`` returns a tuple ending with the slot's index (explicit ties). It may only grow
    between two calls to :meth:`touch` for that slot: a growth is found when the entry
    reaches the top and is fixed there; anything else (a load going down, a new
    measurement) must :meth:`touch` the slot, which costs a set insert.
    """

    __slots__ = ("slots", "key", "heap", "dirty")

    def __init__(self, slots: list[AgentSlot], key: Callable[[AgentSlot], tuple]) -> None:
        self.slots = list(slots)
        self.key = key
        self.dirty: set[AgentSlot] = set()
        self._rebuild()

    def _rebuild(self) -> None:
        self.heap = [self.key(s) for s in self.slots]
        heapq.heapify(self.heap)
        self.dirty.clear()

    def touch(self, slot: AgentSlot) -> None:
        self.dirty.add(slot)

    def add(self, slot: AgentSlot) -> None:
        self.slots.append(slot)
        heapq.heappush(self.heap, self.key(slot))

    def remove(self, slot: AgentSlot) -> None:
        self.slots.remove(slot)
        self._rebuild()

    def best(self, slots_by_idx: list[AgentSlot]) -> AgentSlot:
        heap, key = self.heap, self.key
        if self.dirty:
            if len(self.dirty) + len(heap) > 4 * len(self.slots) + 64:
                self._rebuild()  # too many stale entries: start afresh
                heap = self.heap
            else:
                for s in self.dirty:
                    heapq.heappush(heap, key(s))
                self.dirty.clear()
        while True:
            top = heap[0]
            slot = slots_by_idx[top[-1]]
            now = key(slot)
            if now == top:
                return slot
            if now > top:
                heapq.heapreplace(heap, now)  # it grew since: move it down
            else:
                heapq.heappop(heap)  # a lower entry for this agent was pushed since


def _check_aging(aging_s: object) -> None:
    if aging_s is not None and (
        isinstance(aging_s, bool) or not isinstance(aging_s, (int, float))
        or not aging_s > 0 or not math.isfinite(aging_s)
    ):
        raise ConfigError(f"aging_s must be a positive number of seconds or None (no aging); got {aging_s!r}")


class Policy:
    """A placement algorithm. A policy is configuration only: what it learns during a
    run lives in the :class:`PolicyState` that :meth:`bind` makes when the run starts, so
    one policy object may drive any number of runs, at the same time.

    Write your own by subclassing it with a ``name`` and one method::

        class Fewest(swarmlab.Policy):
            name = "fewest_queued"

            def choose(self, task, candidates):
                return min(candidates, key=lambda a: (a.queued + a.running, a.idx))

    ``candidates`` are the views (:class:`AgentSlot`) of the agents holding every
    capability ``task`` requires, never empty, in pool order: each has ``.agent``,
    ``.id``, ``.queued`` and ``.running`` (task counts), ``.load`` (estimated seconds to
    finish its queued and running work), ``.capacity``, ``.speed``, ``.capabilities``
    and ``.idx``. Read them, do not change them. ``choose`` must return one of them; the
    run fails with a :class:`~swarmlab.errors.ConfigError` naming the policy, the task
    and what came back otherwise. A ``choose`` that scans every candidate costs
    O(agents) a decision: :class:`RankedPolicy` keeps it O(log agents).

    Attributes
    ----------
    name : str
        How runs, frames and comparisons name the policy.
    stealing : Stealing or None
        The work-stealing strategy that runs beside the placement (None: no stealing).
        :class:`~swarmlab.scheduling.policies.WorkStealing` has one; ask for it on any
        other policy with ``TaskScheduler(..., enable_work_stealing=True)`` or
        :meth:`with_options`.
    aging_s : float or None
        Aging: a waiting task ranks as if it were one priority level higher for every
        ``aging_s`` seconds it has waited (critical tasks, priority 10, still start
        first). It changes only the order tasks start in, never their declared priority
        (nor so what may be stolen), and costs nothing per waiting second. None: no aging.
    """

    name = "policy"
    stealing: Stealing | None = None
    aging_s: float | None = None

    def choose(self, task: Task, candidates: list[AgentSlot]) -> AgentSlot:
        raise NotImplementedError(f"{type(self).__name__} must define choose(self, task, candidates)")

    def bind(self, slots: list[AgentSlot]) -> PolicyState:
        """The per-run state of this policy over the run's agents."""
        return PolicyState(self, slots)

    def with_options(self, *, stealing: Stealing | None | str = "keep",
                     aging_s: float | None | str = "keep") -> Policy:
        """A copy with work stealing and aging set as given ("keep": as they are)."""
        out = copy.copy(self)
        if stealing != "keep":
            if stealing is not None and not isinstance(stealing, Stealing):
                raise ConfigError(f"stealing must be a swarmlab.scheduling.Stealing or None; got {stealing!r}")
            out.stealing = stealing
        if aging_s != "keep":
            _check_aging(aging_s)
            out.aging_s = aging_s
        return out

    def __repr__(self) -> str:
        extra = (", stealing" if self.stealing is not None else "") + (
            f", aging_s={self.aging_s:g}" if self.aging_s is not None else "")
        return f"{type(self).__name__}({self.name!r}{extra})"


class PolicyState:
    """What one run of a policy knows and learns. The dispatcher calls :meth:`choose`
    when a task becomes ready (``group`` holds the eligible agents), :meth:`load_decreased`
    when an agent's load went down or it was measured (a task finished, was cancelled or
    stolen from it), and :meth:`agent_added` / :meth:`agent_removed` as the pool changes.
    Loads only grow through placements, so a state sees growth there."""

    def __init__(self, policy: Policy, slots: list[AgentSlot]) -> None:
        self.policy = policy
        self.slots = slots

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        return self.policy.choose(task, group.slots)

    def load_decreased(self, slot: AgentSlot) -> None:
        pass

    def agent_added(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        pass

    def agent_removed(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        """An agent left the pool (it is gone from ``groups`` already)."""


class RankedPolicy(Policy):
    """A policy that places each task on the eligible agent with the smallest
    ``key(requires)(agent)``, in O(log agents) a decision (one lazy heap per group).

    Define :meth:`key`. The tuple it returns must end with ``agent.idx`` (ties are then
    explicit) and may only grow through placements on that agent: a load that falls, a
    finish or a measurement is heard of through ``load_decreased``, which the dispatcher
    calls for every such change. :meth:`choose` is the same choice as a plain scan.
    """

    def key(self, requires: frozenset) -> Callable[[AgentSlot], tuple]:
        raise NotImplementedError(f"{type(self).__name__} must define key(self, requires)")

    def choose(self, task: Task, candidates: list[AgentSlot]) -> AgentSlot:
        return min(candidates, key=self.key(task.requires))

    def bind(self, slots: list[AgentSlot]) -> RankedState:
        return RankedState(self, slots)


class RankedState(PolicyState):
    """Per run: one lazy :class:`Ranking` per group (and per ``which``, for a policy that
    ranks two ways)."""

    def __init__(self, policy: Policy, slots: list[AgentSlot]) -> None:
        super().__init__(policy, slots)
        self._rankings: dict[int, Ranking] = {}
        self._of_slot: list[list[Ranking]] = [[] for _ in slots]

    def key_for(self, requires: frozenset, which: int) -> Callable[[AgentSlot], tuple]:
        return self.policy.key(requires)

    def ranking(self, group: Eligible, which: int = 0) -> Ranking:
        r = self._rankings.get(group.gid * 2 + which)
        if r is None:
            r = self._rankings[group.gid * 2 + which] = Ranking(group.slots, self.key_for(group.requires, which))
            for s in group.slots:
                self._of_slot[s.idx].append(r)
        return r

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        r = self._rankings.get(group.gid * 2)
        return (r or self.ranking(group)).best(self.slots)

    def load_decreased(self, slot: AgentSlot) -> None:
        for r in self._of_slot[slot.idx]:
            r.dirty.add(slot)

    def agent_removed(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        for r in self._of_slot[slot.idx]:
            r.remove(slot)
        self._of_slot[slot.idx] = []

    def agent_added(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        while len(self._of_slot) <= slot.idx:
            self._of_slot.append([])
        gids = {g.gid for g in groups}
        for k, r in self._rankings.items():
            if k // 2 in gids:
                r.add(slot)
                self._of_slot[slot.idx].append(r)

