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
        (dict(fn=noop, args={"a": 1}), r"args must be a tuple .*; got dict \{'a': 1\}.*kwargs="),
        (dict(fn=noop, args={1, 2}), "args must be a tuple .*; got set"),
        (dict(fn=noop, kwargs={1: "x"}), r"kwargs keys must be str .*; got 1"),
        (dict(fn=noop, name=5), "name must be a str or None; got 5"),
        (dict(fn=noop, with_agent="yes"), "with_agent must be True or False; got 'yes'"),
        (dict(fn=noop, requires=5), "requires must be a capability name .* or an iterable of them, like .*; got 5"),
        (dict(fn=noop, requires=0), "requires must be .*; got 0"),
        (dict(fn=noop, requires={"a": 1}), r"requires must be .*; got dict \{'a': 1\}"),
        (dict(fn=noop, requires=["gpu", 3]), "requires must be .*; got 3 in"),
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
        ("max_cpu_percent", 500),
        ("max_cpu_percent", 100.5),
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
    (dict(capabilities=5), "capabilities must be a capability name .* or an iterable of them, like .*; got 5"),
    (dict(capabilities=[1]), "capabilities must be .*; got 1 in"),
    (dict(capabilities={"a": 1}), r"capabilities must be .*; got dict \{'a': 1\}"),
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


def test_good_task_and_agent_input_is_kept():
    t = Task(noop, [1, 2], {"k": 3}, name="n", requires=("gpu", "net"), with_agent=True)
    assert (t.args, t.kwargs, t.name, t.requires, t.with_agent) == ((1, 2), {"k": 3}, "n",
                                                                   frozenset({"gpu", "net"}), True)
    assert Task(noop, requires="gpu").requires == frozenset({"gpu"})
    assert Task(noop, requires=None).requires == frozenset()
    assert Agent("x", capabilities={"a", "b"}).capabilities == frozenset({"a", "b"})
    assert ResourceLimits(max_cpu_percent=100).max_cpu_percent == 100


def test_cpu_limit_above_the_whole_machine_says_what_is_allowed():
    with pytest.raises(sl.ConfigError, match=r"share of the whole machine: 0 < x <= 100.*got 500"):
        ResourceLimits(max_cpu_percent=500)


@pytest.mark.parametrize("seed", ["x", 1.5, True, None])
def test_executor_seed_must_be_an_int(seed):
    with pytest.raises(sl.ConfigError, match=f"seed must be an int; got {seed!r}"):
        sl.ParallelExecutor(mode="thread", seed=seed)


@pytest.mark.parametrize("agents", [["a"], [Agent("a"), "b"], "ab"])
def test_executor_agents_must_be_agent_objects(agents):
    with pytest.raises(sl.ConfigError, match="agents must be Agent objects"):
        sl.ParallelExecutor(mode="thread", agents=agents)
