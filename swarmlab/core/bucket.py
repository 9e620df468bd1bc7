"""A token bucket on the clock it is given.

A rate limit (:class:`~swarmlab.model.RateLimit`: requests or tokens per minute) is a
bucket that holds at most ``capacity`` units, starts full and refills ``capacity`` units
every ``per_s`` seconds, continuously: the model the model providers document for their
limits. The dispatcher owns one per rate and asks it with the ``now`` its driver passes,
so the very same rules hold in real time and in virtual time. That is why this is ours:
the limiter libraries read the wall clock themselves, which a simulation cannot lend them.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket", "EPSILON"]

#: Units a bucket may lack and still give: the time :meth:`TokenBucket.when` names is
#: computed in floating point, and at that instant the refill must be enough.
EPSILON = 1e-9


class TokenBucket:
    """At most ``capacity`` units, refilled at ``capacity / per_s`` units a second.

    ``level`` may go below zero: spending reported after the fact beyond what was taken
    (:meth:`charge`) is a debt that the refill pays off before anything more is given.
    """

    __slots__ = ("capacity", "per_s", "rate", "level", "t")

    def __init__(self, capacity: float, per_s: float, now: float, level: float | None = None) -> None:
        self.capacity = float(capacity)
        self.per_s = float(per_s)
        self.rate = self.capacity / self.per_s  # units per second
        self.level = self.capacity if level is None else min(float(level), self.capacity)
        self.t = now

    def _refill(self, now: float) -> None:
        if now > self.t:
            self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
            self.t = now

    def available(self, now: float) -> float:
        """Units that could be taken at ``now`` (below zero while in debt)."""
        t = self.t
        if now > t:  # _refill, inlined: asked once a start of every task that needs the rate
            level = self.level + (now - t) * self.rate
            cap = self.capacity
            self.level = level if level < cap else cap
            self.t = now
        return self.level

    def take(self, units: float, now: float) -> bool:
        """Take ``units`` if the bucket holds them at ``now``; False (nothing taken) if not."""
        self._refill(now)
        if self.level + EPSILON * max(1.0, units) >= units:
            self.level -= units
            return True
        return False

    def when(self, units: float, now: float) -> float:
        """The earliest time >= ``now`` at which ``units`` can be taken (infinity when the
        bucket can never hold them)."""
        if units > self.capacity:
            return math.inf
        self._refill(now)
        short = units - self.level
        return now if short <= EPSILON * max(1.0, units) else self.t + short / self.rate

    def charge(self, units: float, now: float) -> None:
        """Spend ``units`` more than were taken (or give back, when negative: spent less
        than declared), keeping at most ``capacity``: a body's report trues the bucket up."""
        self._refill(now)
        self.level = min(self.capacity, self.level - units)

    def __repr__(self) -> str:
        return f"TokenBucket({self.level:.6g}/{self.capacity:g} at t={self.t:.6g}, +{self.rate:.6g}/s)"
