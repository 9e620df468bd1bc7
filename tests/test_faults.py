"""Faults found by the soak benchmark, each a test."""

import asyncio
import gc

import pytest
from conftest import started_ids, until
from tasks import body

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


@pytest.mark.parametrize("mode", ["thread", "asyncio", "process", "hybrid", "dask"])
def test_a_retry_that_falls_due_while_stop_drains_ends_the_task_cancelled(mode):
    """Issue 27 item 1: the attempt running at stop fails with a retry left; stop lets it
    finish but starts nothing more, so the task must end (cancelled, saying why), not
    wait for ever outside every result."""
    if mode == "dask":
        pytest.importorskip("distributed")
    fn = body(mode, "sleep_then_fail")

    async def main():
        ex = sl.ParallelExecutor(mode)
        await ex.start()
        await ex.submit_task(Task(fn, (0.3,), id="sf", max_retries=1, retry_backoff_s=0.01))
        await until(lambda: started_ids(ex), what="the attempt's start")
        await ex.stop()
        results = await ex.get_all_results()
        assert await ex.wait_for_completion(5)
        return results, ex.record()

    results, rec = sl.run(main())
    assert results["sf"].status.value == "cancelled"
    assert "stopped" in results["sf"].error
    rows = rec.tasks.sort_values("attempt")
    assert list(rows["status"]) == ["failed", "cancelled"]  # the attempt that ran, the retry that did not
    assert list(rec.final()["status"]) == ["cancelled"]
