"""Metrics as DataFrame -> DataFrame, computed from recorded rows only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

import pandas as pd

from ..errors import ConfigError
from ..model import TERMINAL_STATES, TaskStatus
from ..scheduling.dag import critical_path
from ..scope import BUILT_IN_COLUMNS, RESERVED
from ..events import TASK_INFO
from ..store.records import RunRecord, paused_gc
from .limits import capacities, describe_limit, limit_bounds

__all__ = ["RunFigures", "run_figures", "summary", "agent_load", "quality", "lower_bound", "name_bound", "reported_columns", "reported_totals",
           "SUMMARY_COLUMNS", "RATE_LIMITED"]

#: Columns of :func:`summary`, one row per run.
SUMMARY_COLUMNS = (
    "run_id", "clock", "mode", "algorithm", "tasks", *TERMINAL_STATES,  # tasks by how they ended
    "attempts", "stolen", "makespan_s", "throughput_tps", "mean_wait_s", "p50_wait_s", "p95_wait_s",
    "mean_run_s", "busy_s", "utilization", "imbalance", "lower_bound_s", "efficiency",
)


#: The count of provider refusals in a run: attempts that ended ``rate_limited`` plus calls
#: retried inside ``swarmlab.call`` (the reported ``n_rate_limited``).
RATE_LIMITED = "rate_limited"


#: The columns of the tasks frame the figures read (:meth:`RunRecord.columns`: a record
#: of 1M tasks builds these alone, not the whole frame).
_READ = ("task_id", "status", "agent_id", "submitted_s", "started_s", "finished_s", "wait_s", "run_s")


def reported_columns(tasks: pd.DataFrame) -> list[str]:
    """The columns of a tasks frame (``record.tasks``) that bodies reported
    (``swarmlab.report()``, and swarmlab's own ``limit_wait_s`` and ``n_rate_limited``),
    in the frame's order: every numeric column that is not a built-in one
    (:data:`swarmlab.scope.BUILT_IN_COLUMNS`)."""
    t = tasks
    return [c for c in t.columns if (c not in BUILT_IN_COLUMNS or c in RESERVED)
            and pd.api.types.is_numeric_dtype(t[c])]


def reported_totals(record: RunRecord) -> dict[str, float]:
    """Per run: the sum over every attempt (refused and failed ones too: they were paid
    for) of each :func:`reported_columns`, then ``rate_limited``
    (:data:`RATE_LIMITED`); empty for a run that reported nothing and was never refused,
    so a run without reports costs and shows nothing more."""
    t = record.tasks if record.reported else record.columns(["status"])  # (none reported: no column to read)
    names = reported_columns(t)
    refused = int((t["status"] == "rate_limited").sum()) if len(t) else 0
    if not names and not refused:
        return {}
    out = {c: float(t[c].sum(min_count=1)) for c in names}
    retried = float(t["n_rate_limited"].sum()) if "n_rate_limited" in t.columns else 0.0
    out[RATE_LIMITED] = refused + retried
    return out


def _span(t: pd.DataFrame) -> tuple[float | None, float | None]:
    """The first submission and the last finish of the attempts in ``t`` (None: none yet)."""
    first, last = t["submitted_s"].min(), t["finished_s"].max()
    return (float(first) if first == first else None), (float(last) if last == last else None)


def _makespan(t: pd.DataFrame) -> float:
    """From the first submission to the last finish of the attempts in ``t`` (0 for none)."""
    first, last = _span(t)
    return last - first if first is not None and last is not None else 0.0


@dataclass(frozen=True, slots=True)
class RunFigures:
    """A run's figures, as :func:`run_figures` computes them from its rows.

    ``tasks``: tasks submitted; ``ended``: tasks by terminal status (every one of
    :data:`~swarmlab.model.TERMINAL_STATES`, zeros included); ``running``: attempts started
    and not ended; ``waiting``: the other tasks not ended; ``retried``: attempts that failed
    and ran again; ``attempts``: attempts that started and ended; ``first_s``/``last_s``:
    the first submission and the last finish (None before any); ``makespan_s`` the time
    between them and ``throughput_tps`` completed tasks over it (0 before a task ended).
    """

    tasks: int
    ended: dict[str, int]
    running: int
    waiting: int
    retried: int
    attempts: int
    first_s: float | None
    last_s: float | None

    @property
    def n_ended(self) -> int:
        return sum(self.ended.values())

    @property
    def completed(self) -> int:
        return self.ended[TaskStatus.COMPLETED.value]

    @property
    def makespan_s(self) -> float:
        """As :func:`quality` and :func:`agent_load` measure it (0 before a task ended)."""
        return self.last_s - self.first_s if self.last_s is not None and self.first_s is not None else 0.0

    @property
    def throughput_tps(self) -> float:
        span = self.makespan_s
        return self.completed / span if span > 0 else 0.0


def run_figures(record: RunRecord) -> RunFigures:
    """The figures of ``record`` (:class:`RunFigures`), from its rows alone: the one function
    a run's figures come from, whether it is finished and saved (:func:`summary`), followed
    live from its journal (:meth:`swarmlab.store.follow.RunProgress.record`: the dashboard)
    or running in the panel, so a run shows the same numbers live and after a reload.

    A task has ended with the status of its last attempt row, unless a ``retried`` event
    came after that attempt's end (it waits to run again); tasks are those submitted
    (task-info rows) or, for a loaded run that keeps none, those with an attempt row.
    Running attempts are ``started`` events less attempts that started and ended (0 for a
    run that counted events, which is over). The makespan runs from the first submission
    to the last finish, whatever the resource samples say of the time after it.
    """
    # only the columns and counts the figures need: a run of 1M tasks builds neither its
    # whole tasks frame nor its events frame here (RunRecord.columns, RunRecord.count)
    t = record.columns(("task_id", "status", "submitted_s", "started_s", "finished_s"))
    last = record.final(["status"])
    with_rows = len(last)  # tasks that have an attempt row
    counted = bool(record.meta.get("events"))  # counted per bucket: no task ids, and the run is over
    retried = 0 if counted else record.count("retried")
    if retried:  # a task whose last end-or-retry event is a retry has not ended
        ev = record.events
        kinds = ev["event"]  # categorical: compared by code, not as strings
        ends = ev.loc[kinds.isin((*TERMINAL_STATES, "retried")), ["task_id", "event"]]
        ends = ends.loc[~ends["task_id"].duplicated(keep="last")]
        again = ends.loc[ends["event"] == "retried", "task_id"]
        last = last.loc[~last["task_id"].isin(again)]
    counts = last["status"].value_counts()
    ended = {state: int(counts.get(state, 0)) for state in TERMINAL_STATES}
    ran = int(t["started_s"].notna().sum())
    started = ran if counted else record.count("started")
    info = record.rows("task_info")
    submitted = len(set(map(itemgetter(TASK_INFO.task_id), info))) if isinstance(info, tuple) and info else 0
    tasks = max(submitted, with_rows)
    running = max(0, started - ran)
    first, end = _span(t)
    return RunFigures(tasks=tasks, ended=ended, running=running, waiting=max(0, tasks - sum(ended.values()) - running),
                      retried=retried, attempts=ran, first_s=first, last_s=end)


def _pool(rec: RunRecord) -> pd.DataFrame:
    agents = rec.meta.get("agents")
    if agents:
        return pd.DataFrame(agents)[["id", "capacity", "speed"]].rename(columns={"id": "agent_id"})
    ids = rec.columns(["agent_id"])["agent_id"].dropna().unique()
    return pd.DataFrame({"agent_id": ids, "capacity": 1, "speed": 1.0})


def agent_load(record: RunRecord) -> pd.DataFrame:
    """One row per agent of the pool: attempts it ran, ``busy_s`` (their summed run
    times), ``utilization`` = busy_s / (makespan x capacity) and ``share`` of all busy
    time. Agents that ran nothing are rows with zeros."""
    t = record.columns(_READ)
    ran = t.dropna(subset=["started_s"])
    per = ran.groupby("agent_id", observed=True).agg(attempts=("task_id", "size"), busy_s=("run_s", "sum"))
    out = _pool(record).merge(per, left_on="agent_id", right_index=True, how="left")
    out[["attempts", "busy_s"]] = out[["attempts", "busy_s"]].fillna(0)
    out["attempts"] = out["attempts"].astype("int64")
    makespan = _makespan(t)
    total = out["busy_s"].sum()
    out["utilization"] = out["busy_s"] / (makespan * out["capacity"]) if makespan > 0 else float("nan")
    out["share"] = out["busy_s"] / total if total > 0 else float("nan")
    return out.reset_index(drop=True)


def quality(record: RunRecord, basis: str = "measured") -> pd.Series:
    """How close a run came to the best any schedule could do.

    ``lower_bound_s`` = the largest of the critical path, total work / total capacity
    ("work over agents") and each limit's bound (:func:`swarmlab.analysis.limits.limit_bounds`:
    unit-seconds held of a pool or an agent resource over its units, units taken from a
    rate beyond its bucket over its refill rate): no schedule of these tasks on this pool
    under these limits finishes sooner. ``bound_by`` names the largest (``"critical
    path"``, ``"work over agents"``, ``"pool llm"``, ``"rate rpm"``, ``"agent gpu"``; on a
    tie the first in that order). Work is each task's run time: measured
    (``basis="measured"``, the completed attempt's ``run_s``) or declared
    (``basis="estimates"``, ``estimate_s``, with capacity weighted by agent speed).
    ``efficiency`` = lower bound / makespan (1 = optimal). ``imbalance`` = max / mean busy
    time over the pool's agents, minus 1 (0 = balanced). Waits are over started attempts.
    """
    bounds, total = _bounds(record, basis)
    bound_by = max(bounds, key=bounds.__getitem__)  # the first of the largest: ties in the documented order
    bound, cp = bounds[bound_by], bounds["critical path"]
    t = record.columns(_READ)
    makespan = _makespan(t)
    busy = agent_load(record)["busy_s"]
    ran = t.dropna(subset=["started_s"])
    return pd.Series({
        "makespan_s": makespan,
        "work_s": total,
        "critical_path_s": cp,
        "lower_bound_s": bound,
        "bound_by": bound_by,
        "efficiency": bound / makespan if makespan > 0 else float("nan"),
        "imbalance": float(busy.max() / busy.mean() - 1) if busy.mean() > 0 else 0.0,
        "p50_wait_s": float(ran["wait_s"].quantile(0.5)) if len(ran) else float("nan"),
        "p95_wait_s": float(ran["wait_s"].quantile(0.95)) if len(ran) else float("nan"),
        "bound_basis": basis,
    })


def _bounds(record: RunRecord, basis: str) -> tuple[dict[str, float], float]:
    """Every candidate bound of :func:`quality` in its tie order, and the total work."""
    if basis not in ("measured", "estimates"):
        raise ConfigError(f"basis must be 'measured' or 'estimates'; got {basis!r}")
    t = record.columns(_READ)
    deps = record.dependencies()
    if basis == "measured" and not deps and not capacities(record.meta) and record.one_row_each():
        # independent tasks, no limits, none ran twice: the bounds need only the completed
        # rows' run times (summed in row order, as the mapping below is), not a mapping of
        # 1M task ids
        run = t["run_s"].to_numpy()[(t["status"] == "completed").to_numpy()].tolist()
        total = float(sum(run))
        return _bounds_of(record, total, max(run, default=0.0), basis), total
    if basis == "measured":
        done = t[t["status"] == "completed"]
        work = dict(zip(done["task_id"].tolist(), done["run_s"].tolist()))  # (lists: no per-cell Series access)
        if len(work) < len(done):  # a task completed twice (a resumed run): its last, in their order
            done = done.drop_duplicates("task_id", keep="last")
            work = dict(zip(done["task_id"].tolist(), done["run_s"].tolist()))
    else:
        est = record.final(["estimate_s"]).dropna(subset=["estimate_s"])
        work = dict(zip(est["task_id"].tolist(), est["estimate_s"].tolist()))
    total = float(sum(work.values()))
    return _bounds_of(record, total, critical_path(work, deps), basis, work), total


def _bounds_of(record: RunRecord, total: float, path: float, basis: str,
               work: dict[str, float] | None = None) -> dict[str, float]:
    """The bounds from the total work, the critical path and (for limits) the work per task."""
    pool = _pool(record)
    slots = float(pool["capacity"].sum())
    rate = slots if basis == "measured" else float((pool["capacity"] * pool["speed"]).sum())
    cap = (record.meta.get("limits") or {}).get("max_concurrent_tasks")
    if cap is not None and cap < slots:
        rate *= cap / slots
    return {"critical path": float(path), "work over agents": total / rate if rate > 0 else 0.0,
            **(limit_bounds(record, work) if work is not None else {})}


def lower_bound(record: RunRecord) -> dict[str, object]:
    """The run's lower bound for ``record.meta["lower_bound"]`` (measured basis, see
    :func:`quality`): ``{"lower_bound_s": s, "bound_by": "rate rpm" | "pool llm" | ...,
    "bound_by_limit": "rate rpm (120 per 60 s)" (the binding one in words), "bounds_s":
    {each candidate: s}}``. Plain data, so it is saved and loaded with the meta."""
    bounds, _ = _bounds(record, "measured")
    by = max(bounds, key=bounds.__getitem__)  # as quality() picks it
    kind, _, name = by.partition(" ")
    caps = capacities(record.meta)
    words = describe_limit(name, caps[name]) if name in caps and caps[name]["kind"] == kind else by
    return {"lower_bound_s": float(bounds[by]), "bound_by": by, "bound_by_limit": words,
            "bounds_s": {k: float(v) for k, v in bounds.items()}}


def name_bound(record: RunRecord) -> dict[str, object] | None:
    """Record :func:`lower_bound` in ``record.meta["lower_bound"]`` for a run with limits
    (pools, rates or agent resources) and return it; None, and meta untouched, for a run
    without. A finished executor run and every run of a comparison or of the panel are
    named so; :func:`swarmlab.simulate` leaves it to this call (building the frames it
    needs would cost every simulation with limits more than the simulation itself)."""
    if not capacities(record.meta):
        return None
    record.meta["lower_bound"] = bound = lower_bound(record)
    return bound


def summary(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run.

    ``makespan_s`` runs from the first submission to the last finish; ``throughput_tps``
    is completed tasks over the makespan; waits and run times are over attempts that
    started; ``busy_s`` sums their run times and ``utilization`` is ``busy_s`` over
    makespan times the pool's capacity; ``stolen`` counts steals; ``imbalance``,
    ``lower_bound_s`` and ``efficiency`` are those of :func:`quality` (measured basis).
    Runs whose bodies reported values add, after these, the sum of each reported column
    and ``rate_limited`` (:func:`reported_totals`); a run without a column has NaN there.
    """
    rows = []
    extra: dict[str, None] = {}  # reported names in the order first seen
    for rec in records:
        with paused_gc():  # (figures of 1M tasks allocate millions of objects and free none)
            rows.append(_summary_row(rec))
        totals = reported_totals(rec)
        extra.update(dict.fromkeys(totals))
        rows[-1].update(totals)
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *extra])


def _summary_row(rec: RunRecord) -> dict[str, object]:
    """:func:`summary`'s figures of one run, before its reported totals: its counts,
    makespan and throughput are :func:`run_figures`' (the dashboard's and the panel's)."""
    t = rec.columns(_READ)
    figures = run_figures(rec)
    ran = t.dropna(subset=["started_s"])
    q = quality(rec)
    makespan = figures.makespan_s
    busy = float(ran["run_s"].sum())
    slots = float(_pool(rec)["capacity"].sum()) or 1.0
    return {
        "run_id": rec.run_id,
        "clock": rec.meta.get("clock"),
        "mode": rec.meta.get("mode"),
        "algorithm": rec.meta.get("algorithm"),
        "tasks": figures.tasks,
        **figures.ended,
        "attempts": len(ran),
        "stolen": rec.count("stolen"),
        "makespan_s": makespan,
        "throughput_tps": figures.throughput_tps if makespan > 0 else float("nan"),
        "mean_wait_s": float(ran["wait_s"].mean()),
        "p50_wait_s": q["p50_wait_s"],
        "p95_wait_s": q["p95_wait_s"],
        "mean_run_s": float(ran["run_s"].mean()),
        "busy_s": busy,
        "utilization": busy / (makespan * slots) if makespan > 0 else float("nan"),
        "imbalance": q["imbalance"],
        "lower_bound_s": q["lower_bound_s"],
        "efficiency": q["efficiency"],
    }
