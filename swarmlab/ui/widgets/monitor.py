"""The live view of one run: :class:`LiveMonitor`.

It follows a :class:`~swarmlab.ParallelExecutor` (or the current suite of an
:class:`~swarmlab.orchestration.OrchestrationManager`) from the kernel's event loop and
shows what its recorder gathered since the last look; a finished or simulated run's
record is shown with :meth:`LiveMonitor.show`. Every figure is computed from recorded
events and attempts.
"""

from __future__ import annotations

import html
import time
from typing import Any

from ...errors import ConfigError
from ...events import ATTEMPT
from ...model import FAILURE_STATES, TERMINAL_STATES
from ...realtime.executor import ParallelExecutor
from ...store.records import RunRecord
from .polling import DRAW_SHARE, Polling
from .render import WIDE, View, W, figure_png, hidden_image, show_png
from .tables import resources_html

__all__ = ["LiveMonitor"]

#: The last tasks that ended, newest first, named under the counts.
RECENT = 5


def _run_figure(fig: Any, record: RunRecord) -> None:
    """Throughput over time beside the Gantt chart of the attempts that ended."""
    from ...analysis import plots

    tasks = record.tasks
    left, right = fig.subplots(1, 2, width_ratios=(1, 2))
    if tasks["started_s"].notna().any():
        plots.throughput(tasks, ax=left, bins=30)
        plots.gantt(tasks, ax=right)
    else:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no attempt has ended yet", ha="center", va="center", transform=ax.transAxes)


class LiveMonitor(View, Polling):
    """A live view of a running :class:`~swarmlab.ParallelExecutor` or
    :class:`~swarmlab.orchestration.OrchestrationManager`.

    It shows tasks ended out of those submitted, what runs and waits, throughput (over the
    run and over the last interval), the last tasks that ended (names HTML-escaped) and,
    every ``plot_s`` seconds, a throughput and Gantt chart of the run so far (less often when
    a chart of a big run costs more than a quarter of that to draw: the next one waits
    :data:`DRAW_SHARE` times the last one's cost, so the run keeps most of the loop). It polls on
    the running event loop every ``interval`` seconds until the executor has stopped (a
    manager: until its next suite's executor has stopped), then refreshes once more (await
    :attr:`~swarmlab.ui.widgets.polling.Polling.polling` to wait for that). Run the work
    with ``await`` in the cell so that the loop is free to update the view.

    Without a running loop (a script), call :meth:`refresh` yourself.
    """

    def __init__(self, source: Any = None, *, interval: float = 0.25, plot_s: float | None = 1.0) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0.05 <= interval <= 60:
            raise ConfigError(f"interval must be a number of seconds from 0.05 to 60; got {interval!r}")
        if plot_s is not None and (isinstance(plot_s, bool) or not isinstance(plot_s, int | float) or plot_s < interval):
            raise ConfigError(f"plot_s must be None (no chart) or at least interval ({interval}); got {plot_s!r}")
        self.interval, self.plot_s = float(interval), plot_s
        self.progress = W.IntProgress(value=0, min=0, max=1, description="tasks", bar_style="info", style=WIDE)
        self.stats = W.HTML("no run attached")
        self.recent = W.HTML()
        self.chart = hidden_image()
        self.resources = W.HTML()  # the limits' table: empty for a run without pools, rates or agent resources
        self.widget = W.VBox([self.progress, self.stats, self.recent, self.resources, self.chart])
        self._source: Any = None
        self._stale: ParallelExecutor | None = None
        self._ex: ParallelExecutor | None = None
        self._reset()
        if source is not None:
            self.attach(source)

    def _reset(self) -> None:
        self._last_done = 0  # tasks completed at the last rate reading, and when
        self._last_t = 0.0
        self._last_plot = 0.0  # the first chart after plot_s: nothing to draw before
        self._rate = 0.0
        self._draw_s = 0.0  # what the last chart cost to draw (wall seconds on the loop)

    # ------------------------------------------------------------------ following a source
    def attach(self, source: Any) -> None:
        """Follow ``source`` (an executor, or a manager whose current suite is followed)
        and start polling when a loop is running."""
        if not isinstance(source, ParallelExecutor) and not hasattr(source, "executor"):
            raise ConfigError("LiveMonitor follows a ParallelExecutor or an OrchestrationManager; "
                              f"got {type(source).__name__}")
        self._source, self._ex = source, None
        ex = self.executor()
        # A manager's last suite is over: wait for the next one rather than end at once.
        self._stale = ex if ex is not None and ex is not source and ex.state == "stopped" else None
        self._reset()
        self.refresh()
        self.start()

    def executor(self) -> ParallelExecutor | None:
        """The executor followed now (None until a manager starts a suite)."""
        src = self._source
        ex = src if isinstance(src, ParallelExecutor) or src is None else src.executor
        return None if ex is self._stale else ex

    def poll(self) -> float | None:
        """One look, as the poller takes it: refresh, and once the executor followed has
        stopped, refresh with its final chart and end (None); else wait ``interval``."""
        self.refresh()
        ex = self.executor()
        if ex is not None and ex.state == "stopped":
            self.refresh(plot=True)
            return None
        return self.interval

    # ------------------------------------------------------------------ drawing
    def refresh(self, plot: bool | None = None) -> None:
        """Read what was recorded since the last refresh and update the widgets; the
        chart is redrawn when ``plot`` or when ``plot_s`` has passed."""
        ex = self.executor()
        if ex is None:
            self.stats.value = "waiting for a run to start"
            return
        if ex is not self._ex:
            self._ex = ex
            self._reset()
        m = ex.get_metrics()
        ended = m.tasks_completed + m.tasks_failed + m.tasks_timed_out + m.tasks_cancelled + m.tasks_upstream_failed
        total = ended + m.tasks_running + m.tasks_queued  # every task submitted so far
        cut = ex.state == "stopped" and m.tasks_cancelled > 0  # stopped before its work was done
        self.progress.max = max(total, 1)
        self.progress.value = ended - m.tasks_cancelled if cut else ended  # the unfilled rest: what was cancelled
        bad = m.tasks_failed + m.tasks_timed_out + m.tasks_upstream_failed
        self.progress.bar_style = ("warning" if cut else "danger" if bad else
                                   "success" if total and ended == total else "info")
        self.progress.description = f"{m.tasks_cancelled} cancelled" if cut else "tasks"
        state = {"running": "running", "stopping": "stopping"}.get(ex.state, ex.state)
        if ex.state == "stopped":
            state = f"stopped, {m.tasks_cancelled} cancelled" if cut else "finished"
        now = ex.now()
        if now - self._last_t >= self.interval:
            self._rate = (m.tasks_completed - self._last_done) / (now - self._last_t)
            self._last_t, self._last_done = now, m.tasks_completed
        self.stats.value = (
            f"<b>{ended}/{total}</b> tasks ended: {m.tasks_completed} completed, {m.tasks_failed} failed, "
            f"{m.tasks_timed_out} timed out, {m.tasks_cancelled} cancelled, {m.tasks_upstream_failed} upstream failed"
            f" &middot; {m.tasks_running} running, {m.tasks_queued} waiting"
            f" &middot; {m.throughput:.1f} tasks/s over the run"
            + (f", {self._rate:.1f} tasks/s lately" if ex.state == "running" else "") +
            f" &middot; {now:.1f} s ({html.escape(state)})"
        )
        last = ex.recorder.attempts[-RECENT:]
        name, status = ATTEMPT.name, ATTEMPT.status
        self.recent.value = "last ended: " + ", ".join(
            f"<code>{html.escape(str(a[name]))}</code> {html.escape(a[status])}" for a in reversed(last)) if last else ""
        # A chart of a big run costs the loop a while (its frames, then the drawing): the
        # next one waits at least DRAW_SHARE times that, so the run keeps most of the loop.
        due = self.plot_s is not None and now - self._last_plot >= max(self.plot_s, DRAW_SHARE * self._draw_s)
        if plot or (plot is None and due):
            self._last_plot = now
            t0 = time.perf_counter()
            self.show(ex.record())
            self._draw_s = time.perf_counter() - t0

    def show(self, record: RunRecord, *, summary: bool = False) -> None:
        """Draw the chart of ``record`` (a finished run, a simulated one included) and, for
        a run with limits, its resource table (:func:`swarmlab.analysis.limits.resource_table`:
        units in use, tasks held back and for how long); with ``summary``, the progress and
        the counts also describe it (from its final rows)."""
        from ...analysis.limits import resource_table

        if summary:
            final = record.final()
            counts = final["status"].astype(str).value_counts()
            n = len(final)
            self.progress.max, self.progress.value = max(n, 1), n
            bad = sum(int(counts.get(k, 0)) for k in FAILURE_STATES)
            self.progress.bar_style = "danger" if bad else "success"
            self.progress.description = "tasks"
            ended = ", ".join(f"{int(counts.get(k, 0))} {k.replace('_', ' ')}"
                              for k in TERMINAL_STATES)
            span = record.tasks["finished_s"].max() if n else 0.0
            self.stats.value = (f"<b>{n}/{n}</b> tasks ended: {ended} &middot; makespan {span:.3g} s "
                                f"({html.escape(str(record.meta.get('clock', '')))} clock)")
            self.recent.value = ""
        self.resources.value = resources_html(resource_table(record))
        show_png(self.chart, figure_png(lambda fig: _run_figure(fig, record), (10, 3)))

    def __repr__(self) -> str:
        return f"LiveMonitor({self.progress.value}/{self.progress.max} tasks ended)"
