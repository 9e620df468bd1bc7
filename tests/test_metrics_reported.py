"""What bodies report (tokens, cost) and the provider's refusals are metrics of a
comparison: summed per run, summarised with intervals, judged by verdicts, printed by the
CLI and drawn by the plots (issue 25, item 3)."""

import dataclasses
import itertools
import math

import pandas as pd
import pytest
from conftest import run

from swarmlab import Agent, ConfigError, Task, report, simulate, workloads
from swarmlab.analysis import plots
from swarmlab.analysis.figures import reported_totals, summary
from swarmlab.experiments.comparison import compare, metric_info, per_run_frame, run_metrics, summarize
from swarmlab.ui.cli import main
from swarmlab.ui.dashboard import Dashboard
from swarmlab.ui.widgets import ExperimentPanel
from swarmlab.workloads.recipes import Workload

REPORTED = ("tokens", "cost_usd", "rate_limited")


@pytest.fixture(scope="module")
def swarm():
    """A real, small agent swarm comparison: two algorithms, two repeats, ASYNCIO."""
    return compare(workloads.llm_swarm(n=12), algorithms=["round_robin", "heft"], modes=["asyncio"], repeats=2,
                   warmup=False)


def test_reported_sums_join_the_summary_with_intervals(swarm):
    for name in (*REPORTED, "limit_wait_s"):
        assert name in swarm.metrics and name in swarm.reported
        rows = swarm.summary[swarm.summary["metric"] == name]
        assert set(rows["algorithm"].astype(str)) == {"round_robin", "heft"}
        assert (rows["n"] == 2).all()
        assert (rows["ci_low"] <= rows["mean"]).all() and (rows["mean"] <= rows["ci_high"]).all()
    measured = [r for r in swarm.runs if r.meta["role"] == "measured"]
    per_run = swarm.per_run.set_index("run_id")
    for rec in measured:  # each run's metric is the sum of what its attempts reported
        assert per_run.loc[rec.run_id, "tokens"] == rec.tasks["tokens"].sum()
        assert per_run.loc[rec.run_id, "cost_usd"] == pytest.approx(rec.tasks["cost_usd"].sum())
        refused = (rec.tasks["status"] == "rate_limited").sum() + rec.tasks.get("n_rate_limited", pd.Series()).sum()
        assert per_run.loc[rec.run_id, "rate_limited"] == refused
    tokens = swarm.summary[swarm.summary["metric"] == "tokens"]
    assert tokens["mean"].tolist() == pytest.approx([
        per_run[(per_run["algorithm"] == a) & (per_run["role"] == "measured")]["tokens"].mean()
        for a in tokens["algorithm"].astype(str)])


def test_reported_metrics_get_verdicts_and_lower_is_better(swarm):
    v = swarm.verdicts
    for name in REPORTED:
        row = v[v["metric"] == name]
        assert len(row) == 1 and row["verdict"].iloc[0] in ("better", "worse", "fewer", "more",
                                                            "no significant difference")
        assert swarm.metric_info[name].better == "lower"
        assert row["mean"].iloc[0] <= row["mean_versus"].iloc[0]  # the best (lowest) against the other
    words = swarm.report()
    assert any("cost_usd" in line for line in words) and any("tokens" in line for line in words)
    assert swarm.table("cost_usd").shape == (2, 1)


def test_a_run_without_a_reported_column_is_nan_not_zero(swarm):
    plain = simulate([Task(None, estimate_s=1.0) for _ in range(4)], [Agent("a")])
    assert reported_totals(plain) == {}  # nothing reported, nothing refused: nothing added
    rec = next(r for r in swarm.runs if r.meta["role"] == "measured")
    rows = [run_metrics(r, role="measured", algorithm=a, mode="asyncio", order=i, repeat=0)
            for i, (r, a) in enumerate([(rec, "x"), (rec, "x"), (plain, "x")])]
    per_run = per_run_frame(rows)
    assert math.isnan(per_run["cost_usd"].iloc[2])
    info = metric_info(per_run, ["cost_usd", "rate_limited"])
    s = summarize(per_run, by=("algorithm", "mode"), info=info).set_index("metric")
    assert s.loc["cost_usd", "n"] == 2  # the run without the column is left out, not counted as 0
    assert s.loc["cost_usd", "mean"] == pytest.approx(rec.tasks["cost_usd"].sum())


_COUNT = itertools.count(1)


def _graded(style: str) -> list[Task]:
    """Bodies that report a cost and an accuracy that differs from run to run."""
    def body() -> None:
        report(cost_usd=0.25, accuracy=float(next(_COUNT)) ** 2)

    async def abody() -> None:
        body()

    return [Task(abody if style == "async" else body, name=f"t{i}") for i in range(4)]


def _tiny() -> Workload:
    return Workload("graded", 4, 0, [Agent("a-0"), Agent("a-1")], _graded)


def test_better_higher_flips_the_direction_of_a_reported_metric():
    c = compare(_tiny(), algorithms=["round_robin", "least_loaded"], modes=["thread"], repeats=2, warmup=False,
                baseline=False, better={"accuracy": "higher"})
    assert c.metric_info["accuracy"].better == "higher" and c.metric_info["cost_usd"].better == "lower"
    assert c.summary.set_index("metric").loc["cost_usd", "mean"].tolist() == [1.0, 1.0]  # 4 bodies x 0.25
    means = c.per_run.groupby("algorithm", observed=True)["accuracy"].mean()
    assert means["round_robin"] != means["least_loaded"]
    best = c.verdicts.set_index("metric").loc["accuracy"]
    assert best["algorithm"] == means.idxmax() and best["mean"] > best["mean_versus"]
    lower = dataclasses.replace(c, metric_info=metric_info(c.per_run, c.reported))
    flipped = lower.verdicts.set_index("metric").loc["accuracy"]
    assert flipped["algorithm"] == means.idxmin() and flipped["mean"] < flipped["mean_versus"]


@pytest.mark.parametrize("better, says", [
    ({"accuracy": "up"}, "must be one of 'lower', 'higher'; got 'up'"),
    ({"makespan_s": "higher"}, "cannot change the direction of the built-in metric 'makespan_s'"),
    ({"rate_limited": "higher"}, "built-in metric 'rate_limited'"),
    ("higher", "better must be a dict of reported names"),
    ({"not a name": "higher"}, "keys must be names a body reports"),
])
def test_a_bad_better_is_refused_before_anything_runs(better, says):
    with pytest.raises(ConfigError, match="better") as e:
        compare(_tiny(), algorithms=["round_robin"], modes=["thread"], repeats=1, warmup=False, better=better)
    assert says in str(e.value)


def test_gantt_colours_attempts_by_a_reported_column(swarm):
    rec = next(r for r in swarm.runs if r.meta["role"] == "measured")
    ax = plots.gantt(rec.tasks, color_by="cost_usd")
    bars = list(ax.patches)
    assert len(bars) == rec.tasks["started_s"].notna().sum()
    assert len({p.get_facecolor() for p in bars}) > 1  # attempts that cost more are drawn another colour
    assert any(a.get_ylabel() == "cost_usd per attempt" for a in ax.figure.axes)  # the colour bar
    with pytest.raises(ConfigError, match="'status', 'priority', 'capability', .*'cost_usd'"):
        plots.gantt(rec.tasks, color_by="dollars")


def test_cost_per_setup_chart_draws_each_setup_with_its_interval(swarm):
    ax = plots.metric_by_setup(swarm, "cost_usd")
    assert len(ax.patches) == 2 and ax.get_ylabel() == "cost_usd"
    assert "(lower is better)" in ax.get_title()
    heights = sorted(p.get_height() for p in ax.patches)
    s = swarm.summary[swarm.summary["metric"] == "cost_usd"]
    assert heights == pytest.approx(sorted(s["mean"]))
    with pytest.raises(ConfigError, match="one of the comparison's metrics"):
        plots.metric_by_setup(swarm, "dollars")


def test_run_summary_adds_reported_sums_only_for_runs_with_reports(swarm):
    rec = next(r for r in swarm.runs if r.meta["role"] == "measured")
    plain = simulate([Task(None, estimate_s=1.0) for _ in range(4)], [Agent("a")])
    assert "cost_usd" not in summary([plain]).columns and "rate_limited" not in summary([plain]).columns
    both = summary([rec, plain])
    assert both["cost_usd"].iloc[0] == pytest.approx(rec.tasks["cost_usd"].sum())
    assert math.isnan(both["cost_usd"].iloc[1]) and both["rate_limited"].iloc[0] >= 0


def test_cli_compare_prints_429s_tokens_and_cost_with_verdicts_and_a_budget_stop(tmp_path, capsys):
    assert main(["compare", "--workload", "llm_swarm", "--tasks", "12", "--repeats", "2", "--no-warmup",
                 "--algorithms", "round_robin,heft", "--mode", "asyncio", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("rate_limited", "tokens", "cost_usd", "limit_wait_s"):
        assert f"\n{name} (mean [95% CI] over 2 repeats)" in out
    assert "verdicts on makespan, rate_limited, tokens, cost_usd, limit_wait_s" in out
    assert "in cost_usd" in out or ": cost_usd " in out  # the verdict line on cost
    assert "budget:" not in out
    assert main(["compare", "--workload", "llm_swarm", "--tasks", "12", "--repeats", "2", "--no-warmup",
                 "--algorithms", "round_robin", "--mode", "asyncio", "--budget", "cost_usd=0.01",
                 "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "budget: 4 of 4 runs were stopped by their cost_usd budget" in out


def test_cli_compare_without_reports_prints_no_reported_tables(tmp_path, capsys):
    assert main(["compare", "--tasks", "12", "--algorithms", "round_robin", "--mode", "asyncio", "--repeats", "2",
                 "--no-warmup", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rate_limited" not in out and "cost_usd" not in out and "budget:" not in out
    assert "verdicts on makespan, the best set-up" in out


def test_the_panel_lists_llm_swarm_and_its_table_shows_what_was_reported(tmp_path):
    panel = ExperimentPanel(algorithms=["round_robin", "heft"], workload="llm_swarm", n=12, repeats=2,
                            store=tmp_path / "runs", export_dir=tmp_path / "exports")
    assert "llm_swarm" in panel.workload.options
    run(panel.run())
    s = panel.summary
    assert {"tokens", "cost_usd", "rate_limited"} <= set(s["metric"])
    assert (s.loc[s["metric"] == "cost_usd", "n"] == 2).all()
    table = panel.table.value
    assert "cost_usd" in table and "tokens" in table and "rate-limited calls" in table
    assert "cost_usd" in panel.verdicts.value  # the verdict on cost, in words
    assert panel.comparison.metric_info["cost_usd"].better == "lower"


def test_the_dashboard_shows_the_reported_metrics_of_a_finished_comparison(tmp_path, capsys):
    assert main(["compare", "--workload", "llm_swarm", "--tasks", "12", "--repeats", "2", "--no-warmup",
                 "--algorithms", "round_robin,heft", "--mode", "thread", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    dash = Dashboard(tmp_path / "runs")
    dash.refresh()
    text = dash.comparison.value
    for name in ("rate_limited", "tokens", "cost_usd", "makespan_s"):
        assert f"<th>{name}</th>" in text, text[:2000]
    # a summary with reported metrics is still a comparison summary for the regression gate
    first = next(p for p in tmp_path.glob("compare-*.csv") if p.name.count("-") == 1)
    assert main(["compare", "--workload", "llm_swarm", "--tasks", "12", "--repeats", "2", "--no-warmup",
                 "--algorithms", "round_robin", "--mode", "thread", "--out", str(tmp_path / "again"),
                 "--against", str(first), "--simulate"]) in (0, 1)
    out = capsys.readouterr().out
    assert "against " in out
    cost = out.split("\ncost_usd (mean")[1].split("\n\n")[0]
    row = cost.splitlines()[-1].split()  # round_robin, then each mode: "mean [low, high]"
    assert row[0] == "round_robin" and row[1] == row[4]  # virtual time makes the same calls: the same cost


def test_rate_limited_counts_refused_attempts_and_calls_retried_inside_call():
    wl = workloads.llm_swarm(20, seed=1, declare_limits=False, tier=0.5)  # the provider refuses; nothing declared
    c = compare(wl, algorithms=["round_robin"], modes=["thread"], repeats=2, warmup=False, baseline=False)
    per_run = c.per_run.set_index("run_id")
    for rec in c.runs:
        t = rec.tasks
        refused = int((t["status"] == "rate_limited").sum()) + t["n_rate_limited"].fillna(0).sum()
        assert per_run.loc[rec.run_id, "rate_limited"] == refused
        drawn = wl.redraw(rec.meta["repeat"])  # each repeat draws its calls from seed + repeat (compare's seed: 0)
        assert per_run.loc[rec.run_id, "tokens"] == drawn.meta["expected_tokens"]  # nothing paid twice
    assert per_run["rate_limited"].sum() > 0  # a 429 storm, counted
    s = c.summary.set_index("metric")
    assert s.loc["rate_limited", "n"] == 2 and s.loc["rate_limited", "mean"] == per_run["rate_limited"].mean()


def test_the_regression_gate_judges_a_reported_metric_by_its_direction(swarm):
    from swarmlab.experiments.comparison import regressions

    cheaper = swarm.summary.copy()
    cost = cheaper["metric"] == "cost_usd"
    # the earlier comparison cost a hundredth (each repeat draws its own calls: two repeats
    # make wide intervals, and a regression must pass both)
    cheaper.loc[cost, ["mean", "ci_low", "ci_high"]] *= 0.01
    got = regressions(swarm.summary, cheaper, metrics=["cost_usd"])
    assert len(got) == 2 and got["regressed"].all() and (got["change"] > 0.9).all()
    assert not regressions(swarm.summary, cheaper, metrics=["cost_usd"], better={"cost_usd": "higher"})[
        "regressed"].any()
    with pytest.raises(ConfigError, match="metrics must be among .*cost_usd"):
        regressions(swarm.summary, cheaper, metrics=["dollars"])
