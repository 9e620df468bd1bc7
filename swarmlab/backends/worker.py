"""The body of a PROCESS worker. Imported in a fresh interpreter: keep it light.

Protocol over one duplex pipe, one task at a time: the parent sends
``cloudpickle.dumps((fn, args, kwargs, (task_id, attempt, devices)))``; the worker runs
the body in that attempt's scope (:mod:`swarmlab.scope`) and answers
``(kind, payload, tb, reported)`` with kind 0 = value, 1 = exception, 2 = exception
that could not be pickled (``(type name, message)``), 3 = value that could not be
pickled (message), and ``reported`` what the body reported (``{name: float}``, or
None), whatever the kind. The first message a worker sends is ``READY``. :func:`decode`
reads an answer back in the parent: the one decoder of the PROCESS and DASK backends.
An attempt that sends no answer (killed past its timeout, crashed, lost with its
worker) loses what it reported, unless the parent asked for each report as it is made:
when the fourth item of the attempt's ``where`` is true (the parent journals), every
report is also sent at once as an interim message, ``SPENT`` followed by the pickled
``{name: value}`` of that report (:func:`spent_values` reads it), before the answer,
which still carries the attempt's full values (the parent only journals the interim
ones, so nothing is counted twice). DASK never asks: what a DASK attempt cut short
reported is not known.

Started as ``python -c "from swarmlab.backends.worker import serve; serve(FD, PARENT)"``
with the parent's ``sys.path`` in ``SWARMLAB_SYS_PATH``: the parent's ``__main__`` is never
re-imported (a script without a ``__main__`` guard works; its functions travel by value).
On Linux the worker asks the kernel to kill it when its parent dies (see
:mod:`swarmlab.backends.reaper`), and with a per-task memory cap (``CAP_MB``, the third argument)
it runs each task body under ``RLIMIT_DATA`` (see :func:`capped`).
"""

from __future__ import annotations

import contextlib
import contextvars
import pickle
import sys
import traceback
import types

from ..scope import Attempt, run_in

__all__ = ["READY", "SPENT", "RemoteError", "capped", "decode", "execute", "serve", "spent_values"]

READY = b"ready"
#: How an interim message (one report, as the body made it) begins: neither ``READY`` nor
#: a pickle (whose first byte is 0x80) begins so.
SPENT = b"spent:"
SYS_PATH_ENV = "SWARMLAB_SYS_PATH"
_MB = 2**20
_COROUTINE = types.CoroutineType  # what call_body runs to its end


class RemoteError(Exception):
    """Stands for an exception raised in a worker that could not be sent back as itself."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def decode(data: bytes, where: str) -> tuple:
    """A worker's answer as ``(ok, value or exception, error_type, traceback, reported,
    extra)``.

    ``ok``: the task returned the value; otherwise the exception it raised (kind 1),
    a :class:`RemoteError` standing for one that could not travel (kind 2, its
    ``error_type`` the original type's name), or a ``pickle_error`` for a value that
    could not travel or an answer that cannot be read back (which loses ``reported``
    with it). ``reported``: what the body reported, or None. ``extra``: what the
    sender appended (the DASK wrapper: its worker's address), or None. ``where``
    names the sender in the message of an unreadable answer.
    """
    try:
        answer = pickle.loads(data)
        kind, payload, tb, reported = answer[0], answer[1], answer[2], answer[3]
    except Exception as e:
        return False, e, "pickle_error", f"the {where}'s answer could not be unpickled: {e!r}", None, None
    extra = answer[4] if len(answer) > 4 else None
    if kind == 0:
        return True, payload, None, None, reported, extra
    if kind == 1:
        return False, payload, None, tb, reported, extra
    if kind == 2:
        return False, RemoteError(*payload), payload[0], tb, reported, extra
    return False, pickle.PicklingError(payload), "pickle_error", None, reported, extra


def spent_values(data: bytes) -> dict[str, float] | None:
    """The values of an interim message (one report of the running attempt), or None
    when ``data`` is not one (``READY``, an answer)."""
    if not data.startswith(SPENT):
        return None
    return pickle.loads(data[len(SPENT):])


def _sender(send):
    """A scope's sink that sends each report to the parent as an interim message;
    a parent gone (the pipe closed) is not the body's failure: the report is dropped."""
    dumps = pickle.dumps

    def sink(task_id: str, attempt: int, values: dict[str, float]) -> None:
        try:
            send(SPENT + dumps(values))
        except OSError:
            pass

    return sink


def _data_bytes() -> int:
    """This process's private writable memory now (``VmData``), the figure RLIMIT_DATA caps."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmData:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def capped(cap_mb: float | None):
    """Run the block with the OS refusing allocations past ``cap_mb`` MB more than this
    process holds now (Linux ``RLIMIT_DATA``; elsewhere, or with no cap, nothing).

    RLIMIT_DATA, not RLIMIT_AS: it counts the heap and private anonymous mappings (what
    a task allocates), not address space that costs nothing, such as the code of numpy
    and pandas or reserved thread stacks. And relative to what the worker holds when the
    attempt begins: a worker whose earlier tasks imported big libraries is not refused
    for what they left, each attempt gets ``cap_mb`` of its own. An allocation past it
    raises MemoryError in the task; the limit is lifted when the block ends (so the
    answer can be pickled).
    """
    if cap_mb is None or not sys.platform.startswith("linux"):
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = _data_bytes() + int(cap_mb * _MB)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def serve(fd: int, parent: int | None = None, cap_mb: float | None = None) -> None:
    import os
    import sys
    from multiprocessing.connection import Connection

    if parent is not None:
        from swarmlab.backends.reaper import die_with_parent

        die_with_parent(parent)
    extra = os.environ.get(SYS_PATH_ENV)
    if extra:
        sys.path[:] = [p for p in extra.split(os.pathsep)] + [p for p in sys.path if p not in extra]
    main(Connection(fd), cap_mb)


def execute(data: bytes, *extra, cap_mb: float | None = None, send=None) -> bytes:
    """Run ``cloudpickle.dumps((fn, args, kwargs, (task_id, attempt, devices, stream)))``
    in that attempt's scope; the answer, as the module docstring says, with ``extra``
    appended to the tuple (the DASK wrapper adds its address). The task body runs
    :func:`capped` by ``cap_mb``. ``send``: how to send the parent a message now; with
    ``stream`` true, each report goes through it as it is made (an interim message)."""
    import cloudpickle

    dumps = cloudpickle.dumps
    scope = None
    try:
        fn, args, kwargs, where = cloudpickle.loads(data)
        del data
        scope = Attempt(*where[:3])
        if send is not None and len(where) > 3 and where[3]:
            scope.sink = _sender(send)
        with capped(cap_mb):  # in a copy of the context: nothing it sets reaches the next attempt
            value = contextvars.copy_context().run(run_in, scope, call_body, fn, args, kwargs)
    except BaseException as e:  # noqa: BLE001 - a failing task is data
        tb = traceback.format_exc()
        reported = scope.end() if scope is not None else None
        try:
            out = dumps((1, e, tb, reported, *extra))
            pickle.loads(out)  # an exception that pickles but cannot be rebuilt
        except Exception:
            out = dumps((2, (type(e).__name__, str(e)), tb, reported, *extra))
        return out
    reported = scope.end()
    try:
        return dumps((0, value, None, reported, *extra))
    except Exception as e:
        return dumps((3, f"the task's return value cannot be pickled: {type(e).__name__}: {e}", None, reported,
                      *extra))


def call_body(fn, args: tuple, kwargs: dict):
    """``fn(*args, **kwargs)``; a coroutine it returns is run to its end (``asyncio.run``)."""
    value = fn(*args, **kwargs)
    if isinstance(value, _COROUTINE):  # inspect.iscoroutine, inlined: once per THREAD attempt
        import asyncio

        value = asyncio.run(value)
    return value


def main(conn, cap_mb: float | None = None) -> None:
    try:
        conn.send_bytes(READY)
    except OSError:  # the pool closed before this worker was up
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        out = execute(data, cap_mb=cap_mb, send=conn.send_bytes)
        del data
        try:
            conn.send_bytes(out)
        except OSError:
            return
