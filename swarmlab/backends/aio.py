"""ASYNCIO: coroutine functions as tasks of the executor's own event loop.

Whatever a body raises is its failure, ``CancelledError``, ``SystemExit`` and
``KeyboardInterrupt`` included (as THREAD and PROCESS record them): only a
cancellation someone asked of the attempt's asyncio task (the executor's timeout,
cancel or stop, or the loop shutting down) is taken as a kill. ``Task.cancelling()``
tells the two apart: it counts the requests, and a body that raises ``CancelledError``
itself made none.
"""

from __future__ import annotations

import asyncio
import traceback

from .base import Backend, call_kwargs

__all__ = ["AsyncioBackend"]


class AsyncioBackend(Backend):
    mode = "asyncio"

    def __init__(self, host) -> None:
        super().__init__(host)
        self._create_task = host.loop.create_task
        self._succeeded = host.succeeded

    def run(self, st) -> None:
        host = self.host
        attempt = st.attempt
        task = st.task
        try:
            coro = task.fn(*task.args, **(call_kwargs(st) if task.with_agent else task.kwargs or {}))
        except BaseException as e:  # noqa: BLE001 - the call itself failed (bad arguments...)
            host.started(st, self.mode)
            host.failed(st, attempt, e, None, traceback.format_exc())
            return
        st.handle = self._create_task(self._run(st, attempt, coro))
        # a kill before the wrapper ran leaves the body's coroutine unstarted: close it
        st.handle.add_done_callback(lambda _t, c=coro: c.close())
        host.started(st, self.mode)

    async def _run(self, st, attempt, coro) -> None:
        try:
            value = await coro
        except asyncio.CancelledError as e:
            if asyncio.current_task().cancelling():
                raise  # killed: the executor has already recorded why
            self.host.failed(st, attempt, e, None, traceback.format_exc())
        except BaseException as e:  # noqa: BLE001 - a failing task is data
            self.host.failed(st, attempt, e, None, traceback.format_exc())
        else:
            self._succeeded(st, attempt, value)

    def kill(self, st) -> bool:
        if st.handle is not None:
            st.handle.cancel()
        return True
