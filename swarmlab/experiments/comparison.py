"""compare(): a workload under several scheduling set-ups and modes, run in a fair order
(a warm-up per set-up, then repeats interleaved and shuffled with the seed, a sequential
baseline first and last), summarised with intervals that respect each metric's bounds
and judged by verdicts (:mod:`swarmlab.analysis.stats`)."""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from .. import backends
from ..analysis.figures import RATE_LIMITED, name_bound, quality, reported_totals
from ..analysis.limits import bound_note
from ..analysis.stats import (BETTER, METRIC_INFO, MetricInfo, describe_drift, describe_verdicts, drift, interval,
                              measured, reported_info, verdicts)
from ..errors import ConfigError
from ..model import ExecutionMode, ResourceLimits
from ..scheduling import Policy, SchedulingAlgorithm
from ..store.comparisons import comparison_stamp, is_comparison_id
from ..store.records import RunRecord
from ..workloads.recipes import Workload
from .sequence import AUTO_MIN_REPEATS, Job, Ledger, held_comparison, keyed, make_rounds, make_run
from .setups import SEQUENTIAL, PlannedRun, RunOrder, Setup, setups

__all__ = ["compare", "Comparison", "Setup", "setups", "RunOrder", "PlannedRun", "ci95", "run_metrics", "summarize",
           "per_run_frame", "regressions", "reported_names", "metric_info", "check_better", "METRICS",
           "LOWER_IS_BETTER", "SEQUENTIAL", "AUTO_MIN_REPEATS", "conclude", "execute"]

_log = logging.getLogger("swarmlab")

#: The metrics compared, per run, in every comparison; a comparison whose bodies
#: reported values adds one per reported column and ``rate_limited`` (:func:`metric_info`).
METRICS = tuple(METRIC_INFO)

#: The metrics where less is better (the others: more is better, or neither for ``stolen``).
LOWER_IS_BETTER = frozenset(m for m, i in METRIC_INFO.items() if i.better == "lower")

#: ``repeats="auto"`` stops when these metrics' intervals are narrow enough.
AUTO_METRICS = ("makespan_s", "throughput_tps")


def ci95(values: Sequence[float], bounds: tuple[float | None, float | None] = (None, None)) -> tuple[float, float, float]:
    """Mean and the bounds of its 95 % confidence interval, never outside ``bounds``
    (see :func:`swarmlab.analysis.stats.interval`); with one value the bounds are NaN."""
    i = interval(values, bounds)
    return i.mean, i.low, i.high


@dataclass
class Comparison:
    """The outcome of :func:`compare` (or of an experiment panel).

    ``runs``: every RunRecord. ``per_run``: one row per run, in the order they were made
    (``order``), with its ``role``: ``"warmup"`` (left out of every figure),
    ``"baseline"`` (the sequential run, first and last) or ``"measured"``. ``summary``:
    one row per set-up, mode and metric over the measured runs (long format, numbers
    only: n, mean, sd, ci_low, ci_high, and how the interval was made). ``by``: the
    columns within which set-ups (``label``) are compared. ``meta``: the order's seed,
    the repeats made and why they stopped. ``metric_info``: every metric compared, the
    built-in :data:`METRICS` and the values the bodies reported (:func:`metric_info`).
    """

    runs: list[RunRecord]
    per_run: pd.DataFrame
    summary: pd.DataFrame
    by: tuple[str, ...] = ("mode",)
    label: str = "algorithm"
    meta: dict[str, object] = field(default_factory=dict)
    metric_info: dict[str, MetricInfo] = field(default_factory=lambda: dict(METRIC_INFO))

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric compared: :data:`METRICS`, then the reported ones (sums per run of
        each ``report()`` column, then ``rate_limited``) when the bodies reported any."""
        return tuple(self.metric_info)

    @property
    def reported(self) -> tuple[str, ...]:
        """The metrics that come from what the bodies reported (empty without reports)."""
        return tuple(m for m in self.metric_info if m not in METRIC_INFO)

    @property
    def verdicts(self) -> pd.DataFrame:
        """The best set-up of each mode against each other one, per metric: relative
        difference with its 95 % interval, Welch p-value, Holm-adjusted p-value, verdict
        and the repeats a power calculation asks for (see :func:`swarmlab.analysis.stats.verdicts`)."""
        return self.verdicts_for()

    def verdicts_for(self, against: str = "best", metrics: Sequence[str] | None = None, alpha: float = 0.05,
                     correction: str = "holm") -> pd.DataFrame:
        """:attr:`verdicts` for another family: ``against="pairs"`` (every pair once) or a
        set-up's label (each other one against it), another level or correction."""
        if self.per_run.empty:
            return verdicts(pd.DataFrame(columns=[*self.by, self.label, *self.metrics]), by=self.by, label=self.label,
                            info=self.metric_info)
        return verdicts(self.per_run, by=self.by, label=self.label, metrics=metrics, against=against, alpha=alpha,
                        correction=correction, info=self.metric_info)

    @property
    def drift(self) -> pd.DataFrame:
        """The drift check: the first and last baseline runs of each mode compared."""
        return drift(self.per_run, self.by)

    def report(self, metrics: Sequence[str] | None = None, against: str = "best") -> list[str]:
        """The verdicts on ``metrics`` (by default makespan, which throughput mirrors, and
        every reported metric: :attr:`reported`), the limit that binds every set-up
        (:meth:`bound_note`) when one does, and the drift check, in words, one line each."""
        if metrics is None:
            metrics = ("makespan_s", *(m for m in self.reported if self.metric_info[m].better))
        lines = describe_verdicts(self.verdicts_for(against, metrics), label=self.label, by=self.by,
                                  info=self.metric_info)
        note = self.bound_note()
        real = self.drift
        if "mode" in real.columns:
            real = real[real["mode"] != "simulated"]  # virtual time cannot drift
        return lines + ([note] if note else []) + self._resumed() + describe_drift(real, self.by)

    def _resumed(self) -> list[str]:
        """One line when the comparison was killed and resumed: when, and how many runs were redone."""
        resumed = self.meta.get("resumed") or []
        if not resumed:
            return []
        redone = sum(int(r.get("redone", 0)) for r in resumed)
        times = "; ".join(str(r["utc"]) for r in resumed)
        return [f"resumed: this comparison was killed and resumed {len(resumed)} time{'s' if len(resumed) > 1 else ''}"
                f" ({times}); {redone} run{'' if redone == 1 else 's'} cut by a kill {'was' if redone == 1 else 'were'}"
                " discarded and run again whole; the warm-ups and the sequential baseline ran again after each "
                "restart, so the drift check spans the break"]

    def save(self, folder: str | Path, stamp: str | None = None) -> dict[str, Path]:
        """Write the comparison's files to ``folder`` (created if need be), named by
        ``stamp`` (the UTC time by default): ``compare-STAMP.csv`` (:attr:`summary`),
        ``-runs.csv`` (:attr:`per_run`), ``-verdicts.csv`` (:attr:`verdicts`) and
        ``compare-STAMP.png`` (makespan, throughput and cost when reported), the PNG only
        when matplotlib is installed. Returns their paths by kind (``summary``, ``runs``,
        ``verdicts``, ``png``)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        files = {"summary": out / f"compare-{stamp}.csv", "runs": out / f"compare-{stamp}-runs.csv",
                 "verdicts": out / f"compare-{stamp}-verdicts.csv"}
        self.summary.to_csv(files["summary"], index=False)
        self.per_run.to_csv(files["runs"], index=False)
        self.verdicts.to_csv(files["verdicts"], index=False)
        try:
            import matplotlib  # noqa: F401 (the figure is a matplotlib Figure, drawn without pyplot)
        except ImportError:
            _log.warning("swarmlab: no PNG of the comparison: matplotlib is not installed")
            return files
        from ..analysis.plots import compare_figure

        # an agent swarm's cost beside its makespan: what the comparison is about under a binding limit
        cost = ("cost_usd",) if "cost_usd" in set(self.summary["metric"]) else ()
        fig = compare_figure(self.summary, ("makespan_s", "throughput_tps", *cost))
        fig.savefig(out / f"compare-{stamp}.png", dpi=100, bbox_inches="tight")
        files["png"] = out / f"compare-{stamp}.png"
        return files

    def bound_note(self) -> str | None:
        """One sentence when every measured run is bound by the same limit (a pool, a
        rate or an agent resource: see :func:`swarmlab.analysis.figures.quality`), with
        the figures of the measured runs (their mean lower bound against their mean
        makespan: how much any algorithm could gain), as ``"every set-up is bound by rate
        rpm (120 per 60 s): none can finish under 150 s (...); the runs took 158 s on
        average, of which rpm alone needs 152 s (96%): no schedule can be more than 3.8 %
        faster than the mean run, so the algorithms cannot gain more than that on these runs;
        compare them on cost, not makespan"``; None otherwise (the critical path or the
        work over the agents bind, or the set-ups differ)."""
        m = measured(self.per_run)
        if m.empty or "bound_by" not in m.columns or not self.runs:
            return None
        return bound_note(self.runs[0].meta, m["bound_by"], m["lower_bound_s"], m["makespan_s"])

    def table(self, metric: str = "makespan_s") -> pd.DataFrame:
        """One metric, set-ups by modes: 'mean [ci_low, ci_high]' ('not reported' where
        no run had a value: a reported metric on virtual time)."""
        s = self.summary[self.summary["metric"] == metric]
        if s.empty:
            raise ConfigError(f"metric must be one of {', '.join(self.metrics)}; got {metric!r}")

        def text(r: pd.Series) -> str:
            if r["n"] == 0:  # no run of this set-up had a value: virtual time reports nothing
                return "not reported"
            return f"{r['mean']:.3g}" if r["ci_low"] != r["ci_low"] else \
                f"{r['mean']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"

        cols = [c for c in self.by if c in s.columns]
        return s.assign(text=s.apply(text, axis=1)).pivot_table(index=self.label, columns=cols, values="text",
                                                               aggfunc="first", sort=False)


def run_metrics(rec: RunRecord, *, sequential_s: float | None = None, **labels: object) -> dict[str, object]:
    """One row of :data:`METRICS` for one run, after ``labels`` (algorithm, mode, ...),
    with its ``lower_bound_s`` and what binds it (``bound_by``, see
    :func:`swarmlab.analysis.figures.quality`); a run with limits gets its
    ``meta["lower_bound"]`` (:func:`swarmlab.analysis.figures.name_bound`).

    ``sequential_s``: the makespan of the one-agent sequential baseline, for ``speedup``
    (NaN without it). Every figure comes from the run's recorded attempts and its
    scheduler's metrics (``meta["scheduling_metrics"]``, NaN when absent). A run whose
    bodies reported values adds their sums and ``rate_limited``
    (:func:`swarmlab.analysis.figures.reported_totals`).
    """
    q = quality(rec)
    if "lower_bound" not in rec.meta:
        name_bound(rec)  # a run with limits names the one that binds in its meta
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
        "lower_bound_s": q["lower_bound_s"], "bound_by": q["bound_by"],
        "speedup": sequential_s / span if sequential_s is not None and span > 0 else math.nan,
        "stolen": stolen,
        **reported_totals(rec),
    }


def reported_names(runs: Iterable[RunRecord]) -> list[str]:
    """The reported metrics of ``runs``: every reported column in the order first seen,
    then ``rate_limited``; empty when no run reported anything or was refused."""
    names = dict.fromkeys(n for rec in runs for n in reported_totals(rec))
    if not names:
        return []
    names.pop(RATE_LIMITED, None)
    return [*names, RATE_LIMITED]


def check_better(better: Mapping[str, str] | None) -> dict[str, str]:
    """``better`` checked at the boundary: reported names mapped to ``"lower"`` or
    ``"higher"`` (``{"accuracy": "higher"}``); the built-in metrics and ``rate_limited``
    keep their own direction."""
    if better is None:
        return {}
    if not isinstance(better, Mapping):
        raise ConfigError(f"better must be a dict of reported names to 'lower' or 'higher' "
                          f"(better={{'accuracy': 'higher'}}); got {better!r}")
    for name, way in better.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"better's keys must be names a body reports (report(accuracy=...)); got {name!r}")
        if name in METRIC_INFO or name == RATE_LIMITED:
            raise ConfigError(f"better cannot change the direction of the built-in metric {name!r}; "
                              f"give it names the bodies report")
        if way not in BETTER:
            raise ConfigError(f"better[{name!r}] must be one of {', '.join(map(repr, BETTER))}; got {way!r}")
    return dict(better)


def metric_info(per_run: pd.DataFrame, reported: Sequence[str], better: Mapping[str, str] | None = None
                ) -> dict[str, MetricInfo]:
    """Every metric of a comparison: :data:`METRICS`, then one per ``reported`` name
    (:func:`reported_names`), lower is better unless ``better`` says ``"higher"``,
    bounded below by 0 when no run's value is negative
    (:func:`swarmlab.analysis.stats.reported_info`). A name of ``better`` no run
    reported is logged, not an error: the runs are made by then."""
    better = check_better(better)
    out = dict(METRIC_INFO)
    for name in reported:
        values = per_run[name].dropna() if name in per_run.columns else pd.Series(dtype=float)
        out[name] = reported_info(name, better.get(name, "lower"), bool((values >= 0).all()))
    unused = sorted(set(better) - set(reported))
    if unused:
        _log.warning("compare(better=...) names %s, which no run reported; reported: %s", unused, list(reported))
    return out


def per_run_frame(rows: list[dict[str, object]], by: Sequence[str] = ("mode",),
                  categories: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The per-run frame of ``rows``: ``speedup`` from the mean makespan of each group's
    baseline runs (``role == "baseline"``), ``repeat`` a nullable integer, and the
    columns named in ``categories`` categorical in that order (set-ups and modes as
    planned, whatever order the shuffle ran them in)."""
    df = pd.DataFrame(rows)
    if df.empty or "role" not in df.columns:
        return df
    for col, cats in (categories or {}).items():
        df[col] = pd.Categorical(df[col], categories=list(dict.fromkeys([*cats, *df[col]])))
    base = df[df["role"] == "baseline"].groupby(list(by), sort=False)["makespan_s"].mean()
    if len(base):
        seq = df.set_index(list(by)).index.map(lambda k: base.get(k, math.nan)).to_numpy(dtype=float)
        df["speedup"] = seq / df["makespan_s"].where(df["makespan_s"] > 0)
    df["repeat"] = df["repeat"].astype("Int64")
    return df


def summarize(per_run: pd.DataFrame, by: Sequence[str] = ("algorithm", "mode"),
              info: Mapping[str, MetricInfo] | None = None) -> pd.DataFrame:
    """Long format over the measured runs: one row per group of ``by`` and metric, with
    n (the runs with a value), mean, sd and the 95 % interval of
    :func:`swarmlab.analysis.stats.interval` (within the metric's bounds; ``ci_method`` says how).
    ``info``: the metrics (:data:`METRICS` by default; :func:`metric_info` adds the
    reported ones). A run without a value (NaN: a column its bodies never reported) is
    left out of that metric's mean and interval, not counted as 0; ``n`` says how many
    runs had one."""
    infos = METRIC_INFO if info is None else info
    missing = [c for c in (*by, *infos) if c not in per_run.columns]
    if missing:
        raise ConfigError(f"summarize needs the columns {missing} in per_run; it has {list(per_run.columns)}")
    agg = []
    for key, g in measured(per_run).groupby(list(by), sort=True, observed=True):
        for metric, mi in infos.items():
            values = g[metric].astype(float)
            i = interval(values, mi.bounds)
            ok = values.dropna()
            agg.append({**dict(zip(by, key)), "metric": metric, "n": len(ok), "mean": i.mean,
                        "sd": float(ok.std()) if len(ok) > 1 else math.nan,
                        "ci_low": i.low, "ci_high": i.high, "ci_method": i.method})
    return pd.DataFrame(agg, columns=[*by, "metric", "n", "mean", "sd", "ci_low", "ci_high", "ci_method"])


def regressions(summary: pd.DataFrame, baseline: pd.DataFrame, *, tolerance: float = 0.10,
                metrics: Sequence[str] = ("throughput_tps", "makespan_s"),
                better: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Compare a summary with an earlier one (both as :func:`summarize` gives them, or a
    ``compare-*.csv`` read back): one row per algorithm, mode and metric found in both.

    A row is ``regressed`` when its mean moved the wrong way by more than ``tolerance``
    (a fraction of the baseline's mean) and its 95 % interval lies wholly on the wrong side
    of the baseline's; with a single run on either side (no interval) the tolerance alone
    decides. ``change`` is the relative change of the mean, signed as measured.
    ``metrics`` may name reported metrics both summaries have (``"cost_usd"``): lower is
    better for them unless ``better`` says ``"higher"``, as in :func:`compare`.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigError(f"tolerance must be a fraction >= 0 (0.10 = 10 %); got {tolerance!r}")
    ways = check_better(better)
    found = [m for m in dict.fromkeys(summary["metric"].astype(str)) if m not in METRICS] \
        if "metric" in summary.columns else []
    unknown = [m for m in metrics if m not in METRICS and m not in found]
    if unknown or not metrics:
        raise ConfigError(f"metrics must be among {', '.join([*METRICS, *found])}; got {list(metrics)!r}")
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
    reported_lower = [m for m in found if ways.get(m, "lower") == "lower"]
    lower = both["metric"].isin(LOWER_IS_BETTER | set(reported_lower))
    change = (both["mean"] - both["mean_base"]) / both["mean_base"]
    worse = change.where(lower, -change)  # > 0: moved the wrong way
    apart = (both["ci_low"] > both["ci_high_base"]).where(lower, both["ci_high"] < both["ci_low_base"])
    no_ci = both[["ci_low", "ci_high", "ci_low_base", "ci_high_base"]].isna().any(axis=1)
    out = both.rename(columns={"mean_base": "base_mean", "ci_low_base": "base_ci_low", "ci_high_base": "base_ci_high"})
    out["change"] = change
    out["regressed"] = (worse > tolerance) & (apart | no_ci)
    return out[[*keys, "base_mean", "base_ci_low", "base_ci_high", "mean", "ci_low", "ci_high", "change",
                "regressed"]].reset_index(drop=True)


def _check_auto(repeats: object, rel_width: float, budget_s: float | None, max_repeats: int) -> None:
    if repeats == "auto":
        if isinstance(rel_width, bool) or not isinstance(rel_width, (int, float)) or not rel_width > 0:
            raise ConfigError(f"rel_width must be a fraction > 0 (0.10: intervals 10 % of the mean wide); got {rel_width!r}")
        if budget_s is not None and (isinstance(budget_s, bool) or not isinstance(budget_s, (int, float))
                                     or not budget_s >= 0):
            raise ConfigError(f"budget_s must be None or seconds >= 0; got {budget_s!r}")
        if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or max_repeats < AUTO_MIN_REPEATS:
            raise ConfigError(f"max_repeats must be an int >= {AUTO_MIN_REPEATS}; got {max_repeats!r}")
    elif isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive int or 'auto'; got {repeats!r}")


def _precise(rows: list[dict[str, object]], rel_width: float) -> bool:
    s = summarize(pd.DataFrame(rows), by=("algorithm", "mode"))
    s = s[s["metric"].isin(AUTO_METRICS)]
    width = (s["ci_high"] - s["ci_low"]) / s["mean"].abs()
    return bool(len(width)) and bool((width <= rel_width).all())


def compare(workload: Workload, algorithms: Sequence[str | SchedulingAlgorithm | Policy] | None = None,
            modes: Sequence[str | ExecutionMode] = ("hybrid",), limits: ResourceLimits | None = None,
            repeats: int | str = 3, simulate: bool = False, baseline: bool = True, seed: int = 0,
            store=None, progress: bool = False, dask_address: str | None = None,
            add_stealing: bool = False, warmup: bool = True, rel_width: float = 0.10,
            budget_s: float | None = 600.0, max_repeats: int = 30,
            better: Mapping[str, str] | None = None, out: str | Path | None = None,
            comparison_id: str | None = None) -> Comparison:
    """Run ``workload`` under every set-up and mode, ``repeats`` times each, in a fair order.

    ``algorithms``: names (the seven built-in ones by default), enums, registered names,
    ``"module:Class"`` or :class:`~swarmlab.Policy` objects. Each runs as itself: only
    work_stealing steals. ``add_stealing`` adds, for each algorithm that does not steal
    by itself, a set-up with work stealing on, labelled ``"<name>+stealing"``; the
    frames' ``stealing`` column and the ``stolen`` metric say, per set-up, whether
    stealing was on and how many tasks were stolen.

    The order is :class:`RunOrder`'s: with ``warmup``, one warm-up run per set-up and
    real mode first (kept in ``runs`` and ``per_run`` as ``role="warmup"``, left out of
    every figure); then round after round of every set-up and mode once, shuffled with
    ``seed`` (the order is the ``order`` column). ``baseline`` runs the workload on one
    agent holding every capability and the union of the agents' resources (units summed
    per name), one task at a time, before the first round and after
    the last: ``speedup`` = their mean makespan / the run's, and :attr:`Comparison.drift`
    compares the two.

    ``repeats="auto"`` makes rounds until every set-up's makespan and throughput
    intervals are narrower than ``rel_width`` of their mean, at least
    :data:`AUTO_MIN_REPEATS` rounds and at most ``max_repeats``; no round is started
    that the last one's duration says would end past ``budget_s`` seconds. ``meta``
    says how many were made and why they stopped.

    ``simulate=True`` adds a virtual-time run per set-up and repeat (mode ``simulated``).
    ``store`` (a RunStore) journals every measured real run while it runs and saves each
    as it ends, the baseline's too (warm-ups are not kept there); before the first run,
    the comparison writes its plan there under ``comparison_id`` (by default a fresh
    ``cmp-...`` id, in ``meta["comparison_id"]``), so that a killed comparison is finished
    by ``swarmlab.resume("cmp-...", store)`` (``RunStore.comparisons()`` lists them).
    ``out``: a folder the outputs are written to (:meth:`Comparison.save`; their paths
    in ``meta["files"]``), again by a resume.
    ``progress`` shows a tqdm bar over the runs. ``modes`` are ExecutionModes or mode
    names of :func:`swarmlab.backends.names`: the built-in ones and every backend
    registered with :func:`swarmlab.backends.register`. Mode ``"dask"`` runs the bodies
    on the Dask cluster at ``dask_address`` (None: an embedded LocalCluster per run, slow
    to start: pass a cluster's address to compare many runs).

    Values the bodies report (``swarmlab.report(tokens=..., cost_usd=...)``, and
    swarmlab's own ``limit_wait_s`` and ``n_rate_limited``) are metrics too: their sums
    per run, and ``rate_limited`` (attempts refused by the provider plus calls retried
    inside ``swarmlab.call``), join the summary and the verdicts (:func:`metric_info`).
    Each is lower-is-better unless ``better`` says otherwise: ``better={"accuracy":
    "higher"}``.
    """
    if not isinstance(workload, Workload):
        raise ConfigError(f"compare takes a Workload (swarmlab.workloads.mixed(...), say); got {workload!r}")
    check_better(better)
    _check_auto(repeats, rel_width, budget_s, max_repeats)
    plan = setups(algorithms, add_stealing)
    real = [getattr(m, "value", m) for m in modes]
    known = backends.names()  # the built-in modes and every backend registered
    for m in real:
        if m not in known:
            raise ConfigError(f"modes must be among {', '.join(map(repr, known))}; got {m!r}")
    if dask_address is not None and "dask" not in real:
        raise ConfigError("dask_address only applies to mode 'dask'; add it to modes")
    if not real and not simulate:
        raise ConfigError("nothing to run: give modes, or simulate=True for virtual time")
    if comparison_id is not None and (store is None or not is_comparison_id(comparison_id)):
        raise ConfigError(f"comparison_id names a comparison in a store: give store= and an id starting with 'cmp-' "
                          f"(or None for a fresh one); got {comparison_id!r}")
    full = workload.limits_with(  # the workload's pools and rates (a provider's) under the user's own, by name
        limits or ResourceLimits(max_queue_size=max(1000, workload.n), max_cpu_percent=None, max_memory_mb=None))
    specs = None if algorithms is None else [s.spec for s in setups(algorithms)]
    job = Job(workload, plan, real, simulate, full, limits, repeats, seed, warmup, baseline, rel_width, budget_s,
              max_repeats, better, dask_address, add_stealing, specs)
    if store is None:
        return execute(job, Ledger(), progress=progress, out=out)
    with held_comparison(job, store, None if out is None else str(out), comparison_id) as ledger:
        return execute(job, ledger, store=store, progress=progress, out=out)


def execute(job: Job, ledger: Ledger, *, store=None, progress: bool = False, out: str | Path | None = None,
            kept: Sequence[tuple[dict[str, object], RunRecord]] = (), restart: bool = False) -> Comparison:
    """Make the runs of ``job`` that are not done yet, in its fair order, and sum them up.

    ``kept``: the runs a killed comparison had completed, each with its progress line (its
    key and labels), loaded from the store. ``restart``: the comparison was killed and is
    resumed: a fresh process is cold, so the warm-ups run again once per set-up and mode,
    and so does the sequential baseline (as the first baseline when the kill came before
    it ended, else as one more), so the drift check spans the break. With ``out``, the
    outputs are written there (:meth:`Comparison.save`) and the comparison is marked
    complete in the store."""
    order = job.order()
    runs: list[RunRecord] = [rec for _, rec in kept]
    rows: list[dict[str, object]] = [run_metrics(rec, **{c: line[c] for c in _LABELS}) for line, rec in kept]
    done = {str(line["key"]) for line, _ in kept}
    stopped = next((line for line in ledger.progress if line["event"] == "stopped"), None) if ledger.folder else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        rounds = job.max_repeats if job.repeats == "auto" else job.repeats  # auto: at most; set at the end
        warm = len(job.setups) * len(job.modes) if job.warmup else 0
        total = warm + len(job.setups) * len(order.modes) * rounds + (2 * len(order.modes) if job.baseline else 0)
        again = (warm + (len(order.modes) if job.baseline else 0)) if restart else 0  # warmed up, baseline again
        bar = tqdm(total=max(total - len(kept), 0) + again, desc=f"compare {job.workload.name}", unit="run")
    t0 = time.monotonic() - ledger.elapsed_s

    def make(items: list[tuple[str, PlannedRun]], redo: bool = False) -> None:
        for key, item in items:
            if key in done and not redo:
                continue
            if bar is not None:
                bar.set_postfix_str(f"{item.setup.label} {item.mode} {item.role}")
            k = ledger.start(key, item)
            item = PlannedRun(k, item.role, item.setup, item.mode, item.repeat)
            rec = make_run(job.workload, order, item, job.limits, job.seed + (item.repeat or 0), store,
                           job.dask_address, **({"comparison": ledger.id, "planned": key} if ledger.id else {}))
            runs.append(rec)
            row = run_metrics(rec, order=k, role=item.role, algorithm=item.setup.label, stealing=item.setup.stealing,
                              mode=item.mode, repeat=item.repeat)
            rows.append(row)
            done.add(key)
            ledger.made(key, item, rec, row, time.monotonic() - t0, store)
            if bar is not None:
                bar.update(1)

    try:
        opening = keyed(order.opening(), "first")
        if restart:
            make([(k, i) for k, i in opening if i.role == "warmup"], redo=True)
            n = sum(line["event"] == "resumed" for line in ledger.progress)
            make([(k if k not in done else f"{k.rpartition('/')[0]}/restart-{n}", i)
                  for k, i in opening if i.role == "baseline"])
        make(opening)
        made, why = make_rounds(job, ledger, order, make, lambda: _precise([r for r in rows if r["role"] == "measured"],
                                                                       job.rel_width), stopped, t0)
        make(keyed(order.closing(), "last"))
        if bar is not None:
            bar.total = bar.n
    finally:  # also on Ctrl-C: the bar is closed before anyone prints after it
        if bar is not None:
            bar.close()
    return conclude(job, ledger, runs, rows, made, why, out)


def conclude(job: Job, ledger: Ledger, runs: list[RunRecord], rows: list[dict[str, object]], made: int, why: str,
             out: str | Path | None = None) -> Comparison:
    """The comparison of ``job`` once every run is made: ``runs`` and their ``rows``
    (:func:`run_metrics` with the labels of a progress line) summed up, its outputs
    written to ``out`` (:meth:`Comparison.save`, named by the comparison id's stamp, so
    a resume writes the same files) and the comparison marked complete in the store.
    :func:`execute` ends here, and so does a suite of the experiment panel that saves as
    it runs."""
    rows = sorted(rows, key=lambda r: r["order"])
    order = job.order()
    per_run = per_run_frame(rows, by=("mode",), categories={
        "algorithm": [s.label for s in job.setups] + ([SEQUENTIAL] if job.baseline else []), "mode": order.modes})
    runs = sorted(runs, key=lambda r: r.meta.get("order", 0))
    meta = {"seed": job.seed, "repeats": made, "stopped": why, "warmup": job.warmup, "baseline": job.baseline}
    if ledger.id:
        meta["comparison_id"] = ledger.id
        resumed = [line for line in ledger.progress if line["event"] == "resumed"]
        if resumed:
            meta["resumed"] = [{"utc": line["utc"], "redone": line.get("redone", 0)} for line in resumed]
    info = metric_info(per_run, reported_names(runs), job.better)
    result = Comparison(runs, per_run, summarize(per_run, by=("algorithm", "stealing", "mode"), info=info), ("mode",),
                        "algorithm", meta, info)
    if out is not None:
        stamp = comparison_stamp(ledger.id) if ledger.id else None  # a resume writes the same files
        result.meta["files"] = {k: str(v) for k, v in result.save(out, stamp).items()}
    ledger.note("complete", files=result.meta.get("files"))
    return result


#: The labels of a run's row in ``per_run`` that its progress line keeps.
_LABELS = ("order", "role", "algorithm", "stealing", "mode", "repeat")
