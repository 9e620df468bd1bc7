"""``llm_swarm``: an agent swarm against a local fake provider, under its limits.

Objectives are small graphs: a planner, then two to four workers, then a reviewer; the
planner and the reviewer run on ``lead`` agents, the workers on ``worker`` agents. Each
task makes one to three calls to one :class:`~swarmlab.workloads.provider.FakeProvider`
(in-process, no network: the workload runs in ASYNCIO and THREAD), each with its
latency (log-normal with a heavy tail) and its input and output tokens drawn per call
from the seed, through :func:`swarmlab.call`: a 429 is retried for that call alone.
Each task reports its ``tokens``, ``cost_usd`` and ``calls``. Each task also carries its
calls (``Task.calls``), so ``simulate()`` makes the same calls to a model of the same
provider on virtual time.

With ``declare_limits`` the tasks ask for the provider's limits per call (``llm``,
``rpm``, ``tpm``: :data:`~swarmlab.workloads.provider.POOL` and the rates) and
``Workload.limits`` declares them, so no call is refused; without, the provider still
enforces them and answers 429s. ``tier`` scales the provider's limits (a higher tier, to
check a what-if against).
"""

from __future__ import annotations

import random
from typing import Any

from ..checks import positive, positive_int, seed_value
from ..errors import ConfigError
from ..model import Agent, Task
from ..percall import call
from ..scope import report
from ..virtual.calls import Call
from .provider import POOL, RPM, TPM, FakeProvider, ProviderLimits
from .recipes import Workload

__all__ = ["llm_swarm", "PROVIDER", "PRICES", "ROLES"]

#: The provider's limits at tier 1: 4 calls in flight per key, 40 requests and 40,000
#: tokens per 2 s window. Sized so that the default workload (60 tasks, about 100 calls)
#: runs in a few seconds and the request rate binds: 100 calls at 20 a second, after the
#: first 40, take about 3 s whatever the algorithm.
PROVIDER = ProviderLimits(concurrency=4, rpm=40, tpm=40_000, window_s=2.0)
#: Dollars per million input and output tokens.
PRICES = (3.0, 15.0)
#: The two agent roles: ``lead`` plans and reviews, ``worker`` works.
ROLES = ("lead", "worker")
#: A call's latency: log-normal around this median (seconds), with this sigma; one call in
#: twenty is slow, five times as long (the heavy tail providers show).
MEDIAN_LATENCY_S, SIGMA, SLOW_SHARE, SLOW_FACTOR = 0.03, 0.5, 0.05, 5.0


def _calls(rng: random.Random, role: str) -> tuple[tuple[int, int, float], ...]:
    """The calls of one task: (input tokens, output tokens, latency s) each."""
    n = 1 if role != "work" else rng.randint(1, 3)
    out = []
    for _ in range(n):
        tokens_in = int(rng.lognormvariate(6.4, 0.4))  # about 600
        tokens_out = int(rng.lognormvariate(5.0, 0.5))  # about 150
        latency = rng.lognormvariate(0.0, SIGMA) * MEDIAN_LATENCY_S
        if rng.random() < SLOW_SHARE:
            latency *= SLOW_FACTOR
        out.append((tokens_in, tokens_out, round(latency, 6)))
    return tuple(out)


def _units(tokens_in: int, tokens_out: int) -> dict[str, int]:
    return {POOL: 1, RPM: 1, TPM: tokens_in + tokens_out}


async def agent_call_async(provider: FakeProvider, calls: tuple, declared: bool) -> int:
    """An agent task's body in ASYNCIO: its calls, one after another; reports what they cost."""
    tokens = cost = 0.0
    for tokens_in, tokens_out, latency in calls:
        usage = await call(provider.complete, tokens_in, tokens_out, latency,
                           units=_units(tokens_in, tokens_out) if declared else None)
        tokens += usage.tokens
        cost += usage.cost_usd
    report(tokens=tokens, cost_usd=cost, calls=len(calls))
    return int(tokens)


def agent_call(provider: FakeProvider, calls: tuple, declared: bool) -> int:
    """:func:`agent_call_async` for THREAD."""
    tokens = cost = 0.0
    for tokens_in, tokens_out, latency in calls:
        usage = call(provider.complete_sync, tokens_in, tokens_out, latency,
                     units=_units(tokens_in, tokens_out) if declared else None)
        tokens += usage.tokens
        cost += usage.cost_usd
    report(tokens=tokens, cost_usd=cost, calls=len(calls))
    return int(tokens)


def _graph(n: int, rng: random.Random) -> list[tuple[str, str, tuple[str, ...]]]:
    """(task id, role, dependencies) of ``n`` tasks as objectives: plan -> work x k -> review."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    j = 0
    while len(out) < n:
        left = n - len(out)
        k = min(rng.randint(2, 4), max(left - 2, 0))
        plan = f"o{j}-plan"
        out.append((plan, "plan", ()))
        work = [f"o{j}-work{i}" for i in range(k)]
        out += [(w, "work", (plan,)) for w in work]
        if len(out) < n:
            out.append((f"o{j}-review", "review", tuple(work) or (plan,)))
        j += 1
    return out


def llm_swarm(n: int = 60, *, seed: int = 0, declare_limits: bool = True, tier: float = 1.0,
              agents: int = 8, draws: int | None = None) -> Workload:
    """``n`` agent tasks (objectives: a planner, two to four workers, a reviewer) calling
    a seeded local fake provider; see the module docstring.

    Parameters
    ----------
    n : int
        Tasks, as ``--tasks`` counts them.
    seed : int
        Draws the graphs (and, without ``draws``, every call's tokens and latency).
    declare_limits : bool
        Whether the tasks ask for the provider's limits per call and ``Workload.limits``
        declares them (True: no 429), or not (the provider refuses what passes them).
    tier : float
        A factor on the provider's limits (:data:`PROVIDER`).
    agents : int
        The pool: a quarter ``lead`` agents (at least one), the rest ``worker`` agents.
    draws : int, optional
        Draws every call's tokens and latency (default: ``seed``). A comparison gives each
        repeat its own (``Workload.redraw``), the same on both clocks, so repeats differ as
        real runs of the same objectives do.

    Returns
    -------
    Workload
        ``meta["expected_tokens"]``: the input plus output tokens the work needs (what a
        run pays when nothing is paid twice); ``meta["provider"]``: the provider's limits.
        ``task_meta`` maps each task to its ``calls``. Each call to ``tasks()`` makes a
        fresh provider (full buckets, an empty bill): one per run.
    """
    positive_int(n, "workload 'llm_swarm''s number of tasks")
    seed = seed_value(seed, "llm_swarm seed")
    positive(tier, "llm_swarm tier (a factor on the provider's limits)")
    positive_int(agents, "llm_swarm agents")
    if agents < 2:
        raise ConfigError(f"llm_swarm needs at least 2 agents (a lead and a worker); got {agents}")
    if not isinstance(declare_limits, bool):
        raise ConfigError(f"llm_swarm declare_limits must be True or False; got {declare_limits!r}")
    limits = PROVIDER.scaled(tier)
    graph = _graph(n, random.Random(seed))
    rng = random.Random(seed if draws is None else seed_value(draws, "llm_swarm draws"))
    calls = {tid: _calls(rng, role) for tid, role, _ in graph}
    expected = sum(a + b for cs in calls.values() for a, b, _ in cs)
    n_lead = max(1, agents // 4)
    pool = [Agent(f"lead-{i}", capabilities={"lead"}) for i in range(n_lead)] + [
        Agent(f"worker-{i}", capabilities={"worker"}) for i in range(agents - n_lead)]

    def build(style: str) -> list[Task]:
        provider = FakeProvider(limits, usd_per_mtok_in=PRICES[0], usd_per_mtok_out=PRICES[1])
        body = agent_call_async if style == "async" else agent_call
        return [Task(body, (provider, calls[tid], declare_limits), id=tid, name=role,
                     requires={"lead"} if role != "work" else {"worker"}, dependencies=deps, kind="io",
                     estimate_s=round(sum(lat for _, _, lat in calls[tid]), 6),
                     calls=[Call(lat, _units(a, b) if declare_limits else {}, a, b, provider)
                            for a, b, lat in calls[tid]])  # what simulate() makes instead of the body
                for tid, role, deps in graph]

    meta: dict[str, Any] = {"expected_tokens": expected, "provider": {
        "concurrency": limits.concurrency, "rpm": limits.rpm, "tpm": limits.tpm, "window_s": limits.window_s}}
    return Workload("llm_swarm", n, seed, pool, build, meta=meta,
                    task_meta={tid: {"calls": list(cs)} for tid, cs in calls.items()},
                    limits=limits.resource_limits() if declare_limits else None,
                    options={"declare_limits": declare_limits, "tier": tier, "agents": agents, "draws": draws},
                    redraw=lambda d: llm_swarm(n, seed=seed, declare_limits=declare_limits, tier=tier, agents=agents,
                                               draws=d))
