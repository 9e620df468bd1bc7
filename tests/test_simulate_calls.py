"""simulate() makes the provider calls a task carries (issue 25, item 5): each through the
core's per-call grants, on virtual time, admitted or refused by a model of its provider."""

import pytest

from swarmlab import Agent, ConfigError, RateLimit, ResourceLimits, Task, compare, simulate
from swarmlab.virtual import Call
from swarmlab.virtual.replays import replay_tasks
from swarmlab.workloads import llm_swarm
from swarmlab.workloads.provider import FakeProvider, ProviderLimits


def _by_id(rec):
    return rec.tasks.set_index("task_id")


def test_a_task_with_three_calls_on_a_free_pool_lasts_them():
    task = Task(None, id="t", calls=[Call(1.0, {"llm": 1})] * 3)
    rec = simulate([task], [Agent("a")], limits=ResourceLimits(pools={"llm": 4}))
    row = _by_id(rec).loc["t"]
    assert row["status"] == "completed"
    assert row["started_s"] == 0.0 and row["finished_s"] == 3.0 and row["calls"] == 3
    assert "limit_wait_s" not in rec.tasks.columns  # nothing waited: nothing reported


def test_two_tasks_on_a_pool_of_one_interleave_their_calls():
    # a: granted at 0, 2, 4 (its 2nd and 3rd asks wait 1 s each behind b's calls);
    # b: asks at 0, 2, 4 and is granted at 1, 3, 5: first come, first served.
    tasks = [Task(None, id=i, calls=[Call(1.0, {"llm": 1})] * 3) for i in ("a", "b")]
    rec = simulate(tasks, [Agent("x"), Agent("y")], limits=ResourceLimits(pools={"llm": 1}))
    t = _by_id(rec)
    assert t.loc["a", "started_s"] == t.loc["b", "started_s"] == 0.0
    assert t.loc["a", "finished_s"] == 5.0 and t.loc["b", "finished_s"] == 6.0
    assert t.loc["a", "limit_wait_s"] == 2.0 and t.loc["b", "limit_wait_s"] == 3.0
    assert rec.meta["resources"]["pools"] == {"llm": 1}


def test_a_rate_spaces_calls_as_its_bucket_says():
    # a bucket of 2 requests refilled at 2 a second: two at once, then one every 0.5 s
    task = Task(None, id="t", calls=[Call(0.0, {"rpm": 1})] * 6)
    rec = simulate([task], [Agent("a")], limits=ResourceLimits(rates={"rpm": RateLimit(2, per_s=1.0)}))
    row = _by_id(rec).loc["t"]
    assert row["finished_s"] == pytest.approx(2.0)
    assert row["limit_wait_s"] == pytest.approx(4 * 0.5)  # calls 3 to 6 each asked at the previous grant
    assert row["calls"] == 6


def test_undeclared_limits_draw_429s_each_call_retried_after_its_retry_after_and_billed_once():
    provider = FakeProvider(ProviderLimits(concurrency=1, rpm=100, tpm=10_000, window_s=1.0))
    tasks = [Task(None, id=i, calls=[Call(1.0, {}, 100, 20, provider), Call(0.5, {}, 10, 5, provider)])
             for i in ("a", "b")]
    rec = simulate(tasks, [Agent("x"), Agent("y")], seed=3)
    t = _by_id(rec)
    assert set(t["status"]) == {"completed"}
    # a holds the provider's one slot 0..1 and 1..1.5 (its second call is admitted at once);
    # b is refused at 0 (retry after 1 s), and again while a's second call is in flight
    assert t.loc["a", "finished_s"] == 1.5 and "n_rate_limited" in t and t["n_rate_limited"].isna()["a"]
    assert t.loc["b", "n_rate_limited"] >= 1
    # never earlier than told, at most 10 % later: its first call is admitted in [1.5, 1.5 * 1.1]
    assert 1.5 + 1.5 <= t.loc["b", "finished_s"] <= 1.5 * 1.1 + 1.5 + 0.5 * 1.1 + 1e-9
    assert list(t["tokens"]) == [135.0, 135.0] and list(t["calls"]) == [2.0, 2.0]
    bill = rec.meta["providers"][0]
    assert bill["billed_tokens"] == 270 and bill["calls"] == 4
    assert sum(bill["refused"].values()) == t.loc["b", "n_rate_limited"]
    assert t["cost_usd"].sum() == pytest.approx(bill["billed_usd"])


def test_the_simulation_of_calls_is_deterministic():
    wl = llm_swarm(30, seed=2, declare_limits=False)
    runs = [simulate(wl.tasks(), wl.agents, limits=wl.limits_with(None), seed=5) for _ in range(2)]
    a, b = (r.tasks.drop(columns="run_id") for r in runs)
    assert a.equals(b) and a["n_rate_limited"].sum() > 0
    other = simulate(wl.tasks(), wl.agents, limits=wl.limits_with(None), seed=6).tasks.drop(columns="run_id")
    assert not other.equals(a)  # the retries' jitter comes from the seed


@pytest.mark.parametrize("declared", [True, False])
def test_llm_swarm_simulated_completes_every_task_and_pays_each_token_once(declared):
    wl = llm_swarm(60, seed=1, declare_limits=declared)
    rec = simulate(wl.tasks(), wl.agents, limits=wl.limits_with(None))
    final = rec.final()
    assert (final["status"] == "completed").all() and len(final) == 60
    assert rec.tasks["tokens"].sum() == wl.meta["expected_tokens"]
    assert rec.meta["providers"][0]["billed_tokens"] == wl.meta["expected_tokens"]
    refused = sum(rec.meta["providers"][0]["refused"].values())
    assert (refused == 0) if declared else (refused > 0 and rec.tasks["n_rate_limited"].sum() >= refused)
    # the request rate binds (about 100 calls at 20 a second after the first 40), as in a real run
    assert rec.tasks["finished_s"].max() > 2.0


def test_compare_simulated_makes_the_calls_and_a_budget_stops_the_simulation():
    wl = llm_swarm(20, seed=0)
    cmp = compare(wl, ["round_robin"], modes=(), simulate=True, repeats=1, warmup=False, baseline=False)
    (run,) = cmp.runs
    assert run.meta["mode"] == "simulated" and run.tasks["tokens"].sum() == wl.meta["expected_tokens"]
    rec = simulate(wl.tasks(), wl.agents, limits=wl.limits_with(ResourceLimits(budgets={"cost_usd": 0.02})))
    assert "budget_exhausted" in set(rec.events["event"])
    assert "cancelled" in set(rec.final()["status"])


def test_calls_are_checked_at_the_boundary():
    with pytest.raises(ConfigError, match="duration_s"):
        Call(-1.0)
    with pytest.raises(ConfigError, match="tokens_in"):
        Call(1.0, tokens_in=1.5)
    with pytest.raises(ConfigError, match="on_clock"):
        Call(1.0, provider=object())
    with pytest.raises(ConfigError, match="Task calls"):
        Task(None, calls=[1.0])
    with pytest.raises(ConfigError, match="no pool"):
        simulate([Task(None, calls=[Call(1.0, {"llm": 1})])], [Agent("a")])


def test_a_timeout_cuts_the_calls_and_their_units_come_back():
    # a's second call holds the pool's one unit when a's timeout (1.5 s) ends it: b's
    # call, waiting since 0, is given the unit at 1.5, not at a's call's end (2.0)
    a = Task(None, id="a", timeout=1.5, calls=[Call(1.0, {"llm": 1})] * 2)
    b = Task(None, id="b", calls=[Call(1.0, {"llm": 1})])
    rec = simulate([a, b], [Agent("x"), Agent("y")], limits=ResourceLimits(pools={"llm": 1}))
    t = _by_id(rec)
    assert t.loc["a", "status"] == "timed_out" and t.loc["a", "finished_s"] == 1.5
    assert t.loc["b", "status"] == "completed" and t.loc["b", "finished_s"] == 2.0


def test_an_agent_lost_mid_call_runs_the_task_again_from_its_first_call():
    task = Task(None, id="t", calls=[Call(1.0, {"llm": 1})] * 2)
    rec = simulate([task], [Agent("x"), Agent("y")], limits=ResourceLimits(pools={"llm": 1}), leaves=[(1.5, "x")])
    rows = rec.tasks.sort_values("attempt")
    assert list(rows["status"]) == ["failed", "completed"]
    assert rows["finished_s"].iloc[-1] == 1.5 + 2.0 and rows["calls"].iloc[-1] == 2


def test_a_replay_of_a_simulation_with_calls_takes_what_the_attempts_lasted():
    tasks = [Task(None, id=i, estimate_s=1.0, calls=[Call(1.0, {"llm": 1})]) for i in ("a", "b")]
    rec = simulate(tasks, [Agent("x"), Agent("y")], limits=ResourceLimits(pools={"llm": 1}))
    assert rec.meta["durations"] == "estimate, calls"
    # b waited 1 s for the pool: it lasted 2 s, not its estimate
    assert {t.id: t.estimate_s for t in replay_tasks(rec)} == {"a": 1.0, "b": 2.0}


def test_a_real_run_records_its_calls_and_a_whatif_makes_them_again_under_other_limits():
    import asyncio

    import swarmlab

    async def body():
        for _ in range(2):
            await swarmlab.call(asyncio.sleep, 0.02, units={"llm": 1})

    async def main():
        async with swarmlab.ParallelExecutor("asyncio", ResourceLimits(pools={"llm": 4}),
                                             agents=[Agent(f"a{i}") for i in range(4)]) as ex:
            await ex.submit_batch([Task(body, id=f"t{i}", estimate_s=0.04) for i in range(4)])
        return ex.record()

    rec = swarmlab.run(main())
    made = rec.meta["calls"]
    # weighed by what the run's scheduler knew (the estimate), not by the run time with its waits
    assert {t.estimate_s for t in replay_tasks(rec)} == {0.04}
    assert sorted(made) == ["t0", "t1", "t2", "t3"]
    assert all(len(calls) == 2 and all(c[0] == 1 and c[3] == {"llm": 1.0} for c in calls) for calls in made.values())
    replayed = {t.id: t for t in replay_tasks(rec)}
    held = {tid: [c[2] for c in calls] for tid, calls in made.items()}
    assert {tid: [c.duration_s for c in t.calls if c.units] for tid, t in replayed.items()} == held
    # under a pool of one the eight calls cannot overlap: the what-if lasts at least their holds
    table = swarmlab.whatif(rec, ["round_robin"], limits=ResourceLimits(pools={"llm": 1}))
    what_if = table.set_index("scenario").loc["what if round_robin", "makespan_s"]
    assert what_if >= sum(map(sum, held.values())) - 1e-9
