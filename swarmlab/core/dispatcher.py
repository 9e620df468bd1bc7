"""The dispatcher: one synchronous, clock-free state machine for every run.

It tracks dependencies, keeps per-agent priority queues, asks the policy where each
ready task goes, decides what starts next under the concurrency cap, applies retries
with backoff, propagates failures to dependents and records every event. It never
sleeps, never starts a thread and never reads a clock: the driver passes ``now``
(seconds since the start of the run) to every call. ``ParallelExecutor`` drives it in
real time, ``simulate`` in virtual time.
"""

from __future__ import annotations

import copy
import heapq
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError, DependencyCycleError, QueueFullError
from ..events import EventCounts, Recorder
from ..model import Agent, ResourceLimits, Task, TaskStatus
from ..scheduling.base import MIN_WEIGHT_S, AgentSlot, Policy
from ..scheduling.capabilities import CapabilityIndex
from ..scheduling.dag import find_cycle, upward_ranks
from ..scheduling.metrics import Placements
from .ended import EndedTasks
from .pool import PoolMixin
from .taskstate import (
    AGING_TICKS_PER_S,
    DELAYED,
    IDX_BITS,
    IDX_MASK,
    PENDING,
    QUEUED,
    RUNNING,
    SEQ_BITS,
    SEQ_MASK,
    TaskState,
)

__all__ = ["Dispatcher", "TaskState", "PENDING", "DELAYED", "QUEUED", "RUNNING"]
_COMPLETED = TaskStatus.COMPLETED
_TERMINAL_EVENT = {s: s.value for s in TaskStatus}

# Retry backoff is capped so that a task with many retries cannot sleep for hours.
MAX_BACKOFF_S = 60.0

#: Attempts of one task that may be lost with their worker (a Dask worker that died under
#: them) and run again, apart from ``max_retries``; one more loss fails the task. The
#: figure is Dask's own ``allowed-failures`` default.
MAX_LOST_ATTEMPTS = 3

#: With a policy that orders starts (HEFT), a queue key is
#: ``((10 - priority) << ORDER_BITS | order) << SEQ_BITS | seq``, ``order`` the upward rank
#: in ticks, inverted (the higher rank first).
ORDER_BITS = 40
ORDER_MASK = (1 << ORDER_BITS) - 1


def _by_rank(st: TaskState) -> float:
    return -st.rank
_clock = time.perf_counter  # times each decision of the policy (SchedulingMetrics.scheduling_time)


class Dispatcher(PoolMixin):
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
        agents = list(agents)
        if not agents:
            raise ConfigError("a run needs at least one agent; got an empty agent list")
        ids = [a.id for a in agents]
        if len(ids) > IDX_MASK:
            raise ConfigError(f"a run holds at most {IDX_MASK:,} agents; got {len(ids):,}")
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigError(f"agent ids must be unique; these repeat: {dup}")
        self.slots = [AgentSlot(a, i) for i, a in enumerate(agents)]
        self.index = CapabilityIndex(self.slots)
        self.policy = policy
        self.state = policy.bind(self.slots)  # what the policy learns in this run
        self.placements = Placements(self.slots)
        self.policy_error: ConfigError | None = None  # the first choice that was not a candidate
        # A policy that orders starts itself (HEFT, by upward rank) replaces aging.
        self._ordered = bool(getattr(policy, "orders_starts", False))
        self._aging_s = None if self._ordered else policy.aging_s
        # Queue keys below this are critical (priority 10): they start even while throttled.
        self._critical_below = 1 << (SEQ_BITS + (ORDER_BITS if self._ordered else 0))
        self.limits = limits
        # No cap given: the agents' own capacities are the only limit.
        cap = limits.max_concurrent_tasks
        self.cap: float = math.inf if cap is None else cap
        self._cap_noted = cap is None
        self.max_queue: float = limits.max_queue_size
        self.recorder = recorder
        self._emit = recorder.emit
        self._ev = recorder.events
        self._attempts = recorder.attempts
        self._load_decreased = self.state.load_decreased
        self._choose = self.state.choose
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
        self._seq = 0
        # queue key & SEQ_MASK -> its task, while it waits under that key
        self._by_seq: dict[int, TaskState] = {}
        self._delay_seq = 0
        self._auto_id = 0
        self.throttled = False  # admission paused by a resource limit
        self.first_submit_s: float | None = None
        self.last_terminal_s: float | None = None
        # Agents with a free slot and a waiting task: their queue's head << IDX_BITS | idx.
        self._startable: list[int] = []
        self._delayed: list[tuple[float, int, TaskState]] = []
        # Work stealing is a plugin: its per-run state hears the hooks (scheduling.stealing).
        self.stealer = policy.stealing.bind(self) if policy.stealing is not None else None
        self._freed: list[AgentSlot] = []  # agents that got a free slot since the last take_starts

        self.estimator = estimator
        self._observe = estimator.observe if learn and estimator is not None else None
        # learning: unfinished task id -> [its task_info row, the estimator's version when predicted]
        self._estimated: dict[str, list] | None = {} if self._observe is not None else None
        self.ended = EndedTasks() if forget else None
        self._given_auto: set[str] = set()  # forgetting: given ids that look like automatic ones

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
        known = self.tasks
        groups = self.index.groups
        ids: list[str] = []
        auto = self._auto_id
        given_auto = self._given_auto  # (forgetting) given ids that automatic ones must skip
        any_deps = False
        given = 0  # ids given by the caller (auto ids are unique and new by construction)
        for t in tasks:
            if not isinstance(t, Task):
                raise ConfigError(f"submit takes Task objects; got {type(t).__name__} {t!r}")
            tid = t.id
            if tid is None:
                tid = f"task-{auto}"
                while tid in known or (given_auto and tid in given_auto):
                    auto += 1
                    tid = f"task-{auto}"
                auto += 1
            else:
                given += 1
            ids.append(tid)
            if t.dependencies:
                any_deps = True
            if t.requires not in groups:
                self.index.eligible(t.requires, tid)  # raises NoEligibleAgentError
        in_batch = set(ids) if given or any_deps else None
        if (in_batch is not None and (len(in_batch) != n or not in_batch.isdisjoint(known))
                or len(set(tasks)) != n):  # Task hashes by identity: the same object twice
            self._explain_duplicates(tasks, ids)
        if self.ended is not None and given:
            self._refuse_forgotten_ids([tid for t, tid in zip(tasks, ids) if t.id is not None])
        if priorities is not None:
            for p in priorities:
                if p is not None and (isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 10):
                    raise ConfigError(f"priority must be an int from 1 (low) to 10 (critical); got {p!r}")
        else:
            priorities = [None] * n
        dep_ids = self._resolve_dependencies(tasks, ids, in_batch) if any_deps else None
        learned = self._predictions(tasks, ids) if self.estimator is not None else None

        # Validated: from here on nothing raises and every task is accepted.
        self._auto_id = auto
        if self.ended is not None and given:
            given_auto.update(tid for t, tid in zip(tasks, ids) if t.id is not None and tid.startswith("task-"))
        if self.first_submit_s is None and n:
            self.first_submit_s = now
        self.n_waiting += n
        self.n_unfinished += n
        ev = self._ev
        info = self.recorder.task_info
        default_timeout = self.limits.task_timeout
        enqueue = self._enqueue
        fold = ev.fold if isinstance(ev, EventCounts) else None
        fold_at = EventCounts.FOLD_AT
        states = []
        no_deps = ()
        ordered = self._ordered
        for i, (t, tid, p) in enumerate(zip(tasks, ids, priorities)):
            if t.id is None:
                t.id = tid
            if t.name is None:
                t.name = tid
            source = "given" if t.estimate_s is not None else "default"
            if learned is not None and learned[i] is not None:
                t = copy.copy(t)  # the caller's task keeps its estimate_s of None
                t.estimate_s, source = learned[i], "learned"
            st = TaskState(t, tid, p or t.priority, now,
                           default_timeout if t.timeout is None else t.timeout)
            st.group = groups[t.requires]
            known[tid] = st
            row = (tid, t.kind, t.estimate_s, tuple(sorted(t.requires)) if t.requires else no_deps,
                   no_deps if dep_ids is None else tuple(dep_ids[i]), source)
            info.append(row)
            if self._estimated is not None and source != "given":
                self._estimated[tid] = [row, self.estimator.version]
            ev.append((len(ev), now, "submitted", tid, None, None))
            if dep_ids is None and not ordered:
                enqueue(st, now)
            else:
                states.append(st)
            if fold is not None and len(ev) > fold_at:  # counted events: keep them bounded
                fold()
        if ordered:
            self._rank(states, ids, dep_ids)
            if dep_ids is None:
                for st in sorted(states, key=_by_rank):
                    enqueue(st, now)
        if dep_ids is not None:
            self._link(states, dep_ids, now)
        return ids

    def _rank(self, states: list[TaskState], ids: list[str], dep_ids: list[list[str]] | None) -> None:
        """Upward ranks of a batch, for a policy that orders starts by them (HEFT)."""
        if dep_ids is None:
            for st in states:
                st.rank = st.weight
            return
        pos = {tid: i for i, tid in enumerate(ids)}
        deps = [[pos[d] for d in ds if d in pos] for ds in dep_ids]
        for st, r in zip(states, upward_ranks([st.weight for st in states], deps)):
            st.rank = r

    def _predictions(self, tasks: Sequence[Task], ids: list[str]) -> list[float | None]:
        """The estimator's prediction for each task that has no estimate_s (None elsewhere)."""
        todo = [i for i, t in enumerate(tasks) if t.estimate_s is None]
        out: list[float | None] = [None] * len(tasks)
        if not todo:
            return out
        est = self.estimator
        named = []
        for i in todo:  # predicted by id (for its facts) and name, as it will be known
            t = tasks[i]
            if t.id is None or t.name is None:
                t = copy.copy(t)
                t.id, t.name = ids[i], t.name or ids[i]
            named.append(t)
        many = getattr(est, "predict_many", None)
        got = many(named) if many is not None else [est.predict(t) for t in named]
        for i, p in zip(todo, got):
            out[i] = _checked_estimate(p, est, ids[i])
        return out

    def _predict_again(self, st: TaskState, entry: list[int]) -> None:
        """Learning: a task whose estimate was not given becomes ready; if the estimator
        learned since it was predicted, predict it again (it is neither queued nor running)."""
        est = self.estimator
        if est.version == entry[1]:
            return
        entry[1] = est.version
        p = _checked_estimate(est.predict(st.task), est, st.id)
        if p is None:
            return
        row = entry[0]
        if row[5] == "default":
            st.task = copy.copy(st.task)  # until now the caller's own
        st.task.estimate_s = p
        st.weight = p if p > MIN_WEIGHT_S else MIN_WEIGHT_S
        # rows are only appended (a journal or a spill may have written the first): the
        # task's last row is the one that holds (records.RunRecord.tasks)
        entry[0] = row[:2] + (p,) + row[3:5] + ("learned",)
        self.recorder.task_info.append(entry[0])

    def ended_status(self, tid: str) -> TaskStatus | None:
        """How a task that ended and was forgotten (``forget``) ended; None when this
        run forgot no task of that id."""
        if self.ended is None:
            return None
        status = self.ended.get(tid)
        if status is None and self._was_auto(tid):
            return _COMPLETED  # completed tasks with automatic ids are not kept
        return status

    def _was_auto(self, tid: str) -> bool:
        """``tid`` is an automatic id this run gave (``task-<n>``, n below the counter)."""
        n = tid[5:]
        return (tid.startswith("task-") and n.isascii() and n.isdigit() and (n == "0" or n[0] != "0")
                and int(n) < self._auto_id and tid not in self._given_auto)

    def _refuse_forgotten_ids(self, given: list[str]) -> None:
        dup = self.ended.first_of(given) or next((t for t in given if self._was_auto(t)), None)
        if dup is not None:
            raise ConfigError(f"task id {dup!r} is already used in this run (that task ended "
                              f"{self.ended_status(dup).value}); task ids must be unique")

    def _explain_duplicates(self, tasks: Sequence[Task], ids: list[str]) -> None:
        seen_obj: set[int] = set()
        seen: set[str] = set()
        for t, tid in zip(tasks, ids):
            if id(t) in seen_obj:
                raise ConfigError(f"the same Task object {tid!r} appears twice in one batch")
            if tid in seen or tid in self.tasks:
                raise ConfigError(f"task id {tid!r} is already used in this run; task ids must be unique")
            seen_obj.add(id(t))
            seen.add(tid)

    def _resolve_dependencies(self, tasks: Sequence[Task], ids: list[str], in_batch: set[str]) -> list[list[str]]:
        """Dependency ids per task; unknown ones and cycles raise."""
        known = self.tasks
        batch_ids = {id(t): tid for t, tid in zip(tasks, ids)}
        dep_ids: list[list[str]] = []
        for t, tid in zip(tasks, ids):
            deps = []
            for d in t.dependencies:
                did = (batch_ids.get(id(d)) or d.id) if isinstance(d, Task) else d
                if did is None or (did not in in_batch and did not in known and self.ended_status(did) is None):
                    raise ConfigError(
                        f"task {tid!r} depends on {did or d!r}, which is neither submitted "
                        "nor in this batch; submit the dependency first or in the same batch"
                    )
                deps.append(did)
            dep_ids.append(deps)
        self._check_cycles(ids, dep_ids, in_batch)
        return dep_ids

    def _link(self, states: list[TaskState], dep_ids: list[list[str]], now: float) -> None:
        """Wire accepted tasks to their dependencies; start or fail the ones that can."""
        known = self.tasks
        for st, deps in zip(states, dep_ids):
            for did in deps:
                dep = known.get(did)
                if dep is None or dep.state is _COMPLETED:
                    continue  # None: it ended and was forgotten (the second pass asks how)
                if dep.dependents is None:
                    dep.dependents = []
                dep.dependents.append(st)
                st.waiting_on += 1
        pairs = zip(states, dep_ids)
        if self._ordered:
            pairs = sorted(pairs, key=lambda sd: _by_rank(sd[0]))
        for st, deps in pairs:
            if st.state is not PENDING:
                continue  # already ended upstream_failed by an earlier task in the batch
            for did in deps:
                dep = known.get(did)
                state = dep.state if dep is not None else self.ended_status(did)
                if state in _FAILED_STATES:
                    self._end_unstarted(st, now, TaskStatus.UPSTREAM_FAILED, f"dependency {did!r} ended {state.value}")
                    self._propagate(st, now)
                    break
            else:
                if st.waiting_on == 0:
                    self._enqueue(st, now)

    def _check_cycles(self, ids: list[str], dep_ids: list[list[str]], in_batch: set[str]) -> None:
        # Only edges inside the batch can close a cycle: earlier tasks cannot depend on new ones.
        edges = {tid: [d for d in deps if d in in_batch] for tid, deps in zip(ids, dep_ids)}
        cycle = find_cycle(edges) if any(edges.values()) else None
        if cycle is not None:
            raise DependencyCycleError(cycle)

    # ------------------------------------------------------------------ readiness
    def _enqueue(self, st: TaskState, now: float) -> None:
        """Place a ready task on an agent's queue through the policy."""
        st.ready_s = now
        if self._estimated is not None and (entry := self._estimated.get(st.id)) is not None:
            self._predict_again(st, entry)
        task, group = st.task, st.group
        t0 = _clock()
        slot = self._choose(task, group)
        counts = self.placements
        counts.seconds += _clock() - t0
        try:  # one of the candidates: an agent of this run, in the pool, holding what the task needs
            ok = self.slots[slot.idx] is slot and not slot.retired and slot.capabilities >= task.requires
        except (AttributeError, IndexError, TypeError):
            ok = False
        if not ok:
            self._bad_choice(st, slot, now)
            return
        counts.place(slot, st.weight, group)
        seq = self._seq = self._seq + 1
        by_seq = self._by_seq
        if st.key:  # placed again (an agent left): its old key no longer stands
            by_seq.pop(st.key & SEQ_MASK, None)
        by_seq[seq] = st
        p = st.priority
        aging = self._aging_s
        if self._ordered:  # within a priority, the higher upward rank first
            order = ORDER_MASK - min(ORDER_MASK, int(st.rank * AGING_TICKS_PER_S))
            st.key = ((10 - p) << ORDER_BITS | order) << SEQ_BITS | seq
        elif aging is None or p == 10:
            st.key = (10 - p) << SEQ_BITS | seq
        else:  # ranks as if readied (10 - p) aging periods later than a critical task
            st.key = (1 + int((now + (10 - p) * aging) * AGING_TICKS_PER_S)) << SEQ_BITS | seq
        ev = self._ev
        ev.append((len(ev), now, "assigned", st.id, slot.id, None))
        self._queue_on(st, slot)
        if self.stealer is not None:
            self.stealer.placed(st, now)

    def _bad_choice(self, st: TaskState, got: object, now: float) -> None:
        """The policy returned something that is not one of the candidates: the task
        fails (``policy_error``) and the run reports the error when it returns."""
        cands = ", ".join(repr(s.id) for s in st.group.slots[:8]) + (", ..." if len(st.group.slots) > 8 else "")
        err = ConfigError(
            f"policy {self.policy.name!r} ({type(self.policy).__name__}) returned {got!r} for task {st.id!r}; "
            f"choose(task, candidates) must return one of the candidates it was given (the agents {cands})"
        )
        if self.policy_error is None:
            self.policy_error = err
        st.slot = None
        self._end_unstarted(st, now, TaskStatus.FAILED, str(err), "policy_error")
        self._propagate(st, now)

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

    def _valid(self, key: int, slot: AgentSlot) -> bool:
        """A queue entry still stands: its task waits on this agent with this rank."""
        st = self._by_seq.get(key & SEQ_MASK)
        return st is not None and st.state is QUEUED and st.slot is slot and st.key == key

    def _push_head(self, slot: AgentSlot) -> None:
        """After a change, make sure a free agent's best waiting task is startable."""
        q, by_seq = slot.queue, self._by_seq
        while slot.head < len(q):
            key = q[slot.head]
            st = by_seq.get(key & SEQ_MASK)  # _valid(key, slot), inlined: this runs once per finish
            if st is not None and st.state is QUEUED and st.slot is slot and st.key == key:
                if slot.running < slot.capacity:
                    heapq.heappush(self._startable, key << IDX_BITS | slot.idx)
                return
            slot.pop_head()  # cancelled, stolen or aged since it was queued

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
        out: list[TaskState] = []
        free = self.cap - self.n_running
        if limit is not None:
            free = min(free, limit)
        startable, slots, by_seq = self._startable, self.slots, self._by_seq
        pop, push = heapq.heappop, heapq.heappush
        while free > 0 and startable:
            entry = pop(startable)
            key = entry >> IDX_BITS
            idx = entry & IDX_MASK
            slot = slots[idx]
            q = slot.queue
            h = slot.head
            if slot.running >= slot.capacity or h == len(q) or q[h] != key:
                continue  # stale: started, cancelled or agent full since it was pushed
            if self.throttled and key >= self._critical_below and self.n_running:
                push(startable, entry)  # paused; critical work and an idle run excepted
                break
            slot.pop_head()
            st = by_seq.get(key & SEQ_MASK)
            if st is None or st.state is not QUEUED or st.slot is not slot or st.key != key:
                self._push_head(slot)
                continue
            del by_seq[key & SEQ_MASK]
            slot.queued -= 1
            slot.running += 1
            self.n_running += 1
            self.n_waiting -= 1
            free -= 1
            st.state = RUNNING
            st.attempt += 1
            out.append(st)
            if slot.running < slot.capacity:
                self._push_head(slot)
        if not self._cap_noted and self.n_running >= self.cap and startable:
            self._note_cap(now)
        return out

    def _note_cap(self, now: float) -> None:
        """The first time ``max_concurrent_tasks`` holds back a task that an agent with a
        free slot could start, say so (once a run: it then binds again and again)."""
        entry = self._startable[0]
        slot = self.slots[entry & IDX_MASK]
        if slot.running < slot.capacity and slot.head < len(slot.queue) and slot.queue[slot.head] == entry >> IDX_BITS:
            self._cap_noted = True
            total = sum(s.capacity for s in self.slots if not s.retired)
            self._emit(now, "capped", None, None,
                       f"max_concurrent_tasks={self.cap} holds back work that agents with free slots could "
                       f"start (their capacity: {total})")

    def started(self, st: TaskState, now: float, mode: str, worker: Any = None) -> None:
        """Record that the attempt of ``st`` began running on ``mode`` (``worker`` optional)."""
        st.started_s = now
        st.mode = mode
        st.worker = worker
        ev = self._ev
        ev.append((len(ev), now, "started", st.id, st.slot.id, mode))

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
    ) -> bool:
        """Report how an attempt ended. Returns False (and ignores it) if stale.

        ``lost``: the attempt failed because its worker was lost, not through its own
        doing: it runs again at once, counted apart from ``max_retries``, up to
        :data:`MAX_LOST_ATTEMPTS` losses."""
        if st.state is not RUNNING or st.attempt != attempt:
            return False
        slot = st.slot
        slot.running -= 1
        slot.drop_work(st.weight, st.priority)
        self.n_running -= 1
        started = st.started_s if st.started_s is not None else now
        run = now - started
        st.wait_total += started - st.ready_s
        st.run_total += run
        self.run_s_total += run
        self.wait_s_total += started - st.ready_s
        self.attempts_ran += 1
        slot.n_done += 1
        if status is _COMPLETED:
            slot.n_ok += 1
            est = st.task.estimate_s
            if est is not None:
                slot.est_sum += est
                slot.run_sum += run
                if st.task.requires:
                    _measure(slot, st.task.requires, est, run)
        self._load_decreased(slot)
        if slot.running == slot.capacity - 1:  # the agent just got a free slot
            self._push_head(slot)
            if self.stealer is not None:  # heard at the next take_starts, once this instant's
                self._freed.append(slot)  # outcomes and the work they released are placed
        if status is _COMPLETED:  # the common case, kept short
            if self._observe is not None:
                self._observe(st.task, slot.agent, run)
            self._attempts.append((
                st.id, st.task.name, attempt, "completed", st.priority, slot.id, st.mode,
                st.worker, st.submitted_s, st.ready_s, started, now, None, None,
            ))
            st.value = value
            self._terminal(st, now, status)
            deps = st.dependents
            if deps:
                if self._ordered:
                    deps = sorted(deps, key=_by_rank)
                for d in deps:
                    d.waiting_on -= 1
                    if d.waiting_on == 0 and d.state is PENDING:
                        self._emit(now, "ready", d.id)
                        self._enqueue(d, now)
            return True
        if error_type is None:
            error_type = type(exc).__name__ if exc is not None else _TERMINAL_EVENT[status]
        error = str(exc) if exc is not None else None
        self._attempts.append((
            st.id, st.task.name, attempt, _TERMINAL_EVENT[status], st.priority, slot.id, st.mode,
            st.worker, st.submitted_s, st.ready_s, started, now, error_type, error,
        ))
        if lost:
            st.lost += 1
            again = st.lost <= MAX_LOST_ATTEMPTS
            delay = 0.0
            why = f"lost {st.lost} of {MAX_LOST_ATTEMPTS} allowed, not counted against max_retries"
        else:
            tries = attempt - st.lost  # attempts that failed by their own doing
            again = (status is TaskStatus.FAILED or status is TaskStatus.TIMED_OUT) and (
                tries <= st.task.max_retries and isinstance(exc, st.task.retry_on))
            if again:
                delay = min(MAX_BACKOFF_S, st.task.retry_backoff_s * 2 ** (tries - 1)) * (0.5 + self.rng.random())
                why = None
        if again:
            self._emit(now, _TERMINAL_EVENT[status], st.id, slot.id, error_type)
            self._emit(now, "retried", st.id, slot.id,
                       f"attempt {attempt + 1} in {delay:.3f}s" + (f" ({why})" if why else ""))
            st.state = DELAYED
            self.n_waiting += 1
            if delay <= 0:
                self._enqueue(st, now)
            else:
                self._delay_seq += 1
                heapq.heappush(self._delayed, (now + delay, self._delay_seq, st))
            return True
        st.value, st.error_type, st.error, st.tb = value, error_type, error, tb
        self._terminal(st, now, status)
        if st.dependents:
            self._propagate(st, now)
        return True

    def _terminal(self, st: TaskState, now: float, status: TaskStatus) -> None:
        st.state = status
        self.n_unfinished -= 1
        self.last_terminal_s = now
        self.counts[status] += 1
        if self.ended is None:
            self.finished.append(st)
        else:  # forgotten; how it ended is kept, unless a completed task with an automatic id
            del self.tasks[st.id]
            if status is not _COMPLETED or not self._was_auto(st.id):
                self.ended.add(st.id, status)
        if self._estimated is not None:
            self._estimated.pop(st.id, None)
        slot = st.slot
        ev = self._ev
        ev.append((len(ev), now, _TERMINAL_EVENT[status], st.id,
                   slot.id if slot is not None else None, st.error_type))
        if self.on_terminal is not None:
            self.on_terminal(st)

    def _end_unstarted(self, st: TaskState, now: float, status: TaskStatus, reason: str,
                       error_type: str | None = None) -> None:
        """End a waiting task without running it: one attempt row with no start."""
        error_type = error_type or status.value
        if st.state is QUEUED:
            self._by_seq.pop(st.key & SEQ_MASK, None)
            st.slot.queued -= 1
            st.slot.drop_work(st.weight, st.priority)
            self._load_decreased(st.slot)
        ready = st.ready_s if st.state is not PENDING else None
        self.n_waiting -= 1
        self.recorder.attempts.append((
            st.id, st.task.name, st.attempt + 1 if st.attempt else 0, status.value, st.priority,
            st.slot.id if st.slot else None, None, None, st.submitted_s, ready, None, now,
            error_type, reason,
        ))
        st.error_type, st.error = error_type, reason
        self._terminal(st, now, status)

    def _propagate(self, failed: TaskState, now: float) -> None:
        """Every transitive dependent of ``failed`` ends upstream_failed and never runs."""
        stack = [failed]
        while stack:
            cause = stack.pop()
            for d in cause.dependents or ():
                if d.state is PENDING:
                    self._end_unstarted(d, now, TaskStatus.UPSTREAM_FAILED,
                                        f"dependency {cause.id!r} ended {cause.state.value}")
                    stack.append(d)

    # ------------------------------------------------------------------ time and cancellation
    def next_wakeup(self) -> float | None:
        """When the dispatcher next has something to do by itself (a retry's backoff
        ends), or None. Aging needs no wake-ups: it is part of a task's rank."""
        return self._delayed[0][0] if self._delayed else None

    def wake(self, now: float) -> None:
        """Make every retry whose backoff has elapsed ready."""
        dl = self._delayed
        while dl and dl[0][0] <= now:
            st = heapq.heappop(dl)[2]
            if st.state is DELAYED:
                self._emit(now, "ready", st.id)
                self._enqueue(st, now)

    def set_throttled(self, on: bool, now: float, reading: str) -> None:
        """Pause (``on``) or resume admission of new tasks; ``reading`` says why."""
        if on != self.throttled:
            self.throttled = on
            self._emit(now, "throttled" if on else "resumed", None, None, reading)

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
        if before in (PENDING, DELAYED, QUEUED):
            self._cancel_waiting(st, now, reason)
            self._propagate(st, now)
        return before if isinstance(before, str) else before.value

    def _cancel_waiting(self, st: TaskState, now: float, reason: str) -> None:
        self._end_unstarted(st, now, TaskStatus.CANCELLED, reason)

    def cancel_waiting(self, now: float, reason: str) -> None:
        """Cancel every task not yet running (used by stop)."""
        for st in list(self.tasks.values()):
            if st.state in (PENDING, DELAYED, QUEUED):
                self._cancel_waiting(st, now, reason)
        self._startable.clear()
        self._delayed.clear()
        self._by_seq.clear()
        for s in self.slots:
            s.queue.clear()
            s.head = 0

    def running(self) -> list[TaskState]:
        return [st for st in self.tasks.values() if st.state is RUNNING]

    @property
    def done(self) -> bool:
        """True when every submitted task has reached a terminal state."""
        return self.n_unfinished == 0


_FAILED_STATES = frozenset(
    {TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED, TaskStatus.UPSTREAM_FAILED}
)


def _checked_estimate(p: Any, estimator: Any, tid: str) -> float | None:
    """A prediction as a number of seconds >= 0, or None (the estimator has none)."""
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < math.inf:
        raise ConfigError(f"estimator {estimator!r} predicted {p!r} for task {tid!r}; a prediction must be "
                          "a number of seconds >= 0 (finite) or None")
    return float(p)


def _measure(slot: AgentSlot, requires: frozenset, estimate_s: float, run_s: float) -> None:
    """Add a completed attempt to the agent's measured speed for ``requires``."""
    sums = slot.by_caps.get(requires)
    if sums is None:
        slot.by_caps[requires] = [estimate_s, run_s]
    else:
        sums[0] += estimate_s
        sums[1] += run_s
