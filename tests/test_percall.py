"""A provider's limits per call: swarmlab.acquire and swarmlab.call (issue 25, item 1)."""

import asyncio
import threading
import time

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import Agent, RateLimit, ResourceLimits, Task
from swarmlab.core.dispatcher import Dispatcher
from swarmlab.errors import ConfigError, RateLimited
from swarmlab.events import Recorder
from swarmlab.scheduling.registry import resolve_policy
from swarmlab.workloads.provider import FakeProvider, ProviderLimits

# ---------------------------------------------------------------- the core, on virtual time


def _dispatcher(n_tasks=3, **limits):
    d = Dispatcher([Agent("a", capacity=8)], resolve_policy("round_robin"),
                   ResourceLimits(task_timeout=None, **limits), Recorder())
    d.submit([Task(None, id=f"t{i}") for i in range(n_tasks)], 0.0)
    return d, d.take_starts(0.0)


def test_calls_wait_first_come_first_served_and_go_when_units_come_back():
    d, (a, b, c) = _dispatcher(pools={"llm": 2})
    calls = d.membership.use_units().use_calls()
    ga = calls.ask(a, 1, {"llm": 1}, 0.0)
    gb = calls.ask(b, 1, {"llm": 1}, 0.0)
    gc = calls.ask(c, 1, {"llm": 1}, 0.5)
    assert (ga.granted_s, gb.granted_s, gc.granted_s) == (0.0, 0.0, None)
    calls.give_back(ga, 2.0)
    assert calls.take_granted() == [gc] and gc.granted_s == 2.0 and gc.wait_s == 1.5
    assert d.units.free["llm"] == 0


def test_a_call_spends_a_rate_and_the_next_waits_for_the_bucket():
    d, (a, b, _) = _dispatcher(rates={"rpm": RateLimit(2, per_s=10)})  # 1 unit every 5 s
    calls = d.membership.use_units().use_calls()
    for st in (a, b):
        calls.give_back(calls.ask(st, 1, {"rpm": 1}, 0.0), 0.0)  # spent, not given back
    g = calls.ask(a, 1, {"rpm": 1}, 1.0)
    assert g.granted_s is None and d.next_wakeup() == pytest.approx(5.0)
    d.wake(4.9)
    assert g.granted_s is None
    d.wake(5.0)
    assert calls.take_granted() == [g] and g.wait_s == pytest.approx(4.0)


def test_while_a_call_waits_no_new_task_that_needs_its_resource_starts():
    d = Dispatcher([Agent("a", capacity=8)], resolve_policy("round_robin"),
                   ResourceLimits(task_timeout=None, pools={"llm": 1}), Recorder())
    d.submit([Task(None, id="running")], 0.0)
    (running,) = d.take_starts(0.0)
    calls = d.membership.use_units().use_calls()
    g1 = calls.ask(running, 1, {"llm": 1}, 0.0)
    d.submit([Task(None, id="caller")], 0.0)
    (caller,) = d.take_starts(0.0)
    g2 = calls.ask(caller, 1, {"llm": 1}, 0.0)  # waits behind g1
    d.submit([Task(None, id="new", resources={"llm": 1}), Task(None, id="free")], 1.0)
    assert [st.id for st in d.take_starts(1.0)] == ["free"]  # "new" is held: the call goes first
    calls.give_back(g1, 2.0)
    assert calls.take_granted() == [g2]
    assert d.take_starts(2.0) == []  # the unit went to the call
    calls.give_back(g2, 3.0)
    assert [st.id for st in d.take_starts(3.0)] == ["new"]


def test_an_attempt_that_ends_gives_its_calls_back_and_withdraws_those_that_wait():
    d, (a, b, _) = _dispatcher(pools={"llm": 1})
    calls = d.membership.use_units().use_calls()
    calls.ask(a, 1, {"llm": 1}, 0.0)  # never given back by the body
    gb = calls.ask(b, 1, {"llm": 1}, 0.0)
    d.finish(b, b.attempt, 1.0, sl.TaskStatus.FAILED, exc=ValueError("x"))
    assert calls.dropped == [(gb, None)] and not calls.waiting
    d.finish(a, a.attempt, 2.0, sl.TaskStatus.COMPLETED)
    assert d.units.free["llm"] == 1 and not calls.held


def test_an_abandoned_attempt_keeps_its_call_units_until_it_returns():
    d, (a, _, _) = _dispatcher(pools={"llm": 1})
    calls = d.membership.use_units().use_calls()
    calls.ask(a, 1, {"llm": 1}, 0.0)
    d.finish(a, a.attempt, 1.0, sl.TaskStatus.TIMED_OUT, abandoned=True)
    assert d.units.free["llm"] == 0
    assert d.release(a, 1, 2.0) and d.units.free["llm"] == 1


def test_units_a_task_holds_already_are_not_asked_again():
    d = Dispatcher([Agent("a")], resolve_policy("round_robin"),
                   ResourceLimits(task_timeout=None, pools={"llm": 1}, rates={"rpm": RateLimit(10)}), Recorder())
    d.submit([Task(None, id="t", resources={"llm": 1})], 0.0)
    (st,) = d.take_starts(0.0)
    g = d.units.use_calls().ask(st, 1, {"llm": 1, "rpm": 1}, 0.0)  # the pool of 1 is the task's own
    assert g.granted_s == 0.0 and g.pool == () and g.rate == (("rpm", 1.0),)


@pytest.mark.parametrize("wanted, match", [
    ({"gpu": 1}, "no pool .* or rate"),
    ({"llm": 3}, "asks 3 units of pool 'llm', which holds 2"),
    ({"llm": -1}, "acquire\\(\\) units"),
    ({"llm": float("nan")}, "acquire\\(\\) units"),
])
def test_bad_call_units_are_refused_naming_them(wanted, match):
    d, (a, _, _) = _dispatcher(pools={"llm": 2})
    with pytest.raises(ConfigError, match=match):
        d.membership.use_units().use_calls().ask(a, 1, wanted, 0.0)


# ---------------------------------------------------------------- in real bodies

class InFlight:
    """Counts calls in flight; the most at once."""

    def __init__(self):
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def enter(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self):
        with self.lock:
            self.now -= 1


@pytest.mark.parametrize("mode", ["asyncio", "thread"])
def test_acquire_caps_calls_in_flight_not_tasks_and_records_the_wait(mode):
    flight = InFlight()
    tasks_running = InFlight()
    all_in = threading.Event()  # every task runs before any calls: the pool, not the start, must bound the calls

    def arrive():
        tasks_running.enter()
        if tasks_running.now == 6:
            all_in.set()

    async def body_async():
        arrive()
        try:
            while not all_in.is_set():
                await asyncio.sleep(0.001)
            for _ in range(3):
                async with sl.acquire(llm=1):
                    flight.enter()
                    await asyncio.sleep(0.01)
                    flight.leave()
        finally:
            tasks_running.leave()

    def body_sync():
        arrive()
        try:
            all_in.wait(30)
            for _ in range(3):
                with sl.acquire(llm=1):
                    flight.enter()
                    time.sleep(0.01)
                    flight.leave()
        finally:
            tasks_running.leave()

    async def main():
        lim = ResourceLimits(task_timeout=60, pools={"llm": 2})
        async with sl.ParallelExecutor(mode, limits=lim, agents=[Agent("a", capacity=6)]) as ex:
            await ex.submit_batch([Task(body_async if mode == "asyncio" else body_sync) for _ in range(6)])
            assert await ex.wait_for_completion(60)
            return ex.record()

    rec = run(main())
    assert rec.final()["status"].eq("completed").all()
    assert flight.peak <= 2 and tasks_running.peak == 6  # the pool bounds the calls, not the tasks
    assert rec.tasks["limit_wait_s"].fillna(0).sum() > 0  # 6 calls at once for 2 units: 4 waited


def _provider_tasks(provider, n, calls_per_task, declared):
    units = {"llm": 1, "rpm": 1, "tpm": 40} if declared else None

    async def agent_task():
        spent = 0
        for _ in range(calls_per_task):
            usage = await sl.call(provider.complete, 20, 20, 0.005, units=units)
            spent += usage.tokens
        sl.report(tokens=spent)
        return spent

    return [Task(agent_task, id=f"t{i}") for i in range(n)]


def test_call_retries_a_refused_call_alone_so_nothing_is_paid_twice():
    provider = FakeProvider(ProviderLimits(concurrency=2, rpm=10_000, tpm=10**7, window_s=1))

    async def main():
        async with sl.ParallelExecutor("asyncio", limits=ResourceLimits(task_timeout=60),
                                       agents=[Agent("a", capacity=8)]) as ex:
            await ex.submit_batch(_provider_tasks(provider, 8, 3, declared=False))
            assert await ex.wait_for_completion(60)
            return ex.record()

    rec = run(main())
    t = rec.tasks
    assert t["status"].eq("completed").all() and len(t) == 8  # one attempt each: the task never re-ran
    refused = sum(provider.refused.values())
    assert refused > 0 and t["n_rate_limited"].fillna(0).sum() == refused  # each refusal counted where it fell
    assert provider.calls == 8 * 3 and provider.billed_tokens == t["tokens"].sum() == 8 * 3 * 40


def test_declared_limits_per_call_mean_no_refusal():
    provider = FakeProvider(ProviderLimits(concurrency=2, rpm=12, tpm=10**6, window_s=0.5))

    async def main():
        lim = provider.limits.resource_limits(task_timeout=60)
        async with sl.ParallelExecutor("asyncio", limits=lim, agents=[Agent("a", capacity=8)]) as ex:
            await ex.submit_batch(_provider_tasks(provider, 8, 3, declared=True))
            assert await ex.wait_for_completion(60)
            return ex.record()

    rec = run(main())
    assert rec.tasks["status"].eq("completed").all()
    assert sum(provider.refused.values()) == 0 and provider.calls == 24
    assert rec.tasks["limit_wait_s"].sum() > 0  # 24 requests at 12 a half second: the rate made calls wait


def test_call_retries_after_the_providers_retry_after_and_pauses_the_pool():
    refusals = []

    def flaky(x):
        if not refusals:
            refusals.append(time.monotonic())
            raise RateLimited(0.2, resource="llm")
        return (x, time.monotonic())

    def body(x):
        return sl.call(flaky, x, units={"llm": 1})

    async def main():
        lim = ResourceLimits(task_timeout=60, pools={"llm": 4})
        async with sl.ParallelExecutor("thread", limits=lim, agents=[Agent("a", capacity=1)]) as ex:
            await ex.submit_task(Task(body, (1,), id="first"))
            assert await ex.wait_for_completion(60)
            return await ex.get_all_results(), ex.record()

    results, rec = run(main())
    _, answered = results["first"].value
    assert answered - refusals[0] >= 0.2  # never earlier than the provider said
    assert rec.tasks["n_rate_limited"].tolist() == [1.0] and rec.tasks["status"].tolist() == ["completed"]


def test_acquire_is_refused_outside_a_body_in_a_worker_process_and_as_a_plain_with_in_a_coroutine():
    with pytest.raises(ConfigError, match="outside an attempt"):
        with sl.acquire(llm=1):
            pass

    async def plain_with():
        with sl.acquire(llm=1):
            pass

    async def main(mode, fn):
        lim = ResourceLimits(task_timeout=60, pools={"llm": 1})
        async with sl.ParallelExecutor(mode, limits=lim) as ex:
            await ex.submit_task(Task(fn, id="t"))
            await ex.wait_for_completion(60)
            return (await ex.get_all_results())["t"]

    r = run(main("asyncio", plain_with))
    assert r.error_type == "ConfigError" and "async with swarmlab.acquire" in r.error
    r = run(main("process", acquire_in_a_worker))
    assert r.error_type == "ConfigError" and "runs in a worker process" in r.error


def acquire_in_a_worker():
    import swarmlab

    with swarmlab.acquire(llm=1):
        pass


def test_what_the_calls_took_counts_as_declared_when_the_body_reports():
    """A rate trued up by the reported tokens: the tokens the calls took per call are
    declared, so a body that spent what its calls asked for leaves the bucket as it was."""
    d, (a, _, _) = _dispatcher(rates={"tpm": RateLimit(1000, per_s=60, reported="tokens")})
    calls = d.membership.use_units().use_calls()
    for _ in range(2):
        calls.give_back(calls.ask(a, 1, {"tpm": 100}, 0.0), 0.0)
    d.finish(a, a.attempt, 0.0, sl.TaskStatus.COMPLETED, reported={"tokens": 250})
    assert d.units.buckets["tpm"].available(0.0) == pytest.approx(1000 - 250)  # not 1000 - 200 - 250
    assert not calls.spent
