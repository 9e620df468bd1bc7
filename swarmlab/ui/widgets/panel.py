"""The experiment panel: :class:`ExperimentPanel`.

Pick algorithms, a workload, a mode and limits; run a fair suite of them on the kernel's
event loop (so the notebook stays responsive and Stop works while it runs); compare every
run made since the panel opened. The current run is shown live by a
:class:`~swarmlab.ui.widgets.monitor.LiveMonitor`; the comparison is drawn from the runs'
records (:mod:`swarmlab.experiments.comparison`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from ... import backends
from ...errors import ConfigError, SwarmlabError
from ...experiments.comparison import (
    SEQUENTIAL,
    Comparison,
    PlannedRun,
    RunOrder,
    conclude,
    metric_info,
    per_run_frame,
    reported_names,
    run_metrics,
    setups,
    summarize,
)
from ...experiments.sequence import (
    Job,
    Ledger,
    drawn,
    held_comparison,
    not_resumable,
    planned_runs,
    repeats_asked,
    run_labels,
    run_spec,
)
from ...model import ResourceLimits, parse_limits
from ...realtime.executor import ParallelExecutor
from ...scheduling import SchedulingAlgorithm, policy_names
from ...store.records import RunRecord
from ...store.runs import RunStore
from ...virtual.simulation import simulate
from ...workloads.recipes import WORKLOADS, Workload, make, needing
from .monitor import LiveMonitor
from .render import WIDE, View, W, figure_png, hidden_image, show_png
from .tables import table_html, verdicts_html

__all__ = ["ExperimentPanel"]

_ALGORITHMS = tuple(a.value for a in SchedulingAlgorithm)


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What the controls said when Run was pressed, checked; a suite runs from this alone."""

    algorithms: tuple[str, ...]
    add_stealing: bool
    workload: Workload
    mode: str  # a real mode, or "simulated"
    repeats: int
    limits: ResourceLimits
    seed: int
    dask_address: str | None = None
    baseline: bool = True
    given: ResourceLimits | None = None  # the panel's limits, before the workload's own joined them

    def job(self) -> Job:
        """The suite as a comparison (:class:`~swarmlab.experiments.sequence.Job`): the
        order, the plan in the store and a resume from a terminal all come from it."""
        real = self.mode != "simulated"
        return Job(self.workload, setups(self.algorithms, self.add_stealing), [self.mode] if real else [], not real,
                   self.limits, self.given, self.repeats, self.seed, warmup=True, baseline=self.baseline,
                   rel_width=_REL_WIDTH, budget_s=None, max_repeats=self.repeats, better=None,
                   dask_address=self.dask_address, add_stealing=self.add_stealing, algorithms=list(self.algorithms))

    @property
    def setup(self) -> str:
        lim = self.limits
        slots = "all agents' slots" if lim.max_concurrent_tasks is None else f"{lim.max_concurrent_tasks} slots"
        parts = [f"{self.workload.name}×{self.workload.n} {self.mode}", slots]
        if self.mode != "simulated":  # CPU and memory readings throttle real runs: virtual time has none
            if lim.max_cpu_percent is not None:
                parts.append(f"cpu≤{lim.max_cpu_percent:g}%")
            if lim.max_memory_mb is not None:
                parts.append(f"mem≤{lim.max_memory_mb:g}MB")
        if lim.task_timeout is not None:
            parts.append(f"timeout {lim.task_timeout:g}s")
        parts += [f"pool {k}={v:g}" for k, v in lim.pools.items()]
        parts += [f"rate {k}={r.limit:g}/{r.per_s:g}" for k, r in lim.rates.items()]
        return ", ".join(parts)


#: A suite makes a fixed number of repeats: the plan records compare()'s default width,
#: which only ``repeats="auto"`` reads.
_REL_WIDTH = 0.10

_ROLE_WORDS = {"warmup": "warm-up, left out of the figures", "baseline": "sequential baseline"}


class ExperimentPanel(View):
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

    ``save as it runs`` (``save_as_it_runs``, on by default) makes each suite a comparison
    in the run store (``store``), as :func:`swarmlab.compare` with a store does: its plan
    is written before its first run, each run is saved and marked done as it ends, and
    the comparison is held while it runs; a finished suite writes the comparison's files
    (:meth:`Comparison.save <swarmlab.experiments.comparison.Comparison.save>`) to the
    export folder. A Stop or a kernel death leaves it ``interrupted``, and ``swarmlab resume
    cmp-... --store STORE`` in a terminal finishes it; the status line names the
    comparison and that command. It is on by default because a suite is the user's unit
    of work and, for an agent swarm, real money per run: a kernel that dies should not
    take the runs made with it, which Save would only have written afterwards. Off,
    nothing is written until Save; Save always writes what was not saved yet (the
    warm-ups and stopped runs, which a comparison does not keep).

    The keyword arguments set the controls' starting values. Zero in ``max CPU %``,
    ``max memory MB`` or ``timeout`` means none. ``pools, rates`` (``limits``) takes the
    command line's form, ``"llm=8, rpm=120/60"`` (a pool of 8, a rate of 120 per 60 s:
    :func:`swarmlab.model.parse_limits`), and ``each task needs`` (``task_resources``)
    what every task of the workload holds of them, ``"llm=1, rpm=1"``; the monitor then
    shows each resource's units in use, the tasks held back for it and for how long. Mode ``dask`` runs the task bodies on the
    Dask cluster whose scheduler address is in ``dask scheduler`` (``dask_address``): the
    panel connects to a cluster, it does not start one.
    """

    def __init__(self, *, algorithms: list[str] | None = None, workload: str = "io", n: int = 60,
                 mode: str = "thread", simulated: bool = False, repeats: int = 5, max_concurrent_tasks: int | None = None,
                 max_cpu_percent: float | None = None, max_memory_mb: float | None = None,
                 task_timeout: float | None = 300.0, seed: int = 0, store: str = "data/runs",
                 export_dir: str = "data/exports", dask_address: str | None = None,
                 add_stealing: bool = False, baseline: bool = True, limits: str = "",
                 task_resources: str = "", save_as_it_runs: bool = True) -> None:
        registered = policy_names()  # the built-in seven and every policy registered (register_policy)
        algorithms = list(algorithms) if algorithms is not None else list(_ALGORITHMS)
        bad = [a for a in algorithms if a not in registered]
        if bad or not algorithms:
            raise ConfigError(f"algorithms must be a non-empty list among {', '.join(registered)}; got {algorithms!r}")
        if workload not in WORKLOADS:
            raise ConfigError(f"workload must be one of {', '.join(WORKLOADS)}; got {workload!r}")
        modes = backends.names()  # the built-in five and every backend registered (backends.register)
        if mode not in modes:
            raise ConfigError(f"mode must be one of {', '.join(modes)}; got {mode!r}")
        self.algorithms = W.SelectMultiple(options=registered, value=tuple(algorithms), rows=min(8, len(registered)),
                                           description="algorithms", style=WIDE)
        self.add_stealing = W.Checkbox(value=bool(add_stealing), description="also each with work stealing",
                                       indent=False)
        self.baseline = W.Checkbox(value=bool(baseline), description="sequential baseline (speedup, drift check)",
                                   indent=False)
        self.workload = W.Dropdown(options=list(WORKLOADS), value=workload, description="workload", style=WIDE)
        self.size = W.BoundedIntText(value=n, min=1, max=10_000_000, description="tasks", style=WIDE)
        self.repeats = W.BoundedIntText(value=repeats, min=1, max=100, description="repeats", style=WIDE)
        self.seed = W.IntText(value=seed, description="seed", style=WIDE)
        self.mode = W.Dropdown(options=modes, value=mode, description="mode", style=WIDE)
        self.dask_address = W.Text(value=dask_address or "", placeholder="tcp://host:8786",
                                   description="dask scheduler", style=WIDE)
        self.clock = W.ToggleButtons(options=["real", "simulated"], value="simulated" if simulated else "real",
                                     description="clock", style=WIDE)
        self.max_concurrent = W.BoundedIntText(value=max_concurrent_tasks or 0, min=0, max=100_000,
                                               description="max concurrent (0: agents')", style=WIDE)
        self.max_cpu = W.BoundedFloatText(value=max_cpu_percent or 0, min=0, max=100,
                                          description="max CPU % (0: none)", style=WIDE)
        self.max_memory = W.BoundedFloatText(value=max_memory_mb or 0, min=0, max=10_000_000,
                                             description="max memory MB (0: none)", style=WIDE)
        self.timeout = W.BoundedFloatText(value=task_timeout or 0, min=0, max=86_400,
                                          description="task timeout s (0: none)", style=WIDE)
        self.limits = W.Text(value=limits, placeholder="llm=8, rpm=120/60", description="pools, rates",
                             style=WIDE)
        self.task_resources = W.Text(value=task_resources, placeholder="llm=1, rpm=1", description="each task needs",
                                     style=WIDE)
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.clear_button = W.Button(description="Clear", icon="eraser", disabled=True,
                                     tooltip="start the comparison afresh (the runs stay in panel.runs)")
        self.save_button = W.Button(description="Save runs", icon="save", disabled=True)
        self.csv_button = W.Button(description="Export CSV", icon="download", disabled=True)
        self.parquet_button = W.Button(description="Export Parquet", icon="download", disabled=True)
        self.store_path = W.Text(value=str(store), description="run store", style=WIDE)
        self.save_as_it_runs = W.Checkbox(value=bool(save_as_it_runs), description="save as it runs", indent=False,
                                          tooltip="each suite a comparison in the run store, resumable from a "
                                                  "terminal if the kernel dies")
        self.export_path = W.Text(value=str(export_dir), description="export to", style=WIDE)
        self.status = W.HTML("Pick the algorithms and the set-up, then Run.")
        self.run_progress = W.IntProgress(value=0, min=0, max=1, description="runs", style=WIDE)
        self.monitor = LiveMonitor(plot_s=1.0)
        self.table = W.HTML()
        self.verdicts = W.HTML()
        self.plots = hidden_image()
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
                    W.VBox([self.max_concurrent, self.max_cpu, self.max_memory, self.timeout, self.limits,
                            self.task_resources])]),
            W.HBox([self.run_button, self.stop_button, self.clear_button]),
            self.status, self.run_progress, self.monitor.widget,
            self.table, self.verdicts, self.plots,
            W.HBox([self.store_path, self.save_as_it_runs, self.save_button]),
            W.HBox([self.export_path, self.csv_button, self.parquet_button]),
        ])
        #: Every run made since the panel opened (stopped ones included), in order.
        self.runs: list[RunRecord] = []
        self._rows: list[dict[str, Any]] = []
        self._since = 0  # the comparison holds the runs from here on (Clear moves it)
        self._labels: list[str] = []  # set-up labels in the order first planned
        self._saved: set[str] = set()
        #: The comparison id of the last suite saved as it ran (``cmp-...``), None before one.
        self.comparison_id: str | None = None
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
        """Mean and 95 % CI per set-up, algorithm and metric (what the bodies reported
        too: tokens, cost_usd, rate_limited), over the measured runs."""
        if not self._rows:
            return pd.DataFrame()
        per_run = self.per_run
        return summarize(per_run, by=("setup", "algorithm"), info=self._metric_info(per_run))

    def _metric_info(self, per_run: pd.DataFrame) -> dict[str, Any]:
        return metric_info(per_run, reported_names(self.runs[self._since:]))

    @property
    def comparison(self) -> Comparison:
        """The runs, per-run metrics and summary as a :class:`~swarmlab.experiments.comparison.Comparison`
        (its ``verdicts`` and ``drift`` compare the algorithms within each set-up)."""
        per_run = self.per_run
        info = self._metric_info(per_run)
        summary = summarize(per_run, by=("setup", "algorithm"), info=info) if self._rows else pd.DataFrame()
        return Comparison(list(self.runs[self._since:]), per_run, summary, ("setup",), "algorithm",
                          metric_info=info)

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
        pools, rates = parse_limits(self.limits.value, "pools, rates")
        needs, wrong = parse_limits(self.task_resources.value, "each task needs")
        unknown = sorted(set(needs) - set(pools) - set(rates)) or sorted(wrong)
        if unknown:
            raise ConfigError(f"each task needs {unknown}, which 'pools, rates' does not give (it gives "
                              f"{sorted(pools) + sorted(rates) or 'nothing'}): give NAME=N units of a pool or "
                              "rate named there, e.g. 'llm=1'")
        wl = needing(make(self.workload.value, n, seed=self.seed.value), needs)
        given = ResourceLimits(
            max_concurrent_tasks=self.max_concurrent.value or None, max_queue_size=max(1000, n),
            max_cpu_percent=self.max_cpu.value or None, max_memory_mb=self.max_memory.value or None,
            task_timeout=self.timeout.value or None, pools=pools, rates=rates,
        )
        limits = wl.limits_with(given)  # a workload's own (llm_swarm's provider) under the panel's, by name
        mode = "simulated" if self.clock.value == "simulated" else self.mode.value
        address = self.dask_address.value.strip() or None
        if mode == "dask" and address is None:
            raise ConfigError("mode dask needs the address of a running Dask scheduler in 'dask scheduler' "
                              "(tcp://host:8786): start one with `dask scheduler` and `dask worker`, or "
                              "distributed.LocalCluster(), and give its scheduler_address")
        return _Settings(algs, bool(self.add_stealing.value), wl, mode, self.repeats.value, limits, self.seed.value,
                         address if mode == "dask" else None, bool(self.baseline.value), given)

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
        """Run the suite the controls describe; returns the summary of every run so far.
        With ``save as it runs`` the suite is a comparison in the run store
        (:attr:`comparison_id`), held while it runs."""
        try:
            s = self.settings()
            job = s.job()
            store = RunStore(self.store_path.value) if self.save_as_it_runs.value else None
        except (ConfigError, ValueError) as exc:
            self._say(str(exc), error=True)
            raise
        if self._busy:
            self._say("a suite is running: Stop it first", error=True)
            raise SwarmlabError("a suite is running in this panel: stop it first")
        self._busy = True
        self._stop = asyncio.Event()
        self.run_button.disabled, self.stop_button.disabled, self.clear_button.disabled = True, False, True
        self._labels = list(dict.fromkeys([*self._labels, *(p.label for p in job.setups), SEQUENTIAL]))
        items = planned_runs(job, s.repeats)
        self.run_progress.max, self.run_progress.value, self.run_progress.bar_style = len(items), 0, ""
        stopped, where = False, ""
        try:
            with ExitStack() as held:
                ledger = Ledger()
                if store is not None:  # the plan is written and the comparison held before the first run
                    ledger = held.enter_context(held_comparison(job, store, self.export_path.value))
                    self.comparison_id = ledger.id
                    where = self._where(ledger, job)
                ledger.next = len(self.runs)  # one sequence of runs since the panel opened
                stopped = await self._suite(s, job, items, ledger, store, where)
        except SwarmlabError as exc:  # a run could not start (a cluster gone, say): say it
            self._say(f"the suite stopped: {exc}" + (f"; {where}" if where else ""), error=True)
            raise
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
            self.clear_button.disabled = not self._rows
            self._busy = False
        if stopped:
            self.run_progress.bar_style = "warning"
            self._say("stopped: the runs finished so far are compared below; the stopped run is kept in "
                      "panel.runs, not in the comparison" + (f"; {where}" if where else ""))
        else:
            saved = f"; saved in {store.path} as comparison {self.comparison_id} (complete)" if store else ""
            self._say(f"done: {int((self.per_run['role'] == 'measured').sum()) if self._rows else 0} measured runs "
                      f"compared (warm-ups and baselines aside){saved}")
        return self.summary

    @staticmethod
    def _where(ledger: Ledger, job: Job) -> str:
        """What the status line says of the comparison in the store: its id and the command
        that finishes it, or why it cannot be resumed."""
        why = not_resumable(job)
        if why:
            return f"comparison {ledger.id} is saved as it runs but not resumable: {why}"
        return (f"comparison {ledger.id}: if the suite is stopped or the kernel dies, "
                f"`{ledger.folder.resume_command}` finishes it")

    async def _suite(self, s: _Settings, job: Job, items: list[tuple[str, PlannedRun]], ledger: Ledger,
                     store: RunStore | None, where: str) -> bool:
        """Make the runs of ``items`` in order, each marked in ``ledger`` as it starts and
        ends (and saved, with a store); the comparison is concluded as :func:`compare`
        concludes it when every run is made. Returns whether the suite was stopped."""
        order = job.order()
        rounds_at = next(i for i, (key, _) in enumerate(items) if key.startswith("measured/"))
        last_round = max(i for i, (key, _) in enumerate(items) if key.startswith("measured/"))
        runs: list[RunRecord] = []  # the comparison's (its rows without the panel's set-up column)
        rows: list[dict[str, Any]] = []
        t0 = time.monotonic()
        for i, (key, item) in enumerate(items):
            if self._stop.is_set():
                return True
            what = _ROLE_WORDS.get(item.role, f"repeat {(item.repeat or 0) + 1} of {s.repeats}")
            self._say(f"run {i + 1} of {len(items)}: {item.setup.label} ({what}), {s.setup}"
                      + (f"; {where}" if where else ""))
            if i == rounds_at:
                ledger.note("rounds", elapsed_s=time.monotonic() - t0)
            item = PlannedRun(ledger.start(key, item), item.role, item.setup, item.mode, item.repeat)
            rec, finished = await self._one(s, order, item, store, **({"comparison": ledger.id, "planned": key}
                                                                       if ledger.id else {}))
            self.runs.append(rec)
            if finished:
                row = run_metrics(rec, order=item.order, role=item.role, setup=s.setup, algorithm=item.setup.label,
                                  stealing=item.setup.stealing, mode=s.mode, repeat=item.repeat)
                self._rows.append(row)
                if ledger.made(key, item, rec, row, time.monotonic() - t0, store):
                    self._saved.add(rec.run_id)
                runs.append(rec)
                rows.append({k: v for k, v in row.items() if k != "setup"})
                if i == last_round:
                    ledger.note("stopped", made=s.repeats, why=repeats_asked(s.repeats))
            self.run_progress.value = i + 1
            self._show_results()
            if not finished:
                return True
        if ledger.folder is not None:
            conclude(job, ledger, runs, rows, s.repeats, repeats_asked(s.repeats), self.export_path.value)
        return False

    async def _one(self, s: _Settings, order: RunOrder, item: PlannedRun, store: RunStore | None = None,
                   **extra: object) -> tuple[RunRecord, bool]:
        """One run of the suite, shown live; with a store, a real run is journaled there as
        it goes (a warm-up is not), with the labels ``extra`` joins."""
        sched = item.setup.scheduler()
        seed = s.seed + (item.repeat or 0)
        workload = drawn(s.workload, seed)
        agents, limits = order.fixture(item, workload.agents, s.limits)
        labels = run_labels(workload, item, **extra)
        if s.mode == "simulated":
            rec = await asyncio.to_thread(simulate, workload.tasks(), agents, scheduler=sched, limits=limits,
                                          seed=seed)
            self.monitor.show(rec, summary=True)
            finished = True
        else:
            dask = {"dask_address": s.dask_address} if s.mode == "dask" else {}
            journal = {"journal": store.path, "spec": run_spec(workload, item, agents, limits, seed, labels)} \
                if store is not None and item.role != "warmup" else {}
            ex = ParallelExecutor(mode=s.mode, limits=limits, agents=agents, scheduler=sched, seed=seed, **dask,
                                  **journal)
            await ex.start()
            done = asyncio.ensure_future(ex.wait_for_completion())
            asked = asyncio.ensure_future(self._stop.wait())
            try:
                await ex.submit_batch(workload.tasks("async" if s.mode == "asyncio" else "sync"))
                self.monitor.attach(ex)
                await asyncio.wait({done, asked}, return_when=asyncio.FIRST_COMPLETED)
                finished = done.done() and not asked.done()
            finally:
                await ex.stop(timeout=0)
                done.cancel()
                asked.cancel()
            self.monitor.refresh(plot=True)
            rec = ex.record()
        rec.meta.update(labels, setup=s.setup, stopped_by_user=not finished)
        return rec, finished

    def stop(self, _: Any = None) -> None:
        """Stop the suite: no further run starts; the current one's waiting tasks are
        cancelled and its running ones stopped."""
        if self.running and self._stop is not None and not self._stop.is_set():
            self._stop.set()
            self.monitor.stopping()  # said here, in the handler: the run takes a while to stop
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
            show_png(self.plots, None)
            return
        comparison = self.comparison
        summary = comparison.summary
        self.table.value = table_html(summary, comparison.metric_info)
        self.verdicts.value = verdicts_html(comparison)

        def draw(fig: Any) -> None:
            from ...analysis import plots

            plots.compare_figure(summary, ("throughput_tps", "load_balance_score"), by="setup", fig=fig)

        show_png(self.plots, figure_png(draw, (11, 4.2)))

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
