"""Faults found by the soak benchmark, each a test."""

import asyncio
import gc

import swarmlab as sl
from swarmlab import Agent, Task


def test_an_asyncio_attempt_killed_before_it_ran_leaves_no_unawaited_coroutine():
    """A cancel right after the start was decided kills the attempt's wrapper before it
    ran: the body's coroutine must be closed, not left to warn 'never awaited'."""
    async def body():
        await asyncio.sleep(1)

    async def main():
        async with sl.ParallelExecutor(mode="asyncio", agents=[Agent("a", capacity=4)]) as ex:
            ids = await ex.submit_batch([Task(body) for _ in range(8)])
            for tid in ids:  # the first four were launched in submit, none has run yet
                await ex.cancel_task(tid)
            assert await ex.wait_for_completion(10)
            return await ex.get_all_results()

    res = sl.run(main())
    gc.collect()  # an unawaited coroutine warns here (an error under the suite's filterwarnings)
    assert {r.status.value for r in res.values()} == {"cancelled"}
