"""Checkpoint and resume: kill -9 a running suite, then finish it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cut_journal

import swarmlab as sl
from swarmlab.ui.cli import main
from swarmlab.store.journal import JOURNAL_NAME, read_journal
from swarmlab.orchestration import BenchmarkConfig, CallableRunner, OrchestrationConfig, OrchestrationManager
from swarmlab.store.runs import RunStore

SUITE = """
import sys, swarmlab
from swarmlab.orchestration import *
from swarmlab.store.runs import RunStore
m = OrchestrationManager(OrchestrationConfig(runner=SimulatedAgentRunner(0, time_scale=0.01),
                         max_parallel_benchmarks=2, progress_reporting=False, execution_mode="asyncio"))
swarmlab.run(m.run_benchmark_suite([f"Research topic {i}" for i in range(16)], BenchmarkConfig(name="suite"),
                                   store=RunStore(sys.argv[1])))
"""


def _completed_in(journal: Path) -> int:
    if not journal.is_file():
        return 0
    n = 0
    for line in journal.read_text().splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        n += obj.get("type") == "event" and obj["row"][2] == "completed"
    return n


@pytest.mark.slow
def test_kill_minus_9_then_resume_loses_nothing_and_repeats_nothing(tmp_path):
    store = RunStore(tmp_path / "runs")
    script = tmp_path / "suite.py"
    script.write_text(SUITE)
    proc = subprocess.Popen([sys.executable, str(script), str(store.path)])
    deadline = time.monotonic() + 60
    journal = None
    while time.monotonic() < deadline:  # wait (on the real process) until some objectives are done
        found = list(store.path.glob(f"*/{JOURNAL_NAME}")) if store.path.is_dir() else []
        if found and _completed_in(found[0]) >= 4:
            journal = found[0]
            break
        time.sleep(0.05)
    assert journal is not None, "the suite never got going"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id = journal.parent.name
    before = read_journal(journal)
    done_before = {a[0] for a in before["attempt"] if a[3] == "completed"}
    assert 4 <= len(done_before) < 16 and before["end"] is None
    assert store.list().set_index("run_id").loc[run_id, "status"] == "interrupted"

    rec = sl.resume(run_id, store)
    final = rec.final()
    assert len(final) == 16 and set(final["status"]) == {"completed"}
    completed_rows = rec.tasks[rec.tasks["status"] == "completed"]
    assert completed_rows["task_id"].value_counts().max() == 1  # none completed twice
    ev = rec.events
    cut = ev.index[ev["event"] == "resumed"][0]
    rerun = set(ev.loc[cut:][ev.loc[cut:, "event"] == "started"]["task_id"])
    assert rerun.isdisjoint(done_before) and rerun | done_before == set(final["task_id"])
    assert ev["t_s"].is_monotonic_increasing
    saved = store.load(run_id)
    assert saved.meta["status"] == "resumed" and len(saved.final()) == 16
    with pytest.raises(sl.ConfigError, match=r"finished \(resumed\); there is nothing to resume"):
        sl.resume(run_id, store)  # a second resume would run tasks twice


def test_finished_or_undescribed_runs_are_not_resumed(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    m = OrchestrationManager(OrchestrationConfig(progress_reporting=False))
    r = sl.run(m.run_benchmark_suite(["Research a"], BenchmarkConfig(name="s"), store=store))
    with pytest.raises(sl.ConfigError, match="finished .*nothing to resume"):
        sl.resume(r["suite_id"], store)
    assert main(["resume", r["suite_id"], "--store", str(store.path)]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    loaded = store.load(r["suite_id"])
    assert loaded.meta["suite"] == "s" and len(loaded.final()) == 1
    c = OrchestrationManager(OrchestrationConfig(runner=CallableRunner(lambda o, a: o), progress_reporting=False))
    assert c.suite_spec(["x"], BenchmarkConfig()) is None


def test_a_cut_short_compare_run_is_resumed_from_its_workload(tmp_path):
    from swarmlab import workloads
    from swarmlab import compare

    store = RunStore(tmp_path / "runs")
    compare(workloads.io(30, seed=4, mean_s=0.01), algorithms=["least_loaded"], modes=["asyncio"], repeats=1,
            baseline=False, store=store)
    run_id, kept = cut_journal(store, 11)  # as if killed after 11 tasks completed
    cut_events = [json.loads(line)["row"] for line in kept if '"type": "event"' in line]
    ran = {e[3] for e in cut_events if e[2] == "started"} - {e[3] for e in cut_events if e[2] == "completed"}
    rec = sl.resume(run_id, store)
    assert rec.meta["kept_tasks"] == 11 and rec.meta["resumed_tasks"] == 19
    final = rec.final()
    assert len(final) == 30 and set(final["status"]) == {"completed"}
    assert rec.tasks[rec.tasks["status"] == "completed"]["task_id"].value_counts().max() == 1
    # issue 26 item 4: the labels the comparison gave the run hold after the resume
    assert (rec.meta["role"], rec.meta["repeat"], rec.meta["setup"], rec.meta["workload"]) == (
        "measured", 0, "least_loaded", "io")
    # an attempt the kill cut is its own row, and the rerun is numbered after it
    assert ran  # tasks were running at the cut
    t = rec.tasks.set_index(["task_id", "attempt"])
    for tid in ran:
        assert t.loc[(tid, 1), "status"] == "interrupted" and t.loc[(tid, 2), "status"] == "completed"
        assert t.loc[(tid, 1), "finished_s"] >= t.loc[(tid, 1), "started_s"]


@pytest.mark.slow
def test_a_compare_killed_during_its_baseline_leaves_a_run_that_resume_finishes(tmp_path):
    out = tmp_path / "out"
    store = RunStore(out / "runs")
    n = 150  # one agent, one task at a time, ~20 ms each: the baseline alone takes seconds
    proc = subprocess.Popen([sys.executable, "-m", "swarmlab", "compare", "--workload", "io", "--tasks", str(n),
                             "--algorithms", "round_robin", "--mode", "asyncio", "--repeats", "1",
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    journal = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(store.path.glob(f"*/{JOURNAL_NAME}")) if store.path.is_dir() else []
        if found and _completed_in(found[0]) >= 5:
            journal = found[0]
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert journal is not None, "no journal appeared while the compare ran"
    assert len(list(store.path.glob(f"*/{JOURNAL_NAME}"))) == 1  # the first run: the baseline
    header = read_journal(journal)["header"]
    assert [a["id"] for a in header["meta"]["agents"]] == ["sequential"]
    run_id = journal.parent.name
    assert store.list().set_index("run_id").loc[run_id, "status"] == "interrupted"

    rec = sl.resume(run_id, store)
    final = rec.final()
    assert len(final) == n and set(final["status"]) == {"completed"}
    assert rec.tasks[rec.tasks["status"] == "completed"]["task_id"].value_counts().max() == 1
    assert rec.meta["kept_tasks"] >= 5 and rec.meta["kept_tasks"] + rec.meta["resumed_tasks"] == n


def test_a_resumed_runs_rate_starts_from_what_its_journal_says_was_spent(tmp_path, monkeypatch):
    """Four tasks take the whole bucket (4, one back a second) at once; the run is cut
    after two completed. Resumed, the two left find the bucket nearly empty, as the
    provider's would be: each is held for the rate, not started at once from a full one."""
    from swarmlab import ResourceLimits, compare
    from swarmlab.events import EVENT
    from swarmlab.experiments.recovery import spent_recently
    from swarmlab.model import Agent, RateLimit, Task
    from swarmlab.workloads import recipes

    def rated(n, seed=0):
        def build(style):
            fn = recipes.io_wait_async if style == "async" else recipes.io_wait
            return [Task(fn, (0.001,), id=f"rated-{i}", estimate_s=0.001, resources={"rpm": 1}) for i in range(n)]
        return recipes.Workload("rated", n, seed, [Agent("a0", capacity=4)], build)

    monkeypatch.setitem(recipes.WORKLOADS, "rated", rated)
    limits = ResourceLimits(rates={"rpm": RateLimit(4, per_s=4.0)})
    store = RunStore(tmp_path / "runs")
    compare(rated(4), algorithms=["least_loaded"], modes=["asyncio"], repeats=1, baseline=False, warmup=False,
            store=store, limits=limits)
    run_id, _ = cut_journal(store, 2)  # as if killed after 2 tasks completed

    j = read_journal(store.path / run_id / JOURNAL_NAME)
    started = [e for e in j["event"] if e[EVENT.event] == "started"]
    assert len(started) == 4  # all four took a unit before the cut
    end = max(e[EVENT.t_s] for e in j["event"])
    # a bucket replayed from full: 4 taken from the first start on, refilled at 1 a second
    # since then until the journal's end (it was full before: nothing refilled beyond 4)
    expected = 4 - (end - started[0][EVENT.t_s]) * 1.0
    spent = spent_recently(j, rated(4).tasks(), limits)
    assert spent["rpm"] == pytest.approx(expected, abs=1e-6) and spent["rpm"] > 3

    rec = sl.resume(run_id, store)
    assert rec.meta["rates_spent_before_resume"] == spent
    ev = rec.events
    after = ev[ev["seq"] > ev.loc[ev["event"] == "resumed", "seq"].iloc[0]]
    held = after[after["event"] == "held"]
    assert set(held["task_id"]) == set(after.loc[after["event"] == "started", "task_id"]) and len(held) == 2
    assert set(held["detail"]) == {"rpm"}
    assert set(rec.final()["status"]) == {"completed"} and len(rec.final()) == 4
