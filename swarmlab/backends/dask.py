"""DASK: task bodies on a Dask cluster, an embedded ``LocalCluster`` or an existing one.

The dispatcher still decides order, agents and retries; this backend only turns each
attempt it is handed into one Dask future (``pure=False``, key
``swarmlab-<run_id>-<task_id>-<attempt>``), with ``workers=[...]`` when the attempt's
agent is pinned to a Dask worker.

- Attempts handed over in one loop iteration go to the scheduler in one ``client.map``
  per (pinned worker, priority), so a burst costs one graph update, not one per task.
- The body runs in :func:`swarmlab.backends.dask_task.run`, which first logs
  ``(key, worker address)`` to a topic of the run: the attempt's start (and its
  timeout) is when a worker begins it, not when Dask queued it. Its answer is
  pickled on the worker, so a value that cannot travel fails that task only.
- Completions come through ``Future.add_done_callback`` (a Dask thread) into one deque
  and at most one pending loop wake-up; finished futures are gathered in one call per
  wake-up.
- A worker lost while it held an attempt (it left the cluster, Dask gave up with
  ``KilledWorker``, the attempt's result was lost with it, or its future was cancelled
  behind swarmlab's back) fails that attempt with error_type ``worker_lost``; its
  future is cancelled, so Dask does not run it again behind the dispatcher's back, and
  the dispatcher runs the task again as a new attempt, counted apart from
  ``max_retries`` (up to :data:`~swarmlab.core.dispatcher.MAX_LOST_ATTEMPTS` losses, Dask's
  own allowed-failures default).
- Every ``monitoring_interval`` the scheduler's per-worker metrics (CPU, memory) are
  sampled.
- What a body reports travels back with its answer only: nothing is sent as it is made
  (the host's ``spent`` is not used), so what a DASK attempt a kill cut short reported
  is not known to :func:`swarmlab.resume` (PROCESS, THREAD and ASYNCIO bodies journal it).
- GPU units: an agent holding ``gpu`` units must be pinned to a worker (``dask_workers``;
  a ConfigError names it otherwise: the device table is this machine's, a worker
  elsewhere has its own). When that worker declares the Dask resource
  :data:`DASK_GPU_RESOURCE` (``dask worker --resources "GPU=2"``), each attempt asks
  for its units of it (``resources={"GPU": k}``), so Dask too never runs more gpu work
  on it than it declares. The worker's ``CUDA_VISIBLE_DEVICES`` is whatever its own
  start gave it: Dask cannot change it per task.

Workers need swarmlab importable (as with any Dask deployment, the client's code must
be there); the task functions travel with cloudpickle, so lambdas and notebook
functions run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import traceback
from collections import deque
from collections.abc import Mapping
from typing import Any


from ..errors import BackendUnavailable, ConfigError, WorkerCrashedError
from . import dask_task
from .worker import decode
from .base import Backend, pickled

try:
    import distributed
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
except ImportError as e:  # the optional extra is missing
    raise BackendUnavailable(
        "ExecutionMode.DASK needs Dask distributed, which cannot be imported "
        f"({type(e).__name__}: {e}); install it with pip install 'swarmlab[dask]'"
    ) from e

__all__ = ["DASK_GPU_RESOURCE", "DaskBackend"]

log = logging.getLogger("swarmlab")

_NAN = math.nan

#: The Dask worker resource that counts GPUs. Dask resources are free-form names a worker
#: declares (``--resources "GPU=2"``, ``LocalCluster(resources=...)``); "GPU" is the
#: name Dask's documentation uses for them, so a cluster set up by that book works as is.
DASK_GPU_RESOURCE = "GPU"

# Seconds a pinned worker may be missing (a nanny restarting it) before its agent is lost.
PIN_GRACE_S = 10.0
# Seconds to connect to an existing scheduler before giving up.
CONNECT_TIMEOUT_S = 30.0
# Seconds the embedded cluster gets to close its workers before they are killed.
CLOSE_TIMEOUT_S = 10.0
# Dask errors that mean "the worker (or the connection to it) went away", not "the
# task failed".
_LOST = (KilledWorker, CommClosedError)


class _Run:
    """One attempt on its way through Dask (``TaskState.handle``)."""

    __slots__ = ("st", "attempt", "payload", "pin", "key", "future", "started", "killed", "gpu")

    def __init__(self, st, payload: bytes, pin: Any, key: str, gpu: float = 0.0) -> None:
        self.gpu = gpu  # units of DASK_GPU_RESOURCE it asks its worker for (0: none)
        self.st = st
        self.attempt = st.attempt
        self.payload = payload
        self.pin = pin
        self.key = key
        self.future: distributed.Future | None = None
        self.started = False
        self.killed = False


class DaskBackend(Backend):
    """Runs attempts as Dask futures.

    Parameters
    ----------
    host : Host
    address : str, optional
        An existing scheduler (``tcp://host:port``, ``tls://...``); None starts an
        embedded ``LocalCluster`` (one single-threaded worker process per core, on
        127.0.0.1, no dashboard), closed by :meth:`close`.
    security : distributed.security.Security, optional
        TLS settings for the scheduler connection (and for the embedded cluster).
    pins : mapping of agent id to worker
        The attempts of these agents run on that worker only (an address, or a worker
        name: the embedded cluster's workers are named 0, 1, ... and keep their name
        when their nanny restarts them).
    n_workers : int, optional
        Workers of the embedded cluster; default the CPU count.
    """

    mode = "dask"
    measures_usage = True  # the limits apply to the cluster's total

    def __init__(self, host, address: str | None = None, security: Any = None,
                 pins: Mapping[str, Any] | None = None, n_workers: int | None = None) -> None:
        super().__init__(host)
        self.address = address
        self.security = security
        self.pins: dict[str, Any] = dict(pins or {})
        self.n_workers = n_workers or os.cpu_count() or 1
        self.cluster: Any = None
        self.client: distributed.Client | None = None
        self._pin_missing: dict[str, float] = {}  # agent id -> when its pinned worker went missing
        self._gpu_workers: set = set()  # pinned workers that declare DASK_GPU_RESOURCE
        self._prefix = f"swarmlab-{host.run_id}-"
        self._topic = f"swarmlab-started-{host.run_id}"
        self._runs: dict[str, _Run] = {}  # Dask key -> attempt with a live future
        self._batch: list[_Run] = []  # handed over in this loop iteration, not yet submitted
        self._flush_pending = False
        self._done: deque = deque()  # futures that ended, from Dask's callback thread
        self._wake_pending = False
        self._tasks: set[asyncio.Task] = set()
        self._sampler: asyncio.Task | None = None
        self._stop_tracker = False
        self._closed = False

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the embedded cluster or connect to the given one; check the pins."""
        if self.address is None:
            tracker_was_running = _tracker_running()
            with _cluster_config():
                self.cluster = await distributed.LocalCluster(
                    n_workers=self.n_workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None, security=self.security,
                    asynchronous=True,
                )
            # Dask's worker processes are spawned by multiprocessing, which starts its
            # resource tracker process once per interpreter: stop it with the cluster
            # when it was this cluster that started it, so nothing outlives stop().
            self._stop_tracker = not tracker_was_running and _tracker_running()
            target: Any = self.cluster
            security = self.cluster.security  # the credentials it made, when security=True
        else:
            target, security = self.address, self.security
        self.client = await distributed.Client(
            target, asynchronous=True, security=security, set_as_default=False,
            timeout=CONNECT_TIMEOUT_S,
        )
        self.client.subscribe_topic(self._topic, self._on_started)
        self.client.subscribe_topic("all", self._on_cluster_event)
        if self.pins:
            info = await self._identity()
            self.pins = self._resolve_pins(info)
            self._gpu_workers = {x for a, w in info.get("workers", {}).items()  # by address and by name
                                 if (w.get("resources") or {}).get(DASK_GPU_RESOURCE) for x in (a, w.get("name"))}
        self._sampler = self.host.loop.create_task(self._sample_forever())

    async def close(self) -> None:
        """Cancel every future still held, close the client and the embedded cluster."""
        if self._closed:
            return
        self._closed = True
        if self._sampler is not None:
            self._sampler.cancel()
        self._batch.clear()
        futures = [r.future for r in self._runs.values() if r.future is not None]
        self._runs.clear()
        client = self.client
        if client is not None and futures:
            with contextlib.suppress(Exception):
                await client.cancel(futures, reason="the swarmlab executor stopped")
        if self._tasks:
            pending = list(self._tasks)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._sampler is not None:
            await asyncio.gather(self._sampler, return_exceptions=True)
        if client is not None:
            for topic in (self._topic, "all"):  # or the scheduler writes to a closed comm
                client.unsubscribe_topic(topic)
            await client.close()
        if self.cluster is not None:
            await self.cluster.close(timeout=CLOSE_TIMEOUT_S)
            if self._stop_tracker:
                _stop_resource_tracker()

    # -------------------------------------------------------------- the Backend contract
    def run(self, st) -> None:
        payload = pickled(self, st, "a Dask worker")
        if payload is None:
            return
        pin = self.pins.get(st.slot.id)
        gpu = st.need.gpu if st.need is not None and pin in self._gpu_workers else 0.0
        run = _Run(st, payload, pin, f"{self._prefix}{st.id}-{st.attempt}", gpu)
        st.handle = run
        self._batch.append(run)
        if not self._flush_pending:
            self._flush_pending = True
            self.host.loop.call_soon(self._flush)

    def kill(self, st) -> bool:
        """Cancel the attempt's future. True when that stopped it; False when its body
        had begun on a worker: a Dask worker cannot interrupt a running task, so the
        body runs on there, abandoned, and its answer is ignored."""
        run = st.handle
        if not isinstance(run, _Run):
            return True
        run.killed = True
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
            self._spawn(self._cancel([run.future], "swarmlab stopped this attempt"))
        return not run.started

    # -------------------------------------------------------------- submission
    def _flush(self) -> None:
        """Submit what was handed over in this loop iteration: one map per group."""
        self._flush_pending = False
        batch, self._batch = self._batch, []
        groups: dict[tuple, list[_Run]] = {}
        for run in batch:
            if not run.killed:
                groups.setdefault((run.pin, run.st.priority, run.gpu), []).append(run)
        for (pin, priority, gpu), runs in groups.items():
            self._submit(runs, pin, priority, gpu)

    def _submit(self, runs: list[_Run], pin: Any, priority: int, gpu: float = 0.0) -> None:
        where = {} if pin is None else {"workers": [pin], "allow_other_workers": False}
        if gpu:
            where["resources"] = {DASK_GPU_RESOURCE: gpu}
        try:
            futures = self.client.map(
                dask_task.run, [r.payload for r in runs], key=[r.key for r in runs],
                pure=False, priority=priority, topic=self._topic, **where,
            )
        except Exception as e:  # the client is closed or lost its scheduler
            tb = traceback.format_exc()
            for r in runs:
                self._fail(r, e, "dask_error", tb)
            return
        on_done = self._on_done
        for r, fut in zip(runs, futures):
            r.future = fut
            self._runs[r.key] = r
            fut.add_done_callback(on_done)

    # -------------------------------------------------------------- progress and outcomes
    def _on_started(self, event: tuple) -> None:
        """A worker began an attempt: that is its start (and its worker)."""
        try:
            key, address = event[1]
        except (TypeError, ValueError):
            return
        run = self._runs.get(key)
        if run is None or run.started:
            return  # ended, replaced or rescheduled: the first start stands
        run.started = True
        st = run.st
        if st.handle is run:
            self.host.started(st, self.mode, address)

    def _on_done(self, fut) -> None:
        """Dask's callback thread: queue the future, wake the loop once per burst."""
        self._done.append(fut)
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self.host.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: the run is over
                pass

    def _drain(self) -> None:
        self._wake_pending = False
        finished = []
        done, runs = self._done, self._runs
        while done:
            fut = done.popleft()
            run = runs.get(fut.key)
            if run is None or run.future is not fut:
                continue  # killed or submitted again: nothing to report for this future
            if fut.status == "finished":
                finished.append(run)
            else:
                self._spawn(self._ended_badly(run, fut))
        if finished:
            self._spawn(self._collect(finished))

    async def _collect(self, runs: list[_Run]) -> None:
        """Fetch the answers of finished futures in one call."""
        try:
            answers = await self.client.gather({r.key: r.future for r in runs}, errors="skip")
        except Exception as e:  # the scheduler or the worker holding them is gone
            for run in runs:
                self._lost(run, None, f"its answer could not be fetched: {type(e).__name__}: {e}")
            return
        for run in runs:
            answer = answers.get(run.key)
            if answer is not None:  # every answer is bytes: None means skipped
                self._deliver(run, answer)
            elif self._runs.get(run.key) is run:
                await self._ended_badly(run, run.future)

    def _deliver(self, run: _Run, answer: bytes) -> None:
        if self._runs.get(run.key) is not run:
            return  # killed or replaced while its answer travelled
        del self._runs[run.key]
        run.future.release()
        st, attempt = run.st, run.attempt
        ok, payload, error_type, tb, reported, address = decode(answer, "Dask worker")
        self._report_start(run, address)
        if ok:
            self.host.succeeded(st, attempt, payload, reported)
        else:
            self.host.failed(st, attempt, payload, error_type, tb, reported)

    def _report_start(self, run: _Run, address: str | None) -> None:
        """Before the outcome: the worker that answered is the attempt's worker."""
        st = run.st
        if st.handle is not run:
            return
        if not run.started:  # its start event has not arrived (or got lost)
            run.started = True
            self.host.started(st, self.mode, address)
        elif address is not None:
            st.worker = address  # rescheduled by Dask after a loss: where it really ran

    async def _ended_badly(self, run: _Run, fut) -> None:
        """A future did not finish: it erred, was cancelled without swarmlab asking, or
        lost its result and runs again."""
        status = fut.status
        if status in ("pending", "lost"):  # its result was lost with its worker
            self._lost(run, None, "its result was lost with its worker")
            return
        if status == "finished":  # finished, yet its answer could not be fetched
            self._lost(run, None, "its answer could not be fetched from its worker")
            return
        if status != "error":
            self._lost(run, None, f"its Dask future was {status} outside swarmlab "
                                  "(the scheduler restarted or the connection dropped)")
            return
        exc = await fut.exception()
        if self._runs.get(run.key) is not run:
            return
        if isinstance(exc, KilledWorker):
            last = getattr(exc, "last_worker", None)
            self._lost(run, getattr(last, "address", None), str(exc))
        elif isinstance(exc, _LOST):
            self._lost(run, None, f"{type(exc).__name__}: {exc}")
        else:  # Dask could not run the wrapper at all (not the task's own error)
            self._fail(run, exc, None, _format_tb(await fut.traceback()))

    def _on_cluster_event(self, event: tuple) -> None:
        """The scheduler removed a worker: the attempts it held are lost."""
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else None
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker" or msg.get("expected"):
            return
        address = msg.get("worker")
        for key in msg.get("processing-tasks", ()):
            run = self._runs.get(key)
            if run is not None:
                self._lost(run, address, "the worker left the cluster")

    def _lost(self, run: _Run, address: str | None, why: str) -> None:
        """The attempt's worker is gone: the attempt fails as ``worker_lost`` and the
        dispatcher runs the task again (apart from ``max_retries``)."""
        if self._runs.get(run.key) is not run:
            return
        st = run.st
        where = address or (st.worker if run.started else None)
        exc = WorkerCrashedError(f"Dask worker {where or '(unknown)'} was lost while it held task {st.id!r} "
                                 f"attempt {run.attempt}: {why}")
        self._fail(run, exc, "worker_lost", None, lost=True, address=where)

    def _fail(self, run: _Run, exc: BaseException, error_type: str | None, tb: str | None,
              lost: bool = False, address: str | None = None) -> None:
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
            if run.future is not None and run.future.status in ("pending", "lost"):
                self._spawn(self._cancel([run.future], "swarmlab failed this attempt"))
        self._report_start(run, address)
        if lost:
            self.host.lost(run.st, run.attempt, exc, tb)
        else:
            self.host.failed(run.st, run.attempt, exc, error_type, tb)

    # -------------------------------------------------------------- helpers
    def _spawn(self, coro) -> None:
        """Run ``coro`` on the loop; :meth:`close` waits for (or cancels) what is left."""
        if self._closed:
            coro.close()
            return
        t = self.host.loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._task_done)

    def _task_done(self, t: asyncio.Task) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("swarmlab: a DASK backend step failed", exc_info=t.exception())

    async def _cancel(self, futures: list, reason: str) -> None:
        try:
            await self.client.cancel(futures, reason=reason)
        except Exception:  # the connection is gone: so is the future
            log.debug("swarmlab: cancelling Dask futures failed", exc_info=True)

    async def _identity(self) -> dict:
        try:
            return await self.client.scheduler.identity(n_workers=-1)
        except TypeError:  # distributed before n_workers existed: always all workers
            return await self.client.scheduler.identity()

    def _resolve_pins(self, info: dict) -> dict[str, Any]:
        """Each pin as the scheduler knows it: an address, a worker name or a host."""
        workers = info.get("workers", {})
        by_text: dict[str, Any] = {}
        for addr, w in workers.items():
            by_text[addr] = addr
            by_text.setdefault(str(w.get("name")), w.get("name"))
            by_text.setdefault(str(w.get("host")), w.get("host"))
        out = {}
        for agent_id, want in self.pins.items():
            if str(want) not in by_text:
                known = ", ".join(f"{a} (name {w.get('name')!r})" for a, w in workers.items()) or "none"
                raise ConfigError(
                    f"dask_workers pins agent {agent_id!r} to {want!r}, but the Dask cluster has "
                    f"no worker by that address, name or host; its workers are: {known}"
                )
            out[agent_id] = by_text[str(want)]
        return out

    # -------------------------------------------------------------- per-worker samples
    async def _sample_forever(self) -> None:
        interval = self.host.limits.monitoring_interval
        while True:
            try:
                info = await self._identity()
            except Exception:  # a slow or lost scheduler: the next sample may work
                log.debug("swarmlab: reading the Dask workers' metrics failed", exc_info=True)
            else:
                self._record_sample(info)
            await asyncio.sleep(interval)

    def _record_sample(self, info: dict) -> None:
        """One resources row per worker: its process's CPU (100 = one core) and memory;
        the machine-wide, network, disk and GPU fields are NaN (not measured there)."""
        host = self.host
        now = host.now()
        workers = info.get("workers", {})
        cpu_total = rss_total = 0.0
        for addr, w in workers.items():
            m = w.get("metrics") or {}
            cpu = float(m.get("cpu", _NAN))
            rss = float(m.get("memory", _NAN)) / 2**20
            cpu_total += cpu if cpu == cpu else 0.0
            rss_total += rss if rss == rss else 0.0
            host.sampled(addr, t_s=now, cpu_pct=cpu, rss_mb=rss, n_procs=1)
        if workers:  # the limits apply to the cluster's total
            threads = sum(int(w.get("nthreads") or 1) for w in workers.values())
            host.usage(cpu_total, threads, rss_total, f"the Dask cluster ({len(workers)} workers, {threads} threads)")
        if self.pins:
            self._check_pins(workers, now)

    def _check_pins(self, workers: dict, now: float) -> None:
        """An agent whose pinned worker has been gone for PIN_GRACE_S (a nanny did not
        bring it back under its name) is lost: its work goes to the other agents rather
        than wait in Dask for a worker that will not come."""
        present: set[Any] = set(workers)
        for w in workers.values():
            present.update((w.get("name"), w.get("host")))
        for agent_id, pin in list(self.pins.items()):
            if pin in present:
                self._pin_missing.pop(agent_id, None)
                continue
            since = self._pin_missing.setdefault(agent_id, now)
            if now - since >= PIN_GRACE_S:
                del self.pins[agent_id]
                self._pin_missing.pop(agent_id, None)
                self.host.lose_agent(agent_id, f"its Dask worker {pin!r} left the cluster and was not back "
                                              f"within {PIN_GRACE_S:g} s")


def _format_tb(tb: Any) -> str | None:
    if tb is None:
        return None
    if isinstance(tb, str):
        return tb
    try:
        return "".join(traceback.format_tb(tb))
    except Exception:
        return None


@contextlib.contextmanager
def _cluster_config():
    """The embedded cluster's scheduler never reruns an attempt lost with its worker:
    the dispatcher does, as a new attempt, whatever the user's Dask configuration says."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        yield


def _stdlib_resource_tracker() -> Any:
    """multiprocessing's resource tracker: the one object of a private stdlib API that
    swarmlab touches, and the one place it is reached.

    ``multiprocessing.resource_tracker`` offers ``ensure_running`` (which starts the
    tracker process) but no public way to ask whether it runs nor to stop it. The
    interpreter's tracker (``_resource_tracker``, with its ``_pid`` and ``_stop``) is a
    private but long-standing stdlib API; both readers below do nothing if it changes.
    """
    from multiprocessing import resource_tracker

    return resource_tracker._resource_tracker


def _tracker_running() -> bool:
    return getattr(_stdlib_resource_tracker(), "_pid", None) is not None


def _stop_resource_tracker() -> None:
    """Stop multiprocessing's resource tracker process (a later user of multiprocessing
    starts a new one)."""
    stop = getattr(_stdlib_resource_tracker(), "_stop", None)
    if stop is not None:
        try:
            stop()
        except Exception:
            log.debug("swarmlab: stopping multiprocessing's resource tracker failed", exc_info=True)
