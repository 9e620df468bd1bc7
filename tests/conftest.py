import asyncio
import os
import signal
import subprocess

import psutil
import pytest

from swarmlab.events import EVENT

MODES = ["thread", "process", "asyncio", "hybrid"]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def run(coro):
    """Run one test coroutine on a fresh event loop."""
    return asyncio.run(coro)


#: How long a test waits for a state of a run before it fails: far beyond what a busy
#: machine needs, so only a state that never comes fails the test.
WAIT_LIMIT_S = 30.0


async def until(condition, limit_s=WAIT_LIMIT_S, what="the condition"):
    """Wait on the running loop until ``condition()`` holds: a state of the run, not a
    duration. It is looked at every 10 ms; the test fails after ``limit_s``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit_s
    while not condition():
        assert loop.time() < end, f"{what} never held within {limit_s} s"
        await asyncio.sleep(0.01)


def started_ids(ex):
    """The ids of the tasks whose attempts have begun running in ``ex``, in that order."""
    kind, task = EVENT.event, EVENT.task_id
    return [e[task] for e in ex.recorder.since(0) if e[kind] == "started"]


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


def cut_journal(store, completed: int) -> tuple[str, list[str]]:
    """The store's only run cut as if killed right after its ``completed``-th task
    completed: its journal kept up to that line, its saved meta removed. Returns the run
    id and the lines kept."""
    from swarmlab.store.journal import JOURNAL_NAME

    run_id = store.list()["run_id"].iloc[0]
    journal = store.path / run_id / JOURNAL_NAME
    lines = journal.read_text().splitlines()
    cut = [i for i, line in enumerate(lines) if '"completed"' in line and '"type": "event"' in line][completed - 1]
    kept = lines[: cut + 1]
    journal.write_text("\n".join(kept) + "\n")
    (store.path / run_id / "meta.json").unlink()
    return run_id, kept
