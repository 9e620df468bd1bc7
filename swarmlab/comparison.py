"""compare(): a workload under several algorithms and modes, repeated, with confidence
intervals and a one-agent sequential baseline."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .analysis import quality
from .errors import ConfigError
from .executor import ParallelExecutor
from .model import Agent, ExecutionMode, ResourceLimits
from .portal import run
from .records import RunRecord
from .runinfo import describe_agents
from .scheduling import Policy, SchedulingAlgorithm, TaskScheduler, policy_names, resolve_policy
from .simulation import simulate
from .workloads import Workload, pool_capabilities

__all__ = ["compare", "Comparison", "Setup", "setups", "ci95", "run_metrics", "summarize", "regressions", "METRICS", "LOWER_IS_BETTER"]

#: The metrics compared, per run.
METRICS = ("makespan_s", "throughput_tps", "p50_wait_s", "p95_wait_s", "load_balance_score",
           "capability_match_score", "efficiency", "speedup", "stolen")

#: The metrics where less is better (the others: more is better).
LOWER_IS_BETTER = frozenset({"makespan_s", "p50_wait_s", "p95_wait_s"})

# Student's t, 97.5th percentile, by degrees of freedom (beyond 30: the normal's 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the bounds of its 95 % confidence interval (Student's t); with one
    value the bounds are NaN."""
    xs = [float(v) for v in values if v == v]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(xs) / n
    if n == 1:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


@dataclass
class Comparison:
    """``runs``: every RunRecord; ``per_run``: one row of metrics per run; ``summary``:
    one row per algorithm, mode and metric with n, mean, ci_low, ci_high and the raw
    values (long format, one ``concat`` away from other comparisons)."""

    runs: list[RunRecord]
    per_run: pd.DataFrame
    summary: pd.DataFrame

    def table(self, metric: str = "makespan_s") -> pd.DataFrame:
        """One metric, algorithms by modes: 'mean [ci_low, ci_high]'."""
        s = self.summary[self.summary["metric"] == metric]
        if s.empty:
            raise ConfigError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
        text = s.apply(lambda r: f"{r['mean']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]", axis=1)
        return s.assign(text=text).pivot(index="algorithm", columns="mode", values="text")


def run_metrics(rec: RunRecord, *, sequential_s: float | None = None, **labels: object) -> dict[str, object]:
    """One row of :data:`METRICS` for one run, after ``labels`` (algorithm, mode, ...).

    ``sequential_s``: the makespan of the one-agent sequential baseline, for ``speedup``
    (NaN without it). Every figure comes from the run's recorded attempts and its
    scheduler's metrics (``meta["scheduling_metrics"]``, NaN when absent).
    """
    q = quality(rec)
    sm = rec.meta.get("scheduling_metrics", {})
    done = int((rec.final()["status"] == "completed").sum())
    span = q["makespan_s"]
    ev = rec.events
    steals = ev["event"] == "stolen"
    stolen = int(ev.loc[steals, "count"].sum()) if "count" in ev.columns else int(steals.sum())
    return {
        "run_id": rec.run_id, **labels,
        "makespan_s": span,
        "throughput_tps": done / span if span > 0 else math.nan,
        "p50_wait_s": q["p50_wait_s"], "p95_wait_s": q["p95_wait_s"],
        "load_balance_score": sm.get("load_balance_score", math.nan),
        "capability_match_score": sm.get("capability_match_score", math.nan),
        "efficiency": q["efficiency"],
        "speedup": sequential_s / span if sequential_s is not None and span > 0 else math.nan,
        "stolen": stolen,
    }


def summarize(per_run: pd.DataFrame, by: Sequence[str] = ("algorithm", "mode")) -> pd.DataFrame:
    """Long format: one row per group of ``by`` and metric, with n, mean, the 95 % CI
    bounds and the raw values (in run order)."""
    missing = [c for c in (*by, *METRICS) if c not in per_run.columns]
    if missing:
        raise ConfigError(f"summarize needs the columns {missing} in per_run; it has {list(per_run.columns)}")
    agg = []
    for key, g in per_run.groupby(list(by), sort=False):
        for metric in METRICS:
            mean, lo, hi = ci95(g[metric])
            agg.append({**dict(zip(by, key)), "metric": metric, "n": len(g), "mean": mean,
                        "ci_low": lo, "ci_high": hi, "values": g[metric].tolist()})
    return pd.DataFrame(agg, columns=[*by, "metric", "n", "mean", "ci_low", "ci_high", "values"])


def regressions(summary: pd.DataFrame, baseline: pd.DataFrame, *, tolerance: float = 0.10,
                metrics: Sequence[str] = ("throughput_tps", "makespan_s")) -> pd.DataFrame:
    """Compare a summary with an earlier one (both as :func:`summarize` gives them, or a
    ``compare-*.csv`` read back): one row per algorithm, mode and metric found in both.

    A row is ``regressed`` when its mean moved the wrong way by more than ``tolerance``
    (a fraction of the baseline's mean) and its 95 % interval lies wholly on the wrong side
    of the baseline's; with a single run on either side (no interval) the tolerance alone
    decides. ``change`` is the relative change of the mean, signed as measured.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigError(f"tolerance must be a fraction >= 0 (0.10 = 10 %); got {tolerance!r}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"metrics must be among {', '.join(METRICS)}; got {list(metrics)!r}")
    need = ["algorithm", "mode", "metric", "mean", "ci_low", "ci_high"]
    for name, frame in (("summary", summary), ("baseline", baseline)):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ConfigError(f"the {name} lacks the columns {missing}; give a compare summary "
                              f"(Comparison.summary or a compare-*.csv); it has {list(frame.columns)}")
    keys = ["algorithm", "mode", "metric"]
    both = summary[summary["metric"].isin(metrics)][need].merge(
        baseline[need], on=keys, suffixes=("", "_base"))
    if both.empty:
        raise ConfigError("the summary and the baseline share no algorithm, mode and metric; compare "
                          "like with like (the same algorithms and modes)")
    lower = both["metric"].isin(LOWER_IS_BETTER)
    change = (both["mean"] - both["mean_base"]) / both["mean_base"]
    worse = change.where(lower, -change)  # > 0: moved the wrong way
    apart = (both["ci_low"] > both["ci_high_base"]).where(lower, both["ci_high"] < both["ci_low_base"])
    no_ci = both[["ci_low", "ci_high", "ci_low_base", "ci_high_base"]].isna().any(axis=1)
    out = both.rename(columns={"mean_base": "base_mean", "ci_low_base": "base_ci_low", "ci_high_base": "base_ci_high"})
    out["change"] = change
    out["regressed"] = (worse > tolerance) & (apart | no_ci)
    return out[[*keys, "base_mean", "base_ci_low", "base_ci_high", "mean", "ci_low", "ci_high", "change",
                "regressed"]].reset_index(drop=True)


async def _real(workload: Workload, mode: str, agents: list[Agent], scheduler, limits: ResourceLimits,
                seed: int, journal, spec, dask_address: str | None) -> RunRecord:
    tasks = workload.tasks("async" if mode == "asyncio" else "sync")
    dask = {"dask_address": dask_address} if mode == "dask" else {}
    async with ParallelExecutor(mode=mode, limits=limits, agents=agents, scheduler=scheduler, seed=seed,
                                journal=journal, spec=spec, **dask) as ex:
        await ex.submit_batch(tasks)
    return ex.record()


def _one(workload: Workload, mode: str, agents: list[Agent], setup: Setup, limits: ResourceLimits,
         seed: int, store=None, dask_address: str | None = None) -> RunRecord:
    sched = setup.scheduler()
    if mode == "simulated":
        rec = simulate(workload.tasks(), agents, scheduler=sched, limits=limits, seed=seed)
    else:
        spec = {"kind": "workload", "name": workload.name, "n": workload.n, "seed": workload.seed,
                "algorithm": setup.spec, "stealing": setup.stealing, "mode": mode,
                "limits": dataclasses.asdict(limits), "agents": describe_agents(agents), "run_seed": seed}
        journal = store.path if store is not None else None
        rec = run(_real(workload, mode, agents, sched, limits, seed, journal, spec, dask_address))
    rec.meta.update(workload=workload.name, workload_n=workload.n, workload_seed=workload.seed, setup=setup.label)
    return rec


@dataclass(frozen=True)
class Setup:
    """One scheduling set-up of a comparison: a policy, as itself or with stealing added.
    ``label`` names it in every frame (``"least_loaded+stealing"``); ``spec`` is what
    rebuilds the policy (a registered name or ``"module:Class"``)."""

    label: str
    spec: str
    policy: Policy
    stealing: bool

    def scheduler(self) -> TaskScheduler:
        return TaskScheduler(self.policy, enable_work_stealing=self.stealing or None)


def setups(algorithms: Sequence[object] | None = None, add_stealing: bool = False) -> list[Setup]:
    """The set-ups ``compare`` runs: each algorithm as itself and, with ``add_stealing``,
    each that does not steal by itself again with work stealing on."""
    if algorithms is not None and (isinstance(algorithms, (str, bytes)) or not len(algorithms)):
        raise ConfigError(f"algorithms must be a non-empty list of names or policies; got {algorithms!r} "
                          f"(registered: {', '.join(policy_names())})")
    out = []
    for a in (algorithms if algorithms is not None else list(SchedulingAlgorithm)):
        policy = resolve_policy(a)
        spec = getattr(a, "value", a) if isinstance(getattr(a, "value", a), str) else policy.name
        steals = policy.stealing is not None
        out.append(Setup(policy.name, spec, policy, steals))
        if add_stealing and not steals:
            out.append(Setup(f"{policy.name}+stealing", spec, policy, True))
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two set-ups share a name: {labels}; give each policy its own name")
    return out


def compare(workload: Workload, algorithms: Sequence[str | SchedulingAlgorithm | Policy] | None = None,
            modes: Sequence[str | ExecutionMode] = ("hybrid",), limits: ResourceLimits | None = None,
            repeats: int = 3, simulate: bool = False, baseline: bool = True, seed: int = 0,
            store=None, progress: bool = False, dask_address: str | None = None,
            add_stealing: bool = False) -> Comparison:
    """Run ``workload`` under every algorithm and mode, ``repeats`` times each.

    ``algorithms``: names (the seven built-in ones by default), enums, registered names,
    ``"module:Class"`` or :class:`~swarmlab.Policy` objects. Each runs as itself: only
    work_stealing steals. ``add_stealing`` adds, for each algorithm that does not steal
    by itself, a set-up with work stealing on, labelled ``"<name>+stealing"``; the
    frames' ``stealing`` column and the ``stolen`` metric say, per set-up, whether
    stealing was on and how many tasks were stolen.

    ``simulate=True`` adds a virtual-time run per algorithm and repeat (mode
    ``simulated``). ``baseline`` runs the workload once per mode on one agent holding
    every capability, one task at a time; ``speedup`` = that makespan / the run's.
    ``store`` (a RunStore) journals every real run from its first task, the baseline
    included (so a killed compare leaves runs that :func:`swarmlab.resume` finishes),
    and saves each as it ends.
    ``progress`` shows a tqdm bar over the runs. Mode ``"dask"`` runs the bodies on the
    Dask cluster at ``dask_address`` (None: an embedded LocalCluster per run, slow to
    start: pass a cluster's address to compare many runs).
    """
    if not isinstance(workload, Workload):
        raise ConfigError(f"compare takes a Workload (swarmlab.workloads.mixed(...), say); got {workload!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive int; got {repeats!r}")
    plan = setups(algorithms, add_stealing)
    real = [getattr(m, "value", m) for m in modes]
    for m in real:
        if m not in ("thread", "process", "asyncio", "hybrid", "dask"):
            raise ConfigError(f"modes must be among 'thread', 'process', 'asyncio', 'hybrid', 'dask'; got {m!r}")
    if dask_address is not None and "dask" not in real:
        raise ConfigError("dask_address only applies to mode 'dask'; add it to modes")
    limits = limits or ResourceLimits(max_queue_size=max(1000, workload.n), max_cpu_percent=None, max_memory_mb=None)
    modes_all = real + (["simulated"] if simulate else [])
    runs, rows = [], []
    seq: dict[str, float] = {}
    total = len(plan) * len(modes_all) * repeats + (len(modes_all) if baseline else 0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"compare {workload.name}", unit="run")
    if baseline:
        solo = [Agent("sequential", capabilities=pool_capabilities(workload.agents))]
        one = dataclasses.replace(limits, max_concurrent_tasks=1)
        for mode in modes_all:  # journaled like every run: a compare killed here can be resumed
            rec = _one(workload, mode, solo, setups(["round_robin"])[0], one, seed, store, dask_address)
            rec.meta["baseline"] = "sequential"
            runs.append(rec)
            if bar is not None:
                bar.update(1)
            if store is not None:
                store.save(rec)
            seq[mode] = quality(rec)["makespan_s"]
    for setup in plan:
        for mode in modes_all:
            for r in range(repeats):
                rec = _one(workload, mode, list(workload.agents), setup, limits, seed + r, store, dask_address)
                rec.meta["repeat"] = r
                runs.append(rec)
                if bar is not None:
                    bar.update(1)
                if store is not None:
                    store.save(rec)
                rows.append(run_metrics(rec, algorithm=setup.label, stealing=setup.stealing, mode=mode, repeat=r,
                                        sequential_s=seq.get(mode)))
    if bar is not None:
        bar.close()
    per_run = pd.DataFrame(rows)
    return Comparison(runs, per_run, summarize(per_run, by=("algorithm", "stealing", "mode")))
