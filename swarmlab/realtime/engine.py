"""The engine of a real-time run: the dispatcher driven on an asyncio loop, and the
:class:`~swarmlab.backends.Host` its backend reports to.

Everything that touches the dispatcher runs on the loop thread; backends report from
their threads through ``call_soon_threadsafe``. The clock is the loop's monotonic clock,
read as seconds since :meth:`Engine.attach`. Waiting is event-driven (see
:mod:`swarmlab.realtime.timers`): one loop timer for the earliest attempt deadline, one for the
earliest retry or aging wake-up, futures for results, no polling. Resource samples go
to the records and, through :class:`~swarmlab.core.admission.Admission`, to the dispatcher.

The dispatcher reads no clock, so the engine measures what its decisions cost: the
seconds spent in each call that places or starts tasks (submit, finish, wake, take_starts,
agents joining or leaving) add up in its placements (``SchedulingMetrics.scheduling_time``).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..backends.base import Backend
from ..core.admission import Admission, over_task_memory
from ..core.dispatcher import Dispatcher
from ..core.reported import take_reported
from ..core.taskstate import RUNNING, TaskState
from ..errors import BudgetExhausted, ConfigError, MemoryLimitError
from ..events import Recorder, resource_row
from ..model import Agent, ResourceLimits, Task, TaskStatus
from .calls import CallChannel
from .lifecycle import RUNNING as LIVE
from .lifecycle import STOPPING, Lifecycle
from .monitor import Sample
from .timers import PRUNE_SLACK, Deadlines, EarliestTimer

__all__ = ["Engine"]

_OK, _FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
NAN = math.nan  # a measurement a row does not hold
_clock = time.perf_counter  # what the dispatcher's decisions cost (SchedulingMetrics.scheduling_time)


class Engine:
    """Starts what the dispatcher says can start, on one backend, and records what the
    backend reports (the :class:`~swarmlab.backends.Host` protocol).

    Parameters
    ----------
    dispatcher : Dispatcher
    limits : ResourceLimits
    recorder : Recorder
    lifecycle : Lifecycle
        Its state says whether new attempts may start (running) and samples count
        (running or stopping).
    """

    def __init__(self, dispatcher: Dispatcher, limits: ResourceLimits, recorder: Recorder,
                 lifecycle: Lifecycle) -> None:
        self.d = dispatcher
        self.placements = dispatcher.placements  # its seconds: those spent in the dispatcher's decisions
        self.limits = limits
        self.recorder = recorder
        self.run_id = recorder.run_id
        self.loop: asyncio.AbstractEventLoop | None = None
        self.backend: Backend | None = None
        self.violations: dict[str, int] = {}  # limit kind -> times passed
        self._life = lifecycle
        self._t0 = 0.0
        self._admission = Admission(limits)
        self._wake_timer = EarliestTimer(self._wake)  # retries' backoff, aging
        self._deadlines = Deadlines(self._timed_out)
        self._fifos = self._deadlines.fifos
        self._pump_pending = False
        self._batching = 0  # open batch() blocks: their reports pump when the outer one ends
        self._launch: Any = None  # the backend's run
        self._quiet: asyncio.Event | None = None  # set while nothing runs
        self.calls = CallChannel(self)  # units per call for THREAD and ASYNCIO bodies (swarmlab.acquire)
        # where bodies' reports go as they are made: the journal's, set before the backend
        # is made when the run journals; None (nothing to pay) otherwise
        self.spent: Callable[[str, int, dict[str, float]], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run on ``loop``, the clock starting now."""
        self.loop = loop
        self._t0 = loop.time()
        self._deadlines.attach(loop, self._t0)
        self._quiet = asyncio.Event()
        self._quiet.set()

    def use(self, backend: Backend) -> None:
        self.backend = backend
        self._launch = backend.run

    # ------------------------------------------------------------------ the Host protocol
    def now(self) -> float:
        return self.loop.time() - self._t0 if self.loop is not None else 0.0

    def submit(self, tasks: Sequence[Task], priorities: Sequence[int | None] | None) -> list[str]:
        """Hand a checked batch to the dispatcher now (all or none accepted); its ids.
        ``priorities`` None: each task keeps its own."""
        t0 = _clock()
        try:
            return self.d.submit(tasks, self.now(), priorities)
        finally:
            self.placements.seconds += _clock() - t0

    def add_agent(self, agent: Agent) -> None:
        """A new agent joins the pool now (with stealing on, it may take work at once)."""
        t0 = _clock()
        self.d.membership.add_agent(agent, self.now())
        self.placements.seconds += _clock() - t0

    def started(self, st: TaskState, mode: str, worker: Any = None) -> None:
        now = self.loop.time() - self._t0
        self.d.started(st, now, mode, worker)
        if st.timeout is not None:
            self._deadlines.add(st, now)

    def succeeded(self, st: TaskState, attempt: int, value: Any, reported: dict[str, float] | None = None) -> None:
        # _end(st, attempt, _OK, value), inlined: this runs once per completed task
        if st.state is not RUNNING or st.attempt != attempt:
            self._returned(st, attempt, reported)
            return
        st.handle = None
        d = self.d
        t0 = _clock()
        d.finish(st, attempt, self.loop.time() - self._t0, _OK, value, reported=reported)
        self.placements.seconds += _clock() - t0
        if st.timeout is not None and len(fifo := self._fifos[st.timeout]) > 2 * d.n_running + PRUNE_SLACK:
            Deadlines.prune(fifo)
        if d.n_running == 0:
            self._quiet.set()
        if not self._pump_pending:
            self._pump_pending = True
            if not self._batching:
                self.loop.call_soon(self.pump)

    def failed(self, st: TaskState, attempt: int, exc: BaseException, error_type: str | None = None,
               tb: str | None = None, reported: dict[str, float] | None = None) -> None:
        # a call refused because the run's budget is spent: the run stopped the attempt, it did not fail
        status = TaskStatus.CANCELLED if isinstance(exc, BudgetExhausted) else _FAILED
        self._end(st, attempt, status, None, exc, error_type, tb, reported=reported)

    def lost(self, st: TaskState, attempt: int, exc: BaseException, tb: str | None = None) -> None:
        self._end(st, attempt, _FAILED, None, exc, "worker_lost", tb, True)

    def lose_agent(self, agent_id: str, reason: str) -> None:
        """Its running attempts fail ``agent_lost`` and run elsewhere, its queue is placed
        again; it stays among the run's agents (a ``left`` event says when)."""
        t0 = _clock()
        lost = self.d.membership.lose_agent(agent_id, self.now(), reason)
        self.placements.seconds += _clock() - t0
        for st in lost:
            self.backend.kill(st)
            st.handle = None
        self.pump()

    def emit(self, kind: str, task_id: str | None = None, detail: str | None = None) -> None:
        self.recorder.emit(self.now(), kind, task_id, None, detail)

    def sampled(self, worker: str, **fields: float) -> None:
        names = self.recorder.resource_fields
        unknown = fields.keys() - set(names)
        if unknown:
            raise ConfigError(f"sampled takes resources columns; got {sorted(unknown)}, allowed: {', '.join(names)}")
        d = self.d
        row = dict.fromkeys(names, math.nan)
        row.update(t_s=self.now(), running=d.n_running, queued=d.n_waiting, throttled=d.throttled)
        row.update(fields, worker=worker)  # what the backend measured wins
        self.recorder.resources.append(tuple(row[f] for f in names))

    def usage(self, cpu_pct: float, cores: int, rss_mb: float, where: str) -> None:
        if self._life.state == LIVE:
            self._admit(self.now(), cpu_pct, cores, rss_mb, where)

    def batch(self) -> _Batch:
        return _Batch(self)

    # ------------------------------------------------------------------ driving the dispatcher
    @property
    def closed(self) -> bool:
        """Whether the run has stopped (no call units are given any more)."""
        return self._life.state not in (LIVE, STOPPING)

    def pump_soon(self) -> None:
        """:meth:`pump` at the next loop iteration (once, however many ask)."""
        if not self._pump_pending:
            self._pump_pending = True
            if not self._batching:
                self.loop.call_soon(self.pump)

    def rearm(self) -> None:
        """Wake at the dispatcher's next wake-up (a bucket refilled, a pause over)."""
        at = self.d.next_wakeup()
        if at is not None:
            self._wake_timer.arm(self.loop, self._t0 + at)

    def pump(self) -> None:
        """Start whatever the dispatcher says can start now, and hand the call units it
        gave to the bodies waiting for them."""
        self._pump_pending = False
        self.calls.resolve()
        d = self.d
        # Nothing could start (the run at its cap, no units to refill, nothing to note):
        # take_starts is not asked, so tasks submitted one at a time to a full run cost no pump.
        if self._life.state == LIVE and d.may_start():
            launch = self._launch
            t0 = _clock()
            starts = d.take_starts(self.loop.time() - self._t0)
            self.placements.seconds += _clock() - t0
            for st in starts:
                launch(st)
        self.rearm()

    def _wake(self) -> None:
        t0 = _clock()
        self.d.wake(self.now())
        self.placements.seconds += _clock() - t0
        self.pump()

    def _end(self, st: TaskState, attempt: int, status: TaskStatus, value: Any = None,
             exc: BaseException | None = None, error_type: str | None = None,
             tb: str | None = None, lost: bool = False, abandoned: bool = False,
             reported: dict[str, float] | None = None) -> None:
        if st.state is not RUNNING or st.attempt != attempt:
            self._returned(st, attempt, reported)  # a late answer from an attempt already timed out or cancelled
            return
        st.handle = None
        d = self.d
        t0 = _clock()
        d.finish(st, attempt, self.loop.time() - self._t0, status, value, exc, error_type, tb, lost, abandoned,
                 reported)
        self.placements.seconds += _clock() - t0
        if error_type == "memory_limit":  # the OS refused it, or its sampled RSS passed the cap
            self.violations["task_memory"] = self.violations.get("task_memory", 0) + 1
        if st.timeout is not None:
            self._deadlines.ended(st, d.n_running)
        if d.n_running == 0:
            self._quiet.set()
        self.pump_soon()  # once at the next loop iteration, however many end now (in a batch: when it ends)

    def kill(self, st: TaskState, status: TaskStatus, exc: BaseException, error_type: str) -> None:
        """Stop the attempt in flight of ``st`` and record it ended with ``status``."""
        abandoned = not self.backend.kill(st)
        if abandoned:
            self.recorder.emit(self.now(), "abandoned", st.id, st.slot.id,
                               "a thread cannot be stopped; it runs on unobserved (holding its units)")
        self._end(st, st.attempt, status, None, exc, error_type, abandoned=abandoned)

    def _returned(self, st: TaskState, attempt: int, reported: dict[str, float] | None = None) -> None:
        """An attempt already ended (abandoned) really returned: its units come back, and
        what it reported is recorded (and trues up the rates) now."""
        if reported:
            take_reported(self.d, st, attempt, reported, self.now())
        if self.d.units is not None and self.d.release(st, attempt, self.now()):
            self.pump_soon()

    def _timed_out(self, st: TaskState, attempt: int) -> None:
        self.kill(st, TaskStatus.TIMED_OUT, TimeoutError(
            f"task {st.id!r} attempt {attempt} exceeded its timeout of {st.timeout}s"), "timeout")

    async def drain(self, timeout: float | None) -> None:
        """The run's part of the shutdown: waiting tasks are cancelled, running ones get
        ``timeout`` seconds (None: as long as they need), then are stopped."""
        d = self.d
        d.cancel_waiting(self.now(), "the executor stopped before the task started")
        if d.n_running:
            self._quiet.clear()
            try:
                await asyncio.wait_for(self._quiet.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        for st in d.running():
            self.kill(st, TaskStatus.CANCELLED, asyncio.CancelledError(
                f"the executor stopped after {timeout}s and stopped this attempt"), "cancelled")
        self.calls.resolve()
        self.calls.close()
        self._wake_timer.cancel()
        self._deadlines.cancel()

    # ------------------------------------------------------------------ resources
    def on_sample(self, sample: Sample) -> None:
        """Record a sample of the executor's process tree; act on the limits it passes."""
        state = self._life.state
        if state != LIVE and state != STOPPING:
            return
        d = self.d
        now = sample.t - self._t0
        self.recorder.resources.append(resource_row(
            t_s=now, cpu_pct=sample.cpu_pct, rss_mb=sample.rss_mb, n_procs=sample.n_procs,
            sys_cpu_pct=sample.sys_cpu_pct, sys_mem_pct=sample.sys_mem_pct, net_sent_bytes=sample.net_sent_bytes,
            net_recv_bytes=sample.net_recv_bytes, disk_read_bytes=sample.disk_read_bytes,
            disk_write_bytes=sample.disk_write_bytes, gpu_util_pct=sample.gpu_util_pct, gpu_mem_mb=sample.gpu_mem_mb,
            gpu_tree_mem_mb=sample.gpu_tree_mem_mb, sample_cost_ms=sample.sample_cost_ms,
            running=d.n_running, queued=d.n_waiting, throttled=d.throttled, worker=None, gpu=None))
        for g in sample.gpus:  # each device its own row (RESOURCE_SCHEMA's gpu)
            self.recorder.resources.append(resource_row(
                t_s=now, cpu_pct=NAN, rss_mb=NAN, n_procs=NAN, sys_cpu_pct=NAN, sys_mem_pct=NAN,
                net_sent_bytes=NAN, net_recv_bytes=NAN, disk_read_bytes=NAN, disk_write_bytes=NAN,
                gpu_util_pct=g.util_pct, gpu_mem_mb=g.mem_mb, gpu_tree_mem_mb=g.tree_mem_mb, sample_cost_ms=NAN,
                running=d.n_running, queued=d.n_waiting, throttled=d.throttled, worker=None, gpu=g.index))
        backend = self.backend
        if not backend.measures_usage:
            self._admit(now, sample.cpu_pct, os.cpu_count() or 1, sample.rss_mb, "the machine")
        cap = self.limits.max_task_memory_mb
        if cap is not None:
            for st, pid, rss in over_task_memory(backend.running_pids(), sample.rss_by_pid, now, cap):
                self.kill(st, _FAILED, MemoryLimitError(
                    f"worker process {pid} of task {st.id!r} reached {rss:.0f} MB, over the "
                    f"per-task cap of {cap:g} MB (ResourceLimits.max_task_memory_mb); it was killed"
                ), "memory_limit")

    def _admit(self, now: float, cpu_pct: float, cores: int, rss_mb: float, where: str) -> None:
        d = self.d
        decision = self._admission.decide(d.throttled, cpu_pct, cores, rss_mb, where)
        if decision is None:
            return
        for kind in decision.over:
            self.violations[kind] = self.violations.get(kind, 0) + 1
        d.set_throttled(decision.throttle, now, decision.reading)
        if not decision.throttle:
            self.pump()


class _Batch:
    """``with engine.batch():`` reports inside pump once, as the outermost block ends,
    instead of at the next loop iteration (the Host protocol's ``batch``)."""

    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        self.engine._batching += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        e = self.engine
        e._batching -= 1
        if e._pump_pending and not e._batching:
            if exc_type is None:
                e.pump()
            else:  # a report raised: leave the pump to the loop, as outside a batch
                e.loop.call_soon(e.pump)
