"""resume(): finish a journaled run that was killed, without losing or repeating a task."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..errors import ConfigError, JournalError
from ..events import ATTEMPT, EVENT, EVENT_FIELDS, REPORT, RESOURCE, RESOURCE_FIELDS, TASK_INFO, row_builder
from ..model import TaskStatus
from ..model import Agent, ResourceLimits, Task
from ..core.bucket import TokenBucket
from ..portal import run
from ..realtime.executor import ParallelExecutor
from ..scheduling import TaskScheduler
from ..store.journal import JOURNAL_NAME, encode_line, read_journal
from ..store.records import RunRecord
from ..store.runs import RunStore

__all__ = ["resume", "spent_recently"]

log = logging.getLogger("swarmlab")

#: Task ids a damage report names before it says "and N more".
REPORT_IDS = 10
#: The times of an attempt row, shifted when a resumed run's rows follow the journaled ones.
_ATTEMPT_TIMES = (ATTEMPT.submitted_s, ATTEMPT.ready_s, ATTEMPT.started_s, ATTEMPT.finished_s)
# Events are written by Recorder.emit; the merged record is written here, without one.
_event_row = row_builder("event_row", EVENT_FIELDS)


def _agents(described: list[dict[str, Any]]) -> list[Agent]:
    return [Agent(a["id"], type=a["type"], capabilities=a["capabilities"], capacity=a["capacity"], speed=a["speed"],
                  resources=a.get("resources"), devices=a.get("devices"))
            for a in described]


def spent_recently(j: dict[str, Any], tasks: list[Task], limits: ResourceLimits) -> dict[str, float]:
    """Per rate of ``limits``: the units a token bucket refilled since would still lack
    at the journal's last time, from the attempts the journal says started (a
    ``started`` event; an attempt killed while it ran spent its units too) and the
    tasks' declared resources. The bucket is replayed from full at the run's start:
    a unit spent ``per_s`` seconds or more before the end has been refilled. The
    resumed run restarts the clock at that last time, as if resumed at once (the
    cautious reading: the provider's window ends no earlier)."""
    if not limits.rates:
        return {}
    need = {t.id: t.resources for t in tasks if t.resources}
    starts = sorted((e[EVENT.t_s], e[EVENT.task_id]) for e in j["event"]
                    if e[EVENT.event] == "started" and e[EVENT.task_id] in need)
    end = _last_time(j)
    out = {}
    for name, r in limits.rates.items():
        bucket = TokenBucket(r.limit, r.per_s, 0.0)
        for t, tid in starts:
            n = need[tid].get(name)
            if n:
                bucket.charge(n, t)
        lack = bucket.capacity - bucket.available(end)
        if lack > 0:
            out[name] = lack
    return out


def _last_time(j: dict[str, Any]) -> float:
    """The journal's last time (the run's clock): its last event or attempt end."""
    finished = ATTEMPT.finished_s
    return max([e[EVENT.t_s] for e in j["event"]] + [a[finished] for a in j["attempt"] if a[finished] is not None]
               + [0.0])


def _rebuild(spec: dict[str, Any]) -> tuple[list[Task], dict[str, Any]]:
    """The run's tasks, and how to run them, from its declarative spec."""
    if spec["kind"] == "suite":
        from ..orchestration import BenchmarkConfig, OrchestrationConfig, OrchestrationManager
        from ..orchestration.runners import runner_from_spec

        o = dict(spec["orchestration"])
        agents = _agents(o.pop("agents"))
        limits = ResourceLimits(**o.pop("resource_limits"))
        cfg = OrchestrationConfig(**o, resource_limits=limits, agents=agents, runner=runner_from_spec(spec["runner"]),
                                  progress_reporting=False)
        bc = BenchmarkConfig(**spec["benchmark"])
        manager = OrchestrationManager(cfg)
        tasks = manager.tasks_for(spec["objectives"], bc)
        ex, _ = manager.executor_for(tasks, bc)
        how = {"mode": ex.mode, "limits": ex.limits, "agents": ex.agents, "scheduler": ex.policy, "seed": bc.seed}
        return tasks, how
    if spec["kind"] == "workload":
        from ..workloads import recipes as workloads

        wl = workloads.needing(workloads.make(spec["name"], spec["n"], seed=spec["seed"], **(spec.get("options") or {})),
                               spec.get("task_resources") or {})  # what compare --task-resources gave
        how = {"mode": spec["mode"], "limits": ResourceLimits(**spec["limits"]), "agents": _agents(spec["agents"]),
               "scheduler": TaskScheduler(spec["algorithm"], enable_work_stealing=spec.get("stealing") or None), "seed": spec["run_seed"]}
        return wl.tasks("async" if spec["mode"] == "asyncio" else "sync"), how
    raise ConfigError(f"a run spec of kind {spec['kind']!r} cannot be rebuilt")


async def _run_rest(tasks: list[Task], how: dict[str, Any], spent: dict[str, float]) -> RunRecord:
    limits = dataclasses.replace(how["limits"], max_queue_size=max(how["limits"].max_queue_size, len(tasks)))
    async with ParallelExecutor(mode=how["mode"], limits=limits, agents=how["agents"], scheduler=how["scheduler"],
                                seed=how["seed"]) as ex:
        for name, units in spent.items():  # the buckets start where the killed run left them
            ex.spend(name, units)
        if tasks:
            await ex.submit_batch(tasks)
    return ex.record()


def resume(run_id: str, store: RunStore | None = None) -> RunRecord:
    """Run the tasks of a killed run that did not complete; save and return the whole run.

    The journal says which tasks completed; those are not run again, and tasks waiting
    on them start at once. The record returned (and saved in ``store`` under the same
    run id) holds the journaled records, a ``resumed`` event, then the new ones, times
    continuing after the last journaled one; attempts of a task rerun are numbered on.

    Damaged journal lines (torn, NUL-filled, not UTF-8 or JSON, failing their checksum,
    wrong field types) are skipped and every intact line before and after them kept; one
    warning line (logged, and in ``meta["journal_damage"]``) says how many were skipped
    and which tasks run again.

    Raises
    ------
    ConfigError
        No journal, the run finished, or its tasks were not described declaratively.
    JournalError
        The journal cannot be read (empty, no intact header, not a journal) or its
        description of the tasks cannot be rebuilt.
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
        last[row[ATTEMPT.task_id]] = row
    try:
        tasks, how = _rebuild(spec)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise JournalError(
            f"run {run_id!r} cannot be resumed: the spec in its journal does not rebuild its tasks "
            f"({type(e).__name__}: {e}); the journal is damaged or from another swarmlab version"
        ) from None
    ids = {t.id for t in tasks}
    completed = {tid for tid, row in last.items() if row[ATTEMPT.status] == TaskStatus.COMPLETED.value} & ids
    todo = [t for t in tasks if t.id not in completed]
    for t in todo:
        t.dependencies = tuple(d for d in t.dependencies if (d.id if isinstance(d, Task) else d) not in completed)
    damage = _damage_report(run_id, j, todo)
    if damage:
        log.warning("swarmlab: %s", damage)
    spent = spent_recently(j, tasks, how["limits"])
    new = run(_run_rest(todo, how, spent))
    record = _merge(j, new, len(todo), len(completed))
    if spent:
        record.meta["rates_spent_before_resume"] = spent
    if damage:
        record.meta["journal_damage"] = damage
    store.save(record)
    with open(folder / JOURNAL_NAME, "a", encoding="utf-8") as f:  # so no later resume runs anything twice
        f.write(encode_line({"type": "end", "status": "resumed"}))
    return record


def _damage_report(run_id: str, j: dict[str, Any], todo: list[Task]) -> str | None:
    """One line: the damaged lines skipped and the tasks run again (those that had
    started before the kill first: their work is the work done twice), or None."""
    bad = j["damaged"]
    if not bad:
        return None
    started = {e[EVENT.task_id] for e in j["event"] if e[EVENT.event] == "started"}
    ids = [t.id for t in todo if t.id in started] + [t.id for t in todo if t.id not in started]
    named = ", ".join(map(str, ids[:REPORT_IDS])) + (f" and {len(ids) - REPORT_IDS} more" if len(ids) > REPORT_IDS else "")
    lines = ", ".join(map(str, bad[:REPORT_IDS])) + (", ..." if len(bad) > REPORT_IDS else "")
    return (f"the journal of run {run_id} had {len(bad)} damaged line{'s' if len(bad) > 1 else ''} "
            f"(line{'s' if len(bad) > 1 else ''} {lines}), skipped; every intact line is kept; "
            f"{len(ids)} tasks run again" + (f": {named}" if ids else ""))


def _merge(j: dict[str, Any], new: RunRecord, n_rerun: int, n_kept: int) -> RunRecord:
    old_events, old_attempts = list(j["event"]), list(j["attempt"])
    t0 = _last_time(j)
    meta = dict(j["header"]["meta"], status="resumed", resumed_tasks=n_rerun, kept_tasks=n_kept)
    seq = max((e[EVENT.seq] for e in old_events), default=-1) + 1  # a skipped line leaves a gap: no seq twice
    skipped = f"; {len(j['damaged'])} damaged journal lines skipped" if j["damaged"] else ""
    events = old_events + [_event_row(
        seq=seq, t_s=t0, event="resumed", task_id=None, agent_id=None,
        detail=f"the process ended; {n_kept} completed tasks kept, {n_rerun} run again{skipped}")]
    for e in new.rows("events"):  # after the journaled ones: seq numbered on, times shifted
        seq += 1
        row = list(e)
        row[EVENT.seq], row[EVENT.t_s] = seq, row[EVENT.t_s] + t0
        events.append(tuple(row))
    offset: dict[str, int] = {}
    for a in old_attempts:
        tid = a[ATTEMPT.task_id]
        offset[tid] = max(offset.get(tid, 0), a[ATTEMPT.attempt])
    attempts = list(old_attempts)
    for a in new.rows("attempts"):  # numbered on after the task's journaled attempts, times shifted
        row = list(a)
        row[ATTEMPT.attempt] += offset.get(row[ATTEMPT.task_id], 0)
        for i in _ATTEMPT_TIMES:
            if row[i] is not None:
                row[i] += t0
        attempts.append(tuple(row))
    reports = list(j["report"])  # what bodies reported, their attempts numbered on as their rows
    for r in new.rows("reports"):
        row = list(r)
        row[REPORT.attempt] += offset.get(row[REPORT.task_id], 0)
        reports.append(tuple(row))
    resources = []
    for r in new.rows("resources"):
        row = list(r)
        row[RESOURCE.t_s] += t0
        resources.append(tuple(row))
    # every task once: as journaled, else as the rerun declared it (a journal cut before
    # its task lines, or with them damaged, has none for some)
    # (a task predicted again as it became ready has a later row: its last row holds)
    tid = TASK_INFO.task_id
    info: dict[str, tuple] = {row[tid]: row for row in j["task"]}
    for task_id, row in {row[tid]: row for row in new.rows("task_info")}.items():
        info.setdefault(task_id, row)
    return RunRecord(meta, events, attempts, resources, RESOURCE_FIELDS, list(info.values()), reports=reports)
