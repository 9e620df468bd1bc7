"""The package surface: light import, sync facade, the original usage example."""

import asyncio
import subprocess
import sys

import pytest

import swarmlab
from swarmlab import ExecutionMode, ParallelExecutor, ResourceLimits, Task


def test_import_does_not_pull_heavy_packages():
    code = (
        "import sys, swarmlab; "
        "heavy = [m for m in ('pandas', 'matplotlib', 'ipywidgets', 'distributed') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


def test_run_without_a_loop():
    assert swarmlab.run(double(21)) == 42


def test_run_inside_a_running_loop_uses_its_own_thread():
    async def cell():  # like a notebook cell: the kernel's loop is running
        return swarmlab.run(double(4))

    assert asyncio.run(cell()) == 8


def test_run_rejects_non_coroutines():
    with pytest.raises(TypeError, match="takes a coroutine"):
        swarmlab.run(double)


def test_original_usage_example_runs():
    """The original design's basic example, with swarm_benchmark.core -> swarmlab."""

    tasks = [Task(pow, (2, i)) for i in range(10)]

    async def main():
        limits = ResourceLimits(max_cpu_percent=80.0, max_memory_mb=1024.0, max_concurrent_tasks=10)
        executor = ParallelExecutor(mode=ExecutionMode.HYBRID, limits=limits)
        await executor.start()
        task_ids = []
        for task in tasks:
            task_id = await executor.submit_task(task, priority=1)
            task_ids.append(task_id)
        await executor.wait_for_completion(timeout=300)
        results = await executor.get_all_results()
        await executor.stop()
        return task_ids, results

    ids, results = swarmlab.run(main())
    assert [results[i].value for i in ids] == [2**i for i in range(10)]


def test_submit_before_start_is_refused():
    async def main():
        ex = ParallelExecutor(mode="thread")
        with pytest.raises(swarmlab.ExecutorClosedError, match="not started"):
            await ex.submit_task(Task(pow, (2, 2)))

    asyncio.run(main())


def test_simulated_task_cannot_run_for_real_and_asyncio_needs_coroutines():
    async def main():
        async with ParallelExecutor(mode="asyncio") as ex:
            with pytest.raises(swarmlab.ConfigError, match="can only be simulated"):
                await ex.submit_task(Task(None, estimate_s=1))
            with pytest.raises(swarmlab.ConfigError, match="ASYNCIO mode runs coroutine functions"):
                await ex.submit_task(Task(pow, (2, 2)))
            with pytest.raises(swarmlab.ConfigError, match="priority must be an int"):
                await ex.submit_task(Task(double, (1,)), priority=42)
        assert ex.get_queue_size() == 0 and await ex.get_all_results() == {}

    asyncio.run(main())
