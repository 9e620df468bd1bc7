"""What a task or a command starts dies with it: on timeout, cancel, crash, stop(), and
on ``kill -9`` of the swarmlab process itself (real processes throughout)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import live_children, run

import swarmlab as sl
from swarmlab import ResourceLimits, Task, TaskStatus

# Seconds a pid gets to disappear, or a file to appear: generous bounds on a shared
# machine, never figures the test checks.
GONE_WITHIN_S = 15.0
APPEAR_WITHIN_S = 60.0


def start_child_then(pidfile, then):
    """Start ``sleep 60``, write its pid, then sleep or crash."""
    child = subprocess.Popen(["sleep", "60"])
    Path(pidfile).write_text(f"{os.getpid()} {child.pid}\n")
    if then == "crash":
        os._exit(1)
    if then == "leave":
        return child.pid
    time.sleep(60)


def pids_in(path, n=2, within=APPEAR_WITHIN_S):
    """The pids written to ``path`` (at least ``n``), waiting for them."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.is_file():
            pids = [int(x) for x in path.read_text().split()]
            if len(pids) >= n:
                return pids
        time.sleep(0.02)
    raise AssertionError(f"{path} never held {n} pids")


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids, within=GONE_WITHIN_S):
    """True once none of ``pids`` runs (a zombie does not run)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


async def agone(pids, within=GONE_WITHIN_S):
    """:func:`gone` without blocking the executor's loop."""
    import asyncio

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        await asyncio.sleep(0.05)
    return False


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def executor():
    return sl.ParallelExecutor(mode="process", limits=ResourceLimits(max_concurrent_tasks=2, task_timeout=60))


async def _wait_file(path):
    import asyncio

    deadline = time.monotonic() + APPEAR_WITHIN_S
    while not (path.is_file() and len(path.read_text().split()) >= 2):
        assert time.monotonic() < deadline, "the task never started its child"
        await asyncio.sleep(0.02)
    return [int(x) for x in path.read_text().split()]


def test_timeout_kills_what_the_task_started(tmp_path):
    pidfile = tmp_path / "pids"

    async def main():
        async with executor() as ex:
            tid = await ex.submit_task(Task(start_child_then, (str(pidfile), "sleep"), timeout=2))
            await ex.wait_for_completion()
            return await ex.get_result(tid), await agone(pids_in(pidfile))  # before stop()

    r, ok = run(main())
    try:
        assert r.status is TaskStatus.TIMED_OUT
        assert ok, "the task's child outlived its timed-out attempt"
    finally:
        kill_all(pids_in(pidfile)[1:])


def test_cancel_kills_what_the_task_started(tmp_path):
    pidfile = tmp_path / "pids"

    async def main():
        async with executor() as ex:
            tid = await ex.submit_task(Task(start_child_then, (str(pidfile), "sleep")))
            pids = await _wait_file(pidfile)
            assert await ex.cancel_task(tid)
            ok = await agone(pids)  # before stop() could take them down
            return (await ex.get_result(tid)).status, pids, ok

    status, pids, ok = run(main())
    try:
        assert status is TaskStatus.CANCELLED
        assert ok, "the task's child outlived its cancelled attempt"
    finally:
        kill_all(pids[1:])


def test_worker_crash_kills_what_the_task_started(tmp_path):
    pidfile = tmp_path / "pids"

    async def main():
        async with executor() as ex:
            tid = await ex.submit_task(Task(start_child_then, (str(pidfile), "crash")))
            await ex.wait_for_completion()
            r = await ex.get_result(tid)
            return r, await agone(pids_in(pidfile))  # before stop() could take them down

    r, ok = run(main())
    try:
        assert r.status is TaskStatus.FAILED and r.error_type == "worker_crashed"
        assert ok, "the task's child outlived its crashed worker"
    finally:
        kill_all(pids_in(pidfile)[1:])


def test_stop_kills_what_running_and_finished_tasks_started(tmp_path):
    running, finished = tmp_path / "running", tmp_path / "finished"

    async def main():
        ex = executor()
        await ex.start()
        left = await ex.submit_task(Task(start_child_then, (str(finished), "leave")))
        await ex.submit_task(Task(start_child_then, (str(running), "sleep")))
        pids = await _wait_file(running) + (await _wait_file(finished))[1:]
        assert (await ex.get_result(left, timeout=60)).ok
        await ex.stop(timeout=0.1)
        return pids

    pids = run(main())
    try:
        assert gone(pids), "a child started by a task outlived stop()"
        assert live_children() == []
    finally:
        kill_all(pids)


# ---------------------------------------------------------------- kill -9 of swarmlab itself

COMMAND_SUITE = """
import sys, swarmlab
from swarmlab.orchestration import *
out = sys.argv[1]
# the shell writes its pid and that of a grandchild, then waits on it
runner = CommandRunner(["sh", "-c", "sleep 60 & echo $$ $! >> " + out + "; wait"])
m = OrchestrationManager(OrchestrationConfig(runner=runner, max_parallel_benchmarks=2,
                         progress_reporting=False, execution_mode="asyncio"))
swarmlab.run(m.run_benchmark_suite(["a", "b"], BenchmarkConfig(name="hang", task_timeout=120)))
"""

PROCESS_RUN = """
import os, subprocess, sys, time, swarmlab
out = sys.argv[1]

def task():
    child = subprocess.Popen(["sleep", "60"])
    with open(out, "a") as f:
        f.write(f"{os.getpid()} {child.pid}\\n")
    time.sleep(60)

async def main():
    async with swarmlab.ParallelExecutor(mode="process", limits=swarmlab.ResourceLimits(max_concurrent_tasks=2)) as ex:
        await ex.submit_batch([swarmlab.Task(task) for _ in range(2)])

if __name__ == "__main__":
    swarmlab.run(main())
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel guarantees are Linux's")
@pytest.mark.parametrize("script", [COMMAND_SUITE, PROCESS_RUN], ids=["command_runner", "process_worker"])
def test_kill_minus_9_of_swarmlab_leaves_nothing_it_started(tmp_path, script):
    path, out = tmp_path / "run.py", tmp_path / "pids"
    path.write_text(textwrap.dedent(script))
    proc = subprocess.Popen([sys.executable, str(path), str(out)])
    try:
        pids = pids_in(out, n=4)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    try:
        assert gone(pids), f"still running after kill -9 of swarmlab: {[p for p in pids if alive(p)]}"
    finally:
        kill_all(pids)


KEEPER_KILLED = """
import os, signal, subprocess, sys, time
from swarmlab.backends import reaper
first = subprocess.Popen(["sleep", "60"], start_new_session=True)
reaper.guard(first.pid)
os.kill(reaper._keeper.pid, signal.SIGKILL)  # someone kills the keeper
reaper._keeper.wait()
second = subprocess.Popen(["sleep", "60"], start_new_session=True)
reaper.guard(second.pid)  # a new keeper takes over both groups
with open(sys.argv[1], "w") as f:
    f.write(f"{first.pid} {second.pid}\\n")
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX process groups")
def test_a_killed_keeper_is_replaced_and_guards_every_group(tmp_path):
    path, out = tmp_path / "run.py", tmp_path / "pids"
    path.write_text(KEEPER_KILLED)
    proc = subprocess.Popen([sys.executable, str(path), str(out)])
    try:
        pids = pids_in(out)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    try:
        assert gone(pids), f"still running after kill -9: {[p for p in pids if alive(p)]}"
    finally:
        kill_all(pids)
