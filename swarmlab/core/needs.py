"""What a task needs of a run's resources, resolved once per kind of task.

A task's ``resources`` (``{"llm": 1, "rpm": 1}``) are resolved at submit, by name, to an
agent's own resource, a pool or a rate (:meth:`swarmlab.core.units.Units.resolve`); the
tasks of one kind share one :class:`Need`. Starting a task asks its need at every start,
so the need also keeps the shape the common case takes (at most one pool and one rate,
no agent units) as plain fields: :meth:`~swarmlab.core.units.Units.admit` reads them
without a loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model import GPU, Task
from .bucket import EPSILON

if TYPE_CHECKING:
    from .units import Units

__all__ = ["Need", "resolve_all"]


class Need:
    """What one task needs, resolved: ``agent``, ``pool`` and ``rate`` are tuples of
    (name, units); ``gpu`` its agent's gpu units (0.0 for none).

    ``simple``: no agent units, at most one pool and at most one rate. ``pool_name`` and
    ``pool_n`` name the one pool and its units (None and 0.0: none, or several);
    ``rate_name``, ``rate_n`` the one rate, and ``rate_slack`` the units its bucket may
    lack and still give (:data:`~swarmlab.core.bucket.EPSILON` times the units, at least 1).
    """

    __slots__ = ("agent", "pool", "rate", "by_name", "gpu", "simple", "pool_name", "pool_n",
                 "rate_name", "rate_n", "rate_slack")

    def __init__(self, agent: tuple, pool: tuple, rate: tuple) -> None:
        self.agent, self.pool, self.rate = agent, pool, rate
        self.by_name = dict(agent + pool + rate)
        self.gpu = dict(agent).get(GPU, 0.0)
        self.simple = not agent and len(pool) <= 1 and len(rate) <= 1
        self.pool_name, self.pool_n = pool[0] if len(pool) == 1 else (None, 0.0)
        self.rate_name, self.rate_n = rate[0] if len(rate) == 1 else (None, 0.0)
        n = self.rate_n
        self.rate_slack = EPSILON * (n if n > 1.0 else 1.0)  # as TokenBucket.take and Units.admit_held

    def of(self, name: str) -> float:
        return self.by_name.get(name, 0.0)


def resolve_all(units: Units, tasks: Sequence[Task], ids: Sequence[str], index: Any) -> list:
    """Each task's :class:`Need` (None without resources); raises before anything changes."""
    return [units.resolve(t, tid, index) if t.resources else None for t, tid in zip(tasks, ids)]
