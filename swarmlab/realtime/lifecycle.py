"""An executor's lifecycle: new -> running -> stopping -> stopped, and its one shutdown.

What :meth:`Lifecycle.start`'s caller opens (a journal, a sampler, a backend) is
registered with :meth:`Lifecycle.closing` as it opens; the shutdown drains the run
and then closes them, last opened first. A failed start and every ``stop()`` go
through that same sequence; a ``stop()`` while another is under way waits for it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from ..errors import ExecutorClosedError

__all__ = ["Lifecycle", "NEW", "RUNNING", "STOPPING", "STOPPED"]

NEW, RUNNING, STOPPING, STOPPED = "new", "running", "stopping", "stopped"


class Lifecycle:
    """The state of an executor and what its shutdown must close."""

    __slots__ = ("state", "_closers", "_shutdown")

    def __init__(self) -> None:
        self.state = NEW
        self._closers = AsyncExitStack()
        self._shutdown: asyncio.Future | None = None  # the one shutdown every stop() waits for

    def begin(self) -> bool:
        """Enter ``running``: True when this call starts it, False when it already runs.

        Raises ExecutorClosedError once stopped (or stopping): an executor runs once.
        """
        if self.state == RUNNING:
            return False
        if self.state != NEW:
            raise ExecutorClosedError("this executor was stopped; create a new ParallelExecutor")
        self.state = RUNNING
        return True

    def closing(self, close: Callable[[], Any]) -> None:
        """Close with ``close()`` (a function or a coroutine function) at shutdown, after
        what was registered later."""
        self._closers.push_async_callback(_call, close)

    def check_open(self) -> None:
        """Raise ExecutorClosedError unless running."""
        if self.state != RUNNING:
            what = "not started: await executor.start() first" if self.state == NEW else "stopped"
            raise ExecutorClosedError(f"the executor is {what}; no task was accepted")

    async def stop(self, drain: Callable[[], Awaitable[None]]) -> None:
        """Shut down once: ``await drain()``, then close what was registered; a call while
        a shutdown is under way waits for it (shielded: a caller that is cancelled stops
        waiting, the shutdown goes on); a call once stopped, or never started, returns."""
        if self.state == NEW:
            self.state = STOPPED
        if self.state == STOPPED:
            return
        if self._shutdown is None:
            self.state = STOPPING  # no new work from this moment on
            self._shutdown = asyncio.ensure_future(self._shut_down(drain))
        await asyncio.shield(self._shutdown)

    async def _shut_down(self, drain: Callable[[], Awaitable[None]]) -> None:
        try:
            await drain()
        finally:  # whatever failed, everything opened is closed and the executor is stopped
            try:
                await self._closers.aclose()
            finally:
                self.state = STOPPED


async def _call(close: Callable[[], Any]) -> None:
    result = close()
    if inspect.isawaitable(result):
        await result
