"""Plots: ``f(frame, *, ax=None, ...) -> Axes``, from a run's frames only, never the engine.

Each takes the frames of a RunRecord (``tasks``, ``events``, ``resources``) or a
comparison summary, draws on ``ax`` (a new figure when None) and returns the Axes.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..model import TERMINAL_STATES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..model import ResourceLimits
    from .stats import MetricInfo

__all__ = ["gantt", "busy_share", "throughput", "utilization", "queue_length", "resources", "compare", "load_balance",
           "compare_figure", "metric_by_setup", "bin_width", "GANTT_COLORS", "STATUS_COLORS", "GANTT_MAX_BARS",
           "GANTT_MAX_LABELS", "THROUGHPUT_BINS"]

#: One colour per task status.
STATUS_COLORS = {
    "completed": "#4c9a2a", "failed": "#c0392b", "timed_out": "#e67e22", "cancelled": "#7f8c8d",
    "upstream_failed": "#8e44ad",
}
#: What a Gantt chart's bars may be coloured by besides a column the bodies reported.
GANTT_COLORS = ("status", "priority", "capability")
#: Above this many attempts a Gantt chart shows each agent's busy share per time bin
#: instead of bars: tens of thousands of bars are neither readable nor quick to draw.
GANTT_MAX_BARS = 5000
#: Up to this many bars per chart, :func:`compare_figure` puts its charts side by side;
#: past it, one above the other, so that no chart is squeezed below readable.
SIDE_BY_SIDE_BARS = 8
#: At most this many lanes are named on a Gantt chart's axis (every lane is drawn): a
#: thousand labels are unreadable and took seconds to lay out.
GANTT_MAX_LABELS = 40
#: At most this many entries side by side in the resources plot's legend above the axes:
#: cpu, gpu, rss and the two limits fit one row of a 9-inch figure.
LEGEND_COLUMNS = 5


def _ax(ax: Axes | None, size: tuple[float, float] = (9, 4)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)[1]


def _need(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ConfigError(f"{what} needs a frame with columns {list(cols)}; {missing} are missing "
                          f"(pass record.{'events' if 'event' in cols else 'tasks'})")


def natural(name: str) -> list:
    """A sort key that orders the numbers in names by value: agent-2 before agent-10,
    local/9 before local/10 (text order puts 10-15 between 1 and 2)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def gantt(tasks: pd.DataFrame, *, ax: Axes | None = None, color_by: str = "status",
          max_bars: int = GANTT_MAX_BARS, bins: int = 200) -> Axes:
    """One lane per agent, one bar per attempt that started (gaps are idle time).

    ``color_by``: "status", "priority", "capability" (the first required one) or any
    column the bodies reported (``"tokens"``, ``"cost_usd"``: what each attempt
    reported, on a colour scale with its bar; attempts that reported none are grey).
    Past ``max_bars`` attempts, each lane shows the agent's busy share per time bin.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from .figures import reported_columns

    _need(tasks, ("agent_id", "started_s", "finished_s", "status"), "gantt")
    reported = reported_columns(tasks)
    if color_by not in GANTT_COLORS and color_by not in reported:
        allowed = ", ".join(map(repr, (*GANTT_COLORS, *reported)))
        raise ConfigError(f"color_by must be one of {allowed} (the last ones reported by the bodies); "
                          f"got {color_by!r}")
    ran = tasks.dropna(subset=["started_s"])
    agents = sorted(ran["agent_id"].astype(str).unique(), key=natural)
    lane = {a: i for i, a in enumerate(agents)}
    ax = _ax(ax, (10, min(12.0, max(2.5, 0.3 * len(agents) + 1))))
    if len(ran) > max_bars:
        t0, t1 = float(ran["started_s"].min()), float(ran["finished_s"].max())
        edges = np.linspace(t0, t1 if t1 > t0 else t0 + 1, bins + 1)
        lanes = ran["agent_id"].astype(str).map(lane).to_numpy()
        busy = busy_share(lanes, ran["started_s"].to_numpy(float), ran["finished_s"].to_numpy(float), edges,
                          len(agents))
        mesh = ax.pcolormesh(edges, np.arange(len(agents) + 1) - 0.5, busy, cmap="Greens", vmin=0, shading="flat")
        ax.figure.colorbar(mesh, ax=ax, label="busy share of the bin")
    else:
        if color_by == "status":
            colors = ran["status"].astype(str).map(STATUS_COLORS).fillna("#34495e")
        elif color_by == "priority":
            colors = [plt.cm.viridis((p - 1) / 9) for p in ran["priority"]]
        elif color_by == "capability":
            caps = ran["requires"].map(lambda r: r[0] if len(r) else "-")
            names = sorted(caps.unique())
            colors = [plt.cm.tab10(names.index(c) % 10) for c in caps]
        else:
            values = ran[color_by].astype(float)
            scale = plt.Normalize(float(values.min()), float(values.max())) if values.notna().any() \
                else plt.Normalize(0.0, 1.0)
            colors = [plt.cm.viridis(scale(v)) if v == v else "#bdc3c7" for v in values]  # grey: none reported
            ax.figure.colorbar(plt.cm.ScalarMappable(norm=scale, cmap="viridis"), ax=ax,
                               label=f"{color_by} per attempt")
        ax.barh([lane[a] for a in ran["agent_id"].astype(str)], ran["finished_s"] - ran["started_s"],
                left=ran["started_s"], height=0.8, color=list(colors), edgecolor="white", linewidth=0.4)
        if color_by == "status":
            from matplotlib.patches import Patch

            present = [s for s in STATUS_COLORS if s in set(ran["status"].astype(str))]
            ax.legend(handles=[Patch(color=STATUS_COLORS[s], label=s) for s in present], loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small")  # outside: over no bar
    shown = range(0, len(agents), -(-len(agents) // GANTT_MAX_LABELS))  # every lane drawn, some named
    ax.set_yticks(list(shown), [agents[i] for i in shown])
    ax.set_ylim(-0.6, len(agents) - 0.4)
    ax.set_xlabel("t_s (seconds since the run started)")
    ax.set_title("attempts per agent" if len(ran) <= max_bars else "busy share per agent")
    return ax


def busy_share(lanes, starts, finishes, edges, n_lanes: int):
    """``busy[lane, bin]``: the time attempts of each lane ran within each bin of ``edges``,
    over the bin's width (above 1 when several ran at once).

    Vectorised: a lane's busy time up to ``t`` is the sum over attempts started before
    ``t`` of ``t - start``, less the same sum over attempts finished before ``t``; with
    each lane's starts and finishes sorted, both come from cumulative sums at every edge.
    """
    import numpy as np

    lanes, starts, finishes, edges = (np.asarray(x) for x in (lanes, starts, finishes, edges))
    busy = np.zeros((n_lanes, len(edges) - 1))
    order = np.argsort(lanes, kind="stable")
    bounds = np.searchsorted(lanes[order], np.arange(n_lanes + 1))
    for i in range(n_lanes):
        rows = order[bounds[i]:bounds[i + 1]]
        if not len(rows):
            continue
        up_to = np.zeros(len(edges))
        for times, sign in ((starts[rows], 1.0), (finishes[rows], -1.0)):
            times = np.sort(times)
            k = np.searchsorted(times, edges, "left")  # how many are before each edge
            sums = np.concatenate(([0.0], np.cumsum(times)))
            up_to += sign * (k * edges - sums[k])
        busy[i] = np.diff(up_to) / np.diff(edges)
    return busy


#: Bins a throughput chart aims at over a run: enough to show its shape, few enough that
#: each holds many tasks (bins of a few ms make a jagged comb of 0s and spikes).
THROUGHPUT_BINS = 30


def bin_width(span_s: float, bins: int = THROUGHPUT_BINS) -> float:
    """A round bin width (1, 2 or 5 times a power of ten) giving about ``bins`` bins over
    ``span_s`` seconds: the width a reader can read off the axis."""
    import math

    raw = max(span_s, 1e-9) / bins
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def throughput(tasks: pd.DataFrame, *, ax: Axes | None = None, bins: int = 50, bin_s: float | None = None,
               until_s: float | None = None) -> Axes:
    """Completed tasks per second over time (by finish time), in ``bins`` bins from the
    first submission to the last finish, or in bins ``bin_s`` seconds wide (see
    :func:`bin_width`) up to ``until_s`` (default the last finish)."""
    import numpy as np

    _need(tasks, ("status", "finished_s"), "throughput")
    done = tasks.loc[tasks["status"] == "completed", "finished_s"].to_numpy(dtype=float)
    ax = _ax(ax)
    if len(done):
        start = float(tasks["submitted_s"].min()) if "submitted_s" in tasks else 0.0
        end = max(done.max(), until_s or 0.0)
        if bin_s is not None:
            edges = start + bin_s * np.arange(max(1, int(np.ceil((end - start) / bin_s))) + 1)
        else:
            edges = np.linspace(start, end if end > start else start + 1, bins + 1)
        counts, _ = np.histogram(done, edges)
        ax.step(edges[:-1], counts / np.diff(edges), where="post", label="completed per second")
        ax.set_ylim(bottom=0)  # a rate read against zero, not against its own lowest bin
    ax.set_xlabel("t_s")
    ax.set_ylabel("tasks/s")
    ax.set_title("throughput")
    return ax


def utilization(tasks: pd.DataFrame, *, ax: Axes | None = None, capacity: dict[str, int] | None = None) -> Axes:
    """Each agent's busy time over the run's makespan (divided by its ``capacity``, 1 by
    default), as bars."""
    _need(tasks, ("agent_id", "run_s", "submitted_s", "finished_s"), "utilization")
    makespan = float(tasks["finished_s"].max() - tasks["submitted_s"].min())
    busy = tasks.dropna(subset=["started_s"]).groupby(tasks["agent_id"].astype(str))["run_s"].sum().sort_index()
    cap = busy.index.map(lambda a: (capacity or {}).get(a, 1))
    share = busy / (makespan * cap) if makespan > 0 else busy * 0
    ax = _ax(ax)
    ax.bar(share.index, share.to_numpy())
    ax.set_ylim(0, max(1.0, float(share.max()) if len(share) else 1.0))
    ax.set_ylabel("busy / makespan")
    ax.set_title("utilization per agent")
    ax.tick_params(axis="x", labelrotation=45)
    return ax


def queue_length(events: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Tasks waiting on agents' queues and tasks running, over time (step lines)."""
    _need(events, ("t_s", "event", "task_id"), "queue_length")
    waiting = running = 0
    state: dict[str, str] = {}
    ts, qs, rs = [], [], []
    for t, ev, tid in zip(events["t_s"], events["event"].astype(str), events["task_id"]):
        before = state.get(tid)
        if ev == "assigned":
            waiting += 1
            state[tid] = "queued"
        elif ev == "started":
            waiting -= before == "queued"
            running += 1
            state[tid] = "running"
        elif ev in TERMINAL_STATES:
            waiting -= before == "queued"
            running -= before == "running"
            state[tid] = "ended"
        else:
            continue  # other events move nothing in or out of a queue
        if ts and ts[-1] == t:  # one step per instant: its state after every event at it
            qs[-1], rs[-1] = waiting, running
        else:
            ts.append(t)
            qs.append(waiting)
            rs.append(running)
    ax = _ax(ax)
    ax.step(ts, qs, where="post", label="queued")
    ax.step(ts, rs, where="post", label="running")
    ax.set_xlabel("t_s")
    ax.set_ylabel("tasks")
    ax.set_title("queue length")
    ax.legend()
    return ax


def resources(resources: pd.DataFrame, *, ax: Axes | None = None,
              limits: ResourceLimits | Mapping[str, Any] | None = None, cores: int | None = None) -> Axes:
    """CPU (100 = one core) and memory of the process tree over time, GPU utilisation
    when sampled; spans where admission was throttled are shaded.

    Parameters
    ----------
    resources : DataFrame
        A run's ``resources`` frame.
    ax : Axes, optional
        Where to draw (a new figure when None).
    limits : ResourceLimits or dict, optional
        The run's limits (``record.meta["limits"]`` will do): a labelled horizontal line
        at ``max_cpu_percent`` on the CPU axis and at ``max_memory_mb`` on the memory axis,
        so that the readings can be seen against what throttles them.
    cores : int, optional
        The cores of the machine that ran (``record.meta["cpu_count"]``): ``max_cpu_percent``
        is a share of the whole machine, the CPU axis counts 100 per core. This machine's
        when None.

    The legend sits above the axes, so it never covers a line, and neither axis shows an
    offset ("+2.577e2"): a memory reading that hardly moves keeps its own figures.
    """
    _need(resources, ("t_s", "cpu_pct", "rss_mb"), "resources")
    r = resources[resources["worker"].isna()] if "worker" in resources.columns else resources
    if "gpu" in r.columns:  # the process tree's rows, not a device's own
        r = r[r["gpu"].isna()]
    ax = _ax(ax)
    ax.plot(r["t_s"], r["cpu_pct"], label="cpu_pct", color="#2c7fb8")
    if "gpu_util_pct" in r.columns and r["gpu_util_pct"].notna().any():
        ax.plot(r["t_s"], r["gpu_util_pct"], label="gpu_util_pct", color="#d95f0e")
    ax.set_xlabel("t_s")
    ax.set_ylabel("%")
    mem = ax.twinx()
    mem.plot(r["t_s"], r["rss_mb"], label="rss_mb", color="#636363", linestyle="--")
    mem.set_ylabel("MB")
    if limits is not None:
        lim = limits if isinstance(limits, Mapping) else dataclasses.asdict(limits)
        cpu, memory = lim.get("max_cpu_percent"), lim.get("max_memory_mb")
        if cpu is not None:
            n = cores or os.cpu_count() or 1
            ax.axhline(cpu * n, color="#2c7fb8", linestyle=":", lw=1.5,
                       label=f"cpu limit ({cpu:g}% of {n} cores)")
        if memory is not None:
            mem.axhline(memory, color="#636363", linestyle=":", lw=1.5, label=f"memory limit ({memory:g} MB)")
    if "throttled" in r.columns and len(r):
        flags = r["throttled"].astype(bool).tolist()
        times = r["t_s"].tolist()
        for i, on in enumerate(flags):
            if on:
                ax.axvspan(times[i - 1] if i else times[i], times[i], color="#fdae6b", alpha=0.3, lw=0)
    # from 0, without offset text ("+2.577e2" over ticks 0.003-0.007 when memory barely
    # moves), high enough to show every reading and any limit line drawn
    tops_mb = [1.0] + [line.get_ydata()[0] * 1.05 for line in mem.lines[1:]]
    tops_cpu = [100.0] + [line.get_ydata()[0] * 1.05 for line in ax.lines if "limit" in line.get_label()]
    if r["rss_mb"].notna().any():
        tops_mb.append(float(r["rss_mb"].max()) * 1.15)
    if r["cpu_pct"].notna().any():
        tops_cpu.append(float(r["cpu_pct"].max()) * 1.15)
    top_mb, top_cpu = max(tops_mb), max(tops_cpu)
    mem.set_ylim(0, top_mb)
    ax.set_ylim(0, top_cpu)
    for a in (ax, mem):
        a.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.ticklabel_format(axis="x", useOffset=False, style="plain")
    lines = ax.get_legend_handles_labels()
    more = mem.get_legend_handles_labels()
    handles = lines[0] + more[0]
    ax.legend(handles, lines[1] + more[1], loc="lower right", bbox_to_anchor=(1.0, 1.01), borderaxespad=0,
              ncol=min(len(handles), LEGEND_COLUMNS), fontsize="small", frameon=False)
    ax.set_title("resources", loc="left")
    return ax


def _n_text(n: pd.Series) -> str:
    lo, hi = int(n.min()), int(n.max())
    return f"n = {lo}" if lo == hi else f"n = {lo} to {hi}"


def compare(summary: pd.DataFrame, metric: str = "makespan_s", *, ax: Axes | None = None, by: str = "mode",
            label: str = "algorithm", legend: bool = True, info: MetricInfo | None = None) -> Axes:
    """Set-ups side by side (``label``), one bar per value of ``by`` (the mode, or any
    column that tells the comparisons apart), each with its 95 % confidence interval.

    ``summary`` is a :class:`~swarmlab.experiments.comparison.Comparison`'s ``summary`` (long format).
    The y label gives the metric's unit, the title the runs behind each bar (n) and which
    way is better (``info``: a reported metric's, from ``Comparison.metric_info``; a
    built-in metric's is known); the legend sits outside the axes, so it never covers a bar.
    """
    import numpy as np

    from .stats import METRIC_INFO

    _need(summary, (label, by, "metric", "mean", "ci_low", "ci_high"), "compare")
    rows = summary[summary["metric"] == metric]
    if rows.empty:
        have = ", ".join(sorted(summary["metric"].unique()))
        raise ConfigError(f"metric must be one of {have}; got {metric!r}")
    ax = _ax(ax, (8, 4))
    algs = [str(a) for a in dict.fromkeys(rows[label])]
    groups = list(dict.fromkeys(rows[by]))
    width = 0.8 / len(groups)
    x = np.arange(len(algs))
    for i, group in enumerate(groups):
        r = rows[rows[by] == group].assign(_label=lambda f: f[label].astype(str)).set_index("_label").reindex(algs)
        err = np.vstack([r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]])
        ax.bar(x + i * width - 0.4 + width / 2, r["mean"], width, yerr=np.nan_to_num(err), capsize=3, label=str(group))
    ax.set_xticks(x, algs, rotation=30, ha="right", rotation_mode="anchor")
    info = info or METRIC_INFO.get(metric)
    ax.set_ylabel(info.label if info else metric)
    ax.set_xlabel("set-up")
    if info is not None and info.bounds[0] is not None:
        ax.set_ylim(bottom=info.bounds[0])
    better = f" ({info.better} is better)" if info is not None and info.better else ""
    n = _n_text(rows["n"]) if "n" in rows.columns else "n unknown"
    ax.set_title(f"{info.noun if info else metric}{better}\nmean and 95 % CI, {n} per bar", fontsize="medium")
    if legend:
        ax.legend(title=by, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small")
    return ax


def load_balance(summary: pd.DataFrame, *, ax: Axes | None = None, by: str = "mode", label: str = "algorithm",
                 legend: bool = True) -> Axes:
    """The comparison's load balance score per set-up (1 = balanced), with CIs."""
    return compare(summary, "load_balance_score", ax=ax, by=by, label=label, legend=legend)


def compare_figure(summary: pd.DataFrame, metrics: tuple[str, ...] = ("makespan_s", "throughput_tps"), *,
                   by: str = "mode", label: str = "algorithm", fig=None, dpi: float = 100):
    """One :func:`compare` chart per metric side by side on a figure (a new one with a
    constrained layout when None, sized to the set-ups; one above the other past
    :data:`SIDE_BY_SIDE_BARS` bars), the legend once, below them:
    what the command line saves and the panel shows. Returns the Figure."""
    bars = int(summary["metric"].eq(metrics[0]).sum()) if "metric" in summary.columns else 1
    side = bars <= SIDE_BY_SIDE_BARS
    if fig is None:
        from matplotlib.figure import Figure

        wide = max(6.0, 1.5 + 0.55 * max(bars, 2))
        size = (min(20.0, wide * len(metrics)), 4.2) if side else (min(20.0, wide), 3.6 * len(metrics))
        fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    axes = (fig.subplots(1, len(metrics), squeeze=False)[0] if side
            else fig.subplots(len(metrics), 1, squeeze=False)[:, 0])
    for ax, metric in zip(axes, metrics):
        compare(summary, metric, ax=ax, by=by, label=label, legend=False)
    handles, names = axes[0].get_legend_handles_labels()
    # below the charts: long set-up names there cost no chart its width
    fig.legend(handles, names, title=by, loc="outside lower center", ncols=min(len(names), 3), fontsize="small")
    return fig


def metric_by_setup(result, metric: str = "cost_usd", *, ax: Axes | None = None, legend: bool = True) -> Axes:
    """One metric of a comparison per set-up, with 95 % intervals: the cost-per-set-up
    chart of an agent swarm (``metric_by_setup(result, "cost_usd")``), or ``"tokens"``,
    ``"rate_limited"``, any metric of ``result.metrics``. ``result`` is a
    :class:`~swarmlab.experiments.comparison.Comparison`: the chart knows which way is
    better from its ``metric_info`` (``compare(..., better=...)``)."""
    metrics = tuple(getattr(result, "metrics", ()))
    if metric not in metrics:
        raise ConfigError(f"metric must be one of the comparison's metrics ({', '.join(metrics)}); got {metric!r}"
                          + ("" if metrics else ": give a Comparison (swarmlab.compare(...))"))
    return compare(result.summary, metric, ax=ax, by=result.by[0] if result.by else "mode", label=result.label,
                   legend=legend, info=result.metric_info[metric])
