"""Pools and rates in the experiment panel and the live monitor (issue 24, item 10)."""

import asyncio
import html
import threading

import pytest

pytest.importorskip("ipywidgets")

from conftest import run, until

from swarmlab import ParallelExecutor, Task
from swarmlab.model import Agent, ResourceLimits
from swarmlab.ui.widgets import ExperimentPanel, LiveMonitor


def _panel(tmp_path, **kw):
    kw = {"algorithms": ["round_robin", "least_loaded"], "workload": "io", "n": 30, "repeats": 2,
          "store": tmp_path / "runs", "export_dir": tmp_path / "exports", **kw}
    return ExperimentPanel(**kw)


def test_the_panel_takes_pools_and_rates_as_text_and_shows_the_resource_table(tmp_path):
    # 30 tasks needing 1 of a rate of 10 a second: 20 beyond the bucket, 2 s at least
    panel = _panel(tmp_path, simulated=True, limits="rpm=10/1, llm=4", task_resources="rpm=1, llm=1",
                   baseline=False)
    summary = run(panel.run())
    assert "pool llm=4, rate rpm=10/1" in summary["setup"].iloc[0]
    table = panel.monitor.resources.value
    assert "rate rpm" in table and "10 per 1 s" in table and "pool llm" in table
    assert ("every set-up is bound by rate rpm (10 per 1 s): none can finish under 2 s"
            in html.unescape(panel.verdicts.value))
    assert all(r.meta["lower_bound"]["bound_by"] == "rate rpm" for r in panel.runs)


def test_the_panel_names_bad_limits_in_its_status_line(tmp_path):
    for limits, needs, words in (("llm", "", "'llm' is not NAME=N"), ("rpm=10/0", "", "'rpm=10/0' is not"),
                                 ("llm=2", "gpu=1", "each task needs ['gpu']"),
                                 ("rpm=10/1", "rpm=1/2", "each task needs ['rpm']")):
        panel = _panel(tmp_path, simulated=True, limits=limits, task_resources=needs)

        async def click():
            panel.run_button.click()  # a button has no caller: the status line says why
            await panel.wait()

        run(click())
        assert words in html.unescape(panel.status.value) and panel.runs == [], panel.status.value


def test_the_monitor_shows_units_in_use_and_tasks_held_back_while_a_run_goes_on():
    gate = threading.Event()

    def hold():
        gate.wait(30)
        return 1

    async def main():
        limits = ResourceLimits(pools={"llm": 1}, max_cpu_percent=None, max_memory_mb=None)
        agents = [Agent(f"a{i}") for i in range(3)]
        async with ParallelExecutor(mode="thread", limits=limits, agents=agents) as ex:
            mon = LiveMonitor(ex, interval=0.05, plot_s=None)
            await ex.submit_batch([Task(hold, resources={"llm": 1}) for _ in range(3)])
            # one runs holding the pool's one unit, the other two are held back for it
            await until(lambda: sum(e[2] == "held" for e in ex.recorder.events) == 2, what="two held")
            mon.refresh(plot=True)
            live = mon.resources.value
            gate.set()
        await asyncio.wait({mon.polling})
        return live, ex.record()

    live, rec = run(main())
    # one task at a time on the pool of one: its unit-seconds bind, and the finished run names it
    assert rec.meta["lower_bound"]["bound_by"] == "pool llm"
    cells = live.split("<tbody>")[1]
    assert "pool llm" in cells
    # capacity 1, 1 in use, 1 attempt holding it, 2 tasks held back
    assert [c.split(">")[1] for c in cells.split("</td>")[1:5]] == ["1", "1", "1", "2"]
