"""The contract between the executor and a backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import TaskStatus

if TYPE_CHECKING:
    from ..dispatch import TaskState
    from ..executor import ParallelExecutor

__all__ = ["Backend", "call_kwargs", "pickled"]


def call_kwargs(st: TaskState) -> dict:
    """The keyword arguments of an attempt: the task's, plus ``agent`` and ``attempt``
    when it asks."""
    task = st.task
    if task.with_agent:
        return {**(task.kwargs or {}), "agent": st.slot.agent, "attempt": st.attempt}
    return task.kwargs or {}


class Backend:
    """Runs attempts on the executor's loop thread.

    ``run(st)`` starts the attempt in flight of ``st`` (reporting the actual start through
    ``executor._started``) and later reports its outcome through ``executor._outcome``.
    ``kill(st)`` stops an attempt that timed out or was cancelled; it returns True when
    the work really stopped, False when it can only be abandoned (threads).
    """

    mode = "?"

    def __init__(self, executor: ParallelExecutor) -> None:
        self.ex = executor

    async def start(self) -> None:
        pass

    def run(self, st: TaskState) -> None:
        raise NotImplementedError

    def kill(self, st: TaskState) -> bool:
        raise NotImplementedError

    async def close(self) -> None:
        pass


def pickled(backend: Backend, st: TaskState, where: str) -> bytes | None:
    """The attempt as ``cloudpickle.dumps((fn, args, kwargs))`` for another process, or
    None after recording that it cannot be sent (a ``pickle_error``, never retried)."""
    import pickle

    import cloudpickle

    task = st.task
    try:
        return cloudpickle.dumps((task.fn, task.args, call_kwargs(st)))
    except Exception as e:
        backend.ex._started(st, backend.mode)
        err = pickle.PicklingError(
            f"task {st.id!r} cannot be sent to {where}: {type(e).__name__}: {e}; {backend.mode.upper()} "
            "mode needs picklable functions and arguments (use THREAD mode or pass picklable data)"
        )
        backend.ex._outcome(st, st.attempt, TaskStatus.FAILED, None, err, "pickle_error", None, False)
        return None
