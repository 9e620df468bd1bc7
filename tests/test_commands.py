"""Commands a body starts die with its attempt (``swarmlab.command``, ``acommand``,
``popen``): at its timeout, at ``stop()``, and when swarmlab itself is killed; and
``stop()`` names the processes bodies started otherwise and left alive."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
from conftest import live_children, run, until

import swarmlab as sl
from swarmlab import ParallelExecutor, Task, TaskStatus
from swarmlab.events import EVENT

# The command: a shell that starts a grandchild in its own group, writes both pids, waits.
LONG = "sleep 30 & echo $$ $! > {out}; wait"


def pids_in(path):
    """The pids the command wrote (empty until it wrote both)."""
    try:
        pids = [int(x) for x in Path(path).read_text().split()]
    except (FileNotFoundError, ValueError):
        return []
    return pids if len(pids) == 2 else []


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def body_for(mode, out):
    """A THREAD (sync) or ASYNCIO (coroutine) body that runs the long command to its end."""
    argv = ["sh", "-c", LONG.format(out=out)]
    if mode == "asyncio":
        async def body():
            return await sl.acommand(argv)
    else:
        def body():
            return sl.command(argv)
    return body


@pytest.mark.parametrize("mode", ["thread", "asyncio", "hybrid", "process"])
def test_a_command_dies_with_its_attempt_at_its_timeout(tmp_path, mode):
    out = tmp_path / "pids"
    body = body_for("asyncio" if mode == "asyncio" else "thread", out)

    async def main():
        async with ParallelExecutor(mode) as ex:
            await ex.submit_task(Task(body, id="t", timeout=3))
            result = await ex.get_result("t")
            assert result.status is TaskStatus.TIMED_OUT
            await until(lambda: pids_in(out), what="the command wrote its pids")
            pids = pids_in(out)
            try:  # both gone while the executor still runs: the attempt's end killed them
                await until(lambda: not any(alive(p) for p in pids), what="the command and its child are gone")
            finally:
                kill_all(pids)

    run(main())


@pytest.mark.parametrize("mode", ["thread", "asyncio"])
def test_a_command_dies_at_stop_timeout_0(tmp_path, mode):
    out = tmp_path / "pids"
    body = body_for(mode, out)

    async def main():
        ex = ParallelExecutor(mode)
        await ex.start()
        await ex.submit_task(Task(body, id="t"))
        await until(lambda: pids_in(out), what="the command wrote its pids")
        pids = pids_in(out)
        try:
            await ex.stop(timeout=0)
            assert (await ex.get_result("t")).status is TaskStatus.CANCELLED
            await until(lambda: not any(alive(p) for p in pids), what="the command and its child are gone")
            assert not [c for c in live_children() if c.pid in pids]
        finally:
            kill_all(pids)

    run(main())


def test_a_command_left_running_by_a_body_that_returned_dies_with_the_attempt():
    procs = []

    def body():
        procs.append(sl.popen(["sleep", "30"]))
        return procs[-1].pid

    async def main():
        async with ParallelExecutor("thread") as ex:
            await ex.submit_task(Task(body, id="t"))
            pid = (await ex.get_result("t")).value
            try:
                await until(lambda: procs[0].poll() is not None, what="the command ended")
                assert procs[0].returncode == -signal.SIGKILL
            finally:
                kill_all([pid])

    run(main())


def test_a_command_an_abandoned_thread_starts_after_its_timeout_dies_at_once():
    go, codes = threading.Event(), []

    def body():
        go.wait(60)
        codes.append(sl.command(["sleep", "30"]).returncode)

    async def main():
        async with ParallelExecutor("thread") as ex:
            await ex.submit_task(Task(body, id="t", timeout=0.5))
            assert (await ex.get_result("t")).status is TaskStatus.TIMED_OUT
            go.set()  # the abandoned thread goes on, past its attempt's end
            await until(lambda: codes, what="the late command ended")
            assert codes == [-signal.SIGKILL]

    run(main())


def test_command_returns_what_subprocess_run_returns():
    done = sl.command([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], input="hi",
                      capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "HI\n")
    with pytest.raises(subprocess.CalledProcessError):
        sl.command([sys.executable, "-c", "raise SystemExit(3)"], check=True)
    done = run(sl.acommand(["echo", "hi"], capture_output=True))
    assert (done.returncode, done.stdout) == (0, b"hi\n")


@pytest.mark.parametrize("call", [
    lambda: sl.command("sleep 1"),
    lambda: sl.command(["sleep", "1"], shell=True),
    lambda: sl.command(["sleep", "1"], timeout=5),
    lambda: sl.popen(["sleep", "1"], start_new_session=False),
    lambda: sl.command([]),
])
def test_command_refuses_what_would_let_it_escape_its_attempt(call):
    with pytest.raises(sl.ConfigError, match="swarmlab"):
        call()


def test_stop_names_what_a_raw_popen_left_alive(caplog):
    pids = []

    def body():
        child = subprocess.Popen(["sleep", "30"])
        pids.append(child.pid)
        child.wait()

    async def main():
        ex = ParallelExecutor("thread")
        await ex.start()
        await ex.submit_task(Task(body, id="t", timeout=3))
        try:
            assert (await ex.get_result("t")).status is TaskStatus.TIMED_OUT
            with caplog.at_level(logging.WARNING, logger="swarmlab"):
                await ex.stop()
            assert pids and alive(pids[0])
            said = [r.getMessage() for r in caplog.records if "alive" in r.getMessage()]
            assert len(said) == 1 and f"pid {pids[0]}: sleep 30" in said[0], said
            kind, detail = EVENT.event, EVENT.detail
            events = [e[detail] for e in ex.recorder.events if e[kind] == "left_alive"]
            assert events == [f"pid {pids[0]}: sleep 30"]
        finally:
            kill_all(pids)

    run(main())


_MULTIPROCESSING_CHILD = """
import asyncio, logging, multiprocessing, os, time
from swarmlab import ParallelExecutor
from swarmlab.events import EVENT

warned = []
class Catch(logging.Handler):
    def emit(self, record):
        warned.append(record.getMessage())
logging.getLogger("swarmlab").addHandler(Catch(logging.WARNING))

async def main():
    ex = ParallelExecutor("thread")
    await ex.start()
    child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,), daemon=True)
    child.start()
    while child.pid is None or not os.path.exists(f"/proc/{child.pid}"):
        await asyncio.sleep(0.01)
    await ex.stop()
    child.kill()
    child.join()
    events = [e for e in ex.recorder.events if e[EVENT.event] == "left_alive"]
    print("warned", sum("alive" in w for w in warned), "events", len(events))

asyncio.run(main())
"""


def test_stop_names_no_multiprocessing_child_of_this_process():
    # a Dask nanny of a LocalCluster in this process starts again, with multiprocessing,
    # the worker a run's body lost: a new descendant, which multiprocessing ends at exit.
    # (In a process of its own: multiprocessing's resource tracker, which a spawn start
    # leaves running for the life of the interpreter, is no child of the test session.)
    done = subprocess.run([sys.executable, "-c", _MULTIPROCESSING_CHILD], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["warned", "0", "events", "0"], done.stdout + done.stderr


def test_stop_names_nothing_when_bodies_used_swarmlab_command(tmp_path, caplog):
    out = tmp_path / "pids"

    async def main():
        ex = ParallelExecutor("thread")
        await ex.start()
        await ex.submit_task(Task(body_for("thread", out), id="t"))
        await until(lambda: pids_in(out), what="the command wrote its pids")
        try:
            with caplog.at_level(logging.WARNING, logger="swarmlab"):
                await ex.stop(timeout=0)
        finally:
            kill_all(pids_in(out))
        assert not [r for r in caplog.records if "alive" in r.getMessage()]
        assert not [e for e in ex.recorder.events if e[EVENT.event] == "left_alive"]

    run(main())


# ---------------------------------------------------------------- kill -9 of swarmlab itself

KILLED_RUN = """
import sys, swarmlab
out, mode = sys.argv[1], sys.argv[2]
argv = ["sh", "-c", "sleep 60 & echo $$ $! > " + out + "; wait"]

def body():
    swarmlab.command(argv)

async def abody():
    await swarmlab.acommand(argv)

async def main():
    async with swarmlab.ParallelExecutor(mode) as ex:
        await ex.submit_task(swarmlab.Task(abody if mode == "asyncio" else body))

swarmlab.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["thread", "asyncio"])
def test_kill_minus_9_of_swarmlab_kills_the_commands_its_bodies_started(tmp_path, mode):
    path, out = tmp_path / "run.py", tmp_path / "pids"
    path.write_text(textwrap.dedent(KILLED_RUN))
    proc = subprocess.Popen([sys.executable, str(path), str(out), mode])

    async def main():
        try:
            await until(lambda: pids_in(out) or proc.poll() is not None, what="the command wrote its pids")
            pids = pids_in(out)
            assert pids, f"the run ended ({proc.returncode}) before its command started"
        finally:
            proc.kill()  # SIGKILL
            proc.wait()
        try:
            await until(lambda: not any(alive(p) for p in pids), what="the commands are gone after kill -9")
        finally:
            kill_all(pids)

    run(main())
