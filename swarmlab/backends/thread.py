"""THREAD: sync callables on a pool of daemon threads that grows as work arrives.

A thread cannot be killed: a timed-out attempt is recorded, its slot is freed and the
thread is abandoned (recorded); a new thread takes its place until it returns. The
commands its body started through :mod:`swarmlab.backends.commands` are killed then. Each body
runs in its attempt's scope (:mod:`swarmlab.scope`), and what it reported goes back with
its outcome (an abandoned one's too, when its thread returns).
Results reach the loop through one deque and at most one pending wake-up, so a burst
of completions costs one loop wake-up, not one per task. The wake-up is a byte on a
socket pair the loop reads (``add_reader``, as the process backend reads its workers),
read by the drain itself: through ``call_soon_threadsafe`` the loop read its own wake-up
pipe after the drain, and that read let the GIL go to the threads just handed new work,
so the loop waited for them before it could sleep (and a handle was made per wake-up).

Attempts reach the threads the same way, through a deque, and a burst of them wakes one
sleeping thread, not one per attempt: a thread that takes an attempt while others wait
wakes one more thread first, unless another will look at them anyway (a wake-up is
pending, or a thread is awake between two attempts), so an attempt that blocks never
holds up the next one, and a thread that is awake runs what waits before it sleeps again.
Waking a thread per attempt cost two context switches and a handful of system calls per
task (about half the time of a no-op task on two cores). The threads that will look are
counted (``_lookers``), not read off the token queue: from Python 3.13 ``SimpleQueue.put``
hands the token straight to a waiting thread, so the queue looks empty while that thread
is on its way, and each thread taking an attempt woke one more, most of which found
nothing left (on 3.13, 0.66 wake-ups a no-op task in bursts of eight, 0.60 of them for
nothing; 0.16 on 3.11).
"""

from __future__ import annotations

import contextvars
import socket
import threading
import traceback
from collections import deque
from queue import SimpleQueue
from time import perf_counter, thread_time

from ..scope import GIL, Attempt, run_in
from .worker import call_body
from .base import Backend, call_kwargs

__all__ = ["ThreadBackend"]


class ThreadBackend(Backend):
    mode = "thread"

    def __init__(self, host, measure=None) -> None:
        super().__init__(host)
        self._todo: deque = deque()  # attempts handed over and not yet taken by a thread
        # One token wakes one sleeping thread. Invariant: while _todo is not empty, a token
        # is pending or a thread that will look at _todo again (before it runs anything
        # that may block) is awake.
        self._tokens: SimpleQueue = SimpleQueue()
        # Tokens put and not yet taken, plus threads awake and not in a body: each of them
        # looks at _todo before it runs anything that may block. Changed only by whole
        # statements under the GIL (scope.GIL); read as a hint where there is none.
        self._lookers = 0
        self._done: deque = deque()
        self._wake_pending = False
        self._wake_r: socket.socket | None = None  # the loop reads, the threads write
        self._wake_w: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._busy = 0  # attempts handed to threads and not yet returned (abandoned included)
        self._measure = measure  # callback(task, cpu_s, wall_s) for the hybrid router
        self._channel = getattr(host, "calls", None)  # units per call (swarmlab.acquire); a Host may have none
        self._sink = getattr(host, "spent", None)  # reports as they are made, when the run journals
        self._started = host.started
        # each attempt runs in a copy of the context start() ran in, as ASYNCIO's do: what
        # one sets in a context variable never reaches the next one on the same thread
        self._context = contextvars.copy_context()

    def run(self, st) -> None:
        self._busy += 1
        if self._busy > len(self._threads):
            self._add_thread()
        task = st.task
        todo = self._todo
        # the scope is made here, not in the thread, so that kill() finds it in the handle
        # however early it comes: the commands the body starts die with the attempt
        st.handle = scope = Attempt(st.id, st.attempt, st.devices, st, self._channel, self._sink)
        todo.append((st, scope, task.fn, task.args, call_kwargs(st)))
        # Appended to an empty deque: no thread may be looking, wake one. Otherwise what
        # was there already has its token or its awake thread, which wakes for this one.
        if len(todo) == 1:
            self._lookers += 1
            self._tokens.put(None)
        self._started(st, self.mode)

    def _add_thread(self) -> None:
        if not self._threads:  # the first: open what its results wake the loop through
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self.host.loop.add_reader(self._wake_r.fileno(), self._drain)
        t = threading.Thread(target=self._work, name=f"swarmlab-{len(self._threads)}", daemon=True)
        self._threads.append(t)
        t.start()

    def _work(self) -> None:
        todo, tokens, done, wake = self._todo, self._tokens, self._done, self._wake_w
        measure, context = self._measure, self._context
        while True:
            tokens.get()  # (its token taken, it is one of the lookers still)
            while todo:
                try:
                    item = todo.popleft()
                except IndexError:  # another thread took it
                    break
                if item is None:
                    return
                self._lookers -= 1  # into a body, which may block
                if todo and (not self._lookers or not GIL):  # more wait and no one else will look
                    self._lookers += 1
                    tokens.put(None)
                st, scope, fn, args, kwargs = item
                attempt = scope.attempt
                if measure is not None:  # thread_time is a system call: only when asked for
                    c0, w0 = thread_time(), perf_counter()
                try:
                    value = context.copy().run(run_in, scope, call_body, fn, args, kwargs)
                    ok, exc, tb = True, None, None
                except BaseException as e:  # noqa: BLE001 - a failing task is data
                    ok, value, exc, tb = False, None, e, traceback.format_exc()
                if measure is None:
                    done.append((st, attempt, ok, value, exc, tb, scope.end(), None, None))
                else:
                    done.append((st, attempt, ok, value, exc, tb, scope.end(), thread_time() - c0,
                                 perf_counter() - w0))
                self._lookers += 1  # out of it: it looks at todo again
                if not self._wake_pending:
                    self._wake_pending = True
                    try:
                        wake.send(b"\0")
                    except BlockingIOError:  # bytes the loop has not read: it wakes anyway
                        pass
                    except OSError:  # closed: the run is over
                        return
            self._lookers -= 1  # nothing left: to sleep

    def _drain(self) -> None:
        try:  # first the wake-up bytes, then the flag: a wake-up after this one is another
            self._wake_r.recv(4096)
        except BlockingIOError:
            pass
        self._wake_pending = False
        host, done, measure = self.host, self._done, self._measure
        succeeded, failed = host.succeeded, host.failed
        with host.batch():
            while done:
                st, attempt, ok, value, exc, tb, reported, cpu, wall = done.popleft()
                self._busy -= 1
                if measure is not None:
                    measure(st.task, cpu, wall)
                if ok:
                    succeeded(st, attempt, value, reported)
                else:
                    failed(st, attempt, exc, None, tb, reported)

    def kill(self, st) -> bool:
        scope = st.handle
        if scope is not None:  # what the body started dies now, though its thread runs on
            scope.kill_children()
        return False  # threads cannot be stopped; the executor records the abandonment

    async def close(self) -> None:
        for _ in self._threads:  # one stop for each thread, and a token to wake it
            self._todo.append(None)
            self._lookers += 1
            self._tokens.put(None)
        if self._wake_r is not None:  # a thread still running finds it closed and ends
            self.host.loop.remove_reader(self._wake_r.fileno())
            self._wake_r.close()
            self._wake_w.close()
