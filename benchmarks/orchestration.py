"""Orchestration overhead: a suite of no-op objectives against the bare executor; how
soon a suite whose command hangs ends."""

from __future__ import annotations

import asyncio
import sys

import swarmlab as sl
from swarmlab.orchestration import (
    BenchmarkConfig,
    CallableRunner,
    CommandRunner,
    OrchestrationConfig,
    OrchestrationManager,
)

from ._harness import Row, Settings, Stopwatch, medians

__all__ = ["orchestration_overhead"]


async def _noop(objective: str, agent: sl.Agent) -> None:
    """An objective that does nothing: what is left is the orchestration."""


async def anoop() -> None:
    pass


# An agent command: objective "hang" never ends (far past any timeout here), others do at once.
AGENT = "import sys, time\nif sys.argv[1] == 'hang':\n    time.sleep(600)\n"
# The hanging command's task timeout in the hang case.
HANG_TIMEOUT_S = 1.0


def _hanging_suite() -> float:
    """Seconds a suite of two commands takes when one of them hangs past its timeout."""
    m = OrchestrationManager(OrchestrationConfig(
        runner=CommandRunner([sys.executable, "-c", AGENT, "{objective}"]), progress_reporting=False))
    with Stopwatch() as sw:
        r = sl.run(m.run_benchmark_suite(["ok", "hang"], BenchmarkConfig(task_timeout=HANG_TIMEOUT_S,
                                                                         max_retries=0)))
    status = r.summary.set_index("objective")["status"].to_dict()
    if status != {"ok": "completed", "hang": "timed_out"}:
        raise RuntimeError(f"the hang case ended otherwise: {status}")
    return sw.elapsed


async def _suite(n: int) -> float:
    limits = sl.ResourceLimits(max_cpu_percent=None, max_memory_mb=None)
    m = OrchestrationManager(OrchestrationConfig(
        runner=CallableRunner(_noop), execution_mode="asyncio", progress_reporting=False,
        max_parallel_benchmarks=100, resource_limits=limits))
    with Stopwatch() as sw:
        r = await m.run_benchmark_suite([f"objective {i}" for i in range(n)], BenchmarkConfig(
            task_timeout=None, max_tasks=n, max_agents=20, resource_limits={}))  # the whole pool, no limits
    if r["completed_objectives"] != n:
        raise RuntimeError(f"{n - r['completed_objectives']} objectives did not complete")
    return sw.elapsed


async def _bare(n: int) -> float:
    limits = sl.ResourceLimits(max_concurrent_tasks=100, max_queue_size=n, max_cpu_percent=None, max_memory_mb=None,
                               task_timeout=None)
    with Stopwatch() as sw:
        async with sl.ParallelExecutor(mode="asyncio", limits=limits) as ex:
            await ex.submit_batch([sl.Task(anoop) for _ in range(n)])
    return sw.elapsed


def orchestration_overhead(s: Settings) -> list[Row]:
    """Seconds per objective of a suite of no-ops, next to the bare executor (both
    timed from construction to a stopped executor)."""
    n = s.size(2000, 200)
    m = medians(lambda: {"suite": asyncio.run(_suite(n)), "bare": asyncio.run(_bare(n))}, s.reps)
    per, bare = m["suite"] / n * 1e6, m["bare"] / n * 1e6
    hang = medians(lambda: {"s": _hanging_suite()}, s.reps)["s"]
    bound = HANG_TIMEOUT_S + 2.0
    return [Row("orchestration_overhead", f"{n:,} no-op objectives, asyncio, 100 at a time (raw: bare executor, "
                "same tasks without runner, summary or metrics)", per, bare, "us/objective",
                "(information)", None),
            Row("orchestration_overhead", f"CommandRunner: a suite of two commands, one hanging past its "
                f"{HANG_TIMEOUT_S:g} s task timeout (killed), ends after", hang, None, "s",
                f"< {bound:g} s (the timeout + 2 s)", hang < bound)]
