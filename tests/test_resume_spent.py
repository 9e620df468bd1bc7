"""Issue 25 item 7: what an attempt a kill cut short had spent is in its interrupted row,
counts in the resumed record's totals and starts the resumed run's budgets."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab.analysis.figures import reported_totals
from swarmlab.events import REPORT
from swarmlab.errors import JournalError
from swarmlab.store.journal import JOURNAL_NAME, read_journal
from swarmlab.store.runs import RunStore

#: A workload whose bodies report in steps; "blocker" reports 123 tokens and $1.25, then
#: waits while the file ``$SPEND_GATE/hold`` exists (the test kills the run meanwhile;
#: resumed, with the file gone, it runs through). Imported by the killed run, its PROCESS
#: workers and the resume alike.
WORKLOAD = '''
import asyncio, os, time
from pathlib import Path
import swarmlab, swarmlab.scope
from swarmlab.model import Agent, Task
from swarmlab.workloads import recipes

def held():
    return (Path(os.environ["SPEND_GATE"]) / "hold").exists()

def step(i):
    for _ in range(3):
        swarmlab.report(tokens=10, cost_usd=0.5)
    return i

async def astep(i):
    for _ in range(3):
        swarmlab.report(tokens=10, cost_usd=0.5)
        await asyncio.sleep(0)
    return i

def block():
    swarmlab.report(tokens=100, cost_usd=1.0)
    swarmlab.report(tokens=23, cost_usd=0.25)
    while held():
        time.sleep(0.01)
    return "done"

async def ablock():
    swarmlab.report(tokens=100, cost_usd=1.0)
    swarmlab.report(tokens=23, cost_usd=0.25)
    while held():
        await asyncio.sleep(0.01)
    return "done"

def unsunk():
    """Reports twice; whether its attempt hands reports to no sink."""
    swarmlab.report(tokens=1)
    swarmlab.report(tokens=2)
    return swarmlab.scope.attempt_now().sink is None

async def aunsunk():
    return unsunk()

def spender(n, seed=0, capacity=4):
    def build(style):
        s, b = (astep, ablock) if style == "async" else (step, block)
        return ([Task(b, id="blocker", priority=10, estimate_s=0.01)]
                + [Task(s, (i,), id=f"step-{i}", estimate_s=0.01) for i in range(n - 1)])
    return recipes.Workload("spender", n, 0, [Agent("a0", capacity=capacity)], build, options={"capacity": capacity})

recipes.WORKLOADS["spender"] = spender
'''

RUN = '''
import sys
sys.path.insert(0, sys.argv[1])
import spendwl
from swarmlab import ResourceLimits, compare
from swarmlab.store.runs import RunStore
mode, n, capacity, budget = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
compare(spendwl.spender(n, capacity=capacity), algorithms=["least_loaded"], modes=[mode], repeats=1, baseline=False,
        warmup=False, store=RunStore(sys.argv[2]), limits=ResourceLimits(budgets={"cost_usd": budget}) if budget else None)
'''

#: A command that reports usage in two lines, then, for the objective "slow", waits while
#: the hold file exists.
COMMAND = '''
import json, os, sys, time
from pathlib import Path
print("working on", sys.argv[1], flush=True)
print(json.dumps({"swarmlab": {"tokens": 5}}), flush=True)
print(json.dumps({"swarmlab": {"tokens": 7, "cost_usd": 0.5}}), flush=True)
while sys.argv[1] == "slow" and (Path(os.environ["SPEND_GATE"]) / "hold").exists():
    time.sleep(0.01)
'''

SUITE = '''
import sys, swarmlab
from swarmlab.orchestration import *
from swarmlab.store.runs import RunStore
runner = CommandRunner([sys.executable, sys.argv[2], "{objective}"])
m = OrchestrationManager(OrchestrationConfig(runner=runner, max_parallel_benchmarks=4, progress_reporting=False,
                                             execution_mode="asyncio"))
swarmlab.run(m.run_benchmark_suite(["quick", "quick too", "slow"], BenchmarkConfig(name="cmd"),
                                   store=RunStore(sys.argv[1])))
'''


@pytest.fixture(scope="module")
def spendwl(tmp_path_factory):
    """The workload module, importable here and in every process the runs start."""
    where = tmp_path_factory.mktemp("spendwl")
    (where / "spendwl.py").write_text(WORKLOAD)
    sys.path.insert(0, str(where))
    try:
        import spendwl as module
        yield where, module
    finally:
        sys.path.remove(str(where))
        sys.modules.pop("spendwl", None)


@pytest.fixture
def gate(tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "hold").touch()
    monkeypatch.setenv("SPEND_GATE", str(gate))
    return gate / "hold"


def _spent(j, task_id):
    """What the journal's spent lines say ``task_id`` spent, by name."""
    out = {}
    for r in j["spent"]:
        if r[REPORT.task_id] == task_id:
            out[r[REPORT.name]] = out.get(r[REPORT.name], 0.0) + r[REPORT.value]
    return out


def _kill_when(proc, store, ready, limit_s=60):
    """SIGKILL ``proc`` once its run's journal satisfies ``ready(journal)``; the run id."""
    deadline = time.monotonic() + limit_s
    path = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(store.path.glob(f"*/{JOURNAL_NAME}")) if store.path.is_dir() else []
            if found and _journal_says(found[0], ready):
                path = found[0]
                break
            time.sleep(0.02)  # (polling a file another process writes: the condition is the journal's)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert path is not None, "the run never reached the state to kill it in"
    return path.parent.name


def _journal_says(path, ready):
    try:
        return ready(read_journal(path))
    except JournalError:  # just created: its header is not written yet
        return False


def _completed(j):
    return {e[3] for e in j["event"] if e[2] == "completed"}


def _run(spendwl, tmp_path, mode, n, capacity, budget=0.0):
    store = RunStore(tmp_path / "runs")
    script = tmp_path / "run.py"
    script.write_text(RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(spendwl[0]), str(store.path), mode, str(n),
                             str(capacity), str(budget)])
    return store, proc


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["thread", "asyncio", "process"])
def test_a_cut_attempts_spending_is_in_its_interrupted_row_and_counted_twice(spendwl, gate, tmp_path, mode):
    n = 4
    store, proc = _run(spendwl, tmp_path, mode, n, capacity=n)
    # killed once every step completed and the blocker's reports are journaled as spent
    run_id = _kill_when(proc, store, lambda j: len(_completed(j)) == n - 1
                        and _spent(j, "blocker").get("tokens") == 123)
    j = read_journal(store.path / run_id / JOURNAL_NAME)
    assert "blocker" not in _completed(j) and _spent(j, "blocker") == {"tokens": 123.0, "cost_usd": 1.25}
    gate.unlink()  # resumed, the blocker runs through

    rec = sl.resume(run_id, store)
    t = rec.tasks.set_index(["task_id", "attempt"])
    cut, rerun = t.loc[("blocker", 1)], t.loc[("blocker", 2)]
    assert cut["status"] == "interrupted" and rerun["status"] == "completed"
    assert (cut["tokens"], cut["cost_usd"]) == (123.0, 1.25)  # what it reported before the kill
    assert (rerun["tokens"], rerun["cost_usd"]) == (123.0, 1.25)
    for i in range(n - 1):
        assert (t.loc[(f"step-{i}", 1), "tokens"], t.loc[(f"step-{i}", 1), "cost_usd"]) == (30.0, 1.5)
    totals = reported_totals(rec)  # completed + cut + rerun: the cut attempt's spending counts too
    assert totals["tokens"] == (n - 1) * 30 + 123 + 123
    assert totals["cost_usd"] == pytest.approx((n - 1) * 1.5 + 1.25 + 1.25)


@pytest.mark.slow
def test_a_budget_spent_before_the_kill_stops_the_resumed_run_at_once(spendwl, gate, tmp_path):
    # one slot: the blocker runs first and reports $1.25, over the $1 budget, but only its
    # end would count it in the killed run, which goes on until killed
    store, proc = _run(spendwl, tmp_path, "thread", 3, capacity=1, budget=1.0)
    run_id = _kill_when(proc, store, lambda j: _spent(j, "blocker").get("cost_usd") == 1.25)
    assert not _completed(read_journal(store.path / run_id / JOURNAL_NAME))
    gate.unlink()  # were anything to start again, it would run through

    rec = sl.resume(run_id, store)
    final = rec.final().set_index("task_id")
    assert set(final.index) == {"blocker", "step-0", "step-1"} and set(final["status"]) == {"cancelled"}
    assert all("budget was spent (cost_usd: 1.25 of 1 reported)" in e for e in final["error"])
    ev = rec.events
    after = ev[ev["seq"] > ev.loc[ev["event"] == "resumed", "seq"].iloc[0]]
    assert "started" not in set(after["event"]) and (after["event"] == "budget_exhausted").sum() == 1
    budgets = rec.meta["resources"]["budgets"]
    assert budgets["spent"] == {"cost_usd": 1.25} and budgets["stopped_by"] == "cost_usd"
    t = rec.tasks.set_index(["task_id", "attempt"])
    assert t.loc[("blocker", 1), "status"] == "interrupted" and t.loc[("blocker", 1), "cost_usd"] == 1.25
    assert reported_totals(rec)["cost_usd"] == 1.25


@pytest.mark.slow
def test_a_command_cut_mid_run_has_its_usage_lines_on_its_interrupted_row(gate, tmp_path):
    store = RunStore(tmp_path / "runs")
    command = tmp_path / "agent.py"
    command.write_text(COMMAND)
    script = tmp_path / "suite.py"
    script.write_text(SUITE)
    proc = subprocess.Popen([sys.executable, str(script), str(store.path), str(command)])
    run_id = _kill_when(proc, store, lambda j: len(_completed(j)) == 2 and _spent(j, "cmd-2").get("tokens") == 12)
    gate.unlink()

    rec = sl.resume(run_id, store)
    t = rec.tasks.set_index(["task_id", "attempt"])
    cut = t.loc[("cmd-2", 1)]
    assert cut["status"] == "interrupted" and (cut["tokens"], cut["cost_usd"]) == (12.0, 0.5)
    assert t.loc[("cmd-2", 2), "status"] == "completed" and t.loc[("cmd-2", 2), "tokens"] == 12.0
    assert reported_totals(rec)["tokens"] == 4 * 12


@pytest.mark.parametrize("mode", ["thread", "asyncio", "process"])
def test_a_run_without_a_store_hands_reports_to_no_sink(spendwl, tmp_path, mode):
    """No journal: the attempts' sink is None (a PROCESS worker is not asked to send
    anything as it goes); with one, each report reaches the journal as it is made."""
    fn = spendwl[1].aunsunk if mode == "asyncio" else spendwl[1].unsunk

    async def go(journal):
        async with sl.ParallelExecutor(mode=mode, journal=journal) as ex:
            await ex.submit_task(sl.Task(fn, id="t"))
            result = await ex.get_result("t")
        return result.value, ex.record()

    unsunk, rec = sl.run(go(None))
    assert unsunk is True and rec.tasks["tokens"].tolist() == [3.0]
    unsunk, rec = sl.run(go(str(tmp_path)))
    assert unsunk is False and rec.tasks["tokens"].tolist() == [3.0]  # the answer's values, not counted twice
    lines = [json.loads(line) for line in (tmp_path / rec.meta["run_id"] / JOURNAL_NAME).read_text().splitlines()]
    assert sum(obj["row"][REPORT.value] for obj in lines if obj["type"] == "spent") == 3.0


def test_spending_before_a_run_counts_against_its_budget_and_bad_input_is_refused():
    from swarmlab import ResourceLimits

    def body():
        sl.report(cost_usd=0.5)

    async def go(before):
        async with sl.ParallelExecutor(mode="thread", limits=ResourceLimits(budgets={"cost_usd": 2.0})) as ex:
            ex.spent_before(before)
            await ex.submit_batch([sl.Task(body, id=f"t{i}") for i in range(3)])
        return ex.record()

    rec = sl.run(go({"cost_usd": 0.25, "tokens": 7}))  # below the budget: everything runs, counted on top
    assert set(rec.final()["status"]) == {"completed"}
    assert rec.meta["resources"]["budgets"]["spent"] == {"cost_usd": 1.75}
    with pytest.raises(sl.ConfigError, match="spent_before takes .* got {'cost_usd': 'a lot'}"):
        sl.run(go({"cost_usd": "a lot"}))


@pytest.mark.slow
def test_a_process_attempt_killed_at_its_timeout_has_what_it_reported_on_its_row(tmp_path):
    """Its worker sent each report as it was made (the run journals); killed before it
    answered, the attempt's row carries them all the same, and so do the journal's
    report lines a resume reads. A journal with only its spent lines (written before, or
    cut before the next flush) gives the same rows to a resume (``killed_spent``)."""
    import tasks

    from swarmlab.experiments.recovery import killed_spent

    async def go():
        async with sl.ParallelExecutor(mode="process", process_workers=1, journal=str(tmp_path)) as ex:
            await ex.submit_task(sl.Task(tasks.report_then_block, (50,), id="cut", timeout=2))
        return ex.record()

    rec = sl.run(go())
    row = rec.tasks.set_index("task_id").loc["cut"]
    assert (row["status"], row["tokens"]) == ("timed_out", 50.0)
    path = tmp_path / rec.meta["run_id"] / JOURNAL_NAME
    j = read_journal(path)
    assert [tuple(r) for r in j["report"]] == [("cut", 1, "tokens", 50.0)] and killed_spent(j) == []
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if json.loads(line)["type"] != "report"))
    assert [tuple(r) for r in killed_spent(read_journal(path))] == [("cut", 1, "tokens", 50.0)]
