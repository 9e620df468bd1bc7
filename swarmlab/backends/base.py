"""The contract between the executor and a backend: the :class:`Host` a backend reports
to, and the :class:`Backend` it implements.

A backend is handed attempts (``run``), reports when each really began (``started``)
and how it ended (``succeeded``, ``failed`` or ``lost``), exactly once per attempt, on
the host's event loop: from another thread, through ``host.loop.call_soon_threadsafe``.
It never touches the dispatcher or the records; the host does, as CPython's futures
take ``set_result`` / ``set_exception`` from an executor.

An attempt is a ``TaskState`` (:mod:`swarmlab.core.taskstate`). A backend reads its
``task`` (``fn``, ``args``, ``kwargs``, ``with_agent``), ``id``, ``attempt`` (the number
to report with), ``priority``, ``slot.id`` (its agent), ``devices``, and keeps whatever
it needs to stop it in ``handle``; it changes nothing else. It runs the body inside
the attempt's scope (:mod:`swarmlab.scope`: ``report()``, ``current_devices()``) and
hands what the body reported back with the outcome (``reported=``). A report for an attempt that already
ended (timed out, cancelled, stopped) is ignored by the host, so a late answer is safe.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..core.taskstate import TaskState
    from ..model import ResourceLimits

__all__ = ["Backend", "Host", "call_kwargs", "pickled"]


@runtime_checkable
class Host(Protocol):
    """What a backend may use of the executor that drives it.

    Attributes
    ----------
    loop : asyncio.AbstractEventLoop
        The loop every report is made on.
    limits : ResourceLimits
        The run's limits (``max_task_memory_mb``, ``monitoring_interval``, ...).
    run_id : str
        The run's id (to name what the backend creates for it).

    A host may also have ``calls``: the channel through which bodies that run in this
    process take units per call (``swarmlab.acquire``); a backend whose bodies run here
    puts it in each attempt's scope (:class:`swarmlab.scope.Attempt`). And ``spent``:
    None, or where each report of a body is handed as it is made
    (``spent(task_id, attempt, values)``: the run's journal, so that what an attempt a
    kill cuts short spent is known); a backend puts it in each attempt's scope (its
    ``sink``), or, for bodies in worker processes, asks them to send each report as it
    is made and hands it on (PROCESS). Read it when the backend is made: it is set
    before, and only when the run journals.
    """

    loop: asyncio.AbstractEventLoop
    limits: ResourceLimits
    run_id: str

    def now(self) -> float:
        """Seconds since the run started, on the run's monotonic clock (events' ``t_s``)."""

    def started(self, st: TaskState, mode: str, worker: Any = None) -> None:
        """The attempt in flight of ``st`` began running now, on ``mode`` (recorded per
        attempt) and ``worker`` (a pid, an address; optional). Its timeout counts from now."""

    def succeeded(self, st: TaskState, attempt: int, value: Any,
                  reported: dict[str, float] | None = None) -> None:
        """Attempt ``attempt`` of ``st`` returned ``value``; ``reported``: what its body
        reported (``swarmlab.report``, :meth:`swarmlab.scope.Attempt.end`), None for nothing."""

    def failed(self, st: TaskState, attempt: int, exc: BaseException, error_type: str | None = None,
               tb: str | None = None, reported: dict[str, float] | None = None) -> None:
        """Attempt ``attempt`` of ``st`` raised ``exc`` (``tb``: its traceback text;
        ``reported``: what its body reported before, as for :meth:`succeeded`).

        ``error_type`` names the failure when it is not the task's own exception (None:
        ``type(exc).__name__``): ``"pickle_error"``, ``"worker_crashed"``,
        ``"memory_limit"`` (counted as a ``task_memory`` limit violation), ... The
        dispatcher retries it as the task's ``max_retries`` and ``retry_on`` allow.
        """

    def batch(self) -> AbstractContextManager[None]:
        """``with host.batch():`` around reports made in one go (a burst of outcomes
        drained in one loop callback): what they let start starts as the block ends,
        not at the next loop iteration, which the host waits for otherwise so that
        outcomes reported one by one start the next work together. Saves a loop
        iteration per burst; nothing else changes."""

    def lost(self, st: TaskState, attempt: int, exc: BaseException, tb: str | None = None) -> None:
        """Attempt ``attempt`` of ``st`` was lost with the worker that held it, through no
        doing of its own (``error_type="worker_lost"``): the task runs again at once,
        counted apart from ``max_retries``."""

    def lose_agent(self, agent_id: str, reason: str) -> None:
        """The agent is gone with what it ran (the worker it was pinned to left for good):
        its running attempts are stopped (``kill``) and run elsewhere, its queue is placed
        again."""

    def emit(self, kind: str, task_id: str | None = None, detail: str | None = None) -> None:
        """Record an event of the backend's own (``"routed"``, say) at :meth:`now`."""

    def sampled(self, worker: str, **fields: float) -> None:
        """Record one resources row measured on ``worker``: a column of
        ``swarmlab.events.RESOURCE_FIELDS`` per keyword (``t_s`` defaults to :meth:`now`,
        ``running``, ``queued`` and ``throttled`` are the run's; the others are NaN)."""

    def usage(self, cpu_pct: float, cores: int, rss_mb: float, where: str) -> None:
        """Readings of everything the limits cover (``cpu_pct``: 100 per busy core, over
        ``cores`` cores; ``where`` names it), for a backend whose ``measures_usage`` is
        True: admission pauses or resumes on them while the run is running."""


# The keyword arguments of an attempt that has none: one dict for all, only ever unpacked
# (``fn(*args, **kwargs)``) or pickled, not one made per attempt.
_NO_KWARGS: dict = {}


def call_kwargs(st: TaskState) -> dict:
    """The keyword arguments of an attempt: the task's, plus ``agent`` and ``attempt``
    when it asks."""
    task = st.task
    if task.with_agent:
        return {**(task.kwargs or {}), "agent": st.slot.agent, "attempt": st.attempt}
    return task.kwargs or _NO_KWARGS


class Backend:
    """Runs attempts for a :class:`Host`, on the host's loop thread.

    ``run(st)`` starts the attempt in flight of ``st`` and reports through the host.
    ``kill(st)`` stops an attempt that timed out or was cancelled (the host has recorded
    why and ignores its later reports); it returns True when the work really stopped,
    False when it can only be abandoned (threads). A subclass is registered under its
    ``mode`` (:func:`swarmlab.backends.register`) and made as ``cls(host, **options)``.

    Attributes
    ----------
    mode : str
        The mode name the backend is found by and attempts are recorded under.
    measures_usage : bool
        True: the backend reports the usage the limits cover itself (``host.usage``),
        so the executor's own machine readings do not count against them (DASK: the
        cluster's total).
    """

    mode = "?"
    measures_usage = False

    def __init__(self, host: Host) -> None:
        self.host = host

    async def start(self) -> None:
        """Be ready to run attempts (workers started, a cluster connected)."""

    def run(self, st: TaskState) -> None:
        raise NotImplementedError

    def kill(self, st: TaskState) -> bool:
        raise NotImplementedError

    def running_pids(self) -> list[tuple[TaskState, int]]:
        """``(task state, pid)`` of each attempt running in a process of its own now, so
        that the per-task memory cap can be checked against that process."""
        return []

    async def close(self) -> None:
        """Stop what the backend started; nothing of it is left alive after this."""


def pickled(backend: Backend, st: TaskState, where: str, stream: bool = False) -> bytes | None:
    """The attempt as ``cloudpickle.dumps((fn, args, kwargs, scope))`` for another
    process (``scope``: ``(task id, attempt, devices, stream)``, the attempt the body
    runs in: :mod:`swarmlab.scope`; ``stream``: send each report as it is made, see
    :mod:`swarmlab.backends.worker`), or None after reporting that it cannot be sent (a
    ``pickle_error``, never retried)."""
    import pickle

    import cloudpickle

    task = st.task
    try:
        return cloudpickle.dumps((task.fn, task.args, call_kwargs(st), (st.id, st.attempt, st.devices, stream)))
    except Exception as e:
        host = backend.host
        host.started(st, backend.mode)
        err = pickle.PicklingError(
            f"task {st.id!r} cannot be sent to {where}: {type(e).__name__}: {e}; {backend.mode.upper()} "
            "mode needs picklable functions and arguments (use THREAD mode or pass picklable data)"
        )
        host.failed(st, st.attempt, err, "pickle_error")
        return None
