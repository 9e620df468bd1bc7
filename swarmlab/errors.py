"""Every error swarmlab raises, in one place.

Each error is also the builtin it stands for, so ``except ValueError`` keeps working
around code that raises :class:`ConfigError`.
"""

from __future__ import annotations

__all__ = [
    "SwarmlabError",
    "ConfigError",
    "QueueFullError",
    "DependencyCycleError",
    "NoEligibleAgentError",
    "BackendUnavailable",
    "ExecutorClosedError",
    "WorkerCrashedError",
    "MemoryLimitError",
    "CommandError",
    "JournalError",
    "RateLimited",
    "BudgetExhausted",
]


class SwarmlabError(Exception):
    """Base class of every error raised by swarmlab."""


class ConfigError(SwarmlabError, ValueError):
    """A value given to swarmlab is outside what is allowed."""


class JournalError(ConfigError):
    """A run's journal cannot be read (empty, no intact header, not a journal) or does not
    describe tasks that can be rebuilt; nothing was run."""


class QueueFullError(SwarmlabError, RuntimeError):
    """Submitting would exceed ``ResourceLimits.max_queue_size``; nothing was accepted."""


class DependencyCycleError(SwarmlabError, ValueError):
    """The submitted tasks depend on each other in a cycle.

    Attributes
    ----------
    cycle : list[str]
        The task ids of one cycle, in dependency order, first id repeated at the end.
    """

    def __init__(self, cycle: list[str]):
        self.cycle = list(cycle)
        path = " -> ".join(self.cycle)
        super().__init__(
            f"tasks depend on each other in a cycle: {path}; remove one of these dependencies"
        )


class NoEligibleAgentError(SwarmlabError, LookupError):
    """No agent holds every capability a task requires."""

    def __init__(self, task_id: str, missing: set[str] | frozenset[str], message: str | None = None):
        self.task_id = task_id
        self.missing = frozenset(missing)
        names = ", ".join(sorted(self.missing))
        super().__init__(message or (
            f"task {task_id!r} requires capabilities no single agent has ({names}); "
            "add an agent holding all of them or drop them from Task.requires"
        ))


class BackendUnavailable(SwarmlabError, ImportError):
    """An optional backend's package is not installed."""


class ExecutorClosedError(SwarmlabError, RuntimeError):
    """The executor is stopped (or never started) and takes no new work."""


class WorkerCrashedError(SwarmlabError, RuntimeError):
    """The worker process running a task died before reporting a result."""


class MemoryLimitError(SwarmlabError, MemoryError):
    """A task's worker process passed ``ResourceLimits.max_task_memory_mb`` and was killed."""


class CommandError(SwarmlabError, RuntimeError):
    """A command run for an objective exited with a non-zero code."""

    def __init__(self, argv: list[str], exit_code: int, stdout: str, stderr: str) -> None:
        self.argv, self.exit_code, self.stdout, self.stderr = argv, exit_code, stdout, stderr
        tail = stderr.strip().splitlines()[-3:] if stderr.strip() else []
        super().__init__(
            f"command {argv[0]!r} exited with code {exit_code}"
            + (": " + " | ".join(tail) if tail else "")
        )

    def __reduce__(self):  # survives the trip back from a worker process
        return (type(self), (self.argv, self.exit_code, self.stdout, self.stderr))


class RateLimited(SwarmlabError):
    """What a task body raises when its provider refuses a call for now (an HTTP 429).

    A refusal is data, not a failure: the attempt ends ``rate_limited`` (its own row and
    event, with the retry-after) and the task runs again once ``retry_after_s`` has
    passed, without spending ``max_retries``. When ``resource`` names a pool or a rate
    of the run, nothing that uses it starts until then either.

    Parameters
    ----------
    retry_after_s : float or None
        Seconds the provider asked to wait (its ``Retry-After``); None when it said
        nothing (swarmlab then backs off exponentially).
    resource : str, optional
        The pool or rate the refusal is about.
    """

    def __init__(self, retry_after_s: float | None = None, resource: str | None = None) -> None:
        r = retry_after_s
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < float("inf")):
            raise ConfigError(f"RateLimited retry_after_s must be a finite number of seconds >= 0 or None; got {r!r}")
        if resource is not None and (not isinstance(resource, str) or not resource):
            raise ConfigError(f"RateLimited resource must name a pool or a rate (a str) or be None; got {resource!r}")
        self.retry_after_s = None if r is None else float(r)
        self.resource = resource
        after = "no retry-after" if r is None else f"retry after {r:g} s"
        super().__init__(f"rate limited ({after}" + (f", {resource}" if resource else "") + ")")

    def __reduce__(self) -> tuple:  # travels back from worker processes whole
        return type(self), (self.retry_after_s, self.resource)


class BudgetExhausted(SwarmlabError):
    """A budget of the run is spent (``ResourceLimits(budgets={"cost_usd": 5.0})``):
    nothing new starts, and a call waiting for its units (``swarmlab.acquire``,
    ``swarmlab.call``) or asking for them is refused with this. A body may catch it to
    end cleanly with what it has.

    Attributes
    ----------
    budget : str
        The reported value it is a budget of (``cost_usd``).
    limit, spent : float
        The budget, and what was reported when it was reached.
    """

    def __init__(self, budget: str, limit: float, spent: float) -> None:
        self.budget, self.limit, self.spent = budget, float(limit), float(spent)
        super().__init__(f"the run's budget of {budget} is spent ({spent:g} of {limit:g}): nothing new starts")

    def __reduce__(self) -> tuple:
        return type(self), (self.budget, self.limit, self.spent)
