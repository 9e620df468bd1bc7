"""ASYNCIO: coroutine functions run by a pool of worker tasks on the executor's own loop.

A worker is one asyncio task that runs attempts one after the other: it takes the
oldest attempt handed over, calls the body, awaits it, reports, and takes the next
one, until none is left; then it waits (a future) to be woken. Attempts handed over
wait in one queue (first in, first out) for the first worker that asks:

* The first attempt of a burst wakes one worker; a second schedules a look
  (:meth:`AsyncioBackend._cover`, a loop callback) that runs after that worker's step and
  wakes one more worker per attempt still waiting. A burst of bodies that return
  without suspending is run by one worker in one step: no future, loop callback or
  task step per attempt, which are most of the price of a short coroutine. Bodies
  that suspend get a worker each, one loop iteration later than the first. Either way
  they begin in the order they were handed over, and the loop runs them one after the
  other as it would run one worker each.
* A worker takes at most as many attempts in one step as were waiting when it woke:
  attempts handed over during its step (a body that submits tasks) wait for the next
  iteration, so a chain of bodies that submit bodies cannot keep the loop to itself.
* The pool grows to the run's peak concurrency of suspended bodies; a worker idle for
  :data:`IDLE_WORKER_S` ends.

What an attempt sees is what a task of its own would give it:

* Its scope (:mod:`swarmlab.scope`: ``report()``, ``current_devices()``): set in the
  worker's context around the body and reset after it; asyncio tasks the body creates
  copy it, so they report into the attempt.
* Context variables: every worker starts from a copy of the context the backend was
  made in (the one ``ParallelExecutor.start`` ran in). A worker whose attempt left a
  context variable changed retires, so the next attempt starts from a fresh copy:
  nothing one attempt sets reaches another.
* Failures: whatever a body raises is its failure, ``CancelledError``, ``SystemExit``
  and ``KeyboardInterrupt`` included (as THREAD and PROCESS record them), and so is a
  call of ``fn`` that raises (bad arguments...), and a cancellation of the worker by
  anyone but the executor (the body cancelling its own task, the loop shutting down;
  the worker then ends). Only the executor's own kill (a timeout, a cancel, the stop)
  is not reported: it has recorded why. Its cancellation is then taken back
  (``uncancel``), so the worker goes on (it waits to be woken first, so that no
  cancellation the kill left pending reaches the next attempt). An attempt killed
  while it still waits for a worker leaves the queue and never runs. The worker, not
  the body, is the asyncio task because asyncio lets ``SystemExit`` and
  ``KeyboardInterrupt`` escape a task's step and stop the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import traceback
from collections import deque

from ..scope import Attempt, enter, leave
from .base import Backend, call_kwargs

__all__ = ["AsyncioBackend"]

_CancelledError = asyncio.CancelledError

#: A worker left idle this long ends (the least recently used first), so that the memory
#: of a burst's workers goes back and a run left unstopped leaves no task pending for long.
IDLE_WORKER_S = 1.0

# The handle of an attempt handed over that no worker has taken yet (kill takes it out
# of the queue).
_QUEUED = "queued for a worker"


class AsyncioBackend(Backend):
    mode = "asyncio"

    def __init__(self, host) -> None:
        super().__init__(host)
        self._context = contextvars.copy_context()  # what every worker starts from
        # attempts handed over that no worker has taken yet, the oldest first
        self._queue: deque = deque()
        # workers woken or made that have not run yet: each takes an attempt of the queue
        self._waking = 0
        self._covering = False  # a _cover is scheduled
        self._unstarted: set[asyncio.Task] = set()  # workers made that have not begun
        # (worker, its wait, when it began waiting): the least recently used first
        self._idle: list[tuple[asyncio.Task, asyncio.Future, float]] = []
        self._trim: asyncio.TimerHandle | None = None  # ends workers idle for IDLE_WORKER_S
        self._workers: set[asyncio.Task] = set()  # every live worker: the loop holds tasks weakly
        self._made = 0  # workers started (their names count them)
        self._killed: set[asyncio.Task] = set()  # workers whose attempt the executor stopped
        # each worker's last attempt: kill() kills the commands it started at once, though
        # the body may take its time to give way to the cancellation
        self._scopes: dict[asyncio.Task, Attempt] = {}
        self._closed = False
        self._started = host.started
        self._channel = getattr(host, "calls", None)  # units per call (swarmlab.acquire); a Host may have none
        self._sink = getattr(host, "spent", None)  # reports as they are made, when the run journals

    def run(self, st) -> None:
        queue = self._queue
        queue.append(st)
        st.handle = _QUEUED
        # Every queued attempt has a worker woken for it, or a _cover is scheduled that
        # wakes them: the first of a burst wakes one, whose step may run them all.
        if len(queue) > self._waking and not self._covering:
            if self._waking:
                self._covering = True
                self.host.loop.call_soon(self._cover)
            else:
                self._wake()
        self._started(st, self.mode)

    def _wake(self) -> None:
        """Wake an idle worker, or start one, to take from the queue."""
        self._waking += 1
        idle = self._idle
        while idle:
            worker, wait, _ = idle.pop()
            if not wait.done():  # (done: the worker was cancelled from outside while idle)
                wait.set_result(None)
                return
        self._made += 1
        worker = self.host.loop.create_task(self._work(), name=f"swarmlab-asyncio-{self._made}",
                                            context=self._context.copy())
        self._workers.add(worker)
        self._unstarted.add(worker)
        worker.add_done_callback(self._ended)

    def _cover(self) -> None:
        """Wake a worker for each queued attempt that none is woken for (after the step of
        the one woken first: what it ran needs no other)."""
        self._covering = False
        for _ in range(len(self._queue) - self._waking):
            self._wake()

    def _cover_later(self) -> None:
        """A worker stops taking from the queue: a worker is woken for what it leaves there."""
        if len(self._queue) > self._waking and not self._covering and not self._closed:
            self._covering = True
            self.host.loop.call_soon(self._cover)

    async def _work(self) -> None:
        """Run attempts until this worker retires (a context variable changed, or it was
        cancelled by other than the executor) or the backend closes."""
        host = self.host
        succeeded, failed = host.succeeded, host.failed
        loop = host.loop
        new_future, clock = loop.create_future, loop.time
        me = asyncio.current_task()
        self._unstarted.discard(me)
        base = contextvars.copy_context()
        queue, idle, killed, scopes = self._queue, self._idle, self._killed, self._scopes
        take = queue.popleft
        channel, sink = self._channel, self._sink
        copy_context = contextvars.copy_context
        while True:
            self._waking -= 1
            n = len(queue)  # what this step may take: what is handed over meanwhile waits for the next
            while n and queue:
                n -= 1
                st = take()
                st.handle = me
                attempt, task = st.attempt, st.task
                scopes[me] = scope = Attempt(st.id, attempt, st.devices, st, channel, sink)
                token = enter(scope)  # left before the context is compared: the worker stays
                try:
                    kwargs = call_kwargs(st) if task.with_agent else task.kwargs
                    value = await (task.fn(*task.args, **kwargs) if kwargs else task.fn(*task.args))
                except _CancelledError as e:
                    leave(token)
                    if me not in killed:  # (killed: the executor has already recorded why)
                        failed(st, attempt, e, None, traceback.format_exc(), scope.end())
                        if me.cancelling():
                            self._cover_later()
                            raise  # cancelled by someone else (the loop shutting down): the worker ends
                except BaseException as e:  # noqa: BLE001 - a failing task is data
                    leave(token)
                    failed(st, attempt, e, None, traceback.format_exc(), scope.end())
                else:
                    leave(token)
                    succeeded(st, attempt, value, scope.end())
                if me in killed:
                    self._take_back(me)
                    n = 0  # waits to be woken first: a cancellation the kill left pending lands there
                if self._closed or me.cancelling() or copy_context() != base:
                    self._cover_later()
                    return  # retired: the next attempt gets a fresh worker
            self._cover_later()
            if self._closed:
                return
            while True:
                wait = new_future()
                idle.append((me, wait, clock()))
                if self._trim is None:
                    self._trim = loop.call_later(IDLE_WORKER_S, self._end_idle)
                try:
                    await wait
                    break
                except _CancelledError:
                    woken = wait.done() and not wait.cancelled()
                    if me not in killed or self._closed:
                        _forget(idle, me)
                        if woken:  # woken, then cancelled before it ran: another takes its share
                            self._waking -= 1
                            self._cover_later()
                        return  # stopped while idle
                    self._take_back(me)  # a kill that landed after the attempt ended
                    if woken:
                        break

    def _take_back(self, worker: asyncio.Task) -> None:
        """The executor's kill of ``worker``'s attempt is taken back: the next attempt owes
        it nothing."""
        self._killed.discard(worker)
        while worker.cancelling():
            worker.uncancel()

    def _end_idle(self) -> None:
        """End the workers idle for IDLE_WORKER_S; look again when the next one will be."""
        self._trim = None
        idle = self._idle
        until = self.host.loop.time() - IDLE_WORKER_S
        n = 0
        while n < len(idle) and idle[n][2] <= until:
            idle[n][0].cancel()
            n += 1
        del idle[:n]
        if idle:
            self._trim = self.host.loop.call_later(idle[0][2] - until, self._end_idle)

    def _ended(self, worker: asyncio.Task) -> None:
        self._workers.discard(worker)
        self._killed.discard(worker)  # (stopped before its first step)
        self._scopes.pop(worker, None)
        if worker in self._unstarted:  # cancelled before its first step: another takes its share
            self._unstarted.discard(worker)
            self._waking -= 1
            self._cover_later()

    def kill(self, st) -> bool:
        worker = st.handle
        if worker is _QUEUED:  # no worker has taken it: it never runs
            self._queue.remove(st)
            st.handle = None
        elif worker is not None:
            self._killed.add(worker)
            worker.cancel()
            scope = self._scopes.get(worker)
            if scope is not None and scope.state is st and scope.attempt == st.attempt:
                scope.kill_children()
        return True

    async def close(self) -> None:
        """Idle workers end; busy ones were stopped by the executor (and end once their
        body gives way to the cancellation)."""
        self._closed = True
        if self._trim is not None:
            self._trim.cancel()
            self._trim = None
        idle, self._idle = self._idle, []
        for worker, _, _ in idle:
            worker.cancel()
        if idle:
            await asyncio.gather(*(w for w, _, _ in idle), return_exceptions=True)


def _forget(idle: list, worker: asyncio.Task) -> None:
    for i, (w, _, _) in enumerate(idle):
        if w is worker:
            del idle[i]
            return
