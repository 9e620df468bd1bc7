"""Code written for the original ``swarm_benchmark.core`` runs with one import changed.

The original design's examples run as written there (top-level ``await`` included) on a
real event loop; a script in the original's style, reading every key the original's
results have, runs in a subprocess of its own; each original name, field, default and
return shape is checked on its own.
"""

import ast
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import WAIT_LIMIT_S, until

import swarmlab as sl
from swarmlab import Agent
from swarmlab.orchestration import (
    BenchmarkConfig, CallableRunner, OptimizedBenchmarkEngine, OrchestrationConfig, OrchestrationManager,
    SimulatedAgentRunner,
)

QUIET = dict(progress_reporting=False)
FAST = SimulatedAgentRunner(0, time_scale=0.001)

EXECUTION_KEYS = {"tasks_queued", "tasks_running", "tasks_completed", "tasks_failed", "total_execution_time",
                  "average_execution_time", "peak_cpu_usage", "peak_memory_usage", "throughput",
                  "current_cpu_usage", "current_memory_usage", "queue_wait_time"}
SCHEDULING_KEYS = {"total_scheduled", "scheduling_time", "load_balance_score", "capability_match_score",
                   "max_agent_load", "min_agent_load"}
TOTALS_KEYS = {"total_benchmarks", "completed_benchmarks", "failed_benchmarks", "total_tasks", "completed_tasks",
               "average_completion_time", "resource_utilization"}
AGENT_KEYS = {"id", "name", "type", "status", "current_task", "tasks_completed", "tasks_failed", "success_rate",
              "average_execution_time"}
BENCHMARK_KEYS = {"benchmark_id", "status", "summary", "duration", "optimized", "performance_metrics", "results"}


def top_level_await(source: str, namespace: dict):
    """Run ``source`` as a notebook cell runs it: top-level ``await`` allowed, on a real loop."""
    code = compile(textwrap.dedent(source), "<original example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

    async def cell():
        out = eval(code, namespace)
        if asyncio.iscoroutine(out):
            await out

    asyncio.run(cell())
    return namespace


# ---------------------------------------------------------------- the original's examples, as written

BASIC = """
from swarmlab import ParallelExecutor, ExecutionMode, ResourceLimits

# Configure resource limits
limits = ResourceLimits(
    max_cpu_percent=80.0,
    max_memory_mb=1024.0,
    max_concurrent_tasks=10
)

# Create executor
executor = ParallelExecutor(
    mode=ExecutionMode.HYBRID,
    limits=limits
)

# Start executor
await executor.start()

# Submit tasks
task_ids = []
for task in tasks:
    task_id = await executor.submit_task(task, priority=1)
    task_ids.append(task_id)

# Wait for completion
await executor.wait_for_completion(timeout=300)

# Get results
results = await executor.get_all_results()

# Shutdown
await executor.stop()
"""

ADVANCED = """
from swarmlab import (
    OrchestrationManager,
    OrchestrationConfig,
    SchedulingAlgorithm
)

# Configure orchestration
config = OrchestrationConfig(
    execution_mode=ExecutionMode.HYBRID,
    scheduling_algorithm=SchedulingAlgorithm.DYNAMIC,
    enable_work_stealing=True,
    auto_scaling=True,
    max_parallel_benchmarks=10
)

# Create manager
orchestrator = OrchestrationManager(config)

# Run benchmark suite
results = await orchestrator.run_benchmark_suite(
    objectives=["objective1", "objective2", "objective3"],
    config=benchmark_config
)

# Get comprehensive metrics
metrics = orchestrator.get_orchestration_metrics()
"""

ENGINE = """
# Using OptimizedBenchmarkEngine with parallel execution
engine = OptimizedBenchmarkEngine(
    config=benchmark_config,
    enable_optimizations=True
)

# The engine automatically uses parallel execution
result = await engine.run_benchmark(objective)
"""

METRICS = """
ResourceLimits(
    max_cpu_percent=80.0,      # Maximum CPU usage percentage
    max_memory_mb=1024.0,      # Maximum memory in MB
    max_concurrent_tasks=10,   # Maximum parallel tasks
    max_queue_size=1000,       # Maximum queued tasks
    task_timeout=300,          # Task timeout in seconds
    monitoring_interval=1.0    # Resource check interval
)
ExecutionMetrics(
    tasks_queued=0,            # Number of tasks waiting
    tasks_running=0,           # Currently executing tasks
    tasks_completed=0,         # Successfully completed tasks
    tasks_failed=0,            # Failed tasks
    total_execution_time=0.0,  # Total execution time
    average_execution_time=0.0,# Average per task
    peak_cpu_usage=0.0,        # Peak CPU percentage
    peak_memory_usage=0.0,     # Peak memory in MB
    throughput=0.0             # Tasks per second
)
SchedulingMetrics(
    total_scheduled=0,         # Total tasks scheduled
    scheduling_time=0.0,       # Time spent scheduling
    load_balance_score=0.0,    # Load distribution quality (0-1)
    capability_match_score=0.0,# Capability matching quality (0-1)
    max_agent_load=0,          # Maximum tasks per agent
    min_agent_load=0           # Minimum tasks per agent
)
"""


def test_the_original_basic_example_runs_as_written():
    ns = top_level_await(BASIC, {"tasks": [sl.Task(pow, (2, i)) for i in range(10)]})
    assert [ns["results"][i].value for i in ns["task_ids"]] == [2**i for i in range(10)]


def test_the_original_advanced_example_runs_as_written():
    ns = top_level_await(ADVANCED, {"ExecutionMode": sl.ExecutionMode,
                                    "benchmark_config": BenchmarkConfig(name="suite", max_agents=10)})
    results, metrics = ns["results"], ns["metrics"]
    assert results["total_objectives"] == results["completed_objectives"] == 3
    assert results["throughput"] == pytest.approx(3 / results["duration"])
    assert metrics["orchestration"]["completed_benchmarks"] == 3
    assert results.record.meta["suite"] == "suite" and len(results.summary) == 3


def test_the_original_engine_example_runs_as_written():
    ns = top_level_await(ENGINE, {"OptimizedBenchmarkEngine": OptimizedBenchmarkEngine, "objective": "Test the parser",
                                  "benchmark_config": BenchmarkConfig(name="engine")})
    result = ns["result"]
    assert result["status"] == "success" and result["optimized"] is True
    assert result["results"][0]["status"] == "completed"


def test_the_original_config_and_metrics_snippets_construct_and_keep_what_they_were_given():
    names = {n: getattr(sl, n) for n in ("ResourceLimits", "ExecutionMetrics", "SchedulingMetrics")}
    calls = [node.value for node in ast.parse(METRICS).body]
    assert [c.func.id for c in calls] == list(names)  # the snippet as written: one of each
    for call in calls:
        made = eval(compile(ast.Expression(call), "<METRICS>", "eval"), dict(names))
        assert isinstance(made, names[call.func.id])
        given = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
        assert {k: getattr(made, k) for k in given} == given, call.func.id


# ---------------------------------------------------------------- BenchmarkConfig

ORIGINAL_DEFAULTS = {
    "name": "benchmark", "description": "", "strategy": sl.StrategyType.AUTO, "mode": sl.CoordinationMode.CENTRALIZED,
    "max_agents": 5, "max_tasks": 100, "timeout": 3600, "task_timeout": 300, "max_retries": 3, "parallel": False,
    "background": False, "monitoring": True, "quality_threshold": 0.8,
    "resource_limits": {"max_memory_mb": 1024, "max_cpu_percent": 80, "max_network_mbps": 100},
    "output_formats": ["json"], "output_directory": "./reports", "verbose": False,
}


def test_benchmark_config_has_the_originals_fields_and_defaults():
    got = dataclasses.asdict(BenchmarkConfig())
    assert {k: got[k] for k in ORIGINAL_DEFAULTS} == ORIGINAL_DEFAULTS
    assert list(got)[: len(ORIGINAL_DEFAULTS)] == list(ORIGINAL_DEFAULTS)  # positional use keeps working
    assert set(got) - set(ORIGINAL_DEFAULTS) == {"repeats", "seed"}
    a, b = BenchmarkConfig(), BenchmarkConfig()
    a.resource_limits["max_memory_mb"] = 1
    a.output_formats.append("csv")
    assert b.resource_limits["max_memory_mb"] == 1024 and b.output_formats == ["json"]  # no shared defaults


def test_the_originals_orchestration_example_config_is_accepted_and_kept_in_meta():
    bc = BenchmarkConfig(name="parallel-demo", description="three objectives", strategy="auto", mode="hierarchical",
                         max_agents=10, parallel=True, timeout=300, background=True, monitoring=False,
                         quality_threshold=0.9, output_formats=["json", "csv"], output_directory="out", verbose=True)
    m = OrchestrationManager(OrchestrationConfig(runner=FAST, **QUIET))
    r = sl.run(m.run_benchmark_suite(["Research caching", "Test the API"], bc))
    meta = r.record.meta
    assert meta["benchmark_config"] == {**ORIGINAL_DEFAULTS, "name": "parallel-demo", "description": "three objectives",
                                        "strategy": "auto", "mode": "hierarchical", "max_agents": 10,
                                        "parallel": True, "timeout": 300, "background": True, "monitoring": False,
                                        "quality_threshold": 0.9, "output_formats": ["json", "csv"],
                                        "output_directory": "out", "verbose": True, "repeats": 1, "seed": 0}
    assert meta["recorded_only"] == ["description", "parallel", "background", "monitoring", "quality_threshold",
                                     "output_formats", "output_directory", "verbose"]
    assert meta["coordination_mode"] == "hierarchical" and r["completed_objectives"] == 2
    json.dumps(meta)


@pytest.mark.parametrize("bad, match", [
    (dict(max_agents=0), "max_agents must be a positive int"),
    (dict(max_tasks=-1), "max_tasks must be a positive int"),
    (dict(parallel="yes"), "parallel must be True or False"),
    (dict(quality_threshold=2), "quality_threshold must be a number in"),
    (dict(resource_limits=[("max_memory_mb", 1)]), "resource_limits must be a dict"),
    (dict(resource_limits={"max_memory_mb": -5}), r"resource_limits\['max_memory_mb'\] must be a positive"),
    (dict(resource_limits={"max_cpu_percent": 400}), "share of the whole machine"),
    (dict(output_formats="json"), "output_formats must be a list of str"),
    (dict(max_retries=-1), "max_retries must be an int >= 0"),
    (dict(repeats=0), "repeats must be a positive int"),  # swarmlab's own fields, alike
    (dict(strategy="magic"), "strategy must be one of"),
    (dict(mode="star"), "mode must be one of"),
    (dict(task_timeout=-1), "task_timeout must be a positive number"),
])
def test_bad_benchmark_config_fields_are_config_errors(bad, match):
    with pytest.raises(sl.ConfigError, match=match):
        BenchmarkConfig(**bad)


def test_max_agents_bounds_the_agents_a_suite_uses_and_keeps_those_it_needs():
    m = OrchestrationManager(OrchestrationConfig(runner=FAST, **QUIET))  # the original's pool of 11
    objectives = ["Optimize the cache", "Test the API", "Research stores", "Fix the docs"]
    r = sl.run(m.run_benchmark_suite(objectives, BenchmarkConfig(max_agents=4)))
    used = [a["id"] for a in r.record.meta["agents"]]
    assert len(used) == 4 and r["completed_objectives"] == 4
    assert {a["type"] for a in r.record.meta["agents"]} == {"specialist", "tester", "researcher", "developer"}
    assert [a["id"] for a in m.get_agent_status()] == used
    default = sl.run(m.run_benchmark_suite(["Research a"]))
    assert default.record.meta["n_agents"] == 5  # the original's default, max_agents=5
    with pytest.raises(sl.ConfigError, match="max_agents is 2, but the objectives need .* raise max_agents to 4"):
        sl.run(m.run_benchmark_suite(objectives, BenchmarkConfig(max_agents=2)))


def test_max_agents_bounds_auto_scaling_too():
    def work(objective, agent):
        time.sleep(0.3 if objective == "long" else 0.05)

    config = OrchestrationConfig(agents=[Agent("solo")], runner=CallableRunner(work), auto_scaling=True,
                                 min_agents=1, max_agents=8, scale_interval_s=0.02, **QUIET)
    m = OrchestrationManager(config)
    r = sl.run(m.run_benchmark_suite(["long"] + [f"short{i}" for i in range(12)], BenchmarkConfig(max_agents=2)))
    assert r["completed_objectives"] == 13
    ev = r.record.events
    sizes = ev.loc[ev["event"] == "scaled", "detail"].astype(str).str.extract(r"\((\d+) agents\)")[0].astype(int)
    assert (sizes <= 2).all() and m.get_orchestration_metrics()["orchestration"]["agents_peak"] <= 2
    assert sum(a["status"] != "retired" for a in m.get_agent_status()) <= 2


def test_max_tasks_refuses_a_bigger_suite_before_it_runs():
    m = OrchestrationManager(OrchestrationConfig(runner=FAST, **QUIET))
    with pytest.raises(sl.ConfigError, match=r"6 objective runs .*max_tasks is 5"):
        sl.run(m.run_benchmark_suite(["a", "b", "c"], BenchmarkConfig(max_tasks=5, repeats=2)))
    assert m.executor is None
    assert sl.run(m.run_benchmark_suite(["a", "b", "c"], BenchmarkConfig(max_tasks=6, repeats=2)))[
        "completed_objectives"] == 6


def test_max_retries_defaults_to_the_originals_three():
    m = OrchestrationManager(OrchestrationConfig(runner=SimulatedAgentRunner(0, time_scale=0, failure_rate=1.0),
                                                 **QUIET))
    r = sl.run(m.run_benchmark_suite(["a"]))
    assert r.summary["attempts"].tolist() == [4]  # one attempt and three retries
    assert r.record.tasks["attempt"].tolist() == [1, 2, 3, 4]


def test_task_timeout_and_timeout_act():
    def slow(objective, agent):
        time.sleep(2 if objective == "slow" else 0)

    m = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(slow), execution_mode="asyncio", **QUIET))
    r = sl.run(m.run_benchmark_suite(["slow", "quick"], BenchmarkConfig(task_timeout=0.2, max_retries=0)))
    assert r.summary.set_index("objective")["status"].to_dict() == {"slow": "timed_out", "quick": "completed"}
    one = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(slow), max_parallel_benchmarks=1,
                                                   execution_mode="asyncio", **QUIET))
    r = sl.run(one.run_benchmark_suite(["slow", "slow"], BenchmarkConfig(timeout=0.2)))
    assert set(r.summary["status"]) == {"cancelled"}


def test_resource_limits_act_with_the_orchestrations_the_stricter_applies():
    m = OrchestrationManager(OrchestrationConfig(runner=FAST, **QUIET))
    bc = BenchmarkConfig(resource_limits={"max_memory_mb": 4096, "max_cpu_percent": 50, "max_network_mbps": 10})
    limits = sl.run(m.run_benchmark_suite(["a"], bc)).record.meta["limits"]
    assert (limits["max_memory_mb"], limits["max_cpu_percent"]) == (1024.0, 50)
    off = OrchestrationManager(OrchestrationConfig(
        runner=FAST, resource_limits=sl.ResourceLimits(max_cpu_percent=None, max_memory_mb=None), **QUIET))
    limits = sl.run(off.run_benchmark_suite(["a"], BenchmarkConfig(resource_limits={}))).record.meta["limits"]
    assert (limits["max_memory_mb"], limits["max_cpu_percent"]) == (None, None)
    limits = sl.run(off.run_benchmark_suite(["a"])).record.meta["limits"]
    assert (limits["max_memory_mb"], limits["max_cpu_percent"]) == (1024, 80)


# ---------------------------------------------------------------- results are the original's dicts


def behaves_as_a_dict(d):
    assert isinstance(d, dict)
    assert list(d.keys()) == list(dict(d)) and all(d[k] is d.get(k) for k in d)
    assert json.loads(json.dumps(d, default=str)).keys() == d.keys()
    assert d.get("no such key", "default") == "default"


def test_suite_results_are_the_originals_dicts_with_swarmlabs_objects_on_them():
    m = OrchestrationManager(OrchestrationConfig(runner=FAST, **QUIET))
    r = sl.run(m.run_benchmark_suite(["Research a", "Test b"]))
    behaves_as_a_dict(r)
    for key, wanted in (("execution_metrics", EXECUTION_KEYS), ("scheduling_metrics", SCHEDULING_KEYS)):
        behaves_as_a_dict(r[key])
        assert wanted <= set(r[key])
    ex, sched = r["execution_metrics"], r["scheduling_metrics"]
    assert ex["tasks_completed"] == 2 and ex.tasks_completed == 2  # keys read as attributes too
    assert sched["total_scheduled"] == 2 and 0 < sched["load_balance_score"] <= 1
    assert sched["max_agent_load"] >= sched["min_agent_load"] >= 0
    assert ex["queue_wait_time"] >= 0 and ex["average_execution_time"] > 0
    assert isinstance(r["results"], list) and {x["objective"] for x in r["results"]} == {"Research a", "Test b"}
    assert r["orchestration_metrics"]["orchestration"]["completed_benchmarks"] == 2  # this suite counted
    assert len(r.summary) == 2 and r.record.run_id == r["suite_id"]
    assert dict(r)["suite_id"] == r["suite_id"] and not hasattr(dict(r), "record")


def test_orchestration_metrics_are_the_originals_dict():
    m = OrchestrationManager(OrchestrationConfig(runner=SimulatedAgentRunner(0, time_scale=0.005, failure_rate=0.5),
                                                 monitoring_interval=0.05, **QUIET))
    before = m.get_orchestration_metrics()
    assert before["orchestration"]["total_benchmarks"] == 0 and len(before["agents"]) == 11
    sl.run(m.run_benchmark_suite([f"Research {i}" for i in range(6)], BenchmarkConfig(max_retries=1)))
    sl.run(m.run_benchmark_suite(["Test it"], BenchmarkConfig(max_retries=0)))
    metrics = m.get_orchestration_metrics()
    behaves_as_a_dict(metrics)
    assert set(metrics) == {"orchestration", "execution", "scheduling", "agents", "resource_usage", "performance"}
    o = metrics["orchestration"]
    assert TOTALS_KEYS <= set(o)
    rows = [r for s in m.history for r in s["results"]]
    done = [r for r in rows if r["status"] == "completed"]
    attempts = sum(len(s.record.tasks.dropna(subset=["started_s"])) for s in m.history)
    assert (o["total_benchmarks"], o["completed_benchmarks"], o["failed_benchmarks"]) == (7, len(done), 7 - len(done))
    assert o["total_tasks"] == attempts >= 7 and o["completed_tasks"] == len(done)
    assert o["average_completion_time"] == pytest.approx(sum(r["run_s"] for r in done) / len(done))
    assert 0 < o["resource_utilization"] <= 1 and o["suites_run"] == 2
    assert EXECUTION_KEYS <= set(metrics["execution"]) and SCHEDULING_KEYS <= set(metrics["scheduling"])
    assert metrics["execution"]["tasks_queued"] == 0  # the last suite's
    assert set(metrics["resource_usage"]) == {"cpu_current", "cpu_peak", "memory_current", "memory_peak"}
    assert metrics["resource_usage"]["memory_peak"] >= metrics["resource_usage"]["memory_current"] > 0
    assert set(metrics["performance"]) == {"throughput", "average_execution_time", "queue_wait_time",
                                           "load_balance_score"}
    assert metrics["performance"]["throughput"] == metrics["execution"]["throughput"]
    assert metrics["agents"] == m.get_agent_status()


def test_agent_status_is_the_originals_list_of_dicts():
    m = OrchestrationManager(OrchestrationConfig(runner=SimulatedAgentRunner(0, time_scale=0.001, failure_rate=0.5),
                                                 **QUIET))
    for agents in (m.get_agent_status(), None):
        if agents is None:
            sl.run(m.run_benchmark_suite([f"Research {i}" for i in range(8)], BenchmarkConfig(max_retries=2)))
            agents = m.get_agent_status()
        assert isinstance(agents, list) and agents
        for a in agents:
            behaves_as_a_dict(a)
            assert AGENT_KEYS <= set(a) and a["name"] == a["id"]
            assert 0 <= a["success_rate"] <= 1 and a["status"] in {"idle", "busy", "retired"}
            assert a["current_task"] is None  # nothing runs now
    t = m.history[-1].record.tasks.dropna(subset=["started_s"])
    by = {a["id"]: a for a in agents}
    for agent_id, rows in t.groupby("agent_id", observed=True):
        ok = int((rows["status"] == "completed").sum())
        a = by[agent_id]
        assert (a["tasks_completed"], a["tasks_failed"]) == (ok, len(rows) - ok)
        assert a["success_rate"] == pytest.approx(ok / len(rows))
        assert a["average_execution_time"] == pytest.approx(rows["run_s"].mean())


def test_a_running_suite_shows_busy_agents_and_their_current_task():
    seen = []
    looked = threading.Event()

    def work(objective, agent):
        looked.wait(WAIT_LIMIT_S)  # busy until the test has looked (a thread: CallableRunner's)

    m = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(work), agents=[Agent("a"), Agent("b")],
                                                 **QUIET))

    async def main():
        suite = asyncio.ensure_future(m.run_benchmark_suite(["x", "y", "z"]))
        try:
            await until(lambda: suite.done() or any(a["status"] == "busy" for a in m.get_agent_status()),
                        what="an agent busy")
            seen.extend(m.get_agent_status())
        finally:
            looked.set()
        return await suite

    r = asyncio.run(main())
    busy = [a for a in seen if a["status"] == "busy"]
    assert busy and all(a["current_task"] in {"benchmark-0", "benchmark-1", "benchmark-2"} for a in busy)
    assert r["completed_objectives"] == 3


def test_adaptive_and_engine_benchmarks_are_the_originals_dicts():
    m = OrchestrationManager(OrchestrationConfig(runner=FAST, **QUIET))
    adaptive = sl.run(m.run_adaptive_benchmark("Validate the schema", BenchmarkConfig(name="adaptive")))
    on = sl.run(OptimizedBenchmarkEngine(config=BenchmarkConfig(), enable_optimizations=True).run_benchmark("Test x"))
    off = sl.run(OptimizedBenchmarkEngine(config=BenchmarkConfig(), enable_optimizations=False).run_benchmark("Test"))
    for r, optimized in ((adaptive, True), (on, True), (off, False)):
        behaves_as_a_dict(r)
        assert BENCHMARK_KEYS <= set(r) and "error" not in r
        assert r["status"] == "success" and r["optimized"] is optimized and isinstance(r["summary"], str)
        assert isinstance(r["results"], list) and [x["status"] for x in r["results"]] == ["completed"]
        assert isinstance(r["performance_metrics"], dict) and r["duration"] > 0
        assert r["benchmark_id"] == r.record.run_id and len(r.summary) == 1
    assert EXECUTION_KEYS <= set(on["performance_metrics"]["executor"])
    assert on["performance_metrics"]["executor"]["tasks_completed"] == 1
    assert adaptive.summary["strategy"].tolist() == ["testing"]


def test_a_failed_benchmark_is_status_failed_with_an_error_not_an_exception():
    failing = OrchestrationManager(OrchestrationConfig(
        runner=SimulatedAgentRunner(0, time_scale=0, failure_rate=1.0), **QUIET))
    r = sl.run(failing.run_adaptive_benchmark("Research it", BenchmarkConfig(max_retries=0)))
    assert r["status"] == "failed" and "SimulatedFailure" in r["error"] and r["results"][0]["status"] == "failed"
    engine = OptimizedBenchmarkEngine(config=BenchmarkConfig(strategy="testing"), orchestration=OrchestrationConfig(
        agents=[Agent("dev", capabilities={"development"})], **QUIET))
    r = sl.run(engine.run_benchmark("Test it"))  # no agent can test
    behaves_as_a_dict(r)
    assert r["status"] == "failed" and "NoEligibleAgentError" in r["error"] and "testing" in r["error"]
    assert BENCHMARK_KEYS <= set(r) and r["results"] == [] and r.record is None
    with pytest.raises(sl.ConfigError, match="objective must be a non-empty str"):
        sl.run(engine.run_benchmark(""))  # a wrong argument is still refused at the boundary


# ---------------------------------------------------------------- a script in the original's style

ORIGINAL_STYLE_SCRIPT = '''
import asyncio
import json

from swarmlab import (BenchmarkConfig, CoordinationMode, ExecutionMode, OptimizedBenchmarkEngine,
                      OrchestrationConfig, OrchestrationManager, SchedulingAlgorithm, StrategyType)


async def main():
    config = OrchestrationConfig(execution_mode=ExecutionMode.HYBRID,
                                 scheduling_algorithm=SchedulingAlgorithm.DYNAMIC,
                                 enable_work_stealing=True, auto_scaling=True, max_parallel_benchmarks=10)
    orchestrator = OrchestrationManager(config)
    benchmark_config = BenchmarkConfig(name="parallel-demo", strategy=StrategyType.AUTO,
                                       mode=CoordinationMode.HIERARCHICAL, max_agents=10, parallel=True,
                                       timeout=300)
    results = await orchestrator.run_benchmark_suite(
        objectives=["Research caching strategies", "Test the API", "Optimize the database queries"],
        config=benchmark_config)

    print("suite:", results["suite_id"], results["completed_objectives"], "of", results["total_objectives"])
    em = results["execution_metrics"]
    for key in ("tasks_completed", "average_execution_time", "peak_cpu_usage", "peak_memory_usage",
                "current_cpu_usage", "current_memory_usage", "queue_wait_time"):
        print(f"execution {key}: {em[key]}")
    sm = results["scheduling_metrics"]
    for key in ("total_scheduled", "load_balance_score", "max_agent_load", "min_agent_load"):
        print(f"scheduling {key}: {sm[key]}")

    metrics = orchestrator.get_orchestration_metrics()
    o = metrics["orchestration"]
    for key in ("total_benchmarks", "completed_benchmarks", "failed_benchmarks", "total_tasks", "completed_tasks",
                "average_completion_time", "resource_utilization"):
        print(f"orchestration {key}: {o[key]}")
    print("execution throughput:", metrics["execution"]["throughput"])
    print("scheduling total:", metrics["scheduling"]["total_scheduled"])
    for agent in metrics["agents"]:
        print(f"agent {agent['name']} ({agent['id']}, {agent['type']}): {agent['status']}, "
              f"task {agent['current_task']}, {agent['tasks_completed']} done, {agent['tasks_failed']} failed, "
              f"success {agent['success_rate']:.0%}, {agent['average_execution_time']:.3f} s")
    ru = metrics["resource_usage"]
    print("resources:", ru["cpu_current"], ru["cpu_peak"], ru["memory_current"], ru["memory_peak"])
    perf = metrics["performance"]
    print("performance:", perf["throughput"], perf["average_execution_time"], perf["queue_wait_time"],
          perf["load_balance_score"])
    assert orchestrator.get_agent_status() == metrics["agents"]

    adaptive = await orchestrator.run_adaptive_benchmark("Validate the schema", benchmark_config)
    engine = OptimizedBenchmarkEngine(config=benchmark_config, enable_optimizations=True)
    result = await engine.run_benchmark("Build the client")
    for r in (adaptive, result):
        print("benchmark:", r["benchmark_id"], r["status"], r["summary"], f"{r['duration']:.2f}", r["optimized"])
        print("executor completed:", r["performance_metrics"]["executor"]["tasks_completed"])
        for row in r["results"]:
            print("  result:", row["objective"], row["status"])
        if r["status"] == "failed":
            print("  error:", r["error"])

    with open("report.json", "w") as f:
        json.dump({"suite": results, "metrics": metrics, "adaptive": adaptive, "engine": result}, f, default=str)
    print("saved", sorted(dict(results)))


asyncio.run(main())
'''


@pytest.mark.slow
def test_a_script_in_the_originals_style_runs_unchanged(tmp_path):
    script = tmp_path / "original_style.py"
    script.write_text(ORIGINAL_STYLE_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=os.environ.copy(), capture_output=True,
                         text=True, timeout=110)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("suite: ") and lines[0].endswith("3 of 3")
    assert sum(line.startswith("agent ") for line in lines) == 10  # max_agents=10 of the pool of 11
    benchmarks = [line.split()[2] for line in lines if line.startswith("benchmark: ")]
    assert benchmarks == ["success", "success"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["suite"]["execution_metrics"]["tasks_completed"] == 3
    assert report["metrics"]["orchestration"]["completed_benchmarks"] == 3
    assert set(report["metrics"]["resource_usage"]) == {"cpu_current", "cpu_peak", "memory_current", "memory_peak"}
