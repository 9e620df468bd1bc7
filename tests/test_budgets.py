"""Budgets: the most a run's bodies may report of a value, in all (issue 25, item 4)."""

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, TaskStatus
from swarmlab.core.dispatcher import Dispatcher
from swarmlab.errors import BudgetExhausted, ConfigError
from swarmlab.events import Recorder
from swarmlab.scheduling.registry import resolve_policy


def _dispatcher(budgets, pools=None, capacity=2):
    rec = Recorder()
    d = Dispatcher([Agent("a", capacity=capacity)], resolve_policy("round_robin"),
                   ResourceLimits(task_timeout=None, budgets=budgets, pools=pools or {}), rec)
    return d, rec


def _events(rec, kind):
    return [e for e in rec.events if e[2] == kind]


def test_once_the_reported_total_reaches_the_budget_nothing_new_starts():
    d, rec = _dispatcher({"cost_usd": 1.0})
    d.submit([Task(None, id=f"t{i}", max_retries=2) for i in range(5)], 0.0)
    a, b = d.take_starts(0.0)
    d.finish(a, a.attempt, 1.0, TaskStatus.COMPLETED, reported={"cost_usd": 0.6})
    (c,) = d.take_starts(1.0)  # 0.6 of 1.0: the run goes on
    d.finish(b, b.attempt, 2.0, TaskStatus.COMPLETED, reported={"cost_usd": 0.5, "tokens": 9})
    assert [e[5] for e in _events(rec, "budget_exhausted")] == ["cost_usd: 1.1 of 1 reported"]
    assert d.take_starts(2.0) == []
    ended = {st.id: st.state for st in d.finished}
    assert ended["t3"] is ended["t4"] is TaskStatus.CANCELLED and "budget was spent" in d.tasks["t3"].error
    # the attempt running when the budget was reached finishes; a retry it would get does not start
    d.finish(c, c.attempt, 3.0, TaskStatus.FAILED, exc=ValueError("x"), reported={"cost_usd": 0.25})
    assert d.tasks["t2"].state is TaskStatus.CANCELLED and d.done
    # what it spent after the stop still counts
    b = d.units.summary(3.0)["budgets"]
    assert b["stopped_by"] == "cost_usd" and b["stopped_s"] == 2.0
    assert b["spent_at_stop"] == {"cost_usd": pytest.approx(1.1)} and b["spent"] == {"cost_usd": pytest.approx(1.35)}


def test_a_task_submitted_after_the_budget_is_spent_ends_cancelled_at_once():
    d, _ = _dispatcher({"cost_usd": 1.0})
    d.submit([Task(None, id="t0")], 0.0)
    (a,) = d.take_starts(0.0)
    d.finish(a, a.attempt, 1.0, TaskStatus.COMPLETED, reported={"cost_usd": 2.0})
    d.submit([Task(None, id="late")], 2.0)
    assert d.tasks["late"].state is TaskStatus.CANCELLED and d.done


def test_calls_waiting_for_units_are_refused_and_later_asks_too():
    d, _ = _dispatcher({"cost_usd": 1.0}, pools={"llm": 1}, capacity=3)
    d.submit([Task(None, id=f"t{i}") for i in range(3)], 0.0)
    a, b, c = d.take_starts(0.0)
    calls = d.units.use_calls()
    calls.ask(b, 1, {"llm": 1}, 0.0)
    waiting = calls.ask(c, 1, {"llm": 1}, 0.0)
    d.finish(a, a.attempt, 1.0, TaskStatus.COMPLETED, reported={"cost_usd": 1.0})
    [(g, why)] = calls.dropped
    assert g is waiting and isinstance(why, BudgetExhausted) and why.budget == "cost_usd"
    with pytest.raises(BudgetExhausted, match="budget of cost_usd is spent"):
        calls.ask(b, 1, {"llm": 1}, 1.0)


@pytest.mark.parametrize("budgets, match", [({"cost_usd": 0}, "budgets\\['cost_usd'\\]"),
                                            ({"cost_usd": -1}, "budgets"),
                                            ({"cost usd": 1}, "identifiers"),
                                            ([("cost_usd", 1)], "must be a dict")])
def test_bad_budgets_are_refused(budgets, match):
    with pytest.raises(ConfigError, match=match):
        ResourceLimits(budgets=budgets)


def test_a_real_run_stops_at_its_budget_and_says_what_was_spent():
    wl = sl.workloads.llm_swarm(30, seed=2)

    async def main():
        limits = wl.limits_with(ResourceLimits(task_timeout=60, budgets={"cost_usd": 0.02}))
        async with sl.ParallelExecutor("asyncio", limits=limits, agents=wl.agents) as ex:
            await ex.submit_batch(wl.tasks("async"))
            assert await ex.wait_for_completion(120)
            return ex.record()

    rec = run(main())
    final = rec.final()
    b = rec.meta["resources"]["budgets"]
    assert b["stopped_by"] == "cost_usd" and b["spent_at_stop"]["cost_usd"] >= 0.02
    assert b["spent"]["cost_usd"] == pytest.approx(rec.tasks["cost_usd"].sum())  # in flight after the stop: counted
    assert set(final["status"]) <= {"completed", "cancelled", "upstream_failed"}
    assert (final["status"] == "cancelled").any() and (final["status"] == "completed").any()
    assert (rec.events["event"] == "budget_exhausted").sum() == 1
