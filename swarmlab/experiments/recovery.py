"""resume(): finish a journaled run that was killed, without losing or repeating a task."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ConfigError, JournalError
from ..events import (ATTEMPT, EVENT, EVENT_FIELDS, REPORT, RESOURCE, RESOURCE_FIELDS, TASK_INFO, attempt_row,
                      report_row, row_builder, task_info_row)
from ..model import TaskStatus
from ..model import Agent, ResourceLimits, Task
from ..core.bucket import TokenBucket
from ..portal import run
from ..realtime.executor import ParallelExecutor
from ..scheduling import TaskScheduler, policy_names
from ..store.comparisons import is_comparison_id
from ..store.journal import JOURNAL_NAME, encode_line, read_journal
from ..store.lock import try_lock
from ..store.records import RunRecord
from ..store.runs import RunStore, check_run_id, journal_record
from .trust import installed_policy

if TYPE_CHECKING:
    from .comparison import Comparison

__all__ = ["cut_spent", "killed_spent", "resume", "spent_before", "spent_recently"]

log = logging.getLogger("swarmlab")

#: Task ids a damage report names before it says "and N more".
REPORT_IDS = 10
#: The times of an attempt row, shifted when a resumed run's rows follow the journaled ones.
_ATTEMPT_TIMES = (ATTEMPT.submitted_s, ATTEMPT.ready_s, ATTEMPT.started_s, ATTEMPT.finished_s)
#: The status of an attempt a kill cut short (its own row in a resumed record).
INTERRUPTED = "interrupted"
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


def cut_spent(j: dict[str, Any]) -> dict[tuple[str, int], dict[str, float]]:
    """What each attempt a kill cut short had reported, by (task id, the journal's attempt
    number): the sums of its ``spent`` lines (:meth:`swarmlab.store.journal.Journal.spent`).
    An attempt with an attempt row ended: its ``report`` rows say what it spent, and its
    spent lines are not read. Empty for a journal written before spent lines existed."""
    ended = {(a[ATTEMPT.task_id], a[ATTEMPT.attempt]) for a in j["attempt"]}
    tid_at, n_at, name_at, value_at = REPORT.task_id, REPORT.attempt, REPORT.name, REPORT.value
    out: dict[tuple[str, int], dict[str, float]] = {}
    for r in j["spent"]:
        key = (r[tid_at], r[n_at])
        if key in ended:
            continue
        got = out.setdefault(key, {})
        got[r[name_at]] = got.get(r[name_at], 0.0) + r[value_at]
    return out


def killed_spent(j: dict[str, Any]) -> list[tuple]:
    """Report rows for the attempts that ended without an answer and whose report rows
    the journal lacks: a PROCESS worker killed at its timeout or memory cap has its
    reports so far recorded as a late answer (the live record has them), but a journal
    written before that, or cut between the kill and its next flush, holds them only as
    ``spent`` lines. Their sums, per attempt and name."""
    reported = {(r[REPORT.task_id], r[REPORT.attempt]) for r in j["report"]}
    ended = {(a[ATTEMPT.task_id], a[ATTEMPT.attempt]) for a in j["attempt"]} - reported
    summed: dict[tuple[str, int, str], float] = {}
    for r in j["spent"]:
        key = (r[REPORT.task_id], r[REPORT.attempt])
        if key in ended:
            named = (*key, r[REPORT.name])
            summed[named] = summed.get(named, 0.0) + r[REPORT.value]
    return [report_row(task_id=tid, attempt=n, name=name, value=value) for (tid, n, name), value in summed.items()]


def spent_before(j: dict[str, Any], cut: dict[tuple[str, int], dict[str, float]]) -> dict[str, float]:
    """Per reported name, what the killed run spent: what its ended attempts reported,
    and what those its kill cut short had reported (``cut``, :func:`cut_spent`)."""
    out: dict[str, float] = {}
    name_at, value_at = REPORT.name, REPORT.value
    for r in j["report"]:
        out[r[name_at]] = out.get(r[name_at], 0.0) + r[value_at]
    for values in cut.values():
        for name, value in values.items():
            out[name] = out.get(name, 0.0) + value
    return out


async def _run_rest(tasks: list[Task], how: dict[str, Any], spent: dict[str, float],
                    reported: dict[str, float]) -> RunRecord:
    limits = dataclasses.replace(how["limits"], max_queue_size=max(how["limits"].max_queue_size, len(tasks)))
    async with ParallelExecutor(mode=how["mode"], limits=limits, agents=how["agents"], scheduler=how["scheduler"],
                                seed=how["seed"]) as ex:
        for name, units in spent.items():  # the buckets start where the killed run left them
            ex.spend(name, units)
        ex.spent_before(reported)  # and the budgets: a budget spent already starts nothing
        if tasks:
            await ex.submit_batch(tasks)
    return ex.record()


def resume(run_id: str, store: RunStore | None = None, algorithms: Sequence[str] = ()) -> RunRecord | Comparison:
    """Run the tasks of a killed run that did not complete; save and return the whole run.
    Given a comparison's id (``cmp-...``), finish the comparison instead and return it
    (:func:`swarmlab.experiments.plan.resume_comparison`).

    The journal says which tasks completed; those are not run again, and tasks waiting
    on them start at once. The record returned (and saved in ``store`` under the same
    run id) holds the journaled records, a ``resumed`` event, then the new ones, times
    continuing after the last journaled one; attempts of a task rerun are numbered on.
    A run whose journal has its end line but whose files were never saved (killed
    between the two) is saved from its journal, nothing run.

    An attempt the kill cut short is its own ``interrupted`` row, with what its body had
    reported before the kill (``swarmlab.report``, a command's usage lines: the journal's
    ``spent`` lines; not known for DASK bodies): it was paid for, so totals count it beside
    the rerun's. The resumed run's budgets start at what the killed run spent (its ended
    attempts' reports and its cut attempts' spending): a budget already reached starts
    nothing, its tasks end cancelled with the budget's reason, and
    ``meta["resources"]["budgets"]["spent"]`` is the whole run's (the rest of
    ``meta["resources"]`` is the resumed part's).

    While it runs, the journal is held (:mod:`swarmlab.store.lock`): a second resume of
    the same run, or a resume of a run still going, is refused. The run id, and the one
    the journal's header names, must be plain names (never a path). A policy the journal
    names as ``"module:Class"`` is imported only from an installed package (not from the
    current folder, not from inside the store) or when ``algorithms`` names it again.

    Damaged journal lines (torn, NUL-filled, not UTF-8 or JSON, failing their checksum,
    wrong field types) are skipped and every intact line before and after them kept; one
    warning line (logged, and in ``meta["journal_damage"]``) says how many were skipped,
    which tasks run again, and which completed tasks had no intact task line (their row
    is rebuilt from the run's spec).

    Raises
    ------
    ConfigError
        No journal, the run finished and was saved, its journal is held by another
        process, a run id is not a plain name, a journal-named policy is not installed,
        or its tasks were not described declaratively.
    JournalError
        The journal cannot be read (empty, no intact header, not a journal, a header
        naming another run) or its description of the tasks cannot be rebuilt.
    """
    store = store or RunStore()
    if is_comparison_id(run_id):  # a comparison's id: the whole comparison is finished
        from .plan import resume_comparison

        return resume_comparison(run_id, store, algorithms)
    folder = store.path / check_run_id(run_id)
    path = folder / JOURNAL_NAME
    read_journal(path)  # no journal, or not one: said before anything is opened for writing
    with open(path, "a", encoding="utf-8") as held:  # held until the end line is written
        if not try_lock(held):
            raise ConfigError(f"run {run_id!r} is held by another process (it is still running, or being resumed); "
                              "wait for it to end (`swarmlab runs list` shows it as running meanwhile)")
        j = read_journal(path)  # as it stands now that no one else writes it
        j["report"] = j["report"] + killed_spent(j)
        _check_header(run_id, j["header"])
        if j["end"] is not None:
            if (folder / "meta.json").is_file():
                raise ConfigError(f"run {run_id!r} finished ({j['end']['status']}); there is nothing to resume")
            return _save_ended(j, store)
        record = _resume(run_id, j, store, algorithms)
        held.write(encode_line({"type": "end", "status": "resumed"}))  # so no later resume runs anything twice
    return record


def _check_header(run_id: str, header: dict[str, Any]) -> None:
    """The journal's header names this run, by a plain name: a header edited to name a
    path (``../../x``, ``/abs``) would make the save write outside the store."""
    for what, named in (("run id", header["run_id"]), ("meta's run id", header["meta"].get("run_id", run_id))):
        try:
            check_run_id(named, f"its journal's header {what}")
        except ConfigError as e:
            raise JournalError(f"run {run_id!r} cannot be resumed: {e}; the journal is damaged or was edited"
                               ) from None
        if named != run_id:
            raise JournalError(f"run {run_id!r} cannot be resumed: its journal's header {what} is {named!r}; "
                               "the journal is damaged, edited or was copied from another run's folder")


def _save_ended(j: dict[str, Any], store: RunStore) -> RunRecord:
    """Save a run whose journal ended but whose files were never saved; nothing runs."""
    record = journal_record(j)
    done = {a[ATTEMPT.task_id] for a in j["attempt"] if a[ATTEMPT.status] == TaskStatus.COMPLETED.value}
    record.meta.update(saved_from_journal=True, resumed_tasks=0, kept_tasks=len(done))
    store.save(record)
    return record


def _journal_policies(spec: dict[str, Any]) -> list[str]:
    """The ``module:Class`` policies a spec names (a workload's algorithm, a suite's)."""
    named = [spec.get("algorithm"), (spec.get("orchestration") or {}).get("scheduling_algorithm")]
    return [n for n in named if isinstance(n, str) and ":" in n and n not in policy_names()]


def _resume(run_id: str, j: dict[str, Any], store: RunStore, algorithms: Sequence[str]) -> RunRecord:
    spec = j["header"]["spec"]
    if spec is None:
        raise ConfigError(
            f"run {run_id!r} cannot be resumed: its tasks were not described declaratively (a CallableRunner "
            "or hand-made tasks); use a SimulatedAgentRunner, a CommandRunner or a workload"
        )
    for name in _journal_policies(spec) if isinstance(spec, dict) else ():
        if name not in algorithms and not installed_policy(name, store):
            raise ConfigError(
                f"run {run_id!r}'s journal names the policy {name!r}, which is not an installed package; a policy "
                f"named by a journal is not imported from the current folder or the store. If it is yours, name "
                f"it again: swarmlab resume {run_id} --algorithms {name}")
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
    has_row = {row[TASK_INFO.task_id] for row in j["task"]}
    lost = [t for t in tasks if t.id in completed and t.id not in has_row]  # kept, but its task line damaged
    todo = [t for t in tasks if t.id not in completed]
    for t in todo:
        t.dependencies = tuple(d for d in t.dependencies if (d.id if isinstance(d, Task) else d) not in completed)
    damage = _damage_report(run_id, j, todo, lost)
    if damage:
        log.warning("swarmlab: %s", damage)
    spent = spent_recently(j, tasks, how["limits"])
    cut = cut_spent(j)
    new = run(_run_rest(todo, how, spent, spent_before(j, cut)))
    record = _merge(j, new, len(todo), len(completed), [_task_row(t) for t in lost], cut)
    if spent:
        record.meta["rates_spent_before_resume"] = spent
    if damage:
        record.meta["journal_damage"] = damage
    store.save(record)
    return record


def _task_row(t: Task) -> tuple:
    """A kept task's row, rebuilt from the run's spec when its journaled one was damaged
    (an estimate the run had learned for it is not known again: the spec's stands)."""
    deps = tuple(d.id if isinstance(d, Task) else str(d) for d in t.dependencies)
    return task_info_row(task_id=t.id, kind=t.kind, estimate_s=t.estimate_s, requires=tuple(sorted(t.requires)),
                         dependencies=deps, estimate_source="given" if t.estimate_s is not None else "default")


def _damage_report(run_id: str, j: dict[str, Any], todo: list[Task], lost: list[Task]) -> str | None:
    """One line: the damaged lines skipped, the tasks run again (those that had started
    before the kill first: their work is the work done twice) and the completed tasks
    whose task line was damaged (rebuilt from the spec), or None."""
    bad = j["damaged"]
    if not bad:
        return None
    started = {e[EVENT.task_id] for e in j["event"] if e[EVENT.event] == "started"}
    ids = [t.id for t in todo if t.id in started] + [t.id for t in todo if t.id not in started]
    named = ", ".join(map(str, ids[:REPORT_IDS])) + (f" and {len(ids) - REPORT_IDS} more" if len(ids) > REPORT_IDS else "")
    lines = ", ".join(map(str, bad[:REPORT_IDS])) + (", ..." if len(bad) > REPORT_IDS else "")
    return (f"the journal of run {run_id} had {len(bad)} damaged line{'s' if len(bad) > 1 else ''} "
            f"(line{'s' if len(bad) > 1 else ''} {lines}), skipped; every intact line is kept; "
            f"{len(ids)} tasks run again" + (f": {named}" if ids else "")
            + (f"; {len(lost)} completed task{'s' if len(lost) > 1 else ''} had no intact task line, rebuilt from "
               f"the run's spec: " + ", ".join(str(t.id) for t in lost[:REPORT_IDS])
               + (f" and {len(lost) - REPORT_IDS} more" if len(lost) > REPORT_IDS else "") if lost else ""))


def _merge(j: dict[str, Any], new: RunRecord, n_rerun: int, n_kept: int, rebuilt: Sequence[tuple] = (),
           cut: dict[tuple[str, int], dict[str, float]] | None = None) -> RunRecord:
    old_events, old_attempts = list(j["event"]), list(j["attempt"])
    t0 = _last_time(j)
    spec = j["header"].get("spec")
    labels = spec.get("labels") if isinstance(spec, dict) and isinstance(spec.get("labels"), dict) else {}
    # the labels a comparison gave the run (role, set-up, order, repeat, workload) hold after a resume
    meta = dict(j["header"]["meta"], **labels, status="resumed", resumed_tasks=n_rerun, kept_tasks=n_kept)
    resources = new.meta.get("resources")
    if resources is not None:  # the resumed part's; its budgets started at what the killed part spent
        meta["resources"] = resources = dict(resources)
        budgets = resources.get("budgets")
        if budgets is not None and budgets.get("stopped_s") is not None:
            resources["budgets"] = dict(budgets, stopped_s=budgets["stopped_s"] + t0)
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
    rerun = {a[ATTEMPT.task_id]: a for a in new.rows("attempts")}  # (their names and priorities)
    interrupted = _cut_attempts(j, offset, t0, rerun)  # (offset now counts the cut ones too)
    attempts = list(old_attempts) + interrupted
    for a in new.rows("attempts"):  # numbered on after the task's journaled attempts, times shifted
        row = list(a)
        off = offset.get(row[ATTEMPT.task_id], 0)
        # (a row of a task that never started again is numbered 0 by the rerun: after the
        # journaled ones it is the next, as a retry cancelled before it started is)
        row[ATTEMPT.attempt] = row[ATTEMPT.attempt] + off if row[ATTEMPT.attempt] or not off else off + 1
        for i in _ATTEMPT_TIMES:
            if row[i] is not None:
                row[i] += t0
        attempts.append(tuple(row))
    # what bodies reported: the ended attempts', then what those the kill cut short had
    # spent (counted beside their rerun's: spent twice), then the rerun's, numbered on
    reports = list(j["report"]) + _cut_reports(cut or {}, interrupted)
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
    for row in rebuilt:  # kept tasks whose journaled row was damaged
        info.setdefault(row[tid], row)
    for task_id, row in {row[tid]: row for row in new.rows("task_info")}.items():
        info.setdefault(task_id, row)
    return RunRecord(meta, events, attempts, resources, RESOURCE_FIELDS, list(info.values()), reports=reports)


def _cut_attempts(j: dict[str, Any], offset: dict[str, int], t0: float, rerun: dict[str, tuple]) -> list[tuple]:
    """An attempt the kill cut short left a ``started`` event and no attempt row: each
    becomes a row of its own, ``interrupted``, from its start to the journal's last time
    (what it had run: that work is done twice), and ``offset`` counts it, so the rerun is
    numbered after it."""
    started: dict[str, list] = {}
    submitted: dict[str, float] = {}
    for e in j["event"]:
        kind, tid = e[EVENT.event], e[EVENT.task_id]
        if kind == "started" and tid is not None:
            started.setdefault(tid, []).append(e)
        elif kind == "submitted":
            submitted.setdefault(tid, e[EVENT.t_s])
    rows = []
    for tid, starts in started.items():
        ended = offset.get(tid, 0)
        for n, e in enumerate(starts[ended:], ended + 1):
            t = e[EVENT.t_s]
            again = rerun.get(tid)
            rows.append(attempt_row(
                task_id=tid, name=again[ATTEMPT.name] if again else tid, attempt=n, status=INTERRUPTED,
                priority=again[ATTEMPT.priority] if again else 0,
                agent_id=e[EVENT.agent_id], mode=e[EVENT.detail] if isinstance(e[EVENT.detail], str) else None,
                worker=None, submitted_s=submitted.get(tid), ready_s=submitted.get(tid), started_s=t,
                finished_s=max(t0, t),
                error_type="interrupted", error="the process ended (killed) while this attempt ran; it ran again "
                "after resume", devices=""))
            offset[tid] = n
    return rows


def _cut_reports(cut: dict[tuple[str, int], dict[str, float]], interrupted: list[tuple]) -> list[tuple]:
    """Report rows of the interrupted rows: what each cut attempt had spent (``cut``, by
    the journal's own attempt numbers). An interrupted row is numbered after the task's
    attempt rows (:func:`_cut_attempts`), which is the number the killed run gave it;
    spending of an attempt whose number has no interrupted row (its ``started`` line was
    damaged) goes to the task's last interrupted row, if it has one."""
    numbers: dict[str, list[int]] = {}
    for a in interrupted:
        numbers.setdefault(a[ATTEMPT.task_id], []).append(a[ATTEMPT.attempt])
    summed: dict[tuple[str, int], dict[str, float]] = {}
    for (tid, n), values in cut.items():
        mine = numbers.get(tid)
        if not mine:
            continue
        got = summed.setdefault((tid, n if n in mine else mine[-1]), {})
        for name, value in values.items():
            got[name] = got.get(name, 0.0) + value
    return [report_row(task_id=tid, attempt=n, name=name, value=value)
            for (tid, n), values in summed.items() for name, value in values.items()]
