"""resume(): finish a journaled run that was killed, without losing or repeating a task."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .errors import ConfigError
from .events import RESOURCE_FIELDS
from .executor import ParallelExecutor
from .journal import JOURNAL_NAME, read_journal
from .model import Agent, ResourceLimits, Task
from .portal import run
from .records import RunRecord
from .scheduling import TaskScheduler
from .store import RunStore

__all__ = ["resume"]


def _agents(described: list[dict[str, Any]]) -> list[Agent]:
    return [Agent(a["id"], type=a["type"], capabilities=a["capabilities"], capacity=a["capacity"], speed=a["speed"])
            for a in described]


def _rebuild(spec: dict[str, Any]) -> tuple[list[Task], dict[str, Any]]:
    """The run's tasks, and how to run them, from its declarative spec."""
    if spec["kind"] == "suite":
        from .orchestration import BenchmarkConfig, OrchestrationConfig, OrchestrationManager
        from .orchestration.runners import runner_from_spec

        o = dict(spec["orchestration"])
        agents = _agents(o.pop("agents"))
        limits = ResourceLimits(**o.pop("resource_limits"))
        cfg = OrchestrationConfig(**o, resource_limits=limits, agents=agents, runner=runner_from_spec(spec["runner"]),
                                  progress_reporting=False)
        bc = BenchmarkConfig(**spec["benchmark"])
        manager = OrchestrationManager(cfg)
        ex, _ = manager._executor_for(len(spec["objectives"]) * bc.repeats, bc)
        how = {"mode": ex.mode, "limits": ex.limits, "agents": ex.agents, "scheduler": ex.policy, "seed": bc.seed}
        return manager._tasks(spec["objectives"], bc), how
    if spec["kind"] == "workload":
        from . import workloads

        wl = workloads.make(spec["name"], spec["n"], seed=spec["seed"])
        how = {"mode": spec["mode"], "limits": ResourceLimits(**spec["limits"]), "agents": _agents(spec["agents"]),
               "scheduler": TaskScheduler(spec["algorithm"], enable_work_stealing=spec.get("stealing") or None), "seed": spec["run_seed"]}
        return wl.tasks("async" if spec["mode"] == "asyncio" else "sync"), how
    raise ConfigError(f"a run spec of kind {spec['kind']!r} cannot be rebuilt")


async def _run_rest(tasks: list[Task], how: dict[str, Any]) -> RunRecord:
    limits = dataclasses.replace(how["limits"], max_queue_size=max(how["limits"].max_queue_size, len(tasks)))
    async with ParallelExecutor(mode=how["mode"], limits=limits, agents=how["agents"], scheduler=how["scheduler"],
                                seed=how["seed"]) as ex:
        if tasks:
            await ex.submit_batch(tasks)
    return ex.record()


def resume(run_id: str, store: RunStore | None = None) -> RunRecord:
    """Run the tasks of a killed run that did not complete; save and return the whole run.

    The journal says which tasks completed; those are not run again, and tasks waiting
    on them start at once. The record returned (and saved in ``store`` under the same
    run id) holds the journaled records, a ``resumed`` event, then the new ones, times
    continuing after the last journaled one; attempts of a task rerun are numbered on.
    """
    store = store or RunStore()
    folder = store.path / run_id
    j = read_journal(folder / JOURNAL_NAME)
    if j["end"] is not None:
        raise ConfigError(f"run {run_id!r} finished ({j['end']['status']}); there is nothing to resume")
    spec = j["header"]["spec"]
    if spec is None:
        raise ConfigError(
            f"run {run_id!r} cannot be resumed: its tasks were not described declaratively (a CallableRunner "
            "or hand-made tasks); use a SimulatedAgentRunner, a CommandRunner or a workload"
        )
    last: dict[str, tuple] = {}
    for row in j["attempt"]:
        last[row[0]] = row
    completed = {tid for tid, row in last.items() if row[3] == "completed"}
    tasks, how = _rebuild(spec)
    todo = [t for t in tasks if t.id not in completed]
    for t in todo:
        t.dependencies = tuple(d for d in t.dependencies if (d.id if isinstance(d, Task) else d) not in completed)
    new = run(_run_rest(todo, how))
    record = _merge(j, new, len(todo), len(completed))
    store.save(record)
    with open(folder / JOURNAL_NAME, "a", encoding="utf-8") as f:  # so no later resume runs anything twice
        f.write(json.dumps({"type": "end", "status": "resumed"}) + "\n")
    return record


def _merge(j: dict[str, Any], new: RunRecord, n_rerun: int, n_kept: int) -> RunRecord:
    old_events, old_attempts = list(j["event"]), list(j["attempt"])
    t0 = max([e[1] for e in old_events] + [a[11] for a in old_attempts] + [0.0])
    meta = dict(j["header"]["meta"], status="resumed", resumed_tasks=n_rerun, kept_tasks=n_kept)
    events = old_events + [(len(old_events), t0, "resumed", None, None,
                            f"the process ended; {n_kept} completed tasks kept, {n_rerun} run again")]
    for e in new._events:
        events.append((len(events), e[1] + t0) + tuple(e[2:]))
    offset: dict[str, int] = {}
    for a in old_attempts:
        offset[a[0]] = max(offset.get(a[0], 0), a[2])
    attempts = old_attempts + [
        a[:2] + (a[2] + offset.get(a[0], 0),) + a[3:8]
        + tuple(None if x is None else x + t0 for x in a[8:12]) + a[12:]
        for a in new._attempts
    ]
    resources = [(r[0] + t0,) + tuple(r[1:]) for r in new._resources]
    return RunRecord(meta, events, attempts, resources, RESOURCE_FIELDS, list(j["task"]))
