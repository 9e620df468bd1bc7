"""Units taken for one call from inside a running attempt (``swarmlab.acquire``).

An agent task that makes several provider calls holds the provider's pool and rates
per call, not for its whole run: the body asks for the units of one call, waits until
they are free, makes the call and gives the pool units back (a rate's are spent). The
dispatcher owns these grants beside the tasks' own units (:class:`~swarmlab.core.units.Units`),
keyed by ``now`` like the rest, so the same rules hold in real and virtual time.

Order. Calls are served first come, first served, and before any task start that
needs the same resource: a call comes from an attempt already running, which holds an
agent's slot while it waits, so finishing what has started goes first. While a call
waits for a resource, no new task that needs it starts (:meth:`Calls.blocks`).

What a task already holds through ``Task.resources`` is not asked for again: a call of
a task that declared ``llm`` takes no ``llm`` units (it holds them for its whole run), so
a body that both declares and acquires cannot deadlock on itself.

Every grant of an attempt comes back when the attempt ends (:meth:`Calls.ended`), even
one the body never gave back; an abandoned attempt (a THREAD body past its timeout)
keeps its grants until its thread returns, as it keeps its task units.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from ..checks import unit_map
from ..errors import ConfigError
from .bucket import EPSILON

__all__ = ["Calls", "Grant"]


class Grant:
    """One call's units: asked at ``asked_s``, given at ``granted_s`` (None while it
    waits). ``ticket`` is the driver's (what it resolves when the grant is given)."""

    __slots__ = ("st", "attempt", "pool", "rate", "asked_s", "granted_s", "ticket")

    def __init__(self, st: Any, attempt: int, pool: tuple, rate: tuple, asked_s: float, ticket: Any) -> None:
        self.st, self.attempt = st, attempt
        self.pool, self.rate = pool, rate
        self.asked_s = asked_s
        self.granted_s: float | None = None
        self.ticket = ticket

    @property
    def wait_s(self) -> float:
        """Seconds it waited (0 while it still waits)."""
        return 0.0 if self.granted_s is None else self.granted_s - self.asked_s

    def __repr__(self) -> str:
        return f"Grant({self.st.id!r}, {self.attempt}, pool={self.pool}, rate={self.rate}, granted={self.granted_s})"


class Calls:
    """The grants of one run: those given and not back yet, and those waiting.

    Parameters
    ----------
    units : Units
        The run's pools, buckets and pauses (shared with the tasks' own units).
    """

    def __init__(self, units: Any) -> None:
        self.units = units
        self.waiting: deque[Grant] = deque()
        self.waiting_for: dict[str, int] = {}  # resource -> calls waiting that need it
        self.held: dict[tuple[str, int], list[Grant]] = {}  # (task id, attempt) -> grants out
        self.granted: list[Grant] = []  # given while waiting, for the driver to resolve
        # withdrawn, with why (None: their attempt ended), for the driver to refuse
        self.dropped: list[tuple[Grant, BaseException | None]] = []
        self.refusal: BaseException | None = None  # once set (a budget spent), every ask raises it
        self.kept: set[tuple[str, int]] = set()  # abandoned attempts keeping their grants
        # (task id, attempt) -> rate -> units its calls took: declared, for the true-up by
        # what the body reports (a rate's ``reported`` value)
        self.spent: dict[tuple[str, int], dict[str, float]] = {}
        # what calls took over the run, for the bounds (analysis.limits): a rate's units,
        # and a pool's unit-seconds (counted as grants come back)
        self.rate_units: dict[str, float] = {}
        self.pool_unit_s: dict[str, float] = {}

    # ------------------------------------------------------------------ asking
    def ask(self, st: Any, attempt: int, wanted: Mapping[str, Any], now: float, ticket: Any = None) -> Grant:
        """A grant of ``wanted`` (pool and rate names -> units) for one call of attempt
        ``attempt`` of ``st``: given at once when the units are free and no call waits
        before it (``granted_s`` set), else queued (:attr:`granted` hands it over once
        given). Raises ConfigError for a name that is no pool or rate of the run or a
        need larger than it."""
        if self.refusal is not None:
            raise self.refusal
        units = self.units
        need = st.need
        pool, rate = [], []
        for name, n in sorted(unit_map(wanted, "acquire() units", positive_only=True).items()):
            if need is not None and need.of(name) > 0:
                continue  # held for the whole attempt already (Task.resources)
            kind = units.shared(name, n, f"a call of task {st.id!r} asks")
            if kind == "pool":
                pool.append((name, n))
            elif kind == "rate":
                rate.append((name, n))
            else:
                raise ConfigError(
                    f"a call of task {st.id!r} asks for {name!r}, which is no pool ({sorted(units.sizes)}) or rate "
                    f"({sorted(units.rates)}) of this run; declare it in ResourceLimits(pools=..., rates=...) "
                    "(an agent's own resources are held per task: Task(resources=...))")
        g = Grant(st, attempt, tuple(pool), tuple(rate), now, ticket)
        if not self.waiting and self._fits(g, now):
            self._take(g, now)
        else:
            self.waiting.append(g)
            for name, _ in g.pool + g.rate:
                self.waiting_for[name] = self.waiting_for.get(name, 0) + 1
        return g

    def _fits(self, g: Grant, now: float) -> bool:
        units = self.units
        paused = units.paused
        for r, n in g.pool:
            if units.free[r] + EPSILON < n or (paused and paused.get(r, 0.0) > now):
                return False
        for r, n in g.rate:
            if (paused and paused.get(r, 0.0) > now) or units.buckets[r].available(now) + EPSILON * max(1.0, n) < n:
                return False
        return True

    def _take(self, g: Grant, now: float) -> None:
        units = self.units
        for r, n in g.pool:
            units.free[r] -= n
        if g.rate:
            spent = self.spent.setdefault((g.st.id, g.attempt), {})
            taken = self.rate_units
            for r, n in g.rate:
                units.buckets[r].level -= n  # refilled to now by _fits
                spent[r] = spent.get(r, 0.0) + n
                taken[r] = taken.get(r, 0.0) + n
        g.granted_s = now
        self.held.setdefault((g.st.id, g.attempt), []).append(g)

    def blocks(self, name: str) -> bool:
        """Whether a call waits for ``name``: then no new task that needs it starts."""
        return self.waiting_for.get(name, 0) > 0

    # ------------------------------------------------------------------ giving back
    def give_back(self, g: Grant, now: float) -> None:
        """The call is over: its pool units come back (a rate's were spent), and the
        calls and tasks waiting for them may go."""
        out = self.held.get((g.st.id, g.attempt))
        if out is None or g not in out:
            if g.granted_s is None:
                self._withdraw(g)
            return
        out.remove(g)
        if not out:
            del self.held[(g.st.id, g.attempt)]
        self._return(g, now)

    def _return(self, g: Grant, now: float) -> None:
        free, held = self.units.free, self.pool_unit_s
        for r, n in g.pool:
            free[r] += n
            held[r] = held.get(r, 0.0) + n * (now - g.granted_s)
        self.serve(now)
        for r, _ in g.pool:
            self.units.freed(r, now)

    def _withdraw(self, g: Grant) -> None:
        """A waiting call no longer waits (its attempt ended, its body was cancelled)."""
        try:
            self.waiting.remove(g)
        except ValueError:
            return
        for name, _ in g.pool + g.rate:
            left = self.waiting_for[name] - 1
            if left:
                self.waiting_for[name] = left
            else:
                del self.waiting_for[name]

    def serve(self, now: float) -> None:
        """Give what the waiting calls ask for, first come first served, while it fits."""
        waiting = self.waiting
        while waiting and self._fits(waiting[0], now):
            g = waiting[0]
            self._withdraw(g)
            self._take(g, now)
            self.granted.append(g)

    def take_granted(self) -> list[Grant]:
        """The grants given since the last call, for the driver to resolve."""
        out, self.granted = self.granted, []
        return out

    def ended(self, st: Any, attempt: int, now: float, abandoned: bool = False) -> None:
        """Attempt ``attempt`` of ``st`` ended: its calls still waiting are withdrawn
        (:attr:`dropped`, for the driver to refuse), and its grants come back, unless it
        was abandoned (then they stay until :meth:`release_kept`)."""
        key = (st.id, attempt)
        if not abandoned:  # (an abandoned one reports when its thread returns: kept till then)
            self.spent.pop(key, None)
        if self.waiting:
            dropped = [g for g in self.waiting if g.st is st and g.attempt == attempt]
            for g in dropped:
                self._withdraw(g)
                self.dropped.append((g, None))
        if key not in self.held:
            return
        if abandoned:
            self.kept.add(key)
            return
        for g in self.held.pop(key):
            self._return(g, now)

    def close(self, refusal: BaseException) -> None:
        """No call is given units any more: those waiting are refused with ``refusal``
        (:attr:`dropped`), and so is every later ask."""
        self.refusal = refusal
        for g in list(self.waiting):
            self._withdraw(g)
            self.dropped.append((g, refusal))

    def release_kept(self, st: Any, attempt: int, now: float) -> bool:
        key = (st.id, attempt)
        self.spent.pop(key, None)  # (what it reported was taken just before)
        if key not in self.kept:
            return False
        self.kept.discard(key)
        for g in self.held.pop(key, ()):
            self._return(g, now)
        return True

    def summary(self) -> dict[str, dict[str, float]]:
        """For ``record.meta["resources"]["calls"]``: what calls took of each rate, and
        the unit-seconds they held of each pool."""
        return {"rate_units": dict(self.rate_units), "pool_unit_s": dict(self.pool_unit_s)}

    def next_wakeup(self) -> float | None:
        """When the first waiting call could be given its units by time alone (a bucket
        refilled, a pause over); None when only units given back can free it."""
        if not self.waiting:
            return None
        g = self.waiting[0]
        units = self.units
        for r, n in g.pool:
            if units.free[r] + EPSILON < n:
                return None
        at = None
        for r, n in g.rate:
            b = units.buckets[r]
            t = b.when(n, b.t)
            at = t if at is None else max(at, t)
        for r, _ in g.pool + g.rate:
            until = units.paused.get(r)
            if until is not None:
                at = until if at is None else max(at, until)
        return at
