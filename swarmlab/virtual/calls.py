"""The provider calls of simulated tasks: :class:`Call`, and how virtual time makes them.

A real agent task makes its calls itself (``swarmlab.call`` inside its body). A simulated
one carries them (``Task(calls=[Call(...), ...])``) and the simulation makes them the way
``swarmlab.call`` does, one after another: each asks its units through the same core
grants (:class:`swarmlab.core.calls.Calls`), waits in virtual time until they are given,
is admitted (or refused with a 429) by the call's provider on the simulation's clock,
holds the pool units for its duration and gives them back. A refused call is retried
alone after the provider's retry-after plus up to :data:`swarmlab.percall.JITTER` of it,
drawn from the run's seeded generator, and pauses the resource as a real refusal does;
nothing is billed twice. The attempt ends after its last call and reports what a real
body reports (``tokens``, ``cost_usd``, ``calls``, ``limit_wait_s``, ``n_rate_limited``).

A call's provider is anything with ``on_clock(clock)`` that returns a fresh model of
itself on that clock (full buckets, an empty bill) with ``admit(tokens_in, tokens_out,
latency_s) -> (usage, end)`` (raising :class:`~swarmlab.RateLimited`) and
``finished(end)``: :class:`swarmlab.workloads.provider.FakeProvider` is one. Calls that
name the same provider object share one model per run.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checks import unit_map
from ..core.taskstate import RUNNING
from ..errors import ConfigError, RateLimited
from ..model import TaskStatus
from ..percall import FIRST_BACKOFF_S, JITTER, MAX_CALL_BACKOFF_S, MAX_CALL_REFUSALS

__all__ = ["Call", "CallSteps"]


@dataclass(frozen=True, slots=True)
class Call:
    """One provider call of a simulated task.

    Parameters
    ----------
    duration_s : float
        How long the call lasts once admitted (its latency), in seconds.
    units : mapping of str to float
        Pool and rate names of the run -> units the call holds (a pool's) or spends (a
        rate's), as ``swarmlab.call(units=...)`` takes them; empty: none asked.
    tokens_in, tokens_out : int
        What the provider bills it (0: nothing).
    provider : object, optional
        The provider that admits and bills it (see the module docstring); None: every call
        is admitted and nothing is billed.
    """

    duration_s: float
    units: Mapping[str, float] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    provider: Any = None

    def __post_init__(self) -> None:
        d = self.duration_s
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < math.inf:
            raise ConfigError(f"Call duration_s must be a finite number of seconds >= 0; got {d!r}")
        object.__setattr__(self, "units", unit_map(self.units, "Call units", positive_only=True))
        for name in ("tokens_in", "tokens_out"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"Call {name} must be an int >= 0; got {v!r}")
        p = self.provider
        if p is not None and not callable(getattr(p, "on_clock", None)):
            raise ConfigError(f"Call provider must have on_clock(clock) (a swarmlab.workloads.provider.FakeProvider, "
                              f"say) or be None; got {p!r}")


class VirtualClock:
    """The simulation's time, as a provider reads it (``clock()``)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Attempt:
    """One simulated attempt making its calls: where it is and what it has spent."""

    __slots__ = ("st", "attempt", "calls", "i", "grant", "usage", "end", "refusals", "exc", "values")

    def __init__(self, st: Any, attempt: int, calls: tuple, exc: BaseException | None) -> None:
        self.st, self.attempt, self.calls = st, attempt, calls
        self.i = 0
        self.grant: Any = None
        self.usage: Any = None
        self.end: float | None = None  # the provider's end of the call in flight
        self.refusals = 0
        self.exc = exc  # what the failure model says it ends with
        self.values: dict[str, float] = {"calls": 0.0}


class CallSteps:
    """The calls in flight of one simulated run: a heap of ``(time, seq, attempt, what)``
    steps (a call's end, a retry after a refusal) beside the loop's attempt ends."""

    def __init__(self, d: Any, rng: random.Random, clock: VirtualClock) -> None:
        self.d, self.rng, self.clock = d, rng, clock
        self.heap: list[tuple[float, int, _Attempt, str]] = []
        self.seq = itertools.count()
        self.grants: Any = None  # the run's core Calls, made at the first call that asks for units
        self.providers: dict[int, tuple[Any, Any]] = {}  # id(provider) -> (provider, its model on this clock)

    # ------------------------------------------------------------------ the loop's side
    def next_at(self) -> float | None:
        return self.heap[0][0] if self.heap else None

    def start(self, st: Any, now: float, exc: BaseException | None) -> None:
        """The attempt of ``st`` started now: it asks for its first call's units."""
        self._ask(_Attempt(st, st.attempt, st.task.calls, exc), now)

    def step(self, now: float) -> None:
        """Take the earliest step (due ``now``)."""
        _, _, a, what = heapq.heappop(self.heap)
        if what == "end":
            self._ended(a, now)
        else:  # "retry": the retry-after has passed
            self._ask(a, now)

    def settle(self, now: float) -> None:
        """Calls given their units since the last look begin; calls refused while they
        waited (the budget spent) end their attempts."""
        g = self.grants
        if g is None:
            return
        while g.granted or g.dropped:
            if g.dropped:
                dropped, g.dropped = g.dropped, []
                for grant, why in dropped:
                    if why is not None:  # (None: its attempt ended already)
                        self._finish(grant.ticket, now, TaskStatus.FAILED, why)
            for grant in g.take_granted():
                a = grant.ticket
                if self._over(a):
                    g.give_back(grant, now)
                else:
                    self._begin(a, now)

    def summary(self) -> list[dict[str, Any]]:
        """For ``record.meta["providers"]``: each provider model's calls and bill."""
        return [{"provider": type(p).__name__, "calls": getattr(m, "calls", None),
                 "refused": dict(getattr(m, "refused", {})), "billed_tokens": getattr(m, "billed_tokens", None),
                 "billed_usd": getattr(m, "billed_usd", None)} for p, m in self.providers.values()]

    # ------------------------------------------------------------------ one attempt
    def _over(self, a: _Attempt) -> bool:
        st = a.st
        return st.state is not RUNNING or st.attempt != a.attempt

    def _push(self, t: float, a: _Attempt, what: str) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), a, what))

    def _ask(self, a: _Attempt, now: float) -> None:
        if self._over(a):
            return
        call = a.calls[a.i]
        if not call.units:  # as acquire() with no units: nothing asked, nothing waited for
            a.grant = None
            self._begin(a, now)
            return
        if self.grants is None:
            self.grants = self.d.membership.use_units().use_calls()
        if self.grants.refusal is not None:  # the budget is spent: the body's call raises it
            self._finish(a, now, TaskStatus.FAILED, self.grants.refusal)
            return
        g = self.grants.ask(a.st, a.attempt, call.units, now, a)
        a.grant = g
        if g.granted_s is not None:
            self._begin(a, now)

    def _model(self, provider: Any) -> Any:
        got = self.providers.get(id(provider))
        if got is None:
            got = self.providers[id(provider)] = (provider, provider.on_clock(self.clock))
        return got[1]

    def _begin(self, a: _Attempt, now: float) -> None:
        """The call has its units: the provider admits it (it ends after its duration)
        or refuses it (it is retried alone after the retry-after)."""
        g = a.grant
        if g is not None and g.wait_s > 0:
            a.values["limit_wait_s"] = a.values.get("limit_wait_s", 0.0) + g.wait_s
        call = a.calls[a.i]
        if call.provider is None:
            a.usage, a.end = None, None
            self._push(now + call.duration_s, a, "end")
            return
        self.clock.now = now
        try:
            a.usage, a.end = self._model(call.provider).admit(call.tokens_in, call.tokens_out, call.duration_s)
        except RateLimited as e:
            self._refused(a, e, now)
            return
        self._push(a.end, a, "end")

    def _refused(self, a: _Attempt, e: RateLimited, now: float) -> None:
        """As ``swarmlab.call`` does: counted, the resource paused for the retry-after,
        the units given back, the call asked again after the retry-after plus jitter."""
        a.values["n_rate_limited"] = a.values.get("n_rate_limited", 0.0) + 1
        a.refusals += 1
        if a.refusals >= MAX_CALL_REFUSALS:
            self._give_back(a, now)
            self._finish(a, now, TaskStatus.FAILED, e)
            return
        base = e.retry_after_s
        if base is None:
            base = min(MAX_CALL_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (a.refusals - 1))
        delay = base * (1.0 + JITTER * self.rng.random())
        if e.resource is not None:
            self.d.membership.use_units().pause(e.resource, now + (e.retry_after_s if e.retry_after_s is not None
                                                                   else delay))
        self._give_back(a, now)
        self._push(now + delay, a, "retry")

    def _give_back(self, a: _Attempt, now: float) -> None:
        g, a.grant = a.grant, None
        if g is not None:
            self.grants.give_back(g, now)

    def _ended(self, a: _Attempt, now: float) -> None:
        """A call is over: billed usage counted, units given back, the next call asked
        (or the attempt ends after its last)."""
        call = a.calls[a.i]
        if a.end is not None:
            self._model(call.provider).finished(a.end)  # in flight at the provider, whatever became of the attempt
            a.end = None
        if self._over(a):
            return
        values = a.values
        values["calls"] += 1
        if a.usage is not None:
            values["tokens"] = values.get("tokens", 0.0) + a.usage.tokens
            values["cost_usd"] = values.get("cost_usd", 0.0) + a.usage.cost_usd
            a.usage = None
        self._give_back(a, now)
        a.i += 1
        if a.i < len(a.calls):
            self._ask(a, now)
        else:
            self._finish(a, now, TaskStatus.COMPLETED if a.exc is None else TaskStatus.FAILED, a.exc)

    def _finish(self, a: _Attempt, now: float, status: TaskStatus, exc: BaseException | None) -> None:
        if self._over(a):
            return
        self._give_back(a, now)  # (the dispatcher gives back what is left anyway)
        self.d.finish(a.st, a.attempt, now, status, None, exc, None, None, reported=a.values)
