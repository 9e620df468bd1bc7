"""The dispatcher's agent pool at run time: agents joining, leaving and retiring, and
what a work-stealing plugin may do (:meth:`PoolMixin.waiting`, :meth:`PoolMixin.move`).
A mixin of :class:`~swarmlab.core.dispatcher.Dispatcher`: it works on the dispatcher's own state
and is not used alone."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from ..errors import ConfigError
from ..model import Agent, TaskStatus
from ..scheduling.base import AgentSlot
from .taskstate import DELAYED, IDX_MASK, QUEUED, RUNNING, SEQ_MASK, TaskState

__all__ = ["PoolMixin"]


class PoolMixin:
    """Pool changes, and the two operations work stealing uses (see the module docstring)."""

    # ------------------------------------------------------------------ for stealing
    def waiting(self, slot: AgentSlot) -> Iterator[TaskState]:
        """The tasks waiting in ``slot``'s queue, best rank first."""
        q, by_seq = slot.queue, self._by_seq
        while slot.head < len(q) and not self._valid(q[slot.head], slot):
            slot.pop_head()  # cancelled or stolen since it was queued
        for key in islice(q, slot.head, None):
            st = by_seq.get(key & SEQ_MASK)
            if st is not None and st.state is QUEUED and st.slot is slot and st.key == key:
                yield st

    def task_of(self, key: int) -> TaskState | None:
        """The task a queue key (``TaskState.key``) was made for, while it waits under
        that key; None once it started, ended or was placed again."""
        return self._by_seq.get(key & SEQ_MASK)

    def move(self, st: TaskState, thief: AgentSlot, now: float) -> None:
        """Move the waiting task ``st`` to ``thief``'s queue (a steal), keeping its rank."""
        victim = st.slot
        if st.state is not QUEUED or victim is None or thief is victim or thief.retired:
            raise ConfigError(f"cannot move task {st.id!r} ({st.state}) from {getattr(victim, 'id', None)!r} "
                              f"to {thief.id!r}: only a waiting task moves, to another agent of the pool")
        if not st.task.requires <= thief.capabilities:
            raise ConfigError(f"agent {thief.id!r} lacks {sorted(st.task.requires - thief.capabilities)} "
                              f"that task {st.id!r} requires")
        victim.queued -= 1
        victim.drop_work(st.weight, st.priority)
        self._load_decreased(victim)
        self.placements.move(victim, thief, st.weight, st.group)
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
            g.remove(slot)
        slot.retired = True
        self.index.forget(slot)
        self.state.agent_removed(slot, self.index.groups_of(slot))
        if self.stealer is not None:
            self.stealer.agent_left(slot)
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
            self.run_s_total += now - started
            self.wait_s_total += started - st.ready_s
            self.attempts_ran += 1
            st.lost += 1
            self._emit(now, "failed", st.id, slot.id, "agent_lost")
            slot.running -= 1
            self.n_running -= 1
            self.n_waiting += 1
        for st in waiting:
            slot.queued -= 1
        slot.work = slot.hi_work = 0.0
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
            g.remove(slot)
        slot.retired = True
        self.index.forget(slot)
        self.state.agent_removed(slot, groups)
        if self.stealer is not None:
            self.stealer.agent_left(slot)
        self._emit(now, "retired", None, slot.id, reason or None)
        return True

    def add_agent(self, agent: Agent, now: float) -> None:
        """A new agent joins the pool; with stealing on it may take waiting work at once."""
        if any(s.id == agent.id for s in self.slots):
            raise ConfigError(f"agent id {agent.id!r} is already in the pool; agent ids must be unique")
        if len(self.slots) >= IDX_MASK:
            raise ConfigError(f"a run holds at most {IDX_MASK:,} agents; agent {agent.id!r} is one too many")
        slot = AgentSlot(agent, len(self.slots))
        self.slots.append(slot)
        groups = self.index.add(slot)
        self.placements.add_agent(slot)
        self.state.agent_added(slot, groups)
        self._emit(now, "joined", None, slot.id, f"capacity {slot.capacity}, speed {slot.speed}")
        if self.stealer is not None:
            self.stealer.agent_joined(slot, now)
