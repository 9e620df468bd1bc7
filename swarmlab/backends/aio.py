"""ASYNCIO: coroutine functions as tasks of the executor's own event loop.

Each attempt is one asyncio task running a small wrapper that calls the body, awaits
it and reports. The body is called inside the wrapper, not before: an attempt killed
before its wrapper ran (a cancel right after the start was decided) then leaves no body
coroutine behind to warn "never awaited", without a done-callback per attempt to close
one (a loop callback each, on the hot path of every no-op task).

Whatever a body raises is its failure, ``CancelledError``, ``SystemExit`` and
``KeyboardInterrupt`` included (as THREAD and PROCESS record them), and so is a call of
``fn`` that raises (bad arguments...): only a cancellation someone asked of the
attempt's asyncio task (the executor's timeout, cancel or stop, or the loop shutting
down) is taken as a kill. ``Task.cancelling()`` tells the two apart: it counts the
requests, and a body that raises ``CancelledError`` itself made none. The wrapper, not
the body, is the asyncio task because asyncio lets ``SystemExit`` and
``KeyboardInterrupt`` escape a task's step and stop the loop.
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
        self._started = host.started
        self._succeeded = host.succeeded

    def run(self, st) -> None:
        st.handle = self._create_task(self._run(st, st.attempt, st.task))
        self._started(st, self.mode)

    async def _run(self, st, attempt, task) -> None:
        try:
            kwargs = call_kwargs(st) if task.with_agent else task.kwargs
            value = await (task.fn(*task.args, **kwargs) if kwargs else task.fn(*task.args))
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
