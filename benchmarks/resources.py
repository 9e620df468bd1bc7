"""Resource benchmarks: what sampling costs and how soon a sample acts, GPU samples under
load, CPU scaling."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import time

import swarmlab as sl
from swarmlab.realtime.monitor import GpuProbe

from ._harness import Row, Settings, Stopwatch, medians
from .core import _calibrate, spin, worker_pid

__all__ = ["sampler_cost", "gpu_and_scaling"]

WORKERS = 8
# The per-task memory cap case: a task holds HOG_MB under a CAP_MB cap, sampled every
# CAP_INTERVAL_S; it would hold it HOG_S if nothing killed it.
HOG_MB, CAP_MB, CAP_INTERVAL_S, HOG_S = 400, 100, 0.05, 30.0
# 16 cores reach >= 13x (a bare ProcessPoolExecutor(16) reached 12.7x on such a machine).
SCALING_TARGET = {16: 13.0}


async def _idle_run(interval: float, seconds: float) -> sl.RunRecord:
    limits = sl.ResourceLimits(max_concurrent_tasks=WORKERS, monitoring_interval=interval,
                               max_cpu_percent=None, max_memory_mb=None, task_timeout=None)
    async with sl.ParallelExecutor(mode="process", limits=limits) as ex:
        await ex.submit_batch([sl.Task(time.sleep, (seconds,)) for _ in range(WORKERS)])
    return ex.record()


def hold_memory(mb: int, seconds: float) -> int:
    """Hold ``mb`` MB (written, so resident) for ``seconds``; returns the MB held."""
    block = b"x" * (mb * 2**20)
    time.sleep(seconds)
    return len(block) // 2**20


async def _cap_kill_s() -> float:
    """Seconds from the start of a task over the per-task memory cap to its kill."""
    limits = sl.ResourceLimits(max_concurrent_tasks=1, monitoring_interval=CAP_INTERVAL_S, max_cpu_percent=None,
                               max_memory_mb=None, task_timeout=None, max_task_memory_mb=CAP_MB)
    async with sl.ParallelExecutor(mode="process", limits=limits) as ex:
        tid = await ex.submit_task(sl.Task(hold_memory, (HOG_MB, HOG_S)))
        res = await ex.get_result(tid, timeout=2 * HOG_S)
    if res.error_type != "memory_limit":
        raise RuntimeError(f"a task over its memory cap was not killed for it: {res!r}")
    return res.run_s


def sampler_cost(s: Settings) -> list[Row]:
    """CPU the sampling thread spends, in % of one core, with 8 worker processes alive;
    how soon a sample kills a task over its memory cap."""
    seconds = s.size(6.0, 1.0)
    rows = []
    for interval in (1.0, 0.1):
        def measure(interval=interval) -> dict[str, float]:
            r = asyncio.run(_idle_run(interval, seconds)).resources
            return {"pct": r["sample_cost_ms"].sum() / (seconds * 1e3) * 100, "n": len(r),
                    "per": r["sample_cost_ms"].median()}
        m = medians(measure, s.reps)
        judged = interval == 1.0
        rows.append(Row("sampler_cost", f"interval {interval:g} s, {WORKERS} workers: {m['n']:.0f} samples, "
                        f"{m['per']:.2f} ms CPU each", m["pct"], None, "% of a core",
                        "< 2 % of one core" if judged else "(information)",
                        (m["pct"] < 2.0) if judged else None))
    kill = medians(lambda: {"s": asyncio.run(_cap_kill_s())}, s.reps)["s"]
    rows.append(Row("sampler_cost", f"PROCESS, sampled every {CAP_INTERVAL_S * 1e3:.0f} ms: a task holding "
                    f"{HOG_MB} MB over a {CAP_MB} MB per-task cap is killed this long after it started", kill, None,
                    "s", "< 1 s", kill < 1.0))
    return rows


async def _process_makespan(n_tasks: int, iters: int, workers: int) -> float:
    limits = sl.ResourceLimits(max_concurrent_tasks=workers, max_cpu_percent=None, max_memory_mb=None,
                               task_timeout=None, max_queue_size=max(1000, n_tasks))
    async with sl.ParallelExecutor(mode="process", limits=limits) as ex:
        # warm-up: each worker imports the task module (the nap makes every worker take one)
        await ex.submit_batch([sl.Task(worker_pid, (0.1,)) for _ in range(workers)])
        await ex.wait_for_completion()
        with Stopwatch() as sw:
            await ex.submit_batch([sl.Task(spin, (iters,)) for _ in range(n_tasks)])
            await ex.wait_for_completion()
    return sw.elapsed


def _raw_makespan(n_tasks: int, iters: int, workers: int) -> float:
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(worker_pid, [0.1] * workers))
        with Stopwatch() as sw:
            list(pool.map(spin, [iters] * n_tasks, chunksize=1))
    return sw.elapsed


async def _gpu_load(seconds: float) -> tuple[float, float]:
    limits = sl.ResourceLimits(max_concurrent_tasks=1, monitoring_interval=0.1, max_cpu_percent=None,
                               max_memory_mb=None, task_timeout=None)
    async with sl.ParallelExecutor(mode="process", limits=limits) as ex:
        tid = await ex.submit_task(sl.Task(_matmul_loop, (seconds,)))
        res = await ex.get_result(tid)
    if not res.ok:
        raise RuntimeError(f"the GPU load failed: {res.error_type}: {res.error}")
    r = ex.record().resources
    return float(r["gpu_util_pct"].max()), float(r["gpu_tree_mem_mb"].max())


def _matmul_loop(seconds: float) -> int:
    """A GPU load: square matrix products for ``seconds`` (PyTorch, else CuPy)."""
    try:
        import torch

        a = torch.randn(8192, 8192, device="cuda")
        sync = torch.cuda.synchronize
    except ImportError:
        import cupy

        a = cupy.random.randn(8192, 8192, dtype=cupy.float32)
        sync = cupy.cuda.Device().synchronize
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        a = (a @ a) / 8192
        sync()
        n += 1
    return n


def gpu_and_scaling(s: Settings) -> list[Row]:
    """GPU samples under a matrix loop (when a GPU is here) and PROCESS speedup on every core."""
    rows = []
    if GpuProbe().available:
        util, mem = asyncio.run(_gpu_load(s.size(5.0, 2.0)))
        rows.append(Row("gpu_and_scaling", f"GPU under a matrix loop: peak {mem:.0f} MB held by the tree",
                        util, None, "% util", "> 50 % utilisation sampled", util > 50))
    else:
        rows.append(Row("gpu_and_scaling", "GPU: none found by NVML here, nothing to sample", float("nan"),
                        None, "% util", "(runs where a GPU is)", None))
    cores = os.cpu_count() or 1
    iters = _calibrate(0.05)
    n = s.size(8, 2) * cores
    def measure() -> dict[str, float]:
        with Stopwatch() as sw:
            for _ in range(s.size(8, 2)):
                spin(iters)
        serial = sw.elapsed * cores  # n tasks one after the other
        return {"serial": serial, "ours": asyncio.run(_process_makespan(n, iters, cores)),
                "raw": _raw_makespan(n, iters, cores)}
    m = medians(measure, s.reps)
    speed, raw = m["serial"] / m["ours"], m["serial"] / m["raw"]
    target = SCALING_TARGET.get(cores)
    rows.append(Row("gpu_and_scaling", f"PROCESS speedup over one core, {n} x 50 ms on {cores} cores "
                    "(raw: ProcessPoolExecutor.map)", speed, raw, "x",
                    f">= {target:g}x" if target else f"(target set for 16 cores; {cores} here)",
                    (speed >= target) if target else None))
    return rows
