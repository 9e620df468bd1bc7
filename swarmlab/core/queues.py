"""The run's waiting work: one queue per agent, the heap of agents that can start
something, and the index from a queue key to the task waiting under it.

A ready task is placed by the policy on one agent's queue under a key, its rank (see
``taskstate.SEQ_BITS``); it leaves the queue when it starts, ends or is stolen, and its
entry is dropped lazily when it reaches the head. Whether an entry still stands is
decided by :meth:`Queues.entry` (inlined, and said so, where it runs once a task).
:class:`Queues` is also the :class:`~swarmlab.scheduling.stealing.StealingHost` a
work-stealing strategy is bound to: it sees the slots, the waiting tasks and the task
behind a key, and moves a task; it never sees the dispatcher.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections.abc import Callable, Iterator
from heapq import heappush
from itertools import islice

from ..errors import ConfigError
from ..events import Recorder
from ..model import Task
from ..scheduling.base import HIGH_PRIORITY, AgentSlot, Eligible, Policy, PolicyState
from ..scheduling.metrics import Placements
from .taskstate import AGING_TICKS_PER_S, IDX_BITS, IDX_MASK, QUEUED, RUNNING, SEQ_BITS, SEQ_MASK, TaskState

__all__ = ["Queues", "ORDER_BITS", "ORDER_MASK"]

#: With a policy that orders starts (HEFT), a queue key is
#: ``((10 - priority) << ORDER_BITS | order) << SEQ_BITS | seq``, ``order`` the upward rank
#: in ticks, inverted (the higher rank first).
ORDER_BITS = 40
ORDER_MASK = (1 << ORDER_BITS) - 1


class Queues:
    """Where each waiting task waits, and what can start.

    Parameters
    ----------
    slots : list of AgentSlot
        The pool's agents, by index (the list grows as agents join).
    policy : Policy
        Says whether starts are ordered by upward rank (``orders_starts``) or aged.
    state : PolicyState
        The policy's per-run state: it chooses the agent of each ready task.
    placements : Placements
        Counts each placement and each move.
    recorder : Recorder
        Takes the ``assigned`` and ``stolen`` events.
    on_ready : callable, optional
        Called with each task about to be placed (the estimator predicts it again).
    on_bad_choice : callable
        ``on_bad_choice(st, error, now)``: the policy returned something that is not
        one of the candidates (the ConfigError says what); the task was not placed.
    """

    __slots__ = ("slots", "placements", "policy", "ordered", "aging_s", "critical_below", "stealer", "on_ready",
                 "_by_seq", "_startable", "_seq", "_recorder", "_choose", "_load_decreased",
                 "_on_bad_choice", "units", "trusted")

    def __init__(self, slots: list[AgentSlot], policy: Policy, state: PolicyState, placements: Placements,
                 recorder: Recorder, on_bad_choice: Callable[[TaskState, ConfigError, float], None],
                 on_ready: Callable[[TaskState], None] | None = None) -> None:
        self.slots = slots
        self.placements = placements
        self.policy = policy
        # A policy that orders starts itself (HEFT, by upward rank) replaces aging.
        self.ordered = bool(getattr(policy, "orders_starts", False))
        self.aging_s = None if self.ordered else policy.aging_s
        #: Keys below this are critical (priority 10): they start even while throttled.
        self.critical_below = 1 << (SEQ_BITS + (ORDER_BITS if self.ordered else 0))
        self.on_ready = on_ready
        self._on_bad_choice = on_bad_choice
        self._choose = state.choose
        #: The policy and its state are swarmlab's own: each choice is one of the
        #: candidates by construction (a group's rankings hold its agents only), so it is
        #: not checked again per placement (a policy of the user's always is).
        self.trusted = _ours(policy) and _ours(state)
        self._load_decreased = state.load_decreased
        self._recorder = recorder
        self._seq = 0
        # key & SEQ_MASK -> its task, while it waits under that key
        self._by_seq: dict[int, TaskState] = {}
        # Agents with a free slot and a waiting task: their queue's head << IDX_BITS | idx.
        self._startable: list[int] = []
        # Work stealing is a plugin bound to these queues (scheduling.stealing).
        self.stealer = policy.stealing.bind(self) if policy.stealing is not None else None
        #: The run's :class:`~swarmlab.core.units.Units` (None: no resources): a task that
        #: needs units starts only when ``units.admit`` takes them, else it is held off its queue.
        self.units = None

    # ------------------------------------------------------------------ entries
    def entry(self, key: int, slot: AgentSlot) -> TaskState | None:
        """The task waiting under ``key`` in ``slot``'s queue; None when that entry no
        longer stands: its task started, ended, was stolen or placed again since.
        (Inlined, said in a comment, in the two loops that run once a task: take and
        push_head.)"""
        st = self._by_seq.get(key & SEQ_MASK)
        return st if st is not None and st.state is QUEUED and st.slot is slot and st.key == key else None

    def waiting(self, slot: AgentSlot) -> Iterator[TaskState]:
        """The tasks waiting in ``slot``'s queue, best rank first (a task stolen back
        has two entries there: it comes twice)."""
        q, entry = slot.queue, self.entry
        while slot.head < len(q) and entry(q[slot.head], slot) is None:
            slot.pop_head()  # cancelled or stolen since it was queued
        for key in islice(q, slot.head, None):
            st = entry(key, slot)
            if st is not None:
                yield st

    def task_of(self, key: int) -> TaskState | None:
        """The task a queue key (``TaskState.key``) was made for, while it waits under
        that key; None once it started, ended or was placed again."""
        st = self._by_seq.get(key & SEQ_MASK)
        return None if st is None else self.entry(key, st.slot)

    # ------------------------------------------------------------------ placing
    def place(self, st: TaskState, now: float) -> None:
        """Place a task that became ready at ``now`` on an agent's queue, through the policy."""
        st.ready_s = now
        if self.on_ready is not None:
            self.on_ready(st)
        task, group = st.task, st.group
        slot = self._choose(task, group)
        if not self.trusted and not self._candidate(slot, task, group):
            self._on_bad_choice(st, self._not_a_candidate(st, slot), now)
            return
        weight = st.weight
        self.placements.place(slot, weight, group)
        seq = self._seq = self._seq + 1
        by_seq = self._by_seq
        if st.key:  # placed again (an agent left): its old key no longer stands
            by_seq.pop(st.key & SEQ_MASK, None)
        by_seq[seq] = st
        p = st.priority
        aging = self.aging_s
        if self.ordered:  # within a priority, the higher upward rank first
            order = ORDER_MASK - min(ORDER_MASK, int(st.rank * AGING_TICKS_PER_S))
            key = ((10 - p) << ORDER_BITS | order) << SEQ_BITS | seq
        elif aging is None or p == 10:
            key = (10 - p) << SEQ_BITS | seq
        else:  # ranks as if readied (10 - p) aging periods later than a critical task
            key = (1 + int((now + (10 - p) * aging) * AGING_TICKS_PER_S)) << SEQ_BITS | seq
        st.key = key
        self._recorder.emit(now, "assigned", st.id, slot.id)
        # self._queue_on(st, slot), with slot.put and slot.add_work, inlined: once a task
        st.slot = slot
        st.state = QUEUED
        q = slot.queue
        if not q or key >= q[-1]:
            q.append(key)
        else:
            insort(q, key, slot.head)
        slot.queued += 1
        slot.work += weight
        if p >= HIGH_PRIORITY:
            slot.hi_work += weight
        if slot.running < slot.capacity and q[slot.head] == key:
            heappush(self._startable, key << IDX_BITS | slot.idx)
        stealer = self.stealer
        if stealer is not None:
            stealer.load_rose(slot)
            stealer.placed(st, now)

    def _candidate(self, slot: object, task: Task, group: Eligible) -> bool:
        """Whether a policy's choice is one of the candidates: an agent of this run, in
        the pool, holding what the task needs."""
        try:
            ok = self.slots[slot.idx] is slot and not slot.retired and slot.capabilities >= task.requires
            return ok and (not group.needs or slot in group.slots)
        except (AttributeError, IndexError, TypeError):
            return False

    def _not_a_candidate(self, st: TaskState, got: object) -> ConfigError:
        cands = ", ".join(repr(s.id) for s in st.group.slots[:8]) + (", ..." if len(st.group.slots) > 8 else "")
        return ConfigError(
            f"policy {self.policy.name!r} ({type(self.policy).__name__}) returned {got!r} for task {st.id!r}; "
            f"choose(task, candidates) must return one of the candidates it was given (the agents {cands})"
        )

    def _queue_on(self, st: TaskState, slot: AgentSlot) -> None:
        st.slot = slot
        st.state = QUEUED
        key = st.key
        slot.put(key)
        slot.queued += 1
        slot.add_work(st.weight, st.priority)
        if slot.running < slot.capacity and slot.queue[slot.head] == key:
            heapq.heappush(self._startable, key << IDX_BITS | slot.idx)
        if self.stealer is not None:
            self.stealer.load_rose(slot)

    def push_head(self, slot: AgentSlot) -> None:
        """After a change, make sure a free agent's best waiting task is startable."""
        q, by_seq = slot.queue, self._by_seq
        while slot.head < len(q):
            key = q[slot.head]
            st = by_seq.get(key & SEQ_MASK)  # entry(key, slot), inlined: once a task (~1 % of a simulation)
            if st is not None and st.state is QUEUED and st.slot is slot and st.key == key:
                if slot.running < slot.capacity:
                    heapq.heappush(self._startable, key << IDX_BITS | slot.idx)
                return
            slot.pop_head()  # cancelled, stolen or aged since it was queued

    def move(self, st: TaskState, thief: AgentSlot, now: float) -> None:
        """Move the waiting task ``st`` to ``thief``'s queue (a steal), keeping its rank."""
        victim = st.slot
        if st.state is not QUEUED or victim is None or thief is victim or thief.retired:
            raise ConfigError(f"cannot move task {st.id!r} ({st.state}) from {getattr(victim, 'id', None)!r} "
                              f"to {thief.id!r}: only a waiting task moves, to another agent of the pool")
        if not st.task.requires <= thief.capabilities or (st.group.needs and thief not in st.group.slots):
            raise ConfigError(f"agent {thief.id!r} lacks {sorted(st.task.requires - thief.capabilities)} or the "
                              f"resource units {list(st.group.needs)} that task {st.id!r} requires")
        victim.queued -= 1
        victim.drop_work(st.weight, st.priority)
        self._load_decreased(victim)
        self.placements.move(victim, thief, st.weight, st.group)
        self._recorder.emit(now, "stolen", st.id, thief.id, victim.id)
        self._queue_on(st, thief)
        h = victim.head
        if h < len(victim.queue) and victim.queue[h] == st.key:
            self.push_head(victim)

    # ------------------------------------------------------------------ leaving
    def requeue(self, st: TaskState) -> None:
        """Put a task held for units back on its agent's queue, under its own key."""
        slot = st.slot
        slot.put(st.key)
        self.push_head(slot)

    def drop(self, st: TaskState) -> None:
        """A queued task leaves its queue without starting (it ends: cancelled, failed)."""
        slot = st.slot
        self._by_seq.pop(st.key & SEQ_MASK, None)
        slot.queued -= 1
        slot.drop_work(st.weight, st.priority)
        self._load_decreased(slot)

    def withdraw(self, slot: AgentSlot) -> list[TaskState]:
        """Empty the queue of an agent that left: its waiting tasks, best rank first,
        are no longer queued anywhere (the caller places or ends each)."""
        out = list(dict.fromkeys(self.waiting(slot)))  # in rank order, a task stolen back once
        by_seq = self._by_seq
        for st in out:
            del by_seq[st.key & SEQ_MASK]
        slot.queue.clear()
        slot.head = 0
        slot.queued -= len(out)
        return out

    def withdraw_held(self, held: list[TaskState]) -> list[TaskState]:
        """Tasks held off the queue of an agent that left (for units): no longer queued
        anywhere either."""
        for st in held:
            self._by_seq.pop(st.key & SEQ_MASK, None)
            st.slot.queued -= 1
        return held

    def clear(self) -> None:
        """Forget every queue (the run stops: nothing waits any more)."""
        self._startable.clear()
        self._by_seq.clear()
        for s in self.slots:
            s.queue.clear()
            s.head = 0

    # ------------------------------------------------------------------ starting
    def take(self, free: float, throttled: bool, busy: bool) -> list[TaskState]:
        """Up to ``free`` tasks to start now, best key first, each within its agent's
        capacity; they count as running from here. ``throttled``: only critical work
        starts, unless nothing runs (``busy`` False and nothing taken yet)."""
        out: list[TaskState] = []
        startable, slots, by_seq = self._startable, self.slots, self._by_seq
        critical_below = self.critical_below
        pop, push = heapq.heappop, heapq.heappush
        while free > 0 and startable:
            e = pop(startable)
            key = e >> IDX_BITS
            slot = slots[e & IDX_MASK]
            q = slot.queue
            h = slot.head
            if slot.running >= slot.capacity or h == len(q) or q[h] != key:
                continue  # stale: started, cancelled or agent full since it was pushed
            if throttled and key >= critical_below and (busy or out):
                push(startable, e)  # paused; critical work and an idle run excepted
                break
            slot.pop_head()
            st = by_seq.get(key & SEQ_MASK)  # entry(key, slot), inlined: once a task (~1 % of a simulation)
            if st is None or st.state is not QUEUED or st.slot is not slot or st.key != key:
                self.push_head(slot)
                continue
            if st.need is not None and self.units.admit(st, slot) is not None:
                self.push_head(slot)  # held off the queue (units.admit parked it): the next one may start
                continue
            del by_seq[key & SEQ_MASK]
            slot.queued -= 1
            slot.running += 1
            free -= 1
            st.state = RUNNING
            st.attempt += 1
            out.append(st)
            if slot.running < slot.capacity:
                self.push_head(slot)
        return out

    def any_startable(self) -> bool:
        """Some agent with a free slot may hold a task that can start (False: none does;
        True may be a stale entry, that :meth:`take` drops)."""
        return bool(self._startable)

    def startable_now(self) -> bool:
        """An agent with a free slot holds a task that could start now (the best
        startable entry still stands)."""
        if not self._startable:
            return False
        e = self._startable[0]
        slot = self.slots[e & IDX_MASK]
        return slot.running < slot.capacity and slot.head < len(slot.queue) and slot.queue[slot.head] == e >> IDX_BITS


def _ours(obj: object) -> bool:
    """Whether ``obj``'s class is one of swarmlab's policies or policy states (a user's
    subclass of one is not)."""
    return type(obj).__module__.startswith("swarmlab.scheduling.")
