"""One plain task submitted alone: the path of ``await submit_task(Task(fn))``, the way
the original's users submit, one task per call.

:meth:`Dispatcher.submit` accepts a batch atomically: it checks the whole batch
(:meth:`Intake.check`), resolves resources and dependencies, predicts estimates and
orders by upward rank, then admits each task. For one task that has none of these the
checks reduce to three (its id is new, some agent holds what it requires, its priority
is valid) and the batch's lists, sets and ``Batch`` are pure cost: about half of what
the dispatcher spends on such a task. :func:`submit_one` makes exactly the decisions,
records and states the batch path makes for it, or declines (None) and changes nothing,
so that the batch path decides, and raises what it raises.
"""

from __future__ import annotations

from typing import Any

from ..events import EventCounts, task_info_row
from ..model import Task
from .submission import AUTO_PREFIX
from .taskstate import TaskState

__all__ = ["submit_one"]

_NO_IDS = ()


def submit_one(d: Any, task: Task, now: float, priority: int | None) -> str | None:
    """Submit ``task`` alone to the dispatcher ``d``; its id, or None (nothing changed)
    when it is not plain: not a Task, with dependencies or resources, a duplicate or
    invalid id or priority, no agent holding what it requires, a full queue, or a run
    with units, an estimator, forgotten tasks or a policy that orders starts."""
    intake = d.intake
    if (type(task) is not Task or task.dependencies or task.resources or d.units is not None
            or d.estimates is not None or intake.ended is not None or d.queues.ordered
            or d.n_waiting + 1 > d.max_queue):
        return None
    if priority is not None and (type(priority) is not int or not 1 <= priority <= 10):
        return None
    group = d.index.groups.get(task.requires)
    if group is None:  # (no group yet: the batch path makes it, or says no agent can run it)
        return None
    known = d.tasks
    tid = task.id
    if tid is None:
        tid = f"{AUTO_PREFIX}{intake.next_auto}"
        if tid in known:  # a given id took it: the batch path finds the next free one
            return None
        intake.next_auto += 1
        task.id = tid
    elif tid in known:
        return None
    # Checked: accepted. What follows is Dispatcher.submit's loop for a plain task.
    if d.first_submit_s is None:
        d.first_submit_s = now
    d.n_waiting += 1
    d.n_unfinished += 1
    if task.name is None:
        task.name = tid
    timeout = task.timeout
    st = TaskState(task, tid, priority or task.priority, now, d.limits.task_timeout if timeout is None else timeout)
    st.group = group
    known[tid] = st
    rec = d.recorder
    requires = task.requires
    rec.task_info.append(task_info_row(
        task_id=tid, kind=task.kind, estimate_s=task.estimate_s,
        requires=tuple(sorted(requires)) if requires else _NO_IDS, dependencies=_NO_IDS,
        estimate_source="given" if task.estimate_s is not None else "default"))
    rec.emit(now, "submitted", tid)
    d.queues.place(st, now)
    ev = rec.events
    if isinstance(ev, EventCounts) and len(ev) > EventCounts.FOLD_AT:  # counted events: keep them bounded
        ev.fold()
    if d.closed is not None:  # (a budget spent) nothing starts any more: it ends at once
        d.cancel_waiting(now, d.closed)
    return tid
