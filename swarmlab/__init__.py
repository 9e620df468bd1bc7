"""swarmlab: run, measure and compare parallel task execution for agent swarms.

The public names live here; the modules behind them are private.
"""

from .errors import (
    BackendUnavailable,
    ConfigError,
    DependencyCycleError,
    ExecutorClosedError,
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
from .portal import run
from .records import RunRecord
from .simulate import simulate

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentType",
    "BackendUnavailable",
    "ConfigError",
    "DependencyCycleError",
    "ExecutionMetrics",
    "ExecutionMode",
    "ExecutorClosedError",
    "NoEligibleAgentError",
    "ParallelExecutor",
    "QueueFullError",
    "ResourceLimits",
    "RunRecord",
    "SwarmlabError",
    "Task",
    "TaskResult",
    "TaskStatus",
    "WorkerCrashedError",
    "run",
    "simulate",
]
