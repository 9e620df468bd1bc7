"""Task bodies for the DASK tests: module level, so Dask workers import them (the test's
own workers get this folder on their ``PYTHONPATH``)."""

import asyncio
import os
import socket
import time


def add(a, b):
    return a + b


async def add_async(a, b):
    await asyncio.sleep(0)
    return a + b


def fail(message):
    raise ValueError(message)


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def where():
    """(worker name, worker address, pid) of the Dask worker running this."""
    from distributed import get_worker

    w = get_worker()
    return w.name, w.address, os.getpid()


def report_pid_then_sleep(port, seconds):
    """Tell the test (listening on 127.0.0.1:port) which process runs this, then sleep;
    returns the pid of the process that ran it to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{os.getpid()}\n".encode())
    time.sleep(seconds)
    return os.getpid()


def kill_own_worker():
    """Takes its worker process down (as a segfault or the OOM killer would)."""
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def gpu_left():
    """The worker's name and the units of its Dask resource "GPU" not held while this runs."""
    from distributed import get_worker

    w = get_worker()
    return w.name, w.state.available_resources.get("GPU")
