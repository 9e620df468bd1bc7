"""One behaviour suite, run against every execution mode."""

import asyncio

import pytest
from conftest import live_children, run, started_ids, until
from tasks import body

import swarmlab as sl
from swarmlab import ResourceLimits, Task, TaskStatus

TERMINAL_EVENTS = {"completed", "failed", "timed_out", "cancelled", "upstream_failed"}


def executor(mode, **limits):
    limits.setdefault("task_timeout", 30)
    return sl.ParallelExecutor(mode=mode, limits=ResourceLimits(**limits))


def assert_one_terminal_each(ex):
    ev = ex.record().events
    term = ev[ev["event"].isin(TERMINAL_EVENTS)]
    final = term.groupby("task_id", observed=True).tail(1)
    submitted = set(ev.loc[ev["event"] == "submitted", "task_id"])
    assert set(final["task_id"]) == submitted
    # a task may fail and be retried; it ends once: no terminal event after its last
    retried = ev.loc[ev["event"] == "retried", "task_id"].value_counts()
    per_task = term["task_id"].value_counts()
    for tid, n in per_task.items():
        assert n == 1 + retried.get(tid, 0), tid


def test_values_are_returned(mode):
    async def main():
        async with executor(mode) as ex:
            ids = [await ex.submit_task(Task(body(mode, "add"), (i, 10))) for i in range(20)]
            await ex.wait_for_completion()
            results = [await ex.get_result(i) for i in ids]
        assert [r.value for r in results] == [i + 10 for i in range(20)]
        assert all(r.status is TaskStatus.COMPLETED and r.attempts == 1 for r in results)
        assert {r.mode for r in results} == ({"thread"} if mode == "hybrid" else {mode})
        assert_one_terminal_each(ex)

    run(main())


def test_no_attempt_sees_a_context_variable_another_attempt_set(mode):
    """Threads, worker processes and ASYNCIO's worker tasks run attempt after attempt;
    each attempt still starts from a clean copy of the context."""
    async def main():
        async with executor(mode, max_concurrent_tasks=2) as ex:
            ids = await ex.submit_batch([Task(body(mode, "mark"), (i,)) for i in range(12)])
            assert await ex.wait_for_completion(30)
            res = await ex.get_all_results()
        return [res[i].value for i in ids]

    assert run(main()) == [None] * 12


def test_exceptions_are_data(mode):
    async def main():
        async with executor(mode) as ex:
            bad = await ex.submit_task(Task(body(mode, "fail"), ("broken input",)))
            good = await ex.submit_task(Task(body(mode, "add"), (1, 2)))
            await ex.wait_for_completion()
            r = await ex.get_result(bad)
            assert (await ex.get_result(good)).value == 3
        assert r.status is TaskStatus.FAILED
        assert r.error_type == "ValueError" and r.error == "broken input"
        assert "raise ValueError" in r.traceback
        row = ex.record().tasks.set_index("task_id").loc[bad]
        assert row["status"] == "failed" and row["error_type"] == "ValueError"

    run(main())


def test_timeout_ends_attempt_and_run_goes_on(mode):
    async def main():
        async with executor(mode) as ex:
            slow = await ex.submit_task(Task(body(mode, "sleep"), (30,), timeout=0.3))
            fast = await ex.submit_task(Task(body(mode, "add"), (2, 2)))
            await ex.wait_for_completion()
            r = await ex.get_result(slow)
            assert (await ex.get_result(fast)).value == 4
        assert r.status is TaskStatus.TIMED_OUT and r.error_type == "timeout"
        assert r.run_s >= 0.3  # it ran until its timeout (how soon it ended after: benchmarks latency)
        ev = ex.record().events
        abandoned = ev[(ev["event"] == "abandoned") & (ev["task_id"] == slow)]
        assert len(abandoned) == (1 if r.mode == "thread" else 0)

    run(main())


def test_default_timeout_comes_from_limits(mode):
    async def main():
        async with executor(mode, task_timeout=0.2) as ex:
            tid = await ex.submit_task(Task(body(mode, "sleep"), (30,)))
            await ex.wait_for_completion()
            assert (await ex.get_result(tid)).status is TaskStatus.TIMED_OUT

    run(main())


def test_higher_priority_starts_first(mode):
    async def main():
        ex = sl.ParallelExecutor(mode=mode, limits=ResourceLimits(max_concurrent_tasks=1),
                                 agents=[sl.Agent("solo")])
        async with ex:
            await ex.submit_task(Task(body(mode, "sleep"), (0.2,), id="blocker"))
            await ex.submit_batch([
                (Task(body(mode, "add"), (0, 0), id=f"p{p}-{k}"), p)
                for k in range(2) for p in (1, 5, 10, 3)
            ])
            await ex.wait_for_completion()
        ev = ex.record().events
        order = list(ev.loc[ev["event"] == "started", "task_id"])
        assert order == ["blocker", "p10-0", "p10-1", "p5-0", "p5-1", "p3-0", "p3-1", "p1-0", "p1-1"]

    run(main())


def test_dependencies_run_after_their_dependencies(mode):
    async def main():
        async with executor(mode, max_concurrent_tasks=4) as ex:
            a = Task(body(mode, "sleep"), (0.1,), id="a")
            b = Task(body(mode, "add"), (1, 1), id="b", dependencies=[a])
            c = Task(body(mode, "add"), (2, 2), id="c", dependencies=["a", "b"])
            await ex.submit_batch([c, b, a])
            await ex.wait_for_completion()
        t = ex.record().tasks.set_index("task_id")
        assert t.loc["b", "started_s"] >= t.loc["a", "finished_s"]
        assert t.loc["c", "started_s"] >= t.loc["b", "finished_s"]
        assert set(t["status"]) == {"completed"}

    run(main())


def test_dependents_of_failed_task_are_upstream_failed(mode):
    async def main():
        async with executor(mode) as ex:
            root = Task(body(mode, "fail"), id="root")
            mid = Task(body(mode, "add"), (1, 1), id="mid", dependencies=[root])
            leaf = Task(body(mode, "add"), (1, 1), id="leaf", dependencies=[mid])
            other = Task(body(mode, "add"), (1, 1), id="other")
            await ex.submit_batch([root, mid, leaf, other])
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        assert res["root"].status is TaskStatus.FAILED
        assert res["mid"].status is TaskStatus.UPSTREAM_FAILED
        assert res["leaf"].status is TaskStatus.UPSTREAM_FAILED
        assert "'mid'" in res["leaf"].error
        assert res["other"].status is TaskStatus.COMPLETED
        ev = ex.record().events
        assert not ev[(ev["event"] == "started") & ev["task_id"].isin(["mid", "leaf"])].shape[0]
        assert_one_terminal_each(ex)

    run(main())


def test_retries_record_each_attempt(mode, tmp_path):
    async def main():
        async with executor(mode) as ex:
            marker = str(tmp_path / "tried")
            tid = await ex.submit_task(
                Task(body(mode, "fail_first"), (marker,), max_retries=2, retry_backoff_s=0.01)
            )
            no_retry = await ex.submit_task(
                Task(body(mode, "fail"), max_retries=3, retry_on=(ConnectionError,))
            )
            await ex.wait_for_completion()
            r = await ex.get_result(tid)
            n = await ex.get_result(no_retry)
        assert r.status is TaskStatus.COMPLETED and r.value == "second attempt" and r.attempts == 2
        assert n.status is TaskStatus.FAILED and n.attempts == 1  # ValueError is not retried
        rows = ex.record().tasks.query("task_id == @tid")
        assert list(rows["attempt"]) == [1, 2]
        assert list(rows["status"]) == ["failed", "completed"]
        assert rows["error_type"].iloc[0] == "ConnectionError"
        assert rows["started_s"].iloc[1] >= rows["finished_s"].iloc[0] + 0.005  # backoff
        assert_one_terminal_each(ex)

    run(main())


def test_stop_cancels_waiting_and_running_and_refuses_new_work(mode):
    async def main():
        ex = executor(mode, max_concurrent_tasks=2)
        await ex.start()
        ids = [await ex.submit_task(Task(body(mode, "sleep"), (30,))) for _ in range(5)]
        await until(lambda: len(started_ids(ex)) == 2, what="two attempts running")
        await ex.stop(timeout=0.2)
        with pytest.raises(sl.ExecutorClosedError):
            await ex.submit_task(Task(body(mode, "add"), (1, 1)))
        res = await ex.get_all_results()
        assert set(res) == set(ids)
        assert all(r.status is TaskStatus.CANCELLED for r in res.values())
        started = [r for r in res.values() if r.attempts == 1]
        assert len(started) == 2
        assert_one_terminal_each(ex)
        assert live_children() == []

    run(main())


def test_wait_for_completion_times_out_and_metrics_count(mode):
    async def main():
        async with executor(mode) as ex:
            await ex.submit_task(Task(body(mode, "sleep"), (0.5,)))
            assert await ex.wait_for_completion(timeout=0.05) is False
            assert ex.get_metrics().tasks_running == 1
            assert await ex.wait_for_completion(timeout=10) is True
            for i in range(3):
                await ex.submit_task(Task(body(mode, "add"), (i, i)))
            await ex.submit_task(Task(body(mode, "fail")))
            await ex.wait_for_completion()
            m = ex.get_metrics()
        assert (m.tasks_completed, m.tasks_failed, m.tasks_queued, m.tasks_running) == (4, 1, 0, 0)
        assert m.wall_time_s >= 0.5
        assert m.throughput == pytest.approx(4 / m.wall_time_s)

    run(main())


def test_get_result_timeout_and_unknown_id(mode):
    async def main():
        async with executor(mode) as ex:
            tid = await ex.submit_task(Task(body(mode, "sleep"), (0.5,)))
            with pytest.raises(TimeoutError):
                await ex.get_result(tid, timeout=0.01)
            with pytest.raises(sl.ConfigError, match="no task 'nope'"):
                await ex.get_result("nope")
            assert (await ex.get_result(tid, timeout=10)).value == 0.5

    run(main())


def test_cancel_task_cascades(mode):
    async def main():
        async with executor(mode, max_concurrent_tasks=1) as ex:
            run_ = await ex.submit_task(Task(body(mode, "sleep"), (30,), id="running"))
            wait = await ex.submit_task(Task(body(mode, "add"), (1, 1), id="waiting"))
            dep = await ex.submit_task(Task(body(mode, "add"), (1, 1), id="dep", dependencies=["waiting"]))
            await until(lambda: started_ids(ex) == ["running"], what="the first task running")
            assert await ex.cancel_task(wait) is True
            assert await ex.cancel_task(run_) is True
            await ex.wait_for_completion()
            assert await ex.cancel_task(run_) is False
            res = await ex.get_all_results()
        assert res[run_].status is TaskStatus.CANCELLED and res[run_].attempts == 1
        assert res[wait].status is TaskStatus.CANCELLED and res[wait].attempts == 0
        assert res[dep].status is TaskStatus.UPSTREAM_FAILED

    run(main())


def test_queue_full_rejects_batch_and_loses_nothing(mode):
    async def main():
        async with executor(mode, max_concurrent_tasks=1, max_queue_size=3) as ex:
            blocker = await ex.submit_task(Task(body(mode, "sleep"), (30,)))  # runs: not waiting
            await until(lambda: started_ids(ex) == [blocker], what="the first task running")
            ok = await ex.submit_batch([Task(body(mode, "add"), (i, 0)) for i in range(3)])
            with pytest.raises(sl.QueueFullError, match="max_queue_size is 3"):
                await ex.submit_task(Task(body(mode, "add"), (9, 9)))
            assert await ex.cancel_task(blocker)  # its slot goes to the three that wait
            await ex.wait_for_completion()
            res = await ex.get_all_results()
        assert len(res) == 4 and all(res[i].ok for i in ok)

    run(main())


def own_body(mode, name):
    """Like ``body``, but HYBRID gets the coroutine variant (its asyncio route)."""
    return body("asyncio" if mode == "hybrid" else mode, name)


def test_body_raising_cancelled_error_is_a_failure_not_a_kill(mode):
    async def main():
        async with executor(mode) as ex:
            root = Task(own_body(mode, "raise_base"), ("CancelledError",), id="root", timeout=20)
            dep = Task(body(mode, "add"), (1, 1), id="dep", dependencies=[root])
            await ex.submit_batch([root, dep])
            assert await ex.wait_for_completion(timeout=10) is True  # long before its timeout
            res = await ex.get_all_results()
        r = res["root"]
        assert r.status is TaskStatus.FAILED and r.error_type == "CancelledError", r
        assert r.error == "raised by the task body" and r.attempts == 1
        assert res["dep"].status is TaskStatus.UPSTREAM_FAILED
        assert_one_terminal_each(ex)

    run(main())


@pytest.mark.parametrize("exc_name", ["SystemExit", "KeyboardInterrupt"])
def test_body_raising_system_exit_or_keyboard_interrupt_is_a_failure(mode, exc_name):
    async def main():
        async with executor(mode) as ex:
            bad = await ex.submit_task(Task(own_body(mode, "raise_base"), (exc_name,)))
            good = await ex.submit_task(Task(body(mode, "add"), (2, 3)))
            await ex.wait_for_completion()
            return ex, await ex.get_result(bad), await ex.get_result(good)

    ex, r, ok = run(main())
    assert r.status is TaskStatus.FAILED and r.error_type == exc_name, r
    assert ok.value == 5
    assert_one_terminal_each(ex)


def test_concurrent_stops_all_return_after_the_shutdown(mode):
    async def main():
        ex = executor(mode, max_concurrent_tasks=2)
        await ex.start()
        await ex.submit_batch([Task(body(mode, "sleep"), (30,)) for _ in range(3)])
        await until(lambda: len(started_ids(ex)) == 2, what="two attempts running")
        first = asyncio.ensure_future(ex.stop(timeout=0.3))
        await asyncio.sleep(0)  # the first stop is under way
        assert ex.state == "stopping"
        await ex.stop()  # returns only once the shutdown the first began is over
        assert ex.state == "stopped"
        assert live_children() == []
        res = await ex.get_all_results()
        assert len(res) == 3 and all(r.status is TaskStatus.CANCELLED for r in res.values())
        await first
        await ex.stop()  # a stopped executor: nothing to do
        assert_one_terminal_each(ex)

    run(main())


def test_result_attempts_agree_with_the_attempt_rows(mode, tmp_path):
    async def main():
        async with executor(mode, max_concurrent_tasks=1) as ex:
            first = await ex.submit_task(Task(body(mode, "sleep"), (30,), id="first"))
            flaky = await ex.submit_task(Task(body(mode, "fail_first"), (str(tmp_path / "m"),), id="flaky",
                                              max_retries=1, retry_backoff_s=0.01))
            dep = await ex.submit_task(Task(body(mode, "add"), (1, 1), id="dep", dependencies=[first]))
            await until(lambda: started_ids(ex) == ["first"], what="the first task running")
            await ex.cancel_task(first)  # it ran; its dependent never will
            await ex.wait_for_completion()
            return ex, await ex.get_all_results()

    ex, res = run(main())
    rows = ex.record().tasks
    for tid, r in res.items():
        mine = rows[rows["task_id"] == tid]
        ran = mine[mine["started_s"].notna()]
        assert r.attempts == len(ran) and list(ran["attempt"]) == list(range(1, r.attempts + 1)), tid
    assert res["dep"].status is TaskStatus.UPSTREAM_FAILED and res["dep"].attempts == 0
    assert list(rows.loc[rows["task_id"] == "dep", "attempt"]) == [0]  # its one row: no attempt ran
    assert res["flaky"].attempts == 2 and res["first"].attempts == 1


@pytest.mark.parametrize("mode", ["thread", "hybrid"])
def test_sync_attempts_that_wait_for_each_other_each_get_a_thread(mode):
    """Each attempt handed to the threads starts while the others block: all of a burst
    at once (the threads, asleep after a first batch, wake one another) and one at a
    time while the earlier ones wait. Any attempt held back behind a blocked one would
    break the barrier."""
    import threading

    n = 12
    barrier = threading.Barrier(n, timeout=20)

    async def main():
        async with executor(mode, max_concurrent_tasks=n) as ex:
            warm = await ex.submit_batch([Task(barrier.wait, kind="io") for _ in range(n)])
            assert await ex.wait_for_completion(30)  # n threads now, all asleep
            burst = await ex.submit_batch([Task(barrier.wait, kind="io") for _ in range(n)])
            assert await ex.wait_for_completion(30)
            singles = []
            for i in range(n - 1):  # each handed over once the earlier ones are blocked
                singles.append(await ex.submit_task(Task(barrier.wait, kind="io")))
                await until(lambda k=i + 1: barrier.n_waiting == k, what=f"{i + 1} attempts at the barrier")
            singles.append(await ex.submit_task(Task(barrier.wait, kind="io")))
            assert await ex.wait_for_completion(30)
            res = await ex.get_all_results()
        assert {res[i].status for i in warm + burst + singles} == {TaskStatus.COMPLETED}
        assert {res[i].mode for i in res} == {"thread"}

    run(main())


@pytest.mark.parametrize("order", ["quick_first", "interleaved", "quick_last"])
def test_quick_attempts_in_a_burst_never_leave_a_blocking_one_holding_up_the_rest(order):
    """A thread that finishes a quick attempt looks for the next one, so a thread taking
    an attempt while it is awake wakes nobody; when the next one it takes blocks, the
    attempts behind it must still each get a thread. Bursts that mix quick attempts with
    ones that wait for each other at a barrier: any attempt held back behind a blocked
    one breaks the barrier."""
    import threading

    n = 6
    barrier = threading.Barrier(n, timeout=20)
    waits = [Task(barrier.wait) for _ in range(n)]
    quick = [Task(sum, ((1, 2),)) for _ in range(n)]
    burst = {"quick_first": quick + waits, "quick_last": waits + quick,
             "interleaved": [t for pair in zip(quick, waits) for t in pair]}[order]

    async def main():
        async with executor("thread", max_concurrent_tasks=2 * n) as ex:
            for _ in range(3):  # the threads asleep after each burst, then woken again
                ids = await ex.submit_batch([Task(t.fn, t.args) for t in burst])
                assert await ex.wait_for_completion(30)
                res = await ex.get_all_results()
                assert {res[i].status for i in ids} == {TaskStatus.COMPLETED}

    run(main())
