"""PROCESS mode: one worker can die or be killed without hurting the others."""

import os
import signal
import threading
import time

import psutil
import pytest
from conftest import live_children, run, started_ids, until

import swarmlab as sl
from swarmlab import ResourceLimits, Task, TaskStatus


def exit_hard(code):
    os._exit(code)


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def slow_pid(seconds):
    time.sleep(seconds)
    return os.getpid()


def executor(**kw):
    return sl.ParallelExecutor(mode="process", limits=ResourceLimits(max_concurrent_tasks=2, task_timeout=30), **kw)


def test_crash_fails_only_its_task_and_the_pool_heals():
    async def main():
        async with executor() as ex:
            a = await ex.submit_task(Task(exit_hard, (3,)))
            b = await ex.submit_task(Task(kill_self))
            rest = [await ex.submit_task(Task(pow, (2, i))) for i in range(6)]
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        assert res[a].status is TaskStatus.FAILED and res[a].error_type == "worker_crashed"
        assert "exited with code 3" in res[a].error
        assert res[b].status is TaskStatus.FAILED and res[b].error_type == "worker_crashed"
        assert "code -9" in res[b].error
        assert [res[i].value for i in rest] == [2**i for i in range(6)]
        assert live_children() == []

    run(main())


def test_crash_is_retried_when_allowed():
    async def main():
        async with executor() as ex:
            tid = await ex.submit_task(Task(exit_hard, (1,), max_retries=1, retry_backoff_s=0))
            await ex.wait_for_completion()
            r = await ex.get_result(tid)
        assert r.status is TaskStatus.FAILED and r.attempts == 2

    run(main())


def test_timeout_kills_exactly_that_worker():
    async def main():
        async with executor() as ex:
            slow = await ex.submit_task(Task(slow_pid, (30,), timeout=0.5))
            fast = await ex.submit_task(Task(slow_pid, (0.1,)))
            await ex.wait_for_completion()
            r = await ex.get_result(slow)
            other_pid = (await ex.get_result(fast)).value
            victim = int(ex.record().tasks.set_index("task_id").loc[slow, "worker"])
            assert r.status is TaskStatus.TIMED_OUT
            # the kill is a SIGTERM now (a SIGKILL after KILL_GRACE_S): the worker is gone soon, not at once
            await until(lambda: _gone(victim), what=f"the timed-out task's worker {victim} gone")
            assert psutil.pid_exists(other_pid)  # the neighbour's worker lives on
            # and the pool still runs work
            again = await ex.submit_task(Task(pow, (3, 3)))
            assert (await ex.get_result(again, timeout=30)).value == 27

    run(main())


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_lambdas_and_closures_run():
    async def main():
        k = 7
        async with executor() as ex:
            a = await ex.submit_task(Task(lambda x: x * k, (6,)))
            await ex.wait_for_completion()
            assert (await ex.get_result(a)).value == 42

    run(main())


def test_unpicklable_argument_fails_that_task_only():
    async def main():
        async with executor() as ex:
            bad = await ex.submit_task(Task(str, (threading.Lock(),)))
            good = await ex.submit_task(Task(pow, (2, 5)))
            unpicklable_result = await ex.submit_task(Task(threading.Lock))
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        assert res[bad].status is TaskStatus.FAILED and res[bad].error_type == "pickle_error"
        assert "cannot be sent to a worker process" in res[bad].error
        assert res[good].value == 32
        assert res[unpicklable_result].error_type == "pickle_error"
        assert "return value cannot be pickled" in res[unpicklable_result].error

    run(main())


def test_each_task_records_its_worker_pid():
    async def main():
        async with executor() as ex:
            ids = [await ex.submit_task(Task(slow_pid, (0.05,))) for _ in range(6)]
            await ex.wait_for_completion()
            pids = [(await ex.get_result(i)).value for i in ids]
        t = ex.record().tasks.set_index("task_id")
        assert [int(t.loc[i, "worker"]) for i in ids] == pids
        assert len(set(pids)) == 2

    run(main())


def test_stop_kills_running_workers_and_leaves_no_child():
    async def main():
        ex = executor()
        await ex.start()
        workers = [c for c in live_children() if "swarmlab.backends.worker" in " ".join(c.cmdline())]
        assert len(workers) == 2  # and the keeper of their process groups (swarmlab.backends.reaper)
        for _ in range(3):
            await ex.submit_task(Task(slow_pid, (60,)))
        await until(lambda: len(started_ids(ex)) == 2, what="both workers busy")
        await ex.stop(timeout=0.1)  # (how long it takes: benchmarks latency)
        assert live_children() == []
        statuses = {r.status for r in (await ex.get_all_results()).values()}
        assert statuses == {TaskStatus.CANCELLED}

    run(main())


def test_workers_that_cannot_start_are_reported_not_awaited_forever(tmp_path, monkeypatch):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 7\n")
    broken.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(broken))

    async def main():
        ex = executor()
        with pytest.raises(sl.WorkerCrashedError, match=r"exited before they were ready \(last exit code 7\)"):
            await ex.start()
        with pytest.raises(sl.ExecutorClosedError):
            await ex.submit_task(Task(pow, (2, 2)))

    run(main())
    assert live_children() == []

