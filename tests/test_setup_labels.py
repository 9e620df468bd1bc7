"""Set-up labels name only the limits that act on their clock (issue 28): CPU and memory
readings throttle a real run; virtual time has none, so a simulated set-up shows neither."""

import pytest

pytest.importorskip("ipywidgets")

import swarmlab as sl
from swarmlab.model import ResourceLimits
from swarmlab.store.runs import RunStore
from swarmlab.ui.dashboard import Dashboard
from swarmlab.ui.widgets import ExperimentPanel


def _setup(tmp_path, **kw) -> str:
    panel = ExperimentPanel(algorithms=["round_robin"], workload="io", n=10, repeats=1, max_cpu_percent=90,
                            max_memory_mb=500, task_timeout=30, store=tmp_path / "runs",
                            export_dir=tmp_path / "exports", **kw)
    return panel.settings().setup


def test_a_simulated_set_up_names_no_cpu_or_memory_limit_and_a_real_one_does(tmp_path):
    simulated = _setup(tmp_path, simulated=True)
    assert simulated.startswith("io×10 simulated") and "timeout 30s" in simulated
    assert "cpu" not in simulated and "mem" not in simulated
    real = _setup(tmp_path, mode="thread")
    assert "cpu≤90%" in real and "mem≤500MB" in real and "timeout 30s" in real


def test_the_dashboard_shows_a_simulated_run_without_cpu_or_memory_limits(tmp_path):
    wl = sl.workloads.io(10, seed=1)
    limits = ResourceLimits(max_cpu_percent=90, max_memory_mb=500, task_timeout=30)
    rec = sl.simulate(wl.tasks(), wl.agents, limits=limits, seed=1)
    assert rec.meta["limits"]["max_cpu_percent"] == 90  # recorded, but it acted on nothing
    RunStore(tmp_path / "runs").save(rec)
    dash = Dashboard(tmp_path / "runs")
    dash.picker.value = rec.run_id
    dash.refresh()
    text = dash.details.value
    assert "virtual clock" in text and "limits: task timeout 30 s" in text
    assert "cpu &le;" not in text and "memory &le;" not in text
