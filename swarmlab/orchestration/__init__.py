"""Orchestration: suites of objectives run by agents, with auto-scaling and progress."""

from .config import (
    STRATEGY_CAPABILITIES, BenchmarkConfig, CoordinationMode, OrchestrationConfig, StrategyType, default_pool,
)
from .manager import (
    BenchmarkEngine, OptimizedBenchmarkEngine, OrchestrationManager, OrchestrationMetrics, SuiteResult,
)
from .runners import CallableRunner, CommandRunner, SimulatedAgentRunner, SimulatedFailure

__all__ = [
    "BenchmarkConfig", "BenchmarkEngine", "CallableRunner", "CommandRunner", "CoordinationMode",
    "OptimizedBenchmarkEngine", "OrchestrationConfig", "OrchestrationManager", "OrchestrationMetrics",
    "STRATEGY_CAPABILITIES", "SimulatedAgentRunner", "SimulatedFailure", "StrategyType", "SuiteResult",
    "default_pool",
]
