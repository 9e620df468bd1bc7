"""The command line's main job, the run store, compare() and the workloads."""

import math

import pandas as pd
import pytest

from swarmlab import ConfigError, Task, simulate, workloads
from swarmlab.analysis.figures import summary
from swarmlab.experiments.comparison import ci95, compare
from swarmlab.store.runs import RunStore, load_run, save_run
from swarmlab.ui.cli import main


def test_compare_cli_saves_runs_summary_and_png(tmp_path, capsys):
    assert main(["compare", "--tasks", "24", "--algorithms", "round_robin,work_stealing", "--mode", "thread,asyncio",
                 "--repeats", "2", "--simulate", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "makespan_s (mean [95% CI] over 2 repeats)" in out and "work_stealing" in out
    assert "verdicts on makespan, the best set-up against each other (2 repeats;" in out
    assert "[simulated] work_stealing: makespan " in out or "[simulated] round_robin: makespan " in out
    assert "drift check (thread): the sequential baseline's makespan was" in out
    summary_csv = next(p for p in tmp_path.glob("compare-*.csv") if p.name.count("-") == 1)
    table = pd.read_csv(summary_csv)
    assert set(table["mode"]) == {"thread", "asyncio", "simulated"}
    assert set(table["algorithm"]) == {"round_robin", "work_stealing"}
    assert (table["n"] == 2).all() and "values" not in table.columns
    per_run = pd.read_csv(next(tmp_path.glob("compare-*-runs.csv")))
    assert per_run["speedup"].notna().all() and list(per_run["order"]) == list(range(len(per_run)))
    assert (per_run["algorithm"] == "sequential").sum() == 2 * 3  # first and last, per mode
    assert set(per_run.loc[per_run["algorithm"] == "sequential", "role"]) == {"baseline"}
    verdicts = pd.read_csv(next(tmp_path.glob("compare-*-verdicts.csv")))
    assert {"rel_diff", "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted", "verdict"} <= set(verdicts.columns)
    assert next(tmp_path.glob("compare-*.png")).stat().st_size > 10_000
    runs = RunStore(tmp_path / "runs").list()
    assert len(runs) == 2 * 3 * 2 + 2 * 3  # set-ups x modes x repeats, a baseline first and last per mode
    base = runs[runs["role"] == "baseline"]
    assert len(base) == 6 and set(base["algorithm"]) == {"sequential"} and set(base["n_agents"]) == {1}
    assert set(runs.loc[runs["role"] != "baseline", "algorithm"]) == {"round_robin", "work_stealing"}
    for run_id in runs["run_id"][:3]:
        rec = RunStore(tmp_path / "runs").load(run_id)
        assert rec.tasks["task_id"].nunique() == 24


def test_compare_cli_regression_gate_exits_1_on_a_regression(tmp_path, capsys):
    argv = ["compare", "--tasks", "12", "--algorithms", "round_robin", "--mode", "thread", "--repeats", "2",
            "--simulate", "--out", str(tmp_path / "first")]
    assert main(argv) == 0
    first = next(p for p in (tmp_path / "first").glob("compare-*.csv") if p.name.count("-") == 1)
    capsys.readouterr()
    # the same set-up again, against the first: the simulated rows are identical, the real ones
    # move with the machine, well inside a 500 % tolerance
    again = argv[:-1] + [str(tmp_path / "again"), "--against", str(first), "--tolerance", "5"]
    assert main(again) == 0
    out = capsys.readouterr().out
    assert f"against {first}" in out and "no regression" in out
    # a baseline ten times better than anything this run can do: every figure regressed
    better = pd.read_csv(first)
    for metric, factor in (("throughput_tps", 10.0), ("makespan_s", 0.1)):
        rows = better["metric"] == metric
        better.loc[rows, ["mean", "ci_low", "ci_high"]] *= factor
    better.to_csv(tmp_path / "better.csv", index=False)
    assert main(argv[:-1] + [str(tmp_path / "third"), "--against", str(tmp_path / "better.csv")]) == 1
    captured = capsys.readouterr()
    assert "REGRESSED: 4 of 4 figures" in captured.err  # 2 metrics x (thread, simulated)
    # a missing baseline is refused before anything runs
    assert main(argv[:-1] + [str(tmp_path / "fourth"), "--against", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err and not (tmp_path / "fourth").exists()


def test_regressions_need_the_mean_and_both_intervals_to_move_the_wrong_way():
    from swarmlab.experiments.comparison import METRICS, regressions, summarize

    def summary_of(throughputs, makespans):
        rows = [{**dict.fromkeys(METRICS, math.nan), "algorithm": "least_loaded", "mode": "thread",
                 "throughput_tps": t, "makespan_s": m} for t, m in zip(throughputs, makespans)]
        return summarize(pd.DataFrame(rows))

    base = summary_of([100, 102, 98], [1.00, 1.02, 0.98])
    worse = regressions(summary_of([80, 81, 79], [1.25, 1.24, 1.26]), base).set_index("metric")
    assert worse["regressed"].all()
    assert worse.loc["throughput_tps", "change"] == pytest.approx(-0.2)
    assert worse.loc["makespan_s", "change"] == pytest.approx(0.25)
    # better, within tolerance, or worse on average but with overlapping intervals: no regression
    for tps, span in (([120, 121, 119], [0.8, 0.8, 0.8]), ([97, 96, 98], [1.05, 1.04, 1.06]),
                      ([85, 120, 60], [1.0, 1.0, 1.0])):
        assert not regressions(summary_of(tps, span), base)["regressed"].any()
    # one run per side: no interval, the tolerance alone decides
    assert regressions(summary_of([80], [1.0]), summary_of([100], [1.0]))["regressed"].sum() == 1
    with pytest.raises(ConfigError, match="tolerance must be a fraction"):
        regressions(base, base, tolerance=-0.1)
    with pytest.raises(ConfigError, match="metrics must be among"):
        regressions(base, base, metrics=["speed"])
    with pytest.raises(ConfigError, match=r"the baseline lacks the columns \['ci_low', 'ci_high'\]"):
        regressions(base, base.drop(columns=["ci_low", "ci_high"]))
    with pytest.raises(ConfigError, match="share no algorithm, mode and metric"):
        regressions(base, base.assign(mode="process"))


def test_cli_rejects_bad_values_with_exit_code_2(capsys):
    for argv, msg in ((["compare", "--mode", "thread,quantum"], "unknown modes ['quantum']"),
                      (["compare", "--algorithms", "fastest"], "unknown algorithms ['fastest']"),
                      (["compare", "--tasks", "0"], "must be a positive integer"),
                      (["compare", "--tolerance", "-1"], "must be a fraction >= 0")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and msg in capsys.readouterr().err


def test_runs_list_show_export(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    rec = simulate([Task(None, id=f"t{i}", estimate_s=1.0) for i in range(3)])
    store.save(rec)
    assert main(["runs", "--store", str(store.path), "list"]) == 0
    assert rec.run_id in capsys.readouterr().out
    assert main(["runs", "--store", str(store.path), "show", rec.run_id]) == 0
    assert "makespan_s" in capsys.readouterr().out
    assert main(["runs", "--store", str(store.path), "export", rec.run_id, "--dest", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / rec.run_id / "tasks.csv").is_file()
    assert main(["runs", "--store", str(store.path), "show", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    # --store after the action as well (issue 27): as `resume RUN_ID --store` takes it
    assert main(["runs", "list", "--store", str(store.path)]) == 0
    assert rec.run_id in capsys.readouterr().out
    assert main(["runs", "show", rec.run_id, "--store", str(store.path)]) == 0
    assert "makespan_s" in capsys.readouterr().out


@pytest.mark.parametrize("argv, msg", [
    (["dashboard", "--port", "70000"], "must be a TCP port, 1 to 65535; got '70000'"),
    (["dashboard", "--port", "99999"], "must be a TCP port"),
])
def test_the_dashboard_refuses_a_port_that_cannot_be(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and msg in capsys.readouterr().err


def test_save_and_load_round_trip(tmp_path):
    rec = simulate([Task(None, id=f"t{i}", estimate_s=1.0 + i, requires=(), dependencies=[f"t{i - 1}"] if i else [])
                    for i in range(5)])
    back = load_run(save_run(rec, tmp_path, csv=True))
    assert back.meta == rec.meta
    for frame in ("tasks", "events", "resources"):
        pd.testing.assert_frame_equal(getattr(back, frame), getattr(rec, frame))
    assert (tmp_path / rec.run_id / "tasks.csv").is_file()
    with pytest.raises(ConfigError, match="not a saved run"):
        load_run(tmp_path)
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))


def test_summary_counts_and_makespan_come_from_rows():
    tasks = [Task(None, id=f"t{i}", estimate_s=2.0) for i in range(4)]
    rec = simulate(tasks, failures=lambda t, n: ValueError() if t.id == "t0" else None)
    row = summary([rec]).iloc[0]
    assert (row["tasks"], row["completed"], row["failed"]) == (4, 3, 1)
    assert row["makespan_s"] == 2.0 and row["throughput_tps"] == 1.5


def test_ci95_from_raw_values():
    from scipy import stats

    t = stats.t.ppf(0.975, 2)  # 4.303
    mean, lo, hi = ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo == pytest.approx(2.0 - t * 1.0 / math.sqrt(3))
    assert hi == pytest.approx(2.0 + t / math.sqrt(3))
    assert math.isnan(ci95([5.0])[1])
    assert ci95([1.0, 2.0, 3.0], bounds=(0.0, None))[1] > 0  # a positive quantity: on the log scale


def test_compare_summarises_repeats_with_intervals_and_a_sequential_baseline():
    wl = workloads.heavy_tailed(40, seed=1)
    result = compare(wl, algorithms=["least_loaded", "round_robin"], modes=["asyncio"], repeats=3, simulate=True)
    s = result.summary
    row = s[(s["algorithm"] == "least_loaded") & (s["mode"] == "asyncio") & (s["metric"] == "makespan_s")].iloc[0]
    raw = result.per_run.query("algorithm == 'least_loaded' and mode == 'asyncio' and role == 'measured'")
    assert row["n"] == 3 and len(raw) == 3
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(ci95(raw["makespan_s"], (0.0, None)))
    speed = s[(s["metric"] == "speedup") & (s["mode"] == "simulated")]["mean"]
    assert (speed > 3).all()  # 8 agents against one: much faster, measured
    assert sum(1 for r in result.runs if r.meta.get("baseline")) == 4  # first and last, per mode
    assert "least_loaded" in result.table("efficiency").index
    with pytest.raises(ConfigError, match="compare takes a Workload"):
        compare([Task(None, estimate_s=1)])
    with pytest.raises(ConfigError, match="modes must be among .*'dask'; got 'gpu'"):
        compare(wl, modes=["gpu"])
    with pytest.raises(ConfigError, match="dask_address only applies to mode 'dask'"):
        compare(wl, modes=["thread"], dask_address="tcp://127.0.0.1:8786")


def test_workloads_are_seeded_recipes():
    fresh = {"swarm", "llm_swarm"}  # their first argument is made per build: a runner, a provider (one per run)
    for name in workloads.WORKLOADS:
        wl = workloads.make(name, 30, seed=3)
        a, b = wl.tasks(), wl.tasks()
        assert [(t.id, t.args[1:] if name in fresh else t.args, t.dependencies) for t in a] == \
            [(t.id, t.args[1:] if name in fresh else t.args, t.dependencies) for t in b]
        assert a[0] is not b[0] and len(a) == 30 and all(t.estimate_s is not None for t in a)
        rec = simulate(wl.tasks(), wl.agents, limits=wl.limits_with(None))  # (llm_swarm's provider limits)
        assert (rec.final()["status"] == "completed").all(), name
    assert [t.args for t in workloads.io(10, seed=1).tasks()] != [t.args for t in workloads.io(10, seed=2).tasks()]
    assert all(t.is_coroutine for t in workloads.mixed(10).tasks("async"))
    with pytest.raises(ConfigError, match="workload must be one of"):
        workloads.make("nope", 3)
    with pytest.raises(ConfigError, match="positive int"):
        workloads.io(0)
