"""HYBRID routes each task and records the route."""

import re
import time

from conftest import run

import swarmlab as sl
from swarmlab import ResourceLimits, Task
from swarmlab.backends.hybrid import CPU_BOUND_RATIO, MEASURE_RUNS, Router


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


def test_the_router_decides_by_the_measured_cpu_share():
    r = Router()
    busy, idle = Task(spin, (0.1,)), Task(nap, (0.1,))
    said = [r.measured(busy, 0.09, 0.1) for _ in range(MEASURE_RUNS)]
    assert said[:-1] == [None] * (MEASURE_RUNS - 1) and said[-1].startswith("process (cpu/wall 0.90")
    assert r.route(busy) == "process"
    for _ in range(MEASURE_RUNS):
        r.measured(idle, 0.001, 0.1)
    assert r.route(idle) == "thread"
    assert r.route(Task(spin, (0.1,), kind="io")) == "thread"  # a declared kind wins


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
        routed = rec.events.loc[rec.events["event"] == "routed", "detail"]
        # the route follows what was measured: how much CPU a spinning thread gets depends on
        # what else the machine runs, so the test reads the measurement the router recorded
        spin_route = next(d for d in routed if d.startswith("spin: "))
        ratio = float(re.search(r"cpu/wall ([0-9.]+)", spin_route).group(1))
        expected = "process" if ratio >= CPU_BOUND_RATIO else "thread"
        assert spin_route.startswith(f"spin: {expected}")
        assert spin_modes == ["thread"] * 3 + [expected] * 2
        assert nap_modes == ["thread"] * 5  # a sleep spends no CPU however busy the machine
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
