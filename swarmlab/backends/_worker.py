"""The body of a PROCESS worker. Imported in a fresh interpreter: keep it light.

Protocol over one duplex pipe, one task at a time: the parent sends
``cloudpickle.dumps((fn, args, kwargs))``; the worker answers ``(kind, payload, tb)``
with kind 0 = value, 1 = exception, 2 = exception that could not be pickled
(``(type name, message)``), 3 = value that could not be pickled (message).
The first message a worker sends is ``READY``.

Started as ``python -c "from swarmlab.backends._worker import serve; serve(FD, PARENT)"``
with the parent's ``sys.path`` in ``SWARMLAB_SYS_PATH``: the parent's ``__main__`` is never
re-imported (a script without a ``__main__`` guard works; its functions travel by value).
On Linux the worker asks the kernel to kill it when its parent dies (see
:mod:`swarmlab.reaper`).
"""

from __future__ import annotations

import inspect
import pickle
import traceback

READY = b"ready"
SYS_PATH_ENV = "SWARMLAB_SYS_PATH"


def serve(fd: int, parent: int | None = None) -> None:
    import os
    import sys
    from multiprocessing.connection import Connection

    if parent is not None:
        from swarmlab.reaper import die_with_parent

        die_with_parent(parent)
    extra = os.environ.get(SYS_PATH_ENV)
    if extra:
        sys.path[:] = [p for p in extra.split(os.pathsep)] + [p for p in sys.path if p not in extra]
    main(Connection(fd))


def execute(data: bytes, *extra) -> bytes:
    """Run ``cloudpickle.dumps((fn, args, kwargs))``; the answer, as the module docstring
    says, with ``extra`` appended to the tuple (the DASK wrapper adds its address)."""
    import cloudpickle

    dumps = cloudpickle.dumps
    try:
        fn, args, kwargs = cloudpickle.loads(data)
        del data
        value = fn(*args, **kwargs)
        if inspect.iscoroutine(value):
            import asyncio

            value = asyncio.run(value)
    except BaseException as e:  # noqa: BLE001 - a failing task is data
        tb = traceback.format_exc()
        try:
            out = dumps((1, e, tb, *extra))
            pickle.loads(out)  # an exception that pickles but cannot be rebuilt
        except Exception:
            out = dumps((2, (type(e).__name__, str(e)), tb, *extra))
        return out
    try:
        return dumps((0, value, None, *extra))
    except Exception as e:
        return dumps((3, f"the task's return value cannot be pickled: {type(e).__name__}: {e}", None, *extra))


def main(conn) -> None:
    try:
        conn.send_bytes(READY)
    except OSError:  # the pool closed before this worker was up
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        out = execute(data)
        del data
        try:
            conn.send_bytes(out)
        except OSError:
            return
