"""The duration estimator's part in a run: it predicts the ``estimate_s`` of submitted
tasks that have none and, when the run learns, observes each completed attempt and
predicts a waiting task again when it becomes ready, if it learned something since.

The dispatcher calls it at those three moments; it never decides anything else.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..events import TASK_INFO, task_info_row
from ..model import Task
from ..scheduling.base import MIN_WEIGHT_S
from .taskstate import TaskState

__all__ = ["Estimates", "checked_estimate"]


class Estimates:
    """Predictions of one run's durations (see the module docstring).

    Parameters
    ----------
    estimator : DurationEstimator
        ``predict(task)`` (or ``predict_many(tasks)``), and with ``learn``
        ``observe(task, agent, run_s)`` and ``version`` (what it learned, counted).
    learn : bool
        Observe completed attempts and predict again at ready.
    task_info : list
        The recorder's task rows: a prediction made again appends the task's row anew
        (rows are only appended: a journal or a spill may have written the first).
    """

    __slots__ = ("estimator", "observe", "_task_info", "_tracked")

    def __init__(self, estimator: Any, learn: bool, task_info: list[tuple]) -> None:
        self.estimator = estimator
        #: ``observe(task, agent, run_s)`` of the estimator when the run learns, else None.
        self.observe = estimator.observe if learn else None
        self._task_info = task_info
        # learning: unfinished task id -> its row and the estimator's version when predicted
        self._tracked: dict[str, _Tracked] = {}

    def predict(self, tasks: Sequence[Task], ids: list[str]) -> list[float | None]:
        """The estimator's prediction for each task that has no estimate_s (None elsewhere)."""
        todo = [i for i, t in enumerate(tasks) if t.estimate_s is None]
        out: list[float | None] = [None] * len(tasks)
        if not todo:
            return out
        est = self.estimator
        named = []
        for i in todo:  # predicted by id (for its facts) and name, as it will be known
            t = tasks[i]
            if t.id is None or t.name is None:
                t = copy.copy(t)
                t.id, t.name = ids[i], t.name or ids[i]
            named.append(t)
        many = getattr(est, "predict_many", None)
        got = many(named) if many is not None else [est.predict(t) for t in named]
        for i, p in zip(todo, got):
            out[i] = checked_estimate(p, est, ids[i])
        return out

    def track(self, tid: str, row: tuple) -> None:
        """(learning) Task ``tid``, whose estimate was not given, was accepted with ``row``."""
        self._tracked[tid] = _Tracked(row, self.estimator.version)

    def ready(self, st: TaskState) -> None:
        """(learning) ``st`` becomes ready: if its estimate was not given and the
        estimator learned since it was predicted, predict it again (it is neither queued
        nor running)."""
        tracked = self._tracked.get(st.id)
        if tracked is None:
            return
        est = self.estimator
        if est.version == tracked.version:
            return
        tracked.version = est.version
        p = checked_estimate(est.predict(st.task), est, st.id)
        if p is None:
            return
        row = tracked.row
        if row[TASK_INFO.estimate_source] == "default":
            st.task = copy.copy(st.task)  # until now the caller's own
        st.task.estimate_s = p
        st.weight = p if p > MIN_WEIGHT_S else MIN_WEIGHT_S
        # the task's last row is the one that holds (records.RunRecord.tasks)
        tracked.row = task_info_row(
            task_id=row[TASK_INFO.task_id], kind=row[TASK_INFO.kind], estimate_s=p,
            requires=row[TASK_INFO.requires], dependencies=row[TASK_INFO.dependencies],
            estimate_source="learned")
        self._task_info.append(tracked.row)

    def ended(self, tid: str) -> None:
        """(learning) ``tid`` reached a terminal state."""
        self._tracked.pop(tid, None)


class _Tracked:
    """A learning run's note on a task whose estimate was not given."""

    __slots__ = ("row", "version")

    def __init__(self, row: tuple, version: Any) -> None:
        self.row = row  # its last task_info row
        self.version = version  # the estimator's version when it was predicted


def checked_estimate(p: Any, estimator: Any, tid: str) -> float | None:
    """A prediction as a number of seconds >= 0, or None (the estimator has none)."""
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < math.inf:
        raise ConfigError(f"estimator {estimator!r} predicted {p!r} for task {tid!r}; a prediction must be "
                          "a number of seconds >= 0 (finite) or None")
    return float(p)
