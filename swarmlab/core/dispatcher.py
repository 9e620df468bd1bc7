"""The dispatcher: one synchronous, clock-free state machine for every run.

It tracks dependencies, keeps per-agent priority queues, asks the policy where each
ready task goes, decides what starts next under the concurrency cap, applies retries
with backoff, propagates failures to dependents and records every event. It never
sleeps, never starts a thread and never reads a clock: the driver passes ``now``
(seconds since the start of the run) to every call, and measures what the calls cost
if it wants to. ``ParallelExecutor`` drives it in real time, ``simulate`` in virtual time.

A task's states and the calls that move it between them are tabled in
:mod:`swarmlab.core.taskstate`. Units (:mod:`swarmlab.core.units`) are taken at the
start and given back at every end of an attempt (kept by an abandoned one until
:meth:`Dispatcher.release`). "waiting" is pending, delayed or queued; "placed" is the
policy choosing an agent (``assigned``), and a task whose retry has no backoff is
placed at once. Every task that ends other than completed ends its waiting dependents
``upstream_failed``.
"""

from __future__ import annotations

import copy
import heapq
import math
import random
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from ..errors import ConfigError, QueueFullError, RateLimited
from ..events import EventCounts, Recorder, attempt_row, task_info_row
from ..model import TERMINAL, Agent, ResourceLimits, Task, TaskStatus
from ..scheduling.base import HIGH_PRIORITY, AgentSlot, Policy, PolicyState
from .estimates import Estimates
from .membership import Membership
from .pool import Pool
from .queues import Queues
from .reported import take_reported
from .submission import Intake, rank, wire
from .taskstate import DELAYED, PENDING, QUEUED, RUNNING, TaskState
from .units import MAX_BACKOFF_S, Units, devices_text, refused, resolve_all

__all__ = ["Dispatcher", "TaskState", "PENDING", "DELAYED", "QUEUED", "RUNNING"]
_COMPLETED = TaskStatus.COMPLETED
_TERMINAL_EVENT = {s: s.value for s in TaskStatus}
_COMPLETED_NAME = _COMPLETED.value  # (an enum's .value is a property: slow, once a task)
_WAITING = (PENDING, DELAYED, QUEUED)
_FAILED_STATES = TERMINAL - {_COMPLETED}  # a dependency that ended in one fails its dependents
_NO_IDS = ()
_RESOURCES = attrgetter("resources")


#: Attempts of one task that may be lost with their worker (a Dask worker that died under
#: them) and run again, apart from ``max_retries``; one more loss fails the task. The
#: figure is Dask's own ``allowed-failures`` default.
MAX_LOST_ATTEMPTS = 3


def _by_rank(st: TaskState) -> float:
    return -st.rank


class Dispatcher:
    """Decides what runs where and when; records what happened.

    Parameters
    ----------
    agents : sequence of Agent
    policy : Policy
    limits : ResourceLimits
    recorder : Recorder
    seed : int
        Seeds the retry jitter.
    on_terminal : callable, optional
        Called with each :class:`TaskState` as its task reaches a terminal state.
    estimator : DurationEstimator, optional
        Fills in the ``estimate_s`` of submitted tasks that have none (``predict_many``
        or ``predict``); the task is then replaced by a copy carrying the prediction, so
        the caller's Task keeps None. The tasks frame says where each estimate came from
        (``estimate_source``: ``given``, ``learned`` or ``default``, the latter weighed 1 s).
    learn : bool
        The estimator also learns from each completed attempt (``observe``), and a task
        whose estimate was not given is predicted again when it becomes ready, if the
        estimator learned something since (``version``).
    forget : bool
        Ended tasks are forgotten (a run that spills its rows): their state leaves
        :attr:`tasks` and :attr:`finished` stays empty; :attr:`ended` keeps how each
        ended, in 9 bytes (none for a completed task with an automatic id), so duplicate
        ids and dependencies on ended tasks are still checked (:meth:`ended_status`).
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        policy: Policy,
        limits: ResourceLimits,
        recorder: Recorder,
        *,
        seed: int = 0,
        on_terminal: Callable[[TaskState], None] | None = None,
        estimator: Any = None,
        learn: bool = False,
        forget: bool = False,
    ) -> None:
        self.pool = pool = Pool(agents, policy)
        self.slots, self.index, self.state, self.placements = pool.slots, pool.index, pool.state, pool.placements
        self.policy = policy
        self.policy_error: ConfigError | None = None  # the first choice that was not a candidate
        self.limits = limits
        # No cap given: the agents' own capacities are the only limit.
        cap = limits.max_concurrent_tasks
        self.cap: float = math.inf if cap is None else cap
        self.cap_noted = cap is None
        self.max_queue: float = limits.max_queue_size
        self.recorder = recorder  # its emit is called, not kept bound: a method call is cheaper
        self._attempts = recorder.attempts
        # (None: the policy does not listen, as round robin; a call saved per attempt)
        listens = type(self.state).load_decreased is not PolicyState.load_decreased
        self._load_decreased = self.state.load_decreased if listens else None
        self.rng = random.Random(seed)
        self.on_terminal = on_terminal
        self.tasks: dict[str, TaskState] = {}
        self.finished: list[TaskState] = []  # in the order they ended
        self.counts: dict[TaskStatus, int] = dict.fromkeys(TaskStatus, 0)
        self.n_waiting = 0  # pending + delayed + queued
        # Run and wait time of every attempt that ran and ended, and their count: kept as
        # they end, so metrics never rescan the attempts.
        self.run_s_total = self.wait_s_total = 0.0
        self.attempts_ran = 0
        self.n_running = 0
        self.n_unfinished = 0
        self._delay_seq = 0
        self.throttled = False  # admission paused by a resource limit
        self.first_submit_s: float | None = None
        self.last_terminal_s: float | None = None
        self._delayed: list[tuple[float, int, TaskState]] = []
        self.estimator = estimator
        self.estimates = Estimates(estimator, learn, recorder.task_info) if estimator is not None else None
        self._learning = self.estimates if learn and estimator is not None else None
        self._observe = self._learning.observe if self._learning is not None else None
        self.queues = Queues(self.slots, policy, self.state, self.placements, recorder, self._bad_choice,
                             on_ready=self._learning.ready if self._learning is not None else None)
        self._ordered = self.queues.ordered
        self._enqueue = self.queues.place
        self._push_head = self.queues.push_head
        # Work stealing is a plugin bound to the queues: its per-run state hears the hooks.
        self.stealer = self.queues.stealer
        self._freed: list[AgentSlot] = []  # agents that got a free slot since the last take_starts
        self.intake = Intake(self.tasks, self.index, forget)
        self.ended = self.intake.ended
        self.units: Units | None = None  # agent units, pools and rates: only a run that has some
        self.membership = Membership(self)  # agents joining, retiring, leaving (core/membership.py)
        self.rate_limited: dict[str, list[int]] = {}  # task id -> [refusals, refusals in a row]
        self.closed: str | None = None  # why nothing starts any more (cancel_waiting), or None
        if limits.pools or limits.rates or limits.budgets or any(a.resources for a in agents):
            self.membership.use_units()

    # ------------------------------------------------------------------ submission
    def submit(self, tasks: Sequence[Task], now: float, priorities: Sequence[int | None] | None = None) -> list[str]:
        """Accept a batch atomically: either every task is accepted or none is.

        Raises
        ------
        ConfigError
            Duplicate or unknown ids, a bad priority.
        DependencyCycleError
            The batch's dependencies form a cycle.
        NoEligibleAgentError
            No agent holds every capability a task requires.
        QueueFullError
            Accepting the batch would exceed ``max_queue_size`` waiting tasks.
        """
        n = len(tasks)
        if self.n_waiting + n > self.max_queue:
            raise QueueFullError(
                f"the queue holds {self.n_waiting} waiting tasks and max_queue_size is "
                f"{self.limits.max_queue_size}; {n} more do not fit; wait for tasks to "
                "finish or raise ResourceLimits.max_queue_size"
            )
        intake = self.intake
        ids, prios, dep_ids, next_auto, given = intake.check(tasks, priorities)
        needs = None
        if self.units is not None or any(map(_RESOURCES, tasks)):
            needs = resolve_all(self.membership.use_units(), tasks, ids, self.index)
            declared = self.units.declared
        learned = self.estimates.predict(tasks, ids) if self.estimates is not None else None

        # Checked: from here on nothing raises and every task is accepted.
        intake.accept(tasks, ids, next_auto, given)
        if self.first_submit_s is None and n:
            self.first_submit_s = now
        self.n_waiting += n
        self.n_unfinished += n
        known, groups, rec = self.tasks, self.index.groups, self.recorder
        info, default_timeout, enqueue = rec.task_info, self.limits.task_timeout, self._enqueue
        ev = rec.events
        fold = ev.fold if isinstance(ev, EventCounts) else None
        fold_at = EventCounts.FOLD_AT
        track = self._learning.track if self._learning is not None else None
        ordered = self._ordered
        # (placed as they come unless ranked or wired first: no list for a plain batch)
        states = [] if ordered or dep_ids is not None else None
        for i, (t, tid, p) in enumerate(zip(tasks, ids, prios)):
            if t.id is None:
                t.id = tid
            if t.name is None:
                t.name = tid
            source = "given" if t.estimate_s is not None else "default"
            if learned is not None and learned[i] is not None:
                t = copy.copy(t)  # the caller's task keeps its estimate_s of None
                t.estimate_s, source = learned[i], "learned"
            st = TaskState(t, tid, p or t.priority, now, default_timeout if t.timeout is None else t.timeout,
                           groups[t.requires])
            if needs is not None and needs[i] is not None:
                st.need = need = needs[i]
                declared[tid] = t.resources  # (the task's own checked dict) replay keeps them
                if need.agent:
                    st.group = groups[(t.requires, need.agent)]
            known[tid] = st
            row = task_info_row(task_id=tid, kind=t.kind, estimate_s=t.estimate_s,
                                requires=tuple(sorted(t.requires)) if t.requires else _NO_IDS,
                                dependencies=_NO_IDS if dep_ids is None else tuple(dep_ids[i]),
                                estimate_source=source)
            info.append(row)
            if track is not None and source != "given":
                track(tid, row)
            rec.emit(now, "submitted", tid)
            if states is None:
                enqueue(st, now)
            else:
                states.append(st)
            if fold is not None and len(ev) > fold_at:  # counted events: keep them bounded
                fold()
        if ordered:
            rank(states, ids, dep_ids)
            if dep_ids is None:
                for st in sorted(states, key=_by_rank):
                    enqueue(st, now)
        if dep_ids is not None:
            self._link(states, dep_ids, now)
        if self.closed is not None:  # (a budget spent) nothing starts any more: they end at once
            self.cancel_waiting(now, self.closed)
        return ids

    def _link(self, states: list[TaskState], dep_ids: list[list[str]], now: float) -> None:
        """Wire accepted tasks to their dependencies; start or fail the ones that can."""
        known = self.tasks
        wire(states, dep_ids, known)
        pairs = zip(states, dep_ids)
        if self._ordered:
            pairs = sorted(pairs, key=lambda pair: _by_rank(pair[0]))
        for st, deps in pairs:
            if st.state is not PENDING:
                continue  # already ended upstream_failed by an earlier task in the batch
            for did in deps:
                dep = known.get(did)
                state = dep.state if dep is not None else self.intake.ended_status(did)
                if state in _FAILED_STATES:
                    self.end_unstarted(st, now, TaskStatus.UPSTREAM_FAILED, f"dependency {did!r} ended {state.value}")
                    self.propagate(st, now)
                    break
            else:
                if st.waiting_on == 0:
                    self._enqueue(st, now)

    def ended_status(self, tid: str) -> TaskStatus | None:
        """How a task that ended and was forgotten (``forget``) ended; None when this
        run forgot no task of that id."""
        return self.intake.ended_status(tid)

    def _bad_choice(self, st: TaskState, err: ConfigError, now: float) -> None:
        """The policy returned something that is not one of the candidates (``err``
        says what): the task fails (``policy_error``) and the run reports the error."""
        if self.policy_error is None:
            self.policy_error = err
        st.slot = None
        self.end_unstarted(st, now, TaskStatus.FAILED, str(err), "policy_error")
        self.propagate(st, now)

    # ------------------------------------------------------------------ starts
    def take_starts(self, now: float, limit: int | None = None) -> list[TaskState]:
        """The tasks to start now, best priority first, within every capacity.

        Each returned task counts as running; the driver reports the actual start with
        :meth:`started` and the outcome with :meth:`finish`.
        """
        if self._freed:
            freed, self._freed = self._freed, []
            slot_free = self.stealer.slot_free
            for slot in freed:
                if not slot.retired and slot.running < slot.capacity:
                    slot_free(slot, now)
        free = self.cap - self.n_running
        if limit is not None:
            free = min(free, limit)
        units = self.units
        if units is not None:
            units.at(now)
        out = self.queues.take(free, self.throttled, self.n_running > 0)
        if units is not None and not out and not self.n_running and units.parked:
            units.unpark_all(now)  # nothing runs to give units back: check the held ones again
            out = self.queues.take(free, self.throttled, False)
        n = len(out)
        self.n_running += n
        self.n_waiting -= n
        if not self.cap_noted and self.n_running >= self.cap and self.queues.startable_now():
            self.membership.note_cap(now)
        return out

    def may_start(self) -> bool:
        """Whether :meth:`take_starts` could start or change anything now. False is exact:
        no agent with a free slot holds a waiting task, or the run is at its cap with
        nothing to note; no units to refill, no freed agent for the stealing plugin (a
        driver that submits one task at a time to a full run asks nothing more)."""
        if self.units is not None or self._freed:
            return True
        if self.n_running < self.cap:  # a free slot under the cap: is any agent's best task startable?
            return self.queues.any_startable()
        return not self.cap_noted and self.queues.startable_now()

    def started(self, st: TaskState, now: float, mode: str, worker: Any = None) -> None:
        """Record that the attempt of ``st`` began running on ``mode`` (``worker`` optional)."""
        st.started_s = now
        st.mode = mode
        st.worker = worker
        self.recorder.emit(now, "started", st.id, st.slot.id, mode)

    # ------------------------------------------------------------------ outcomes
    def finish(
        self,
        st: TaskState,
        attempt: int,
        now: float,
        status: TaskStatus,
        value: Any = None,
        exc: BaseException | None = None,
        error_type: str | None = None,
        tb: str | None = None,
        lost: bool = False,
        abandoned: bool = False,
        reported: dict[str, float] | None = None,
    ) -> bool:
        """Report how an attempt ended. Returns False (and ignores it) if stale.

        ``lost``: the attempt failed because its worker was lost, not through its own
        doing: it runs again at once, counted apart from ``max_retries``, up to
        :data:`MAX_LOST_ATTEMPTS` losses. ``abandoned``: it was not stopped (a thread
        runs on): it keeps its units until the driver calls :meth:`release`.
        ``reported``: what the body reported (``report()``): report rows, and rates
        trued up (:mod:`~swarmlab.core.reported`). A ``RateLimited`` ``exc`` ends it ``rate_limited``."""
        if st.state is not RUNNING or st.attempt != attempt:
            return False
        if reported:  # recorded (report rows) and trued up against the rates
            take_reported(self, st, attempt, reported, now)
        started = self._attempt_ended(st, now, status, abandoned)
        slot = st.slot
        if status is _COMPLETED:  # recorded, ended, its dependents released
            if self._observe is not None:
                self._observe(st.task, slot.agent, now - started)
            self._attempts.append(attempt_row(
                task_id=st.id, name=st.task.name, attempt=attempt, status=_COMPLETED_NAME, priority=st.priority,
                agent_id=slot.id, mode=st.mode, worker=st.worker, submitted_s=st.submitted_s, ready_s=st.ready_s,
                started_s=started, finished_s=now, error_type=None, error=None,
                devices=devices_text(st.devices) if st.devices else ""))
            st.value = value
            self._terminal(st, now, status)
            if st.dependents:
                self._release(st, now)
            return True
        # not completed: recorded; retried, or ended with its dependents
        if error_type is None:
            error_type = type(exc).__name__ if exc is not None else _TERMINAL_EVENT[status]
        error = str(exc) if exc is not None else None
        capped = False  # refused by a provider MAX_RATE_LIMITED times in a row: no retry
        if isinstance(exc, RateLimited) and status is TaskStatus.FAILED:  # waits for the retry-after
            delay = refused(self, st, attempt, now, started, exc, error)  # (None: refused too often)
            if delay is not None:
                self._delay(st, now, delay)
                return True
            error_type, capped = "rate_limited", True
        self._attempts.append(attempt_row(
            task_id=st.id, name=st.task.name, attempt=attempt, status=_TERMINAL_EVENT[status],
            priority=st.priority, agent_id=slot.id, mode=st.mode, worker=st.worker,
            submitted_s=st.submitted_s, ready_s=st.ready_s, started_s=started, finished_s=now,
            error_type=error_type, error=error, devices=devices_text(st.devices)))
        if capped or not self._retry(st, attempt, now, status, exc, error_type, lost):
            st.value, st.error_type, st.error, st.tb = value, error_type, error, tb
            self._terminal(st, now, status)
            if st.dependents:
                self.propagate(st, now)
        return True

    def release(self, st: TaskState, attempt: int, now: float) -> bool:
        """The abandoned attempt ``attempt`` of ``st`` (``finish(abandoned=True)``) really
        returned: its units come back. False when it kept none."""
        return self.units is not None and self.units.release_kept(st, attempt, now)

    def _attempt_ended(self, st: TaskState, now: float, status: TaskStatus, abandoned: bool = False) -> float:
        """The attempt in flight of ``st`` ended with ``status``: its slot is free, its
        times and its agent's measurements count. Returns when it started."""
        slot = st.slot
        slot.running -= 1
        if self.units is not None:  # its units (and its calls') come back, or stay while abandoned
            self.units.ended(st, slot, abandoned, now)
        w = st.weight  # slot.drop_work(st.weight, st.priority), inlined: once an attempt
        slot.work -= w
        if st.priority >= HIGH_PRIORITY:
            slot.hi_work -= w
        self.n_running -= 1
        started = st.started_s
        if started is None:
            started = now
        run = now - started
        wait = started - st.ready_s
        st.wait_total += wait
        st.run_total += run
        self.run_s_total += run
        self.wait_s_total += wait
        self.attempts_ran += 1
        slot.n_done += 1
        if status is _COMPLETED:
            slot.n_ok += 1
            est = st.task.estimate_s
            if est is not None:
                slot.est_sum += est
                slot.run_sum += run
                if st.task.requires:
                    slot.measure(st.task.requires, est, run)
        if self._load_decreased is not None:
            self._load_decreased(slot)
        if slot.running == slot.capacity - 1:  # the agent just got a free slot
            self._push_head(slot)
            if self.stealer is not None:  # heard at the next take_starts, once this instant's
                self._freed.append(slot)  # outcomes and the work they released are placed
        return started

    def _release(self, st: TaskState, now: float) -> None:
        """``st`` completed: each dependent it was the last one to wait on is ready."""
        deps = st.dependents
        if self._ordered:
            deps = sorted(deps, key=_by_rank)
        for d in deps:
            d.waiting_on -= 1
            if d.waiting_on == 0 and d.state is PENDING:
                self.recorder.emit(now, "ready", d.id)
                self._enqueue(d, now)

    def _retry(self, st: TaskState, attempt: int, now: float, status: TaskStatus, exc: BaseException | None,
               error_type: str, lost: bool) -> bool:
        """Whether the failed attempt runs again; if so ``st`` waits (delayed) for it."""
        slot = st.slot
        if lost:
            st.lost += 1
            if st.lost > MAX_LOST_ATTEMPTS:
                return False
            delay = 0.0
            why = f" (lost {st.lost} of {MAX_LOST_ATTEMPTS} allowed, not counted against max_retries)"
        else:
            limited = self.rate_limited.get(st.id) if self.rate_limited else None
            if limited is not None:
                limited[1] = 0  # a refusal streak ends with an attempt that was not refused
            tries = attempt - st.lost - (limited[0] if limited is not None else 0)  # failed by their own doing
            if not ((status is TaskStatus.FAILED or status is TaskStatus.TIMED_OUT)
                    and tries <= st.task.max_retries and isinstance(exc, st.task.retry_on)):
                return False
            delay = min(MAX_BACKOFF_S, st.task.retry_backoff_s * 2 ** (tries - 1)) * (0.5 + self.rng.random())
            why = ""
        self.recorder.emit(now, _TERMINAL_EVENT[status], st.id, slot.id, error_type)
        if self.closed is None:
            self.recorder.emit(now, "retried", st.id, slot.id, f"attempt {attempt + 1} in {delay:.3f}s{why}")
        self._delay(st, now, delay)
        return True

    def _delay(self, st: TaskState, now: float, delay: float) -> None:
        """``st`` waits ``delay`` seconds (delayed) before it is placed again; at once for 0.
        Once the run is closed (:meth:`cancel_waiting`) nothing would start it: it ends
        ``cancelled`` at once, as a task waiting at the close did."""
        st.state = DELAYED
        self.n_waiting += 1
        if self.closed is not None:
            self.end_unstarted(st, now, TaskStatus.CANCELLED, f"{self.closed} (its attempt {st.attempt + 1})")
        elif delay <= 0:
            self._enqueue(st, now)
        else:
            self._delay_seq += 1
            heapq.heappush(self._delayed, (now + delay, self._delay_seq, st))

    def _terminal(self, st: TaskState, now: float, status: TaskStatus) -> None:
        st.state = status
        self.n_unfinished -= 1
        self.last_terminal_s = now
        self.counts[status] += 1
        if self.ended is None:
            self.finished.append(st)
        else:  # forgotten; how it ended is kept, unless a completed task with an automatic id
            del self.tasks[st.id]
            self.intake.forget(st.id, status)
        if self._learning is not None:
            self._learning.ended(st.id)
        slot = st.slot
        self.recorder.emit(now, _TERMINAL_EVENT[status], st.id, slot.id if slot is not None else None, st.error_type)
        if self.on_terminal is not None:
            self.on_terminal(st)

    def end_unstarted(self, st: TaskState, now: float, status: TaskStatus, reason: str,
                       error_type: str | None = None) -> None:
        """End a waiting task without running it: one attempt row with no start."""
        error_type = error_type or status.value
        if st.need is not None:
            self.units.forget(st, now)
        if st.state is QUEUED:
            self.queues.drop(st)
        self.n_waiting -= 1
        self._attempts.append(attempt_row(
            task_id=st.id, name=st.task.name, attempt=st.attempt + 1 if st.attempt else 0, status=status.value,
            priority=st.priority, agent_id=st.slot.id if st.slot else None, mode=None, worker=None,
            submitted_s=st.submitted_s, ready_s=st.ready_s if st.state is not PENDING else None, started_s=None,
            finished_s=now, error_type=error_type, error=reason, devices=""))
        st.error_type, st.error = error_type, reason
        self._terminal(st, now, status)

    def propagate(self, failed: TaskState, now: float) -> None:
        """Every transitive dependent of ``failed`` ends upstream_failed and never runs."""
        stack = [failed]
        while stack:
            cause = stack.pop()
            for d in cause.dependents or ():
                if d.state is PENDING:
                    self.end_unstarted(d, now, TaskStatus.UPSTREAM_FAILED,
                                        f"dependency {cause.id!r} ended {cause.state.value}")
                    stack.append(d)

    # ------------------------------------------------------------------ time and cancellation
    def next_wakeup(self) -> float | None:
        """When the dispatcher next has something to do by itself (a retry's backoff
        ends), or None. Aging needs no wake-ups: it is part of a task's rank."""
        at = self.units.next_wakeup() if self.units is not None else None
        if not self._delayed:
            return at
        due, _, _ = self._delayed[0]
        return due if at is None or due < at else at

    def wake(self, now: float) -> None:
        """Make every retry whose backoff has elapsed ready; pauses over and buckets
        refilled put back the tasks they held."""
        if self.units is not None:
            self.units.now = now
            self.units.wake(now)
        dl = self._delayed
        while dl:
            due, _, st = dl[0]
            if due > now:
                break
            heapq.heappop(dl)
            if st.state is DELAYED:
                self.recorder.emit(now, "ready", st.id)
                self._enqueue(st, now)

    def set_throttled(self, on: bool, now: float, reading: str) -> None:
        """Pause (``on``) or resume admission of new tasks; ``reading`` says why."""
        if on != self.throttled:
            self.throttled = on
            self.recorder.emit(now, "throttled" if on else "resumed", None, None, reading)

    def cancel(self, tid: str, now: float, reason: str = "cancelled") -> str:
        """Cancel one task. Returns its state before: a waiting task ends ``cancelled``
        here (its dependents ``upstream_failed``); a running one must be stopped by the
        driver, which then reports ``cancelled`` through :meth:`finish`."""
        st = self.tasks.get(tid)
        if st is None:
            ended = self.ended_status(tid)
            if ended is not None:
                return ended.value
            raise ConfigError(f"no task {tid!r} in this run")
        before = st.state
        if before in _WAITING:
            self.end_unstarted(st, now, TaskStatus.CANCELLED, reason)
            self.propagate(st, now)
        return before if isinstance(before, str) else before.value

    def cancel_waiting(self, now: float, reason: str) -> None:
        """Cancel every task not yet running and close the run (used by stop): a running
        task that would wait again (a retry, a refusal, a lost attempt) ends cancelled."""
        self.closed = reason
        for st in list(self.tasks.values()):
            if st.state in _WAITING:
                self.end_unstarted(st, now, TaskStatus.CANCELLED, reason)
        self._delayed.clear()
        self.queues.clear()

    def running(self) -> list[TaskState]:
        return [st for st in self.tasks.values() if st.state is RUNNING]

    @property
    def done(self) -> bool:
        """True when every submitted task has reached a terminal state."""
        return self.n_unfinished == 0

