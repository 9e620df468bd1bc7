"""Suites of objectives: the original API, runners, auto-scaling, progress."""

import sys
import time

import psutil
import pytest

import swarmlab as sl
from swarmlab import Agent, ExecutionMode, SchedulingAlgorithm
from swarmlab.orchestration import (
    BenchmarkConfig, BenchmarkEngine, CallableRunner, CommandRunner, CoordinationMode, OptimizedBenchmarkEngine,
    OrchestrationConfig, OrchestrationManager, SimulatedAgentRunner, StrategyType,
)

QUIET = dict(progress_reporting=False)


def test_a_suite_result_has_the_originals_keys_its_summary_and_record():
    config = OrchestrationConfig(
        execution_mode=ExecutionMode.HYBRID, scheduling_algorithm=SchedulingAlgorithm.DYNAMIC,
        enable_work_stealing=True, auto_scaling=True, max_parallel_benchmarks=10, **QUIET,
    )
    orchestrator = OrchestrationManager(config)
    results = sl.run(orchestrator.run_benchmark_suite(
        objectives=["objective1", "objective2", "objective3"], config=BenchmarkConfig(name="suite")))
    metrics = orchestrator.get_orchestration_metrics()
    assert set(results) == {"suite_id", "total_objectives", "completed_objectives", "failed_objectives", "duration",
                            "throughput", "results", "orchestration_metrics", "scheduling_metrics",
                            "execution_metrics"}
    assert results["total_objectives"] == results["completed_objectives"] == 3
    assert results["throughput"] == pytest.approx(3 / results["duration"])
    assert len(results.summary) == 3 and results.summary["simulated"].all()
    assert results.record.meta["suite"] == "suite" and results.record.meta["runner"] == "SimulatedAgentRunner"
    assert metrics["orchestration"]["suites_run"] == 1 and metrics["orchestration"]["completed_benchmarks"] == 3
    assert sl.SchedulingMetrics(**results["scheduling_metrics"]) == orchestrator._scheduler.get_metrics()


def test_strategies_send_objectives_to_agents_holding_their_capability():
    m = OrchestrationManager(OrchestrationConfig(**QUIET))
    r = sl.run(m.run_benchmark_suite(["Test the login flow", "Research vector stores", "Build the API client"]))
    by = r.summary.set_index("strategy")["agent_type"]
    assert (by["testing"], by["research"], by["development"]) == ("tester", "researcher", "developer")
    only_devs = OrchestrationManager(OrchestrationConfig(agents=[Agent("d", capabilities={"development"})], **QUIET))
    with pytest.raises(sl.NoEligibleAgentError, match="testing"):
        sl.run(only_devs.run_benchmark_suite(["x"], BenchmarkConfig(strategy="testing")))


def test_simulated_runner_is_seeded_and_fails_at_its_rate():
    def modelled(seed):
        m = OrchestrationManager(OrchestrationConfig(runner=SimulatedAgentRunner(seed, time_scale=0.001),
                                                     scheduling_algorithm="round_robin", **QUIET))
        return sl.run(m.run_benchmark_suite(["a", "b", "c"])).summary["modelled_s"].tolist()

    assert modelled(1) == modelled(1) != modelled(2)
    m = OrchestrationManager(OrchestrationConfig(runner=SimulatedAgentRunner(0, time_scale=0, failure_rate=1.0), **QUIET))
    r = sl.run(m.run_benchmark_suite(["a", "b"], BenchmarkConfig(max_retries=1)))
    assert r["failed_objectives"] == 2 and (r.summary["attempts"] == 2).all()
    assert set(r.summary["error_type"]) == {"SimulatedFailure"}


SCRIPT = """
import sys, time
objective, agent = sys.argv[1], sys.argv[2]
if objective == "hang":
    time.sleep(600)
if objective == "fail":
    print("something broke", file=sys.stderr)
    sys.exit(3)
print(f"{agent} did {objective}")
"""


def test_command_runner_runs_real_commands_and_kills_what_hangs(tmp_path):
    script = tmp_path / "agent.py"
    script.write_text(SCRIPT)
    runner = CommandRunner([sys.executable, str(script), "{objective}", "{agent}"])
    m = OrchestrationManager(OrchestrationConfig(runner=runner, **QUIET))
    r = sl.run(m.run_benchmark_suite(["ok", "hang", "fail"], BenchmarkConfig(task_timeout=1.0, max_retries=0)))
    s = r.summary.set_index("objective")
    ok = next(x for x in r["results"] if x["objective"] == "ok")
    assert s.loc["ok", "status"] == "completed" and s.loc["ok", "exit_code"] == 0
    assert r.record.final().set_index("name").loc["ok", "status"] == "completed"
    assert ok["agent_id"] in s.loc["ok", "agent_id"]
    assert s.loc["hang", "status"] == "timed_out"
    assert s.loc["fail", "status"] == "failed" and s.loc["fail", "error_type"] == "CommandError"
    assert "exited with code 3" in s.loc["fail", "error"] and "something broke" in s.loc["fail", "error"]
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(script) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def test_command_runner_takes_an_argv_list_only():
    with pytest.raises(sl.ConfigError, match="never a shell string"):
        CommandRunner("echo {objective}")
    with pytest.raises(sl.ConfigError, match="placeholder 'who' is unknown"):
        CommandRunner(["echo", "{who}"]).argv(objective="x", strategy="auto", mode="mesh", agent="a",
                                               agent_type="tester", attempt=1)


def test_callable_runner_takes_sync_and_async_functions():
    async def shout(objective, agent):
        return objective.upper()

    for fn in (lambda objective, agent: f"{agent.id}:{objective}", shout):
        m = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(fn), **QUIET))
        r = sl.run(m.run_benchmark_suite(["go"]))
        assert r["completed_objectives"] == 1
        out = r["results"][0]
        assert r.summary["simulated"].tolist() == [False] and out["status"] == "completed"


def test_auto_scaling_grows_under_load_and_shrinks_when_idle():
    def work(objective, agent):
        time.sleep(1.2 if objective == "long" else 0.15)

    config = OrchestrationConfig(agents=[Agent("solo")], runner=CallableRunner(work), auto_scaling=True,
                                 min_agents=1, max_agents=4, scale_interval_s=0.05, **QUIET)
    m = OrchestrationManager(config)
    r = sl.run(m.run_benchmark_suite(["long"] + [f"short{i}" for i in range(10)]))
    assert r["completed_objectives"] == 11
    ev = r.record.events
    scaled = ev.loc[ev["event"] == "scaled", "detail"].astype(str).tolist()
    assert any(d.startswith("+1") for d in scaled) and any(d.startswith("-1") for d in scaled)
    assert "tasks waiting and all" in next(d for d in scaled if d.startswith("+1"))
    metrics = m.get_orchestration_metrics()["orchestration"]
    assert metrics.scale_ups >= 1 and metrics.scale_downs >= 1 and metrics.agents_peak > 1
    assert r.summary["agent_id"].nunique() > 1


def test_progress_callback_and_suite_timeout():
    seen = []
    m = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(lambda o, a: time.sleep(0.05)), **QUIET))
    sl.run(m.run_benchmark_suite(["a", "b", "c"], progress=lambda done, total, res: seen.append((done, total))))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    slow = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(lambda o, a: time.sleep(3)),
                                                    max_parallel_benchmarks=1, execution_mode="asyncio", **QUIET))
    r = sl.run(slow.run_benchmark_suite(["a", "b"], BenchmarkConfig(timeout=0.3)))
    assert set(r.summary["status"]) == {"cancelled"} and r["completed_objectives"] == 0


def test_engines_agent_status_and_adaptive_runs():
    r = sl.run(BenchmarkEngine(BenchmarkConfig(strategy=StrategyType.RESEARCH)).run_benchmark("survey"))
    assert r["status"] == "success" and r.suite["completed_objectives"] == 1 and r.summary["strategy"].tolist() == ["research"]
    engine = OptimizedBenchmarkEngine(config=BenchmarkConfig(mode=CoordinationMode.MESH), enable_optimizations=True)
    r = sl.run(engine.run_benchmark("Test the parser"))
    assert r.record.meta["coordination_mode"] == "mesh" and engine.manager.config.auto_scaling
    m = OrchestrationManager(OrchestrationConfig(**QUIET))
    before = m.get_agent_status()
    assert len(before) == 11 and {s["type"] for s in before} >= {"researcher", "coordinator", "specialist"}
    sl.run(m.run_benchmark_suite(["Research a", "Research b"]))
    after = m.get_agent_status()
    assert sum(s["tasks_completed"] for s in after) == 2
    adaptive = sl.run(m.run_adaptive_benchmark("Validate the schema"))
    assert adaptive.summary["strategy"].tolist() == ["testing"]


def test_bad_suite_input():
    m = OrchestrationManager(OrchestrationConfig(**QUIET))
    for objectives in ([], "one string", ["ok", ""]):
        with pytest.raises(sl.ConfigError, match="objectives must be a non-empty list"):
            sl.run(m.run_benchmark_suite(objectives))
    with pytest.raises(sl.ConfigError, match="min_agents .* exceeds max_agents"):
        OrchestrationConfig(min_agents=5, max_agents=2)
    with pytest.raises(sl.ConfigError, match="scheduling_algorithm must be one of"):
        OrchestrationConfig(scheduling_algorithm="fastest")


USAGE_SCRIPT = """
import json, sys
objective = sys.argv[1]
print("working on", objective)
print(json.dumps({"swarmlab": {"tokens": 1000, "cost_usd": 0.25}}))
print("x" * 200000)  # a long ordinary line is output, not usage
print('  {"swarmlab": {"tokens": 234}}')
if objective == "fail":
    sys.exit(3)
"""


def test_a_command_reports_what_it_used_and_a_suite_stops_at_its_budget(tmp_path):
    """Issue 25 item 7: real agents as commands report usage by printing a JSON line;
    the original's suites take pools, rates and budgets through their limits."""
    script = tmp_path / "agent.py"
    script.write_text(USAGE_SCRIPT)
    runner = CommandRunner([sys.executable, str(script), "{objective}"])
    limits = sl.ResourceLimits(budgets={"cost_usd": 0.5}, max_cpu_percent=None, max_memory_mb=None)
    m = OrchestrationManager(OrchestrationConfig(runner=runner, resource_limits=limits, max_parallel_benchmarks=1,
                                                 **QUIET))
    r = sl.run(m.run_benchmark_suite(["fail", "a", "b", "c", "d"], BenchmarkConfig(max_retries=0)))
    t = r.record.tasks.set_index("name")
    assert t.loc["fail", "status"] == "failed" and t.loc["fail", "tokens"] == 1234  # reported whatever the exit
    assert t.loc["a", "status"] == "completed" and t.loc["a", "cost_usd"] == 0.25
    budgets = r.record.meta["resources"]["budgets"]
    assert budgets["stopped_by"] == "cost_usd" and budgets["spent"]["cost_usd"] == 0.5
    assert set(r.record.final()["status"]) == {"failed", "completed", "cancelled"}


def test_a_malformed_usage_line_fails_the_attempt_naming_it(tmp_path):
    script = tmp_path / "agent.py"
    script.write_text('print(\'{"swarmlab": {"tokens": "many"}}\')')
    m = OrchestrationManager(OrchestrationConfig(runner=CommandRunner([sys.executable, str(script)]), **QUIET))
    r = sl.run(m.run_benchmark_suite(["x"], BenchmarkConfig(max_retries=0)))
    s = r.summary.iloc[0]
    assert s["status"] == "failed" and s["error_type"] == "ConfigError" and "usage line" in s["error"]
