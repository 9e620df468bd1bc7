"""Notebook panels: :class:`ExperimentPanel` and :class:`LiveMonitor`.

The only module that imports ipywidgets (``pip install 'swarmlab[notebook]'``). Both work
on the kernel's own event loop: a run is scheduled there with ``asyncio.ensure_future``, so
the notebook stays responsive and Stop works while it runs, and the widgets are updated by
trait assignment from that loop a few times a second, from what the run's recorder gathered
since the last look. Nothing writes ``with output:`` from another thread (ipykernel 7 drops
such output). Every figure shown is computed from recorded events and attempts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import BackendUnavailable, ConfigError, SwarmlabError
from ..experiments.comparison import (
    SEQUENTIAL,
    Comparison,
    PlannedRun,
    RunOrder,
    per_run_frame,
    run_metrics,
    setups,
    summarize,
)
from ..model import ResourceLimits
from ..realtime.executor import ParallelExecutor
from ..scheduling import SchedulingAlgorithm, policy_names
from ..store.records import RunRecord
from ..store.runs import RunStore
from ..virtual.simulation import simulate
from ..workloads.recipes import WORKLOADS, Workload, make

try:
    import ipywidgets as W
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise BackendUnavailable("swarmlab.ui.widgets needs ipywidgets: pip install 'swarmlab[notebook]'") from exc

__all__ = ["MODES", "ExperimentPanel", "LiveMonitor"]

#: The execution modes the panel offers for real runs ("dask" needs a scheduler's address).
MODES = ("thread", "process", "asyncio", "hybrid", "dask")
_ALGORITHMS = tuple(a.value for a in SchedulingAlgorithm)
_TABLE_METRICS = ("throughput_tps", "makespan_s", "load_balance_score", "p95_wait_s")
_WIDE = {"description_width": "initial"}


def _bundle(view: Any, **kwargs: Any) -> dict[str, Any]:
    """The widget's view for a front end, with the short repr as its plain text."""
    data = dict(view.widget._repr_mimebundle_(**kwargs) or {})
    data["text/plain"] = repr(view)
    return data


def _png(draw: Callable[[Any], None], size: tuple[float, float]) -> bytes:
    """Draw on a fresh Figure (no pyplot state, so nothing is displayed twice) and
    return it as PNG bytes for an Image widget."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=80, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _hidden_image() -> Any:
    """An Image widget kept out of the page until it has a picture (an empty one shows
    a broken-image icon)."""
    return W.Image(format="png", layout=W.Layout(max_width="100%", display="none"))


def _set_png(image: Any, data: bytes | None) -> None:
    image.value = data or b""
    image.layout.display = None if data else "none"


def _run_figure(fig: Any, record: RunRecord) -> None:
    from ..analysis import plots

    tasks = record.tasks
    left, right = fig.subplots(1, 2, width_ratios=(1, 2))
    if tasks["started_s"].notna().any():
        plots.throughput(tasks, ax=left, bins=30)
        plots.gantt(tasks, ax=right)
    else:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no attempt has ended yet", ha="center", va="center", transform=ax.transAxes)


#: The live chart is redrawn at most once per this many times its last drawing cost.
DRAW_SHARE = 4


class Polling:
    """A view that refreshes itself from a task on the running loop: ``start`` and
    ``stop`` it; subclasses define the coroutine ``_poll`` and set ``_poller = None``."""

    _poller: asyncio.Task | None = None

    def start(self) -> None:
        """Poll on the running loop (nothing happens without one)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._poller is None or self._poller.done():
            self._poller = loop.create_task(self._poll())

    def stop(self) -> None:
        """Stop polling (what is followed goes on)."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None


class LiveMonitor(Polling):
    """A live view of a running :class:`~swarmlab.ParallelExecutor` or
    :class:`~swarmlab.orchestration.OrchestrationManager`.

    It shows tasks ended out of those submitted, what runs and waits, throughput (over the
    run and over the last interval), the last tasks that ended (names HTML-escaped) and,
    every ``plot_s`` seconds, a throughput and Gantt chart of the run so far (less often when
    a chart of a big run costs more than a quarter of that to draw: the next one waits
    :data:`DRAW_SHARE` times the last one's cost, so the run keeps most of the loop). It polls on
    the running event loop every ``interval`` seconds until the executor has stopped (a
    manager: until its next suite's executor has stopped), then refreshes once more. Run
    the work with ``await`` in the cell so that the loop is free to update the view.

    Without a running loop (a script), call :meth:`refresh` yourself.
    """

    def __init__(self, source: Any = None, *, interval: float = 0.25, plot_s: float | None = 1.0) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0.05 <= interval <= 60:
            raise ConfigError(f"interval must be a number of seconds from 0.05 to 60; got {interval!r}")
        if plot_s is not None and (isinstance(plot_s, bool) or not isinstance(plot_s, int | float) or plot_s < interval):
            raise ConfigError(f"plot_s must be None (no chart) or at least interval ({interval}); got {plot_s!r}")
        self.interval, self.plot_s = float(interval), plot_s
        self.progress = W.IntProgress(value=0, min=0, max=1, description="tasks", bar_style="info", style=_WIDE)
        self.stats = W.HTML("no run attached")
        self.recent = W.HTML()
        self.chart = _hidden_image()
        self.widget = W.VBox([self.progress, self.stats, self.recent, self.chart])
        self._source: Any = None
        self._stale: ParallelExecutor | None = None
        self._ex: ParallelExecutor | None = None
        self._poller: asyncio.Task | None = None
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

    async def _poll(self) -> None:
        while True:
            self.refresh()
            ex = self.executor()
            if ex is not None and ex.state == "stopped":
                self.refresh(plot=True)
                return
            await asyncio.sleep(self.interval)

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
        last = ex.recorder.attempts[-5:]
        self.recent.value = "last ended: " + ", ".join(
            f"<code>{html.escape(str(a[1]))}</code> {html.escape(a[3])}" for a in reversed(last)) if last else ""
        # A chart of a big run costs the loop a while (its frames, then the drawing): the
        # next one waits at least DRAW_SHARE times that, so the run keeps most of the loop.
        due = self.plot_s is not None and now - self._last_plot >= max(self.plot_s, DRAW_SHARE * self._draw_s)
        if plot or (plot is None and due):
            self._last_plot = now
            t0 = time.perf_counter()
            self.show(ex.record())
            self._draw_s = time.perf_counter() - t0

    def show(self, record: RunRecord, *, summary: bool = False) -> None:
        """Draw the chart of ``record`` (a finished run, a simulated one included); with
        ``summary``, the progress and the counts also describe it (from its final rows)."""
        if summary:
            final = record.final()
            counts = final["status"].astype(str).value_counts()
            n = len(final)
            self.progress.max, self.progress.value = max(n, 1), n
            bad = sum(int(counts.get(k, 0)) for k in ("failed", "timed_out", "upstream_failed"))
            self.progress.bar_style = "danger" if bad else "success"
            self.progress.description = "tasks"
            ended = ", ".join(f"{int(counts.get(k, 0))} {k.replace('_', ' ')}"
                              for k in ("completed", "failed", "timed_out", "cancelled", "upstream_failed"))
            span = record.tasks["finished_s"].max() if n else 0.0
            self.stats.value = (f"<b>{n}/{n}</b> tasks ended: {ended} &middot; makespan {span:.3g} s "
                                f"({html.escape(str(record.meta.get('clock', '')))} clock)")
            self.recent.value = ""
        _set_png(self.chart, _png(lambda fig: _run_figure(fig, record), (10, 3)))

    def __repr__(self) -> str:
        return f"LiveMonitor({self.progress.value}/{self.progress.max} tasks ended)"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _bundle(self, **kwargs)


@dataclasses.dataclass(frozen=True)
class _Settings:
    algorithms: tuple[str, ...]
    add_stealing: bool
    workload: Workload
    mode: str  # a real mode, or "simulated"
    repeats: int
    limits: ResourceLimits
    seed: int
    dask_address: str | None = None
    baseline: bool = True

    @property
    def setup(self) -> str:
        lim = self.limits
        slots = "all agents' slots" if lim.max_concurrent_tasks is None else f"{lim.max_concurrent_tasks} slots"
        parts = [f"{self.workload.name}×{self.workload.n} {self.mode}", slots]
        if lim.max_cpu_percent is not None:
            parts.append(f"cpu≤{lim.max_cpu_percent:g}%")
        if lim.max_memory_mb is not None:
            parts.append(f"mem≤{lim.max_memory_mb:g}MB")
        if lim.task_timeout is not None:
            parts.append(f"timeout {lim.task_timeout:g}s")
        return ", ".join(parts)


_ROLE_WORDS = {"warmup": "warm-up, left out of the figures", "baseline": "sequential baseline"}


class ExperimentPanel:
    """Pick algorithms, a workload, a mode and limits; run; compare every run made since
    the panel opened (or since Clear).

    Run schedules the suite on the kernel's loop in the order of
    :class:`~swarmlab.experiments.comparison.RunOrder`: a warm-up run per set-up (real clock; left out
    of the figures), the sequential baseline (speedup, and the drift check when it runs
    again last), then ``repeats`` rounds of every set-up, each round in an order shuffled
    with the seed. The monitor shows the current run live; when a run ends, the table
    gives each set-up's mean and 95 % interval per metric, the verdicts say in words
    which set-up is faster and how many repeats would separate those not yet told apart,
    and the plots compare throughput and load balance. Stop cancels what waits and stops
    what runs (every task still ends in one terminal state); a stopped run is kept in
    :attr:`runs` but left out of the comparison. Clear starts the comparison afresh.
    Save writes the runs to the run store; Export writes the comparison's per-run and
    summary frames as CSV or Parquet.

    The keyword arguments set the controls' starting values. Zero in ``max CPU %``,
    ``max memory MB`` or ``timeout`` means none. Mode ``dask`` runs the task bodies on the
    Dask cluster whose scheduler address is in ``dask scheduler`` (``dask_address``): the
    panel connects to a cluster, it does not start one.
    """

    def __init__(self, *, algorithms: list[str] | None = None, workload: str = "io", n: int = 60,
                 mode: str = "thread", simulated: bool = False, repeats: int = 5, max_concurrent_tasks: int | None = None,
                 max_cpu_percent: float | None = None, max_memory_mb: float | None = None,
                 task_timeout: float | None = 300.0, seed: int = 0, store: str = "data/runs",
                 export_dir: str = "data/exports", dask_address: str | None = None,
                 add_stealing: bool = False, baseline: bool = True) -> None:
        registered = policy_names()  # the built-in seven and every policy registered (register_policy)
        algorithms = list(algorithms) if algorithms is not None else list(_ALGORITHMS)
        bad = [a for a in algorithms if a not in registered]
        if bad or not algorithms:
            raise ConfigError(f"algorithms must be a non-empty list among {', '.join(registered)}; got {algorithms!r}")
        if workload not in WORKLOADS:
            raise ConfigError(f"workload must be one of {', '.join(WORKLOADS)}; got {workload!r}")
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.algorithms = W.SelectMultiple(options=registered, value=tuple(algorithms), rows=min(8, len(registered)),
                                           description="algorithms", style=_WIDE)
        self.add_stealing = W.Checkbox(value=bool(add_stealing), description="also each with work stealing",
                                       indent=False)
        self.baseline = W.Checkbox(value=bool(baseline), description="sequential baseline (speedup, drift check)",
                                   indent=False)
        self.workload = W.Dropdown(options=list(WORKLOADS), value=workload, description="workload", style=_WIDE)
        self.size = W.BoundedIntText(value=n, min=1, max=10_000_000, description="tasks", style=_WIDE)
        self.repeats = W.BoundedIntText(value=repeats, min=1, max=100, description="repeats", style=_WIDE)
        self.seed = W.IntText(value=seed, description="seed", style=_WIDE)
        self.mode = W.Dropdown(options=MODES, value=mode, description="mode", style=_WIDE)
        self.dask_address = W.Text(value=dask_address or "", placeholder="tcp://host:8786",
                                   description="dask scheduler", style=_WIDE)
        self.clock = W.ToggleButtons(options=["real", "simulated"], value="simulated" if simulated else "real",
                                     description="clock", style=_WIDE)
        self.max_concurrent = W.BoundedIntText(value=max_concurrent_tasks or 0, min=0, max=100_000,
                                               description="max concurrent (0: agents')", style=_WIDE)
        self.max_cpu = W.BoundedFloatText(value=max_cpu_percent or 0, min=0, max=100,
                                          description="max CPU % (0: none)", style=_WIDE)
        self.max_memory = W.BoundedFloatText(value=max_memory_mb or 0, min=0, max=10_000_000,
                                             description="max memory MB (0: none)", style=_WIDE)
        self.timeout = W.BoundedFloatText(value=task_timeout or 0, min=0, max=86_400,
                                          description="task timeout s (0: none)", style=_WIDE)
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.clear_button = W.Button(description="Clear", icon="eraser", disabled=True,
                                     tooltip="start the comparison afresh (the runs stay in panel.runs)")
        self.save_button = W.Button(description="Save runs", icon="save", disabled=True)
        self.csv_button = W.Button(description="Export CSV", icon="download", disabled=True)
        self.parquet_button = W.Button(description="Export Parquet", icon="download", disabled=True)
        self.store_path = W.Text(value=str(store), description="run store", style=_WIDE)
        self.export_path = W.Text(value=str(export_dir), description="export to", style=_WIDE)
        self.status = W.HTML("Pick the algorithms and the set-up, then Run.")
        self.run_progress = W.IntProgress(value=0, min=0, max=1, description="runs", style=_WIDE)
        self.monitor = LiveMonitor(plot_s=1.0)
        self.table = W.HTML()
        self.verdicts = W.HTML()
        self.plots = _hidden_image()
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self.stop)
        self.clear_button.on_click(lambda _: self.clear())
        self.save_button.on_click(lambda _: self._guarded(self.save))
        self.csv_button.on_click(lambda _: self._guarded(self.export, "csv"))
        self.parquet_button.on_click(lambda _: self._guarded(self.export, "parquet"))
        self.clock.observe(self._on_clock, "value")
        self.mode.observe(self._on_clock, "value")
        self._on_clock()
        self.widget = W.VBox([
            W.HBox([W.VBox([self.algorithms, self.add_stealing, self.baseline, self.clock]),
                    W.VBox([self.workload, self.size, self.repeats, self.seed, self.mode, self.dask_address]),
                    W.VBox([self.max_concurrent, self.max_cpu, self.max_memory, self.timeout])]),
            W.HBox([self.run_button, self.stop_button, self.clear_button]),
            self.status, self.run_progress, self.monitor.widget,
            self.table, self.verdicts, self.plots,
            W.HBox([self.store_path, self.save_button]),
            W.HBox([self.export_path, self.csv_button, self.parquet_button]),
        ])
        #: Every run made since the panel opened (stopped ones included), in order.
        self.runs: list[RunRecord] = []
        self._rows: list[dict[str, Any]] = []
        self._since = 0  # the comparison holds the runs from here on (Clear moves it)
        self._labels: list[str] = []  # set-up labels in the order first planned
        self._saved: set[str] = set()
        self._task: asyncio.Future | None = None
        self._stop: asyncio.Event | None = None
        self._busy = False

    def _on_clock(self, _: Any = None) -> None:
        simulated = self.clock.value == "simulated"
        self.mode.disabled = simulated  # the simulated clock has no execution mode
        self.dask_address.disabled = simulated or self.mode.value != "dask"

    # ------------------------------------------------------------------ results
    @property
    def per_run(self) -> pd.DataFrame:
        """One row of metrics per finished run since the panel opened or was cleared,
        in the order they were made (``order``), with its ``role`` (``warmup``,
        ``baseline`` or ``measured``); stopped runs are left out."""
        # set-ups in the order they were first run, algorithms in the order first planned
        return per_run_frame(self._rows, by=("setup",), categories={"setup": [], "algorithm": self._labels})

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and 95 % CI per set-up, algorithm and metric, over the measured runs."""
        return summarize(self.per_run, by=("setup", "algorithm")) if self._rows else pd.DataFrame()

    @property
    def comparison(self) -> Comparison:
        """The runs, per-run metrics and summary as a :class:`~swarmlab.experiments.comparison.Comparison`
        (its ``verdicts`` and ``drift`` compare the algorithms within each set-up)."""
        return Comparison(list(self.runs[self._since:]), self.per_run, self.summary, ("setup",), "algorithm")

    @property
    def running(self) -> bool:
        return self._busy or (self._task is not None and not self._task.done())

    # ------------------------------------------------------------------ running
    def settings(self) -> _Settings:
        """What the controls say, checked (ConfigError names the bad value)."""
        algs = tuple(self.algorithms.value)
        if not algs:
            raise ConfigError("pick at least one algorithm")
        n = self.size.value
        wl = make(self.workload.value, n, seed=self.seed.value)
        limits = ResourceLimits(
            max_concurrent_tasks=self.max_concurrent.value or None, max_queue_size=max(1000, n),
            max_cpu_percent=self.max_cpu.value or None, max_memory_mb=self.max_memory.value or None,
            task_timeout=self.timeout.value or None,
        )
        mode = "simulated" if self.clock.value == "simulated" else self.mode.value
        address = self.dask_address.value.strip() or None
        if mode == "dask" and address is None:
            raise ConfigError("mode dask needs the address of a running Dask scheduler in 'dask scheduler' "
                              "(tcp://host:8786): start one with `dask scheduler` and `dask worker`, or "
                              "distributed.LocalCluster(), and give its scheduler_address")
        return _Settings(algs, bool(self.add_stealing.value), wl, mode, self.repeats.value, limits, self.seed.value,
                         address if mode == "dask" else None, bool(self.baseline.value))

    def _on_run(self, _: Any = None) -> None:
        if self.running:
            self._say("a suite is running: Stop it first", error=True)
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._say("the panel runs on a Jupyter kernel's event loop; in a script, use await panel.run()", error=True)
            return
        self._task = asyncio.ensure_future(self._run_reporting())
        self.run_button.disabled, self.stop_button.disabled, self.clear_button.disabled = True, False, True

    async def _run_reporting(self) -> pd.DataFrame | None:
        try:
            return await self.run()
        except SwarmlabError:
            return None  # run() has said why in the status line
        except Exception as exc:  # noqa: BLE001 - a button has no caller to raise to
            self._say(f"the suite failed: {type(exc).__name__}: {exc}", error=True)
            return None

    async def run(self) -> pd.DataFrame:
        """Run the suite the controls describe; returns the summary of every run so far."""
        try:
            s = self.settings()
            plan = setups(s.algorithms, s.add_stealing)
        except (ConfigError, ValueError) as exc:
            self._say(str(exc), error=True)
            raise
        if self._busy:
            self._say("a suite is running: Stop it first", error=True)
            raise SwarmlabError("a suite is running in this panel: stop it first")
        self._busy = True
        self._stop = asyncio.Event()
        self.run_button.disabled, self.stop_button.disabled, self.clear_button.disabled = True, False, True
        self._labels = list(dict.fromkeys([*self._labels, *(p.label for p in plan), SEQUENTIAL]))
        order = RunOrder(plan, [s.mode], seed=s.seed, baseline=s.baseline, start=len(self.runs))
        items = order.opening() + [x for r in range(s.repeats) for x in order.round(r)] + order.closing()
        self.run_progress.max, self.run_progress.value, self.run_progress.bar_style = len(items), 0, ""
        stopped = False
        try:
            for i, item in enumerate(items):
                if self._stop.is_set():
                    stopped = True
                    break
                what = _ROLE_WORDS.get(item.role, f"repeat {(item.repeat or 0) + 1} of {s.repeats}")
                self._say(f"run {i + 1} of {len(items)}: {item.setup.label} ({what}), {s.setup}")
                rec, finished = await self._one(s, order, item)
                self.runs.append(rec)
                if finished:
                    self._rows.append(run_metrics(rec, order=item.order, role=item.role, setup=s.setup,
                                                  algorithm=item.setup.label, stealing=item.setup.stealing,
                                                  mode=s.mode, repeat=item.repeat))
                else:
                    stopped = True
                self.run_progress.value = i + 1
                self._show_results()
                if stopped:
                    break
        except SwarmlabError as exc:  # a run could not start (a cluster gone, say): say it
            self._say(f"the suite stopped: {exc}", error=True)
            raise
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
            self.clear_button.disabled = not self._rows
            self._busy = False
        if stopped:
            self.run_progress.bar_style = "warning"
        self._say("stopped: the runs finished so far are compared below; the stopped run is kept in "
                  "panel.runs, not in the comparison" if stopped else
                  f"done: {int((self.per_run['role'] == 'measured').sum()) if self._rows else 0} measured runs "
                  "compared (warm-ups and baselines aside)")
        return self.summary

    async def _one(self, s: _Settings, order: RunOrder, item: PlannedRun) -> tuple[RunRecord, bool]:
        sched = item.setup.scheduler()
        seed = s.seed + (item.repeat or 0)
        agents, limits = order.fixture(item, s.workload.agents, s.limits)
        if s.mode == "simulated":
            rec = await asyncio.to_thread(simulate, s.workload.tasks(), agents, scheduler=sched, limits=limits,
                                          seed=seed)
            self.monitor.show(rec, summary=True)
            finished = True
        else:
            dask = {"dask_address": s.dask_address} if s.mode == "dask" else {}
            ex = ParallelExecutor(mode=s.mode, limits=limits, agents=agents, scheduler=sched, seed=seed, **dask)
            await ex.start()
            done = asyncio.ensure_future(ex.wait_for_completion())
            asked = asyncio.ensure_future(self._stop.wait())
            try:
                await ex.submit_batch(s.workload.tasks("async" if s.mode == "asyncio" else "sync"))
                self.monitor.attach(ex)
                await asyncio.wait({done, asked}, return_when=asyncio.FIRST_COMPLETED)
                finished = done.done() and not asked.done()
            finally:
                await ex.stop(timeout=0)
                done.cancel()
                asked.cancel()
            self.monitor.refresh(plot=True)
            rec = ex.record()
        rec.meta.update(workload=s.workload.name, workload_n=s.workload.n, workload_seed=s.workload.seed,
                        repeat=item.repeat, setup=s.setup, role=item.role, order=item.order,
                        stopped_by_user=not finished)
        if item.role == "baseline":
            rec.meta.update(algorithm=SEQUENTIAL, baseline="sequential")
        return rec, finished

    def stop(self, _: Any = None) -> None:
        """Stop the suite: no further run starts; the current one's waiting tasks are
        cancelled and its running ones stopped."""
        if self.running and self._stop is not None and not self._stop.is_set():
            self._stop.set()
            self._say("stopping: waiting tasks are cancelled and running ones stopped "
                      "(a simulated run in progress finishes first)")

    def clear(self) -> None:
        """Start the comparison afresh: the table, verdicts and plots are emptied and the
        next runs are compared among themselves. The runs made so far stay in
        :attr:`runs` (Save still writes them)."""
        if self.running:
            self._say("a suite is running: Stop it first, then Clear", error=True)
            return
        kept = len(self.runs)
        self._rows, self._since = [], kept
        self._show_results()
        self._say(f"cleared: the comparison starts afresh with the next run ({kept} runs made so far are kept "
                  "in panel.runs and can still be saved)")

    async def wait(self) -> pd.DataFrame:
        """Wait for the suite started with Run to end; returns the summary."""
        if self._task is not None:
            await asyncio.wait({self._task})
        return self.summary

    # ------------------------------------------------------------------ showing and keeping
    def _say(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "inherit"
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    def _show_results(self) -> None:
        has = bool(self._rows) and bool((self.per_run["role"] == "measured").any())
        self.save_button.disabled = not self.runs
        self.csv_button.disabled = self.parquet_button.disabled = not self._rows
        self.clear_button.disabled = self.running or not self._rows
        if not has:
            self.table.value = self.verdicts.value = ""
            _set_png(self.plots, None)
            return
        comparison = self.comparison
        summary = comparison.summary
        self.table.value = _table_html(summary)
        self.verdicts.value = _verdicts_html(comparison)

        def draw(fig: Any) -> None:
            from ..analysis import plots

            plots.compare_figure(summary, ("throughput_tps", "load_balance_score"), by="setup", fig=fig)

        _set_png(self.plots, _png(draw, (11, 4.2)))

    def _guarded(self, action: Callable[..., Any], *args: Any) -> None:
        try:
            action(*args)
        except (SwarmlabError, OSError) as exc:
            self._say(f"{type(exc).__name__}: {exc}", error=True)

    def save(self) -> list[Path]:
        """Write every run not yet saved to the run store; returns their folders."""
        store = RunStore(self.store_path.value)
        folders = []
        for rec in self.runs:
            if rec.run_id not in self._saved:
                folders.append(store.save(rec))
                self._saved.add(rec.run_id)
        self._say(f"saved {len(folders)} runs to {store.path} ({len(self._saved)} saved since the panel opened)")
        return folders

    def export(self, fmt: str = "csv") -> list[Path]:
        """Write the comparison's per-run and summary frames as ``csv`` or ``parquet``
        files under the export folder; returns their paths."""
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"fmt must be 'csv' or 'parquet'; got {fmt!r}")
        if not self._rows:
            raise ConfigError("nothing to export yet: run a suite first")
        folder = Path(self.export_path.value)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        paths = []
        for name, frame in (("per_run", self.per_run), ("summary", self.summary)):
            path = folder / f"comparison-{stamp}-{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            paths.append(path)
        self._say("exported " + ", ".join(str(p) for p in paths))
        return paths

    def __repr__(self) -> str:
        return f"ExperimentPanel({len(self.runs)} runs, {len(self._rows)} compared)"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _bundle(self, **kwargs)


def _cell(r: pd.Series) -> str:
    """'mean' over '[ci_low, ci_high]' in one cell that does not wrap."""
    mean = html.escape(f"{r['mean']:.3g}")
    if r["ci_low"] != r["ci_low"]:  # one run: no interval
        ci = "one run"
    else:
        ci = f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
    return f'<td style="{_NUM}">{mean}<br><small>{html.escape(ci)}</small></td>'


_NUM = "white-space:nowrap;text-align:right;padding:2px 8px"


def _table_html(summary: pd.DataFrame) -> str:
    """Set-ups and algorithms by metric: the mean over its 95 % interval, n runs; every
    header with its unit and which way is better; all text escaped."""
    from ..analysis.stats import METRIC_INFO

    s = summary[summary["metric"].isin(_TABLE_METRICS)]
    metrics = [m for m in _TABLE_METRICS if m in set(s["metric"])]
    head = "".join(
        f'<th style="{_NUM}">{html.escape(METRIC_INFO[m].label)}<br>'
        f'<small>{html.escape(METRIC_INFO[m].better or "")} is better</small></th>' for m in metrics)
    rows = []
    for (setup, alg), g in s.groupby(["setup", "algorithm"], sort=True, observed=True):
        by = g.set_index("metric")
        cells = "".join(_cell(by.loc[m]) for m in metrics)
        n = int(by.loc[metrics[0], "n"]) if metrics else 0
        rows.append(f'<tr><td style="padding:2px 8px;max-width:22em">{html.escape(str(setup))}</td>'
                    f'<td style="padding:2px 8px;white-space:nowrap">{html.escape(str(alg))}</td>'
                    f'<td style="{_NUM}">{n}</td>{cells}</tr>')
    return ('<table class="swarmlab-comparison" style="border-collapse:collapse;font-variant-numeric:tabular-nums">'
            f'<thead><tr><th style="padding:2px 8px">set-up</th><th style="padding:2px 8px">algorithm</th>'
            f'<th style="{_NUM}">runs</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            '<small>mean over its 95 % interval; warm-up and baseline runs left out</small>')


def _verdicts_html(comparison: Comparison) -> str:
    """The verdicts on makespan and the drift check, in words, one item each."""
    lines = comparison.report(("makespan_s",))
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return (f'<div class="swarmlab-verdicts"><b>Verdicts</b> <small>(best set-up against each other; Welch t tests, '
            f'Holm-corrected; panel.comparison.verdicts has every metric)</small><ul>{items}</ul></div>')
