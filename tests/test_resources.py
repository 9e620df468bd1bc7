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
