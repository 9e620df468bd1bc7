"""Plots drawn from frames; checked through their artists, never pixels."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402

import swarmlab as sl  # noqa: E402
from swarmlab import Agent, Task, TaskScheduler, plots, simulate, workloads  # noqa: E402
from swarmlab import compare as run_compare  # noqa: E402


def _record():
    tasks = [Task(None, id=f"t{i}", estimate_s=1.0 + i % 3, priority=1 + i % 10,
                  requires=["code"] if i % 4 == 0 else ()) for i in range(30)]
    agents = [Agent("a", capabilities={"code"}), Agent("b"), Agent("c", capabilities={"code"})]
    return simulate(tasks, agents, scheduler=TaskScheduler("least_loaded"),
                    failures=lambda t, n: ValueError() if t.id == "t5" else None)


def test_gantt_draws_one_bar_per_attempt_in_one_lane_per_agent():
    rec = _record()
    ax = plots.gantt(rec.tasks)
    bars = ax.patches
    assert len(bars) == rec.tasks["started_s"].notna().sum()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    failed = [b for b in bars if matplotlib.colors.to_hex(b.get_facecolor()) == plots.STATUS_COLORS["failed"]]
    assert len(failed) == 1
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)  # the statuses' legend covers no bar
    assert not any(_overlap(legend, b.get_window_extent(renderer)) for b in bars)
    by_priority = plots.gantt(rec.tasks, color_by="priority")
    assert len({tuple(b.get_facecolor()) for b in by_priority.patches}) > 3
    with pytest.raises(sl.ConfigError, match="color_by must be one of"):
        plots.gantt(rec.tasks, color_by="mood")


def test_gantt_aggregates_to_busy_shares_at_scale():
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(400)], [Agent(f"a{i}") for i in range(4)])
    ax = plots.gantt(rec.tasks, max_bars=100, bins=20)
    mesh = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(mesh) == 1 and not ax.patches
    shares = mesh[0].get_array().reshape(4, 20)
    assert np.allclose(shares, 1.0)  # four agents busy all the time


def test_busy_share_equals_the_overlap_of_each_attempt_with_each_bin():
    rng = np.random.default_rng(0)
    n = 3000
    lanes, starts = rng.integers(0, 7, n), rng.uniform(0, 100, n)
    finishes = starts + rng.exponential(2.0, n)
    edges = np.linspace(starts.min(), finishes.max(), 41)
    expect = np.zeros((8, 40))  # lane 7 never ran: all zero
    for lane, s, f in zip(lanes, starts, finishes):  # the definition, attempt by attempt
        expect[lane] += np.clip(np.minimum(f, edges[1:]) - np.maximum(s, edges[:-1]), 0, None) / np.diff(edges)
    assert np.allclose(plots.busy_share(lanes, starts, finishes, edges, 8), expect)


def test_gantt_of_many_agents_names_some_lanes_and_draws_on_the_figure_it_is_given():
    import warnings

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    rec = simulate([Task(None, estimate_s=1.0) for _ in range(600)], [Agent(f"a{i:03d}") for i in range(300)])
    before = plt.get_fignums()
    ax = Figure().subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a colorbar on another figure warned, and made a stray figure
        plots.gantt(rec.tasks, ax=ax, max_bars=100)
    assert plt.get_fignums() == before and len(ax.figure.axes) == 2  # the chart and its colorbar
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert 1 < len(names) <= plots.GANTT_MAX_LABELS and names[0] == "a000"
    assert ax.get_ylim() == (-0.6, 299.6)  # every lane is drawn


def test_throughput_utilization_and_queue_length_follow_the_rows():
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(40)], [Agent(f"a{i}") for i in range(4)])
    ax = plots.throughput(rec.tasks, bins=10)
    x, y = ax.lines[0].get_data()
    assert np.sum(y * np.diff(np.append(x, 10.0))) == pytest.approx(40)
    u = plots.utilization(rec.tasks)
    assert [round(p.get_height(), 6) for p in u.patches] == [1.0] * 4
    q = plots.queue_length(rec.events)
    queued, running = q.lines[0].get_ydata(), q.lines[1].get_ydata()
    assert queued[0] == 36 and running[0] == 4  # at t=0, once every event of that instant is in
    assert max(queued) == 36 and max(running) == 4 and queued[-1] == 0 and running[-1] == 0


def test_resources_shade_throttled_spans():
    import pandas as pd

    r = pd.DataFrame({"t_s": [0.0, 1.0, 2.0, 3.0], "cpu_pct": [50, 190, 180, 20], "rss_mb": [100, 120, 130, 90],
                      "throttled": [False, True, True, False], "gpu_util_pct": [np.nan] * 4})
    ax = plots.resources(r)
    assert len(ax.patches) == 2 and ax.lines[0].get_label() == "cpu_pct"
    with pytest.raises(sl.ConfigError, match="needs a frame with columns"):
        plots.resources(r.drop(columns="rss_mb"))


def test_resources_legend_sits_off_the_data_the_limits_are_lines_and_no_axis_has_an_offset():
    import pandas as pd

    from swarmlab.model import ResourceLimits

    # memory that hardly moves (257.703 to 257.707 MB) drew "+2.577e2" over the axis
    r = pd.DataFrame({"t_s": np.linspace(0, 3, 31), "cpu_pct": np.linspace(10, 190, 31),
                      "rss_mb": 257.703 + np.linspace(0, 0.004, 31), "throttled": [False] * 31})
    for limits in (ResourceLimits(max_cpu_percent=30, max_memory_mb=1024),
                   {"max_cpu_percent": 30, "max_memory_mb": 1024}):  # record.meta["limits"]
        ax = plots.resources(r, limits=limits, cores=4)
        mem = next(other for other in ax.figure.axes if other is not ax)
        limit_lines = {line.get_label(): line.get_ydata()[0] for line in ax.lines + mem.lines
                       if "limit" in line.get_label()}
        assert limit_lines == {"cpu limit (30% of 4 cores)": 120, "memory limit (1024 MB)": 1024}
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = ax.get_legend()
        assert {t.get_text() for t in legend.get_texts()} == {"cpu_pct", "rss_mb", *limit_lines}
        box = legend.get_window_extent(renderer)
        assert box.y0 >= ax.get_window_extent(renderer).y1  # above the axes: on no line
        assert [axis.yaxis.get_offset_text().get_text() for axis in (ax, mem)] == ["", ""]
    assert not any("limit" in line.get_label() for line in plots.resources(r).lines)  # no limits given, none drawn


def test_compare_and_load_balance_draw_bars_with_error_bars():
    result = run_compare(workloads.heavy_tailed(30, seed=1), algorithms=["round_robin", "least_loaded"],
                         modes=["asyncio"], repeats=2, simulate=True, baseline=False)
    ax = plots.compare(result.summary, "makespan_s")
    assert len(ax.patches) == 2 * 2  # two algorithms x two modes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["round_robin", "least_loaded"]
    assert any(len(c.get_segments()) for c in ax.collections)  # the CI error bars
    lb = plots.load_balance(result.summary)
    assert lb.get_ylabel() == "load balance score (0 to 1)"
    with pytest.raises(sl.ConfigError, match="metric must be one of"):
        plots.compare(result.summary, "happiness")


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_compare_charts_give_units_n_and_the_better_direction_and_no_legend_covers_a_bar():
    result = run_compare(workloads.heavy_tailed(30, seed=1), algorithms=["round_robin", "least_loaded", "dynamic"],
                         modes=[], repeats=3, simulate=True, add_stealing=True)
    ax = plots.compare(result.summary, "makespan_s")
    assert ax.get_ylabel() == "makespan (s)" and ax.get_xlabel() == "set-up"
    assert "n = 3 per bar" in ax.get_title() and "lower is better" in ax.get_title()
    tps = plots.compare(result.summary, "throughput_tps")
    assert tps.get_ylabel() == "throughput (tasks/s)" and "higher is better" in tps.get_title()
    for axes in (ax, tps):
        fig = axes.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = axes.get_legend().get_window_extent(renderer)
        assert legend.x0 >= axes.get_window_extent(renderer).x1  # outside the axes, right of it
        assert not any(_overlap(legend, bar.get_window_extent(renderer)) for bar in axes.patches)


@pytest.mark.parametrize("setups", [["round_robin", "least_loaded"], None])
def test_the_saved_comparison_figure_clips_no_label(tmp_path, setups):
    from matplotlib.text import Text

    result = run_compare(workloads.heavy_tailed(30, seed=1), algorithms=setups, modes=[], repeats=2, simulate=True,
                         add_stealing=setups is None, baseline=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plots.compare_figure(result.summary)
    canvas = FigureCanvasAgg(fig)
    fig.savefig(tmp_path / "c.png")  # what the command line saves (it adds bbox_inches="tight" besides)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    assert any(t.get_text() == "priority_based+stealing" for t in texts) or setups is not None
    for t in texts:
        box = t.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, \
            t.get_text()
    titles = [a.title.get_window_extent(renderer) for a in fig.axes]
    assert not any(_overlap(a, b) for i, a in enumerate(titles) for b in titles[i + 1:])
    legend = fig.legends[0].get_window_extent(renderer)
    assert not any(_overlap(legend, a.get_window_extent(renderer)) for a in fig.axes)
    import math

    for axes in fig.axes:  # the rotated set-up names do not run into each other: parallel lines of text
        labels = axes.get_xticklabels()  # as far apart, across them, as a line is high
        xs = [axes.transData.transform((t, 0))[0] for t in axes.get_xticks()]
        across = min(b - a for a, b in zip(xs, xs[1:])) * math.sin(math.radians(labels[0].get_rotation()))
        assert across >= labels[0].get_fontsize() * fig.dpi / 72


def test_gantt_lanes_sort_numbers_by_value():
    """Issue 28: lanes sorted as text put agent-10 to agent-12 between agent-1 and agent-2."""
    agents = [Agent(f"agent-{i}") for i in range(13)]
    rec = simulate([Task(None, estimate_s=1.0) for _ in range(13)], agents)
    ax = plots.gantt(rec.tasks)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"agent-{i}" for i in range(13)]
