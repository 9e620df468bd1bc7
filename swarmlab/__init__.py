"""swarmlab: run, measure and compare parallel task execution for agent swarms.

The public names live here (``__all__``); the modules behind them are private unless
the README names them. ``import swarmlab`` stays light: pandas, matplotlib, ipywidgets
and distributed are imported by the parts that need them, and the heavy parts
(``compare``, ``plots``) are imported on first access.
"""

from importlib import import_module
from typing import Any

from . import workloads
from .analysis.estimate import DurationEstimator, learn_durations
from .backends.commands import acommand, command, popen
from .errors import (
    BackendUnavailable,
    BudgetExhausted,
    CommandError,
    ConfigError,
    DependencyCycleError,
    ExecutorClosedError,
    MemoryLimitError,
    NoEligibleAgentError,
    QueueFullError,
    RateLimited,
    SwarmlabError,
    WorkerCrashedError,
)
from .experiments.recovery import resume
from .model import (
    Agent,
    AgentType,
    ExecutionMetrics,
    ExecutionMode,
    RateLimit,
    ResourceLimits,
    Task,
    TaskResult,
    TaskStatus,
)
from .orchestration import (
    BenchmarkConfig,
    BenchmarkEngine,
    CallableRunner,
    CommandRunner,
    CoordinationMode,
    OptimizedBenchmarkEngine,
    OrchestrationConfig,
    OrchestrationManager,
    SimulatedAgentRunner,
    StrategyType,
)
from .percall import acquire, call
from .portal import run
from .realtime.executor import ParallelExecutor
from .scope import current_devices, report
from .scheduling import (
    Policy,
    RankedPolicy,
    SchedulingAlgorithm,
    SchedulingMetrics,
    Stealing,
    TaskScheduler,
    register_policy,
)
from .store.records import RunRecord
from .store.runs import RunStore
from .virtual import durations
from .virtual.replays import replay, whatif
from .virtual.simulation import simulate

__version__ = "0.1.0"

#: Public names imported on first access: name -> (module, attribute or None for the module).
_LAZY = {
    "compare": ("swarmlab.experiments.comparison", "compare"),  # pandas
    "plots": ("swarmlab.analysis.plots", None),  # matplotlib, when drawing
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'swarmlab' has no attribute {name!r}") from None
    value = import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Agent",
    "AgentType",
    "BackendUnavailable",
    "BenchmarkConfig",
    "BenchmarkEngine",
    "BudgetExhausted",
    "CallableRunner",
    "CommandError",
    "CommandRunner",
    "ConfigError",
    "CoordinationMode",
    "DependencyCycleError",
    "DurationEstimator",
    "ExecutionMetrics",
    "ExecutionMode",
    "ExecutorClosedError",
    "MemoryLimitError",
    "NoEligibleAgentError",
    "OptimizedBenchmarkEngine",
    "OrchestrationConfig",
    "OrchestrationManager",
    "ParallelExecutor",
    "Policy",
    "QueueFullError",
    "RankedPolicy",
    "RateLimit",
    "RateLimited",
    "ResourceLimits",
    "RunRecord",
    "RunStore",
    "SchedulingAlgorithm",
    "SchedulingMetrics",
    "SimulatedAgentRunner",
    "Stealing",
    "StrategyType",
    "SwarmlabError",
    "Task",
    "TaskResult",
    "TaskScheduler",
    "TaskStatus",
    "WorkerCrashedError",
    "acommand",
    "acquire",
    "call",
    "command",
    "compare",
    "current_devices",
    "durations",
    "learn_durations",
    "plots",
    "popen",
    "register_policy",
    "replay",
    "report",
    "resume",
    "run",
    "simulate",
    "whatif",
    "workloads",
]
