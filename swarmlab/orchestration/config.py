"""Suite configuration: the original design's enums and config objects."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum

from ..errors import ConfigError
from ..model import Agent, AgentType, ExecutionMode, ResourceLimits, _enum_value
from ..scheduling import SchedulingAlgorithm

__all__ = [
    "StrategyType", "CoordinationMode", "BenchmarkConfig", "OrchestrationConfig",
    "STRATEGY_CAPABILITIES", "ROLE_CAPABILITIES", "default_pool", "strategy_for",
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


def _positive_number(value, what: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{what} must be a positive number{' or None' if allow_none else ''}; got {value!r}")


def _positive_int(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive int; got {value!r}")


@dataclass
class BenchmarkConfig:
    """One suite: how its objectives run.

    ``task_timeout`` bounds one attempt of one objective; ``timeout`` the whole suite
    (unfinished objectives are then cancelled); each objective runs ``repeats`` times.
    """

    name: str = "benchmark"
    strategy: StrategyType | str = StrategyType.AUTO
    mode: CoordinationMode | str = CoordinationMode.CENTRALIZED
    task_timeout: float | None = 300.0
    max_retries: int = 0
    timeout: float | None = None
    repeats: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        self.strategy = _enum_value(StrategyType, self.strategy, "BenchmarkConfig strategy")
        self.mode = _enum_value(CoordinationMode, self.mode, "BenchmarkConfig mode")
        _positive_number(self.task_timeout, "BenchmarkConfig.task_timeout", allow_none=True)
        _positive_number(self.timeout, "BenchmarkConfig.timeout", allow_none=True)
        _positive_int(self.repeats, "BenchmarkConfig.repeats")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"BenchmarkConfig.max_retries must be an int >= 0; got {self.max_retries!r}")


@dataclass
class OrchestrationConfig:
    """How an :class:`~swarmlab.orchestration.OrchestrationManager` runs suites.

    The original fields, plus ``agents`` (default: :func:`default_pool`), ``runner``
    (default: a :class:`SimulatedAgentRunner`), the auto-scaling bounds ``min_agents`` /
    ``max_agents`` and ``scale_interval_s``. ``max_parallel_benchmarks`` caps objectives
    running at once; ``max_agents_per_benchmark`` caps the pool a suite uses;
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
        self.execution_mode = _enum_value(ExecutionMode, self.execution_mode, "OrchestrationConfig execution_mode")
        self.scheduling_algorithm = _enum_value(SchedulingAlgorithm, self.scheduling_algorithm,
                                                "OrchestrationConfig scheduling_algorithm")
        _positive_int(self.max_parallel_benchmarks, "OrchestrationConfig.max_parallel_benchmarks")
        _positive_int(self.max_agents_per_benchmark, "OrchestrationConfig.max_agents_per_benchmark")
        _positive_int(self.min_agents, "OrchestrationConfig.min_agents")
        _positive_int(self.max_agents, "OrchestrationConfig.max_agents")
        if self.min_agents > self.max_agents:
            raise ConfigError(f"OrchestrationConfig.min_agents ({self.min_agents}) exceeds max_agents ({self.max_agents})")
        _positive_number(self.scale_interval_s, "OrchestrationConfig.scale_interval_s")
        if not isinstance(self.resource_limits, ResourceLimits):
            raise ConfigError(f"OrchestrationConfig.resource_limits must be a ResourceLimits; got {self.resource_limits!r}")
        m = self.monitoring_interval
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.05 <= m <= 3600:
            raise ConfigError(f"OrchestrationConfig.monitoring_interval must be between 0.05 and 3600 s; got {m!r}")
        if self.agents is not None:
            self.agents = list(self.agents)
            if not self.agents or not all(isinstance(a, Agent) for a in self.agents):
                raise ConfigError("OrchestrationConfig.agents must be a non-empty list of Agent objects or None")
