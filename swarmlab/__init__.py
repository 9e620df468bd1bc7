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
from .scheduling import SchedulingAlgorithm, SchedulingMetrics, TaskScheduler
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
    "ExecutionMetrics",
    "ExecutionMode",
    "ExecutorClosedError",
    "MemoryLimitError",
    "NoEligibleAgentError",
    "ParallelExecutor",
    "QueueFullError",
    "ResourceLimits",
    "RunRecord",
    "SchedulingAlgorithm",
    "SchedulingMetrics",
    "SwarmlabError",
    "Task",
    "TaskResult",
    "TaskScheduler",
    "TaskStatus",
    "WorkerCrashedError",
    "replay",
    "resume",
    "run",
    "simulate",
    "whatif",
]
