"""Virtual time: the dispatcher driven by a discrete-event loop.

The ends of attempts are kept per instant, in the order the attempts started, under a
heap of the distinct instants: each instant's attempts end together, ties broken by start
order, so the same inputs and seed give the same frames, exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import heapq
import math
import random
from collections.abc import Callable, Sequence

from ..core.dispatcher import Dispatcher, TaskState
from ..core.runinfo import default_agents, describe_agents, run_meta
from ..errors import ConfigError
from ..events import EventCounts, Recorder
from ..checks import above_zero, instances, seed_value
from ..model import Agent, ResourceLimits, Task, TaskStatus, agent_list
from ..scheduling.registry import resolve_policy
from ..scheduling.scheduler import note_run
from ..store.records import RunRecord
from .calls import Call, CallSteps, VirtualClock
from .durations import DurationModel

__all__ = ["simulate"]

Failures = Callable[[Task, int], BaseException | None]


def _when(arrival: tuple) -> tuple[float, int]:
    """An arrival's (time, order given): joins and leaves happen in that order."""
    t, i, _ = arrival
    return t, i


def _checked_durations(model: DurationModel) -> DurationModel:
    """``model``, refusing what is not a duration (a negative, NaN or infinite number,
    or no number) with a ConfigError that names the task, instead of recording it."""
    @functools.wraps(model)
    def checked(task: Task, agent: Agent, attempt: int, rng: random.Random) -> float:
        d = model(task, agent, attempt, rng)
        t = type(d)
        if (t is float or t is int) and 0 <= d < math.inf:
            return d
        if t is not bool and isinstance(d, (int, float)) and 0 <= d < math.inf:  # numpy's, say
            return float(d)
        raise ConfigError(
            f"duration model {getattr(model, '__qualname__', model)!r} returned {d!r} for task "
            f"{task.id!r} (attempt {attempt} on agent {agent.id!r}); it must return a number of "
            "seconds >= 0 (finite); fix the model"
        )
    return checked


def _checked_failures(model: Failures) -> Failures:
    """``model``, refusing anything but an exception instance or None."""
    @functools.wraps(model)
    def checked(task: Task, attempt: int) -> BaseException | None:
        e = model(task, attempt)
        if e is None or isinstance(e, BaseException):
            return e
        raise ConfigError(
            f"failure model {getattr(model, '__qualname__', model)!r} returned {e!r} for task "
            f"{task.id!r} (attempt {attempt}); it must return an exception instance or None, "
            "like ValueError('why')"
        )
    return checked


def simulate(
    tasks: Sequence[Task],
    agents: Sequence[Agent] | None = None,
    *,
    scheduler: object = None,
    limits: ResourceLimits | None = None,
    seed: int = 0,
    failures: Failures | None = None,
    joins: Sequence[tuple[float, Agent]] = (),
    leaves: Sequence[tuple[float, str]] = (),
    durations: DurationModel | None = None,
    count_events_s: float | None = None,
    estimator: object = None,
) -> RunRecord:
    """Run ``tasks`` on virtual time and return what was recorded.

    A task's attempt lasts ``estimate_s / agent.speed`` virtual seconds; an attempt
    longer than the task's timeout ends ``timed_out`` at the timeout. Task bodies are
    never called. A task that carries calls (``Task(calls=[swarmlab.virtual.Call(...)])``)
    makes them instead, one after another, each waiting for its pool and rate units as
    ``swarmlab.call`` does and admitted, or refused with a 429 and retried after its
    retry-after, by its provider (:mod:`swarmlab.virtual.calls`); its attempt ends after
    its last call and reports ``tokens``, ``cost_usd``, ``calls``, ``limit_wait_s`` and
    ``n_rate_limited`` as a real body would, so budgets act too.

    Parameters
    ----------
    tasks : sequence of Task
        Each needs ``estimate_s``, unless ``durations`` says how long it lasts or
        ``estimator`` predicts it. Dependencies, priorities, retries and timeouts act as
        in a real run.
    agents : sequence of Agent, optional
        Default: ``limits.max_concurrent_tasks`` identical agents (10 without it).
    scheduler : policy, name or None
        Where ready tasks go; default least loaded.
    limits : ResourceLimits, optional
        ``max_concurrent_tasks`` and ``task_timeout`` act; ``max_queue_size`` does not,
        since every task is submitted at time 0. None (default): no cap beyond the
        agents' capacities and no timeout (only tasks' own ``timeout`` acts).
    seed : int
        Seeds retry jitter (of tasks and of calls refused by their provider).
    failures : callable, optional
        ``failures(task, attempt) -> exception or None``: the exception an attempt ends
        with (it then counts as ``failed`` after its full duration), or None.
    joins : sequence of (time, Agent)
        Agents that join the pool at the given virtual times.
    leaves : sequence of (time, agent id)
        Agents that leave at the given times: their waiting tasks are placed again and
        their running attempts fail (``agent_lost``) and run again elsewhere.
    durations : callable, optional
        ``durations(task, agent, attempt, rng) -> seconds``: how long an attempt lasts
        (``rng`` is the run's seeded generator). Default ``estimate_s / agent.speed``;
        :func:`lognormal` and :func:`pareto` add seeded noise to it, :func:`per_kind`
        picks a model by the task's kind. A task that carries calls lasts them instead.
    count_events_s : float, optional
        Keep counts of events per kind and bucket of this many seconds instead of every
        event (for runs of millions of tasks): the tasks frame is whole, the events frame
        has columns t_s, event, count, and ``meta["events"]`` says so.
    estimator : DurationEstimator, optional
        Predicts the ``estimate_s`` of tasks that have none (default: the scheduler's, a
        ``TaskScheduler(estimator=...)``): the schedulers weigh them by it, and without
        ``durations`` they last it. The tasks frame's ``estimate_source`` says ``given``,
        ``learned`` or ``default`` (no estimate, weighed 1 s: only with ``durations``).

    Returns
    -------
    RunRecord

    Examples
    --------
    >>> rec = simulate([Task(None, estimate_s=1.0) for _ in range(4)],
    ...                [Agent("a"), Agent("b")])
    >>> float(rec.tasks["finished_s"].max())
    2.0
    """
    # The run allocates a few objects per task and frees nothing until it ends: the
    # cyclic collector's passes over millions of live objects would cost a third of a
    # large run and find nothing. It is paused for the run (restored after).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _simulate(tasks, agents, scheduler, limits, seed, failures, joins, leaves, durations, count_events_s,
                         estimator)
    finally:
        if paused:
            gc.enable()


def _simulate(tasks, agents, scheduler, limits, seed, failures, joins, leaves, durations,
              count_events_s, estimator) -> RunRecord:
    if limits is None:
        limits = ResourceLimits(task_timeout=None)  # nothing cut short unseen: no default timeout
    elif not isinstance(limits, ResourceLimits):
        raise ConfigError(f"limits must be a ResourceLimits or None; got {limits!r}")
    agents = agent_list(agents, "simulate agents") if agents is not None else default_agents(limits)
    seed = seed_value(seed, "simulate seed")
    if durations is not None:
        durations = _checked_durations(durations)
    if failures is not None:
        failures = _checked_failures(failures)
    if estimator is None:
        estimator = getattr(scheduler, "estimator", None)
    elif not callable(getattr(estimator, "predict", None)):
        raise ConfigError(f"estimator must have predict(task) (a swarmlab.DurationEstimator); got {estimator!r}")
    tasks = instances(tasks, Task, "simulate tasks", "give a list of swarmlab.Task (Task(fn, estimate_s=...))")
    for t in tasks:
        if t.calls:
            for c in t.calls:
                if not isinstance(c, Call):
                    raise ConfigError(f"task {t.id or t.name!r} carries {c!r} among its calls; simulate takes "
                                      "swarmlab.virtual.Call values (Call(duration_s, units=..., provider=...))")
            continue  # it lasts its calls
        if t.estimate_s is None and durations is None and estimator is None:
            raise ConfigError(
                f"simulate needs estimate_s on every task; task {t.id or t.name!r} has none; give it one, "
                "or give simulate durations= (how long attempts last) or estimator= (to predict it)"
            )
    policy = resolve_policy(scheduler)
    if count_events_s is not None:
        above_zero(count_events_s, "count_events_s")
    rec = Recorder(aggregate_s=count_events_s)
    meta = run_meta(rec.run_id, clock="virtual", mode="simulated", policy=policy,
                    limits=limits, seed=seed, agents=agents)
    d = Dispatcher(agents, policy, limits, rec, seed=seed, estimator=estimator)
    note_run(scheduler, d.placements)
    d.max_queue = float("inf")  # every task is submitted at t=0; the queue cap would only bite here
    d.submit(tasks, 0.0)
    if estimator is not None and durations is None:
        for st in d.tasks.values():
            if st.task.estimate_s is None and not st.task.calls:
                raise ConfigError(f"the estimator {estimator!r} has no prediction for task {st.id!r} (nothing like "
                                  "it was observed) and no durations= says how long it lasts; give one of them")
    # (time, order given, who): an Agent joins, an agent id leaves; pop() takes the earliest
    arrivals = sorted(((t, i, a) for i, (t, a) in enumerate(joins)), key=_when)
    for t, _, a in arrivals:
        if not isinstance(a, Agent) or isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0:
            raise ConfigError(f"joins takes (time >= 0, Agent) pairs; got ({t!r}, {a!r})")
    n0 = len(arrivals)
    for i, (t, agent_id) in enumerate(leaves):
        if not isinstance(agent_id, str) or isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0:
            raise ConfigError(f"leaves takes (time >= 0, agent id) pairs; got ({t!r}, {agent_id!r})")
        arrivals.append((t, n0 + i, agent_id))
    arrivals.sort(key=_when)
    arrivals.reverse()

    ends: dict[float, list[tuple[TaskState, int, TaskStatus, BaseException | None]]] = {}
    instants: list[float] = []  # heap of the keys of ends
    now = 0.0
    push, pop = heapq.heappush, heapq.heappop
    started, finish = d.started, d.finish
    # (an enum member read through its class is a Python-level lookup: read once, not per attempt)
    timed_out, completed, failed = TaskStatus.TIMED_OUT, TaskStatus.COMPLETED, TaskStatus.FAILED
    rng = random.Random(seed)
    steps: CallSteps | None = None  # the calls in flight, made at the first task that carries calls
    counted = rec.events if isinstance(rec.events, EventCounts) else None
    fold_at = EventCounts.FOLD_AT
    while True:
        if counted is not None and len(counted) > fold_at:
            counted.fold()
        if steps is not None:
            steps.settle(now)
        for st in d.take_starts(now):
            started(st, now, "simulated")
            task = st.task
            if task.calls:  # it lasts its calls: they end it (a timeout first, if it comes first)
                if steps is None:
                    steps = CallSteps(d, rng, VirtualClock())
                exc = failures(task, st.attempt) if failures is not None else None
                steps.start(st, now, exc)
                if st.timeout is not None:
                    end = now + st.timeout
                    entry = (st, st.attempt, timed_out,
                             TimeoutError(f"attempt exceeded its timeout of {st.timeout}s"))
                    if end in ends:
                        ends[end].append(entry)
                    else:
                        ends[end] = [entry]
                        push(instants, end)
                continue
            attempt = st.attempt
            if durations is None:
                dur = task.estimate_s / st.slot.speed
            else:
                dur = durations(task, st.slot.agent, attempt, rng)
            exc = failures(task, attempt) if failures is not None else None
            timeout = st.timeout
            if timeout is not None and dur > timeout:
                end, status = now + timeout, timed_out
                exc = TimeoutError(f"attempt exceeded its timeout of {timeout}s")
            else:
                end, status = now + dur, completed if exc is None else failed
            at = ends.get(end)
            if at is None:
                ends[end] = [(st, attempt, status, exc)]
                push(instants, end)
            else:
                at.append((st, attempt, status, exc))
        wake = d.next_wakeup()
        if arrivals:
            due, _, _ = arrivals[-1]
            if wake is None or due < wake:
                wake = due
        if steps is not None and steps.heap:  # a call's step is due before the attempt ends and wake-ups after it
            at = steps.heap[0][0]
            if (not instants or at < instants[0]) and (wake is None or at <= wake):
                now = at
                steps.step(now)
                continue
        if instants and (wake is None or instants[0] <= wake):
            now = pop(instants)
            for st, attempt, status, exc in ends.pop(now):  # every attempt that ends now, then the starts
                finish(st, attempt, now, status, None, exc, "timeout" if status is timed_out else None)
        elif wake is not None:
            now = wake
            while arrivals:
                due, _, who = arrivals[-1]
                if due > now:
                    break
                arrivals.pop()
                if isinstance(who, Agent):
                    d.membership.add_agent(who, now)
                else:
                    d.membership.lose_agent(who, now)  # its pending ends are now stale and ignored
            d.wake(now)
        else:
            break
    if not d.done:  # cannot happen with a correct dispatcher; never lose a task regardless
        d.cancel_waiting(now, "simulation ended with the task still waiting")
    if d.policy_error is not None:
        raise d.policy_error
    meta["scheduling_metrics"] = dataclasses.asdict(d.placements.metrics())
    if d.units is not None:  # pools, rates, and the seconds tasks were held back per resource
        meta["resources"] = d.units.summary(now)
    meta["durations"] = "estimate" if durations is None else getattr(durations, "__qualname__", "model")
    if steps is not None:  # some attempts lasted their calls, not a duration (a replay takes what they measured)
        meta["durations"] += ", calls"
        if steps.providers:
            meta["providers"] = steps.summary()
    if estimator is not None:
        meta["estimator"] = repr(estimator)
    if arrivals_given := [a for _, a in joins]:
        pool = agents + arrivals_given
        meta.update(n_agents=len(pool), agents=describe_agents(pool))
    record = RunRecord.from_recorder(rec, meta)
    # The dispatcher and its parts refer to each other: left to the cyclic collector, its
    # task states (one per task) would wait, alive, for a pass over every object the run
    # made, that the caller's next allocations pay for (2 s after 1M tasks). Let go of
    # them here, and they are freed at once.
    d.tasks.clear()
    d.finished.clear()
    return record
