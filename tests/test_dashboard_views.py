"""The views of a run read as one moment and read well: the counts and every chart drawn from
one snapshot, over the same time; throughput in bins a reader can read; the resources plot
with its legend outside the data and no offset text; words where there is nothing to draw."""

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_dashboard import META, _att, _ev, _journal, _task

from swarmlab.analysis import plots
from swarmlab.ui import dashboard as dash_module
from swarmlab.ui.dashboard import Dashboard, Snapshot


def _drawn(monkeypatch):
    """Every snapshot the page draws, with the figure drawn from it."""
    seen = []
    real = dash_module.draw_run

    def draw(fig, snap, running):
        real(fig, snap, running)
        seen.append((snap, fig))

    monkeypatch.setattr(dash_module, "draw_run", draw)
    return seen


def _counts(dash):
    ended, total = re.search(r"<b class='ended'>(\d+)/(\d+)</b>", dash.counts.value).groups()
    t = float(re.search(r"t = ([\d.]+) s", dash.counts.value).group(1))
    return int(ended), int(total), t


def test_the_counts_and_every_chart_come_from_one_snapshot_over_the_same_time(tmp_path, monkeypatch):
    store = tmp_path / "runs"
    _journal(store, "live", *(_task(f"t{i}") for i in range(4)), _ev(0, 0.1, "started", "t0"),
             _att("t0", 0.1, 0.4), _ev(1, 0.4, "completed", "t0"))
    seen = _drawn(monkeypatch)
    dash = Dashboard(store, plot_s=3600)  # drawn once at first, not again within the test
    snap, fig = seen[-1]
    assert _counts(dash) == (1, 4, pytest.approx(snap.t_s, abs=0.005)) and snap.t_s == pytest.approx(0.4)
    for ax in fig.axes:
        if ax.get_title() in ("throughput", "resources", "attempts per agent") and ax.get_xticks().size:
            assert ax.get_xlim() == pytest.approx((0, snap.t_s))  # every chart ends where "t =" says
    # more is read, but the chart is not due: the counts stay those of the chart on show
    _journal(store, "live", _ev(2, 0.5, "started", "t1"), _att("t1", 0.5, 1.3), _ev(3, 1.3, "completed", "t1"),
             {"type": "resource", "row": [2.0] + [0.0] * 13 + [0, 0, False, None, None]})
    dash.refresh()
    assert len(seen) == 1 and _counts(dash)[0] == 1 and dash.snapshot is snap
    assert dash.runs["live"].snapshot().figures.n_ended == 2  # (the table, a view of its own, is newer)
    # the next drawing takes the counts along with it
    dash._shown.last_plot = -1e9
    dash.refresh()
    snap, fig = seen[-1]
    assert _counts(dash) == (2, 4, pytest.approx(2.0)) and snap.figures.n_ended == 2 and snap.t_s == 2.0
    assert snap.figures.makespan_s == pytest.approx(1.3)  # the sample after the last finish is no run time
    # the run ends: its last rows are drawn, however long its snapshots took to take
    dash.runs["live"]._cost = 1e9
    _journal(store, "live", _att("t2", 1.3, 1.5), _ev(4, 1.5, "completed", "t2"), _att("t3", 1.3, 1.6),
             _ev(5, 1.6, "completed", "t3"), {"type": "end", "status": "complete"})
    dash._shown.last_plot = -1e9
    dash.refresh()
    assert _counts(dash)[:2] == (4, 4) and seen[-1][0].figures.n_ended == 4


def test_another_run_picked_shows_nothing_of_the_last_one(tmp_path, monkeypatch):
    store = tmp_path / "runs"
    _journal(store, "busy", *(_task(f"t{i}") for i in range(3)), _ev(0, 0.1, "started", "t0"),
             _att("t0", 0.1, 0.4), _ev(1, 0.4, "completed", "t0"))
    _journal(store, "fresh", meta=dict(META, mode="process", started_utc="2031-01-01T00:00:00"))
    seen = _drawn(monkeypatch)
    dash = Dashboard(store, plot_s=3600)
    assert seen[-1][0].record.run_id == "fresh" and _counts(dash)[:2] == (0, 0)
    texts = [" ".join(t.get_text().split()) for ax in seen[-1][1].axes for t in ax.texts]
    assert any("the process workers are starting" in t for t in texts)
    dash.picker.value = "busy"
    dash.refresh()
    assert seen[-1][0].record.run_id == "busy" and _counts(dash)[:2] == (1, 3)  # at once, both together
    dash.picker.value = "fresh"
    dash.refresh()
    assert seen[-1][0].record.run_id == "fresh" and _counts(dash)[:2] == (0, 0)


def test_a_short_run_without_a_sample_says_why():
    import swarmlab as sl

    rec = sl.RunRecord({"run_id": "r", "clock": "real", "mode": "thread",
                        "limits": {"monitoring_interval": 1.0}}, [], [tuple(_att("t0", 0.1, 0.3)["row"])],
                       task_info=[("t0", "io", None, [], [], "default")])
    fig = Figure()
    dash_module.draw_run(fig, Snapshot.of(rec), running=False)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no resource sample: the run took 0.3 s, less than its sampling interval (one every 1 s)" in [
        " ".join(t.split()) for t in texts]


def test_throughput_bins_come_from_the_runs_duration():
    done = np.linspace(0.01, 0.36, 300)
    tasks = pd.DataFrame({"status": "completed", "finished_s": done, "submitted_s": 0.0})
    width = plots.bin_width(0.36)
    assert width == 0.02  # about 30 bins, a round width
    x, y = plots.throughput(tasks, bin_s=width, until_s=0.36).lines[0].get_data()
    assert np.diff(x) == pytest.approx(np.full(len(x) - 1, width)) and len(x) == 18
    assert np.sum(y * width) == pytest.approx(300)
    assert [plots.bin_width(s) for s in (3, 40, 900)] == [0.1, 2, 50]
    assert plots.throughput(tasks, bin_s=width).get_ylim()[0] == 0  # read against zero


def test_the_resources_plot_keeps_its_legend_off_the_data_and_its_axes_without_offset_text():
    t = np.arange(0, 4, 0.5)
    r = pd.DataFrame({"t_s": t, "cpu_pct": 40 + 10 * np.sin(t), "rss_mb": 257.7 + 0.004 * np.cos(t),
                      "throttled": False})
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = plots.resources(r, ax=fig.subplots())
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    data = ax.get_window_extent()
    assert legend.y1 <= data.y0 or legend.y0 >= data.y1  # outside the plotting area: it covers no line
    for a in fig.axes:
        assert a.yaxis.get_offset_text().get_text() == "" and a.xaxis.get_offset_text().get_text() == ""
    mem = [a for a in fig.axes if a is not ax][0]
    assert mem.get_ylim()[0] == 0 and mem.get_ylim()[1] > 257.7  # in MB, from 0: ticks a reader reads
    assert all(float(tk.get_text().replace("−", "-")) >= 0 for tk in mem.get_yticklabels() if tk.get_text())


def _compare_files(folder, stamp="20300102T000000Z"):
    """A comparison's files, written as ``swarmlab compare`` writes them; returns its result."""
    import swarmlab as sl
    from swarmlab.experiments.comparison import compare

    result = compare(sl.workloads.heavy_tailed(30, seed=1), algorithms=["round_robin", "least_loaded"],
                     modes=["asyncio"], repeats=3, simulate=True, baseline=False)
    result.summary.to_csv(folder / f"compare-{stamp}.csv", index=False)
    result.per_run.to_csv(folder / f"compare-{stamp}-runs.csv", index=False)
    result.verdicts.to_csv(folder / f"compare-{stamp}-verdicts.csv", index=False)
    return result


def test_verdicts_are_the_sentences_the_command_prints(tmp_path):
    import html

    (tmp_path / "runs").mkdir()
    result = _compare_files(tmp_path)
    dash = Dashboard(tmp_path / "runs")
    text = dash.comparison.value
    printed = [line for line in result.report(["makespan_s"]) if "drift" not in line]
    assert printed and all(f"<li>{html.escape(line)}</li>" in text for line in printed)
    assert "p_adjusted" not in text and "repeats_needed" not in text  # no raw rows


def test_the_comparison_running_now_is_shown_first_and_named(tmp_path):
    store = tmp_path / "runs"
    _compare_files(tmp_path)
    labels = {"workload": "io", "workload_n": 300, "workload_seed": 0, "setup": "least_loaded", "role": "measured",
              "order": 4, "repeat": 2}
    _journal(store, "now", _task("t0"), meta=dict(META, started_utc="2099-01-01T00:00:00+00:00", **labels))
    dash = Dashboard(store)
    text = dash.comparison.value
    assert text.index("comparison running now: workload io &times; 300") < text.index("previous comparison")
    assert "run 4 (set-up least_loaded, repeat 2)" in text and "1 of its runs in the store so far" in text
    assert "previous comparison: finished 2030-01-02 00:00:00 UTC (compare-20300102T000000Z)" in text
    (store / "now" / "journal.jsonl").unlink()  # it is over, and its summary is the newest
    _compare_files(tmp_path, "20990102T000000Z")
    dash.refresh()
    assert "running now" not in dash.comparison.value
    assert "latest comparison: finished 2099-01-02" in dash.comparison.value


def test_a_run_saved_from_the_panel_shows_its_algorithm(tmp_path):
    import swarmlab as sl
    from swarmlab.store.runs import RunStore

    wl = sl.workloads.io(5, seed=1)
    rec = sl.simulate(wl.tasks(), wl.agents, scheduler="dynamic", seed=1)
    rec.meta.update(setup="io×5 simulated, all agents' slots", role="measured")  # as the panel labels it
    RunStore(tmp_path).save(rec)
    table = Dashboard(tmp_path).table.value
    assert "<td>dynamic (io×5 simulated, all agents&#x27; slots)</td>" in table


def test_a_stopped_runs_gantt_covers_the_run_and_shows_the_cancelled_as_cancelled():
    import asyncio

    import swarmlab as sl

    async def main():
        wl = sl.workloads.io(300, seed=0)
        ex = sl.ParallelExecutor(mode="asyncio", agents=wl.agents, limits=sl.ResourceLimits(
            max_cpu_percent=None, max_memory_mb=None, max_concurrent_tasks=4))
        await ex.start()
        await ex.submit_batch(wl.tasks("async"))
        await until(lambda: ex.get_metrics().tasks_completed >= 5)
        await ex.stop(timeout=0)
        return ex.record()

    from conftest import until

    rec = asyncio.run(main())
    t = rec.tasks
    never = int(((t["status"] == "cancelled") & t["started_s"].isna()).sum())
    assert never > 0
    fig = Figure(figsize=(12, 6))
    snap = Snapshot.of(rec)
    dash_module.draw_run(fig, snap, running=False)
    gantt = next(ax for ax in fig.axes if ax.get_title().startswith("attempts per agent"))
    assert f"{never:,} tasks cancelled before they started" in gantt.get_title()
    assert gantt.get_xlim() == pytest.approx((0, snap.t_s)) and snap.t_s >= t["finished_s"].max()
    grey = plots.STATUS_COLORS["cancelled"]
    from matplotlib.colors import to_hex

    stopped = int(((t["status"] == "cancelled") & t["started_s"].notna()).sum())
    assert sum(to_hex(p.get_facecolor()) == grey for p in gantt.patches) == stopped  # stopped while running: grey
