"""Resources a task needs: agent units, pools and rates (issue 24)."""

import math
import pickle

import pytest

import swarmlab as sl
from swarmlab.core.bucket import TokenBucket
from swarmlab.model import Agent, RateLimit, ResourceLimits, Task

# ---------------------------------------------------------------- the token bucket


def test_a_bucket_starts_full_gives_what_it_holds_and_refills_continuously():
    b = TokenBucket(120, 60, now=0.0)  # 120 a minute: 2 a second
    assert b.available(0.0) == 120
    assert b.take(100, 0.0) and not b.take(30, 0.0)  # a refusal takes nothing
    assert b.available(0.0) == 20
    assert b.when(30, 0.0) == pytest.approx(5.0)  # 10 short at 2 a second
    assert not b.take(30, 4.9) and b.take(30, 5.0)
    assert b.available(1000.0) == 120  # never more than it holds


def test_the_time_a_bucket_names_is_enough_whatever_the_rounding():
    b = TokenBucket(7, 3.3, now=0.1)
    t = 0.1
    for _ in range(1000):  # take 1.3 units again and again, each at the time it names
        t = b.when(1.3, t)
        assert b.take(1.3, t)
    assert t == pytest.approx(0.1 + (1000 * 1.3 - 7) / (7 / 3.3), rel=1e-9)


def test_a_need_larger_than_the_bucket_is_never_met():
    assert TokenBucket(5, 1, now=0.0).when(6, 0.0) == math.inf


def test_reported_spending_beyond_what_was_taken_is_a_debt_the_refill_pays_first():
    b = TokenBucket(10, 10, now=0.0)  # 1 a second
    assert b.take(2, 0.0)
    b.charge(10, 0.0)  # spent 12 where 2 were declared
    assert b.available(0.0) == pytest.approx(-2)
    assert b.when(1, 0.0) == pytest.approx(3.0)
    b.charge(-100, 3.0)  # spent far less than declared: back to full, never more
    assert b.available(3.0) == 10


def test_a_bucket_can_start_partly_spent():
    b = TokenBucket(10, 10, now=5.0, level=4)
    assert b.available(5.0) == 4 and b.when(6, 5.0) == pytest.approx(7.0)


# ---------------------------------------------------------------- declared at the boundary


def test_tasks_agents_and_limits_take_units_by_name():
    t = Task(None, resources={"gpu": 1, "llm": 1, "unused": 0})
    assert t.resources == {"gpu": 1.0, "llm": 1.0}  # zero units hold nothing
    assert Task(None).resources is None and Task(None, resources={}).resources is None
    a = Agent("g", resources={"gpu": 2}, devices=[3, 1])
    assert a.resources == {"gpu": 2.0} and a.devices == (3, 1)
    lim = ResourceLimits(pools={"llm": 8}, rates={"rpm": RateLimit(120, per_s=60, reported="requests")})
    assert lim.pools == {"llm": 8.0} and lim.rates["rpm"].limit == 120 and lim.rates["rpm"].reported == "requests"
    assert RateLimit(100).per_s == 60  # per minute unless said otherwise


@pytest.mark.parametrize("make, match", [
    (lambda: Task(None, resources={"gpu": -1}), r"Task resources\['gpu'\] must be a finite number of units >= 0"),
    (lambda: Task(None, resources={"gpu": math.nan}), "finite number of units"),
    (lambda: Task(None, resources={"llm": math.inf}), "finite number of units"),
    (lambda: Task(None, resources={"gpu": True}), "finite number of units"),
    (lambda: Task(None, resources={"": 1}), "non-empty str"),
    (lambda: Task(None, resources=["gpu"]), "a dict of resource name -> units"),
    (lambda: Task(None, resources={"gpu": 1.5}), "whole devices, or a share of one below 1"),
    (lambda: Agent("a", resources={"gpu": 0.5}), "counts whole devices"),
    (lambda: Agent("a", resources={"gpu": 1}, devices=[0, 1]), r"names 2 devices \[0, 1\] but holds"),
    (lambda: Agent("a", resources={"gpu": 2}, devices=[1, 1]), "distinct device indices"),
    (lambda: Agent("a", resources={"gpu": 1}, devices=[-1]), "distinct device indices"),
    (lambda: ResourceLimits(pools={"llm": 0}), r"pools\['llm'\] must be > 0"),
    (lambda: ResourceLimits(pools={"llm": -2}), "finite number of units"),
    (lambda: ResourceLimits(rates={"rpm": 120}), r"rates\['rpm'\] must be a RateLimit"),
    (lambda: ResourceLimits(pools={"x": 1}, rates={"x": RateLimit(1)}), "unique across pools and rates"),
    (lambda: RateLimit(0), "RateLimit limit"),
    (lambda: RateLimit(10, per_s=0), "RateLimit per_s"),
    (lambda: RateLimit(10, per_s=-1), "RateLimit per_s"),
    (lambda: RateLimit(math.inf), "RateLimit limit"),
    (lambda: RateLimit(10, reported=""), "RateLimit reported"),
])
def test_bad_units_are_refused_at_the_boundary_naming_the_resource(make, match):
    with pytest.raises(sl.ConfigError, match=match):
        make()


def test_limits_with_rates_survive_the_round_trip_of_a_journaled_spec():
    import dataclasses
    import json

    lim = ResourceLimits(pools={"llm": 4}, rates={"tpm": RateLimit(3000, per_s=60, reported="tokens")})
    back = ResourceLimits(**json.loads(json.dumps(dataclasses.asdict(lim))))
    assert back == lim


def test_rate_limited_says_what_the_provider_said_and_travels_whole():
    e = sl.RateLimited(2.5, resource="rpm")
    assert (e.retry_after_s, e.resource) == (2.5, "rpm") and "retry after 2.5 s" in str(e)
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), back.retry_after_s, back.resource) == (sl.RateLimited, 2.5, "rpm")
    assert sl.RateLimited().retry_after_s is None
    with pytest.raises(sl.ConfigError, match="retry_after_s must be a finite number"):
        sl.RateLimited(-1)


# ---------------------------------------------------------------- scheduling with units (virtual time)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402

from swarmlab import Policy, SchedulingAlgorithm, TaskScheduler, simulate  # noqa: E402
from swarmlab.core.units import MAX_RATE_LIMITED, RESERVE_AFTER_S  # noqa: E402
from swarmlab.errors import ConfigError, NoEligibleAgentError, RateLimited  # noqa: E402

EPS = 1e-9


def _limits(**kw):
    return ResourceLimits(task_timeout=None, **kw)


def _ran(rec):
    """Attempts that started: (task_id, agent_id, started_s, finished_s)."""
    t = rec.tasks.dropna(subset=["started_s"])
    return list(zip(t["task_id"], t["agent_id"], t["started_s"], t["finished_s"]))


def _peak(intervals):
    """The most units held at once: ends at an instant come before starts."""
    edges = sorted([(s, 1, n) for s, e, n in intervals] + [(e, 0, -n) for s, e, n in intervals])
    level = peak = 0.0
    for _, _, n in edges:
        level += n
        peak = max(peak, level)
    return peak


def assert_within_capacity(rec, tasks, agents, limits):
    need = {t.id: (t.resources or {}) for t in tasks}
    ran = _ran(rec)
    for name, size in limits.pools.items():
        assert _peak([(s, e, need[i].get(name, 0)) for i, _, s, e in ran]) <= size + EPS, name
    for a in agents:
        for name, held in (a.resources or {}).items():
            assert _peak([(s, e, need[i].get(name, 0)) for i, ag, s, e in ran if ag == a.id]) <= held + EPS
    for name, r in limits.rates.items():
        b = TokenBucket(r.limit, r.per_s, now=0.0)
        for i, _, s, _ in sorted(ran, key=lambda x: x[2]):
            n = need[i].get(name, 0)
            if n:
                assert b.take(n, s), (name, i, s)


def test_a_pool_of_two_never_runs_three_at_once():
    tasks = [Task(None, id=f"t{i}", estimate_s=1.0, resources={"llm": 1}) for i in range(7)]
    agents = [Agent(f"a{i}", capacity=4) for i in range(3)]
    limits = _limits(pools={"llm": 2})
    rec = simulate(tasks, agents, limits=limits)
    assert _peak([(s, e, 1) for _, _, s, e in _ran(rec)]) == 2
    assert rec.tasks["finished_s"].max() == 4.0  # 7 one-second tasks, two at a time
    assert rec.meta["resources"]["pools"] == {"llm": 2.0}
    assert rec.meta["resources"]["held_s"]["llm"] > 0


def test_gpu_tasks_go_only_to_agents_holding_gpus_and_never_overlap_on_one():
    tasks = [Task(None, id=f"g{i}", estimate_s=1.0, resources={"gpu": 1}) for i in range(4)]
    tasks += [Task(None, id=f"c{i}", estimate_s=1.0) for i in range(4)]
    agents = [Agent("gpu0", capacity=4, resources={"gpu": 1}), Agent("cpu", capacity=4)]
    for alg in ("round_robin", "least_loaded"):
        rec = simulate(tasks, agents, limits=_limits(), scheduler=alg)
        gpu = [(s, e, 1) for i, a, s, e in _ran(rec) if i.startswith("g")]
        assert {a for i, a, _, _ in _ran(rec) if i.startswith("g")} == {"gpu0"}
        assert _peak(gpu) == 1


def test_fractional_units_share_one_device():
    tasks = [Task(None, id=f"h{i}", estimate_s=1.0, resources={"gpu": 0.5}) for i in range(4)]
    rec = simulate(tasks, [Agent("a", capacity=4, resources={"gpu": 1})], limits=_limits())
    assert sorted(s for _, _, s, _ in _ran(rec)) == [0.0, 0.0, 1.0, 1.0]


def test_a_rate_spaces_starts_exactly_as_the_bucket_says():
    rate = RateLimit(3, per_s=6.0)  # 3 in the bucket, one more every 2 s
    tasks = [Task(None, id=f"r{i}", estimate_s=0.25, resources={"rpm": 1}) for i in range(8)]
    rec = simulate(tasks, [Agent(f"a{i}", capacity=8) for i in range(2)], limits=_limits(rates={"rpm": rate}))
    starts = sorted(s for _, _, s, _ in _ran(rec))
    b, t, expected = TokenBucket(3, 6.0, now=0.0), 0.0, []
    for _ in range(8):  # each start at the earliest time the bucket covers it
        t = b.when(1, t)
        assert b.take(1, t)
        expected.append(t)
    assert starts == pytest.approx(expected)
    assert expected == pytest.approx([0, 0, 0, 2, 4, 6, 8, 10])


def test_a_rate_checked_between_refills_keeps_what_it_refilled():
    # One agent: the next task is checked only when the one before ends, half a token
    # refilled since; held for the other half, it starts when the bucket holds one
    # (the check of a task that needs one pool and one rate, nothing else held, is
    # swarmlab's shortest path: what it refilled before it held the task must count).
    rate = RateLimit(1, per_s=1.0)
    tasks = [Task(None, id=f"r{i}", estimate_s=0.5, resources={"rpm": 1}) for i in range(3)]
    rec = simulate(tasks, [Agent("a")], limits=_limits(rates={"rpm": rate}))
    assert sorted(s for _, _, s, _ in _ran(rec)) == pytest.approx([0.0, 1.0, 2.0])


def test_a_held_task_does_not_block_the_next_on_the_same_agent():
    tasks = [Task(None, id="big", estimate_s=1.0, resources={"llm": 2}, priority=9),
             Task(None, id="small", estimate_s=1.0)]
    agents = [Agent("a", capacity=2)]
    limits = _limits(pools={"llm": 2})
    hog = Task(None, id="hog", estimate_s=3.0, resources={"llm": 1}, priority=10)
    rec = simulate([hog] + tasks, agents, limits=limits, scheduler="round_robin")
    s = {i: st for i, _, st, _ in _ran(rec)}
    assert s["small"] == 0.0 and s["big"] == 3.0  # big waits for the hog; small does not wait for big
    ev = rec.events
    assert list(ev.loc[ev["event"] == "held", "detail"]) == ["llm"]


def _stream_and_a_big_one():
    """Four chains of 1-unit, 1 s tasks on a pool of 4, staggered by 0.25 s: a unit
    comes back every 0.25 s and the next task of its chain takes it at once. A 4-unit
    task is ready at t=0.1."""
    tasks = []
    for k in range(4):
        tasks.append(Task(None, id=f"g{k}", estimate_s=0.01 + 0.25 * k))
        for i in range(60):
            tasks.append(Task(None, id=f"c{k}-{i}", estimate_s=1.0, resources={"llm": 1},
                              dependencies=[f"c{k}-{i - 1}" if i else f"g{k}"]))
    tasks.append(Task(None, id="b0", estimate_s=0.1))
    tasks.append(Task(None, id="big", estimate_s=1.0, resources={"llm": 4}, dependencies=["b0"]))
    rec = simulate(tasks, [Agent(f"a{i}", capacity=8) for i in range(2)], limits=_limits(pools={"llm": 4}))
    assert rec.final()["status"].eq("completed").all()
    return float(rec.final().set_index("task_id").loc["big", "started_s"])


def test_a_big_need_is_not_starved_by_a_stream_of_small_ones():
    """It reserves the pool after RESERVE_AFTER_S held; the small tasks running then end
    within 1 s: it starts by 0.1 + RESERVE_AFTER_S + 1 s."""
    assert _stream_and_a_big_one() <= 0.1 + RESERVE_AFTER_S + 1.0


def test_without_the_reservation_the_big_need_would_starve(monkeypatch):
    import swarmlab.core.units as units

    monkeypatch.setattr(units, "RESERVE_AFTER_S", 1e9)
    assert _stream_and_a_big_one() > 50  # it waits for the whole stream: what the reservation prevents


@pytest.mark.parametrize("how", ["failed", "timed_out", "cancelled", "lost"])
def test_units_come_back_at_every_end(how):
    from swarmlab.core.dispatcher import Dispatcher
    from swarmlab.events import Recorder
    from swarmlab.scheduling.registry import resolve_policy as TS

    agents = [Agent("a", capacity=2, resources={"gpu": 1}), Agent("b", capacity=2, resources={"gpu": 1})]
    d = Dispatcher(agents, TS("round_robin"), _limits(pools={"llm": 1}), Recorder())
    d.submit([Task(None, id="x", resources={"llm": 1, "gpu": 1}, max_retries=0),
              Task(None, id="y", resources={"llm": 1, "gpu": 1}, max_retries=0)], 0.0)
    (st,) = d.take_starts(0.0)
    assert d.units.free["llm"] == 0 and st.slot.free_units["gpu"] == 0
    if how == "lost":
        d.membership.lose_agent(st.slot.id, 1.0)
    elif how == "cancelled":
        d.finish(st, st.attempt, 1.0, sl.TaskStatus.CANCELLED)
    else:
        d.finish(st, st.attempt, 1.0, sl.TaskStatus(how), exc=ValueError("x"))
    assert d.units.free["llm"] == 1 and st.slot.free_units["gpu"] == 1
    assert [t.id for t in d.take_starts(1.0)]  # the other one (or x again) now starts


def test_bad_resource_needs_are_refused_at_submit():
    agents = [Agent("a", resources={"gpu": 1})]
    lim = _limits(pools={"llm": 2}, rates={"rpm": RateLimit(10, per_s=60)})
    with pytest.raises(ConfigError, match=r"'nope'.*\['gpu'\].*\['llm'\].*\['rpm'\]"):
        simulate([Task(None, estimate_s=1, resources={"nope": 1})], agents, limits=lim)
    with pytest.raises(ConfigError, match=r"3 units of pool 'llm', which holds 2"):
        simulate([Task(None, estimate_s=1, resources={"llm": 3})], agents, limits=lim)
    with pytest.raises(ConfigError, match=r"11 units of rate 'rpm'.*holds 10"):
        simulate([Task(None, estimate_s=1, resources={"rpm": 11})], agents, limits=lim)
    with pytest.raises(NoEligibleAgentError, match=r"gpu: needs 2, the most an agent holds is 1"):
        simulate([Task(None, estimate_s=1, resources={"gpu": 2})], agents, limits=lim)
    with pytest.raises(ConfigError, match=r"unique across"):
        simulate([Task(None, estimate_s=1)], [Agent("a", resources={"llm": 1})], limits=lim)
    with pytest.raises(ConfigError, match=r"no agent resource"):  # no resources in the run at all
        simulate([Task(None, estimate_s=1, resources={"gpu": 1})], [Agent("a")], limits=_limits())


def _refusing(times, resource=None, after=2.0):
    """A failures model: the first ``times`` attempts of task 'r' are refused."""
    def model(task, attempt):
        if task.id == "r" and attempt <= times:
            return RateLimited(after, resource=resource)
        return None
    return model


def test_rate_limited_retries_after_the_retry_after_without_spending_retries():
    rec = simulate([Task(None, id="r", estimate_s=1.0, max_retries=0)], [Agent("a")], limits=_limits(),
                   failures=_refusing(2))
    t = rec.tasks
    assert list(t["status"]) == ["rate_limited", "rate_limited", "completed"]
    assert list(t["started_s"]) == [0.0, 3.0, 6.0]  # 1 s attempt + 2 s retry-after, twice
    ev = rec.events
    assert list(ev.loc[ev["event"] == "rate_limited", "detail"]) == ["retry after 2s"] * 2


def test_rate_limited_without_a_retry_after_backs_off_exponentially():
    rec = simulate([Task(None, id="r", estimate_s=1.0, retry_backoff_s=0.5)], [Agent("a")], limits=_limits(),
                   failures=_refusing(3, after=None))
    assert list(rec.tasks["started_s"]) == [0.0, 1.5, 3.5, 6.5]  # waits 0.5, 1, 2


def test_rate_limited_on_a_pool_pauses_everything_that_uses_it():
    tasks = [Task(None, id="r", estimate_s=1.0, resources={"llm": 1})]
    tasks += [Task(None, id=f"o{i}", estimate_s=1.0, resources={"llm": 1}) for i in range(2)]
    tasks += [Task(None, id="free", estimate_s=1.0)]
    rec = simulate(tasks, [Agent("a", capacity=4)], limits=_limits(pools={"llm": 1}),
                   failures=_refusing(1, resource="llm", after=5.0))
    s = {i: st for i, _, st, _ in _ran(rec)}
    # r refused at t=1: the pool is paused until t=6, then r (ranked first), o0 and o1 in turn
    assert s["free"] == 0.0 and sorted(s[k] for k in ("r", "o0", "o1")) == [6.0, 7.0, 8.0]


def test_rate_limited_fails_after_the_cap_of_refusals_in_a_row():
    rec = simulate([Task(None, id="r", estimate_s=0.1)], [Agent("a")], limits=_limits(),
                   failures=_refusing(10_000, after=0.0))
    f = rec.final()
    assert f["status"].iloc[0] == "failed" and f["error_type"].iloc[0] == "rate_limited"
    assert (rec.tasks["status"] == "rate_limited").sum() == MAX_RATE_LIMITED


def test_reported_spending_trues_up_the_rate():
    from swarmlab.core.dispatcher import Dispatcher
    from swarmlab.events import Recorder
    from swarmlab.scheduling.registry import resolve_policy as TS

    lim = _limits(rates={"tpm": RateLimit(3000, per_s=60, reported="tokens")})  # 50 a second
    d = Dispatcher([Agent("a", capacity=4)], TS("round_robin"), lim, Recorder())
    d.submit([Task(None, id=f"t{i}", resources={"tpm": 1000}) for i in range(2)], 0.0)
    a, b = d.take_starts(0.0)
    d.finish(a, a.attempt, 0.0, sl.TaskStatus.COMPLETED, reported={"tokens": 3000})
    assert d.units.buckets["tpm"].available(0.0) == pytest.approx(3000 - 2000 - 2000)
    d.finish(b, b.attempt, 0.0, sl.TaskStatus.COMPLETED, reported={"other": 5})  # not a rate's: ignored
    assert d.units.buckets["tpm"].available(0.0) == pytest.approx(-1000)


def test_replay_keeps_resources_and_limits():
    tasks = [Task(None, id=f"t{i}", estimate_s=1.0, resources={"llm": 1, "gpu": 1}) for i in range(4)]
    agents = [Agent("a", capacity=4, resources={"gpu": 2})]
    rec = simulate(tasks, agents, limits=_limits(pools={"llm": 1}))
    again = sl.replay(rec)
    assert sorted(again.tasks["started_s"]) == sorted(rec.tasks["started_s"]) == [0, 1, 2, 3]


class FreestGpu(Policy):
    """A user's policy: the candidate with the most free gpu units."""

    name = "freest_gpu"

    def choose(self, task, candidates):
        return max(candidates, key=lambda a: (a.free_units.get("gpu", 0), -a.queued, -a.idx))


@hst.composite
def resource_workloads(draw):
    n_agents = draw(hst.integers(1, 4))
    agents = [Agent(f"a{i}", capacity=draw(hst.integers(1, 3)),
                    resources={"gpu": draw(hst.integers(1, 2))} if draw(hst.booleans()) or i == 0 else None)
              for i in range(n_agents)]
    pool = draw(hst.sampled_from([1.0, 2.0, 3.5]))
    rate = RateLimit(draw(hst.integers(2, 5)), per_s=draw(hst.sampled_from([1.0, 3.0])))
    tasks = []
    for i in range(draw(hst.integers(1, 25))):
        res = {}
        if draw(hst.booleans()):
            res["llm"] = draw(hst.sampled_from([0.5, 1.0, pool]))
        if draw(hst.booleans()):
            res["rpm"] = draw(hst.integers(1, 2))
        if draw(hst.booleans()):
            res["gpu"] = draw(hst.sampled_from([0.5, 1.0]))
        tasks.append(Task(None, id=f"t{i}", estimate_s=draw(hst.sampled_from([0.1, 0.5, 1.0, 2.0])),
                          priority=draw(hst.integers(1, 10)), resources=res or None))
    return tasks, agents, _limits(pools={"llm": pool}, rates={"rpm": rate})


SCHEDULERS = ([TaskScheduler(a, enable_work_stealing=s) for a in SchedulingAlgorithm for s in (False, True)]
              + [FreestGpu()])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=resource_workloads(), which=hst.integers(0, len(SCHEDULERS) - 1))
def test_no_resource_is_ever_over_capacity(w, which):
    tasks, agents, limits = w
    rec = simulate(tasks, agents, limits=limits, scheduler=SCHEDULERS[which])
    assert rec.final()["status"].eq("completed").all()
    assert_within_capacity(rec, tasks, agents, limits)


def test_every_scheduler_respects_capacity_on_one_mixed_workload():
    import random

    rng = random.Random(7)
    agents = [Agent("a0", capacity=3, resources={"gpu": 2}), Agent("a1", capacity=2, resources={"gpu": 1}),
              Agent("a2", capacity=2)]
    limits = _limits(pools={"llm": 2.5}, rates={"rpm": RateLimit(4, per_s=2.0)})
    tasks = [Task(None, id=f"t{i}", estimate_s=rng.choice([0.1, 0.7, 1.3]), priority=rng.randint(1, 10),
                  resources={k: v for k, v in (("llm", rng.choice([0, 0.5, 1, 2.5])), ("rpm", rng.choice([0, 1, 2])),
                                               ("gpu", rng.choice([0, 0, 0.5, 1, 2]))) if v} or None)
             for i in range(60)]
    for sch in SCHEDULERS:
        rec = simulate(tasks, agents, limits=limits, scheduler=sch)
        assert rec.final()["status"].eq("completed").all(), sch
        assert_within_capacity(rec, tasks, agents, limits)
        again = simulate(tasks, agents, limits=limits, scheduler=sch)
        assert list(again.tasks["started_s"]) == list(rec.tasks["started_s"])  # deterministic


# ---------------------------------------------------------------- real time
import threading  # noqa: E402

from conftest import run, until  # noqa: E402
from tasks import sleep, sleep_async  # noqa: E402


@pytest.mark.parametrize("mode", ["thread", "asyncio", "process"])
def test_a_pool_caps_concurrency_in_real_time(mode):
    fn = sleep_async if mode == "asyncio" else sleep

    async def main():
        lim = ResourceLimits(task_timeout=30, pools={"llm": 2})
        async with sl.ParallelExecutor(mode=mode, limits=lim) as ex:
            await ex.submit_batch([Task(fn, (0.02,), resources={"llm": 1}) for _ in range(8)])
            assert await ex.wait_for_completion(30)
            return ex.record()

    rec = run(main())
    assert rec.final()["status"].eq("completed").all()
    assert _peak([(s, e, 1) for _, _, s, e in _ran(rec)]) <= 2


_refused_once: list = []


async def refuse_once_async():
    if not _refused_once:
        _refused_once.append(1)
        raise RateLimited(0.2, resource="llm")
    return "ok"


def test_rate_limited_pauses_a_pool_in_asyncio():
    _refused_once.clear()

    async def main():
        lim = ResourceLimits(task_timeout=30, pools={"llm": 4})
        async with sl.ParallelExecutor(mode="asyncio", limits=lim) as ex:
            await ex.submit_task(Task(refuse_once_async, id="r", resources={"llm": 1}))
            await until(lambda: _refused_once, what="the refusal")
            await ex.submit_batch([Task(sleep_async, (0.01,), id=f"o{i}", resources={"llm": 1}) for i in range(3)])
            await ex.submit_task(Task(sleep_async, (0.01,), id="free"))
            assert await ex.wait_for_completion(30)
            return ex.record()

    rec = run(main())
    ev = rec.events
    refused_at = float(ev.loc[ev["event"] == "rate_limited", "t_s"].iloc[0])
    starts = ev[ev["event"] == "started"].groupby("task_id", observed=True)["t_s"].max()
    assert all(starts[f"o{i}"] >= refused_at + 0.2 for i in range(3))  # the dispatcher's clock: a rule, not a timing
    assert list(rec.final().set_index("task_id").loc[["r"], "status"]) == ["completed"]
    assert "rate_limited" in set(rec.tasks["status"])


_gate = threading.Event()
_order: list = []


def hold_gate():
    _gate.wait(30)
    _order.append("abandoned returned")


def note_start():
    _order.append("next started")


def test_an_abandoned_thread_keeps_its_units_until_it_returns():
    _gate.clear()
    _order.clear()

    async def main():
        lim = ResourceLimits(task_timeout=30, pools={"llm": 1})
        async with sl.ParallelExecutor(mode="thread", limits=lim) as ex:
            await ex.submit_task(Task(hold_gate, id="slow", timeout=0.05, max_retries=0, resources={"llm": 1}))
            await until(lambda: any(e[sl.events.EVENT.event] == "abandoned" for e in ex.recorder.since(0)),
                        what="the abandonment")
            await ex.submit_task(Task(note_start, id="next", resources={"llm": 1}))
            held = lambda: any(e[sl.events.EVENT.event] == "held" for e in ex.recorder.since(0))  # noqa: E731
            await until(held, what="the next task held for the units")
            assert _order == []  # the units are still with the abandoned thread
            _gate.set()
            assert await ex.wait_for_completion(30)
            return ex.record()

    rec = run(main())
    assert _order == ["abandoned returned", "next started"]
    assert rec.final().set_index("task_id")["status"].to_dict() == {"slow": "timed_out", "next": "completed"}


def test_held_s_counts_a_task_held_until_its_end_and_a_snapshot_the_waits_still_open():
    """meta["resources"]["held_s"]: a task cancelled while held counts until it ended, a
    run stopped with tasks held counts each until the stop, and a snapshot taken while
    tasks are held counts their waits up to that moment."""
    from swarmlab.core.dispatcher import Dispatcher
    from swarmlab.events import Recorder
    from swarmlab.scheduling.registry import resolve_policy

    d = Dispatcher([Agent("a", capacity=4)], resolve_policy("round_robin"),
                   _limits(pools={"llm": 1}, rates={"rpm": RateLimit(1, per_s=100)}), Recorder())
    d.submit([Task(None, id="hog", resources={"llm": 1}), Task(None, id="x", resources={"llm": 1}),
              Task(None, id="y", resources={"llm": 1}), Task(None, id="r1", resources={"rpm": 1}),
              Task(None, id="r2", resources={"rpm": 1})], 0.0)
    assert sorted(st.id for st in d.take_starts(0.0)) == ["hog", "r1"]  # x, y held by llm; r2 by rpm
    assert d.units.summary(4.0)["held_s"] == {"llm": 8.0, "rpm": 4.0}  # a snapshot at 4 s
    assert d.units.summary()["held_s"] == {}  # without a time: only the waits that ended
    d.cancel("x", 5.0)  # cancelled while held: 5 s
    assert d.units.summary()["held_s"] == {"llm": 5.0}
    d.cancel_waiting(7.0, "the run stopped")  # y and r2 held until the stop
    assert d.units.summary(9.0)["held_s"] == {"llm": 12.0, "rpm": 7.0}  # nothing still open counts on



# ---------------------------------------------------------------- held tasks come back in rank order


class _ByName(Policy):
    """Places ``x@A`` on agent ``A``: the test says where each task waits."""

    name = "by_name_for_tests"

    def choose(self, task, candidates):
        return next(c for c in candidates if c.id == task.id.split("@")[1])


def test_a_refilled_rate_goes_to_the_held_task_before_a_worse_ranked_one_reaches_it():
    """At 1 s the bucket refills and two slots free at once: the held x (priority 8)
    starts, not w (priority 2), which the slots reach first."""
    tasks = [Task(None, id="r0@a", estimate_s=1.0, priority=9, resources={"rpm": 1}),
             Task(None, id="x@a", estimate_s=1.0, priority=8, resources={"rpm": 1}),
             Task(None, id="f@a", estimate_s=1.0, priority=7),
             Task(None, id="w@a", estimate_s=1.0, priority=2, resources={"rpm": 1})]
    for sched in (_ByName(), "heft", TaskScheduler("least_loaded", enable_work_stealing=True)):
        rec = simulate(tasks, [Agent("a", capacity=2)], limits=_limits(rates={"rpm": RateLimit(1, per_s=1.0)}),
                       scheduler=sched)
        s = {i: st for i, _, st, _ in _ran(rec)}
        assert (s["x@a"], s["w@a"]) == (1.0, 2.0), sched


def test_a_held_task_whose_agent_is_full_does_not_keep_the_units_from_the_next_held_one():
    """x (on the full agent A) cannot start when the unit comes back at 1 s: y, the next
    held one, takes it, not w, ranked after y on y's own agent."""
    tasks = [Task(None, id="hog@B", estimate_s=1.0, priority=10, resources={"llm": 1}),
             Task(None, id="x@A", estimate_s=1.0, priority=9, resources={"llm": 1}),
             Task(None, id="fA@A", estimate_s=3.0, priority=8),
             Task(None, id="y@B", estimate_s=1.0, priority=6, resources={"llm": 1}),
             Task(None, id="fB@B", estimate_s=1.0, priority=5),
             Task(None, id="w@B", estimate_s=1.0, priority=2, resources={"llm": 1})]
    rec = simulate(tasks, [Agent("A"), Agent("B", capacity=2)], limits=_limits(pools={"llm": 1}), scheduler=_ByName())
    s = {i: st for i, _, st, _ in _ran(rec)}
    assert s["y@B"] == 1.0 and s["w@B"] == 2.0 and s["x@A"] == 3.0
    assert list(rec.events.loc[rec.events["event"] == "held", "task_id"]) == ["x@A", "y@B", "w@B"]


def _rank_order_broken(seed, sched, kind):
    """A random workload of 1-unit needs, all ready at 0: the (x, y) pairs where y, ranked
    after x, started first although x's agent had a free slot besides y's."""
    import random

    rng = random.Random(seed)
    agents = [Agent(f"a{i}", capacity=rng.randint(1, 3)) for i in range(rng.randint(2, 4))]
    limits = (_limits(pools={"llm": rng.randint(1, 2)}) if kind == "pool"
              else _limits(rates={"llm": RateLimit(rng.randint(1, 2), per_s=rng.choice([1.0, 2.5]))}))
    tasks = [Task(None, id=f"t{i:02d}", estimate_s=rng.choice([0.5, 1.0, 2.0]), priority=rng.randint(1, 9),
                  resources={"llm": 1} if rng.random() < 0.7 else None) for i in range(rng.randint(6, 20))]
    rec = simulate(tasks, agents, limits=limits, scheduler=sched)
    f = rec.final().set_index("task_id")
    runs = rec.tasks.dropna(subset=["started_s"])
    cap = {a.id: a.capacity for a in agents}
    heft = getattr(getattr(sched, "policy", sched), "name", sched) == "heft"  # within a priority, the longer (upward rank) first

    def rank(t):
        return -t.priority, -t.estimate_s if heft else 0.0, t.id

    held = [t for t in tasks if t.resources]
    ev = rec.events[rec.events["event"].isin(["assigned", "stolen"])]
    where = {t.id: ev[ev["task_id"] == t.id] for t in held}
    broken = []
    for x in held:
        for y in held:
            sx, sy = f.loc[x.id, "started_s"], f.loc[y.id, "started_s"]
            if rank(x) < rank(y) and sy < sx:
                ag = where[x.id][where[x.id]["t_s"] <= sy]["agent_id"].iloc[-1]  # (stealing moves it)
                busy = ((runs["agent_id"] == ag) & (runs["started_s"] <= sy) & (runs["finished_s"] > sy)
                        & (runs["task_id"] != y.id)).sum()
                if busy < cap[ag]:
                    broken.append((x.id, y.id, sy))
    return broken


def test_held_tasks_start_in_rank_order_across_agents_with_every_scheduler():
    """Priorities, then ready order (HEFT: its upward rank): no task ranked after a held
    one starts before it while the held one's agent could run it, with stealing on and off."""
    scheds = ["round_robin", "least_loaded", TaskScheduler("least_loaded", enable_work_stealing=True, aging_s=1e9),
              "work_stealing", "heft", TaskScheduler("heft", enable_work_stealing=False)]
    for seed in range(25):
        for sched in scheds:
            for kind in ("pool", "rate"):
                assert _rank_order_broken(seed, sched, kind) == [], (seed, sched, kind)


def test_a_rate_can_start_partly_spent_and_only_a_rate():
    from swarmlab.core.dispatcher import Dispatcher
    from swarmlab.events import Recorder
    from swarmlab.scheduling.registry import resolve_policy

    d = Dispatcher([Agent("a", capacity=4)], resolve_policy("round_robin"),
                   _limits(pools={"llm": 2}, rates={"rpm": RateLimit(4, per_s=4.0)}), Recorder())
    d.units.spent("rpm", 3.0, 0.0)  # spent just before the run: one left, one more a second
    d.submit([Task(None, id=f"t{i}", resources={"rpm": 1}) for i in range(3)], 0.0)
    assert [st.id for st in d.take_starts(0.0)] == ["t0"]
    assert d.next_wakeup() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match=r"'llm' is no rate of this run \(rates: \['rpm'\]\)"):
        d.units.spent("llm", 1.0, 0.0)
