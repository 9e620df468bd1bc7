"""replay() and whatif(): a recorded run, run again on virtual time under other choices.

The tasks, their priorities, capabilities and dependencies come from the record; each
task lasts what it measured, normalised by the speed of the agent that ran it, so a
faster or slower agent in the replay takes proportionally less or more. A task whose
recorded attempt made calls under the run's pools and rates (``record.meta["calls"]``:
``swarmlab.acquire`` and ``swarmlab.call`` with units) makes them again, each holding its
units as long as it did, so a replay under other limits waits for them as those limits say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..model import Agent, ResourceLimits, Task
from ..scheduling import STEAL_MAX_PRIORITY, SchedulingAlgorithm, TaskScheduler
from ..store.records import RunRecord
from .calls import Call
from .simulation import simulate

if TYPE_CHECKING:  # pandas is imported when a what-if table is built
    import pandas as pd

__all__ = ["replay", "whatif", "replay_tasks", "record_agents"]


def record_agents(record: RunRecord) -> list[Agent]:
    """The agent pool a record ran on (from its meta)."""
    agents = record.meta.get("agents")
    if not agents:
        raise ConfigError(f"run {record.run_id!r} does not say which agents it had; give agents=")
    return [Agent(a["id"], type=a["type"], capabilities=a["capabilities"], capacity=a["capacity"], speed=a["speed"],
                  resources=a.get("resources"), devices=a.get("devices"))
            for a in agents]


def replay_tasks(record: RunRecord) -> list[Task]:
    """One simulated task per task of the record, in the order they were submitted.

    Duration: the last completed attempt's ``run_s`` times the speed of its agent (work
    at speed 1); for a task that never completed, its last started attempt's, and for
    one that never started, its ``estimate_s`` (or the median measured duration). A
    virtual-time run whose durations were its estimates replays from the estimates.
    """
    t = record.tasks
    speed = {a["id"]: a["speed"] for a in record.meta.get("agents") or []}
    started = t.dropna(subset=["started_s"])
    work = started.assign(w=started["run_s"] * started["agent_id"].astype(object).map(speed).fillna(1.0))
    done = work[work["status"] == "completed"].drop_duplicates("task_id", keep="last").set_index("task_id")["w"]
    any_run = work.drop_duplicates("task_id", keep="last").set_index("task_id")["w"]
    fallback = float(done.median()) if len(done) else 1.0
    # A virtual-time run that took its durations from the estimates is reproduced from
    # them exactly (measured times carry float round-off that could reorder ties).
    exact = record.meta.get("clock") == "virtual" and record.meta.get("durations") == "estimate"
    ev = record.events
    listed = "task_id" in ev.columns  # a run that counted events keeps no submission order
    order = {tid: i for i, tid in enumerate(ev.loc[ev["event"] == "submitted", "task_id"])} if listed else {}
    final = record.final()
    final = final.iloc[sorted(range(len(final)), key=lambda i: order.get(final["task_id"].iloc[i], i))]
    needs = (record.meta.get("resources") or {}).get("task_resources") or {}
    made = record.meta.get("calls") or {}
    pick = {}  # task id -> the attempt whose calls are made again: the one whose duration is taken
    if made:
        pick = {r.task_id: r for r in started.drop_duplicates("task_id", keep="last").itertuples()}
        pick.update({r.task_id: r for r in started[started["status"] == "completed"].drop_duplicates(
            "task_id", keep="last").itertuples()})
    tasks = []
    for _, row in final.iterrows():
        tid = row["task_id"]
        if exact and row["estimate_s"] == row["estimate_s"]:
            dur = float(row["estimate_s"])
        elif tid in done.index:
            dur = float(done[tid])
        elif tid in any_run.index:
            dur = float(any_run[tid])
        else:
            dur = float(row["estimate_s"]) if row["estimate_s"] == row["estimate_s"] else fallback
        calls = _calls(made.get(tid), pick.get(tid), dur) if made else ()
        # a task making its calls again is weighed by what the recorded run's scheduler knew of
        # it (its estimate), not by a duration that holds the recorded limits' waits
        est = float(row["estimate_s"]) if calls and row["estimate_s"] == row["estimate_s"] else dur
        tasks.append(Task(None, id=tid, name=row["name"], estimate_s=max(est, 0.0), priority=int(row["priority"]),
                          requires=list(row["requires"]), dependencies=list(row["dependencies"]),
                          kind=row["kind"] if row["kind"] == row["kind"] else None, resources=needs.get(tid),
                          calls=calls))
    return tasks


def _calls(made: list | None, row: Any, dur: float) -> tuple[Call, ...]:
    """The calls a recorded attempt (``row`` of the tasks frame) made (``meta["calls"]``:
    attempt, granted at, held s, units), in the order they were granted, after the
    attempt's time outside them (its duration less the calls' holds and its
    ``limit_wait_s``, as one call that asks for nothing: where in the body it fell is not
    recorded)."""
    if not made or row is None:
        return ()
    mine = sorted((c for c in made if c[0] == int(row.attempt)), key=lambda c: c[1])
    if not mine:
        return ()
    calls = tuple(Call(max(float(held), 0.0), units) for _, _, held, units in mine)
    waited = getattr(row, "limit_wait_s", 0.0)
    rest = dur - sum(c.duration_s for c in calls) - (waited if waited == waited else 0.0)
    return ((Call(rest),) if rest > 0 else ()) + calls


def _own_scheduler(record: RunRecord) -> TaskScheduler:
    m = record.meta
    return TaskScheduler(m.get("algorithm", "least_loaded"), enable_work_stealing=bool(m.get("work_stealing")),
                         steal_max_priority=m.get("steal_max_priority") or STEAL_MAX_PRIORITY, aging_s=m.get("aging_s"))


def replay(record: RunRecord, scheduler: object = None, agents: Sequence[Agent] | None = None,
           limits: ResourceLimits | None = None, seed: int = 0) -> RunRecord:
    """``record``'s tasks on virtual time: under its own algorithm, pool and limits unless
    told otherwise. The result's meta names the run replayed (``replay_of``)."""
    if not isinstance(record, RunRecord):
        raise ConfigError(f"replay takes a RunRecord; got {record!r}")
    pool = list(agents) if agents is not None else record_agents(record)
    if limits is None:
        limits = ResourceLimits(**record.meta["limits"]) if record.meta.get("limits") else ResourceLimits()
    rec = simulate(replay_tasks(record), pool, scheduler=scheduler if scheduler is not None else _own_scheduler(record),
                   limits=limits, seed=seed)
    rec.meta["replay_of"] = record.run_id
    return rec


def whatif(record: RunRecord, algorithms: Sequence[str | SchedulingAlgorithm] | None = None,
           agents: Sequence[Agent] | None = None, seed: int = 0, limits: ResourceLimits | None = None) -> pd.DataFrame:
    """The comparison summary of ``record`` replayed under each algorithm (each as
    itself: only work_stealing steals), next to the record itself (``scenario`` = "recorded") and its replay
    under its own settings ("replayed"). ``limits``: the what-ifs run under these instead
    of the record's (a provider's higher tier: the recorded calls are made again under them)."""
    from ..analysis.figures import summary

    algs = [getattr(a, "value", a) for a in (algorithms or list(SchedulingAlgorithm))]
    runs = [record, replay(record, agents=agents, seed=seed)]
    runs += [replay(record, TaskScheduler(a), agents=agents, limits=limits, seed=seed) for a in algs]
    table = summary(runs)
    table.insert(0, "scenario", ["recorded", "replayed"] + [f"what if {a}" for a in algs])
    return table
