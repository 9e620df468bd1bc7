"""What a policy sees of an agent, the lazy ranking policies share, and the Policy hooks."""

from __future__ import annotations

import heapq
import math
from bisect import insort
from collections.abc import Callable

from ..errors import ConfigError
from ..model import Agent, Task

__all__ = ["AgentSlot", "Eligible", "Ranking", "Policy", "task_weight", "STEAL_MAX_PRIORITY"]

#: The original design's stealable band: priority 1-3.
STEAL_MAX_PRIORITY = 3
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
        "running", "work", "rate", "n_done", "n_ok", "est_sum", "run_sum", "by_caps", "retired",
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
        self.n_done = 0
        self.n_ok = 0
        self.est_sum = 0.0  # estimates of its completed tasks that had one
        self.run_sum = 0.0  # and their measured run times
        self.by_caps: dict[frozenset, list[float]] = {}  # requires -> [estimate sum, run sum]
        self.retired = False  # taken out of the pool: no longer in any group

    def put(self, key: int) -> None:
        """Queue a rank: appended when it ranks last (seqs only grow, so nearly always),
        else inserted in order (a stolen or aged task keeps its older seq)."""
        q = self.queue
        if not q or key >= q[-1]:
            q.append(key)
        else:
            insort(q, key, self.head)

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
    the group so that policies can keep state per group."""

    __slots__ = ("requires", "slots", "gid")

    def __init__(self, requires: frozenset, slots: list[AgentSlot], gid: int) -> None:
        self.requires = requires
        self.slots = slots
        self.gid = gid


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


class Policy:
    """Picks the agent for each ready task; says whether idle agents steal and tasks age.

    The dispatcher calls :meth:`bind` once with every agent, :meth:`choose` when a task
    becomes ready (``group`` holds every agent with the task's capabilities, never
    empty), :meth:`load_decreased` when an agent's load went down or it was measured
    (a task finished, was cancelled or stolen from it) and :meth:`agent_added` when an
    agent joins. Loads only grow through placements, so a policy sees growth there.
    A policy keeps no clock: the dispatcher is clock-free.

    Attributes
    ----------
    steal : bool
        Idle agents take waiting tasks from the most loaded agent's queue.
    steal_max_priority : int
        Only tasks of this priority or lower are stolen (the original's band: 3).
    aging_s : float or None
        A task waiting longer than this gains one priority level (up to 9), again after
        each further ``aging_s``; None: no aging.
    """

    name = "policy"
    steal = False
    steal_max_priority = STEAL_MAX_PRIORITY
    aging_s: float | None = None

    def configure(self, *, steal: bool | None = None, steal_max_priority: int | None = None,
                  aging_s: float | None | str = "keep") -> Policy:
        if steal is not None:
            self.steal = bool(steal)
        if steal_max_priority is not None:
            p = steal_max_priority
            if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 10:
                raise ConfigError(f"steal_max_priority must be an int from 1 to 10; got {p!r}")
            self.steal_max_priority = p
        if aging_s != "keep":
            if aging_s is not None and (
                isinstance(aging_s, bool) or not isinstance(aging_s, (int, float))
                or not aging_s > 0 or not math.isfinite(aging_s)
            ):
                raise ConfigError(f"aging_s must be a positive number of seconds or None; got {aging_s!r}")
            self.aging_s = aging_s
        return self

    def bind(self, slots: list[AgentSlot]) -> None:
        self.slots = slots

    def choose(self, task: Task, group: Eligible) -> AgentSlot:
        raise NotImplementedError

    def load_decreased(self, slot: AgentSlot) -> None:
        pass

    def agent_added(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        pass

    def agent_removed(self, slot: AgentSlot, groups: list[Eligible]) -> None:
        """An idle agent left the pool (it is gone from ``groups`` already)."""

    def moved(self, task: Task, victim: AgentSlot, thief: AgentSlot) -> None:
        """A waiting task was stolen from ``victim`` by ``thief``."""
