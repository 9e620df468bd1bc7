"""RunRecord's frames: the tasks frame built from rows held in memory (column by column)
is the one the merge of the rows read back as frames gives, cell for cell and dtype for
dtype; summary's figures are those of the frames."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import run

import swarmlab as sl
from swarmlab.analysis.figures import agent_load, quality, summary
from swarmlab.events import ATTEMPT_FIELDS, EVENT_FIELDS, REPORT_FIELDS, TASK_INFO_FIELDS
from swarmlab.store.records import event_count
from swarmlab.virtual.calls import Call


def _as_frames(rec: sl.RunRecord) -> sl.RunRecord:
    """The same rows given as frames (as a spilled run's parts are read back): the
    tasks frame is then built by the merge."""
    def frame(kind, fields):
        return pd.DataFrame.from_records(list(rec.rows(kind)), columns=list(fields))

    return sl.RunRecord(dict(rec.meta), frame("events", EVENT_FIELDS), frame("attempts", ATTEMPT_FIELDS),
                        task_info=frame("task_info", TASK_INFO_FIELDS), reports=frame("reports", REPORT_FIELDS))


def _flaky(task, attempt):
    return ValueError("flaky") if task.id.endswith(("1", "4")) and attempt < 3 else None


CASES = ("dependencies, failures, retries, timeouts", "learned estimates", "calls that report")


def _simulated(case: str) -> sl.RunRecord:
    agents = [sl.Agent(f"agent-{i}", capabilities={"gpu"} if i % 2 else set()) for i in range(4)]
    chain = [sl.Task(None, id=f"t{i}", estimate_s=0.5 + i % 3, priority=1 + i % 10, kind="io" if i % 2 else None,
                     dependencies=[f"t{i - 1}"] if i % 3 else [], requires={"gpu"} if i % 5 == 0 else set(),
                     max_retries=1 if i % 7 else 3, timeout=2.0 if i % 11 == 0 else None) for i in range(60)]
    est = sl.DurationEstimator()
    est.observe(sl.Task(None, kind="io"), sl.Agent("x"), 2.0)
    calls = [sl.Task(None, id=f"c{i}", calls=[Call(1.0, {"llm": 1}, 100, 20)] * 2) for i in range(6)]
    return {
        CASES[0]: lambda: sl.simulate(chain, agents, failures=_flaky, seed=3,
                                                                 leaves=[(3.0, "agent-2")]),
        CASES[1]: lambda: sl.simulate([sl.Task(None, kind="io") for _ in range(8)] +
                                         [sl.Task(None, estimate_s=1.0) for _ in range(4)], agents,
                                         estimator=est),
        CASES[2]: lambda: sl.simulate(calls, [sl.Agent("a"), sl.Agent("b")],
                                         limits=sl.ResourceLimits(task_timeout=None, pools={"llm": 1})),
    }[case]()


@pytest.mark.parametrize("case", CASES)
def test_tasks_frame_from_rows_is_the_merged_frame(case):
    rec = _simulated(case)
    pd.testing.assert_frame_equal(rec.tasks, _as_frames(rec).tasks, check_exact=True)
    assert rec.tasks["status"].nunique() >= 1


def test_tasks_frame_of_a_real_run_is_the_merged_frame():
    async def main():
        async with sl.ParallelExecutor("thread", agents=[sl.Agent("a"), sl.Agent("b")]) as ex:
            await ex.submit_batch([sl.Task(lambda i=i: i, id=f"r{i}", estimate_s=0.01) for i in range(6)] +
                                  [sl.Task(lambda: 1 / 0, id="bad")])
        return ex.record()

    rec = run(main())
    assert set(rec.tasks["status"]) == {"completed", "failed"}
    pd.testing.assert_frame_equal(rec.tasks, _as_frames(rec).tasks, check_exact=True)


def test_summary_counts_events_without_the_events_frame_as_from_it():
    agents = [sl.Agent(f"a{i}") for i in range(8)]
    tasks = [sl.Task(None, estimate_s=20.0 if i % 8 == 0 else 0.5) for i in range(200)]
    steal = sl.TaskScheduler("round_robin", enable_work_stealing=True)
    rec = sl.simulate(tasks, agents, scheduler=steal)
    stolen = rec.count("stolen")
    assert stolen > 0
    assert stolen == event_count(rec.events, "stolen")
    assert summary([rec])["stolen"].item() == stolen
    for t in tasks:
        t.id = None
    counted = sl.simulate(tasks, agents, scheduler=steal, count_events_s=1.0)
    assert counted.count("stolen") == stolen == event_count(counted.events, "stolen")
    assert _as_frames(rec).count("stolen") == stolen


@pytest.mark.parametrize("case", CASES)
def test_figures_from_columns_are_the_figures_of_the_whole_frame(case):
    """summary and quality read a few columns built alone (RunRecord.columns) from a
    record's rows; a record whose rows are frames builds the whole frame by the merge."""
    rec = _simulated(case)
    merged = _as_frames(rec)
    pd.testing.assert_frame_equal(summary([rec]), summary([merged]), check_exact=True)
    for basis in ("measured", "estimates"):
        pd.testing.assert_series_equal(quality(rec, basis), quality(merged, basis), check_exact=True)
    pd.testing.assert_frame_equal(agent_load(rec), agent_load(merged), check_exact=True)
    assert {k: tuple(v) for k, v in rec.dependencies().items()} == \
        {k: tuple(v) for k, v in merged.dependencies().items()}
    pd.testing.assert_frame_equal(rec.final(["status", "run_s"]), merged.final()[["task_id", "status", "run_s"]])
    pd.testing.assert_frame_equal(rec.columns(["wait_s", "kind"]), rec.tasks[["wait_s", "kind"]])


def test_columns_refuses_a_name_outside_the_tasks_frame():
    rec = _simulated(CASES[1])
    with pytest.raises(ValueError, match="columns takes names of the tasks frame"):
        rec.columns(["status", "tokens"])
