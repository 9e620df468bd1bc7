"""The local fake provider of the agent-swarm workload: its limits, its 429s, its bill."""

import pytest
from conftest import run

import swarmlab as sl
from swarmlab.errors import ConfigError, RateLimited
from swarmlab.model import ResourceLimits, Task
from swarmlab.workloads.provider import GRACE_S, FakeProvider, ProviderLimits


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _provider(**kw):
    clock = Clock()
    lim = {"concurrency": 8, "rpm": 100, "tpm": 10_000, "window_s": 10}
    lim.update(kw)
    return FakeProvider(ProviderLimits(**lim), usd_per_mtok_in=2.0, usd_per_mtok_out=10.0, clock=clock), clock


def test_an_admitted_call_is_billed_its_tokens_at_the_prices():
    p, _ = _provider()
    usage, _end = p.admit(1000, 200, 0.5)
    assert (usage.tokens, p.calls, p.billed_tokens) == (1200, 1, 1200)
    assert usage.cost_usd == pytest.approx(1000 * 2e-6 + 200 * 10e-6) == pytest.approx(p.billed_usd)


def test_calls_past_the_concurrency_are_refused_until_the_first_in_flight_ends():
    p, clock = _provider(concurrency=2)
    _, end1 = p.admit(10, 10, 3.0)
    p.admit(10, 10, 5.0)
    clock.t = 1.0
    with pytest.raises(RateLimited) as e:
        p.admit(10, 10, 1.0)
    assert (e.value.resource, e.value.retry_after_s) == ("llm", pytest.approx(2.0))
    assert (p.calls, p.billed_tokens, p.refused["llm"]) == (2, 40, 1)  # a refusal is never billed
    p.finished(end1)
    p.admit(10, 10, 1.0)
    assert p.in_flight == 2


@pytest.mark.parametrize("limit, tokens, which, after", [
    ({"rpm": 2}, 10, "rpm", 5.0),  # 2 per 10 s: a third request waits 5 s for one
    ({"tpm": 1000}, 400, "tpm", 2.0),  # 1000 per 10 s: 200 short takes 2 s
])
def test_requests_and_tokens_per_window_are_buckets_with_a_retry_after(limit, tokens, which, after):
    p, clock = _provider(**limit)
    for _ in range(2):
        _usage, end = p.admit(tokens // 2, tokens // 2, 0.0)
        p.finished(end)
    with pytest.raises(RateLimited) as e:
        p.admit(tokens // 2, tokens // 2, 0.0)
    assert (e.value.resource, e.value.retry_after_s) == (which, pytest.approx(after - GRACE_S))
    clock.t = after - GRACE_S - 0.01
    with pytest.raises(RateLimited):
        p.admit(tokens // 2, tokens // 2, 0.0)
    clock.t = after - GRACE_S
    p.admit(tokens // 2, tokens // 2, 0.0)  # never earlier than it said, and then at once
    assert p.refused[which] == 2 and p.calls == 3


def test_higher_tiers_scale_every_limit_and_declare_as_pools_and_rates():
    lim = ProviderLimits(concurrency=3, rpm=60, tpm=6000, window_s=6).scaled(2)
    assert (lim.concurrency, lim.rpm, lim.tpm, lim.window_s) == (6, 120, 12000, 6)
    rl = lim.resource_limits(task_timeout=5)
    assert rl.pools == {"llm": 6} and rl.task_timeout == 5
    assert (rl.rates["rpm"].limit, rl.rates["rpm"].per_s) == (120, 6)
    assert rl.rates["tpm"].reported == "tokens"


@pytest.mark.parametrize("make, match", [
    (lambda: ProviderLimits(0, 1, 1), "concurrency"),
    (lambda: ProviderLimits(1, -1, 1), "rpm"),
    (lambda: ProviderLimits(1, 1, 1, window_s=0), "window_s"),
    (lambda: ProviderLimits(1, 1, 1).scaled(0), "tier"),
    (lambda: FakeProvider({"rpm": 1}), "ProviderLimits"),
    (lambda: _provider()[0].admit(-1, 0, 0.1), "tokens_in"),
    (lambda: _provider()[0].admit(1, 0, float("nan")), "latency_s"),
    (lambda: _provider(tpm=100)[0].admit(100, 1, 0.1), "never fit"),
])
def test_bad_provider_input_is_refused_naming_it(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_calls_granted_on_time_and_delayed_unevenly_are_never_refused():
    """A client's bucket grants each call the moment it holds the units; the body reaches
    the provider later, by a delay that varies with the machine's load (up to GRACE_S),
    so a call whose predecessor was delayed more arrives early for the provider's bucket
    of the same limits. It is admitted; one early by more than GRACE_S is refused, with
    the retry-after that admits it."""
    step = GRACE_S  # a request every GRACE_S after the first ten
    p, clock = _provider(rpm=10, window_s=10 * step)
    granted = [0.0] * 10 + [k * step for k in range(1, 21)]  # what the client's bucket grants
    delays = [step] * 10 + [step if k % 2 else 0.0 for k in range(1, 21)]  # late, on time, late...
    for t in sorted(g + d for g, d in zip(granted, delays)):
        clock.t = t
        p.finished(p.admit(10, 10, 0.0)[1])
    assert (p.calls, sum(p.refused.values())) == (30, 0)
    clock.t = 20 * step  # with the last two: the next is due 2 steps on, GRACE_S is one
    with pytest.raises(RateLimited) as e:
        p.admit(10, 10, 0.0)
    assert (e.value.resource, e.value.retry_after_s) == ("rpm", pytest.approx(2 * step - GRACE_S))
    clock.t += e.value.retry_after_s
    p.admit(10, 10, 0.0)
    assert (p.calls, p.refused["rpm"]) == (31, 1)


def test_a_swarm_that_declares_the_providers_limits_is_never_refused():
    """Each task makes one call: declared as the task's units, the dispatcher's pool and
    buckets keep it within what the provider enforces, on the same model (the body's
    varying delay to the provider within its GRACE_S)."""
    lim = ProviderLimits(concurrency=3, rpm=8, tpm=4000, window_s=0.4)
    provider = FakeProvider(lim)

    async def call():
        return (await provider.complete(100, 100, 0.01)).tokens

    async def main():
        async with sl.ParallelExecutor(mode="asyncio", limits=lim.resource_limits(task_timeout=30)) as ex:
            await ex.submit_batch([Task(call, resources={"llm": 1, "rpm": 1, "tpm": 200}) for _ in range(30)])
            assert await ex.wait_for_completion(60)
            return ex.record()

    rec = run(main())
    assert rec.final()["status"].eq("completed").all()
    assert (provider.calls, sum(provider.refused.values()), provider.billed_tokens) == (30, 0, 30 * 200)


def test_a_swarm_that_does_not_declare_them_draws_429s_that_are_never_billed():
    lim = ProviderLimits(concurrency=2, rpm=1000, tpm=100_000, window_s=1)
    provider = FakeProvider(lim)

    async def call():
        return (await provider.complete(10, 10, 0.02)).tokens

    async def main():
        async with sl.ParallelExecutor(mode="asyncio", limits=ResourceLimits(task_timeout=30)) as ex:
            await ex.submit_batch([Task(call) for _ in range(12)])
            assert await ex.wait_for_completion(60)
            return ex.record()

    rec = run(main())
    assert rec.final()["status"].eq("completed").all()  # each refusal retried after the provider's word
    refused = int((rec.tasks["status"] == "rate_limited").sum())
    assert refused == provider.refused["llm"] > 0
    assert provider.billed_tokens == 12 * 20  # what was refused was not paid
