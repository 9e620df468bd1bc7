"""One plain task submitted alone takes a shorter path (swarmlab.core.single): the same
ids, states, rows and errors as the batch path, which a Task subclass still takes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, TaskStatus
from swarmlab.core.dispatcher import Dispatcher
from swarmlab.events import Recorder
from swarmlab.scheduling.registry import resolve_policy


@dataclass(eq=False)
class BatchTask(Task):
    """Not a Task exactly: its submission takes the batch path."""


def _run(cls: type, algorithm: str) -> tuple[list, Recorder, list[str]]:
    rec = Recorder()
    d = Dispatcher([Agent("a", capacity=2), Agent("b", speed=2.0), Agent("g", capabilities={"gpu"})],
                   resolve_policy(sl.TaskScheduler(algorithm)), ResourceLimits(max_queue_size=2, task_timeout=9.0), rec)
    ids, errors, now = [], [], 0.0
    plan = [dict(), dict(id="task-1"), dict(), dict(requires={"gpu"}), dict(priority=9), dict(id="x"),
            dict(id="x"), dict(estimate_s=3.0, kind="io"), dict(), dict(), dict(), dict(timeout=2.0)]
    for i, kw in enumerate(plan):
        prio = (None, 4, 11, True)[i % 4] if i > 2 else None
        try:
            ids += d.submit([cls(None, **kw)], now, [prio])
        except (sl.ConfigError, sl.QueueFullError) as e:
            errors.append(f"{type(e).__name__}: {e}")
        now += 0.25
        for st in d.take_starts(now):
            d.started(st, now, "thread")
            if st.id.endswith("3"):
                d.finish(st, st.attempt, now + 0.5, TaskStatus.COMPLETED)
    return errors, rec, ids


@pytest.mark.parametrize("algorithm", ["least_loaded", "round_robin", "work_stealing"])
def test_one_plain_task_alone_is_recorded_as_the_batch_path_records_it(algorithm):
    fast_errors, fast, fast_ids = _run(Task, algorithm)
    batch_errors, batch, batch_ids = _run(BatchTask, algorithm)
    assert fast_ids == batch_ids and "task-1" in fast_ids and "task-2" in fast_ids
    assert fast_errors == batch_errors and any("already used" in e for e in fast_errors)
    assert any("priority must be" in e for e in fast_errors) and any("QueueFullError" in e for e in fast_errors)
    for rows in ("events", "attempts", "task_info"):
        assert getattr(fast, rows) == getattr(batch, rows), rows


def test_the_short_path_declines_what_it_does_not_decide():
    from swarmlab.core.single import submit_one

    d = Dispatcher([Agent("a")], resolve_policy(None), ResourceLimits(), Recorder())
    first = Task(None, id="first")
    assert submit_one(d, first, 0.0, None) == "first"
    for task, prio in [(Task(None, dependencies=["first"]), None), (Task(None, resources={"llm": 1}), None),
                       (BatchTask(None), None), (Task(None, id="first"), None), (Task(None), 11),
                       (Task(None, requires={"gpu"}), None)]:
        n = len(d.recorder.events)
        assert submit_one(d, task, 0.0, prio) is None
        assert len(d.recorder.events) == n and d.intake.next_auto == 0
