"""Bad input gets a clear error at the boundary."""

import pickle

import pytest

import swarmlab as sl
from swarmlab import Agent, AgentType, ResourceLimits, Task


def noop():
    pass


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fn=42), "Task fn must be a callable"),
        (dict(fn=None), "needs estimate_s"),
        (dict(fn=noop, priority=0), r"from 1 \(low\) to 10 \(critical\); got 0"),
        (dict(fn=noop, priority=11), "got 11"),
        (dict(fn=noop, priority=True), "got True"),
        (dict(fn=noop, kind="gpu"), "kind must be one of None, 'io', 'cpu'; got 'gpu'"),
        (dict(fn=noop, timeout=0), "timeout .* must be a positive number or None; got 0"),
        (dict(fn=noop, max_retries=-1), "max_retries must be an int >= 0"),
        (dict(fn=noop, retry_on=(ValueError, "x")), "retry_on must be an exception type"),
        (dict(fn=noop, estimate_s=-1), "estimate_s must be a number >= 0"),
        (dict(fn=noop, dependencies=[3]), "dependencies must be task ids"),
        (dict(fn=noop, id=""), "id must be a non-empty str"),
    ],
)
def test_bad_task_is_a_config_error(kwargs, match):
    fn = kwargs.pop("fn")
    with pytest.raises(sl.ConfigError, match=match):
        Task(fn, **kwargs)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        Task(noop, priority=99)


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_cpu_percent", 0),
        ("max_memory_mb", -5),
        ("max_concurrent_tasks", 0),
        ("max_concurrent_tasks", 2.5),
        ("max_queue_size", 0),
        ("task_timeout", -1),
        ("monitoring_interval", 0.001),
    ],
)
def test_bad_limits_are_config_errors(field, value):
    with pytest.raises(sl.ConfigError, match=f"ResourceLimits.{field}"):
        ResourceLimits(**{field: value})


def test_limits_defaults_are_the_originals():
    lim = ResourceLimits()
    # max_concurrent_tasks: None, the agents' total capacity (the original's 10 is what
    # ten default agents give): a default never caps work unseen
    assert (lim.max_cpu_percent, lim.max_memory_mb, lim.max_concurrent_tasks, lim.max_queue_size,
            lim.task_timeout, lim.monitoring_interval) == (80.0, 1024.0, None, 1000, 300, 1.0)


def test_agents_are_hashable_and_ordered_by_id():
    a, b = Agent("b", type="tester", capabilities=["testing"]), Agent("a")
    assert {a: 1}[Agent("b")] == 1
    assert sorted([a, b])[0].id == "a"
    assert a.type is AgentType.TESTER and a.capabilities == frozenset({"testing"})
    assert Agent().id != Agent().id


@pytest.mark.parametrize("kwargs, match", [
    (dict(type="wizard"), "Agent type must be one of"),
    (dict(capacity=0), "capacity must be a positive integer"),
    (dict(speed=0), "speed must be a positive number"),
])
def test_bad_agent_is_a_config_error(kwargs, match):
    with pytest.raises(sl.ConfigError, match=match):
        Agent("x", **kwargs)


def test_agent_types_are_the_original_nine():
    assert [t.value for t in AgentType] == [
        "coordinator", "researcher", "developer", "analyzer", "reviewer", "tester",
        "documenter", "monitor", "specialist",
    ]


def test_errors_stand_for_builtins():
    assert issubclass(sl.QueueFullError, RuntimeError)
    assert issubclass(sl.ExecutorClosedError, RuntimeError)
    assert issubclass(sl.DependencyCycleError, ValueError)
    assert issubclass(sl.NoEligibleAgentError, LookupError)
    assert all(issubclass(e, sl.SwarmlabError) for e in (
        sl.ConfigError, sl.QueueFullError, sl.DependencyCycleError, sl.ExecutorClosedError))


def test_task_result_pickles():
    r = sl.TaskResult("t", sl.TaskStatus.COMPLETED, value=3, wait_s=0.0, run_s=1.0)
    assert pickle.loads(pickle.dumps(r)) == r and r.ok


def test_unknown_mode_and_bad_limits_are_explained():
    with pytest.raises(sl.ConfigError, match="mode must be one of"):
        sl.ParallelExecutor(mode="gpu")
    with pytest.raises(sl.ConfigError, match="limits must be a ResourceLimits"):
        sl.ParallelExecutor(limits={"max_concurrent_tasks": 3})
