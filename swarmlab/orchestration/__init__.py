"""Orchestration: suites of objectives run by agents, with auto-scaling and progress."""

from .config import (
    RECORDED_ONLY, STRATEGY_CAPABILITIES, BenchmarkConfig, CoordinationMode, OrchestrationConfig, StrategyType,
    default_pool,
)
from .manager import BenchmarkEngine, OptimizedBenchmarkEngine, OrchestrationManager
from .runners import CallableRunner, CommandRunner, SimulatedAgentRunner, SimulatedFailure
from .views import BenchmarkResult, Fields, SuiteResult

__all__ = [
    "BenchmarkConfig", "BenchmarkEngine", "BenchmarkResult", "CallableRunner", "CommandRunner", "CoordinationMode",
    "Fields", "OptimizedBenchmarkEngine", "OrchestrationConfig", "OrchestrationManager", "RECORDED_ONLY",
    "STRATEGY_CAPABILITIES", "SimulatedAgentRunner", "SimulatedFailure", "StrategyType", "SuiteResult",
    "default_pool",
]
