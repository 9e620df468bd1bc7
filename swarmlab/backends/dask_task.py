"""The body of a DASK attempt, as it runs on a Dask worker. Keep it light: every import
inside the function; the attempt itself runs as in a PROCESS worker (``execute``).

:func:`run` takes the attempt as ``cloudpickle.dumps((fn, args, kwargs, (task_id,
attempt, devices)))`` and answers ``cloudpickle.dumps((kind, payload, tb, reported,
worker_address))`` with the kinds of the PROCESS worker (:mod:`swarmlab.backends.worker`):
0 = value, 1 = exception, 2 = exception that could not be pickled (``(type name,
message)``), 3 = value that could not be pickled (message); ``reported`` is what the
body reported (``swarmlab.report``), whatever the kind, or None. The task's own outcome is always data: to Dask every attempt succeeds, so
only losses (a dead worker, a cancelled future) reach Dask's error path.
"""

from __future__ import annotations


def run(payload: bytes, topic: str | None = None) -> bytes:
    """Run one attempt; first tell ``topic`` that it started, and where.

    Parameters
    ----------
    payload : bytes
        ``cloudpickle.dumps((fn, args, kwargs, (task_id, attempt, devices)))``.
    topic : str, optional
        The Dask event topic the executor's client listens to: it receives
        ``(key, worker_address)`` when the body begins, so that the attempt's start
        (and its timeout) is the worker's, not the submission's.

    Returns
    -------
    bytes
        ``cloudpickle.dumps((kind, payload, tb, reported, worker_address))``.
    """
    from swarmlab.backends.worker import execute

    try:
        from distributed import get_worker

        worker = get_worker()
        address = worker.address
    except (ImportError, ValueError):  # called outside a worker (tests, debugging)
        worker, address = None, None
    if topic is not None and worker is not None:
        worker.log_event(topic, (worker.get_current_task(), address))
    return execute(payload, address)
