"""simulate()'s records pinned for fixed seeds: a change made for speed cannot change a
decision (who ran where, when, in what order, what was retried, stolen or failed).

The digests below were computed by ``_digests()`` with the code of commit ac3be36
(before the per-task speed-ups of issue 29), by running this module's scenarios and
printing ``_digests()``; each is the SHA-256 of the run's events and tasks
frames (run id dropped) as CSV text.
"""

from __future__ import annotations

import hashlib

import pytest

import swarmlab as sl
from swarmlab import Agent, ResourceLimits, Task, simulate


def _tasks(n: int, *, deps: bool = True) -> list[Task]:
    return [Task(None, id=f"t{i}", estimate_s=0.5 + (i * 7 % 11) / 4, priority=1 + i * 3 % 10,
                 max_retries=2, retry_backoff_s=0.3, requires={"gpu"} if i % 13 == 0 else (),
                 dependencies=[f"t{i - 1 - i % 5}"] if deps and i >= 6 and i % 3 else [])
            for i in range(n)]


def _agents() -> list[Agent]:
    return [Agent("a", capacity=2), Agent("b", speed=2.0), Agent("c", speed=0.5, capacity=3),
            Agent("g", capabilities={"gpu"}, capacity=2)]


def _flaky(task: Task, attempt: int) -> BaseException | None:
    i = int(task.id[1:])
    if i % 7 == 0 and attempt <= 2:
        return OSError(f"flaky {i} attempt {attempt}")
    if i % 17 == 5:
        return ValueError("always")
    return None


def _scenarios() -> dict[str, sl.RunRecord]:
    return {
        "least_loaded": simulate(_tasks(300), _agents(), seed=5, failures=_flaky),
        "work_stealing": simulate(_tasks(300), _agents(), scheduler=sl.TaskScheduler("work_stealing"), seed=7,
                                  failures=_flaky, leaves=[(20.0, "c")], joins=[(10.0, Agent("d", speed=1.5))]),
        "round_robin_capped": simulate(_tasks(300), _agents(), scheduler=sl.TaskScheduler("round_robin"), seed=3,
                                       failures=_flaky, limits=ResourceLimits(max_concurrent_tasks=4,
                                                                              task_timeout=2.5)),
        "no_dependencies": simulate(_tasks(400, deps=False), _agents(), seed=1, failures=_flaky),
        "counted_events": simulate(_tasks(300), _agents(), seed=6, failures=_flaky, count_events_s=2.0),
        "heft": simulate(_tasks(200), _agents(), scheduler="heft", seed=2, failures=_flaky),
        "pool_and_rate": simulate(
            [Task(None, id=f"r{i}", estimate_s=1.0 + i % 3, resources={"llm": 1, "rpm": 1},
                  dependencies=[f"r{i - 2}"] if i >= 2 and i % 4 == 0 else []) for i in range(120)],
            [Agent(f"p{i}") for i in range(6)], seed=4,
            limits=ResourceLimits(task_timeout=None, pools={"llm": 3}, rates={"rpm": sl.RateLimit(2, per_s=1.0)})),
    }


def _digests() -> dict[str, str]:
    out = {}
    for name, rec in _scenarios().items():
        h = hashlib.sha256()
        for frame in (rec.events, rec.tasks):
            h.update(frame.drop(columns="run_id", errors="ignore").to_csv(index=False).encode())
        out[name] = h.hexdigest()
    return out


#: Computed with the code of commit ac3be36 (see the module's docstring).
PINNED: dict[str, str] = {
    "counted_events": "3d574f6386c350865044e460050624c3f899ebf46560f5cfd67cf9618bc4f091",
    "heft": "4bf18f38a894d8beb178bdba76692cb60c32343fff1615db3389fb93521c72eb",
    "least_loaded": "02411ad72a8dca142177aa5916fe391f07a0de3c09399641256a6637b1959a9a",
    "no_dependencies": "d828985efbe7e8ad69eae3c73f63e52f09f9b4c4ec9edcf4e3338481fe13b240",
    "pool_and_rate": "e7151e1e62249ab59406cd94012b821ddce25de484102f6e53d89f7cf494ecd2",
    "round_robin_capped": "eb43ccda8b03486c6b4b147f9f98ae9df40a1ba4e622055db6e7bdb2f5ed7fb9",
    "work_stealing": "58d1d99827e018174a9da923436d92ca319f8d7b84128b05e32441b51102cd6e",
}


def test_simulate_records_are_those_of_the_code_before_the_speed_ups():
    assert _digests() == PINNED
