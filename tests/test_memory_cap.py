"""The per-task memory cap (PROCESS) acts before the damage: the OS refuses what passes
it, and sampling stays as the second line (real worker processes)."""

import mmap
import os
import sys
import time

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import ResourceLimits, Task, TaskStatus

MB = 2**20
GB = 2**30

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA is enforced on Linux")


def allocate(how, n_bytes):
    if how == "bytearray":
        buf = bytearray(n_bytes)  # calloc: pages untouched
    else:
        buf = b"x" * n_bytes  # every page written
    return len(buf)


def shared_hog(n_bytes, seconds):
    """Memory that RLIMIT_DATA does not count (a shared mapping), written so resident."""
    m = mmap.mmap(-1, n_bytes)
    for i in range(0, n_bytes, mmap.PAGESIZE):
        m[i] = 1
    time.sleep(seconds)
    return n_bytes


def executor(cap_mb, **kw):
    limits = ResourceLimits(max_concurrent_tasks=1, max_task_memory_mb=cap_mb, monitoring_interval=0.05,
                            max_cpu_percent=None, max_memory_mb=None)
    return sl.ParallelExecutor(mode="process", limits=limits, process_workers=1, **kw)


@linux_only
@pytest.mark.parametrize("how", ["bytearray", "filled"])
def test_a_2gb_allocation_under_a_300mb_cap_is_refused_before_it_happens(how):
    async def main():
        async with executor(300) as ex:
            hog = await ex.submit_task(Task(allocate, (how, 2 * GB)))
            await ex.wait_for_completion()
            r = await ex.get_result(hog)
            after = await ex.submit_task(Task(os.getpid))
            pid_after = (await ex.get_result(after, timeout=60)).value
            small = await ex.submit_task(Task(allocate, (how, 50 * MB)))  # under the cap: fine
            r_small = await ex.get_result(small, timeout=60)
        return ex, r, pid_after, r_small

    ex, r, pid_after, r_small = run(main())
    assert r.status is TaskStatus.FAILED and r.error_type == "memory_limit"
    assert "refused" in r.error and "over the per-task cap of 300 MB" in r.error
    worker = int(ex.record().tasks.set_index("task_id").loc[r.task_id, "worker"])
    assert worker == pid_after  # nothing was killed: the worker refused and lived on
    assert r_small.ok and r_small.value == 50 * MB
    res = ex.record().resources
    assert res["rss_mb"].max() - res["rss_mb"].iloc[0] < 300  # the tree never came near 2 GB
    assert ex.get_metrics().violations["task_memory"] == 1


@linux_only
def test_the_limit_is_lifted_between_attempts_and_without_a_cap():
    async def main():
        async with executor(None) as ex:
            tid = await ex.submit_task(Task(allocate, ("bytearray", 2 * GB)))
            return await ex.get_result(tid, timeout=60)

    r = run(main())
    assert r.ok and r.value == 2 * GB


def test_sampling_still_kills_what_the_os_limit_does_not_count():
    async def main():
        async with executor(100) as ex:
            hog = await ex.submit_task(Task(shared_hog, (400 * MB, 10)))
            await ex.wait_for_completion()
            return await ex.get_result(hog)

    r = run(main())
    assert r.status is TaskStatus.FAILED and r.error_type == "memory_limit"
    assert "reached" in r.error and "it was killed" in r.error
