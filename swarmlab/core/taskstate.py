"""A submitted task's state in the dispatcher, and the queue-entry checks built on it.

A task's states in the dispatcher (a terminal state is its TaskStatus)::

    state      event (the call that brings it)                  next state
    ---------  -----------------------------------------------  --------------------------
    -          submit: it waits on unfinished dependencies      pending
    -          submit: none (or all completed)                  queued      (placed)
    -          submit: a dependency ended, not completed        upstream_failed
    pending    finish: its last dependency completed            queued      (ready, placed)
    pending    a dependency ends, not completed                 upstream_failed
    delayed    wake: its retry's backoff is over                queued      (ready, placed)
    queued     take_starts                                      running
    queued     take_starts: a unit is not free (held, parked)   queued      (off its queue)
    queued     (held) units back, bucket refilled, pause over   queued      (on its queue again)
    queued     a steal (the stealing plugin's move)             queued      (on the thief)
    queued     lose_agent (membership): its agent left          queued elsewhere, or failed
    running    finish: completed                                completed
    running    finish: RateLimited, under MAX_RATE_LIMITED      delayed     (rate_limited, no retry spent)
    running    finish: failed or timed out, a retry left        delayed     (retried)
    running    finish: lost with its worker (lost=True)         delayed     (retried, no backoff)
    running    finish: no retry left, or cancelled              failed, timed_out, cancelled
    running    lose_agent (membership): its agent left          queued elsewhere, or failed
    waiting    cancel, cancel_waiting                           cancelled
    running    finish after cancel_waiting: would wait again    cancelled   (nothing starts any more)
    -          placed: the policy returned no candidate         failed      (policy_error)
"""

from __future__ import annotations

from typing import Any

from ..model import Task, TaskResult
from ..scheduling.base import DEFAULT_WEIGHT_S, MIN_WEIGHT_S, AgentSlot

__all__ = ["TaskState", "PENDING", "DELAYED", "QUEUED", "RUNNING", "SEQ_BITS", "SEQ_MASK", "IDX_BITS",
           "IDX_MASK", "AGING_TICKS_PER_S"]

#: The states of a task not yet ended (an ended task holds its TaskStatus instead).
PENDING, DELAYED, QUEUED, RUNNING = "pending", "delayed", "queued", "running"

#: A queued task's rank is one int, ``(10 - priority) << SEQ_BITS | seq``: the smaller
#: goes first, so higher priorities lead and equal ones keep the order they became ready
#: in (``seq``, unique per placement, numbers the dispatcher's ``_by_seq``). Agents' queues
#: are sorted lists of these ints and the dispatcher's startable heap holds them: an int
#: compares several times faster than a tuple.
SEQ_BITS = 40
SEQ_MASK = (1 << SEQ_BITS) - 1
#: With aging (``Policy.aging_s``) a non-critical task's rank is instead
#: ``(1 + ticks) << SEQ_BITS | seq``, ``ticks`` its ready time plus ``(10 - priority)``
#: aging periods, in these ticks a second: waiting one period is worth one priority level,
#: the rank never changes while the task waits (aging costs nothing per waiting second),
#: and critical tasks (rank ``seq``) still lead. Ties within a tick keep ready order.
AGING_TICKS_PER_S = 1000
#: A startable entry is ``rank << IDX_BITS | agent index``: a run holds at most IDX_MASK agents.
IDX_BITS = 24
IDX_MASK = (1 << IDX_BITS) - 1


class TaskState:
    """The dispatcher's record of one submitted task (and of its attempt in flight)."""

    __slots__ = (
        "task", "id", "priority", "state", "waiting_on", "dependents", "attempt",
        "submitted_s", "ready_s", "started_s", "slot", "mode", "worker", "timeout",
        "wait_total", "run_total", "handle", "value", "error_type", "error", "tb", "weight",
        "group", "key", "lost", "rank", "need", "devices",
    )

    def __init__(self, task: Task, tid: str, priority: int, now: float, timeout: float | None, group: Any = None):
        self.task = task
        self.id = tid
        self.priority = priority
        self.state = PENDING
        self.waiting_on = 0
        self.dependents: list[TaskState] | None = None
        self.attempt = 0
        self.submitted_s = now
        self.ready_s = now
        self.started_s = None
        self.slot: AgentSlot | None = None
        self.mode: str | None = None
        self.worker: Any = None
        self.timeout = timeout
        self.wait_total = 0.0
        self.run_total = 0.0
        self.handle: Any = None  # the driver's handle on the attempt in flight
        self.value: Any = None
        self.error_type: str | None = None
        self.error: str | None = None
        self.tb: str | None = None
        e = task.estimate_s  # task_weight(task), inlined: this runs once per task
        self.weight = DEFAULT_WEIGHT_S if e is None else (e if e > MIN_WEIGHT_S else MIN_WEIGHT_S)
        self.group = group  # the Eligible group of agents that may run it
        self.lost = 0  # attempts lost with their agent or worker: not counted against max_retries
        self.key = 0  # its rank in an agent's queue while queued (see SEQ_BITS)
        self.rank = 0.0  # its upward rank, for a policy that orders starts by it (HEFT)
        self.need = None  # its resources, resolved (core.units.Need), or None
        self.devices: tuple[int, ...] = ()  # the GPU devices its attempt in flight holds

    def __repr__(self) -> str:
        return f"TaskState({self.id!r}, {self.state}, attempt={self.attempt})"

    def result(self) -> TaskResult:
        """The :class:`TaskResult` of a task that has ended."""
        slot = self.slot
        return TaskResult(
            self.id, self.state, self.value, self.error_type, self.error, self.tb,
            slot.id if slot is not None else None, self.mode, self.attempt, self.wait_total,
            self.run_total,
        )
