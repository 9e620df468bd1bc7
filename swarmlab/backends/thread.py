"""THREAD: sync callables on a pool of daemon threads that grows as work arrives.

A thread cannot be killed: a timed-out attempt is recorded, its slot is freed and the
thread is abandoned (recorded); a new thread takes its place until it returns.
Results reach the loop through one deque and at most one pending wake-up call, so a
burst of completions costs one loop wake-up, not one per task.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
from collections import deque
from queue import SimpleQueue
from time import perf_counter, thread_time

from .base import Backend, call_kwargs

__all__ = ["ThreadBackend"]

class ThreadBackend(Backend):
    mode = "thread"

    def __init__(self, host, measure=None) -> None:
        super().__init__(host)
        self._q: SimpleQueue = SimpleQueue()
        self._done: deque = deque()
        self._wake_pending = False
        self._threads: list[threading.Thread] = []
        self._busy = 0  # attempts handed to threads and not yet returned (abandoned included)
        self._measure = measure  # callback(task, cpu_s, wall_s) for the hybrid router

    def run(self, st) -> None:
        self._busy += 1
        if self._busy > len(self._threads):
            t = threading.Thread(target=self._work, name=f"swarmlab-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()
        task = st.task
        self._q.put((st, st.attempt, task.fn, task.args, call_kwargs(st)))
        self.host.started(st, self.mode)

    def _work(self) -> None:
        q, done, loop = self._q, self._done, self.host.loop
        while True:
            item = q.get()
            if item is None:
                return
            st, attempt, fn, args, kwargs = item
            c0, w0 = thread_time(), perf_counter()
            try:
                value = fn(*args, **kwargs)
                if inspect.iscoroutine(value):
                    value = asyncio.run(value)
                res = (st, attempt, True, value, None, None)
            except BaseException as e:  # noqa: BLE001 - a failing task is data
                res = (st, attempt, False, None, e, traceback.format_exc())
            done.append(res + (thread_time() - c0, perf_counter() - w0))
            if not self._wake_pending:
                self._wake_pending = True
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: the run is over
                    return

    def _drain(self) -> None:
        self._wake_pending = False
        host, done, measure = self.host, self._done, self._measure
        succeeded, failed = host.succeeded, host.failed
        while done:
            st, attempt, ok, value, exc, tb, cpu, wall = done.popleft()
            self._busy -= 1
            if measure is not None:
                measure(st.task, cpu, wall)
            if ok:
                succeeded(st, attempt, value)
            else:
                failed(st, attempt, exc, None, tb)

    def kill(self, st) -> bool:
        return False  # threads cannot be stopped; the executor records the abandonment

    async def close(self) -> None:
        for _ in self._threads:
            self._q.put(None)
