"""What a body reported (``swarmlab.report``), as the dispatcher takes it at the end of
an attempt: recorded as report rows, trued up against the rates, and counted against
the run's budgets (:mod:`swarmlab.core.budgets`).

The values come with the attempt's outcome (``Dispatcher.finish(..., reported=...)``):
one report row (:data:`swarmlab.events.REPORT_FIELDS`) per name, the attempt's sum, and
a rate whose ``reported`` name is among them is charged reported minus declared
(:meth:`swarmlab.core.units.Units.charge`). A THREAD attempt abandoned past its timeout
brings its values when its thread really returns: they are taken then, the same way.
"""

from __future__ import annotations

from typing import Any

from ..events import report_row

__all__ = ["take_reported"]


def take_reported(d: Any, st: Any, attempt: int, reported: dict[str, float], now: float) -> None:
    """Record what attempt ``attempt`` of ``st`` reported, on dispatcher ``d`` at ``now``."""
    units = d.units
    if units is not None:  # declared: the task's own units and its calls' (swarmlab.acquire)
        calls = units.calls
        units.charge(reported, st.need, now, calls.spent.pop((st.id, attempt), None) if calls is not None else None)
        if units.budgets is not None:
            spent = units.budgets.add(reported, now)
            if spent is not None:  # the run is closed: nothing new starts, waiting calls are refused
                why = f"{spent.budget}: {spent.spent:g} of {spent.limit:g} reported"
                d.recorder.emit(now, "budget_exhausted", st.id, None, why)
                d.cancel_waiting(now, f"the run's budget was spent ({why}) before the task started")
                if calls is not None:
                    calls.close(spent)
    rows, tid = d.recorder.reports, st.id
    for name, value in reported.items():
        rows.append(report_row(task_id=tid, attempt=attempt, name=name, value=value))
