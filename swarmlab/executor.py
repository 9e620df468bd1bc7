"""ParallelExecutor: the dispatcher driven in real time by an asyncio event loop.

Everything that touches the dispatcher runs on the loop thread; backends report from
their threads through ``call_soon_threadsafe``. The clock is the loop's monotonic
clock, read as seconds since :meth:`ParallelExecutor.start`. Waiting is event-driven:
one loop timer for the earliest attempt deadline, one for the earliest retry, futures
for results, no polling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import os
from collections import deque
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .backends.aio import AsyncioBackend
from .backends.base import Backend
from .backends.hybrid import Router
from .backends.process import ProcessBackend
from .backends.thread import ThreadBackend
from .dispatch import RUNNING, Dispatcher, TaskState
from .errors import ConfigError, ExecutorClosedError
from .events import Recorder
from .errors import MemoryLimitError
from .journal import SYNC_EVERY_S, Journal
from .metrics import execution_metrics
from .monitor import ResourceMonitor, Sample
from .model import (
    Agent, ExecutionMetrics, ExecutionMode, ResourceLimits, Task, TaskResult, TaskStatus,
    _agent_list, _enum_value, _seed,
)
from .records import RunRecord
from .runinfo import concurrency, default_agents, describe_agents, run_meta
from .scheduling.registry import resolve_policy
from .scheduling.scheduler import note_run

__all__ = ["ParallelExecutor"]

log = logging.getLogger("swarmlab")

_NEW, _RUNNING, _STOPPING, _STOPPED = "new", "running", "stopping", "stopped"


class ParallelExecutor:
    """Runs tasks in parallel on threads, processes or the event loop, and records it all.

    Parameters
    ----------
    mode : ExecutionMode or str
        THREAD, PROCESS, ASYNCIO, HYBRID (default: route each task, see DESIGN) or DASK
        (task bodies on a Dask cluster; needs ``pip install 'swarmlab[dask]'``).
    limits : ResourceLimits, optional
        Defaults as in the original design (10 concurrent tasks, 1000 queued, 300 s
        timeout).
    agents : sequence of Agent, optional
        Default: ``limits.max_concurrent_tasks`` identical agents.
    scheduler : policy, name or None
        Places each ready task on an agent; default least loaded.
    seed : int
        Seeds retry jitter.
    process_workers : int, optional
        Size of the process pool: default ``max_concurrent_tasks`` in PROCESS mode and
        the CPU count in HYBRID (CPU-bound work gains nothing beyond the cores).
    journal : path, optional
        A run store folder (``RunStore.path``): the run's records are journaled to
        ``<journal>/<run_id>/journal.jsonl`` as they happen, so that a killed run can be
        resumed; ``spec`` is the declarative description resume rebuilds tasks from.
    dask_address : str, optional
        DASK: the scheduler of an existing cluster (``tcp://host:port``, ``tls://...``),
        left running when the executor stops. None: an embedded ``LocalCluster`` (one
        single-threaded worker process per core, on 127.0.0.1) started by :meth:`start`
        and closed by :meth:`stop`. Its workers are spawned processes, so a script that
        uses it needs an ``if __name__ == "__main__":`` guard.
    dask_security : distributed.security.Security, optional
        DASK: TLS settings for the cluster.
    dask_workers : mapping of agent id to Dask worker, optional
        DASK: pins agents to workers (an address, a worker name or a host), so that an
        agent's tasks run on that worker only (a GPU worker, a big-memory worker). The
        embedded cluster's workers are named 0, 1, ...

    Raises
    ------
    ConfigError
        A value outside what is allowed.
    BackendUnavailable
        DASK mode without Dask distributed installed.

    Examples
    --------
    >>> import asyncio, swarmlab
    >>> async def main():
    ...     async with swarmlab.ParallelExecutor(mode="thread") as ex:
    ...         tid = await ex.submit_task(swarmlab.Task(pow, (2, 10)))
    ...         return (await ex.get_result(tid)).value
    >>> asyncio.run(main())
    1024
    """

    def __init__(
        self,
        mode: ExecutionMode | str = ExecutionMode.HYBRID,
        limits: ResourceLimits | None = None,
        *,
        agents: Sequence[Agent] | None = None,
        scheduler: object = None,
        seed: int = 0,
        process_workers: int | None = None,
        journal: str | None = None,
        spec: dict[str, Any] | None = None,
        dask_address: str | None = None,
        dask_security: Any = None,
        dask_workers: Mapping[str, str | int] | None = None,
    ) -> None:
        self.mode = _enum_value(ExecutionMode, mode, "ParallelExecutor mode")
        if limits is None:
            limits = ResourceLimits()
        elif not isinstance(limits, ResourceLimits):
            raise ConfigError(f"limits must be a ResourceLimits or None; got {limits!r}")
        self.limits = limits
        self.agents = (_agent_list(agents, "ParallelExecutor agents") if agents is not None
                       else default_agents(limits))
        self._dask = _dask_options(self.mode, self.agents, dask_address, dask_security, dask_workers)
        if process_workers is not None and (
            isinstance(process_workers, bool) or not isinstance(process_workers, int) or process_workers < 1
        ):
            raise ConfigError(f"process_workers must be a positive int or None; got {process_workers!r}")
        if process_workers is None:
            n = concurrency(limits, self.agents)
            process_workers = n if self.mode is ExecutionMode.PROCESS else min(n, os.cpu_count() or 1)
        self.process_workers = process_workers
        self.policy = resolve_policy(scheduler)
        self.seed = seed = _seed(seed, "ParallelExecutor seed")
        self.recorder = Recorder()
        self.meta = run_meta(self.recorder.run_id, clock="real", mode=self.mode.value,
                             policy=self.policy, limits=limits, seed=seed, agents=self.agents)
        estimator = getattr(scheduler, "estimator", None)  # a TaskScheduler's: it learns from this run too
        self._d = Dispatcher(self.agents, self.policy, limits, self.recorder, seed=seed,
                             on_terminal=self._terminal, estimator=estimator, learn=estimator is not None)
        note_run(scheduler, self._d.placements)
        self._policy_error_seen: ConfigError | None = None
        self._state = _NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._backends: dict[str, Backend] = {}
        self._router: Router | None = None
        self._waiters: dict[str, asyncio.Future] = {}
        self._all_done: asyncio.Event | None = None
        self._quiet: asyncio.Event | None = None
        self._wake_timer = _EarliestTimer(self._wake)  # retries' backoff, aging
        # Attempt deadlines, one FIFO per distinct timeout: attempts start in time order,
        # so each FIFO is sorted by deadline and one timer for the earliest head serves all.
        self._deadlines: dict[float, deque] = {}
        self._deadline_timer = _EarliestTimer(self._check_deadlines)
        self._pump_pending = False
        self._launch: Any = None  # set by start(): the backend's run, or the router
        self._monitor: ResourceMonitor | None = None
        self._listeners: list[Callable[[TaskResult], None]] = []
        self._journal_root, self._spec = journal, spec
        self._journal: Journal | None = None
        self._journal_timer: asyncio.TimerHandle | None = None
        self._violations: dict[str, int] = {}
        self._shutdown: asyncio.Future | None = None  # the one shutdown every stop() waits for

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the backends (process workers are started and warm when this returns).

        DASK: the embedded cluster is up, or the client is connected to the given
        scheduler (OSError when it cannot be reached within 30 s; ConfigError when a
        ``dask_workers`` pin names no worker of the cluster).
        """
        if self._state == _RUNNING:
            return
        if self._state != _NEW:
            raise ExecutorClosedError("this executor was stopped; create a new ParallelExecutor")
        loop = self._loop = asyncio.get_running_loop()
        self._all_done = asyncio.Event()
        self._all_done.set()
        self._quiet = asyncio.Event()
        self._quiet.set()
        mode = self.mode
        prestart = 0
        if mode in (ExecutionMode.THREAD, ExecutionMode.HYBRID):
            self._router = Router() if mode is ExecutionMode.HYBRID else None
            measure = self._measured if self._router is not None else None
            self._backends["thread"] = ThreadBackend(self, measure)
        if mode in (ExecutionMode.PROCESS, ExecutionMode.HYBRID):
            self._backends["process"] = ProcessBackend(self, self.process_workers)
            prestart = self.process_workers
        if mode in (ExecutionMode.ASYNCIO, ExecutionMode.HYBRID):
            self._backends["asyncio"] = AsyncioBackend(self)
        if mode is ExecutionMode.DASK:
            from .backends.dask import DaskBackend

            self._backends["dask"] = DaskBackend(self, **self._dask)
        # one backend: hand attempts straight to it; HYBRID: through the router
        self._launch = self._route if self._router is not None else next(iter(self._backends.values())).run
        self._t0 = loop.time()
        self._state = _RUNNING
        self._monitor = ResourceMonitor(loop, self.limits.monitoring_interval, self._on_sample)
        self._monitor.start()
        if self._journal_root is not None:
            self._journal = Journal(Path(self._journal_root) / self.recorder.run_id, self.recorder, self.meta, self._spec)
            self._journal_tick()
        try:
            if prestart:
                await self._backends["process"].start(prestart)
            if mode is ExecutionMode.DASK:
                await self._backends["dask"].start()
        except BaseException:
            await self.stop(timeout=0)  # the one shutdown sequence: nothing has run yet
            raise

    async def stop(self, timeout: float | None = None) -> None:
        """Take no new work, cancel waiting tasks, let running ones finish.

        Running attempts get ``timeout`` seconds (None: as long as they need); then they
        are killed (processes), cancelled (coroutines, Dask futures) or abandoned
        (threads, Dask tasks a worker has begun), and recorded ``cancelled``. No worker
        process is left alive (an existing Dask cluster is left running).

        There is one shutdown: a call while another is under way waits for that one to
        finish (under the first call's ``timeout``), and a call once stopped returns at once.
        """
        if self._state == _NEW:
            self._state = _STOPPED
        if self._state == _STOPPED:
            return
        if self._shutdown is None:
            self._state = _STOPPING  # no new work from this moment on
            self._shutdown = asyncio.ensure_future(self._shut_down(timeout))
        # shielded: a caller that is cancelled stops waiting, the shutdown goes on
        await asyncio.shield(self._shutdown)

    async def _shut_down(self, timeout: float | None) -> None:
        d = self._d
        d.cancel_waiting(self._now(), "the executor stopped before the task started")
        if d.n_running:
            self._quiet.clear()
            try:
                await asyncio.wait_for(self._quiet.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        for st in d.running():
            self._kill(st, TaskStatus.CANCELLED, asyncio.CancelledError(
                f"the executor stopped after {timeout}s and stopped this attempt"), "cancelled")
        self._wake_timer.cancel()
        self._deadline_timer.cancel()
        for b in self._backends.values():
            await b.close()
        if self._monitor is not None:
            self._monitor.stop()
        if self._journal is not None:
            self._journal_timer.cancel()
            self._journal.close()
        self._state = _STOPPED

    async def __aenter__(self) -> ParallelExecutor:
        await self.start()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            await self.wait_for_completion()
        await self.stop(timeout=None if exc_type is None else 0)

    # ------------------------------------------------------------------ submission
    def _check_open(self) -> None:
        if self._state != _RUNNING:
            what = "not started: await executor.start() first" if self._state == _NEW else "stopped"
            raise ExecutorClosedError(f"the executor is {what}; no task was accepted")

    def _check_runnable(self, task: Task) -> None:
        if not isinstance(task, Task):
            raise ConfigError(f"submit takes Task objects; got {type(task).__name__} {task!r}")
        if task.fn is None:
            raise ConfigError(
                f"task {task.id or task.name!r} has no function (fn=None): it can only be "
                "simulated; give it a function or use swarmlab.simulate"
            )
        if self.mode is ExecutionMode.ASYNCIO and not task.is_coroutine:
            raise ConfigError(
                f"ASYNCIO mode runs coroutine functions; task {task.id or task.name!r} has the "
                f"sync function {task.fn!r}; use mode THREAD or HYBRID, or an async def"
            )

    async def submit_task(self, task: Task, priority: int | None = None) -> str:
        """Submit one task; returns its id. ``priority`` overrides the task's own.

        Raises ConfigError, DependencyCycleError, NoEligibleAgentError, QueueFullError or
        ExecutorClosedError; a task is either accepted (and then ends in exactly one
        terminal state) or not accepted at all.
        """
        return (await self.submit_batch([(task, priority)]))[0]

    async def submit_batch(self, items: Iterable[Task | tuple[Task, int | None]]) -> list[str]:
        """Submit tasks at once, as ``Task`` or ``(Task, priority)``; all or none accepted.

        Tasks in one batch may depend on each other.
        """
        self._check_open()
        tasks, prios = [], []
        for it in items:
            task, prio = (it if isinstance(it, tuple) else (it, None))
            self._check_runnable(task)
            tasks.append(task)
            prios.append(prio)
        ids = self._d.submit(tasks, self._now(), prios)
        if not self._d.done:
            self._all_done.clear()
        self._pump()
        self._raise_policy_error()
        return ids

    def _raise_policy_error(self) -> None:
        """A policy returned a non-candidate (its task failed, ``policy_error``): say so once."""
        err = self._d.policy_error
        if err is not None and err is not self._policy_error_seen:
            self._policy_error_seen = err
            raise err

    async def cancel_task(self, task_id: str) -> bool:
        """Cancel a task: a waiting one never runs, a running one is stopped.

        Its dependents end ``upstream_failed``. Returns False if it had already ended.
        """
        if self._loop is None:
            raise ExecutorClosedError("the executor is not started; no task to cancel")
        d = self._d
        before = d.cancel(task_id, self._now(), "cancelled by the user")
        if before == RUNNING:
            self._kill(d.tasks[task_id], TaskStatus.CANCELLED,
                       asyncio.CancelledError("cancelled by the user"), "cancelled")
            self._pump()
            return True
        return before in ("pending", "delayed", "queued")

    def add_agent(self, agent: Agent) -> None:
        """Add an agent to the pool while running; with stealing on it takes waiting work
        at once. A ``joined`` event records it."""
        self._check_open()
        if not isinstance(agent, Agent):
            raise ConfigError(f"add_agent takes an Agent; got {agent!r}")
        self._d.add_agent(agent, self._now())
        self.agents.append(agent)
        self._pump()

    def retire_agent(self, agent_id: str, reason: str = "") -> bool:
        """Take an idle agent out of the pool (False if it has work or is the last of its
        capability group). A ``retired`` event records it."""
        self._check_open()
        return self._d.retire_agent(agent_id, self._now(), reason)

    @property
    def state(self) -> str:
        """'new', 'running', 'stopping' or 'stopped'."""
        return self._state

    def now(self) -> float:
        """Seconds since :meth:`start` on the run's monotonic clock (the ``t_s`` of events)."""
        return self._now()

    def pool_status(self) -> list[dict[str, Any]]:
        """Each agent of the pool now: id, type, capabilities, capacity, queued, running,
        finished attempts, measured success rate, retired."""
        return [
            {"agent_id": s.id, "type": s.agent.type.value, "capabilities": sorted(s.capabilities),
             "capacity": s.capacity, "queued": s.queued, "running": s.running, "finished": s.n_done,
             "completed": s.n_ok, "success_rate": s.success_rate, "retired": s.retired}
            for s in self._d.slots
        ]

    def subscribe(self, callback: Callable[[TaskResult], None]) -> None:
        """Call ``callback(result)`` on the event loop as each task ends. A callback that
        raises is logged and dropped; the run goes on."""
        self._listeners.append(callback)

    # ------------------------------------------------------------------ results
    async def get_result(self, task_id: str, timeout: float | None = None) -> TaskResult:
        """Wait for one task's :class:`TaskResult` (whatever its status).

        Raises TimeoutError if it has not ended within ``timeout`` seconds.
        """
        st = self._d.tasks.get(task_id)
        if st is None:
            raise ConfigError(f"no task {task_id!r} was submitted to this executor")
        if isinstance(st.state, TaskStatus):
            return st.result()
        fut = self._waiters.get(task_id)
        if fut is None:
            fut = self._waiters[task_id] = self._loop.create_future()
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    async def get_all_results(self) -> dict[str, TaskResult]:
        """Every finished task's result, whatever its status, by task id."""
        return {st.id: st.result() for st in self._d.finished}

    async def wait_for_completion(self, timeout: float | None = None) -> bool:
        """Wait until every submitted task has ended; False if ``timeout`` passed first."""
        if self._d.done:
            return True
        try:
            await asyncio.wait_for(self._all_done.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        self._raise_policy_error()
        return True

    def get_metrics(self) -> ExecutionMetrics:
        """A snapshot computed from the records (see :class:`ExecutionMetrics`)."""
        return execution_metrics(self._d, self._now(), self._violations)

    def get_queue_size(self) -> int:
        """Tasks submitted and waiting (for dependencies, a retry or an agent)."""
        return self._d.n_waiting

    def record(self) -> RunRecord:
        """A snapshot of everything recorded so far."""
        if len(self.agents) != self.meta["n_agents"]:  # agents joined during the run
            self.meta.update(n_agents=len(self.agents), agents=describe_agents(self.agents))
        self.meta["scheduling_metrics"] = dataclasses.asdict(self._d.placements.metrics())
        return RunRecord.from_recorder(self.recorder, self.meta)

    # ------------------------------------------------------------------ the engine
    def _now(self) -> float:
        return self._loop.time() - self._t0 if self._loop is not None else 0.0

    def _pump(self) -> None:
        """Start whatever the dispatcher says can start now."""
        self._pump_pending = False
        if self._state == _RUNNING:
            launch = self._launch
            for st in self._d.take_starts(self._loop.time() - self._t0):
                launch(st)
        self._arm_wakeup()

    def _request_pump(self) -> None:
        """Pump once at the next loop iteration, however many attempts end in this one."""
        if not self._pump_pending:
            self._pump_pending = True
            self._loop.call_soon(self._pump)

    def _route(self, st: TaskState) -> None:
        """HYBRID: hand the attempt to the backend the router picks."""
        self._backends[self._router.route(st.task)].run(st)

    def _started(self, st: TaskState, mode: str, worker: Any = None) -> None:
        now = self._loop.time() - self._t0
        self._d.started(st, now, mode, worker)
        timeout = st.timeout
        if timeout is not None:
            deadline = now + timeout
            fifo = self._deadlines.get(timeout)
            if fifo is None:
                fifo = self._deadlines[timeout] = deque()
            fifo.append((deadline, st, st.attempt))
            self._deadline_timer.arm(self._loop, self._t0 + deadline)

    def _outcome(self, st: TaskState, attempt: int, status: TaskStatus, value: Any = None,
                 exc: BaseException | None = None, error_type: str | None = None,
                 tb: str | None = None, lost: bool = False) -> None:
        if st.state is not RUNNING or st.attempt != attempt:
            return  # a late answer from an attempt already timed out or cancelled
        st.handle = None
        d = self._d
        d.finish(st, attempt, self._loop.time() - self._t0, status, value, exc, error_type, tb, lost)
        if st.timeout is not None and len(fifo := self._deadlines[st.timeout]) > 2 * d.n_running + 64:
            while fifo:  # drop ended attempts from the front, now and then
                head = fifo[0][1]
                if head.state is RUNNING and head.attempt == fifo[0][2]:
                    break
                fifo.popleft()
        if d.n_running == 0:
            self._quiet.set()
        self._request_pump()

    def _kill(self, st: TaskState, status: TaskStatus, exc: BaseException, error_type: str) -> None:
        """Stop the attempt in flight of ``st`` and record it ended with ``status``."""
        backend = self._backends.get(st.mode) if st.mode else None
        if backend is None and len(self._backends) == 1:  # handed over, not started yet
            backend = next(iter(self._backends.values()))
        stopped = backend.kill(st) if backend is not None else True
        if not stopped:
            self.recorder.emit(self._now(), "abandoned", st.id, st.slot.id,
                               "a thread cannot be stopped; it runs on unobserved")
        self._outcome(st, st.attempt, status, None, exc, error_type)

    def _check_deadlines(self) -> None:
        """Time out every attempt past its deadline, then wait for the next deadline."""
        now = self._now()
        expired = []
        nxt = float("inf")
        for fifo in self._deadlines.values():
            while fifo:
                deadline, st, attempt = fifo[0]
                if st.state is not RUNNING or st.attempt != attempt:
                    fifo.popleft()
                elif deadline <= now:
                    fifo.popleft()
                    expired.append((st, attempt))
                else:
                    nxt = min(nxt, deadline)
                    break
        for st, attempt in expired:
            if st.state is RUNNING and st.attempt == attempt:
                self._kill(st, TaskStatus.TIMED_OUT, TimeoutError(
                    f"task {st.id!r} attempt {attempt} exceeded its timeout of {st.timeout}s"), "timeout")
        if nxt < float("inf"):
            self._deadline_timer.arm(self._loop, self._t0 + nxt)

    def _arm_wakeup(self) -> None:
        at = self._d.next_wakeup()
        if at is not None:
            self._wake_timer.arm(self._loop, self._t0 + at)

    def _wake(self) -> None:
        self._d.wake(self._now())
        self._pump()

    def _measured(self, task: Task, cpu_s: float, wall_s: float) -> None:
        settled = self._router.measured(task, cpu_s, wall_s)
        if settled is not None:
            self.recorder.emit(self._now(), "routed", task.id, None, f"{task.name}: {settled}")

    # ------------------------------------------------------------------ resources
    def _on_sample(self, sample: Sample) -> None:
        """Record a resource sample; act on the limits it passes."""
        if self._state != _RUNNING and self._state != _STOPPING:
            return
        d, lim = self._d, self.limits
        now = sample.t - self._t0
        self.recorder.resources.append((
            now, sample.cpu_pct, sample.rss_mb, sample.n_procs, sample.sys_cpu_pct,
            sample.sys_mem_pct, sample.net_sent_bytes, sample.net_recv_bytes, sample.disk_read_bytes,
            sample.disk_write_bytes, sample.gpu_util_pct, sample.gpu_mem_mb, sample.gpu_tree_mem_mb,
            sample.sample_cost_ms, d.n_running, d.n_waiting, d.throttled, None,
        ))
        if self.mode is not ExecutionMode.DASK:  # DASK: limits apply to the cluster's total
            self._apply_limits(now, sample.cpu_pct, os.cpu_count() or 1, sample.rss_mb, "the machine")
        if lim.max_task_memory_mb is not None and "process" in self._backends:
            self._enforce_task_memory(sample, now, lim.max_task_memory_mb)

    def _apply_limits(self, now: float, cpu_pct: float, cores: int, rss_mb: float, where: str) -> None:
        """Throttle or resume admission on readings of what the limits cover: the
        executor's process tree on ``the machine``, or the Dask cluster's total.
        ``cpu_pct``: 100 per busy core, over ``cores`` cores."""
        d, lim = self._d, self.limits
        readings = []  # (kind, reading, limit, text)
        if lim.max_cpu_percent is not None:
            share = cpu_pct / cores
            readings.append(("cpu", share, lim.max_cpu_percent,
                             f"cpu {share:.1f}% of {where} ({cpu_pct:.0f}% of one core) vs limit "
                             f"{lim.max_cpu_percent:g}%"))
        if lim.max_memory_mb is not None:
            readings.append(("memory", rss_mb, lim.max_memory_mb,
                             f"memory {rss_mb:.0f} MB of {where} vs limit {lim.max_memory_mb:g} MB"))
        over = [r for r in readings if r[1] > r[2]]
        if over and not d.throttled:
            for kind, *_ in over:
                self._violations[kind] = self._violations.get(kind, 0) + 1
            d.set_throttled(True, now, "; ".join(r[3] for r in over))
        elif d.throttled and all(r[1] < lim.resume_fraction * r[2] for r in readings):
            d.set_throttled(False, now, "; ".join(r[3] for r in readings))
            self._pump()

    def _lose_agent(self, agent_id: str, reason: str) -> None:
        """An agent is gone with whatever it ran (its Dask worker left for good): its
        running attempts fail ``agent_lost`` and run elsewhere, its queue is placed again.
        It stays in :attr:`agents` (every agent that took part); a ``left`` event says when."""
        for st in self._d.lose_agent(agent_id, self._now(), reason):
            backend = self._backends.get(st.mode) if st.mode else next(iter(self._backends.values()))
            if backend is not None:
                backend.kill(st)
            st.handle = None
        self._pump()

    def _enforce_task_memory(self, sample: Sample, now: float, cap: float) -> None:
        for st, pid in self._backends["process"].running_pids():
            rss = sample.rss_by_pid.get(pid)
            # only a reading taken while this attempt ran counts against it
            if rss is not None and rss > cap and st.started_s is not None and now > st.started_s:
                self._violations["task_memory"] = self._violations.get("task_memory", 0) + 1
                exc = MemoryLimitError(
                    f"worker process {pid} of task {st.id!r} reached {rss:.0f} MB, over the "
                    f"per-task cap of {cap:g} MB (ResourceLimits.max_task_memory_mb); it was killed"
                )
                self._kill(st, TaskStatus.FAILED, exc, "memory_limit")

    def _journal_tick(self) -> None:
        """At least once a second, whatever happens."""
        self._journal.flush()
        self._journal_timer = self._loop.call_later(SYNC_EVERY_S, self._journal_tick)

    def _terminal(self, st: TaskState) -> None:
        if self._journal is not None:
            self._journal.flush()
        if self._waiters:
            fut = self._waiters.pop(st.id, None)
            if fut is not None and not fut.done():
                fut.set_result(st.result())
        if self._listeners:
            res = st.result()
            for cb in list(self._listeners):
                try:
                    cb(res)
                except Exception:
                    log.exception("swarmlab: a result callback raised; it is dropped")
                    self._listeners.remove(cb)
        if self._d.done and self._all_done is not None:
            self._all_done.set()


def _dask_options(mode: ExecutionMode, agents: Sequence[Agent], address: Any, security: Any,
                  workers: Any) -> dict[str, Any]:
    """Check the DASK keyword arguments; in DASK mode, that Dask distributed imports."""
    given = [n for n, v in (("dask_address", address), ("dask_security", security),
                            ("dask_workers", workers)) if v is not None]
    if mode is not ExecutionMode.DASK:
        if given:
            raise ConfigError(
                f"{', '.join(given)} only apply to mode DASK; got mode {mode.value!r}; drop "
                "them or use mode='dask'"
            )
        return {}
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ConfigError(
            f"dask_address must be a scheduler address like 'tcp://host:8786' or None for an "
            f"embedded cluster; got {address!r}"
        )
    pins: dict[str, Any] = {}
    if workers is not None:
        if not isinstance(workers, Mapping):
            raise ConfigError(f"dask_workers must map agent ids to Dask workers; got {workers!r}")
        ids = {a.id for a in agents}
        for agent_id, worker in workers.items():
            if agent_id not in ids:
                raise ConfigError(
                    f"dask_workers names agent {agent_id!r}, which is not in the pool; the "
                    f"agents are {', '.join(sorted(map(str, ids)))}"
                )
            if isinstance(worker, bool) or not isinstance(worker, (str, int)):
                raise ConfigError(
                    f"dask_workers[{agent_id!r}] must be a worker address, name or host; got {worker!r}"
                )
            pins[agent_id] = worker
    importlib.import_module(".backends.dask", __package__)  # BackendUnavailable without distributed
    return {"address": address, "security": security, "pins": pins}


class _EarliestTimer:
    """One loop timer for the earliest of many due times: arming it for a later time
    than the one pending changes nothing; when it fires it is free again."""

    __slots__ = ("callback", "handle", "at")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.handle: asyncio.TimerHandle | None = None
        self.at = float("inf")  # loop time of the pending call

    def arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if at >= self.at:
            return
        if self.handle is not None:
            self.handle.cancel()
        self.at = at
        self.handle = loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self.handle, self.at = None, float("inf")
        self.callback()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.handle, self.at = None, float("inf")
