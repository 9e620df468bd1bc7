"""OrchestrationManager: benchmark suites of objectives, run by agents, on the executor."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..executor import ParallelExecutor
from ..model import Agent, Task, TaskResult
from ..records import RunRecord
from ..runinfo import describe_agents
from ..scheduling import SchedulingAlgorithm, TaskScheduler
from .autoscale import AutoScaler
from .config import (
    STRATEGY_CAPABILITIES, BenchmarkConfig, CoordinationMode, OrchestrationConfig, StrategyType,
    default_pool, strategy_for,
)
from .runners import SimulatedAgentRunner

if TYPE_CHECKING:  # pandas is imported when a suite's summary is built
    import pandas as pd

__all__ = ["OrchestrationManager", "OrchestrationMetrics", "SuiteResult", "BenchmarkEngine",
           "OptimizedBenchmarkEngine"]

log = logging.getLogger("swarmlab")

#: Seconds a task waits before it ages a priority level when optimizations are on.
AGING_S = 60.0


async def run_objective(runner: Any, objective: str, strategy: StrategyType, mode: CoordinationMode,
                        timeout: float | None, *, agent: Agent, attempt: int) -> dict[str, Any]:
    """The body of one objective's task: the runner, told which agent it is."""
    return await runner.run(objective, agent, strategy=strategy, mode=mode, attempt=attempt, timeout=timeout)


@dataclass(frozen=True, slots=True)
class OrchestrationMetrics:
    """Totals over every suite this manager ran, from their records."""

    suites_run: int = 0
    objectives_total: int = 0
    objectives_completed: int = 0
    objectives_failed: int = 0
    average_objective_s: float = 0.0
    total_duration_s: float = 0.0
    agents_current: int = 0
    agents_peak: int = 0
    scale_ups: int = 0
    scale_downs: int = 0
    steals: int = 0


class SuiteResult(Mapping):
    """What a suite did. Reads like the original's dict (``result["throughput"]``) and
    also carries ``.record`` (the RunRecord) and ``.summary`` (one row per objective run).
    """

    def __init__(self, data: dict[str, Any], record: RunRecord, summary: pd.DataFrame) -> None:
        self._data, self.record, self.summary = data, record, summary

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        d = self._data
        return (f"SuiteResult({d['suite_id']!r}: {d['completed_objectives']}/{d['total_objectives']} completed, "
                f"{d['duration']:.2f} s, {d['throughput']:.2f} objectives/s)")


#: Columns of ``SuiteResult.summary``, one row per objective run.
SUMMARY_COLUMNS = ("objective", "repeat", "task_id", "strategy", "status", "agent_id", "agent_type", "attempts",
                   "wait_s", "run_s", "simulated", "modelled_s", "exit_code", "error_type", "error")


class OrchestrationManager:
    """Runs suites of objectives in parallel over a pool of agents.

    Examples
    --------
    >>> import swarmlab
    >>> from swarmlab.orchestration import OrchestrationManager, OrchestrationConfig, BenchmarkConfig
    >>> m = OrchestrationManager(OrchestrationConfig(progress_reporting=False))
    >>> result = swarmlab.run(m.run_benchmark_suite(["Research caching", "Test the API"]))
    >>> result["completed_objectives"]
    2
    """

    def __init__(self, config: OrchestrationConfig | None = None) -> None:
        if config is not None and not isinstance(config, OrchestrationConfig):
            raise ConfigError(f"OrchestrationManager takes an OrchestrationConfig or None; got {config!r}")
        self.config = config or OrchestrationConfig()
        self.pool: list[Agent] = list(self.config.agents or default_pool())
        self.runner = self.config.runner or SimulatedAgentRunner()
        if not callable(getattr(self.runner, "run", None)):
            raise ConfigError(f"runner must have an async run(objective, agent, ...) method; got {self.runner!r}")
        self.history: list[SuiteResult] = []
        self._executor: ParallelExecutor | None = None
        self._scheduler: TaskScheduler | None = None
        self._scaler: AutoScaler | None = None
        self._peak_agents = len(self.pool)
        self._initialized = False

    @property
    def executor(self) -> ParallelExecutor | None:
        """The executor of the suite running now, or of the last one (None before any)."""
        return self._executor

    async def initialize(self) -> None:
        """Check the pool; run_benchmark_suite calls it when needed."""
        ids = [a.id for a in self.pool]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"agent ids in the pool must be unique; got {ids}")
        self._initialized = True

    async def shutdown(self) -> None:
        """Stop a suite that is running (its waiting objectives end cancelled)."""
        if self._executor is not None:
            await self._executor.stop(timeout=0)

    # ------------------------------------------------------------------ suites
    def _tasks(self, objectives: Sequence[str], bc: BenchmarkConfig) -> list[Task]:
        tasks = []
        for i, objective in enumerate(objectives):
            strategy = strategy_for(objective, bc.strategy)
            for r in range(bc.repeats):
                tasks.append(Task(
                    run_objective, (self.runner, objective, strategy, bc.mode, bc.task_timeout),
                    id=f"{bc.name}-{i}" + (f"-r{r}" if bc.repeats > 1 else ""), name=objective[:80],
                    requires=STRATEGY_CAPABILITIES[strategy], timeout=bc.task_timeout,
                    max_retries=bc.max_retries, with_agent=True,
                ))
        return tasks

    def suite_spec(self, objectives: Sequence[str], bc: BenchmarkConfig) -> dict[str, Any] | None:
        """The declarative description a resume rebuilds the suite from (None when its
        runner cannot be described without pickle)."""
        spec_of = getattr(self.runner, "spec", None)
        runner = spec_of() if spec_of is not None else None
        if runner is None:
            return None
        cfg = self.config
        return {
            "kind": "suite", "objectives": list(objectives), "benchmark": dataclasses.asdict(bc), "runner": runner,
            "orchestration": {
                "execution_mode": cfg.execution_mode.value, "scheduling_algorithm": cfg.scheduling_algorithm.value,
                "enable_work_stealing": cfg.enable_work_stealing, "enable_optimizations": cfg.enable_optimizations,
                "max_parallel_benchmarks": cfg.max_parallel_benchmarks,
                "max_agents_per_benchmark": cfg.max_agents_per_benchmark,
                "resource_limits": dataclasses.asdict(cfg.resource_limits),
                "monitoring_interval": cfg.monitoring_interval, "load_balancing": cfg.load_balancing,
                "agents": describe_agents(self.pool),
            },
        }

    def _executor_for(self, n_tasks: int, bc: BenchmarkConfig, objectives: Sequence[str] = (),
                      store: Any = None) -> tuple[ParallelExecutor, TaskScheduler]:
        cfg = self.config
        algorithm = cfg.scheduling_algorithm if cfg.load_balancing else SchedulingAlgorithm.ROUND_ROBIN
        scheduler = TaskScheduler(algorithm, enable_work_stealing=cfg.enable_work_stealing and cfg.enable_optimizations,
                                  aging_s=AGING_S if cfg.enable_optimizations else None)
        limits = dataclasses.replace(
            cfg.resource_limits, max_concurrent_tasks=cfg.max_parallel_benchmarks,
            max_queue_size=max(cfg.resource_limits.max_queue_size, n_tasks),
            monitoring_interval=cfg.monitoring_interval, task_timeout=bc.task_timeout,
        )
        pool = self.pool[: cfg.max_agents_per_benchmark]
        journal = None if store is None else getattr(store, "path", store)
        ex = ParallelExecutor(mode=cfg.execution_mode, limits=limits, agents=pool, scheduler=scheduler, seed=bc.seed,
                              journal=journal, spec=self.suite_spec(objectives, bc) if journal else None)
        return ex, scheduler

    async def run_benchmark_suite(
        self, objectives: Sequence[str], config: BenchmarkConfig | None = None, *,
        progress: Callable[[int, int, TaskResult], None] | None = None, store: Any = None,
    ) -> SuiteResult:
        """Run every objective (``config.repeats`` times each) in parallel; wait for all.

        ``progress(done, total, result)`` is called on the event loop as each ends (the
        widgets use it); a tqdm bar shows progress unless ``progress_reporting`` is off.
        With ``store`` (a :class:`~swarmlab.store.RunStore`), the suite is journaled
        while it runs and saved when it ends; a killed suite can then be finished with
        :func:`swarmlab.resume`.
        """
        if isinstance(objectives, str) or not objectives or not all(isinstance(o, str) and o.strip() for o in objectives):
            raise ConfigError(f"objectives must be a non-empty list of non-empty str; got {objectives!r}")
        bc = config or BenchmarkConfig()
        if not isinstance(bc, BenchmarkConfig):
            raise ConfigError(f"config must be a BenchmarkConfig or None; got {bc!r}")
        if not self._initialized:
            await self.initialize()
        tasks = self._tasks(objectives, bc)
        ex, scheduler = self._executor_for(len(tasks), bc, objectives, store)
        self._executor, self._scheduler = ex, scheduler
        bar = _progress_bar(len(tasks), bc.name) if self.config.progress_reporting else None
        done = 0

        def on_result(res: TaskResult) -> None:
            nonlocal done
            done += 1
            if bar is not None:
                bar.update(1)
            if progress is not None:
                progress(done, len(tasks), res)

        await ex.start()
        ex.subscribe(on_result)
        scaler = None
        if self.config.auto_scaling:
            scaler = self._scaler = AutoScaler(ex, min_agents=self.config.min_agents,
                                               max_agents=self.config.max_agents, interval=self.config.scale_interval_s)
            scaler.start()
        try:
            await ex.submit_batch(tasks)
            finished = await ex.wait_for_completion(timeout=bc.timeout)
            if not finished:
                log.info("swarmlab: suite %s reached its timeout of %ss; the rest is cancelled", bc.name, bc.timeout)
        finally:
            if scaler is not None:
                scaler.stop()
            await ex.stop(timeout=0)
            if bar is not None:
                bar.close()
        self._peak_agents = max(self._peak_agents, len(ex.agents))
        result = self._result(ex, scheduler, objectives, bc)
        self.history.append(result)
        if store is not None:
            store.save(result.record)
        return result

    def _result(self, ex: ParallelExecutor, scheduler: TaskScheduler, objectives: Sequence[str],
                bc: BenchmarkConfig) -> SuiteResult:
        record = ex.record()
        record.meta.update(suite=bc.name, strategy=bc.strategy.value, coordination_mode=bc.mode.value,
                           runner=type(self.runner).__name__, simulated=bool(getattr(self.runner, "simulated", False)),
                           repeats=bc.repeats, objectives=list(objectives))
        summary = _summary(record, ex, bc)
        m = ex.get_metrics()
        counts = summary["status"].value_counts()
        duration = m.wall_time_s
        data = {
            "suite_id": record.run_id,
            "total_objectives": len(summary),
            "completed_objectives": int(counts.get("completed", 0)),
            "failed_objectives": int(len(summary) - counts.get("completed", 0)),
            "duration": duration,
            "throughput": counts.get("completed", 0) / duration if duration > 0 else 0.0,
            "results": summary.to_dict("records"),
            "orchestration_metrics": self.get_orchestration_metrics(),
            "scheduling_metrics": scheduler.get_metrics(),
            "execution_metrics": m,
        }
        return SuiteResult(data, record, summary)

    # ------------------------------------------------------------------ views
    def get_orchestration_metrics(self) -> OrchestrationMetrics:
        """Totals over the suites run so far, from their records."""
        import pandas as pd

        rows = [r.summary for r in self.history]
        allrows = pd.concat(rows) if rows else pd.DataFrame(columns=list(SUMMARY_COLUMNS))
        done = allrows[allrows["status"] == "completed"]
        events = [r.record.events for r in self.history]
        ev = pd.concat(events) if events else pd.DataFrame({"event": [], "detail": []})
        scaled = ev.loc[ev["event"] == "scaled", "detail"].astype(str)
        current = len([a for a in self._executor.pool_status() if not a["retired"]]) if self._executor else len(self.pool)
        return OrchestrationMetrics(
            suites_run=len(self.history),
            objectives_total=len(allrows),
            objectives_completed=len(done),
            objectives_failed=len(allrows) - len(done),
            average_objective_s=float(done["run_s"].mean()) if len(done) else 0.0,
            total_duration_s=float(sum(r["duration"] for r in self.history)),
            agents_current=current,
            agents_peak=self._peak_agents,
            scale_ups=int(scaled.str.startswith("+").sum()),
            scale_downs=int(scaled.str.startswith("-").sum()),
            steals=int((ev["event"] == "stolen").sum()),
        )

    def get_agent_status(self) -> dict[str, dict[str, Any]]:
        """Each agent of the current (or last) suite: queued, running, finished,
        measured success rate; the configured pool before any suite ran."""
        if self._executor is None:
            return {a.id: {"agent_id": a.id, "type": a.type.value, "capabilities": sorted(a.capabilities),
                           "capacity": a.capacity, "queued": 0, "running": 0, "finished": 0, "completed": 0,
                           "success_rate": None, "retired": False} for a in self.pool}
        return {a["agent_id"]: a for a in self._executor.pool_status()}

    async def run_adaptive_benchmark(self, objective: str, config: BenchmarkConfig | None = None) -> SuiteResult:
        """One objective, run adaptively: the AUTO strategy reads its keywords, and the
        algorithm is the one with the best mean throughput over the suites run so far
        (the configured one until there is history)."""
        bc = config or BenchmarkConfig(name="adaptive")
        if self.history:
            by_alg: dict[str, list[float]] = {}
            for r in self.history:
                by_alg.setdefault(r.record.meta["algorithm"], []).append(r["throughput"])
            best = max(by_alg, key=lambda a: (sum(by_alg[a]) / len(by_alg[a]), a))
            self.config = dataclasses.replace(self.config, scheduling_algorithm=best)
        return await self.run_benchmark_suite([objective], bc)


def _summary(record: RunRecord, ex: ParallelExecutor, bc: BenchmarkConfig) -> pd.DataFrame:
    import pandas as pd

    final = record.final()[["task_id", "wait_s", "run_s"]]
    types = {a["agent_id"]: a["type"] for a in ex.pool_status()}
    rows = []
    for tid, st in ex._d.tasks.items():
        res = st.result()
        value = res.value if isinstance(res.value, dict) else {}
        runner, objective, strategy = st.task.args[:3]
        rows.append({
            "objective": objective, "repeat": int(tid.rsplit("-r", 1)[1]) if bc.repeats > 1 else 0,
            "task_id": tid, "strategy": strategy.value, "status": res.status.value, "agent_id": res.agent_id,
            "agent_type": types.get(res.agent_id), "attempts": res.attempts,
            "simulated": bool(getattr(runner, "simulated", False)),
            "modelled_s": value.get("modelled_s"), "exit_code": value.get("exit_code"),
            "error_type": res.error_type, "error": res.error,
        })
    df = pd.DataFrame(rows).merge(final.astype({"task_id": object}), on="task_id", how="left")
    return df[list(SUMMARY_COLUMNS)]


def _progress_bar(total: int, name: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        log.info("swarmlab: no progress bar (tqdm is not installed)")
        return None
    return tqdm(total=total, desc=name, unit="objective")


class BenchmarkEngine:
    """Runs single objectives as one-objective suites (the original engine's API)."""

    def __init__(self, config: BenchmarkConfig | None = None, *, orchestration: OrchestrationConfig | None = None) -> None:
        self.config = config or BenchmarkConfig()
        self.manager = OrchestrationManager(orchestration or self._orchestration())

    def _orchestration(self) -> OrchestrationConfig:
        return OrchestrationConfig(enable_optimizations=False, enable_work_stealing=False, progress_reporting=False)

    async def run_benchmark(self, objective: str) -> SuiteResult:
        return await self.manager.run_benchmark_suite([objective], self.config)


class OptimizedBenchmarkEngine(BenchmarkEngine):
    """The engine with parallel-execution optimizations: work stealing, aging and
    auto-scaling when ``enable_optimizations`` (the default)."""

    def __init__(self, config: BenchmarkConfig | None = None, enable_optimizations: bool = True, *,
                 orchestration: OrchestrationConfig | None = None) -> None:
        self.enable_optimizations = enable_optimizations
        super().__init__(config, orchestration=orchestration)

    def _orchestration(self) -> OrchestrationConfig:
        on = self.enable_optimizations
        return OrchestrationConfig(enable_optimizations=on, enable_work_stealing=on, auto_scaling=on,
                                   progress_reporting=False)
