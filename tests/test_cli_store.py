"""The command line's main job and the saved runs it leaves."""

import pandas as pd
import pytest

from swarmlab import ConfigError, Task, simulate, workloads
from swarmlab.analysis import summary
from swarmlab.cli import main
from swarmlab.store import load_run, save_run


def test_compare_runs_algorithms_by_modes_and_saves_every_run(tmp_path, capsys):
    assert main(["compare", "--tasks", "24", "--algorithms", "round_robin,work_stealing",
                 "--modes", "thread,asyncio,simulated", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "work_stealing" in out and "simulated" in out
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 6
    table = pd.read_csv(next(tmp_path.glob("compare-*.csv")))
    assert list(zip(table["algorithm"], table["mode"])) == [
        (a, m) for a in ("round_robin", "work_stealing") for m in ("thread", "asyncio", "simulated")]
    assert (table["completed"] == 24).all()
    for folder in runs:
        rec = load_run(folder)
        assert rec.tasks["task_id"].nunique() == 24
        assert rec.meta["workload"] == "mixed"
        assert rec.tasks["requires"].map(len).sum() > 0  # the pool's capabilities are used


def test_compare_rejects_unknown_choices(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--modes", "thread,quantum"])
    assert "unknown modes ['quantum']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--algorithms", "fastest"])
    assert "unknown algorithms ['fastest']" in capsys.readouterr().err


def test_save_and_load_round_trip(tmp_path):
    rec = simulate([Task(None, id=f"t{i}", estimate_s=1.0 + i) for i in range(5)])
    back = load_run(save_run(rec, tmp_path, csv=True))
    assert back.meta == rec.meta
    pd.testing.assert_frame_equal(back.tasks, rec.tasks)
    pd.testing.assert_frame_equal(back.events, rec.events)
    assert (tmp_path / rec.run_id / "tasks.csv").is_file()
    with pytest.raises(ConfigError, match="not a saved run"):
        load_run(tmp_path)


def test_summary_counts_and_makespan_come_from_rows():
    tasks = [Task(None, id=f"t{i}", estimate_s=2.0) for i in range(4)]
    rec = simulate(tasks, failures=lambda t, n: ValueError() if t.id == "t0" else None)
    row = summary([rec]).iloc[0]
    assert (row["tasks"], row["completed"], row["failed"]) == (4, 3, 1)
    assert row["makespan_s"] == 2.0 and row["throughput_tps"] == 1.5


def test_workloads_are_seeded_and_checked():
    a = [(t.id, t.args, t.priority, t.dependencies) for t in workloads.mixed(50, seed=3)]
    b = [(t.id, t.args, t.priority, t.dependencies) for t in workloads.mixed(50, seed=3)]
    c = [(t.id, t.args) for t in workloads.mixed(50, seed=4)]
    assert a == b and [x[:2] for x in a] != c
    with pytest.raises(ConfigError, match="workload must be one of"):
        workloads.make("nope", 3)
    with pytest.raises(ConfigError, match="positive int"):
        workloads.io(0)
