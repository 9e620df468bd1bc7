"""Budgets of a run: the most its bodies may report of a value (``cost_usd``) in all.

``ResourceLimits(budgets={"cost_usd": 5.0})``. What bodies report reaches the
dispatcher with each attempt's outcome (:mod:`swarmlab.core.reported`), where it is
added up here. Once a total reaches its budget the run is closed, as ``stop`` closes
it: nothing new starts, waiting tasks end ``cancelled`` with the reason, a retry or a
task submitted later ends so too, and calls waiting for units are refused with
:class:`~swarmlab.errors.BudgetExhausted`. Attempts already running finish; what they
report after the budget was reached still counts, so the record says what was really
spent, not only what was counted when the run stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BudgetExhausted

__all__ = ["Budgets"]


class Budgets:
    """The totals of the budgeted values, and the budget that stopped the run (if any)."""

    def __init__(self, budgets: Mapping[str, float]) -> None:
        self.limits = dict(budgets)
        self.spent = dict.fromkeys(self.limits, 0.0)
        self.exhausted: BudgetExhausted | None = None  # the first budget reached
        self.stopped_s: float | None = None
        self.spent_at_stop: dict[str, float] | None = None

    def add(self, reported: Mapping[str, float], now: float) -> BudgetExhausted | None:
        """Count what one attempt reported; the budget it has just exhausted, if it did."""
        spent, limits = self.spent, self.limits
        for name, value in reported.items():
            if name in spent:
                spent[name] += value
        if self.exhausted is not None:
            return None
        for name, limit in limits.items():
            if spent[name] >= limit:
                self.exhausted = BudgetExhausted(name, limit, spent[name])
                self.stopped_s = now
                self.spent_at_stop = dict(spent)
                return self.exhausted
        return None

    def summary(self) -> dict[str, Any]:
        """For ``record.meta["resources"]["budgets"]``."""
        e = self.exhausted
        return {"limits": dict(self.limits), "spent": dict(self.spent),
                "stopped_by": e.budget if e is not None else None, "stopped_s": self.stopped_s,
                "spent_at_stop": self.spent_at_stop}
