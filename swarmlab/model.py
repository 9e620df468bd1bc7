"""Plain data: tasks, agents, results, limits, metrics and the closed sets (enums).

Standard library only. Validation happens here, at the boundary, so the dispatcher can
trust what it is given; the checks themselves are :mod:`swarmlab.checks`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum
from typing import Any

from .checks import capability_names, enum_value, exception_types, instances, non_negative, positive, unit_map
from .errors import ConfigError

__all__ = [
    "AgentType",
    "ExecutionMode",
    "TaskStatus",
    "TERMINAL",
    "TERMINAL_STATES",
    "FAILURE_STATES",
    "Task",
    "Agent",
    "TaskResult",
    "ResourceLimits",
    "RateLimit",
    "GPU",
    "ExecutionMetrics",
    "AGENTS_HINT",
    "agent_list",
    "parse_limits",
]


class AgentType(str, Enum):
    """The roles of the original design."""

    COORDINATOR = "coordinator"
    RESEARCHER = "researcher"
    DEVELOPER = "developer"
    ANALYZER = "analyzer"
    REVIEWER = "reviewer"
    TESTER = "tester"
    DOCUMENTER = "documenter"
    MONITOR = "monitor"
    SPECIALIST = "specialist"


class ExecutionMode(str, Enum):
    """Where task bodies run. ``DASK`` needs the ``dask`` extra."""

    THREAD = "thread"
    PROCESS = "process"
    ASYNCIO = "asyncio"
    HYBRID = "hybrid"
    DASK = "dask"


class TaskStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    UPSTREAM_FAILED = "upstream_failed"


#: The states a task ends in; every submitted task reaches exactly one of them.
TERMINAL = frozenset(
    {
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.TIMED_OUT,
        TaskStatus.CANCELLED,
        TaskStatus.UPSTREAM_FAILED,
    }
)
#: The same states by name, in :class:`TaskStatus` order: the ``status`` a task's last
#: attempt row ends with, and the kinds of the events that end a task.
TERMINAL_STATES: tuple[str, ...] = tuple(s.value for s in TaskStatus if s in TERMINAL)
#: The terminal states that say something went wrong (``cancelled`` is asked for): a live
#: view shows them as a failure.
FAILURE_STATES: tuple[str, ...] = ("failed", "timed_out", "upstream_failed")

#: The resource whose units are devices: an attempt that holds some sees only those
#: (``CUDA_VISIBLE_DEVICES``, :func:`swarmlab.current_devices`).
GPU = "gpu"

_KINDS = (None, "io", "cpu")
_FUNCTION = types.FunctionType
_RETRY_ON = (Exception,)  # the default object itself, so the check for it is one `is`
_BACKOFF = 0.05


@dataclass(slots=True, eq=False)
class Task:
    """One unit of work.

    Parameters
    ----------
    fn : callable, coroutine function or None
        The body. ``None`` makes a task that can only be simulated: it lasts its
        ``estimate_s``, or what ``simulate(durations=...)`` says (its estimate may then
        be None, or learned: ``simulate(estimator=...)``).
    args, kwargs
        Passed to ``fn``.
    id : str, optional
        Unique within a run. When None, the executor (or ``simulate``) gives the task the
        id ``task-N`` (N its submission order) when it is submitted, and writes it here.
    name : str, optional
        For display; defaults to the function's name.
    priority : int
        1..10, higher first. 1-3 low (stealable), 4-6 normal, 7-9 high, 10 critical.
    kind : {None, "io", "cpu"}
        Declares the task's nature; HYBRID routes "cpu" to processes, "io" to threads.
    requires : iterable of str
        Capabilities an agent must hold to run the task.
    dependencies : iterable of str or Task
        Tasks (or their ids) that must complete before this one starts.
    timeout : float, optional
        Seconds one attempt may run; defaults to ``ResourceLimits.task_timeout``.
    max_retries : int
        Further attempts after a failure whose exception is an instance of ``retry_on``.
    retry_on : exception type or tuple of them
    estimate_s : float, optional
        Expected run time in seconds on an agent of speed 1: what schedulers weigh the
        task by (1 s when None and no estimator fills it in), and the simulator's duration.
    retry_backoff_s : float
        Base of the exponential backoff between attempts: attempt n+1 waits
        ``retry_backoff_s * 2**(n-1)`` seconds, times a seeded jitter in [0.5, 1.5).
    with_agent : bool
        Call ``fn`` with the keyword arguments ``agent`` (the :class:`Agent` that runs the
        attempt) and ``attempt`` (1-based): agent runners need to know who they are.
    resources : dict of str to float, optional
        Units the task holds while an attempt runs, by name: an agent's own (``"gpu"``,
        a licence: see :class:`Agent`), a pool of the run or a rate
        (:class:`ResourceLimits` ``pools`` and ``rates``). The task goes only to an agent
        that can cover them and starts only when every unit is free; pool and agent
        units come back at every end, rate units are spent. ``{"gpu": 1}`` is one device
        (``{"gpu": 0.5}`` half of one, shared).
    calls : sequence of swarmlab.virtual.Call
        The provider calls an attempt makes, for ``simulate`` (a real run calls ``fn``,
        which makes its calls itself): the simulated attempt makes them one after another
        instead of lasting its ``estimate_s``.

    Examples
    --------
    >>> Task(sum, ([1, 2, 3],), priority=5).priority
    5
    """

    fn: Callable[..., Any] | None
    args: tuple = ()
    kwargs: dict | None = None
    _: KW_ONLY
    id: str | None = None
    name: str | None = None
    priority: int = 1
    kind: str | None = None
    requires: frozenset[str] = frozenset()
    dependencies: tuple = ()
    timeout: float | None = None
    max_retries: int = 0
    retry_on: tuple[type[BaseException], ...] = _RETRY_ON
    estimate_s: float | None = None
    retry_backoff_s: float = _BACKOFF
    with_agent: bool = False
    resources: Mapping[str, float] | None = None
    calls: tuple = ()
    is_coroutine: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        # Each check has a fast path for the default value: building 100k tasks is common.
        fn = self.fn
        if fn is None:  # simulated only: its duration is estimate_s, or simulate's durations/estimator
            self.is_coroutine = False
        else:
            code = getattr(fn, "__code__", None)
            if code is not None and type(fn) is _FUNCTION:  # a plain def or lambda
                self.is_coroutine = bool(code.co_flags & inspect.CO_COROUTINE)
            elif callable(fn):
                self.is_coroutine = asyncio.iscoroutinefunction(fn)
            else:
                raise ConfigError(
                    f"Task fn must be a callable, a coroutine function or None; got "
                    f"{type(fn).__name__} {fn!r}"
                )
        if type(self.args) is not tuple:
            a = self.args
            if isinstance(a, (str, bytes, Mapping, set, frozenset)) or not isinstance(a, Iterable):
                raise ConfigError(
                    f"Task args must be a tuple (or list) of positional arguments; got "
                    f"{type(a).__name__} {a!r}; give one argument as args=(x,) and keyword "
                    "arguments as kwargs={...}"
                )
            self.args = tuple(a)
        kw = self.kwargs
        if kw is not None:
            if not isinstance(kw, dict):
                raise ConfigError(f"Task kwargs must be a dict or None; got {kw!r}")
            for k in kw:
                if type(k) is not str:
                    raise ConfigError(
                        f"Task kwargs keys must be str (the parameter names); got {k!r} in {kw!r}; "
                        "pass positional values in args"
                    )
        if self.id is not None and (not isinstance(self.id, str) or not self.id):
            raise ConfigError(f"Task id must be a non-empty str or None; got {self.id!r}")
        if self.name is None:
            self.name = getattr(fn, "__name__", None) or self.id
        elif type(self.name) is not str and not isinstance(self.name, str):
            raise ConfigError(f"Task name must be a str or None; got {self.name!r}; it is for display")
        if type(self.with_agent) is not bool:
            raise ConfigError(f"Task with_agent must be True or False; got {self.with_agent!r}")
        p = self.priority
        if type(p) is not int or not 1 <= p <= 10:
            raise ConfigError(
                f"Task priority must be an int from 1 (low) to 10 (critical); got {p!r}"
            )
        if self.kind is not None and self.kind not in _KINDS:
            raise ConfigError(f"Task kind must be one of None, 'io', 'cpu'; got {self.kind!r}")
        req = self.requires
        if req or type(req) is not frozenset:  # the default, an empty frozenset, is kept
            self.requires = capability_names(req, "Task requires")
        if self.dependencies:
            self.dependencies = _check_dependencies(self.dependencies)
        elif type(self.dependencies) is not tuple:
            self.dependencies = ()
        if self.timeout is not None:
            self.timeout = positive(self.timeout, "Task timeout (seconds)", allow_none=True)
        r = self.max_retries
        if type(r) is not int or r < 0:
            raise ConfigError(f"Task max_retries must be an int >= 0; got {r!r}")
        if self.retry_on is not _RETRY_ON:
            self.retry_on = exception_types(self.retry_on, "Task retry_on")
        if self.estimate_s is not None:
            non_negative(self.estimate_s, "Task estimate_s")
        if self.retry_backoff_s != _BACKOFF:
            non_negative(self.retry_backoff_s, "Task retry_backoff_s")
        if self.resources is not None:
            need = {k: v for k, v in unit_map(self.resources, "Task resources").items() if v}
            g = need.get(GPU)
            if g is not None and g > 1 and g != int(g):
                raise ConfigError(f"Task resources[{GPU!r}] holds whole devices, or a share of one below 1; got {g!r}")
            self.resources = need or None
        if type(self.calls) is not tuple or self.calls:
            self.calls = _check_calls(self.calls)


def _check_calls(calls: Any) -> tuple:
    """A tuple of calls (their type, ``swarmlab.virtual.Call``, lives above the model:
    what is checked here is that each looks like one)."""
    if isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Iterable):
        raise ConfigError(f"Task calls must be a sequence of swarmlab.virtual.Call; got {calls!r}")
    calls = tuple(calls)
    for c in calls:
        if not hasattr(c, "duration_s") or not hasattr(c, "units"):
            raise ConfigError(f"Task calls must be swarmlab.virtual.Call values (Call(duration_s, units=...)); "
                              f"got {c!r}")
    return calls


def _check_dependencies(deps: Any) -> tuple:
    if isinstance(deps, (str, Task)):
        deps = (deps,)
    deps = tuple(deps)
    for d in deps:
        if not isinstance(d, (str, Task)):
            raise ConfigError(f"Task dependencies must be task ids (str) or Task objects; got {d!r}")
    return deps


_agent_ids = itertools.count()


@dataclass(frozen=True, slots=True, eq=False)
class Agent:
    """A worker that tasks are scheduled onto.

    Agents are hashable and ordered by ``id``. ``capacity`` is how many tasks the agent
    runs at once; ``speed`` scales simulated durations (2.0 = twice as fast).
    ``resources`` are countable units the agent holds (``{"gpu": 2}``, a licence): a task
    that needs units of one goes only to an agent holding enough, and starts when they
    are free. Units of ``"gpu"`` are devices, whole ones: ``devices`` names which (their
    indices in the machine's device table), else the run gives each agent its own in pool
    order.
    """

    id: str | None = None
    _: KW_ONLY
    type: AgentType = AgentType.SPECIALIST
    capabilities: frozenset[str] = frozenset()
    capacity: int = 1
    speed: float = 1.0
    resources: Mapping[str, float] | None = None
    devices: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        atype = enum_value(AgentType, self.type, "Agent type")
        set_(self, "type", atype)
        if self.id is None:
            set_(self, "id", f"{atype.value}-{next(_agent_ids)}")
        elif not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"Agent id must be a non-empty str or None; got {self.id!r}")
        caps = self.capabilities
        if caps or type(caps) is not frozenset:
            set_(self, "capabilities", capability_names(caps, f"Agent {self.id!r} capabilities"))
        positive(self.capacity, f"Agent {self.id!r} capacity", integer=True)
        positive(self.speed, f"Agent {self.id!r} speed")
        if self.resources is not None:
            held = {k: v for k, v in unit_map(self.resources, f"Agent {self.id!r} resources").items() if v}
            g = held.get(GPU)
            if g is not None and g != int(g):
                raise ConfigError(f"Agent {self.id!r} resources[{GPU!r}] counts whole devices; got {g!r}")
            set_(self, "resources", held or None)
        if self.devices is not None:
            devs = self.devices
            if isinstance(devs, (str, bytes)) or not isinstance(devs, Iterable):
                raise ConfigError(f"Agent {self.id!r} devices must be a list of device indices; got {devs!r}")
            devs = tuple(devs)
            if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in devs) or len(set(devs)) != len(devs):
                raise ConfigError(f"Agent {self.id!r} devices must be distinct device indices (ints >= 0); got {devs!r}")
            n = (self.resources or {}).get(GPU, 0)
            if len(devs) != n:
                raise ConfigError(f"Agent {self.id!r} names {len(devs)} devices {list(devs)} but holds "
                                  f"resources[{GPU!r}]={n:g}; give resources={{{GPU!r}: {len(devs)}}}")
            set_(self, "devices", devs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Agent) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("Agent", self.id))

    def __lt__(self, other: Agent) -> bool:
        if not isinstance(other, Agent):
            return NotImplemented
        return self.id < other.id


#: How to build the agents a run is given (ends the message when they are not Agents).
AGENTS_HINT = "build them with swarmlab.Agent('name', capabilities=[...]) and pass a list of them"


def agent_list(agents: Any, what: str) -> list[Agent]:
    """The agents of a run: a list of :class:`Agent` (checked here, not met later as an
    AttributeError in the dispatcher). :func:`swarmlab.checks.instances` for Agents."""
    return instances(agents, Agent, what, AGENTS_HINT)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """How a task ended. Failures are data: ``error_type``, ``error`` and ``traceback``.

    ``attempts`` counts the attempts that started: in the tasks frame they are the task's
    rows numbered 1 to ``attempts`` that have a ``started_s``. A task that ended while
    waiting (cancelled, stopped, upstream failed) has one row more, with no start: its
    ``attempt`` is 0 when no attempt ever ran (``attempts`` is 0 too), else the number of
    the attempt it was waiting to start.
    """

    task_id: str
    status: TaskStatus
    value: Any = None
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    agent_id: str | None = None
    mode: str | None = None
    attempts: int = 0
    wait_s: float = math.nan
    run_s: float = math.nan

    @property
    def ok(self) -> bool:
        """True when the task completed."""
        return self.status is TaskStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A rate limit: a token bucket that holds at most ``limit`` units, starts full and
    refills ``limit`` units every ``per_s`` seconds, continuously (the model providers
    document for requests and tokens per minute).

    ``reported`` names the :func:`swarmlab.report` value that trues the bucket up: a task
    declares what it expects to spend (``Task(resources={"tpm": 1000})``) and reports
    what it spent (``report(tokens=3000)``); the difference is charged when the attempt
    ends. None (default): the rate's own name.

    >>> RateLimit(120, per_s=60).limit
    120.0
    """

    limit: float
    per_s: float = 60.0
    _: KW_ONLY
    reported: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "limit", float(positive(self.limit, "RateLimit limit (units per per_s)")))
        object.__setattr__(self, "per_s", float(positive(self.per_s, "RateLimit per_s (seconds)")))
        if self.reported is not None and (not isinstance(self.reported, str) or not self.reported):
            raise ConfigError(f"RateLimit reported must name a report() value (a non-empty str) or be None; "
                              f"got {self.reported!r}")


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Limits of a run, with the original defaults.

    Parameters
    ----------
    max_cpu_percent : float or None
        CPU of the executor's process tree as a share of the whole machine (100 = every
        core busy; the tree's ``cpu_pct`` column counts 100 per core, so the comparison is
        ``cpu_pct / cpu_count``). Above it, no new task is admitted (priority 10 excepted)
        until the reading is back under ``resume_fraction`` of it. None: not enforced.
    max_memory_mb : float or None
        Resident memory of the executor's process tree (MB), enforced the same way.
    max_concurrent_tasks : int or None
        Tasks running at once over the whole pool. None (default): as many as the agents'
        capacities add up to, so nothing is capped unseen; a cap below that is recorded
        in the run's meta and, the first time it holds work back, as a ``capped`` event.
    max_queue_size : int
        Tasks waiting (submitted, not yet running or finished); beyond it, submitting
        raises :class:`~swarmlab.errors.QueueFullError`.
    task_timeout : float or None
        Default per-attempt timeout in seconds for tasks that set none.
    monitoring_interval : float
        Seconds between resource samples, 0.05 to 3600.
    resume_fraction : float
        Hysteresis: admission resumes once every reading is below this fraction of its
        limit (0 < f <= 1).
    max_task_memory_mb : float or None
        PROCESS tasks fail with ``error_type="memory_limit"`` past this: on Linux the OS
        refuses a task body's allocations beyond it (``RLIMIT_DATA``, see the README);
        at every sample, a worker whose resident memory passes it is killed.
    pools : dict of str to float
        Units shared by every agent of the run, by name (``{"llm": 8}``: eight requests at
        once to one provider key). A task holds what its ``resources`` name of a pool
        while an attempt runs.
    rates : dict of str to RateLimit
        Token buckets by name (``{"rpm": RateLimit(120, per_s=60)}``): a task's units are
        taken when an attempt starts and not given back; the bucket refills continuously.
    budgets : dict of str to float
        Per run, by the name of a value bodies report (``{"cost_usd": 5.0}``,
        ``swarmlab.report(cost_usd=...)``): once the reported total reaches one, nothing
        new starts (waiting tasks end ``cancelled`` saying so, calls waiting for units
        are refused with ``BudgetExhausted``); attempts running finish, and what they
        report still counts (``meta["resources"]["budgets"]``).
    """

    max_cpu_percent: float | None = 80.0
    max_memory_mb: float | None = 1024.0
    max_concurrent_tasks: int | None = None
    max_queue_size: int = 1000
    task_timeout: float | None = 300
    monitoring_interval: float = 1.0
    resume_fraction: float = 0.9
    max_task_memory_mb: float | None = None
    pools: Mapping[str, float] = field(default_factory=dict)
    rates: Mapping[str, RateLimit] = field(default_factory=dict)
    budgets: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cpu = positive(self.max_cpu_percent, "ResourceLimits.max_cpu_percent", allow_none=True)
        if cpu is not None and cpu > 100:
            raise ConfigError(
                "ResourceLimits.max_cpu_percent is a share of the whole machine: 0 < x <= 100 "
                f"(100 = every core busy); got {cpu!r}; divide a figure of 100 per core by the "
                "number of cores, or give None for no limit"
            )
        positive(self.max_memory_mb, "ResourceLimits.max_memory_mb", allow_none=True)
        positive(self.max_task_memory_mb, "ResourceLimits.max_task_memory_mb", allow_none=True)
        f = self.resume_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ConfigError(f"ResourceLimits.resume_fraction must be in (0, 1]; got {f!r}")
        positive(self.max_concurrent_tasks, "ResourceLimits.max_concurrent_tasks", allow_none=True, integer=True)
        positive(self.max_queue_size, "ResourceLimits.max_queue_size", integer=True)
        positive(self.task_timeout, "ResourceLimits.task_timeout", allow_none=True)
        m = self.monitoring_interval
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.05 <= m <= 3600:
            raise ConfigError(
                f"ResourceLimits.monitoring_interval must be between 0.05 and 3600 seconds; got {m!r}"
            )
        object.__setattr__(self, "pools", unit_map(self.pools, "ResourceLimits.pools", positive_only=True))
        budgets = self.budgets if self.budgets is not None else {}
        if not isinstance(budgets, Mapping):
            raise ConfigError(f"ResourceLimits.budgets must be a dict of reported value -> limit, such as "
                              f"{{'cost_usd': 5.0}}; got {budgets!r}")
        for name, v in budgets.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ConfigError(f"ResourceLimits.budgets: names are the values bodies report (identifiers, "
                                  f"such as 'cost_usd'); got {name!r}")
            positive(v, f"ResourceLimits.budgets[{name!r}] (the most a run may spend)")
        object.__setattr__(self, "budgets", {k: float(v) for k, v in budgets.items()})
        rates = self.rates
        if rates is None:
            rates = {}
        if not isinstance(rates, Mapping):
            raise ConfigError(f"ResourceLimits.rates must be a dict of name -> RateLimit, such as "
                              f"{{'rpm': RateLimit(120, per_s=60)}}; got {rates!r}")
        checked = {}
        for name, r in rates.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"ResourceLimits.rates: names must be non-empty str; got {name!r}")
            if isinstance(r, Mapping):  # as dataclasses.asdict wrote it (a journaled spec)
                r = RateLimit(**r)
            if not isinstance(r, RateLimit):
                raise ConfigError(f"ResourceLimits.rates[{name!r}] must be a RateLimit, such as RateLimit(120, "
                                  f"per_s=60); got {r!r}")
            checked[name] = r
        object.__setattr__(self, "rates", checked)
        both = sorted(set(self.pools) & set(checked))
        if both:
            raise ConfigError(f"resource names must be unique across pools and rates; {both} name both")


#: How a pool and a rate are written as text (the CLI's flags, the panel's field).
LIMITS_FORM = "NAME=N (a pool of N units) or NAME=N/S (a rate: N units per S seconds), e.g. 'llm=8, rpm=120/60'"


def parse_limits(text: str, what: str = "limits") -> tuple[dict[str, float], dict[str, RateLimit]]:
    """Pools and rates written as text, ``"llm=8, rpm=120/60"``: ``({"llm": 8.0},
    {"rpm": RateLimit(120, per_s=60)})``. Items are separated by commas; an empty text is
    no limits. The one parser of the command line's ``--pool``/``--rate`` and the
    panel's limits field; ``what`` opens its error messages (a ConfigError naming the
    item, the form expected and an example).

    >>> parse_limits("llm=8, rpm=120/60")[0]
    {'llm': 8.0}
    """
    if not isinstance(text, str):
        raise ConfigError(f"{what} must be text, {LIMITS_FORM}; got {text!r}")
    pools: dict[str, float] = {}
    rates: dict[str, RateLimit] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, eq, value = (x.strip() for x in item.partition("="))
        n, slash, per = (x.strip() for x in value.partition("/"))
        try:
            if not eq or not name or any(c.isspace() or c in "=/" for c in name):
                raise ValueError
            units, per_s = float(n), float(per) if slash else None
            if not 0 < units < math.inf or (per_s is not None and not 0 < per_s < math.inf):
                raise ValueError
        except ValueError:
            raise ConfigError(f"{what}: {item!r} is not {LIMITS_FORM}, with N and S numbers > 0") from None
        if name in pools or name in rates:
            raise ConfigError(f"{what}: {name!r} is given twice; give each pool or rate once")
        if per_s is None:
            pools[name] = units
        else:
            rates[name] = RateLimit(units, per_s=per_s)
    return pools, rates


@dataclass(frozen=True, slots=True)
class ExecutionMetrics:
    """A snapshot computed from the recorded events of a run.

    ``throughput`` is completed tasks per wall-clock second of the run (first submission
    to the last finish, or to now while running); never over summed task durations.
    ``total_execution_time`` is the sum of the run times of every attempt and
    ``average_execution_time`` its mean over finished attempts. CPU (100 = one core) and
    memory (MB) of the process tree come from the resource samples: NaN before the first.
    ``violations`` counts, per kind (``cpu``, ``memory``, ``task_memory``), the times a
    limit was found passed. ``queue_wait_time`` is the mean wait (ready to started) of the
    attempts that started, 0.0 before any.
    """

    tasks_queued: int = 0
    tasks_running: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0
    total_execution_time: float = 0.0
    average_execution_time: float = 0.0
    peak_cpu_usage: float = 0.0
    peak_memory_usage: float = 0.0
    throughput: float = 0.0
    tasks_timed_out: int = 0
    tasks_cancelled: int = 0
    tasks_upstream_failed: int = 0
    wall_time_s: float = 0.0
    current_cpu_usage: float = math.nan
    current_memory_usage: float = math.nan
    violations: dict[str, int] = field(default_factory=dict)
    queue_wait_time: float = 0.0
