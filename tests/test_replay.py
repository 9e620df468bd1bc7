"""Replay, what-if and duration models on virtual time."""

import random

import pytest

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, TaskScheduler, simulate, workloads
from swarmlab.virtual.durations import lognormal, pareto, per_kind

COLS = ["task_id", "agent_id", "started_s", "finished_s", "status"]


def test_replay_of_a_simulated_run_reproduces_it_exactly():
    wl = workloads.dag(60, seed=2)
    agents = [Agent(f"a{i}", speed=(1.0, 2.0)[i % 2]) for i in range(4)]
    for sched in ("least_loaded", TaskScheduler("work_stealing", aging_s=None), TaskScheduler("dynamic")):
        rec = simulate(wl.tasks(), agents, scheduler=sched)
        again = sl.replay(rec)
        pd_a = rec.tasks[COLS].reset_index(drop=True)
        pd_b = again.tasks[COLS].reset_index(drop=True)
        assert pd_a.astype(str).equals(pd_b.astype(str)), sched
        assert again.meta["replay_of"] == rec.run_id


def test_replay_of_a_real_run_keeps_its_dependencies_and_predicts_its_makespan():
    wl = workloads.dag(40, seed=1, mean_s=0.02)

    async def main():
        async with sl.ParallelExecutor(mode="asyncio", agents=wl.agents,
                                       limits=ResourceLimits(max_concurrent_tasks=8, task_timeout=None)) as ex:
            await ex.submit_batch(wl.tasks("async"))
        return ex.record()

    rec = sl.run(main())
    again = sl.replay(rec)
    a = rec.final().set_index("task_id")["dependencies"].map(tuple)
    b = again.final().set_index("task_id")["dependencies"].map(tuple)
    assert a.sort_index().equals(b.sort_index()) and sum(map(len, a)) > 30
    fin = again.tasks.set_index("task_id")["finished_s"]
    for _, row in again.tasks.iterrows():
        assert all(row["started_s"] >= fin[d] for d in row["dependencies"])
    made = rec.tasks["finished_s"].max() - rec.tasks["submitted_s"].min()
    assert again.tasks["finished_s"].max() == pytest.approx(made, rel=0.5)  # a loose sanity bound; the benchmark measures


def test_whatif_compares_every_algorithm_to_the_record():
    rec = simulate(workloads.heavy_tailed(80, seed=3).tasks(), [Agent(f"a{i}") for i in range(4)],
                   scheduler="round_robin")
    table = sl.whatif(rec, algorithms=["round_robin", "work_stealing"])
    assert table["scenario"].tolist() == ["recorded", "replayed", "what if round_robin", "what if work_stealing"]
    assert table.loc[0, "makespan_s"] == table.loc[1, "makespan_s"]
    assert table.loc[3, "makespan_s"] <= table.loc[2, "makespan_s"]


def test_duration_models_are_seeded_and_checked():
    tasks = lambda: [Task(None, id=f"t{i}", estimate_s=1.0, kind="io" if i % 2 else "cpu") for i in range(50)]
    a = simulate(tasks(), seed=1, durations=lognormal(0.3)).tasks["run_s"].tolist()
    b = simulate(tasks(), seed=1, durations=lognormal(0.3)).tasks["run_s"].tolist()
    c = simulate(tasks(), seed=2, durations=lognormal(0.3)).tasks["run_s"].tolist()
    assert a == b != c and len(set(a)) > 40
    p = simulate(tasks(), seed=1, durations=pareto(1.5)).tasks["run_s"]
    assert p.min() >= 1.0 / 3 - 1e-9 and p.max() > 2
    mixed = simulate(tasks(), seed=1, durations=per_kind({"io": lognormal(0.5)})).tasks.set_index("task_id")
    assert (mixed.loc[[f"t{i}" for i in range(0, 50, 2)], "run_s"] == 1.0).all()
    with pytest.raises(sl.ConfigError, match="alpha must exceed 1"):
        pareto(1.0)
    with pytest.raises(sl.ConfigError, match="lognormal sigma must be positive"):
        lognormal(0)


def test_counted_events_keep_the_tasks_frame_whole():
    from swarmlab.analysis.figures import summary

    tasks = [Task(None, id=f"t{i}", estimate_s=1.0) for i in range(200)]
    rec = simulate(tasks, [Agent(f"a{i}") for i in range(4)], count_events_s=10.0)
    assert rec.meta["events"] == "counted per 10 s"
    assert list(rec.events.columns) == ["run_id", "t_s", "event", "count"]
    ev = rec.events.groupby("event", observed=True)["count"].sum()
    assert ev["submitted"] == ev["completed"] == 200
    assert len(rec.tasks) == 200 and summary([rec]).iloc[0]["completed"] == 200
    listed = simulate([Task(None, id=f"t{i}", estimate_s=1.0) for i in range(200)], [Agent(f"a{i}") for i in range(4)])
    assert rec.tasks.drop(columns="run_id").equals(listed.tasks.drop(columns="run_id"))
    with pytest.raises(sl.ConfigError, match="count_events_s must be positive"):
        simulate(tasks, count_events_s=0)


def test_counted_events_equal_the_listed_events_counted_by_kind_and_bucket():
    # more events than EventCounts.FOLD_AT: the counts are folded several times mid-run
    from swarmlab.events import EventCounts

    def run(count):
        tasks = [Task(None, id=f"t{i}", estimate_s=0.5 + (i % 5) / 5) for i in range(EventCounts.FOLD_AT)]
        return simulate(tasks, [Agent(f"a{i}") for i in range(50)], count_events_s=count)

    counted, listed = run(2.0), run(None)
    assert len(listed.events) > 3 * EventCounts.FOLD_AT
    expect = listed.events.assign(t_s=(listed.events["t_s"] // 2.0) * 2.0).groupby(
        ["t_s", "event"], observed=True).size()
    got = counted.events.set_index(["t_s", "event"])["count"]
    assert got.to_dict() == {k: v for k, v in expect.to_dict().items() if v}


def test_agents_leaving_and_joining_never_lose_a_task():
    tasks = [Task(None, id=f"t{i}", estimate_s=1.0 + (i % 3), max_retries=0) for i in range(60)]
    agents = [Agent(f"a{i}") for i in range(4)]
    rec = simulate(tasks, agents, scheduler=TaskScheduler("least_loaded", aging_s=None),
                   joins=[(3.0, Agent("late"))], leaves=[(2.5, "a0"), (7.0, "a1")])
    final = rec.final()
    assert len(final) == 60 and set(final["status"]) == {"completed"}
    lost = rec.tasks[rec.tasks["error_type"] == "agent_lost"]
    assert len(lost) >= 1 and set(lost["agent_id"]) <= {"a0", "a1"}
    after = rec.tasks[(rec.tasks["started_s"] > 2.5) & (rec.tasks["agent_id"] == "a0")]
    assert after.empty  # nothing starts on an agent that left
    ev = rec.events
    assert ev.loc[ev["event"] == "left", "agent_id"].tolist() == ["a0", "a1"]
    only = [Agent("gpu", capabilities={"gpu"}), Agent("cpu")]
    rec = simulate([Task(None, id="g", estimate_s=5.0, requires={"gpu"}), Task(None, id="c", estimate_s=1.0)],
                   only, leaves=[(1.0, "gpu")])
    f = rec.final().set_index("task_id")
    assert f.loc["g", "status"] == "failed" and "no agent left can run it" in f.loc["g", "error"]
    assert f.loc["c", "status"] == "completed"


def test_an_attempt_lost_with_its_agent_is_not_one_of_the_tasks_retries():
    # "t" runs on a0 when a0 leaves (attempt 1, agent_lost); attempt 2 fails by its own
    # doing; max_retries=1 still allows attempt 3, which completes.
    def fail_second(task, attempt):
        return ValueError("flaky") if attempt == 2 else None

    rec = simulate([Task(None, id="t", estimate_s=2.0, max_retries=1, retry_backoff_s=0.0)],
                   [Agent("a0"), Agent("a1")], scheduler=TaskScheduler("round_robin"),
                   failures=fail_second, leaves=[(1.0, "a0")])
    rows = rec.tasks.sort_values("attempt")
    assert rows["status"].tolist() == ["failed", "failed", "completed"]
    assert rows["error_type"].fillna("").tolist() == ["agent_lost", "ValueError", ""]
    no_loss = simulate([Task(None, id="t", estimate_s=2.0, max_retries=1, retry_backoff_s=0.0)],
                       [Agent("a0"), Agent("a1")], failures=lambda task, attempt: ValueError("x"))
    assert no_loss.tasks["attempt"].max() == 2  # without the loss: one retry, as declared


@pytest.mark.parametrize("order", ["in time", "shuffled", "a bucket each"])
def test_event_counts_fold_equals_counting_each_row(order):
    # the fold takes each bucket's rows as one slice when they come in time order; rows
    # out of order or spread over very many buckets are counted one by one: same counts
    from collections import Counter

    from swarmlab.events import EventCounts

    rng = random.Random(7)
    times = sorted(rng.uniform(0.0, 40.0) for _ in range(5000))
    if order == "shuffled":
        rng.shuffle(times)
    bucket = 0.001 if order == "a bucket each" else 2.0
    counted, expect = EventCounts(bucket), Counter()
    for i, t in enumerate(times):
        kind = ("started", "completed", "stolen")[i % 3]
        counted.append((i, t, kind, None, None, None))
        expect[kind, int(t // bucket)] += 1
        if i % 1500 == 1499:
            counted.fold()
    counted.fold()
    assert counted.counts == expect and counted.seen == len(times) == sum(expect.values())
