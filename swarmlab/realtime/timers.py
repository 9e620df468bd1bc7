"""The executor's timers: one loop timer for many due times, and attempt deadlines.

Waiting is event-driven: one timer for the earliest attempt deadline, one for the
earliest retry or aging wake-up, no polling. Times given to these classes are run
seconds (the ``t_s`` of events); ``t0`` is the loop time the run started at.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ..core.taskstate import RUNNING, TaskState

__all__ = ["EarliestTimer", "Deadlines"]

# A deadline FIFO holding more than twice the running attempts plus this many entries is
# pruned of ended attempts: rarely enough to cost nothing, often enough to stay small.
PRUNE_SLACK = 64


class EarliestTimer:
    """One loop timer for the earliest of many due times: arming it for a later time
    than the one pending changes nothing; when it fires it is free again."""

    __slots__ = ("callback", "handle", "at")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.handle: asyncio.TimerHandle | None = None
        self.at = float("inf")  # loop time of the pending call

    def arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        """Call back at loop time ``at`` unless an earlier call is pending."""
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


class Deadlines:
    """The deadlines of running attempts; ``on_expired(st, attempt)`` for each one passed.

    One FIFO per distinct timeout: attempts start in time order, so each FIFO is sorted
    by deadline and one timer for the earliest head serves them all. An attempt that
    ended stays in its FIFO until it reaches the head (or a prune): nothing is searched.
    """

    __slots__ = ("on_expired", "fifos", "_timer", "_loop", "_t0")

    def __init__(self, on_expired: Callable[[TaskState, int], None]) -> None:
        self.on_expired = on_expired
        self.fifos: dict[float, deque] = {}  # timeout -> (deadline, state, attempt), oldest first
        self._timer = EarliestTimer(self._check)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0

    def attach(self, loop: asyncio.AbstractEventLoop, t0: float) -> None:
        self._loop, self._t0 = loop, t0

    def add(self, st: TaskState, now: float) -> None:
        """The attempt in flight of ``st`` started at ``now`` with ``st.timeout`` seconds."""
        timeout = st.timeout
        deadline = now + timeout
        fifo = self.fifos.get(timeout)
        if fifo is None:
            fifo = self.fifos[timeout] = deque()
        fifo.append((deadline, st, st.attempt))
        self._timer.arm(self._loop, self._t0 + deadline)

    def ended(self, st: TaskState, n_running: int) -> None:
        """An attempt of ``st`` (which has a timeout) ended: now and then, drop ended
        attempts from the front of its FIFO. (The engine inlines the length test.)"""
        fifo = self.fifos[st.timeout]
        if len(fifo) > 2 * n_running + PRUNE_SLACK:
            self.prune(fifo)

    @staticmethod
    def prune(fifo: deque) -> None:
        """Drop ended attempts from the front of ``fifo``."""
        while fifo:
            _, head, attempt = fifo[0]
            if head.state is RUNNING and head.attempt == attempt:
                break
            fifo.popleft()

    def _check(self) -> None:
        """Report every attempt past its deadline, then wait for the next deadline."""
        now = self._loop.time() - self._t0
        expired = []
        nxt = float("inf")
        for fifo in self.fifos.values():
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
            if st.state is RUNNING and st.attempt == attempt:  # an earlier expiry may have ended it
                self.on_expired(st, attempt)
        if nxt < float("inf"):
            self._timer.arm(self._loop, self._t0 + nxt)

    def cancel(self) -> None:
        self._timer.cancel()
