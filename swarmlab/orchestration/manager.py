"""OrchestrationManager: benchmark suites of objectives, run by agents, on the executor."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from ..events import new_run_id
from ..realtime.executor import ParallelExecutor
from ..model import Agent, ExecutionMetrics, Task, TaskResult
from ..core.runinfo import describe_agents
from ..scheduling import SchedulingAlgorithm, SchedulingMetrics, TaskScheduler
from .autoscale import AutoScaler
from .config import (
    RECORDED_ONLY, STRATEGY_CAPABILITIES, BenchmarkConfig, CoordinationMode, OrchestrationConfig, StrategyType,
    default_pool, strategy_for, suite_limits, suite_pool,
)
from .runners import SimulatedAgentRunner
from .views import (
    BenchmarkResult, Fields, SuiteResult, agent_status, benchmark_result, fields, pool_agent_status, suite_summary,
    suite_totals,
)

__all__ = ["OrchestrationManager", "SuiteResult", "BenchmarkResult", "BenchmarkEngine", "OptimizedBenchmarkEngine"]

log = logging.getLogger("swarmlab")

#: Seconds a task waits before it ages a priority level when optimizations are on.
AGING_S = 60.0


async def run_objective(runner: Any, objective: str, strategy: StrategyType, mode: CoordinationMode,
                        timeout: float | None, *, agent: Agent, attempt: int) -> dict[str, Any]:
    """The body of one objective's task: the runner, told which agent it is."""
    return await runner.run(objective, agent, strategy=strategy, mode=mode, attempt=attempt, timeout=timeout)


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
        self._totals: list[dict[str, float]] = []  # per suite run: the figures get_orchestration_metrics adds up
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
    def tasks_for(self, objectives: Sequence[str], bc: BenchmarkConfig) -> list[Task]:
        """The tasks of a suite: one per objective and repeat (ids ``<name>-<i>``, with
        ``-r<repeat>`` when ``bc.repeats`` > 1), each running the manager's runner as the
        agent it is given. :func:`swarmlab.resume` rebuilds a killed suite's tasks with it.

        Raises :class:`~swarmlab.errors.ConfigError` when the suite has more objective
        runs than ``bc.max_tasks``.
        """
        n = len(objectives) * bc.repeats
        if n > bc.max_tasks:
            raise ConfigError(f"the suite has {n} objective runs ({len(objectives)} objectives x {bc.repeats} "
                              f"repeats) but BenchmarkConfig.max_tasks is {bc.max_tasks}; raise max_tasks")
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
            "kind": "suite", "objectives": list(objectives), "benchmark": bc.meta(), "runner": runner,
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

    def _agents_bound(self, bc: BenchmarkConfig) -> int:
        """The most agents a suite uses at once."""
        return min(self.config.max_agents_per_benchmark, bc.max_agents)

    def executor_for(self, tasks: Sequence[Task], bc: BenchmarkConfig, objectives: Sequence[str] = (),
                     store: Any = None) -> tuple[ParallelExecutor, TaskScheduler]:
        """A new executor (not started) for the suite ``tasks``, and its scheduler, as
        the configuration says: the algorithm (round robin without load balancing),
        stealing and aging (with optimizations), the suite's limits, the agents of the
        pool the suite uses (:func:`~swarmlab.orchestration.config.suite_pool`) and, with
        ``store``, a journal holding the suite's spec (from ``objectives``).
        :func:`swarmlab.resume` runs a killed suite's rest with the same set-up."""
        cfg = self.config
        algorithm = cfg.scheduling_algorithm if cfg.load_balancing else SchedulingAlgorithm.ROUND_ROBIN
        scheduler = TaskScheduler(algorithm, enable_work_stealing=cfg.enable_work_stealing and cfg.enable_optimizations,
                                  aging_s=AGING_S if cfg.enable_optimizations else None)
        limits = dataclasses.replace(
            suite_limits(cfg.resource_limits, bc), max_concurrent_tasks=cfg.max_parallel_benchmarks,
            max_queue_size=max(cfg.resource_limits.max_queue_size, len(tasks)),
            monitoring_interval=cfg.monitoring_interval, task_timeout=bc.task_timeout,
        )
        pool = suite_pool(self.pool, (t.requires for t in tasks), self._agents_bound(bc))
        journal = None if store is None else getattr(store, "path", store)
        ex = ParallelExecutor(mode=cfg.execution_mode, limits=limits, agents=pool, scheduler=scheduler, seed=bc.seed,
                              journal=journal, spec=self.suite_spec(objectives, bc) if journal else None)
        ex.meta.update(suite=bc.name, benchmark_config=bc.meta(), recorded_only=list(RECORDED_ONLY))
        return ex, scheduler

    async def run_benchmark_suite(
        self, objectives: Sequence[str], config: BenchmarkConfig | None = None, *,
        progress: Callable[[int, int, TaskResult], None] | None = None, store: Any = None,
    ) -> SuiteResult:
        """Run every objective (``config.repeats`` times each) in parallel; wait for all.

        Returns the original's dict (a :class:`SuiteResult`): ``suite_id``,
        ``total_objectives``, ``completed_objectives``, ``failed_objectives``, ``duration``,
        ``throughput``, ``results`` (one dict per objective run), ``execution_metrics``
        and ``scheduling_metrics`` (the metrics' fields as dicts) and
        ``orchestration_metrics`` (:meth:`get_orchestration_metrics` once the suite ended).

        ``progress(done, total, result)`` is called on the event loop as each ends (the
        widgets use it); a tqdm bar shows progress unless ``progress_reporting`` is off.
        With ``store`` (a :class:`~swarmlab.store.runs.RunStore`), the suite is journaled
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
        tasks = self.tasks_for(objectives, bc)
        ex, scheduler = self.executor_for(tasks, bc, objectives, store)
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
        scaler = self._scaler = None
        if self.config.auto_scaling:
            bound = self._agents_bound(bc)
            scaler = self._scaler = AutoScaler(ex, min_agents=min(self.config.min_agents, bound),
                                               max_agents=min(self.config.max_agents, bound),
                                               interval=self.config.scale_interval_s)
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
        result = self._result(ex, scheduler, objectives, bc)
        self.history.append(result)
        self._totals.append(suite_totals(result, scaler.peak if scaler is not None else len(ex.agents)))
        result["orchestration_metrics"] = self.get_orchestration_metrics()
        if store is not None:
            store.save(result.record)
        return result

    def _result(self, ex: ParallelExecutor, scheduler: TaskScheduler, objectives: Sequence[str],
                bc: BenchmarkConfig) -> SuiteResult:
        record = ex.record()
        record.meta.update(strategy=bc.strategy.value, coordination_mode=bc.mode.value,
                           runner=type(self.runner).__name__, simulated=bool(getattr(self.runner, "simulated", False)),
                           repeats=bc.repeats, objectives=list(objectives))
        summary = suite_summary(record, ex, bc)
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
            "orchestration_metrics": None,  # filled in once the suite is in the history
            "scheduling_metrics": fields(scheduler.get_metrics()),
            "execution_metrics": fields(m),
        }
        return SuiteResult(data, record, summary)

    # ------------------------------------------------------------------ views
    def get_orchestration_metrics(self) -> Fields:
        """The original's dict of metrics.

        - ``orchestration``: totals over every suite this manager ran. A benchmark is
          one run of one objective: ``total_benchmarks``, ``completed_benchmarks``,
          ``failed_benchmarks`` (those that did not complete); ``total_tasks`` and
          ``completed_tasks`` count attempts (a retried benchmark runs several);
          ``average_completion_time`` is the mean run time of completed benchmarks;
          ``resource_utilization`` = busy agent-seconds / (agents' capacity x suite
          duration), in [0, 1]; and ``suites_run``, ``total_duration_s``,
          ``agents_current``, ``agents_peak`` (most agents at once), ``scale_ups``,
          ``scale_downs``, ``steals``.
        - ``execution`` and ``scheduling``: the execution and scheduling metrics (their
          fields) of the suite running now, or of the last one (defaults before any).
        - ``agents``: :meth:`get_agent_status`.
        - ``resource_usage``: ``cpu_current``, ``cpu_peak`` (100 = one core),
          ``memory_current``, ``memory_peak`` (MB) of that suite's process tree, from its
          samples (NaN before the first).
        - ``performance``: ``throughput``, ``average_execution_time``,
          ``queue_wait_time`` and ``load_balance_score`` of that suite.

        Every value is a plain number, str, list or dict; the dicts also read their keys
        as attributes (``metrics.orchestration.total_benchmarks``).
        """
        ex = self._executor
        m = ex.get_metrics() if ex is not None else ExecutionMetrics(peak_cpu_usage=float("nan"),
                                                                     peak_memory_usage=float("nan"))
        sm = self._scheduler.get_metrics() if self._scheduler is not None else SchedulingMetrics()
        agents = self.get_agent_status()
        t = self._totals
        done = sum(x["completed_benchmarks"] for x in t)
        capacity_s = sum(x["capacity_s"] for x in t)
        orchestration = Fields(
            total_benchmarks=int(sum(x["total_benchmarks"] for x in t)),
            completed_benchmarks=int(done),
            failed_benchmarks=int(sum(x["total_benchmarks"] - x["completed_benchmarks"] for x in t)),
            total_tasks=int(sum(x["total_tasks"] for x in t)),
            completed_tasks=int(sum(x["completed_tasks"] for x in t)),
            average_completion_time=sum(x["completed_s"] for x in t) / done if done else 0.0,
            resource_utilization=sum(x["busy_s"] for x in t) / capacity_s if capacity_s > 0 else 0.0,
            suites_run=len(t),
            total_duration_s=float(sum(x["duration"] for x in t)),
            agents_current=sum(a["status"] != "retired" for a in agents),
            agents_peak=int(max((x["agents_peak"] for x in t), default=len(self.pool))),
            scale_ups=int(sum(x["scale_ups"] for x in t)),
            scale_downs=int(sum(x["scale_downs"] for x in t)),
            steals=int(sum(x["steals"] for x in t)),
        )
        return Fields(
            orchestration=orchestration,
            execution=fields(m),
            scheduling=fields(sm),
            agents=agents,
            resource_usage=Fields(cpu_current=m.current_cpu_usage, cpu_peak=m.peak_cpu_usage,
                                  memory_current=m.current_memory_usage, memory_peak=m.peak_memory_usage),
            performance=Fields(throughput=m.throughput, average_execution_time=m.average_execution_time,
                               queue_wait_time=m.queue_wait_time, load_balance_score=sm.load_balance_score),
        )

    def get_agent_status(self) -> list[Fields]:
        """The original's list: one dict per agent of the suite running now (or of the
        last one; the configured pool before any), with ``id``, ``name``, ``type``,
        ``status``, ``current_task``, ``tasks_completed``, ``tasks_failed``,
        ``success_rate`` (measured, in [0, 1]; 0.0 before it finished anything),
        ``average_execution_time`` and swarmlab's ``capabilities``, ``capacity``,
        ``queued``, ``running``, ``current_tasks`` (see
        :func:`swarmlab.orchestration.views.agent_status`)."""
        if self._executor is None:
            return pool_agent_status(self.pool)
        return agent_status(self._executor)

    async def run_adaptive_benchmark(self, objective: str, config: BenchmarkConfig | None = None) -> BenchmarkResult:
        """One objective, run adaptively: the AUTO strategy reads its keywords, and the
        algorithm is the one with the best mean throughput over the suites run so far
        (the configured one until there is history).

        Returns the original's dict (:class:`BenchmarkResult`); a run that fails (the
        objective did not complete, or no agent can run it) gives ``status="failed"``
        and ``error`` instead of raising.
        """
        _check_objective(objective)
        bc = config or BenchmarkConfig(name="adaptive")
        if self.history:
            by_alg: dict[str, list[float]] = {}
            for r in self.history:
                by_alg.setdefault(r.record.meta["algorithm"], []).append(r["throughput"])
            best = max(by_alg, key=lambda a: (sum(by_alg[a]) / len(by_alg[a]), a))
            self.config = dataclasses.replace(self.config, scheduling_algorithm=best)
        return await self.run_benchmark(objective, bc, optimized=self.config.enable_optimizations)

    async def run_benchmark(self, objective: str, config: BenchmarkConfig | None = None, *,
                            optimized: bool = False) -> BenchmarkResult:
        """One objective as a suite of its own, as the original's engines return it
        (:class:`BenchmarkResult`): what fails while it runs is ``status="failed"``
        with ``error``, never an exception."""
        _check_objective(objective)
        bc = config or BenchmarkConfig()
        if not isinstance(bc, BenchmarkConfig):
            raise ConfigError(f"config must be a BenchmarkConfig or None; got {bc!r}")
        t0 = time.perf_counter()
        try:
            suite = await self.run_benchmark_suite([objective], bc)
        except Exception as e:  # a failed benchmark is data, as in the original
            log.info("swarmlab: benchmark %r failed: %s", objective, e)
            return BenchmarkResult({
                "benchmark_id": new_run_id(), "status": "failed", "error": f"{type(e).__name__}: {e}",
                "summary": f"failed before it ran: {type(e).__name__}", "duration": time.perf_counter() - t0,
                "optimized": optimized, "performance_metrics": {}, "results": [],
            }, None)
        return benchmark_result(suite, optimized)


def _check_objective(objective: Any) -> None:
    if not isinstance(objective, str) or not objective.strip():
        raise ConfigError(f"objective must be a non-empty str; got {objective!r}")


def _progress_bar(total: int, name: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        log.info("swarmlab: no progress bar (tqdm is not installed)")
        return None
    return tqdm(total=total, desc=name, unit="objective")


class BenchmarkEngine:
    """Runs single objectives as one-objective suites (the original engine's API)."""

    optimized = False

    def __init__(self, config: BenchmarkConfig | None = None, *, orchestration: OrchestrationConfig | None = None) -> None:
        self.config = config or BenchmarkConfig()
        self.manager = OrchestrationManager(orchestration or self._orchestration())

    def _orchestration(self) -> OrchestrationConfig:
        return OrchestrationConfig(enable_optimizations=False, enable_work_stealing=False, progress_reporting=False)

    async def run_benchmark(self, objective: str) -> BenchmarkResult:
        """Run ``objective``; the original's dict (:class:`BenchmarkResult`), with
        ``status="failed"`` and ``error`` when it fails, never an exception."""
        return await self.manager.run_benchmark(objective, self.config, optimized=self.optimized)


class OptimizedBenchmarkEngine(BenchmarkEngine):
    """The engine with parallel-execution optimizations: work stealing, aging and
    auto-scaling when ``enable_optimizations`` (the default)."""

    def __init__(self, config: BenchmarkConfig | None = None, enable_optimizations: bool = True, *,
                 orchestration: OrchestrationConfig | None = None) -> None:
        self.enable_optimizations = self.optimized = enable_optimizations
        super().__init__(config, orchestration=orchestration)

    def _orchestration(self) -> OrchestrationConfig:
        on = self.enable_optimizations
        return OrchestrationConfig(enable_optimizations=on, enable_work_stealing=on, auto_scaling=on,
                                   progress_reporting=False)
