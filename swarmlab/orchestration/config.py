"""Suite configuration: the original design's enums and config objects."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import ConfigError
from ..checks import enum_value, positive, positive_int
from ..model import Agent, AgentType, ExecutionMode, ResourceLimits
from ..scheduling import SchedulingAlgorithm

__all__ = [
    "StrategyType", "CoordinationMode", "BenchmarkConfig", "OrchestrationConfig",
    "STRATEGY_CAPABILITIES", "ROLE_CAPABILITIES", "DEFAULT_BENCHMARK_LIMITS", "RECORDED_ONLY", "default_pool",
    "strategy_for", "suite_limits", "suite_pool",
]


class StrategyType(str, Enum):
    """The original swarm strategies."""

    AUTO = "auto"
    RESEARCH = "research"
    DEVELOPMENT = "development"
    ANALYSIS = "analysis"
    TESTING = "testing"
    OPTIMIZATION = "optimization"
    MAINTENANCE = "maintenance"


class CoordinationMode(str, Enum):
    """The original coordination modes (recorded with each suite; the simulated runner
    models their overhead)."""

    CENTRALIZED = "centralized"
    DISTRIBUTED = "distributed"
    HIERARCHICAL = "hierarchical"
    MESH = "mesh"
    HYBRID = "hybrid"


#: The capability an agent needs for each strategy (the original capability families).
STRATEGY_CAPABILITIES: dict[StrategyType, frozenset[str]] = {
    StrategyType.AUTO: frozenset(),
    StrategyType.RESEARCH: frozenset({"research"}),
    StrategyType.DEVELOPMENT: frozenset({"development"}),
    StrategyType.ANALYSIS: frozenset({"analysis"}),
    StrategyType.TESTING: frozenset({"testing"}),
    StrategyType.OPTIMIZATION: frozenset({"optimization"}),
    StrategyType.MAINTENANCE: frozenset({"coding"}),
}

#: The capabilities each agent type holds in the default pool (the original's lists).
ROLE_CAPABILITIES: dict[AgentType, tuple[str, ...]] = {
    AgentType.RESEARCHER: ("research", "analysis", "web_search"),
    AgentType.DEVELOPER: ("development", "coding", "architecture"),
    AgentType.ANALYZER: ("analysis", "data_processing", "statistics"),
    AgentType.TESTER: ("testing", "validation", "quality_assurance"),
    AgentType.COORDINATOR: ("coordination", "planning"),
    AgentType.SPECIALIST: ("optimization", "performance", "profiling"),
}

# The mix of the original: two each of researchers, developers, analyzers and testers,
# one coordinator, two specialists.
_DEFAULT_MIX = (
    AgentType.RESEARCHER, AgentType.DEVELOPER, AgentType.ANALYZER, AgentType.TESTER,
    AgentType.RESEARCHER, AgentType.DEVELOPER, AgentType.ANALYZER, AgentType.TESTER,
    AgentType.COORDINATOR, AgentType.SPECIALIST, AgentType.SPECIALIST,
)

# Keywords the AUTO strategy reads in an objective, first match wins (the original's table).
_KEYWORDS: tuple[tuple[StrategyType, tuple[str, ...]], ...] = (
    (StrategyType.TESTING, ("test", "validate", "verify", "check")),
    (StrategyType.OPTIMIZATION, ("optimiz", "improve", "faster", "performance")),
    (StrategyType.MAINTENANCE, ("update", "fix", "refactor", "document")),
    (StrategyType.DEVELOPMENT, ("build", "create", "implement", "code")),
    (StrategyType.ANALYSIS, ("analy", "process", "data", "metric")),
    (StrategyType.RESEARCH, ("research", "investigate", "study", "explore")),
)


def strategy_for(objective: str, strategy: StrategyType) -> StrategyType:
    """The strategy an objective runs with: AUTO reads its keywords (else stays AUTO)."""
    if strategy is not StrategyType.AUTO:
        return strategy
    words = objective.lower()
    for s, keys in _KEYWORDS:
        if any(re.search(rf"\b{k}", words) for k in keys):
            return s
    return StrategyType.AUTO


def default_pool(n: int | None = None) -> list[Agent]:
    """The original's diverse mix (researchers, developers, analyzers, testers, a
    coordinator, specialists), cycled to ``n`` agents."""
    n = len(_DEFAULT_MIX) if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"the agent pool needs a positive int number of agents; got {n!r}")
    out = []
    for i in range(n):
        t = _DEFAULT_MIX[i % len(_DEFAULT_MIX)]
        out.append(Agent(f"{t.value}-{i}", type=t, capabilities=ROLE_CAPABILITIES[t]))
    return out


#: The original's ``BenchmarkConfig.resource_limits``: MB, percent of the machine, Mbit/s.
DEFAULT_BENCHMARK_LIMITS: dict[str, float] = {"max_memory_mb": 1024, "max_cpu_percent": 80, "max_network_mbps": 100}

#: The keys of ``BenchmarkConfig.resource_limits`` that act (the others are recorded).
ACTING_LIMITS = ("max_cpu_percent", "max_memory_mb")

#: ``BenchmarkConfig`` fields swarmlab accepts and records (``meta["benchmark_config"]``)
#: but does not act on: a suite's objectives always run in parallel (up to
#: ``max_parallel_benchmarks``), resources are always sampled, nothing is written unless a
#: store is given, and there is no quality gate.
RECORDED_ONLY = ("description", "parallel", "background", "monitoring", "quality_threshold", "output_formats",
                 "output_directory", "verbose")


@dataclass
class BenchmarkConfig:
    """One suite: how its objectives run. The original's fields and defaults, plus
    ``repeats`` and ``seed``.

    Acted on: ``name`` (task ids, ``meta["suite"]``), ``strategy``, ``mode``,
    ``max_agents`` (the most agents the suite uses at once, auto-scaling included: the
    pool's first agents that hold what the objectives need, then the next ones in pool
    order), ``max_tasks`` (a suite of more objective runs is refused before it starts),
    ``timeout`` (seconds for the whole suite; unfinished objectives are then cancelled),
    ``task_timeout`` (one attempt of one objective), ``max_retries``, the
    ``max_cpu_percent`` and ``max_memory_mb`` of ``resource_limits`` (with the
    orchestration's limits, the stricter of each applies), ``repeats`` (runs of each
    objective) and ``seed``. Recorded only: the fields in :data:`RECORDED_ONLY` and the
    other keys of ``resource_limits`` (``max_network_mbps``). ``None`` for ``timeout`` or
    ``task_timeout`` means no limit.
    """

    name: str = "benchmark"
    description: str = ""
    strategy: StrategyType | str = StrategyType.AUTO
    mode: CoordinationMode | str = CoordinationMode.CENTRALIZED
    max_agents: int = 5
    max_tasks: int = 100
    timeout: float | None = 3600
    task_timeout: float | None = 300
    max_retries: int = 3
    parallel: bool = False
    background: bool = False
    monitoring: bool = True
    quality_threshold: float = 0.8
    resource_limits: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_BENCHMARK_LIMITS))
    output_formats: list[str] = field(default_factory=lambda: ["json"])
    output_directory: str = "./reports"
    verbose: bool = False
    repeats: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"BenchmarkConfig.name must be a non-empty str; got {self.name!r}")
        if not isinstance(self.description, str):
            raise ConfigError(f"BenchmarkConfig.description must be a str; got {self.description!r}")
        self.strategy = enum_value(StrategyType, self.strategy, "BenchmarkConfig strategy")
        self.mode = enum_value(CoordinationMode, self.mode, "BenchmarkConfig mode")
        positive_int(self.max_agents, "BenchmarkConfig.max_agents")
        positive_int(self.max_tasks, "BenchmarkConfig.max_tasks")
        positive(self.task_timeout, "BenchmarkConfig.task_timeout", allow_none=True)
        positive(self.timeout, "BenchmarkConfig.timeout", allow_none=True)
        positive_int(self.repeats, "BenchmarkConfig.repeats")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"BenchmarkConfig.max_retries must be an int >= 0; got {self.max_retries!r}")
        for flag in ("parallel", "background", "monitoring", "verbose"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"BenchmarkConfig.{flag} must be True or False; got {getattr(self, flag)!r}")
        q = self.quality_threshold
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise ConfigError(f"BenchmarkConfig.quality_threshold must be a number in [0, 1]; got {q!r}")
        self.resource_limits = _benchmark_limits(self.resource_limits)
        formats = self.output_formats
        if isinstance(formats, str) or not isinstance(formats, (list, tuple)) or not all(
                isinstance(f, str) for f in formats):
            raise ConfigError(f"BenchmarkConfig.output_formats must be a list of str; got {formats!r}")
        self.output_formats = list(formats)
        if not isinstance(self.output_directory, (str, os.PathLike)):
            raise ConfigError(f"BenchmarkConfig.output_directory must be a path; got {self.output_directory!r}")
        self.output_directory = os.fspath(self.output_directory)

    def meta(self) -> dict[str, Any]:
        """Every field as plain data, for ``meta["benchmark_config"]`` (and a resume)."""
        return {**dataclasses.asdict(self), "strategy": self.strategy.value, "mode": self.mode.value}


def _benchmark_limits(limits: Any) -> dict[str, float | None]:
    if not isinstance(limits, Mapping) or not all(isinstance(k, str) for k in limits):
        raise ConfigError(f"BenchmarkConfig.resource_limits must be a dict of str keys; got {limits!r}")
    for key, value in limits.items():
        positive(value, f"BenchmarkConfig.resource_limits[{key!r}]", allow_none=True)
    cpu = limits.get("max_cpu_percent")
    if cpu is not None and cpu > 100:
        raise ConfigError(f"BenchmarkConfig.resource_limits['max_cpu_percent'] is a share of the whole machine: "
                          f"0 < x <= 100; got {cpu!r}")
    return dict(limits)


def suite_limits(limits: ResourceLimits, bc: BenchmarkConfig) -> ResourceLimits:
    """The orchestration's ``limits`` made as strict as the suite's ``resource_limits``:
    of each CPU and memory limit, the stricter applies (None: no limit)."""
    def stricter(a: float | None, b: float | None) -> float | None:
        return b if a is None else a if b is None else min(a, b)

    rl = bc.resource_limits
    return dataclasses.replace(limits, **{k: stricter(getattr(limits, k), rl.get(k)) for k in ACTING_LIMITS})


def suite_pool(pool: Sequence[Agent], needs: Iterable[frozenset[str]], n: int) -> list[Agent]:
    """At most ``n`` agents of ``pool``, in pool order: for each capability set in
    ``needs`` that no agent taken so far holds, the first agent of the pool that holds it;
    then the next agents of the pool.

    Raises :class:`~swarmlab.errors.ConfigError` when covering ``needs`` takes more than
    ``n`` agents (a need no agent holds is left to the executor, which names it).
    """
    taken: set[str] = set()
    for req in dict.fromkeys(needs):
        if not req or any(req <= a.capabilities for a in pool if a.id in taken):
            continue
        holder = next((a for a in pool if req <= a.capabilities), None)
        if holder is not None:
            taken.add(holder.id)
    if len(taken) > n:
        need = sorted({c for r in needs for c in r})
        raise ConfigError(f"BenchmarkConfig.max_agents is {n}, but the objectives need agents holding "
                          f"{', '.join(need)}: {len(taken)} agents of the pool; raise max_agents to {len(taken)}")
    for a in pool:
        if len(taken) >= n:
            break
        taken.add(a.id)
    return [a for a in pool if a.id in taken]


@dataclass
class OrchestrationConfig:
    """How an :class:`~swarmlab.orchestration.OrchestrationManager` runs suites.

    The original fields, plus ``agents`` (default: :func:`default_pool`), ``runner``
    (default: a :class:`SimulatedAgentRunner`), the auto-scaling bounds ``min_agents`` /
    ``max_agents`` and ``scale_interval_s``. ``max_parallel_benchmarks`` caps objectives
    running at once; ``max_agents_per_benchmark`` caps the pool a suite uses (as does the
    suite's ``BenchmarkConfig.max_agents``: the smaller applies);
    ``enable_optimizations`` turns on work stealing and aging; ``load_balancing`` off
    means round robin whatever ``scheduling_algorithm`` says.
    """

    execution_mode: ExecutionMode | str = ExecutionMode.HYBRID
    scheduling_algorithm: SchedulingAlgorithm | str = SchedulingAlgorithm.DYNAMIC
    enable_work_stealing: bool = True
    enable_optimizations: bool = True
    max_parallel_benchmarks: int = 10
    max_agents_per_benchmark: int = 20
    resource_limits: ResourceLimits = field(default_factory=ResourceLimits)
    monitoring_interval: float = 1.0
    progress_reporting: bool = True
    auto_scaling: bool = False
    load_balancing: bool = True
    agents: list[Agent] | None = None
    runner: object = None
    min_agents: int = 1
    max_agents: int = 32
    scale_interval_s: float = 0.5

    def __post_init__(self) -> None:
        self.execution_mode = enum_value(ExecutionMode, self.execution_mode, "OrchestrationConfig execution_mode")
        self.scheduling_algorithm = enum_value(SchedulingAlgorithm, self.scheduling_algorithm,
                                                "OrchestrationConfig scheduling_algorithm")
        positive_int(self.max_parallel_benchmarks, "OrchestrationConfig.max_parallel_benchmarks")
        positive_int(self.max_agents_per_benchmark, "OrchestrationConfig.max_agents_per_benchmark")
        positive_int(self.min_agents, "OrchestrationConfig.min_agents")
        positive_int(self.max_agents, "OrchestrationConfig.max_agents")
        if self.min_agents > self.max_agents:
            raise ConfigError(f"OrchestrationConfig.min_agents ({self.min_agents}) exceeds max_agents ({self.max_agents})")
        positive(self.scale_interval_s, "OrchestrationConfig.scale_interval_s")
        if not isinstance(self.resource_limits, ResourceLimits):
            raise ConfigError(f"OrchestrationConfig.resource_limits must be a ResourceLimits; got {self.resource_limits!r}")
        m = self.monitoring_interval
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.05 <= m <= 3600:
            raise ConfigError(f"OrchestrationConfig.monitoring_interval must be between 0.05 and 3600 s; got {m!r}")
        if self.agents is not None:
            self.agents = list(self.agents)
            if not self.agents or not all(isinstance(a, Agent) for a in self.agents):
                raise ConfigError("OrchestrationConfig.agents must be a non-empty list of Agent objects or None")
