"""Resource monitoring of the whole process tree, and limits that act (real processes)."""

import math
import os
import time

import pytest
from conftest import run, until

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, TaskStatus
from swarmlab.core.dispatcher import Dispatcher
from swarmlab.events import RESOURCE, Recorder
from swarmlab.realtime.monitor import GpuProbe
from swarmlab.scheduling import LeastLoaded

MB = 2**20


def hold_memory(mb, seconds):
    block = b"x" * (mb * MB)  # written, so resident
    time.sleep(seconds)
    return len(block) // MB


def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return seconds


def spin_then_rest(busy, rest):
    spin(busy)
    time.sleep(rest)
    return busy


def nap(seconds):
    time.sleep(seconds)
    return seconds


def executor(**limits):
    limits.setdefault("max_concurrent_tasks", 2)
    limits.setdefault("monitoring_interval", 0.05)
    limits.setdefault("max_cpu_percent", None)
    limits.setdefault("max_memory_mb", None)
    return sl.ParallelExecutor(mode="process", limits=ResourceLimits(**limits))


def test_worker_memory_shows_in_the_tree():
    async def main():
        async with executor() as ex:
            await until(lambda: len(ex.recorder.resources) >= 2, what="two samples")  # of the idle tree first
            tid = await ex.submit_task(Task(hold_memory, (300, 0.6)))
            await ex.wait_for_completion()
            assert (await ex.get_result(tid)).value == 300
        r = ex.record().resources
        assert r["rss_mb"].max() - r["rss_mb"].iloc[0] >= 250
        assert ex.get_metrics().peak_memory_usage == pytest.approx(r["rss_mb"].max())

    run(main())


def test_tree_cpu_readings_add_up_to_the_cpu_time_the_workers_spent():
    # What a shared machine delivers per second varies; the CPU time two spinning workers
    # use does not (each spins until its own CPU clock has advanced 1.2 s). The tree's
    # readings, times the wall time each covers, must account for all of it.
    async def main():
        async with executor(monitoring_interval=0.2) as ex:
            await ex.submit_batch([Task(spin, (1.2,)) for _ in range(2)])
            await ex.wait_for_completion()
            end = ex.now()
            rows, at = ex.recorder.resources, RESOURCE.t_s  # the recorder's list: it grows
            await until(lambda: rows and rows[-1][at] >= end, what="a sample after the work")
        return ex

    ex = run(main())
    r = ex.record().resources
    covered_s = r["t_s"].diff().fillna(r["t_s"].iloc[0])  # the first covers the run's start
    cpu_s = (r["cpu_pct"] / 100 * covered_s).sum()
    assert cpu_s >= 2 * 1.2 - 0.05  # psutil reads CPU times in 10 ms ticks
    assert r["cpu_pct"].iloc[0] > 0  # primed: not psutil's unprimed first reading of 0
    assert r["n_procs"].max() >= 3  # the executor and its two workers
    m = ex.get_metrics()
    assert m.peak_cpu_usage == pytest.approx(r["cpu_pct"].max())
    assert not math.isnan(m.current_cpu_usage)


def test_tight_cpu_limit_throttles_and_resumes_and_every_task_completes():
    # The limit is a share of the machine: 0.6 of one core whatever the number of cores,
    # which two spinning workers pass (a fixed 30 % is 4.8 cores on a 16-core machine).
    limit = 60 / (os.cpu_count() or 1)

    async def main():
        async with executor(max_cpu_percent=limit) as ex:
            ids = await ex.submit_batch([Task(spin_then_rest, (0.15, 0.3)) for _ in range(6)])
            await ex.wait_for_completion()
            # the tree idles: a sample says so (the state it records lifts the throttle)
            rows, throttled = ex.recorder.resources, RESOURCE.throttled
            await until(lambda: rows and not rows[-1][throttled], what="admission resumed")
            res = await ex.get_all_results()
        assert all(res[i].ok for i in ids)
        rec = ex.record()
        ev = rec.events
        throttled = ev[ev["event"] == "throttled"]
        assert len(throttled) >= 1 and (ev["event"] == "resumed").sum() >= 1
        assert "of the machine" in throttled["detail"].iloc[0] and f"vs limit {limit:g}%" in throttled["detail"].iloc[0]
        assert rec.resources["throttled"].any()
        assert ex.get_metrics().violations["cpu"] >= 1

    run(main())


def test_memory_cap_kills_only_the_hog():
    async def main():
        async with executor(max_concurrent_tasks=3, max_task_memory_mb=100) as ex:
            hog = await ex.submit_task(Task(hold_memory, (400, 5), max_retries=2, retry_on=(ValueError,)))
            calm = [await ex.submit_task(Task(nap, (0.4,))) for _ in range(2)]
            await ex.wait_for_completion()
            res = await ex.get_all_results()
            again = await ex.submit_task(Task(nap, (0.05,)))  # the pool carries on
            r_again = await ex.get_result(again, timeout=30)
            assert r_again.ok, r_again
        r = res[hog]
        assert r.status is TaskStatus.FAILED and r.error_type == "memory_limit"
        assert "over the per-task cap of 100 MB" in r.error and r.attempts == 1  # MemoryError not in retry_on
        # (how soon after its start it was killed: benchmarks sampler_cost)
        assert all(res[c].ok for c in calm)
        assert ex.get_metrics().violations["task_memory"] >= 1

    run(main())


def test_memory_cap_retries_when_retry_on_allows():
    async def main():
        async with executor(max_task_memory_mb=100) as ex:
            hog = await ex.submit_task(Task(hold_memory, (300, 5), max_retries=1, retry_backoff_s=0))
            await ex.wait_for_completion()
            return await ex.get_result(hog)

    r = run(main())
    assert r.status is TaskStatus.FAILED and r.attempts == 2  # MemoryLimitError is a MemoryError


def test_gpu_columns_are_nan_without_a_gpu():
    if GpuProbe().available:
        pytest.skip("this machine has a GPU; the GPU benchmark covers it")

    async def main():
        async with executor() as ex:
            await ex.submit_task(Task(nap, (0.2,)))
        r = ex.record().resources
        assert len(r) >= 2
        assert r[["gpu_util_pct", "gpu_mem_mb", "gpu_tree_mem_mb"]].isna().all().all()
        assert (r["sample_cost_ms"] >= 0).all()

    run(main())


def _dispatcher():
    d = Dispatcher([Agent("a", capacity=4)], LeastLoaded(), ResourceLimits(max_concurrent_tasks=4), Recorder())
    return d


def test_throttle_admits_critical_work_and_one_task_when_idle():
    d = _dispatcher()
    d.set_throttled(True, 0.0, "cpu 99% vs limit 80%")
    d.submit([Task(None, id=f"low{i}", estimate_s=1) for i in range(3)], 0.0)
    first = d.take_starts(0.0)
    assert [s.id for s in first] == ["low0"]  # nothing ran: one task whatever the reading
    assert d.take_starts(0.0) == []  # paused while something runs
    d.submit([Task(None, id="crit", estimate_s=1, priority=10)], 0.0)
    assert [s.id for s in d.take_starts(0.0)] == ["crit"]  # critical work is excepted
    d.set_throttled(False, 1.0, "cpu 10% vs limit 80%")
    assert [s.id for s in d.take_starts(1.0)] == ["low1", "low2"]
    ev = [e[2] for e in d.recorder.events]
    assert ev.count("throttled") == 1 and ev.count("resumed") == 1


def test_metrics_read_the_process_tree_not_dask_worker_rows():
    from swarmlab.events import RESOURCE_FIELDS
    from swarmlab.realtime.metrics import execution_metrics

    d = _dispatcher()

    def row(cpu, rss, worker):
        r = dict.fromkeys(RESOURCE_FIELDS, math.nan)
        r.update(t_s=1.0, cpu_pct=cpu, rss_mb=rss, worker=worker)
        return tuple(r[f] for f in RESOURCE_FIELDS)

    d.recorder.resources += [row(120.0, 300.0, None), row(95.0, 900.0, "tcp://127.0.0.1:1")]
    m = execution_metrics(d, 2.0)
    assert (m.current_cpu_usage, m.peak_cpu_usage, m.peak_memory_usage) == (120.0, 120.0, 300.0)
