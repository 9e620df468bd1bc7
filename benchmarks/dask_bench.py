"""DASK mode: what swarmlab costs on top of Dask, and what a local cluster gains.

Both figures run on one ``LocalCluster`` started for the benchmark (one single-threaded
worker process per core, as the executor's embedded cluster); swarmlab reaches it by
address, so swarmlab and the raw client share the same scheduler and workers, measured
alternately within each repetition. Swarmlab's timings start before the ``Task``
objects are built and end when ``wait_for_completion`` returns; connecting the
executor's client is not timed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import swarmlab as sl

from ._harness import Row, Settings, Stopwatch
from .core import HANG_S, STOP_S, _calibrate, _check_completed, _serial, noop, spin

if TYPE_CHECKING:  # imported when the benchmark runs: the other benchmarks run without it
    import distributed

__all__ = ["dask_overhead"]

# Seconds one CPU-bound task takes (calibrated here): long next to Dask's ~1 ms per task.
CPU_TASK_S = 0.050


async def _cluster() -> distributed.LocalCluster:
    import distributed

    return await distributed.LocalCluster(
        n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, asynchronous=True,
    )


async def _swarmlab(address: str, n: int, fn: Callable[[Any], Any], arg: Any) -> float:
    """Seconds for ``n`` tasks in DASK mode on the cluster at ``address`` (all admitted
    at once, so that Dask, not swarmlab, is what queues them)."""
    limits = sl.ResourceLimits(max_concurrent_tasks=n, max_queue_size=n, max_cpu_percent=None,
                               max_memory_mb=None, task_timeout=None)
    ex = sl.ParallelExecutor(mode="dask", limits=limits, dask_address=address)
    await asyncio.wait_for(ex.start(), HANG_S)
    try:
        with Stopwatch() as sw:
            ids = await ex.submit_batch([sl.Task(fn, (arg,)) for _ in range(n)])
            done = await ex.wait_for_completion(timeout=HANG_S)
        if not done:
            raise RuntimeError(f"dask: {n} tasks still unfinished after {HANG_S:.0f} s (hung?)")
        await _check_completed(ex, ids)
        return sw.elapsed
    finally:
        await ex.stop(timeout=STOP_S)


async def _raw(client: distributed.Client, n: int, fn: Callable[[Any], Any], arg: Any) -> float:
    """Seconds for ``client.map`` of ``n`` calls and ``client.gather`` of them."""
    with Stopwatch() as sw:
        futures = client.map(fn, [arg] * n, pure=False)
        await client.gather(futures)
    return sw.elapsed


async def _measure(reps: int, n_noop: int, n_cpu: int, iters: int) -> dict[str, float]:
    """Medians of every figure over ``reps`` repetitions on one cluster."""
    import distributed

    async with await _cluster() as cluster, distributed.Client(
        cluster, asynchronous=True, set_as_default=False
    ) as client:
        address = cluster.scheduler_address
        await _raw(client, 4 * (os.cpu_count() or 1), noop, None)  # workers import this module
        runs = []
        for _ in range(reps):
            gc.collect()
            runs.append({
                "ours": await _swarmlab(address, n_noop, noop, None),
                "raw": await _raw(client, n_noop, noop, None),
                "cpu_ours": await _swarmlab(address, n_cpu, spin, iters),
                "cpu_raw": await _raw(client, n_cpu, spin, iters),
                "serial": _serial(iters, n_cpu),
            })
    return {k: statistics.median(run[k] for run in runs) for k in runs[0]}


def dask_overhead(s: Settings) -> list[Row]:
    """No-op throughput against raw ``client.map`` + ``gather``; CPU-bound makespan
    against serial time, on one local cluster."""
    n_noop, n_cpu = s.size(2_000, 300), s.size(40, 8)
    iters = _calibrate(CPU_TASK_S)
    m = asyncio.run(_measure(s.reps, n_noop, n_cpu, iters))
    cores = os.cpu_count() or 1
    tput, raw_tput = n_noop / m["ours"], n_noop / m["raw"]
    speedup, raw_speedup = m["serial"] / m["cpu_ours"], m["serial"] / m["cpu_raw"]
    size = f"{n_cpu} x {m['serial'] / n_cpu * 1e3:.0f} ms"
    # The ideal speedup is the worker count; on a small machine the scheduler and the
    # client share the cores with the workers, so the claim is against raw Dask's.
    return [
        Row("dask_overhead", f"DASK, {n_noop:,} no-op tasks, LocalCluster of {cores} "
            "(raw: client.map + client.gather)", tput, raw_tput, "tasks/s", ">= 0.5x raw",
            tput >= 0.5 * raw_tput),
        Row("dask_overhead", f"DASK, CPU-bound {size}, speedup over serial on {cores} workers, "
            f"ideal {cores}x (raw: client.map + client.gather's speedup)", speedup, raw_speedup,
            "x", ">= 0.95x raw", speedup >= 0.95 * raw_speedup),
    ]
