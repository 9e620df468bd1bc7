"""PROCESS: a pool of worker processes that can lose, kill and replace one worker alone.

Each worker has its own pipe and runs one attempt at a time, so the pool always knows
which process runs which attempt: a timeout or a cancel kills exactly that process, a
crash (``os._exit``, a signal, the OOM killer) fails exactly that attempt, and the pool
starts a replacement when work waits. Each worker leads a process group (a session)
of its own, and every kill takes down the whole group: what a task started (a
``subprocess.Popen``) dies with its attempt on a timeout, a cancel, a crash and at
:meth:`close` (which also ends what finished tasks left running); the keeper of
:mod:`swarmlab.backends.reaper` and, on Linux, ``PR_SET_PDEATHSIG`` kill the groups when the
swarmlab process itself is killed. With ``ResourceLimits.max_task_memory_mb`` the OS
refuses a task's allocations past the cap (``RLIMIT_DATA`` in the worker, Linux; see
:func:`swarmlab.backends.worker.capped`): the task fails ``memory_limit`` and its worker
lives on; the executor's sampling, which kills a worker whose RSS passes the cap, stays
as the second line. Pipes and process sentinels are watched by the event loop itself
(``add_reader``): no extra threads, no polling. Workers are started
as fresh interpreters (no fork of a threaded process, no server process left behind,
no re-import of the caller's ``__main__``) and functions travel with cloudpickle, so
lambdas and notebook-defined functions run.

GPU pinning. CUDA reads ``CUDA_VISIBLE_DEVICES`` once, when a process first touches it,
so a worker's devices are fixed at its start: an attempt holding devices (``st.devices``,
given by :mod:`swarmlab.core.devices`) runs in a worker started with
``CUDA_VISIBLE_DEVICES`` listing exactly those (and ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, the
order NVML and the device table number them in). Workers are kept per device set: an idle
worker of the same set takes the attempt, else one is started with that environment;
when the pool is full, an idle worker of another set is retired to make room, so the
workers alive never pass ``max_workers``. An attempt without devices runs in a worker
whose environment is the executor's own, unchanged (see :meth:`ProcessBackend.devices_key`).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import socket
import subprocess
import sys
import weakref
from collections import deque
from multiprocessing.connection import Connection


from . import reaper
from ..errors import MemoryLimitError, WorkerCrashedError
from ..core.devices import visible_value
from .worker import SYS_PATH_ENV, RemoteError, decode, spent_values
from .base import Backend, pickled

__all__ = ["ProcessBackend", "RemoteError"]

# Seconds between SIGTERM and SIGKILL when a worker is stopped.
KILL_GRACE_S = 1.0
# Seconds a worker gets to exit after its pipe is closed at shutdown before it is killed.
EXIT_GRACE_S = 2.0
# Workers that die before they are ready, in a row, before the pool gives up: the cause
# (an interpreter that cannot import swarmlab, say) will not go away by retrying.
MAX_START_FAILURES = 3

# Every worker process not yet reaped, so that none outlives an interpreter that exits
# without stopping its executor.
_ALL_PROCS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_ALL_PROCS):
        _signal(proc, signal.SIGKILL)
        reaper.release(proc.pid)


class _Worker:
    __slots__ = ("proc", "conn", "pid", "sentinel", "ready", "st", "attempt", "gone", "key", "spent")

    def __init__(self, proc: subprocess.Popen, conn: Connection, key: str | None = None) -> None:
        self.key = key  # its CUDA_VISIBLE_DEVICES, set at its start; None: the executor's environment
        self.proc = proc
        self.conn = conn
        self.pid = proc.pid
        self.sentinel = os.pidfd_open(proc.pid)  # readable once the process has exited
        self.ready = False
        self.st = None
        self.attempt = 0
        self.gone = False  # killed by us or died: no longer counts as capacity
        # what the running attempt reported so far (its interim messages, sent when the
        # run journals): all that is known of it when it is killed before it answers
        self.spent: dict[str, float] | None = None


class ProcessBackend(Backend):
    """Runs attempts on ``max_workers`` worker processes (default: the CPU count), all
    started and warm when :meth:`start` returns."""

    mode = "process"

    def __init__(self, host, max_workers: int | None = None) -> None:
        super().__init__(host)
        self.max_workers = max_workers or os.cpu_count() or 1
        self._cap_mb = host.limits.max_task_memory_mb
        self._live: set[_Worker] = set()  # started and not gone
        self._all: set[_Worker] = set()  # every process not yet reaped
        self._idle: list[_Worker] = []
        self._pending: deque = deque()  # (st, attempt, payload, devices key) waiting for a worker
        self._ready_waiters: list[asyncio.Future] = []
        self._start_failures = 0
        # the journal's: workers send each report as it is made (only then: a run without
        # a store pays nothing), handed on here
        self._sink = getattr(host, "spent", None)

    # -------------------------------------------------------------- workers
    def _spawn(self, key: str | None = None) -> _Worker:
        """Start a worker; ``key`` not None: it sees exactly those CUDA devices."""
        loop = self.host.loop
        parent, child = socket.socketpair()
        fd = child.fileno()
        env = dict(os.environ)
        env[SYS_PATH_ENV] = os.pathsep.join(p for p in sys.path if isinstance(p, str))
        if key is not None:
            env["CUDA_VISIBLE_DEVICES"] = key
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        proc = subprocess.Popen(
            [sys.executable, "-c", f"from swarmlab.backends.worker import serve; serve({fd}, {os.getpid()}, {self._cap_mb!r})"],
            pass_fds=(fd,), env=env, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        child.close()
        reaper.guard(proc.pid)
        _ALL_PROCS.add(proc)
        w = _Worker(proc, Connection(parent.detach()), key)
        self._live.add(w)
        self._all.add(w)
        loop.add_reader(w.conn.fileno(), self._readable, w)
        loop.add_reader(w.sentinel, self._exited, w)
        return w

    async def start(self) -> None:
        """Start every worker and wait until they can take work."""
        loop = self.host.loop
        fut = loop.create_future()
        self._ready_waiters.append(fut)
        for _ in range(self.max_workers):
            self._spawn()
        if not all(w.ready for w in self._live):
            await fut

    def _readable(self, w: _Worker) -> None:
        try:
            data = w.conn.recv_bytes()
        except (EOFError, OSError):
            self.host.loop.remove_reader(w.conn.fileno())
            return  # the process is gone; _exited reports it once its exit code is known
        if not w.ready:
            w.ready = True
            self._start_failures = 0
            self._free(w)
            if self._ready_waiters and all(x.ready for x in self._live):
                for f in self._ready_waiters:
                    if not f.done():
                        f.set_result(None)
                self._ready_waiters.clear()
            return
        if self._sink is not None:
            values = spent_values(data)
            if values is not None:  # one report of the running attempt, as made; its answer follows
                if w.st is not None:
                    self._sink(w.st.id, w.attempt, values)
                    got = w.spent
                    if got is None:
                        got = w.spent = {}
                    for name, value in values.items():
                        got[name] = got.get(name, 0.0) + value
                return
        st, attempt = w.st, w.attempt
        w.st = None
        self._free(w)
        if st is None:
            return
        ok, payload, error_type, tb, reported, _ = decode(data, "worker")
        if ok:
            self.host.succeeded(st, attempt, payload, reported)
        elif error_type is None and self._cap_mb is not None and isinstance(payload, MemoryError):
            self._refused(st, attempt, w, tb, reported)
        else:
            self.host.failed(st, attempt, payload, error_type, tb, reported)

    def _refused(self, st, attempt: int, w: _Worker, tb: str | None, reported: dict | None = None) -> None:
        """A task ran out of memory under the cap: the OS refused what passed it."""
        exc = MemoryLimitError(
            f"task {st.id!r} asked for more memory than its cap allows: the OS refused the allocation "
            f"in worker process {w.pid}, over the per-task cap of {self._cap_mb:g} MB "
            "(ResourceLimits.max_task_memory_mb); the worker lives on"
        )
        self.host.failed(st, attempt, exc, "memory_limit", tb, reported)

    def _exited(self, w: _Worker) -> None:
        code = self._reap(w)
        self._all.discard(w)
        was_live = not w.gone
        self._drop(w)
        st, attempt = w.st, w.attempt
        w.st = None
        if st is not None:
            exc = WorkerCrashedError(
                f"worker process {w.pid} exited with code {code} while running task "
                f"{st.id!r}; the pool replaced it"
            )
            self.host.failed(st, attempt, exc, "worker_crashed", reported=w.spent)
        if not w.ready and was_live:
            self._start_failures += 1
            if self._ready_waiters or self._start_failures >= MAX_START_FAILURES:
                self._give_up(code)
                return
        self._refill()

    def _give_up(self, code: int | None) -> None:
        """Workers die before they are ready: fail what waits for one, say why."""
        err = (
            f"worker processes exited before they were ready (last exit code {code}), "
            f"{self._start_failures} times in a row; run `{sys.executable} -c \"import "
            "swarmlab.backends.worker\"` to see why (its error is on stderr)"
        )
        for fut in self._ready_waiters:
            if not fut.done():
                fut.set_exception(WorkerCrashedError(err))
        self._ready_waiters.clear()
        pending, self._pending = self._pending, deque()
        for st, attempt, _, _ in pending:
            if st.attempt == attempt:
                self.host.failed(st, attempt, WorkerCrashedError(err), "worker_start_failed")

    def _reap(self, w: _Worker) -> int | None:
        """Forget an exited worker: readers, pipe, pidfd; returns its exit code."""
        loop = self.host.loop
        loop.remove_reader(w.sentinel)
        if not w.conn.closed:
            loop.remove_reader(w.conn.fileno())
            w.conn.close()
        os.close(w.sentinel)
        _ALL_PROCS.discard(w.proc)
        # Until it is reaped, the exited worker keeps its pid, and so its group id, from
        # reuse: what its tasks started dies here, whoever is left in the group.
        _kill_group(w.pid, signal.SIGKILL)
        code = w.proc.wait()  # it has exited (the pidfd said so): this only reaps it
        reaper.release(w.pid)
        return code

    def _drop(self, w: _Worker) -> None:
        w.gone = True
        self._live.discard(w)
        if w in self._idle:
            self._idle.remove(w)

    def _free(self, w: _Worker) -> None:
        """``w`` can take work: the first attempt waiting for its device set, else idle."""
        if w.gone:
            return
        pending = self._pending
        for i, (st, attempt, payload, key) in enumerate(pending):
            if st.attempt != attempt:  # retried or restarted meanwhile: never runs
                continue
            if key == w.key:
                del pending[i]
                self._send(w, st, attempt, payload)
                return
        self._pending = deque(p for p in pending if p[0].attempt == p[1])
        self._idle.append(w)
        if self._pending:
            self._refill()  # they wait for workers of other device sets

    def _refill(self) -> None:
        """Start workers for the attempts that wait, per device set, within ``max_workers``:
        a worker still starting counts for its set; a full pool retires an idle worker of
        another set to make room."""
        starting: dict[str | None, int] = {}
        for w in self._live:
            if not w.ready:
                starting[w.key] = starting.get(w.key, 0) + 1
        want: dict[str | None, int] = {}
        for st, attempt, _, key in self._pending:
            if st.attempt == attempt:
                want[key] = want.get(key, 0) + 1
        for key, n in want.items():
            for _ in range(n - starting.get(key, 0)):
                if len(self._live) >= self.max_workers:
                    victim = next((w for w in self._idle if w.key != key), None)
                    if victim is None:
                        return
                    self._retire(victim)
                self._spawn(key)

    def _retire(self, w: _Worker) -> None:
        """Stop an idle worker to make room: its pipe is closed, it reads EOF and exits
        (killed if it has not after EXIT_GRACE_S); ``_exited`` reaps it."""
        self._drop(w)
        loop = self.host.loop
        if not w.conn.closed:
            loop.remove_reader(w.conn.fileno())
            w.conn.close()
        loop.call_later(EXIT_GRACE_S, _signal, w.proc, signal.SIGKILL)

    def _send(self, w: _Worker, st, attempt: int, payload: bytes) -> None:
        w.st, w.attempt, w.spent = st, attempt, None
        st.handle = w
        try:
            w.conn.send_bytes(payload)
        except OSError:  # died between its last answer and now; _exited will report it
            pass
        self.host.started(st, self.mode, w.pid)

    def running_pids(self) -> list[tuple]:
        """(task state, worker pid) of every attempt running in a worker now."""
        return [(w.st, w.pid) for w in self._live if w.st is not None]

    # -------------------------------------------------------------- the Backend contract
    @staticmethod
    def devices_key(st) -> str | None:
        """The ``CUDA_VISIBLE_DEVICES`` of the worker that runs the attempt of ``st``: its
        devices, mapped through the executor's own value; None for an attempt without
        devices, which runs with the executor's environment unchanged. Not "" (no device):
        a task that declares no gpu units is outside pinning, as in a run without any, and
        a body that uses a GPU without declaring it keeps working; declare gpu units to
        get devices of one's own."""
        devs = st.devices
        if not devs:
            return None
        return visible_value(devs, os.environ.get("CUDA_VISIBLE_DEVICES"))

    def run(self, st) -> None:
        payload = pickled(self, st, "a worker process", self._sink is not None)
        if payload is None:
            return
        st.handle = None
        key = self.devices_key(st)
        idle = self._idle
        for i in range(len(idle) - 1, -1, -1):  # the last to become idle: warm caches
            if idle[i].key == key:
                self._send(idle.pop(i), st, st.attempt, payload)
                return
        self._pending.append((st, st.attempt, payload, key))
        self._refill()

    def kill(self, st) -> bool:
        w = st.handle
        if not isinstance(w, _Worker):  # still waiting for a worker: it never goes to one
            self._pending = deque(p for p in self._pending if p[0] is not st)
            return True
        if w.st is st:
            w.st = None  # killed on purpose: not a crash
            if w.spent is not None:
                # What it reported before the kill, handed on as a late answer of the
                # attempt the host ends now (after this returns): its row carries it, as an
                # abandoned THREAD attempt's does once its thread returns.
                self.host.loop.call_soon(self._reported_before_kill, st, w.attempt, w.spent)
            self._drop(w)
            _signal(w.proc, signal.SIGTERM)
            self.host.loop.call_later(KILL_GRACE_S, _signal, w.proc, signal.SIGKILL)
            self._refill()
        return True

    def _reported_before_kill(self, st, attempt: int, spent: dict[str, float]) -> None:
        self.host.failed(st, attempt, WorkerCrashedError(f"worker process of task {st.id!r} killed"), "killed",
                         reported=spent)

    async def close(self) -> None:
        loop = self.host.loop
        waits = []
        for w in list(self._all):
            fut = loop.create_future()
            loop.remove_reader(w.sentinel)
            loop.add_reader(w.sentinel, _set_done, fut)
            if not w.conn.closed:
                loop.remove_reader(w.conn.fileno())
                w.conn.close()  # the worker reads EOF and exits
            waits.append((w, fut))
        for w, fut in waits:
            try:
                await asyncio.wait_for(fut, EXIT_GRACE_S)
            except asyncio.TimeoutError:
                _signal(w.proc, signal.SIGKILL)
                await fut
            self._reap(w)
        self._all.clear()
        self._live.clear()
        self._idle.clear()


def _set_done(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    """Signal a worker's whole process group, unless the worker was reaped (its group
    id could then belong to someone else)."""
    if proc.returncode is None:
        _kill_group(proc.pid, sig)


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
