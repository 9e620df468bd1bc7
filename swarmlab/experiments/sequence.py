"""The runs of a comparison one by one, and what a comparison writes to the store so that a
killed one can be finished (:func:`swarmlab.resume` of its ``cmp-...`` id).

:class:`Job` is a comparison's whole description, checked; :func:`plan_record` is the plan
written to the store before the first run; :class:`Ledger` numbers the runs as they
start and writes a progress line when each starts and ends; :func:`make_run` makes one.
A planned run is known by its key (:func:`run_key`): a resume finds which are done by key,
whatever order numbers the runs got.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.runinfo import describe_agents
from ..errors import ConfigError
from ..model import Agent, ResourceLimits
from ..portal import run
from ..realtime.executor import ParallelExecutor
from ..scheduling import SchedulingAlgorithm, policy_names
from ..store.comparisons import ComparisonFolder, new_comparison_id
from ..store.records import RunRecord
from ..virtual.simulation import simulate
from ..workloads import WORKLOADS
from ..workloads.recipes import Workload
from .setups import SEQUENTIAL, PlannedRun, RunOrder, Setup

__all__ = ["Job", "Ledger", "make_run", "make_rounds", "run_key", "keyed", "plan_record", "not_resumable",
           "AUTO_MIN_REPEATS", "planned_runs", "held_comparison", "run_labels", "run_spec", "repeats_asked", "drawn"]

#: The policies every process knows by name; one registered by a user is known only in
#: the process that registered it (a notebook's kernel), never in the one that resumes.
_BUILT_IN = frozenset(a.value for a in SchedulingAlgorithm)

#: ``repeats="auto"`` makes at least this many rounds: with fewer, Student's t is so wide
#: (12.7 standard errors at 2 repeats) that no interval is narrow enough to stop on.
AUTO_MIN_REPEATS = 3


@dataclass
class Job:
    """A comparison, checked: everything :func:`swarmlab.compare` was given, as it runs it."""

    workload: Workload
    setups: list[Setup]
    modes: list[str]  # the real ones
    simulate: bool
    limits: ResourceLimits  # the user's under the workload's own
    user_limits: ResourceLimits | None  # as given (the plan rebuilds the rest from the workload)
    repeats: int | str
    seed: int
    warmup: bool
    baseline: bool
    rel_width: float
    budget_s: float | None
    max_repeats: int
    better: Mapping[str, str] | None
    dask_address: str | None
    add_stealing: bool
    algorithms: list[str] = field(default_factory=list)  # the specs given, None for the default

    @property
    def all_modes(self) -> list[str]:
        return self.modes + (["simulated"] if self.simulate else [])

    def order(self) -> RunOrder:
        return RunOrder(self.setups, self.all_modes, seed=self.seed, warmup=self.warmup, baseline=self.baseline)


def run_key(item: PlannedRun, phase: str = "") -> str:
    """The key of a planned run: ``measured/<set-up>/<mode>/<repeat>``,
    ``warmup/<set-up>/<mode>``, ``baseline/<mode>/<phase>`` (``first`` or ``last``)."""
    if item.role == "baseline":
        return f"baseline/{item.mode}/{phase}"
    if item.role == "warmup":
        return f"warmup/{item.setup.label}/{item.mode}"
    return f"measured/{item.setup.label}/{item.mode}/{item.repeat}"


def keyed(items: list[PlannedRun], phase: str = "") -> list[tuple[str, PlannedRun]]:
    return [(run_key(i, phase), i) for i in items]


def planned_runs(job: Job, rounds: int) -> list[tuple[str, PlannedRun]]:
    """Every run of ``job`` with ``rounds`` rounds, keyed, in the order they are made."""
    order = job.order()
    out = keyed(order.opening(), "first")
    for r in range(rounds):
        out += keyed(order.round(r))
    return out + keyed(order.closing(), "last")


def not_resumable(job: Job) -> str | None:
    """Why a comparison of ``job`` cannot be resumed in another process (its workload or
    a policy exists only in Python), or None. A ``module:Class`` policy can: it is named
    again when resumed (``--algorithms``)."""
    if job.workload.name not in WORKLOADS:
        return (f"its workload {job.workload.name!r} exists only in Python (not one of "
                f"{', '.join(sorted(WORKLOADS))}): a new process cannot build it again")
    known = policy_names()
    for s in job.setups:
        if s.spec not in known and ":" not in s.spec:
            return (f"its policy {s.spec!r} exists only in Python (neither registered by name nor 'module:Class'): "
                    "a new process cannot build it again")
        if s.spec in known and s.spec not in _BUILT_IN:
            return (f"its policy {s.spec!r} is registered in this process only (register_policy): a new process "
                    "does not know the name; give it as 'module:Class' to make the comparison resumable")
    return None


def plan_rounds(job: Job, made: int = 0) -> int:
    """The rounds a plan lists: ``repeats``; for ``"auto"``, at least :data:`AUTO_MIN_REPEATS`
    and every round begun (the plan grows as rounds are added)."""
    return job.repeats if isinstance(job.repeats, int) else max(AUTO_MIN_REPEATS, made)


def plan_record(job: Job, out: str | None, rounds: int) -> dict[str, Any]:
    """The plan written to the store before the first run (see :mod:`swarmlab.store.comparisons`)."""
    wl = job.workload
    limits = dataclasses.asdict(job.user_limits) if job.user_limits is not None else None
    return {
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "workload": {"name": wl.name, "n": wl.n, "seed": wl.seed, "options": dict(wl.options),
                     "task_resources": dict(wl.meta.get("task_resources") or {})},
        "algorithms": job.algorithms, "add_stealing": job.add_stealing,
        "setups": [{"label": s.label, "spec": s.spec, "stealing": s.stealing} for s in job.setups],
        "modes": job.modes, "simulate": job.simulate, "limits": limits, "seed": job.seed,
        "repeats": job.repeats, "rel_width": job.rel_width, "budget_s": job.budget_s,
        "max_repeats": job.max_repeats, "better": dict(job.better) if job.better else None,
        "warmup": job.warmup, "baseline": job.baseline, "dask_address": job.dask_address,
        # absolute: a resume started from another folder writes where the comparison would have
        "out": str(Path(out).resolve()) if out is not None else None,
        "runs": [{"key": k, "order": i.order, "role": i.role, "setup": i.setup.label, "mode": i.mode,
                  "repeat": i.repeat} for k, i in planned_runs(job, rounds)],
        "not_resumable": not_resumable(job),
    }


class Ledger:
    """Numbers a comparison's runs as they start (``order``: on across a resume, so the
    drift check reads the baselines in the order they ran) and, given the comparison's
    folder in a store, writes a progress line when each starts and when it is done."""

    def __init__(self, folder: ComparisonFolder | None = None, progress: Sequence[dict[str, Any]] = ()) -> None:
        self.folder = folder
        self.progress = list(progress)
        started = [p for p in progress if p["event"] == "started"]
        self.next = max((p["order"] for p in started), default=-1) + 1
        #: seconds the comparison's rounds ran before this process (``repeats="auto"``'s budget)
        self.elapsed_s = max((p.get("elapsed_s", 0.0) for p in progress if p["event"] == "done"), default=0.0)

    @property
    def id(self) -> str | None:
        return self.folder.id if self.folder is not None else None

    def start(self, key: str, item: PlannedRun) -> int:
        k, self.next = self.next, self.next + 1
        if self.folder is not None:
            self.folder.append("started", key=key, order=k, role=item.role, setup=item.setup.label, mode=item.mode,
                               repeat=item.repeat)
        return k

    def done(self, key: str, run_id: str | None, row: Mapping[str, Any], elapsed_s: float) -> None:
        if self.folder is not None:
            labels = {c: row[c] for c in ("order", "role", "algorithm", "stealing", "mode", "repeat")}
            self.folder.append("done", key=key, run_id=run_id, elapsed_s=elapsed_s, **labels)

    def made(self, key: str, item: PlannedRun, rec: RunRecord, row: Mapping[str, Any], elapsed_s: float,
             store=None) -> bool:
        """``rec`` is made: saved in ``store`` unless a warm-up (a comparison keeps none:
        a fresh process warms up again), then marked done; returns whether it was saved."""
        kept = item.role != "warmup"
        if store is not None and kept:
            store.save(rec)
        self.done(key, rec.run_id if kept else None, row, elapsed_s)
        return store is not None and kept

    def note(self, kind: str, **fields: Any) -> None:
        if self.folder is not None:
            self.folder.append(kind, **fields)


@contextmanager
def held_comparison(job: Job, store, out: str | None = None, comparison_id: str | None = None) -> Iterator[Ledger]:
    """A new comparison of ``job`` in ``store``: its plan written before its first run, its
    lock held while the block runs (``running``; a kill or an exception leaves it
    ``interrupted``), and the :class:`Ledger` that marks its runs as they are made. The
    one way a comparison enters a store, for :func:`swarmlab.compare` and the experiment
    panel alike, so ``swarmlab resume cmp-...`` finishes either."""
    folder = ComparisonFolder(store.path, comparison_id or new_comparison_id())
    if folder.exists:
        raise ConfigError(f"comparison {folder.id!r} already exists in {store.path}; finish it with "
                          f"swarmlab.resume({folder.id!r}, store) or give another id")
    with folder.hold():
        folder.write_plan(plan_record(job, out, plan_rounds(job)))
        yield Ledger(folder)


def repeats_asked(repeats: int) -> str:
    """Why a comparison with a number of repeats stopped making rounds (``meta["stopped"]``)."""
    return f"{repeats} repeats asked"


def drawn(workload: Workload, seed: int) -> Workload:
    """The work of the run with ``seed``: each repeat draws afresh where the workload
    redraws (``Workload.redraw``), the same draws on both clocks and in a resume."""
    return workload.redraw(seed) if workload.redraw is not None else workload


def run_labels(workload: Workload, item: PlannedRun, **extra: object) -> dict[str, object]:
    """What a run is in its comparison (workload, set-up, role, order, repeat, and
    ``extra``: the comparison's id and the run's key), journaled with its spec so that a
    resumed run keeps them, and put in its meta."""
    labels = dict(workload=workload.name, workload_n=workload.n, workload_seed=workload.seed, setup=item.setup.label,
                  role=item.role, order=item.order, repeat=item.repeat, **extra)
    if item.role == "baseline":
        labels.update(algorithm=SEQUENTIAL, baseline="sequential")
    return labels


def run_spec(workload: Workload, item: PlannedRun, agents: list[Agent], limits: ResourceLimits, seed: int,
             labels: Mapping[str, object]) -> dict[str, Any]:
    """The spec a real run of a comparison is journaled with: enough for ``swarmlab
    resume RUN_ID`` to build the run again, and its ``labels``."""
    return {"kind": "workload", "name": workload.name, "n": workload.n, "seed": workload.seed,
            "options": dict(workload.options), "algorithm": item.setup.spec, "stealing": item.setup.stealing,
            "mode": item.mode, "limits": dataclasses.asdict(limits), "agents": describe_agents(agents),
            "run_seed": seed, "task_resources": dict(workload.meta.get("task_resources") or {}),
            "labels": dict(labels)}


async def _real(workload: Workload, mode: str, agents: list[Agent], scheduler, limits: ResourceLimits,
                seed: int, journal, spec, dask_address: str | None) -> RunRecord:
    tasks = workload.tasks("async" if mode == "asyncio" else "sync")
    dask = {"dask_address": dask_address} if mode == "dask" else {}
    async with ParallelExecutor(mode=mode, limits=limits, agents=agents, scheduler=scheduler, seed=seed,
                                journal=journal, spec=spec, **dask) as ex:
        await ex.submit_batch(tasks)
    return ex.record()


def make_run(workload: Workload, order: RunOrder, item: PlannedRun, limits: ResourceLimits, seed: int, store=None,
             dask_address: str | None = None, **extra: object) -> RunRecord:
    """One run of a comparison; ``extra`` labels (the comparison's id, the run's key) join
    the labels journaled with its spec and its meta."""
    setup, mode = item.setup, item.mode
    workload = drawn(workload, seed)
    agents, limits = order.fixture(item, workload.agents, limits)
    sched = setup.scheduler()
    labels = run_labels(workload, item, **extra)
    if mode == "simulated":
        rec = simulate(workload.tasks(), agents, scheduler=sched, limits=limits, seed=seed)
    else:
        spec = run_spec(workload, item, agents, limits, seed, labels)
        # every kept run is journaled from its first task, the sequential baseline included:
        # a compare killed during its first run leaves a run that resume finishes
        journal = store.path if store is not None and item.role != "warmup" else None
        rec = run(_real(workload, mode, agents, sched, limits, seed, journal, spec, dask_address))
    rec.meta.update(labels)
    return rec


def make_rounds(job: Job, ledger: Ledger, order: RunOrder, make: Callable[[list[tuple[str, PlannedRun]]], None],
                precise: Callable[[], bool], stopped: Mapping[str, Any] | None, t0: float) -> tuple[int, str]:
    """Make rounds until ``repeats`` are made or, for ``"auto"``, until the intervals of
    the measured rows are narrow enough (``precise()``), the most are made or the budget
    would run out; returns how many were made and why they stopped. A resumed comparison walks its
    rounds again from the first (the shuffles stay in step), making only what is not
    done, and stops where it had decided to stop (``stopped``). The budget counts from
    the first round, on the comparison's clock (``t0``: its time before a kill included)."""
    made = 0
    begun = next((p["elapsed_s"] for p in ledger.progress if p["event"] == "rounds"), None)
    if begun is None:
        begun = time.monotonic() - t0
        ledger.note("rounds", elapsed_s=begun)
    started = t0 + begun
    while True:
        if stopped is not None and made == stopped["made"]:
            return made, str(stopped["why"])
        r0 = time.monotonic()
        if job.repeats == "auto" and made >= plan_rounds(job) and ledger.folder is not None:
            plan = ledger.folder.plan()  # one more round than planned: the plan grows with it
            ledger.folder.write_plan({**plan, "runs": plan_record(job, plan.get("out"), made + 1)["runs"],
                                      "started_utc": plan["started_utc"]})
        make(keyed(order.round(made)))
        made += 1
        why = None
        if job.repeats != "auto":
            if made == job.repeats:
                why = repeats_asked(job.repeats)
        elif made >= AUTO_MIN_REPEATS:
            now = time.monotonic()
            if precise():
                why = f"every interval narrower than {job.rel_width:.0%} of its mean"
            elif made >= job.max_repeats:
                why = f"max_repeats ({job.max_repeats}) reached"
            elif job.budget_s is not None and now - started + (now - r0) > job.budget_s:
                why = f"the time budget ({job.budget_s:g} s) would run out in another round"
        if why is not None:
            ledger.note("stopped", made=made, why=why)
            return made, why
