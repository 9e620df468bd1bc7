"""Scheduling and dispatch behaviour on virtual time: deterministic, no sleeps."""

import pytest

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, simulate
from swarmlab.virtual.durations import lognormal


def T(est=1.0, **kw):
    return Task(None, estimate_s=est, **kw)


def starts(rec):
    ev = rec.events
    return list(ev.loc[ev["event"] == "started", "task_id"])


def by_id(rec):
    return rec.tasks.set_index("task_id")


def test_higher_priority_first_and_fifo_within_equal_priority():
    tasks = [T(id=f"{p}-{k}", priority=p) for k in range(3) for p in (2, 7, 4)]
    rec = simulate(tasks, [Agent("solo")])
    assert starts(rec) == ["7-0", "7-1", "7-2", "4-0", "4-1", "4-2", "2-0", "2-1", "2-2"]


def test_critical_task_starts_before_anything_queued():
    rec = simulate([T(id=f"q{i}") for i in range(5)] + [T(id="crit", priority=10)], [Agent("solo")])
    assert starts(rec)[0] == "crit"


def test_agent_capacity_is_never_exceeded_and_used_fully():
    rec = simulate([T() for _ in range(8)], [Agent("a", capacity=4)],
                   limits=ResourceLimits(max_concurrent_tasks=10))
    t = rec.tasks
    assert sorted(t["started_s"]) == [0.0] * 4 + [1.0] * 4
    assert t["finished_s"].max() == 2.0


def test_max_concurrent_tasks_caps_the_whole_run():
    rec = simulate([T() for _ in range(6)], [Agent(f"a{i}") for i in range(6)],
                   limits=ResourceLimits(max_concurrent_tasks=2))
    assert rec.tasks["finished_s"].max() == 3.0


def test_agent_speed_scales_duration():
    rec = simulate([T(4.0, id="x")], [Agent("fast", speed=2.0)])
    assert by_id(rec).loc["x", "run_s"] == 2.0


def test_least_loaded_spreads_work():
    rec = simulate([T() for _ in range(9)], [Agent(f"a{i}") for i in range(3)])
    assert rec.tasks["agent_id"].value_counts().tolist() == [3, 3, 3]


def test_capabilities_restrict_agents():
    agents = [Agent("gpu", capabilities={"gpu"}), Agent("cpu")]
    rec = simulate([T(requires={"gpu"}) for _ in range(3)] + [T()], agents)
    t = rec.tasks
    assert set(t.loc[t["task_id"].isin(["task-0", "task-1", "task-2"]), "agent_id"]) == {"gpu"}


def test_no_eligible_agent_is_a_lookup_error_naming_task_and_capability():
    with pytest.raises(sl.NoEligibleAgentError, match=r"task 'x'.*\(quantum\)"):
        simulate([T(id="x", requires={"quantum"})], [Agent("a")])


def test_dependencies_gate_start():
    a, b = T(2.0, id="a"), T(1.0, id="b")
    c = T(1.0, id="c", dependencies=[a, "b"])
    t = by_id(simulate([c, b, a], [Agent(f"x{i}") for i in range(3)]))
    assert t.loc["c", "started_s"] == 2.0
    assert t.loc["c", "ready_s"] == 2.0 and t.loc["c", "wait_s"] == 0.0


def test_failure_propagates_to_all_dependents_who_never_run():
    root = T(id="root")
    kids = [T(id=f"k{i}", dependencies=[root]) for i in range(2)]
    grand = T(id="g", dependencies=kids)
    free = T(id="free")
    rec = simulate([root, *kids, grand, free], failures=lambda t, n: ValueError("x") if t.id == "root" else None)
    t = by_id(rec)
    assert t.loc["root", "status"] == "failed"
    assert set(t.loc[["k0", "k1", "g"], "status"]) == {"upstream_failed"}
    assert t.loc[["k0", "k1", "g"], "started_s"].isna().all()
    assert t.loc["free", "status"] == "completed"
    assert set(starts(rec)) == {"root", "free"}


def test_retries_back_off_exponentially_with_jitter():
    task = T(1.0, id="r", max_retries=3, retry_backoff_s=1.0)
    rec = simulate([task], [Agent("a")], failures=lambda t, n: OSError("flaky") if n < 4 else None)
    rows = rec.tasks
    assert list(rows["attempt"]) == [1, 2, 3, 4]
    assert list(rows["status"]) == ["failed"] * 3 + ["completed"]
    gaps = (rows["started_s"].shift(-1) - rows["finished_s"]).iloc[:3].tolist()
    for n, gap in enumerate(gaps):
        assert 0.5 * 2**n <= gap < 1.5 * 2**n
    assert (rec.events["event"] == "retried").sum() == 3


def test_retry_only_for_allowed_exceptions():
    task = T(id="r", max_retries=3, retry_on=(OSError,))
    rec = simulate([task], failures=lambda t, n: KeyError("no"))
    assert list(rec.tasks["status"]) == ["failed"]


def test_timeout_on_virtual_time():
    rec = simulate([T(10.0, id="long", timeout=2.0), T(1.0, id="short")])
    t = by_id(rec)
    assert t.loc["long", "status"] == "timed_out" and t.loc["long", "run_s"] == 2.0
    assert t.loc["long", "error_type"] == "timeout"


def test_cycle_is_reported_with_its_tasks():
    a = T(id="a", dependencies=["c"])
    b = T(id="b", dependencies=["a"])
    c = T(id="c", dependencies=["b"])
    with pytest.raises(sl.DependencyCycleError) as e:
        simulate([a, b, c, T(id="d")])
    assert set(e.value.cycle) == {"a", "b", "c"} and e.value.cycle[0] == e.value.cycle[-1]
    with pytest.raises(sl.DependencyCycleError, match="self -> self"):
        simulate([T(id="self", dependencies=["self"])])


def test_unknown_dependency_and_duplicate_ids_are_config_errors():
    with pytest.raises(sl.ConfigError, match="depends on 'ghost'"):
        simulate([T(id="a", dependencies=["ghost"])])
    with pytest.raises(sl.ConfigError, match="'a' is already used"):
        simulate([T(id="a"), T(id="a")])


def test_simulate_needs_estimates():
    with pytest.raises(sl.ConfigError, match="needs estimate_s on every task"):
        simulate([Task(len, ([],))])


def test_same_seed_same_frames_other_seed_other_jitter():
    def tasks():
        return [T(1.0 + i % 3, id=f"t{i}", priority=1 + i % 10, max_retries=2,
                  dependencies=[f"t{i - 3}"] if i >= 3 else []) for i in range(40)]

    def flaky(t, n):
        return OSError() if n == 1 and int(t.id[1:]) % 4 == 0 else None

    a = simulate(tasks(), seed=1, failures=flaky)
    b = simulate(tasks(), seed=1, failures=flaky)
    c = simulate(tasks(), seed=2, failures=flaky)
    for frame in ("events", "tasks"):
        x = getattr(a, frame).drop(columns="run_id")
        y = getattr(b, frame).drop(columns="run_id")
        assert x.equals(y)
    assert not a.tasks["started_s"].equals(c.tasks["started_s"])


def test_two_identical_simulations_give_identical_records_and_meta():
    """Virtual time reads no wall clock: the records and the meta are the same, run after
    run. Only the run's identity differs: its id and the moment it was made."""
    def run():
        tasks = [T(1.0 + i % 5, id=f"t{i}", priority=1 + i % 10, requires={"gpu"} if i % 7 == 0 else (),
                   dependencies=[f"t{i - 4}"] if i >= 4 else []) for i in range(300)]
        agents = [Agent("a"), Agent("b", speed=2.0), Agent("g", capabilities={"gpu"})]
        return simulate(tasks, agents, scheduler=sl.TaskScheduler("work_stealing"), seed=3)

    a, b = run(), run()
    for frame in ("events", "tasks", "resources"):
        assert getattr(a, frame).drop(columns="run_id").equals(getattr(b, frame).drop(columns="run_id")), frame
    identity = ("run_id", "started_utc")
    assert a.meta["scheduling_metrics"]["total_scheduled"] >= 300
    assert {k: v for k, v in a.meta.items() if k not in identity} == \
        {k: v for k, v in b.meta.items() if k not in identity}


def test_frames_have_their_columns_and_dtypes():
    rec = simulate([T(id="a")])
    assert list(rec.tasks.columns) == list(sl.store.records.TASK_COLUMNS)
    assert list(rec.events.columns) == list(sl.store.records.EVENT_COLUMNS)
    assert str(rec.events["event"].dtype) == "category"
    assert str(rec.tasks["status"].dtype) == "category"
    assert rec.meta["clock"] == "virtual" and rec.meta["algorithm"] == "least_loaded"
    assert (rec.tasks["run_id"] == rec.run_id).all()
    assert rec.resources.columns.tolist()[:2] == ["run_id", "t_s"]


@pytest.mark.parametrize("seed", ["x", 2.0, None])
def test_simulate_seed_must_be_an_int(seed):
    with pytest.raises(sl.ConfigError, match=f"simulate seed must be an int; got {seed!r}"):
        simulate([T()], seed=seed)


def test_simulate_agents_must_be_agent_objects():
    with pytest.raises(sl.ConfigError, match="simulate agents must be Agent objects; got str 'a'"):
        simulate([T()], ["a"])


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1", None, True])
def test_duration_model_returning_no_duration_names_task_and_value(bad):
    with pytest.raises(sl.ConfigError, match=f"returned {bad!r} for task 'x' .*a number of seconds >= 0"):
        simulate([T(id="x")], durations=lambda task, agent, attempt, rng: bad)


@pytest.mark.parametrize("bad", ["boom", ValueError, 0])
def test_failure_model_returning_a_non_exception_names_task_and_value(bad):
    with pytest.raises(sl.ConfigError, match=f"returned {bad!r} for task 'x' .*an exception instance or None"):
        simulate([T(id="x")], failures=lambda task, attempt: bad)


def test_models_that_keep_their_contract_still_run():
    rec = simulate([T(id="x"), T(id="y")], durations=lognormal(0.1),
                   failures=lambda t, n: ValueError("no") if t.id == "y" else None)
    assert dict(by_id(rec)["status"]) == {"x": "completed", "y": "failed"}
    assert rec.meta["durations"].startswith("lognormal")


def test_tasks_that_never_ran_have_one_row_numbered_as_their_attempts():
    root = T(id="root")
    dep = T(id="dep", dependencies=[root])
    rec = simulate([root, dep], failures=lambda t, n: ValueError("x") if t.id == "root" else None)
    row = by_id(rec).loc["dep"]
    assert row["status"] == "upstream_failed" and row["attempt"] == 0  # TaskResult.attempts: 0
