"""What a body reported (``swarmlab.report``), as the dispatcher takes it at the end of
an attempt: recorded as report rows, trued up against the rates, and counted against
the run's budgets (:mod:`swarmlab.core.budgets`).

The values come with the attempt's outcome (``Dispatcher.finish(..., reported=...)``):
one report row (:data:`swarmlab.events.REPORT_FIELDS`) per name, the attempt's sum, and
a rate whose ``reported`` name is among them is charged reported minus declared
(:meth:`swarmlab.core.units.Units.charge`). A THREAD attempt abandoned past its timeout
brings its values when its thread really returns: they are taken then, the same way.
A resumed run counts what its killed part spent before it starts (:func:`count_spent`).
"""

from __future__ import annotations

from typing import Any

from ..events import report_row

__all__ = ["count_spent", "take_reported"]


def take_reported(d: Any, st: Any, attempt: int, reported: dict[str, float], now: float) -> None:
    """Record what attempt ``attempt`` of ``st`` reported, on dispatcher ``d`` at ``now``."""
    units = d.units
    if units is not None:  # declared: the task's own units and its calls' (swarmlab.acquire)
        calls = units.calls
        units.charge(reported, st.need, now, calls.spent.pop((st.id, attempt), None) if calls is not None else None)
        if units.budgets is not None:
            count_spent(d, reported, now, st.id)
    rows, tid = d.recorder.reports, st.id
    for name, value in reported.items():
        rows.append(report_row(task_id=tid, attempt=attempt, name=name, value=value))


def count_spent(d: Any, values: dict[str, float], now: float, task_id: str | None = None) -> None:
    """Count ``values`` against the budgets of dispatcher ``d`` (which has some) at
    ``now``: what ``task_id`` reported, or (None) what was spent before the run began
    (a resumed run's journal). The budget this reaches closes the run: nothing new
    starts, waiting tasks end cancelled with the reason, waiting calls are refused."""
    units = d.units
    spent = units.budgets.add(values, now)
    if spent is not None:
        why = f"{spent.budget}: {spent.spent:g} of {spent.limit:g} reported"
        d.recorder.emit(now, "budget_exhausted", task_id, None, why)
        d.cancel_waiting(now, f"the run's budget was spent ({why}) before the task started")
        if units.calls is not None:
            units.calls.close(spent)
