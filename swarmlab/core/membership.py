"""Agents joining, retiring and leaving a run, the run's units and the note that the
concurrency cap binds: :class:`Membership`, which the dispatcher owns
(``Dispatcher.membership``) and which works on the dispatcher's public state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..events import attempt_row
from ..model import Agent, TaskStatus
from .taskstate import DELAYED, QUEUED, RUNNING, TaskState
from .units import Units, devices_text

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = ["Membership"]


class Membership:
    """The pool's changes during a run, for the dispatcher ``d`` that owns this object
    (the drivers call ``d.membership.add_agent(...)``, ``lose_agent``, ``retire_agent``)."""

    __slots__ = ("d", "machine")

    def __init__(self, d: Dispatcher) -> None:
        self.d = d
        self.machine: tuple[int | None, str] = (None, "the machine")  # see pin_devices

    def use_units(self) -> Units:
        """The run's :class:`~swarmlab.core.units.Units`, made at the first need of one."""
        d = self.d
        if d.units is None:
            units = Units(d.limits, d.slots, d.recorder, d.queues.requeue)
            units.pin(*self.machine)
            d.units = d.queues.units = units
        return d.units

    def pin_devices(self, machine: int | None, where: str = "the machine") -> None:
        """The machine has ``machine`` GPU devices (None: no NVML device, the agents'
        declared indices are the table): the real-time driver says so before the first
        start (:func:`swarmlab.realtime.monitor.machine_devices`); ConfigError when the
        agents' gpu units cannot be split among them."""
        self.machine = (machine, where)
        if self.d.units is not None:
            self.d.units.pin(machine, where)

    def note_cap(self, now: float) -> None:
        """The first time ``max_concurrent_tasks`` holds back a task that an agent with a
        free slot could start, say so (once a run: it then binds again and again)."""
        d = self.d
        d.cap_noted = True
        total = sum(s.capacity for s in d.slots if not s.retired)
        d.recorder.emit(now, "capped", None, None,
                        f"max_concurrent_tasks={d.cap} holds back work that agents with free slots could "
                        f"start (their capacity: {total})")

    def add_agent(self, agent: Agent, now: float) -> None:
        """A new agent joins the pool; with stealing on it may take waiting work at once."""
        d = self.d
        if agent.resources:
            self.use_units().check_join(agent)  # its devices, before it joins
        slot = d.pool.join(agent)
        if d.units is not None or agent.resources:
            units = self.use_units()
            units.check_names()
            units.joined(slot)
        d.recorder.emit(now, "joined", None, slot.id, f"capacity {slot.capacity}, speed {slot.speed}")
        if d.stealer is not None:
            d.stealer.agent_joined(slot, now)

    def retire_agent(self, agent_id: str, now: float, reason: str = "") -> bool:
        """Take an idle agent out of the pool. Refused (False) while it has queued or
        running work, or when it is the last agent of some capability group."""
        d = self.d
        slot = d.pool.retire(agent_id)
        if slot is None:
            return False
        if d.stealer is not None:
            d.stealer.agent_left(slot)
        d.recorder.emit(now, "retired", None, slot.id, reason or None)
        return True

    def lose_agent(self, agent_id: str, now: float, reason: str = "the agent left") -> list[TaskState]:
        """An agent leaves the pool whatever it was doing (a failure, a scale-in).

        Its waiting tasks are placed again; each attempt it was running fails with
        ``error_type="agent_lost"`` and runs again elsewhere, not counted against
        ``max_retries``. A task no remaining agent can run ends ``failed``. Returns the
        tasks whose running attempt was lost (the driver stops them)."""
        d = self.d
        slot = d.pool.leave(agent_id)
        if d.stealer is not None:
            d.stealer.agent_left(slot)
        d.recorder.emit(now, "left", None, slot.id, reason)
        lost = [st for st in d.tasks.values() if st.slot is slot and st.state is RUNNING]
        waiting = d.queues.withdraw(slot)  # in rank order
        if d.units is not None:  # and those held off its queue for units
            waiting += d.queues.withdraw_held(
                [st for st in d.tasks.values() if st.slot is slot and st.state is QUEUED
                 and st.need is not None and d.units.forget(st, now)])
        for st in lost:
            started = st.started_s if st.started_s is not None else now
            d.recorder.attempts.append(attempt_row(
                task_id=st.id, name=st.task.name, attempt=st.attempt, status=TaskStatus.FAILED.value,
                priority=st.priority, agent_id=slot.id, mode=st.mode, worker=st.worker,
                submitted_s=st.submitted_s, ready_s=st.ready_s, started_s=started, finished_s=now,
                error_type="agent_lost", error=reason, devices=devices_text(st.devices)))
            st.wait_total += started - st.ready_s
            st.run_total += now - started
            d.run_s_total += now - started
            d.wait_s_total += started - st.ready_s
            d.attempts_ran += 1
            st.lost += 1
            d.recorder.emit(now, "failed", st.id, slot.id, "agent_lost")
            slot.running -= 1
            if d.units is not None:  # its units come back, and so do its calls' (swarmlab.acquire)
                d.units.ended(st, slot, False, now)
            d.n_running -= 1
            d.n_waiting += 1
        slot.work = slot.hi_work = 0.0
        for st in lost + waiting:
            st.state = DELAYED
            if st.group.slots:
                d.recorder.emit(now, "retried", st.id, None, "placed again: " + reason)
                d.queues.place(st, now)
            else:
                d.end_unstarted(st, now, TaskStatus.FAILED, f"{reason}, and no agent left can run it",
                                    "agent_lost")
                d.propagate(st, now)
        return lost
