"""The notebook panels, driven as a kernel drives them: on one event loop, buttons clicked."""

import asyncio

import pandas as pd
import pytest

pytest.importorskip("ipywidgets")

from conftest import run, until

from swarmlab import ConfigError, ParallelExecutor, Task, workloads
from swarmlab.orchestration import (
    BenchmarkConfig,
    OrchestrationConfig,
    OrchestrationManager,
)
from swarmlab.store.runs import RunStore
from swarmlab.ui.widgets import ExperimentPanel, LiveMonitor

PNG = b"\x89PNG"


def _panel(tmp_path, **kw):
    kw = {"algorithms": ["round_robin", "least_loaded"], "workload": "io", "n": 12, "repeats": 2,
          "store": tmp_path / "runs", "export_dir": tmp_path / "exports", **kw}
    return ExperimentPanel(**kw)


def test_run_button_compares_every_run_and_keeps_them(tmp_path):
    panel = _panel(tmp_path)

    async def main():
        panel.run_button.click()
        assert panel.running and panel.run_button.disabled and not panel.stop_button.disabled
        return await panel.wait()

    summary = run(main())
    assert not panel.running and not panel.run_button.disabled and panel.stop_button.disabled
    # a warm-up per set-up, the baseline first and last, two rounds of both set-ups
    assert len(panel.runs) == 8 and len(panel.per_run) == 8
    assert panel.per_run["role"].value_counts().to_dict() == {"measured": 4, "warmup": 2, "baseline": 2}
    for rec in panel.runs:
        final = rec.final()
        assert len(final) == 12 and (final["status"] == "completed").all()
    got = summary[summary["metric"] == "throughput_tps"].set_index("algorithm")
    assert list(got["n"]) == [2, 2]
    measured = panel.per_run[panel.per_run["role"] == "measured"]
    for alg in ("round_robin", "least_loaded"):  # the summary is the mean of the measured runs
        values = measured.loc[measured["algorithm"] == alg, "throughput_tps"]
        assert got.loc[alg, "mean"] == pytest.approx(values.mean())
    assert measured["speedup"].notna().all()  # over the sequential baseline
    assert "swarmlab-comparison" in panel.table.value and "least_loaded" in panel.table.value
    assert panel.plots.value[:4] == PNG and panel.monitor.chart.value[:4] == PNG
    assert panel.run_progress.value == panel.run_progress.max == 8
    assert panel.monitor.progress.value == 12 and panel.monitor.progress.bar_style == "success"
    assert "(finished)" in panel.monitor.stats.value and "stopped" not in panel.monitor.stats.value
    assert not panel.save_button.disabled and not panel.csv_button.disabled


def test_runs_accumulate_across_set_ups_and_save_and_export(tmp_path):
    panel = _panel(tmp_path, repeats=1, save_as_it_runs=False)  # Save writes them all

    async def main():
        await panel.run()
        panel.clock.value = "simulated"
        panel.size.value = 500
        await panel.run()

    run(main())
    measured = panel.per_run[panel.per_run["role"] == "measured"]
    assert list(measured["mode"]) == ["thread", "thread", "simulated", "simulated"]
    assert list(panel.per_run["order"]) == list(range(len(panel.runs)))  # one sequence since the panel opened
    assert panel.summary["setup"].nunique() == 2
    assert len(panel.runs[-1].final()) == 500
    folders = panel.save()
    assert len(folders) == len(panel.runs) == 10 and panel.save() == []  # each run is saved once
    back = RunStore(tmp_path / "runs").load(panel.runs[0].run_id)
    pd.testing.assert_frame_equal(back.tasks, panel.runs[0].tasks, check_dtype=False)
    csv = panel.export("csv")
    parquet = panel.export("parquet")
    assert pd.read_csv(csv[0])["run_id"].tolist() == panel.per_run["run_id"].tolist()
    assert len(pd.read_parquet(parquet[1])) == len(panel.summary)


def test_stop_ends_every_task_once_and_leaves_the_run_out_of_the_comparison(tmp_path):
    panel = _panel(tmp_path, n=400, repeats=3, algorithms=["least_loaded"], max_concurrent_tasks=4)

    async def main():
        panel.run_button.click()
        await until(lambda: panel.monitor.executor() is not None
                     and panel.monitor.executor().get_metrics().tasks_completed >= 5)
        panel.stop_button.click()
        # said in the click handler itself, before the loop runs anything else
        assert "stopping" in panel.status.value and panel.monitor.stats.value.endswith("(stopping)")
        await panel.wait()

    run(main())
    assert len(panel.runs) == 1 and panel.per_run.empty  # no further run started
    rec = panel.runs[0]
    assert rec.meta["stopped_by_user"]
    final = rec.final()
    assert len(final) == 400 and final["task_id"].is_unique
    assert set(final["status"]) == {"completed", "cancelled"}
    assert "stopped" in panel.status.value and not panel.running
    assert panel.csv_button.disabled and not panel.save_button.disabled
    # the task bar shows what was cancelled: filled to what ran, the rest cancelled
    cancelled = int((final["status"] == "cancelled").sum())
    bar = panel.monitor.progress
    assert bar.bar_style == "warning" and bar.value == 400 - cancelled and bar.max == 400
    assert bar.description == f"{cancelled} cancelled"
    assert f"(stopped, {cancelled} cancelled)" in panel.monitor.stats.value
    assert panel.run_progress.bar_style == "warning"
    # the counts and the chart on show are the stopped run's, over all of it
    snap = panel.monitor.snapshot
    assert snap.record.run_id == rec.run_id and snap.figures.ended["cancelled"] == cancelled
    assert snap.t_s >= rec.tasks["finished_s"].max() and f"<b>400/400</b>" in panel.monitor.stats.value


def test_bad_input_is_named_at_the_boundary(tmp_path):
    with pytest.raises(ConfigError, match="algorithms must be .*round_robin.*'fastest'"):
        _panel(tmp_path, algorithms=["fastest"])
    with pytest.raises(ConfigError, match="workload must be one of"):
        _panel(tmp_path, workload="huge")
    with pytest.raises(ConfigError, match="mode must be one of"):
        _panel(tmp_path, mode="ray")
    panel = _panel(tmp_path)
    with pytest.raises(ConfigError, match="nothing to export yet"):
        panel.export()
    with pytest.raises(ConfigError, match="fmt must be"):
        panel.export("xlsx")
    panel.algorithms.value = ()

    async def click():
        panel.run_button.click()  # a button has no caller: the status line says why
        await panel.wait()

    run(click())
    assert "pick at least one algorithm" in panel.status.value and panel.runs == []
    panel.save_button.click()  # nothing to save is no error
    assert "saved 0 runs" in panel.status.value


def test_the_button_outside_a_loop_says_how_to_run(tmp_path):
    panel = _panel(tmp_path)
    panel.run_button.click()
    assert "await panel.run()" in panel.status.value and not panel.running


def test_monitor_escapes_task_names_and_counts_from_the_record():
    evil = "<img src=x onerror=alert(1)>"

    async def main():
        async with ParallelExecutor(mode="asyncio") as ex:
            mon = LiveMonitor(ex, interval=0.05, plot_s=None)

            async def ok():
                return 1

            await ex.submit_batch([Task(ok, name=evil), Task(ok, name="plain")])
        await asyncio.wait({mon.polling})  # it ends by itself once the executor stopped
        return mon

    mon = run(main())
    assert "&lt;img src=x onerror=alert(1)&gt;" in mon.recent.value and "<img" not in mon.recent.value
    assert mon.progress.value == mon.progress.max == 2 and mon.progress.bar_style == "success"
    assert "<b>2/2</b> tasks ended: 2 completed" in mon.stats.value


def test_monitor_redraws_a_costly_chart_less_often():
    async def main():
        async with ParallelExecutor(mode="asyncio") as ex:
            async def ok():
                return 1

            await ex.submit_batch([Task(ok) for _ in range(20)])
        return ex

    ex = run(main())
    mon = LiveMonitor(ex, plot_s=1.0)  # no loop runs here: it refreshes when told
    mon.refresh(plot=True)
    assert mon.chart.value[:4] == PNG and mon._draw_s > 0  # drawn, and what it cost timed
    mon.chart.value, mon._last_plot = b"", ex.now() - 2.0  # plot_s has passed since the last chart...
    mon._draw_s = 1.0  # ...but drawing it cost 1 s: the next waits DRAW_SHARE times that
    mon.refresh()
    assert mon.chart.value == b""
    mon._last_plot = ex.now() - 4.5
    mon.refresh()
    assert mon.chart.value[:4] == PNG
    mon.chart.value, mon._draw_s = b"", 1e6
    mon.refresh(plot=True)  # asked for: drawn whatever it costs
    assert mon.chart.value[:4] == PNG


def test_monitor_follows_a_managers_next_suite():
    manager = OrchestrationManager(OrchestrationConfig(progress_reporting=False))

    async def main():
        await manager.run_benchmark_suite(["warm up"])
        mon = LiveMonitor(manager, interval=0.05, plot_s=None)
        assert mon.executor() is None  # the last suite is over: wait for the next
        await manager.run_benchmark_suite(["Research caching", "Test the API", "Write docs"],
                                          BenchmarkConfig(repeats=2))
        await asyncio.wait({mon.polling})
        return mon

    mon = run(main())
    assert mon.progress.value == mon.progress.max == 6


def test_monitor_rejects_what_it_cannot_follow():
    with pytest.raises(ConfigError, match="interval must be"):
        LiveMonitor(interval=0)
    with pytest.raises(ConfigError, match="plot_s must be"):
        LiveMonitor(interval=1, plot_s=0.5)
    with pytest.raises(ConfigError, match="follows a ParallelExecutor or an OrchestrationManager; got str"):
        LiveMonitor("executor")


def test_simulated_runs_show_their_chart(tmp_path):
    panel = _panel(tmp_path, algorithms=["work_stealing"], repeats=1, simulated=True,
                   workload="heavy_tailed", n=300)
    summary = run(panel.run())
    assert panel.monitor.chart.value[:4] == PNG
    assert "<b>300/300</b> tasks ended: 300 completed" in panel.monitor.stats.value
    assert "virtual clock" in panel.monitor.stats.value and panel.monitor.progress.value == 300
    assert summary["setup"].iloc[0].startswith("heavy_tailed×300 simulated")
    assert len(workloads.heavy_tailed(300).tasks()) == len(panel.runs[0].final())


def test_dask_mode_needs_a_scheduler_address(tmp_path):
    panel = _panel(tmp_path, mode="dask")
    with pytest.raises(ConfigError, match="mode dask needs the address of a running Dask scheduler"):
        run(panel.run())
    assert "mode dask needs the address" in panel.status.value and not panel.runs


def test_the_panel_runs_in_a_fair_order_and_gives_verdicts_in_words(tmp_path):
    from swarmlab.experiments.comparison import RunOrder, setups

    panel = _panel(tmp_path, repeats=3, seed=3)
    run(panel.run())
    p = panel.per_run
    order = RunOrder(setups(["round_robin", "least_loaded"]), ["thread"], seed=3)
    items = order.opening() + [x for r in range(3) for x in order.round(r)] + order.closing()
    assert [(i.role, i.setup.label) for i in items] == list(zip(p["role"], p["algorithm"]))
    assert list(p["role"][:2]) == ["warmup"] * 2 and p["role"].iloc[2] == p["role"].iloc[-1] == "baseline"
    assert set(p.loc[p["role"] == "baseline", "algorithm"]) == {"sequential"}
    v = panel.comparison.verdicts
    assert set(v["setup"]) == {panel.summary["setup"].iloc[0]} and set(v["n"]) == {3}
    words = panel.verdicts.value
    assert "swarmlab-verdicts" in words and "Verdicts" in words and "makespan" in words
    assert " vs " in words or " lower than " in words
    assert "drift check (" in words and "the sequential baseline&#x27;s makespan was" in words
    table = panel.table.value
    assert "throughput (tasks/s)" in table and "higher is better" in table and "makespan (s)" in table
    assert "white-space:nowrap" in table and "<br><small>[" in table  # the interval on a line of its own


def test_clear_starts_the_comparison_afresh_and_keeps_the_runs(tmp_path):
    panel = _panel(tmp_path, repeats=1, simulated=True, baseline=False)
    assert panel.clear_button.disabled  # nothing to clear yet
    run(panel.run())
    assert not panel.clear_button.disabled and panel.table.value and panel.plots.layout.display is None
    panel.clear_button.click()
    assert panel.per_run.empty and panel.summary.empty and panel.table.value == "" and panel.verdicts.value == ""
    assert panel.plots.layout.display == "none" and panel.csv_button.disabled and panel.clear_button.disabled
    assert len(panel.runs) == 2 and "cleared" in panel.status.value and not panel.save_button.disabled
    panel.algorithms.value = ("least_loaded",)
    run(panel.run())
    assert list(panel.per_run["algorithm"]) == ["least_loaded"] and len(panel.comparison.runs) == 1
    assert len(panel.runs) == 3


def test_no_empty_image_and_no_mode_on_the_simulated_clock_and_five_repeats_by_default(tmp_path):
    panel = ExperimentPanel(store=tmp_path / "runs", export_dir=tmp_path / "exports")
    assert panel.repeats.value == 5
    # an Image without a picture shows a broken-image icon: both are kept out of the page until drawn
    assert panel.plots.layout.display == "none" and panel.monitor.chart.layout.display == "none"
    assert not panel.mode.disabled and panel.dask_address.disabled  # the address only for mode dask
    panel.mode.value = "dask"
    assert not panel.dask_address.disabled
    panel.clock.value = "simulated"
    assert panel.mode.disabled and panel.dask_address.disabled
    panel.clock.value = "real"
    assert not panel.mode.disabled
    sim = _panel(tmp_path, simulated=True, repeats=1)
    assert sim.mode.disabled
    run(sim.run())
    assert sim.monitor.chart.layout.display is None and sim.monitor.chart.value[:4] == PNG


def test_the_panel_offers_every_registered_mode(tmp_path):
    from swarmlab import backends
    from swarmlab.ui import widgets

    backends.register("my_cluster", backends.get("thread"))
    try:
        panel = _panel(tmp_path, mode="my_cluster")
        assert list(panel.mode.options) == backends.names() and panel.mode.value == "my_cluster"
        assert "my_cluster" in widgets.MODES
    finally:
        backends.unregister("my_cluster")
    assert "my_cluster" not in widgets.MODES
