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
from .runview import Snapshot, draw_run
from .tables import resources_html

__all__ = ["LiveMonitor"]

#: The last tasks that ended, newest first, named under the counts.
RECENT = 5


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
        self._last_plot = -1e9  # the first look draws: the counts and the chart come together
        self._draw_s = 0.0  # what the last chart cost to draw (wall seconds on the loop)
        self._counts = ""  # the counts line of the last snapshot drawn
        self._cancelled = 0
        self._stopping = False  # asked to stop (:meth:`stopping`), not stopped yet
        #: What the counts, the bar and the chart on show were drawn from.
        self.snapshot: Snapshot | None = None

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
        """Read what was recorded since the last look; the counts, the bar and the chart
        are drawn together from one snapshot of the run (:class:`~.runview.Snapshot`) when
        ``plot`` or when ``plot_s`` has passed (with ``plot_s=None``, the counts at every
        look and no chart); between two, the state of the run and the last tasks ended."""
        ex = self.executor()
        if ex is None:
            self.stats.value = "waiting for a run to start"
            return
        if ex is not self._ex:  # another run: nothing of the last one stays on show
            self._ex = ex
            self._reset()
            show_png(self.chart, None)
            self.resources.value = ""
            self._counts = ""
        now = ex.now()
        # A chart of a big run costs the loop a while (its frames, then the drawing): the
        # next one waits at least DRAW_SHARE times that, so the run keeps most of the loop.
        every = self.plot_s if self.plot_s is not None else self.interval
        due = now - self._last_plot >= max(every, DRAW_SHARE * self._draw_s)
        if plot or (plot is None and (due or not self._counts)):
            self._last_plot = now
            t0 = time.perf_counter()
            self._draw(Snapshot.of(ex.record()), ex, chart=self.plot_s is not None or bool(plot))
            self._draw_s = time.perf_counter() - t0
        state = "stopping" if self._stopping and ex.state == "running" else ex.state
        if ex.state == "stopped":
            state = f"stopped, {self._cancelled} cancelled" if self._cancelled else "finished"
        self.stats.value = f"{self._counts} ({html.escape(state)})"
        last = ex.recorder.attempts[-RECENT:]
        name, status = ATTEMPT.name, ATTEMPT.status
        self.recent.value = "last ended: " + ", ".join(
            f"<code>{html.escape(str(a[name]))}</code> {html.escape(a[status])}" for a in reversed(last)) if last else ""

    def stopping(self) -> None:
        """Say "stopping" now, before the run has stopped (Stop calls it in its click
        handler: the work takes a while to stop, the words must not)."""
        self._stopping = True
        if self._counts:
            self.stats.value = f"{self._counts} (stopping)"

    def _draw(self, snap: Snapshot, ex: ParallelExecutor | None, chart: bool = True) -> None:
        """The bar, the counts and (with ``chart``) the chart and the limits' table, from ``snap``."""
        from ...analysis.limits import resource_table

        self.snapshot = snap
        f = snap.figures
        stopped = ex is not None and ex.state == "stopped"
        cancelled = f.ended["cancelled"]
        cut = stopped and cancelled > 0  # stopped before its work was done
        self._cancelled = cancelled if cut else 0
        self.progress.max = max(f.tasks, 1)
        self.progress.value = f.n_ended - cancelled if cut else f.n_ended  # the unfilled rest: what was cancelled
        bad = sum(f.ended[k] for k in FAILURE_STATES)
        self.progress.bar_style = ("warning" if cut else "danger" if bad else
                                   "success" if f.tasks and f.n_ended == f.tasks else "info")
        self.progress.description = f"{cancelled} cancelled" if cut else "tasks"
        ended = ", ".join(f"{f.ended[k]} {k.replace('_', ' ')}" for k in TERMINAL_STATES)
        self._counts = (f"<b>{f.n_ended}/{f.tasks}</b> tasks ended: {ended} &middot; {f.running} running, "
                        f"{f.waiting} waiting &middot; {f.throughput_tps:.1f} tasks/s over {f.makespan_s:.2f} s"
                        f" &middot; t = {snap.t_s:.2f} s")
        if chart:
            self.resources.value = resources_html(resource_table(snap.record))
            running = ex is not None and ex.state != "stopped"
            show_png(self.chart, figure_png(lambda fig: draw_run(fig, snap, running), (11, 5.5)))

    def show(self, record: RunRecord, *, summary: bool = False) -> None:
        """Draw the chart of ``record`` (a finished run, a simulated one included) and, for
        a run with limits, its resource table (:func:`swarmlab.analysis.limits.resource_table`:
        units in use, tasks held back and for how long); with ``summary``, the progress and
        the counts also describe it (from the same snapshot of its rows)."""
        self._ex = None
        snap = Snapshot.of(record)
        self._draw(snap, None)
        if summary:
            self.stats.value = f"{self._counts} &middot; {html.escape(str(record.meta.get('clock', '')))} clock"
            self.recent.value = ""

    def __repr__(self) -> str:
        return f"LiveMonitor({self.progress.value}/{self.progress.max} tasks ended)"
