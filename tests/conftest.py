import asyncio
import os
import signal
import subprocess

import psutil
import pytest

MODES = ["thread", "process", "asyncio", "hybrid"]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def run(coro):
    """Run one test coroutine on a fresh event loop."""
    return asyncio.run(coro)


def live_children():
    """Child processes of this test process that are still running (zombies excluded)."""
    out = []
    for c in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if c.status() != psutil.STATUS_ZOMBIE:
                out.append(c)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture(autouse=True)
def _close_figures():
    """matplotlib on Agg, every figure closed after each test."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")



os.environ.setdefault("MPLBACKEND", "Agg")
# The suite runs the notebooks (and anything else sized by SMOKE = "CI" in os.environ) at
# CI sizes wherever it runs: their checked outputs were stored at those sizes. (tests/ is
# collected before notebooks/, so the kernels nbval starts inherit this.)
os.environ.setdefault("CI", "true")


def stop_group(proc: subprocess.Popen) -> None:
    """End a server started in a process group of its own: TERM, then KILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
