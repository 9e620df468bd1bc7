"""ParallelExecutor: the dispatcher driven in real time by an asyncio event loop.

The public face of a real-time run: submission, results, metrics and records. What it
is made of lives in modules of its own: the engine that drives the dispatcher and is the
host backends report to (:mod:`swarmlab.realtime.engine`), the backends found by mode name
(:mod:`swarmlab.backends`), admission under resource limits (:mod:`swarmlab.core.admission`),
timers (:mod:`swarmlab.realtime.timers`), the lifecycle and its one shutdown
(:mod:`swarmlab.realtime.lifecycle`) and the journal (:mod:`swarmlab.store.journal`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import backends
from ..backends.base import Backend
from ..backends.options import backend_options
from ..checks import non_negative, seed_value
from ..core.dispatcher import Dispatcher
from ..core.reported import count_spent
from ..core.runinfo import default_agents, describe_agents, run_meta
from ..core.taskstate import DELAYED, PENDING, QUEUED, RUNNING, TaskState
from ..errors import ConfigError, ExecutorClosedError
from ..events import Recorder
from ..model import (
    Agent,
    ExecutionMetrics,
    ExecutionMode,
    ResourceLimits,
    Task,
    TaskResult,
    TaskStatus,
    agent_list,
)
from ..scheduling.registry import resolve_policy
from ..scheduling.scheduler import note_run
from ..store.journal import Journal
from ..store.records import RunRecord
from ..store.spill import Spill
from . import leftovers
from .engine import Engine
from .lifecycle import Lifecycle
from .metrics import execution_metrics
from .monitor import ResourceMonitor, machine_devices

__all__ = ["ParallelExecutor"]

log = logging.getLogger("swarmlab")

# An enum member read through its class costs a Python-level lookup (~70 ns): bound once.
_ASYNCIO = ExecutionMode.ASYNCIO


class ParallelExecutor:
    """Runs tasks in parallel on threads, processes or the event loop, and records it all.

    Parameters
    ----------
    mode : ExecutionMode or str
        THREAD, PROCESS, ASYNCIO, HYBRID (default: route each task, see DESIGN) or DASK
        (task bodies on a Dask cluster; needs ``pip install 'swarmlab[dask]'``), or the
        name of a backend registered with :func:`swarmlab.backends.register`.
    limits : ResourceLimits, optional
        Default ``ResourceLimits()``: no cap beyond the agents' capacity, 1000 queued,
        300 s timeout.
    agents : sequence of Agent, optional
        Default: ``limits.max_concurrent_tasks`` identical agents (10 when it is None).
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
    spill : path, optional
        A run store folder, for long runs: memory keeps only the tasks in flight, the
        counts and sums :meth:`get_metrics` reads, and how each ended task ended (9 bytes;
        none for a completed task with an automatic id), so that millions of tasks hold
        flat memory. The rows of ended tasks are written to ``<spill>/<run_id>/parts/`` as
        they gather (:mod:`swarmlab.store.spill`) and the run folder is completed at
        :meth:`stop`: ``RunStore(spill).load(run_id)`` is the run. Values are not kept:
        :meth:`subscribe` to get each result as its task ends (:meth:`get_result` of a
        task that ended before it was asked for, and :meth:`get_all_results`, raise
        ConfigError). Duplicate ids and dependencies on ended tasks are checked as ever.
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
        spill: str | Path | None = None,
        dask_address: str | None = None,
        dask_security: Any = None,
        dask_workers: Mapping[str, str | int] | None = None,
    ) -> None:
        self.mode = _mode(mode)
        name = getattr(self.mode, "value", self.mode)
        if limits is None:
            limits = ResourceLimits()
        elif not isinstance(limits, ResourceLimits):
            raise ConfigError(f"limits must be a ResourceLimits or None; got {limits!r}")
        self.limits = limits
        self.agents = (agent_list(agents, "ParallelExecutor agents") if agents is not None
                       else default_agents(limits))
        self.process_workers, self._backend_options = backend_options(
            name, self.agents, limits, process_workers, dask_address, dask_security, dask_workers)
        self._backend_type = backends.get(name)  # BackendUnavailable now, not at start
        if limits.max_task_memory_mb is not None and self._backend_type.running_pids is Backend.running_pids:
            raise ConfigError(
                f"ResourceLimits.max_task_memory_mb={limits.max_task_memory_mb:g} acts on a task running in a "
                f"process of its own (modes PROCESS and HYBRID's process tasks); mode {name!r} runs bodies where "
                "one cannot be capped apart; use mode='process', or drop the cap (max_memory_mb caps the whole run)")
        self.policy = resolve_policy(scheduler)
        self.seed = seed = seed_value(seed, "ParallelExecutor seed")
        self.recorder = Recorder()
        self.meta = run_meta(self.recorder.run_id, clock="real", mode=name,
                             policy=self.policy, limits=limits, seed=seed, agents=self.agents)
        estimator = getattr(scheduler, "estimator", None)  # a TaskScheduler's: it learns from this run too
        self._spill_root = _folder(spill, "spill")
        self._spill: Spill | None = None
        self._d = Dispatcher(self.agents, self.policy, limits, self.recorder, seed=seed,
                             on_terminal=self._terminal, estimator=estimator, learn=estimator is not None,
                             forget=self._spill_root is not None)
        note_run(scheduler, self._d.placements)
        self._life = Lifecycle()
        self._engine = Engine(self._d, limits, self.recorder, self._life)
        self._policy_error_seen: ConfigError | None = None
        self._waiters: dict[str, asyncio.Future] = {}
        self._all_done: asyncio.Event | None = None
        self._listeners: list[Callable[[TaskResult], None]] = []
        self._journal_root, self._spec = _folder(journal, "journal"), spec
        self._journal: Journal | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the backend (process workers are started and warm when this returns).

        DASK: the embedded cluster is up, or the client is connected to the given
        scheduler (OSError when it cannot be reached within 30 s; ConfigError when a
        ``dask_workers`` pin names no worker of the cluster).
        """
        life = self._life
        if not life.begin():
            return
        loop = asyncio.get_running_loop()
        self._all_done = asyncio.Event()
        self._all_done.set()
        engine = self._engine
        try:
            self._d.membership.pin_devices(*machine_devices())  # ConfigError: gpu units the devices cannot hold
            engine.attach(loop)
            # what opens is closed at shutdown, last opened first: backend, sampler, journal
            if self._journal_root is not None:
                self._journal = Journal(Path(self._journal_root) / self.recorder.run_id, self.recorder,
                                        self.meta, self._spec)
                self._journal.keep_flushing(loop)
                life.closing(self._journal.close)
                engine.spent = self._journal.spent  # bodies' reports, as made (the backend reads it)
            backend = self._backend_type(engine, **self._backend_options)
            engine.use(backend)
            if self._spill_root is not None:
                self._spill = Spill(self._spill_root / self.recorder.run_id, self.recorder, engine.now,
                                    before=self._journal.flush if self._journal is not None else None)
                life.closing(lambda: self._spill.close(self._final_meta()))
            # processes bodies started and left alive are named once the backend has closed
            before = leftovers.descendants()
            life.closing(lambda: leftovers.warn(before, engine.emit))
            monitor = ResourceMonitor(loop, self.limits.monitoring_interval, engine.on_sample)
            monitor.start()
            life.closing(monitor.stop)
            life.closing(backend.close)
            await backend.start()
        except BaseException:
            await self.stop(timeout=0)  # the one shutdown sequence: nothing has run yet
            raise

    async def stop(self, timeout: float | None = None) -> None:
        """Take no new work, cancel waiting tasks, let running ones finish.

        Running attempts get ``timeout`` seconds (None: as long as they need); then they
        are killed (processes), cancelled (coroutines, Dask futures) or abandoned
        (threads, Dask tasks a worker has begun), and recorded ``cancelled``. No worker
        process is left alive (an existing Dask cluster is left running), nor any command
        a body started with ``swarmlab.command``, ``acommand`` or ``popen``; processes the
        bodies started otherwise and left running are named (a log warning and a
        ``left_alive`` event), not killed.

        There is one shutdown: a call while another is under way waits for that one to
        finish (under the first call's ``timeout``), and a call once stopped returns at once.
        """
        if timeout is not None:
            non_negative(timeout, "stop(timeout=...) (seconds running attempts get, or None: as long as they need)")
        await self._life.stop(lambda: self._engine.drain(timeout))

    async def __aenter__(self) -> ParallelExecutor:
        await self.start()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            await self.wait_for_completion()
        await self.stop(timeout=None if exc_type is None else 0)

    # ------------------------------------------------------------------ submission
    def _check_runnable(self, task: Task) -> None:
        """Raise what makes ``task`` one this executor cannot run (nothing when it can)."""
        if not isinstance(task, Task):
            raise ConfigError(f"submit takes Task objects; got {type(task).__name__} {task!r}")
        if task.fn is None:
            raise ConfigError(
                f"task {task.id or task.name!r} has no function (fn=None): it can only be "
                "simulated; give it a function or use swarmlab.simulate"
            )
        if not task.is_coroutine and self.mode is _ASYNCIO:
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
        # submit_batch's path for one task, without the batch's lists: users of the
        # original API submit this way, one task per call
        self._life.check_open()
        self._check_runnable(task)
        ids = self._engine.submit((task,), None if priority is None else (priority,))
        self._accepted()
        return ids[0]

    async def submit_batch(self, items: Iterable[Task | tuple[Task, int | None]]) -> list[str]:
        """Submit tasks at once, as ``Task`` or ``(Task, priority)``; all or none accepted.

        Tasks in one batch may depend on each other.
        """
        self._life.check_open()
        tasks, prios = [], []
        given = False  # some priority given: otherwise the batch passes none (each task's own)
        for it in items:
            if isinstance(it, tuple):
                task, prio = it
                given = given or prio is not None
            else:
                task, prio = it, None
            self._check_runnable(task)
            tasks.append(task)
            prios.append(prio)
        ids = self._engine.submit(tasks, prios if given else None)
        self._accepted()
        return ids

    def _accepted(self) -> None:
        """Tasks were accepted: completion is awaited again, and what can start starts."""
        d = self._d
        if d.n_unfinished:  # (not d.done, without a property call a submission)
            self._all_done.clear()
        self._engine.pump()  # (it asks the dispatcher for starts only when some may start)
        if d.policy_error is not None:
            self._raise_policy_error()

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
        engine = self._engine
        if engine.loop is None:
            raise ExecutorClosedError("the executor is not started; no task to cancel")
        d = self._d
        before = d.cancel(task_id, engine.now(), "cancelled by the user")
        if before == RUNNING:
            engine.kill(d.tasks[task_id], TaskStatus.CANCELLED,
                        asyncio.CancelledError("cancelled by the user"), "cancelled")
            engine.pump()
            return True
        return before in (PENDING, DELAYED, QUEUED)  # it was waiting: it ended here, cancelled

    def add_agent(self, agent: Agent) -> None:
        """Add an agent to the pool while running; with stealing on it takes waiting work
        at once. A ``joined`` event records it."""
        self._life.check_open()
        if not isinstance(agent, Agent):
            raise ConfigError(f"add_agent takes an Agent; got {agent!r}")
        self._engine.add_agent(agent)
        self.agents.append(agent)
        self._engine.pump()

    def retire_agent(self, agent_id: str, reason: str = "") -> bool:
        """Take an idle agent out of the pool (False if it has work or is the last of its
        capability group). A ``retired`` event records it."""
        self._life.check_open()
        return self._d.membership.retire_agent(agent_id, self._engine.now(), reason)

    @property
    def state(self) -> str:
        """'new', 'running', 'stopping' or 'stopped'."""
        return self._life.state

    def spend(self, rate: str, units: float) -> None:
        """Start rate ``rate``'s bucket ``units`` below what it holds now: units spent
        just before this run, against the same provider limit (``resume`` passes what
        the killed run spent in its last ``per_s`` seconds: a resumed run's buckets do
        not start full). ConfigError for a name that is no rate of this run."""
        units_ = self._d.units
        if units_ is None:
            raise ConfigError(f"{rate!r} is no rate of this run: it has none (ResourceLimits(rates=...))")
        units_.spent(rate, units, self._engine.now())

    def spent_before(self, values: Mapping[str, float]) -> None:
        """Count ``values`` (``{"cost_usd": 1.25}``) against the run's budgets as spent
        before this run began (``resume`` passes what the killed run's bodies reported,
        those its kill cut short included): a budget they reach closes the run at once,
        so what is submitted ends cancelled with the budget's reason. Nothing for a run
        without budgets. Call it once started, before submitting.

        Raises
        ------
        ConfigError
            ``values`` is not a dict of report name -> finite number.
        """
        if not isinstance(values, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for k, v in values.items()):
            raise ConfigError(f"spent_before takes what bodies reported before this run, a dict of report name -> "
                              f"finite number such as {{'cost_usd': 1.25}}; got {values!r}: pass numbers by name")
        units_ = self._d.units
        if units_ is None or units_.budgets is None or not values:
            return
        count_spent(self._d, dict(values), self._engine.now())

    def now(self) -> float:
        """Seconds since :meth:`start` on the run's monotonic clock (the ``t_s`` of events)."""
        return self._engine.now()

    def pool_status(self) -> list[dict[str, Any]]:
        """Each agent of the pool now: id, type, capabilities, capacity, queued, running,
        finished attempts, measured success rate, retired."""
        return [
            {"agent_id": s.id, "type": s.agent.type.value, "capabilities": sorted(s.capabilities),
             "capacity": s.capacity, "queued": s.queued, "running": s.running, "finished": s.n_done,
             "completed": s.n_ok, "success_rate": s.success_rate, "retired": s.retired}
            for s in self._d.slots
        ]

    def running_attempts(self) -> list[tuple[str, str]]:
        """``(task id, agent id)`` of each attempt running now, in submission order."""
        return [(st.id, st.slot.id) for st in self._d.running() if st.slot is not None]

    def ended_tasks(self) -> list[tuple[Task, TaskResult]]:
        """Each ended task the executor holds, with its result, in submission order:
        once the run stopped, every task it was given (a run that spills holds none)."""
        return [(st.task, st.result()) for st in self._d.tasks.values() if isinstance(st.state, TaskStatus)]

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
            ended = self._d.ended_status(task_id)
            if ended is not None:
                raise ConfigError(
                    f"task {task_id!r} ended {ended.value} and this run spills (spill={str(self._spill_root)!r}): "
                    "results are not kept once their task ends; its rows are in record().tasks, and "
                    "subscribe() before submitting gets each result as its task ends")
            raise ConfigError(f"no task {task_id!r} was submitted to this executor")
        if isinstance(st.state, TaskStatus):
            return st.result()
        fut = self._waiters.get(task_id)
        if fut is None:
            fut = self._waiters[task_id] = self._engine.loop.create_future()
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    async def get_all_results(self) -> dict[str, TaskResult]:
        """Every finished task's result, whatever its status, by task id.

        Raises ConfigError in a run that spills: it keeps no results (subscribe instead)."""
        if self._spill_root is not None:
            raise ConfigError(f"this run spills (spill={str(self._spill_root)!r}) and keeps no results once their "
                              "task ends; subscribe() before submitting to get each result as its task ends, "
                              "or read record().tasks")
        return {st.id: st.result() for st in self._d.finished}

    async def wait_for_completion(self, timeout: float | None = None) -> bool:
        """Wait until every submitted task has ended; False if ``timeout`` passed first."""
        if timeout is not None:
            non_negative(timeout, "wait_for_completion(timeout=...) (seconds, or None: no limit)")
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
        return execution_metrics(self._d, self._engine.now(), self._engine.violations)

    def get_queue_size(self) -> int:
        """Tasks submitted and waiting (for dependencies, a retry or an agent)."""
        return self._d.n_waiting

    def record(self) -> RunRecord:
        """A snapshot of everything recorded so far (in a run that spills: read back from
        its parts, and what is still in memory)."""
        meta = self._final_meta()
        if self._spill is not None:
            rows = self._spill.frames()
            rec = RunRecord(dict(meta), rows["events"], rows["attempts"], list(self.recorder.resources),
                            self.recorder.resource_fields, rows["task_info"], reports=rows["reports"])
        else:
            rec = RunRecord.from_recorder(self.recorder, meta)
        if self._d.units is not None and self._d.done:  # a finished run with limits names the one that binds
            from ..analysis.figures import name_bound

            name_bound(rec)
        return rec

    def _final_meta(self) -> dict[str, Any]:
        if len(self.agents) != self.meta["n_agents"]:  # agents joined during the run
            self.meta.update(n_agents=len(self.agents), agents=describe_agents(self.agents))
        self.meta["scheduling_metrics"] = dataclasses.asdict(self._d.placements.metrics())
        if self._d.units is not None:  # pools, rates, and the seconds tasks were held back per resource
            self.meta["resources"] = self._d.units.summary(self._engine.now())
        if self._engine.calls.log:  # each call's units and how long it held them, for replay()
            calls: dict[str, list] = {}
            for tid, attempt, granted_s, held_s, units in self._engine.calls.log:
                calls.setdefault(tid, []).append([attempt, round(granted_s, 6), round(held_s, 6), units])
            self.meta["calls"] = calls
        return self.meta

    def _terminal(self, st: TaskState) -> None:
        if self._journal is not None:
            self._journal.flush()
        if self._spill is not None and self._spill.due():
            self._spill.write()
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
        if self._d.n_unfinished == 0 and self._all_done is not None:  # (d.done, without a property call a task)
            self._all_done.set()


def _folder(value: Any, name: str) -> Path | None:
    """A folder argument: None, or a non-empty str or path."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)) and str(value):
        path = Path(value)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"ParallelExecutor {name}={str(path)!r} is a file, not a folder; give a folder "
                              "(it is created if missing)")
        return path
    raise ConfigError(f"ParallelExecutor {name} must be a folder (a non-empty str or path) or None; got {value!r}")


def _mode(mode: Any) -> ExecutionMode | str:
    """An ExecutionMode, or the name of a backend registered under another name."""
    try:
        return ExecutionMode(mode)
    except (ValueError, TypeError):
        pass
    if isinstance(mode, str) and mode in backends.names():
        return mode
    raise ConfigError(f"ParallelExecutor mode must be one of {', '.join(map(repr, backends.names()))}; got {mode!r}")
