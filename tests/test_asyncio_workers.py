"""ASYNCIO runs attempts on a pool of worker tasks (swarmlab.backends.aio): each attempt
must still see what an asyncio task of its own would give it."""

import asyncio
import contextvars

from conftest import run, started_ids, until

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, TaskStatus

where = contextvars.ContextVar("where")


def _executor(capacity=2, **limits):
    return sl.ParallelExecutor(mode="asyncio", agents=[Agent("a", capacity=capacity)],
                               limits=ResourceLimits(**limits))


def _workers():
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("swarmlab-asyncio-")]


async def add(a, b):
    await asyncio.sleep(0)
    return a + b


def test_no_attempt_sees_a_context_variable_another_attempt_set():
    async def body(i):
        seen = where.get("unset")
        where.set(f"attempt {i}")
        await asyncio.sleep(0)
        return seen

    async def main():
        where.set("the caller")  # set before start: every attempt sees it
        async with _executor() as ex:
            ids = await ex.submit_batch([Task(body, (i,)) for i in range(30)])
            assert await ex.wait_for_completion(10)
            res = await ex.get_all_results()
        return [res[i].value for i in ids]

    assert run(main()) == ["the caller"] * 30


def test_a_worker_goes_on_after_its_attempt_is_stopped():
    """Timeouts and cancels of running attempts and of attempts handed over to an idle
    worker that has not woken yet: later attempts run, with no cancellation left over."""
    async def slow():
        await asyncio.sleep(30)

    async def owed():
        await asyncio.sleep(0)
        return asyncio.current_task().cancelling()

    async def main():
        async with _executor(capacity=2, task_timeout=None) as ex:
            await ex.submit_batch([Task(owed) for _ in range(2)])  # two idle workers now
            assert await ex.wait_for_completion(10)
            handed = await ex.submit_batch([Task(slow) for _ in range(2)])
            for tid in handed:  # handed to the idle workers, which have not woken yet
                assert await ex.cancel_task(tid)
            timed = await ex.submit_batch([Task(slow, timeout=0.05) for _ in range(2)])
            assert await ex.wait_for_completion(10)
            after = await ex.submit_batch([Task(owed) for _ in range(6)])
            assert await ex.wait_for_completion(10)
            res = await ex.get_all_results()
        return ([res[t].status for t in handed], [res[t].status for t in timed], [res[t].value for t in after],
                len(_workers()))

    handed, timed, after, left = run(main())
    assert handed == [TaskStatus.CANCELLED] * 2
    assert timed == [TaskStatus.TIMED_OUT] * 2
    assert after == [0] * 6  # completed, and no cancellation owed by an earlier attempt
    assert left == 0  # stop ended the idle workers


def test_a_body_that_cancels_its_own_task_fails_and_the_run_ends():
    async def self_cancel():
        asyncio.current_task().cancel()
        await asyncio.sleep(1)


    async def main():
        async with _executor(capacity=1) as ex:
            bad = await ex.submit_task(Task(self_cancel))
            good = await ex.submit_task(Task(add, (2, 3)))
            assert await ex.wait_for_completion(10), "the self-cancelled attempt never ended"
            return await ex.get_result(bad), await ex.get_result(good)

    bad, good = run(main())
    assert bad.status is TaskStatus.FAILED and bad.error_type == "CancelledError"
    assert good.value == 5


def test_workers_cancelled_from_outside_while_idle_are_replaced():
    async def main():
        async with _executor(capacity=3) as ex:
            await ex.submit_batch([Task(add, (i, 1)) for i in range(3)])
            assert await ex.wait_for_completion(10)
            for t in _workers():  # as code that cancels every task of the loop would
                t.cancel()
            ids = await ex.submit_batch([Task(add, (i, 1)) for i in range(9)])
            assert await ex.wait_for_completion(10)
            res = await ex.get_all_results()
        return [res[i].value for i in ids]

    assert run(main()) == [i + 1 for i in range(9)]


def test_idle_workers_end_after_a_while_and_new_ones_take_later_work(monkeypatch):
    from swarmlab.backends import aio

    monkeypatch.setattr(aio, "IDLE_WORKER_S", 0.05)

    async def main():
        async with _executor(capacity=4) as ex:
            await ex.submit_batch([Task(add, (i, 1)) for i in range(8)])
            assert await ex.wait_for_completion(10)
            workers = _workers()
            await asyncio.wait(workers, timeout=10)  # the idle trim ends them, nothing else does
            busy, left = len(workers), len(_workers())
            ids = await ex.submit_batch([Task(add, (i, 2)) for i in range(8)])
            assert await ex.wait_for_completion(10)
            res = await ex.get_all_results()
        return busy, left, [res[i].value for i in ids]

    busy, left, values = run(main())
    assert busy == 4 and left == 0
    assert values == [i + 2 for i in range(8)]


def test_bodies_that_never_suspend_share_a_worker_and_suspending_ones_get_one_each():
    """A burst of bodies that return without suspending runs on one worker; bodies that
    suspend all run at once, each on its own; both begin in the order they started."""
    began = []

    async def quick():
        began.append(asyncio.current_task().get_name())

    async def waits(gate):
        began.append(asyncio.current_task().get_name())
        await gate.wait()

    async def main():
        gate = asyncio.Event()
        async with _executor(capacity=8) as ex:
            quick_ids = await ex.submit_batch([Task(quick) for _ in range(8)])
            assert await ex.wait_for_completion(10)
            quick_order, quick_names = started_ids(ex), began[:]
            began.clear()
            wait_ids = await ex.submit_batch([Task(waits, (gate,)) for _ in range(8)])
            await until(lambda: len(began) == 8, what="every suspending body waiting at once")
            wait_names = began[:]
            gate.set()
            assert await ex.wait_for_completion(10)
            order = started_ids(ex)[8:]
            res = await ex.get_all_results()
        return (quick_ids, quick_order, quick_names, wait_ids, order, wait_names,
                {res[t].status for t in quick_ids + wait_ids})

    quick_ids, quick_order, quick_names, wait_ids, order, wait_names, statuses = run(main())
    assert quick_order == quick_ids and len(quick_names) == 8 and len(set(quick_names)) == 1
    assert order == wait_ids and len(set(wait_names)) == 8
    assert statuses == {TaskStatus.COMPLETED}


def test_workers_cancelled_from_outside_before_they_run_leave_their_attempts_to_others():
    """Workers cancelled after being handed work and before their first step (new ones,
    and idle ones just woken), as code that cancels every task of the loop would: the
    attempts handed over run on other workers."""
    async def main():
        async with _executor(capacity=4) as ex:
            first = await ex.submit_batch([Task(add, (i, 1)) for i in range(4)])
            for t in _workers():  # made for this batch, not begun yet
                t.cancel()
            assert await ex.wait_for_completion(10), "attempts handed to cancelled workers never ran"
            again = await ex.submit_batch([Task(add, (i, 2)) for i in range(4)])
            for t in _workers():  # idle ones, one of them woken for this batch
                t.cancel()
            assert await ex.wait_for_completion(10), "attempts handed to cancelled workers never ran"
            res = await ex.get_all_results()
        return [res[i].value for i in first], [res[i].value for i in again]

    assert run(main()) == ([1, 2, 3, 4], [2, 3, 4, 5])
