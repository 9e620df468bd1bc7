"""The dispatcher's agent pool at run time: aging, work stealing, agents joining,
leaving and retiring. A mixin of :class:`~swarmlab.dispatch.Dispatcher`: it works on the
dispatcher's own state and is not used alone."""

from __future__ import annotations

import heapq
from itertools import islice

from .errors import ConfigError
from .model import Agent, TaskStatus
from .scheduling.base import AgentSlot
from .taskstate import DELAYED, IDX_MASK, QUEUED, RUNNING, SEQ_BITS, SEQ_MASK, TaskState

__all__ = ["PoolMixin"]


class PoolMixin:
    """Aging, stealing and pool changes (see the module docstring)."""

    def _age(self, st: TaskState, now: float) -> None:
        """One priority level up for a task that waited ``aging_s`` (its old entry goes stale)."""
        before = st.priority
        st.priority += 1
        st.key -= 1 << SEQ_BITS  # the same readiness rank, one level up
        self._emit(now, "aged", st.id, st.slot.id, f"priority {before} -> {st.priority}")
        slot = st.slot
        slot.queued -= 1
        slot.work -= st.weight
        self._queue_on(st, slot)
        self._aging.append((now, st, st.priority))

    # ------------------------------------------------------------------ stealing
    def _rebuild_loaded(self) -> None:
        """The thieves' heap from the agents' current loads, one entry each. The
        dispatcher pushes one entry per load rise and drops the heap when it has grown
        to a few entries per agent with no thief coming: the next thief rebuilds it."""
        h = self._loaded
        h[:] = [(-s.work / s.rate, s.idx) for s in self.slots if s.queued and not s.retired]
        heapq.heapify(h)
        self._loaded_stale = False

    def _steal_for(self, thief: AgentSlot, now: float) -> None:
        """An idle agent takes waiting tasks from the most loaded agents' queues: the
        best task of the stealable band that it can run, while it has a free slot.

        Victims come off a heap of (-load, agent) entries, most loaded first. An entry
        whose agent's load has since fallen is pushed again at its current load; one
        whose load has risen was superseded by the push of that rise and is dropped.
        """
        if self._loaded_stale:
            self._rebuild_loaded()
        band = self.policy.steal_max_priority
        caps = thief.capabilities
        heap, slots = self._loaded, self.slots
        pop, push = heapq.heappop, heapq.heappush
        passed = []  # current entries of agents with nothing this thief may take
        while heap and thief.queued + thief.running < thief.capacity:
            negl, idx = heap[0]
            victim = slots[idx]
            now_negl = -victim.work / victim.rate
            if victim is thief or not victim.queued or victim.retired or negl > now_negl:
                pop(heap)  # nothing queued (a later enqueue pushes it again), or superseded
                continue
            if negl < now_negl:  # its load fell since: move the entry to where it belongs
                heapq.heapreplace(heap, (now_negl, idx))
                continue
            best = self._stealable(victim, band, caps)
            if best is None:
                passed.append(pop(heap))
                continue
            self._move(best, victim, thief, now)
        for e in passed:
            push(heap, e)

    def _stealable(self, victim: AgentSlot, band: int, caps: frozenset) -> TaskState | None:
        """The victim's best waiting task within ``band`` that ``caps`` can run: the
        first in its queue's rank order that qualifies (usually the head)."""
        q, by_seq = victim.queue, self._by_seq
        while victim.head < len(q) and not self._valid(q[victim.head], victim):
            victim.pop_head()
        for key in islice(q, victim.head, None):
            st = by_seq[key & SEQ_MASK]
            if (st.state is QUEUED and st.slot is victim and st.key == key and st.priority <= band
                    and st.task.requires <= caps):
                return st
        return None

    def _offer(self, st: TaskState, now: float) -> None:
        """A stealable task was queued behind a busy agent: an idle agent takes it now."""
        caps_needed = st.task.requires
        for thief in st.group.slots:
            if thief.running < thief.capacity and not thief.queued and caps_needed <= thief.capabilities:
                self._move(st, st.slot, thief, now)
                return

    def _move(self, st: TaskState, victim: AgentSlot, thief: AgentSlot, now: float) -> None:
        victim.queued -= 1
        victim.work -= st.weight
        self.policy.load_decreased(victim)
        self.policy.moved(st.task, victim, thief)
        self._emit(now, "stolen", st.id, thief.id, victim.id)
        self._queue_on(st, thief)
        h = victim.head
        if h < len(victim.queue) and victim.queue[h] == st.key:
            self._push_head(victim)

    # ------------------------------------------------------------------ agents
    def lose_agent(self, agent_id: str, now: float, reason: str = "the agent left") -> list[TaskState]:
        """An agent leaves the pool whatever it was doing (a failure, a scale-in).

        Its waiting tasks are placed again; each attempt it was running fails with
        ``error_type="agent_lost"`` and runs again elsewhere, not counted against
        ``max_retries``. A task no remaining agent can run ends ``failed``. Returns the
        tasks whose running attempt was lost (the driver stops them)."""
        slot = next((s for s in self.slots if s.id == agent_id and not s.retired), None)
        if slot is None:
            raise ConfigError(f"no agent {agent_id!r} in the pool")
        for g in self.index.groups_of(slot):
            g.slots.remove(slot)
        slot.retired = True
        self.index.forget(slot)
        self.policy.agent_removed(slot, self.index.groups_of(slot))
        self._emit(now, "left", None, slot.id, reason)
        lost = [st for st in self.tasks.values() if st.slot is slot and st.state is RUNNING]
        waiting, last = [], None  # in rank order; an entry twice (stolen back) counts once
        for k in islice(slot.queue, slot.head, None):
            if k != last and self._valid(k, slot):
                waiting.append(self._by_seq[k & SEQ_MASK])
            last = k
        slot.queue.clear()
        slot.head = 0
        for st in lost:
            started = st.started_s if st.started_s is not None else now
            self._attempts.append((
                st.id, st.task.name, st.attempt, TaskStatus.FAILED.value, st.priority, slot.id, st.mode,
                st.worker, st.submitted_s, st.ready_s, started, now, "agent_lost", reason,
            ))
            st.wait_total += started - st.ready_s
            st.run_total += now - started
            st.lost += 1
            self._emit(now, "failed", st.id, slot.id, "agent_lost")
            slot.running -= 1
            self.n_running -= 1
            self.n_waiting += 1
        for st in waiting:
            slot.queued -= 1
        slot.work = 0.0
        for st in lost + waiting:
            st.state = DELAYED
            if st.group.slots:
                self._emit(now, "retried", st.id, None, "placed again: " + reason)
                self._enqueue(st, now)
            else:
                self._end_unstarted(st, now, TaskStatus.FAILED, f"{reason}, and no agent left can run it",
                                    "agent_lost")
                self._propagate(st, now)
        return lost

    def retire_agent(self, agent_id: str, now: float, reason: str = "") -> bool:
        """Take an idle agent out of the pool. Refused (False) while it has queued or
        running work, or when it is the last agent of some capability group."""
        slot = next((s for s in self.slots if s.id == agent_id and not s.retired), None)
        if slot is None or slot.queued or slot.running:
            return False
        groups = self.index.groups_of(slot)
        if any(len(g.slots) <= 1 for g in groups):
            return False
        for g in groups:
            g.slots.remove(slot)
        slot.retired = True
        self.index.forget(slot)
        self.policy.agent_removed(slot, groups)
        self._emit(now, "retired", None, slot.id, reason or None)
        return True

    def add_agent(self, agent: Agent, now: float) -> None:
        """A new agent joins the pool; with stealing on it takes waiting work at once."""
        if any(s.id == agent.id for s in self.slots):
            raise ConfigError(f"agent id {agent.id!r} is already in the pool; agent ids must be unique")
        if len(self.slots) >= IDX_MASK:
            raise ConfigError(f"a run holds at most {IDX_MASK:,} agents; agent {agent.id!r} is one too many")
        slot = AgentSlot(agent, len(self.slots))
        self.slots.append(slot)
        groups = self.index.add(slot)
        self.policy.agent_added(slot, groups)
        self._emit(now, "joined", None, slot.id, f"capacity {slot.capacity}, speed {slot.speed}")
        if self._steal:
            self._steal_for(slot, now)
