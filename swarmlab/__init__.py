"""swarmlab: run, measure and compare parallel task execution for agent swarms.

The public names live here; the modules behind them are private.
"""

from .errors import (
    BackendUnavailable,
    CommandError,
    ConfigError,
    DependencyCycleError,
    ExecutorClosedError,
    MemoryLimitError,
    NoEligibleAgentError,
    QueueFullError,
    SwarmlabError,
    WorkerCrashedError,
)
from .estimate import DurationEstimator, learn_durations
from .executor import ParallelExecutor
from .model import (
    Agent,
    AgentType,
    ExecutionMetrics,
    ExecutionMode,
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
from .portal import run
from .records import RunRecord
from .replay import replay, whatif
from .resume import resume
from .scheduling import (
    Policy,
    RankedPolicy,
    SchedulingAlgorithm,
    SchedulingMetrics,
    Stealing,
    TaskScheduler,
    register_policy,
)
from .simulate import simulate

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "BenchmarkConfig",
    "BenchmarkEngine",
    "CallableRunner",
    "CommandRunner",
    "CoordinationMode",
    "OptimizedBenchmarkEngine",
    "OrchestrationConfig",
    "OrchestrationManager",
    "SimulatedAgentRunner",
    "StrategyType",
    "AgentType",
    "BackendUnavailable",
    "CommandError",
    "ConfigError",
    "DependencyCycleError",
    "DurationEstimator",
    "ExecutionMetrics",
    "ExecutionMode",
    "ExecutorClosedError",
    "MemoryLimitError",
    "NoEligibleAgentError",
    "ParallelExecutor",
    "Policy",
    "QueueFullError",
    "RankedPolicy",
    "ResourceLimits",
    "RunRecord",
    "SchedulingAlgorithm",
    "SchedulingMetrics",
    "Stealing",
    "SwarmlabError",
    "Task",
    "TaskResult",
    "TaskScheduler",
    "TaskStatus",
    "WorkerCrashedError",
    "learn_durations",
    "register_policy",
    "replay",
    "resume",
    "run",
    "simulate",
    "whatif",
]
