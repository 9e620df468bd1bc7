"""The dashboard page: every run of a store, the running ones live from their journals,
and the latest comparison.

``swarmlab dashboard`` serves it as a web page with Voilà (:mod:`swarmlab.ui.serve`); in a
notebook, ``Dashboard("data/runs")`` shows the same view. The journal is the only channel:
the page never talks to the process that runs. Each look reads what was appended since the
last one (:mod:`swarmlab.store.follow`), at a bounded cost; the charts of the run on show are
redrawn at most every ``plot_s`` seconds, and no sooner than :data:`DRAW_SHARE` times what
the last drawing cost. Nothing that a store or a journal holds can put a traceback on the
page: what cannot be read is said in one line.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.limits import capacities
from ..model import FAILURE_STATES, TERMINAL_STATES
from ..store.comparisons import comparisons_frame
from ..store.follow import JournalFollower, RunFolder, RunProgress, scan_store
from ..store.records import RunRecord
from ..store.runs import load_run
from .comparisons import comparison_html, comparison_running, latest_comparison
from .widgets.polling import DRAW_SHARE, Polling
from .widgets.render import View, W, figure_png, hidden_image, show_png
from .widgets.runview import Snapshot, draw_run
from .widgets.tables import resources_html

__all__ = ["QUIET_S", "STORE_ENV", "Dashboard", "latest_comparison"]

log = logging.getLogger("swarmlab")

#: The environment variable that gives the page its store (``swarmlab dashboard`` sets it).
STORE_ENV = "SWARMLAB_DASHBOARD_STORE"
#: A journal with no end line that has not grown for this long (or for three resource
#: samples, if they are further apart) belongs to a run that no longer runs: a running
#: executor appends a resource line every sampling interval.
QUIET_S = 10.0
#: Rows of the runs table (running runs first, then the newest); the rest are counted.
MAX_ROWS = 40
#: The recent throughput is measured over this much of the run's latest time.
RATE_WINDOW_S = 5.0
#: The Voilà page's own style: its template scrolls a fixed-height panel inside the page
#: (thousands of pixels tall, with a scroll bar of its own); this lets the page scroll
#: instead. Only the served page takes it (:meth:`Dashboard.from_env`): in JupyterLab the
#: same ids are the lab's own shell.
_PAGE_STYLE = """<style>
html { overflow: auto !important; height: auto !important; }
body { overflow: visible !important; height: auto !important; }
#main, #jp-main-content-panel, #rendered_cells { overflow: visible !important; contain: none !important; }
</style>"""
_AUTO = ""
_PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every PNG file
_AUTO_LABEL = "the newest run (running ones first)"
_STYLE = """<style>
.swarmlab-dash table { border-collapse: collapse; font-size: 13px; }
.swarmlab-dash th, .swarmlab-dash td { padding: 2px 10px; text-align: left; border-bottom: 1px solid #ddd; }
.swarmlab-dash td.num, .swarmlab-dash th.num { text-align: right; font-variant-numeric: tabular-nums; }
.swarmlab-dash .st-running { color: #1f6fb2; font-weight: bold; }
.swarmlab-dash .st-finished { color: #2e7d32; }
.swarmlab-dash .st-interrupted, .swarmlab-dash .st-unreadable, .swarmlab-dash .damage { color: #b23c17; }
.swarmlab-dash h3 { margin: 12px 0 4px 0; }
</style>"""


@dataclass
class _Run:
    """What the page knows of one run folder."""

    folder: RunFolder
    follower: JournalFollower | None = None  # runs seen unsaved are followed from their journal
    progress: RunProgress | None = None
    saved: dict[str, Any] | None = None  # meta.json, once written
    saved_mtime: float | None = None
    counts: Snapshot | None = None  # a saved run not followed: read once from its tasks
    error: str | None = None
    drawn_lines: int = -1  # progress.lines when its chart was last drawn
    _snapshot: Snapshot | None = None
    _taken: float = -1e9  # when the snapshot was taken (time.monotonic) and what it cost
    _cost: float = 0.0

    def snapshot(self, fresh: bool = False) -> Snapshot | None:
        """The run as read so far (a followed run's rows, or its saved frames): what the
        table and the view of the run show. Taken again when something new was read, but
        for the table no sooner than :data:`DRAW_SHARE` times what the last one cost (a
        big run's figures cost a while: the page keeps most of its time for reading);
        ``fresh`` (the view of the run, itself drawn no more often than that) or a run
        whose journal has ended: at once."""
        p = self.progress
        if p is not None and (p.meta or p.lines):
            snap, now = self._snapshot, time.monotonic()
            soon = fresh or p.end_status is not None or now - self._taken >= DRAW_SHARE * self._cost
            if snap is None or (snap.lines != p.lines and soon):
                self._snapshot = Snapshot.of(p.record(), p.lines)
                self._taken, self._cost = now, time.monotonic() - now
        elif self.counts is not None:
            self._snapshot = self.counts
        return self._snapshot

    @property
    def meta(self) -> dict[str, Any]:
        return self.saved or (self.progress.meta if self.progress is not None else {})

    def status(self, now: float) -> str:
        """running, finished, interrupted (a journal with no end that stopped growing) or
        unreadable (a journal whose first line is no header, a meta.json that cannot be read)."""
        p = self.progress
        if self.saved is not None or (p is not None and p.end_status is not None):
            return "finished"
        if p is None or (p.lines and not p.meta):
            return "unreadable"
        every = (p.meta.get("limits") or {}).get("monitoring_interval") or 0
        quiet = now - (self.folder.journal_mtime or now)
        return "interrupted" if quiet > max(QUIET_S, 3 * float(every)) else "running"


def _saved_snapshot(folder: Path, meta: dict[str, Any]) -> Snapshot:
    """A saved run's snapshot for the table, from the columns of its tasks frame the
    figures read (the view of the run loads it whole when it is shown)."""
    t = pd.read_parquet(folder / "tasks.parquet",
                        columns=["task_id", "attempt", "status", "submitted_s", "started_s", "finished_s"])
    return Snapshot.of(RunRecord.from_frames(dict(meta), {"tasks": t}))


def _comparisons_html(frame: pd.DataFrame, store: Path) -> str:
    """Each comparison of the store, newest first, from its plan and progress lines: its
    status, runs done of planned while it runs, the command that finishes it once
    interrupted, and its output files once complete."""
    if frame.empty:
        return ""
    rows = []
    for r in frame.sort_values("comparison_id", ascending=False).head(MAX_ROWS).itertuples(index=False):
        cid, status = html.escape(str(r.comparison_id)), str(r.status)
        done, planned = (0, 0) if r.runs_planned != r.runs_planned else (int(r.runs_done), int(r.runs_planned))
        if status == "complete":
            what = f"outputs: {html.escape(str(r.outputs))}" if r.outputs else "complete (no output folder)"
        elif status == "interrupted":
            what = (f"<code>swarmlab resume {cid} --store {html.escape(str(store))}</code> finishes it"
                    if r.resumable == "yes" else f"cannot be resumed: {html.escape(str(r.resumable))}")
        else:
            what = ""
        css = {"complete": "finished"}.get(status, status.split(":")[0])
        rows.append(f"<tr data-comparison='{cid}' data-status='{html.escape(status)}'>"
                    f"<td class='status st-{html.escape(css)}'>{html.escape(status)}</td><td><code>{cid}</code></td>"
                    f"<td class='num done'>{done}/{planned}</td><td><progress value='{done}' max='{max(planned, 1)}'>"
                    f"</progress></td><td>{html.escape(str(r.workload or ''))}</td>"
                    f"<td>{html.escape(str(r.started_utc or '')[:19].replace('T', ' '))}</td><td>{what}</td></tr>")
    head = ("<tr><th>status</th><th>comparison</th><th class='num'>runs done</th><th></th><th>workload</th>"
            "<th>started (UTC)</th><th></th></tr>")
    return (f"<h3>comparisons</h3><table class='swarmlab-comparisons'><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _describe(meta: dict[str, Any], spec: dict[str, Any] | None) -> str:
    """The set-up of a run, from its header meta (or its saved meta), escaped."""
    spec = spec or {}
    parts = [f"algorithm <b>{html.escape(str(meta.get('algorithm', '?')))}</b>"]
    if meta.get("stealing") and meta.get("algorithm") != "work_stealing":
        parts[0] += f" + stealing ({html.escape(str(meta['stealing']))})"
    parts.append(f"mode {html.escape(str(meta.get('mode', '?')))} ({html.escape(str(meta.get('clock', '?')))} clock)")
    name, n = meta.get("workload") or spec.get("name"), meta.get("workload_n") or spec.get("n")
    if name:
        parts.append(f"workload {html.escape(str(name))}" + (f" &times; {int(n)}" if n else ""))
    if meta.get("n_agents") is not None:
        parts.append(f"{meta['n_agents']} agents, at most {meta.get('max_concurrent_tasks', '?')} tasks at once")
    lim = meta.get("limits") or {}
    shown = [(lim.get("max_cpu_percent"), "cpu &le; {:g}%"), (lim.get("max_memory_mb"), "memory &le; {:g} MB"),
             (lim.get("task_timeout"), "task timeout {:g} s"),
             (lim.get("max_task_memory_mb"), "task memory &le; {:g} MB")]
    if meta.get("clock") == "virtual":  # readings of CPU and memory throttle real runs only
        shown = [item for item in shown if "timeout" in item[1]]  # a task timeout acts on both clocks
    limits = [fmt.format(v) for v, fmt in shown if isinstance(v, (int, float))]
    parts.append("limits: " + (", ".join(limits) if limits else "none"))
    if meta.get("started_utc"):
        parts.append(f"started {html.escape(str(meta['started_utc']))}")
    return " &middot; ".join(parts)


def setup_name(meta: dict[str, Any]) -> str:
    """A run's set-up as the runs table names it: the baseline as such, else its algorithm
    and, where the run's set-up label says more (the panel's workload, mode and limits; a
    comparison's stealing), that label too."""
    if meta.get("baseline"):
        return f"{meta['baseline']} baseline"
    algorithm, label = str(meta.get("algorithm") or "?"), meta.get("setup")
    if not label or algorithm in str(label):
        return str(label or algorithm)
    return f"{algorithm} ({label})"


def _resource_table(record: RunRecord) -> pd.DataFrame:
    """:func:`swarmlab.analysis.limits.resource_table` (imported when a run with limits is
    first shown)."""
    from ..analysis.limits import resource_table

    return resource_table(record)


@dataclass
class _Shown:
    """The run on show and what its chart cost."""

    run_id: str | None = None
    record: Snapshot | None = None  # a saved run not followed, loaded once
    last_plot: float = -1e9
    draw_s: float = 0.0
    status: str | None = None  # the run's status when last drawn (running -> finished draws again)


class Dashboard(View, Polling):
    """Every run of ``store``, the running ones followed live from their journals, and the
    newest comparison written next to the store (``results``, default the store's parent:
    where ``swarmlab compare`` writes ``compare-*.csv`` and its PNG).

    The runs table lists each run (running, finished, interrupted) with its tasks ended,
    running and waiting and its throughput; below it, one run in detail: its set-up
    (algorithm, mode, limits), its counts, damaged journal lines if any, and a chart of
    throughput over time, resources (throttled spans shaded) and a Gantt chart (busy share
    per time bin past a few thousand attempts). The run shown is the newest running one
    unless another is picked. It polls on the running event loop every ``interval``
    seconds (at once while a journal has a backlog); without a loop, call :meth:`refresh`.
    """

    def __init__(self, store: str | Path = "data/runs", *, results: str | Path | None = None,
                 interval: float = 0.5, plot_s: float = 1.0) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0.05 <= interval <= 60:
            raise ValueError(f"interval must be a number of seconds from 0.05 to 60; got {interval!r}")
        if isinstance(plot_s, bool) or not isinstance(plot_s, (int, float)) or plot_s < interval:
            raise ValueError(f"plot_s must be at least interval ({interval}); got {plot_s!r}")
        self.store = Path(store)
        self.results = Path(results) if results is not None else self.store.parent
        self.interval, self.plot_s = float(interval), float(plot_s)
        self.title = W.HTML()
        self.message = W.HTML()
        self.table = W.HTML()
        self.comparisons = W.HTML()  # each comparison of the store: runs done of planned, its outputs
        self.picker = W.Dropdown(options=[(_AUTO_LABEL, _AUTO)], value=_AUTO, description="show run",
                                 style={"description_width": "initial"}, layout=W.Layout(width="480px"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="tasks ended", bar_style="info",
                                      style={"description_width": "initial"}, layout=W.Layout(width="480px"))
        self.details = W.HTML()
        self.counts = W.HTML()  # drawn with the chart, from the same snapshot
        self.resources = W.HTML()  # the run's limits: units in use, tasks held back (empty without limits)
        self.chart = hidden_image()
        self.comparison = W.HTML()
        self.comparison_png = hidden_image()
        self.widget = W.VBox([W.HTML(_STYLE), self.title, self.message, self.comparisons, self.table,
                              self.picker, self.progress, self.details, self.counts, self.resources, self.chart,
                              self.comparison, self.comparison_png])
        self.widget.add_class("swarmlab-dash")
        self.runs: dict[str, _Run] = {}
        self._shown = _Shown()
        #: What the view of the run on show was last drawn from (counts, bar and charts alike).
        self.snapshot: Snapshot | None = None
        self._comparison_key: tuple | None = None
        self.refresh()
        self.start()

    @classmethod
    def from_env(cls, **kwargs: Any) -> Dashboard:
        """The dashboard of the store named by :data:`STORE_ENV` (default ``data/runs``), as
        the page served by Voilà shows it: the page itself scrolls (:data:`_PAGE_STYLE`)."""
        dash = cls(os.environ.get(STORE_ENV, "data/runs"), **kwargs)
        dash.widget.children = (W.HTML(_PAGE_STYLE), *dash.widget.children)
        return dash

    # ------------------------------------------------------------------ polling
    def poll(self) -> float:
        """One look, as the poller takes it: the next one comes at once while a journal
        has a backlog, else after ``interval`` (the page is followed until it closes)."""
        return 0 if self.refresh() else self.interval

    def refresh(self) -> bool:
        """One look at the store, the journals and the comparison files; returns whether a
        journal has more to read than one look takes."""
        try:
            behind = self._look()
            self._show_table()
            self.comparisons.value = _comparisons_html(comparisons_frame(self.store), self.store)
            self._show_run()
            self._show_comparison()
            self.message.value = ""
        except Exception as exc:  # noqa: BLE001 - the page has no caller to raise to: say it, go on
            log.warning("swarmlab dashboard: %s: %s", type(exc).__name__, exc, exc_info=True)
            self.message.value = f"<p class='damage'>{html.escape(f'{type(exc).__name__}: {exc}')}</p>"
            return False
        self.title.value = (f"<h2>swarmlab runs in <code>{html.escape(str(self.store))}</code></h2>"
                            f"read at {time.strftime('%H:%M:%S')}")
        return behind

    def _look(self) -> bool:
        behind = False
        folders = scan_store(self.store)
        for gone in set(self.runs) - {f.run_id for f in folders}:
            del self.runs[gone]
        for folder in folders:
            run = self.runs.get(folder.run_id)
            if run is None:
                run = self.runs[folder.run_id] = _Run(folder)
                if folder.saved_mtime is None:
                    run.follower, run.progress = JournalFollower(folder.journal), RunProgress(folder.run_id)
            run.folder = folder
            try:
                if run.follower is not None:
                    run.progress.feed(run.follower.poll())
                    behind |= run.follower.behind
                if folder.saved_mtime is not None and folder.saved_mtime != run.saved_mtime:
                    run.saved = json.loads((folder.path / "meta.json").read_text())
                    if run.progress is None:
                        run.counts = _saved_snapshot(folder.path, run.saved)
                    run.saved_mtime = folder.saved_mtime  # read: not again until it changes
                run.error = None
            except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
                run.error = f"{type(exc).__name__}: {exc}"
        return behind

    # ------------------------------------------------------------------ the runs table
    def _ordered(self, now: float) -> list[tuple[str, _Run]]:
        """Running runs first, then the others; the newest first in each."""
        def key(item: tuple[str, _Run]) -> tuple:
            rid, run = item
            return str(run.meta.get("started_utc") or ""), rid

        running = [(rid, run) for rid, run in self.runs.items() if run.status(now) == "running"]
        rest = [(rid, run) for rid, run in self.runs.items() if run.status(now) != "running"]
        return sorted(running, key=key, reverse=True) + sorted(rest, key=key, reverse=True)

    def _show_table(self) -> None:
        now = time.time()
        ordered = self._ordered(now)
        head = ("<tr><th>status</th><th>run</th><th>set-up</th><th>mode</th><th>workload</th><th>started (UTC)</th>"
                "<th class='num'>ended</th><th class='num'>running</th><th class='num'>waiting</th>"
                "<th class='num'>tasks/s</th><th class='num'>t_s</th></tr>")
        rows = []
        for rid, run in ordered[:MAX_ROWS]:
            status, meta, snap = run.status(now), run.meta, run.snapshot()
            spec = run.progress.spec if run.progress is not None else None
            wl = meta.get("workload") or (spec or {}).get("name") or ""
            started = str(meta.get("started_utc") or "")[:19].replace("T", " ")
            f = snap.figures if snap is not None else None
            nums = ("", "", "", "", "") if f is None else (
                f"{f.n_ended}/{f.tasks}", f.running, f.waiting, f"{f.throughput_tps:.1f}", f"{f.makespan_s:.1f}")
            cells = [f"<td class='status st-{status}'>{status}</td>", f"<td><code>{html.escape(rid)}</code></td>",
                     *(f"<td>{html.escape(str(v))}</td>" for v in (setup_name(meta), meta.get("mode", ""), wl,
                                                                    started)),
                     *(f"<td class='num {k}'>{v}</td>" for k, v in zip(("ended", "running", "waiting", "rate", "t"),
                                                                       nums))]
            rows.append(f"<tr data-run='{html.escape(rid)}' data-status='{status}'>{''.join(cells)}</tr>")
        more = f"<p>and {len(ordered) - MAX_ROWS} older runs</p>" if len(ordered) > MAX_ROWS else ""
        counts = Counter(run.status(now) for run in self.runs.values())
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no run yet"
        self.table.value = (f"<p>{len(self.runs)} run{'' if len(self.runs) == 1 else 's'}: {summary}</p>" +
                            (f"<table class='swarmlab-runs'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
                             if rows else "") + more)
        options = [(_AUTO_LABEL, _AUTO)] + [(f"{rid} · {run.status(now)} · {run.meta.get('algorithm', '?')}",
                                                          rid) for rid, run in ordered[:MAX_ROWS]]
        if self.picker.value not in [v for _, v in options]:
            options.append((self.picker.value, self.picker.value))
        if options != list(self.picker.options):
            value = self.picker.value
            self.picker.options = options  # (which resets the value to the first option)
            self.picker.value = value

    # ------------------------------------------------------------------ one run
    def _chosen(self) -> str | None:
        if self.picker.value != _AUTO:
            return self.picker.value
        ordered = self._ordered(time.time())
        return ordered[0][0] if ordered else None

    def _show_run(self) -> None:
        rid = self._chosen()
        run = self.runs.get(rid) if rid is not None else None
        shown = self._shown
        if run is None:
            self.snapshot = None
            self.details.value = "<p>no run to show yet</p>"
            self.counts.value = ""
            show_png(self.chart, None)
            return
        if rid != shown.run_id:  # another run: nothing of the last one stays on show
            self._shown = shown = _Shown(run_id=rid)
            self.snapshot = None
            self.counts.value, self.resources.value = "", ""
            show_png(self.chart, None)
        now = time.time()
        status, p = run.status(now), run.progress
        parts = [f"<h3>run <code>{html.escape(rid)}</code> <span class='status st-{status}'>{status}</span></h3>",
                 f"<p>{_describe(run.meta, p.spec if p is not None else None)}</p>"]
        if p is not None and p.throttled:
            snap = run.snapshot()
            until = snap.t_s if snap is not None else 0.0  # a span still open: up to the latest row read
            spans = sum((b if b is not None else max(a, until)) - a for a, b in p.throttled)
            parts.append(f"<p>admission throttled {len(p.throttled)} times, {spans:.1f} s in all</p>")
        if status == "interrupted":
            parts.append(f"<p class='st-interrupted'>its journal has no end and stopped growing: the run was killed or "
                         f"hangs; <code>swarmlab resume {html.escape(rid)} --store {html.escape(str(self.store))}"
                         "</code> finishes it</p>")
        if run.error is not None:
            parts.append(f"<p class='damage'>cannot be read: {html.escape(run.error)}</p>")
        if p is not None and p.n_damaged:
            lines = "; ".join(f"line {d.line}: <code>{html.escape(d.text)}</code>" for d in p.damaged[:5])
            parts.append(f"<p class='damage'>{p.n_damaged} damaged journal line{'s' if p.n_damaged > 1 else ''} "
                         f"skipped ({lines}{'; ...' if p.n_damaged > 5 else ''})</p>")
        self.details.value = "".join(parts)
        self._maybe_draw(run, status)

    def _maybe_draw(self, run: _Run, status: str) -> None:
        """Draw the counts, the progress bar and the charts of ``run`` together, from one
        snapshot (:class:`Snapshot`), when it has something new and the chart is due."""
        shown, p = self._shown, run.progress
        lines = p.lines if p is not None else 0
        if lines == run.drawn_lines and shown.last_plot > 0 and shown.status == status:
            return  # nothing new
        now = time.monotonic()
        if now - shown.last_plot < max(self.plot_s, DRAW_SHARE * shown.draw_s):
            return  # drawn again at a later look (the poller goes on looking)
        t0 = time.perf_counter()
        if p is not None:
            snap = run.snapshot(fresh=True)
        else:
            if shown.record is None:
                shown.record = Snapshot.of(load_run(run.folder.path))
            snap = shown.record
        if snap is None:
            return
        self.snapshot = snap
        self._show_counts(snap, status)
        self.resources.value = resources_html(_resource_table(snap.record)) if capacities(snap.record.meta) else ""
        show_png(self.chart, figure_png(lambda fig: draw_run(fig, snap, status == "running"), (12, 6.5)))
        # the lines the snapshot holds (it may be older than what was read): drawn again once newer
        run.drawn_lines, shown.last_plot, shown.status = (snap.lines if p is not None else lines), now, status
        shown.draw_s = time.perf_counter() - t0

    def _show_counts(self, snap: Snapshot, status: str) -> None:
        """The progress bar and the counts line of ``snap``."""
        f = snap.figures
        self.progress.max, self.progress.value = max(f.tasks, 1), f.n_ended
        bad = sum(f.ended[k] for k in FAILURE_STATES)
        self.progress.bar_style = "danger" if bad else "success" if status == "finished" else "info"
        detail = ", ".join(f"{f.ended[k]} {k.replace('_', ' ')}" for k in TERMINAL_STATES)
        self.counts.value = (
            f"<p class='counts'><b class='ended'>{f.n_ended}/{f.tasks}</b> tasks ended: {detail}"
            f" &middot; <b class='running'>{f.running}</b> running &middot; <b class='waiting'>{f.waiting}</b> waiting"
            f" &middot; {f.throughput_tps:.1f} tasks/s over {f.makespan_s:.2f} s (first submission to last finish)"
            f" &middot; <span class='t'>t = {snap.t_s:.2f} s</span></p>")

    # ------------------------------------------------------------------ the comparison
    def _show_comparison(self) -> None:
        files = latest_comparison(self.results)
        now = time.time()
        running = comparison_running(((run.meta, run.status(now) == "running") for run in self.runs.values()), files)
        # sizes too: a file written in two writes within one tick of the file clock keeps its mtime
        key = (None if files is None else tuple((k, str(p), p.stat().st_mtime_ns, p.stat().st_size)
                                                for k, p in sorted(files.items())),
               None if running is None else (running.get("run_id"), running["runs"], running["running"]))
        if key == self._comparison_key:
            return
        self._comparison_key = key
        if files is None and running is None:
            self.comparison.value = ""
            show_png(self.comparison_png, None)
            return
        workloads = {rid: str(run.meta.get("workload")) for rid, run in self.runs.items() if run.meta.get("workload")}
        try:
            self.comparison.value = comparison_html(files, running, workloads)
        except Exception as exc:  # noqa: BLE001 - a file being written or of another layout
            self.comparison.value = (f"<p class='damage'>{html.escape(files['summary'].name)} cannot be read: "
                                     f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>")
            self._comparison_key = None  # try again at the next look
        png = files["png"].read_bytes() if files is not None and "png" in files else b""
        if png and not png.endswith(_PNG_END):
            png, self._comparison_key = b"", None  # still being written: read it again at the next look
        show_png(self.comparison_png, png)

    def __repr__(self) -> str:
        return f"Dashboard({str(self.store)!r}, {len(self.runs)} runs)"
