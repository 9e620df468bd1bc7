"""ASYNCIO: coroutine functions as tasks of the executor's own event loop."""

from __future__ import annotations

import asyncio
import traceback

from ..model import TaskStatus
from .base import Backend, call_kwargs

__all__ = ["AsyncioBackend"]

_OK, _FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED


class AsyncioBackend(Backend):
    mode = "asyncio"

    def run(self, st) -> None:
        ex = self.ex
        attempt = st.attempt
        task = st.task
        try:
            coro = task.fn(*task.args, **(call_kwargs(st) if task.with_agent else task.kwargs or {}))
        except Exception as e:  # the call itself failed (bad arguments...)
            ex._started(st, self.mode)
            ex._outcome(st, attempt, _FAILED, None, e, None, traceback.format_exc())
            return
        st.handle = ex._loop.create_task(self._run(st, attempt, coro))
        ex._started(st, self.mode)

    async def _run(self, st, attempt, coro) -> None:
        try:
            value = await coro
        except asyncio.CancelledError:
            return  # killed: the executor has already recorded why
        except Exception as e:
            self.ex._outcome(st, attempt, _FAILED, None, e, None, traceback.format_exc())
        else:
            self.ex._outcome(st, attempt, _OK, value)

    def kill(self, st) -> bool:
        if st.handle is not None:
            st.handle.cancel()
        return True
