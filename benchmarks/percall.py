"""What taking a provider's units per call costs (issue 25): ``async with
swarmlab.acquire(...)`` around a call, in ASYNCIO, with the units free.

The same run twice, alternately: N tasks each making K calls (a bare ``await
asyncio.sleep(0)``), once inside ``acquire(llm=1, rpm=1)`` and once without; the
difference over N x K calls is the cost of one acquisition and its release, the
dispatcher's grant included. The pool and the rate are ample, so nothing waits.
Target: at most 20 us a call on top of the body.
"""

from __future__ import annotations

import asyncio
import statistics

import swarmlab as sl
from swarmlab import Agent, RateLimit, ResourceLimits, Task

from ._harness import Row, Settings, Stopwatch

__all__ = ["acquire_overhead"]

#: Microseconds one acquisition may add to a call (the issue's target).
TARGET_US = 20.0


async def _calls_with(k: int) -> None:
    for _ in range(k):
        async with sl.acquire(llm=1, rpm=1):
            await asyncio.sleep(0)


async def _calls_without(k: int) -> None:
    for _ in range(k):
        await asyncio.sleep(0)


def _run(body, n: int, k: int) -> float:
    limits = ResourceLimits(task_timeout=None, max_cpu_percent=None, max_memory_mb=None, max_queue_size=n,
                            pools={"llm": 10**6}, rates={"rpm": RateLimit(10**9, per_s=60)})

    async def main() -> float:
        async with sl.ParallelExecutor("asyncio", limits=limits, agents=[Agent("a", capacity=64)]) as ex:
            with Stopwatch() as sw:
                await ex.submit_batch([Task(body, (k,)) for _ in range(n)])
                assert await ex.wait_for_completion()
        return sw.elapsed

    return sl.run(main())


def acquire_overhead(s: Settings) -> list[Row]:
    n, k = s.size(2_000, 200), 10
    with_s, without_s = [], []
    for _ in range(s.reps):
        without_s.append(_run(_calls_without, n, k))
        with_s.append(_run(_calls_with, n, k))
    w, wo = statistics.median(with_s), statistics.median(without_s)
    per_call_us = (w - wo) / (n * k) * 1e6
    return [Row("acquire_overhead", f"async with acquire(llm=1, rpm=1) around a call, ASYNCIO, units free: {n:,} "
                f"tasks x {k} calls ({w:.3f} s with, {wo:.3f} s without)", per_call_us, None, "us",
                f"<= {TARGET_US:g} us a call", per_call_us <= TARGET_US)]
