"""HYBRID routes each task and records the route."""

import time

from conftest import run

import swarmlab as sl
from swarmlab import ResourceLimits, Task


def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return seconds


def nap(seconds):
    time.sleep(seconds)
    return seconds


async def anap(seconds):
    return seconds


def test_declared_kinds_and_coroutines_are_routed():
    async def main():
        async with sl.ParallelExecutor(mode="hybrid", limits=ResourceLimits(max_concurrent_tasks=4)) as ex:
            c = await ex.submit_task(Task(spin, (0.01,), kind="cpu"))
            i = await ex.submit_task(Task(nap, (0.01,), kind="io"))
            a = await ex.submit_task(Task(anap, (0.01,)))
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        assert (res[c].mode, res[i].mode, res[a].mode) == ("process", "thread", "asyncio")
        modes = ex.record().tasks.set_index("task_id")["mode"]
        assert (modes[c], modes[i], modes[a]) == ("process", "thread", "asyncio")

    run(main())


def test_undeclared_functions_are_measured_then_routed():
    async def main():
        async with sl.ParallelExecutor(mode="hybrid", limits=ResourceLimits(max_concurrent_tasks=2)) as ex:
            for _ in range(5):
                await ex.submit_task(Task(spin, (0.03,)))
                await ex.submit_task(Task(nap, (0.03,)))
                await ex.wait_for_completion()
        rec = ex.record()
        t = rec.tasks
        spin_modes = list(t.loc[t["name"] == "spin", "mode"])
        nap_modes = list(t.loc[t["name"] == "nap", "mode"])
        assert spin_modes == ["thread"] * 3 + ["process"] * 2
        assert nap_modes == ["thread"] * 5
        routed = rec.events.loc[rec.events["event"] == "routed", "detail"]
        assert any(d.startswith("spin: process") for d in routed)
        assert any(d.startswith("nap: thread") for d in routed)

    run(main())


def touch(path):
    with open(path, "w") as f:
        f.write("ran")
    return path


def test_a_cancelled_task_waiting_for_a_worker_process_never_runs(tmp_path):
    """The kill reaches the process pool it waits in, though it has not started (no mode)."""
    marker = tmp_path / "ran"

    async def main():
        limits = ResourceLimits(max_concurrent_tasks=2)
        async with sl.ParallelExecutor(mode="hybrid", limits=limits, process_workers=1) as ex:
            busy = await ex.submit_task(Task(nap, (0.5,), kind="cpu"))
            waiting = await ex.submit_task(Task(touch, (str(marker),), kind="cpu"))
            assert await ex.cancel_task(waiting)
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        return busy, waiting, res, ex.record()

    busy, waiting, res, rec = run(main())
    assert res[busy].value == 0.5 and res[waiting].status is sl.TaskStatus.CANCELLED
    ev = rec.events[rec.events["task_id"] == waiting]
    assert "started" not in set(ev["event"]) and not marker.exists()
