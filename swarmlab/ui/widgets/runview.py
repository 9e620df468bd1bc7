"""One run drawn as one moment, for every live view: the dashboard's page and the panel's
monitor alike.

A :class:`Snapshot` is a run record of the rows read so far, the figures computed from them
(:func:`swarmlab.analysis.figures.run_figures`, as for a saved run) and the latest time
they reach; :func:`draw_run` draws its throughput, resources and Gantt chart over that same
time, and says in words why a chart has nothing to draw yet.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from ...analysis.figures import RunFigures, run_figures
from ...analysis.plots import STATUS_COLORS
from ...store.records import RunRecord

__all__ = ["Snapshot", "draw_run", "CANCELLED"]

#: The colour of cancelled attempts on a Gantt chart, and of the words about those that
#: never started (no bar).
CANCELLED = STATUS_COLORS["cancelled"]
#: Characters per line of the words a chart shows instead of data (half a page wide).
BLANK_WIDTH = 44
#: A throughput bin should hold this many completions on average, and there are at least
#: MIN_BINS of them: a run's shape, not the noise of a handful of tasks per bin.
TASKS_PER_BIN = 4
MIN_BINS = 5


@dataclass(frozen=True)
class Snapshot:
    """One run at one moment: a record of the rows read so far, its figures
    (:func:`swarmlab.analysis.figures.run_figures`, as for a saved run) and ``t_s``, the
    latest time those rows reach (a finish, a start or a resource sample). A view of a
    run draws its counts and every chart from one snapshot, the charts up to ``t_s``, so
    what it says and what it draws never come from different moments."""

    record: RunRecord
    figures: RunFigures
    t_s: float
    lines: int = -1  # the journal lines it was taken from (-1: a saved run)

    @classmethod
    def of(cls, record: RunRecord, lines: int = -1) -> Snapshot:
        t = record.tasks
        times = [t["finished_s"].max(), t["started_s"].max()]
        r = record.resources
        if len(r) and "t_s" in r.columns:
            times.append(r["t_s"].max())
        t_s = max((float(x) for x in times if x == x), default=0.0)  # (NaN: no such row yet)
        return cls(record, run_figures(record), t_s, lines)


def _no_start_words(meta: dict[str, Any], running: bool) -> str:
    """Why a run shows no attempt yet, in words."""
    if not running:
        return "no attempt ran"
    if meta.get("mode") in ("process", "hybrid", "dask"):
        return f"no task has started yet: the {meta['mode']} workers are starting"
    return "no task has started yet"


def _no_sample_words(snap: Snapshot, running: bool) -> str:
    """Why a run shows no resource sample, in words."""
    meta = snap.record.meta
    if meta.get("clock") == "virtual":
        return "a simulated run has no resource samples (virtual time)"
    every = (meta.get("limits") or {}).get("monitoring_interval")
    each = f"one every {every:g} s" if isinstance(every, (int, float)) else "one per sampling interval"
    if running:
        return f"no resource sample yet ({each})"
    return (f"no resource sample: the run took {snap.figures.makespan_s:.2g} s, "
            f"less than its sampling interval ({each})")


def draw_run(fig: Any, snap: Snapshot, running: bool) -> None:
    """Throughput and resources side by side, the Gantt chart (binned at scale) below,
    all from ``snap`` and over the same time, 0 to ``snap.t_s``."""
    from ...analysis import plots

    axes = fig.subplot_mosaic([["throughput", "resources"], ["gantt", "gantt"]], height_ratios=(1, 1.25))
    tasks, resources, f = snap.record.tasks, snap.record.resources, snap.figures
    end = snap.t_s if snap.t_s > 0 else 1.0

    def blank(ax: Any, title: str, text: str) -> None:
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, textwrap.fill(text, BLANK_WIDTH), ha="center", va="center", transform=ax.transAxes,
                color="#555")

    if f.completed:
        # few completions: fewer, wider bins (9 tasks in a 20 ms bin read as a 450 tasks/s spike)
        bins = max(MIN_BINS, min(plots.THROUGHPUT_BINS, f.completed // TASKS_PER_BIN))
        plots.throughput(tasks, ax=axes["throughput"], bin_s=plots.bin_width(end, bins), until_s=end)
        axes["throughput"].set_xlim(0, end)
    elif f.attempts or f.running:
        blank(axes["throughput"], "throughput", f"{f.running} running, none completed yet" if running
              else "no task completed")
    else:
        blank(axes["throughput"], "throughput", _no_start_words(snap.record.meta, running))
    if len(resources) and "cpu_pct" in resources.columns:
        plots.resources(resources, ax=axes["resources"])
        axes["resources"].set_xlim(0, end)
    else:
        blank(axes["resources"], "resources", _no_sample_words(snap, running))
    if tasks["started_s"].notna().any():
        ax = plots.gantt(tasks, ax=axes["gantt"])
        ax.set_xlim(0, end)
        never = int(((tasks["status"] == "cancelled") & tasks["started_s"].isna()).sum())
        if never:  # no bar to draw for them: said in the title, in the colour of the cancelled
            ax.set_title(f"{ax.get_title()}; {never:,} tasks cancelled before they started", color=CANCELLED)
    else:
        blank(axes["gantt"], "attempts per agent", _no_start_words(snap.record.meta, running)
              if not f.n_ended else "no attempt ran (every task ended before it started)")
