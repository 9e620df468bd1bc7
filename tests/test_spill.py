"""Bounded memory for long runs: ``ParallelExecutor(spill=...)`` keeps only what is in
flight and writes ended tasks' rows to the run store (real executors, real Parquet)."""

import asyncio
import gc
import tracemalloc

import pytest

import swarmlab as sl
import swarmlab.store.spill
from swarmlab.errors import ConfigError
from swarmlab.store.records import event_count
from swarmlab.store.runs import RunStore

from conftest import run

LIMITS = sl.ResourceLimits(max_queue_size=100_000, max_cpu_percent=None, max_memory_mb=None, task_timeout=None)
ROWS = 500  # rows per part in these tests (SPILL_ROWS is 16,384)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    monkeypatch.setattr(swarmlab.store.spill, "SPILL_ROWS", ROWS)


def ok(x=None):
    return x


async def aok(x=None):
    return x


def flaky(x, *, agent=None, attempt=1):
    if x % 7 == 3 and attempt == 1:
        raise RuntimeError("once")
    if x % 11 == 5:
        raise ValueError("always")
    return x


def _tasks(n, start=0):
    return [sl.Task(flaky, (i,), id=f"t{i}", max_retries=1, retry_on=(RuntimeError,), retry_backoff_s=0.0,
                    with_agent=True) for i in range(start, start + n)]


async def _retained_per_task(mode, spill, batches=8, per=ROWS):
    """Bytes traced after each whole batch (the spill has just written a part), as a
    line fitted over the last batches: what each task leaves behind."""
    ex = sl.ParallelExecutor(mode, LIMITS, spill=spill)
    fn = aok if mode == "asyncio" else ok
    await ex.start()
    marks = []
    try:
        for b in range(batches):
            await ex.submit_batch([sl.Task(fn, (i,)) for i in range(per)])
            await ex.wait_for_completion()
            gc.collect()
            marks.append(tracemalloc.get_traced_memory()[0])
    finally:
        await ex.stop()
    return (marks[-1] - marks[2]) / ((batches - 3) * per)


@pytest.mark.parametrize("mode", ["asyncio", "thread"])
def test_a_run_that_spills_holds_flat_memory_where_one_that_keeps_everything_grows(mode, tmp_path):
    tracemalloc.start()
    try:
        kept = run(_retained_per_task(mode, None))
        spilled = run(_retained_per_task(mode, tmp_path))
    finally:
        tracemalloc.stop()
    assert kept > 200  # every row of every task is held: the comparison means something
    assert spilled < 0.05 * kept, (spilled, kept)


async def _mixed_run(spill, n=1500):
    ex = sl.ParallelExecutor("thread", LIMITS, agents=[sl.Agent(f"a{i}", capacity=4) for i in range(3)],
                             spill=spill, seed=3)
    seen = {}
    ex.subscribe(lambda r: seen.__setitem__(r.task_id, r.status.value))
    async with ex:
        await ex.submit_batch(_tasks(n))
        await ex.wait_for_completion()
        # a later task may depend on tasks that ended long ago, completed or not
        await ex.submit_batch([sl.Task(ok, (0,), id="after-ok", dependencies=["t0"]),
                               sl.Task(ok, (0,), id="after-failed", dependencies=["t5"])])
    return ex, seen


def test_a_spilled_run_records_the_same_run_and_the_store_loads_it(tmp_path):
    kept, kept_seen = run(_mixed_run(None))
    spilled, seen = run(_mixed_run(tmp_path))
    assert seen == kept_seen and len(seen) == 1502
    assert seen["after-ok"] == "completed" and seen["after-failed"] == "upstream_failed"
    assert spilled._spill.parts > 1  # the rows did leave memory along the way

    a, b = kept.record(), spilled.record()
    cols = ["task_id", "attempt", "status", "error_type", "priority", "estimate_source", "dependencies"]
    key = ["task_id", "attempt"]
    assert a.tasks[cols].sort_values(key, ignore_index=True).astype(str).equals(
        b.tasks[cols].sort_values(key, ignore_index=True).astype(str))
    assert a.tasks.dtypes.equals(b.tasks.dtypes) and a.events.dtypes.equals(b.events.dtypes)
    assert a.events["event"].value_counts().to_dict() == b.events["event"].value_counts().to_dict()
    assert b.events["seq"].tolist() == list(range(len(b.events)))  # one numbering across parts

    store = RunStore(tmp_path)
    listed = store.list()
    assert listed.loc[listed["run_id"] == b.run_id, "status"].tolist() == ["complete"]
    loaded = store.load(b.run_id)
    assert loaded.tasks.equals(b.tasks) and loaded.events.equals(b.events)
    assert len(loaded.resources) == len(b.resources)
    assert loaded.meta["scheduling_metrics"] == b.meta["scheduling_metrics"]


def test_metrics_of_a_spilled_run_are_those_of_the_same_run_kept_in_memory(tmp_path):
    kept, _ = run(_mixed_run(None))
    spilled, _ = run(_mixed_run(tmp_path))
    m, s = kept.get_metrics(), spilled.get_metrics()
    for field in ("tasks_completed", "tasks_failed", "tasks_upstream_failed", "tasks_queued", "tasks_running"):
        assert getattr(m, field) == getattr(s, field), field


def test_ended_tasks_are_forgotten_yet_ids_and_dependencies_are_still_checked(tmp_path):
    async def main():
        ex = sl.ParallelExecutor("asyncio", LIMITS, spill=tmp_path)
        got = {}
        ex.subscribe(lambda r: got.__setitem__(r.task_id, r.status.value))
        async with ex:
            first = sl.Task(aok, (1,))  # an automatic id: completed, nothing of it is kept
            await ex.submit_batch([first, sl.Task(aok, (2,), id="given"), sl.Task(aok, (3,), id="task-7")])
            await ex.wait_for_completion()
            bad = sl.Task(_araise, (), id="bad")
            await ex.submit_task(bad)
            await ex.wait_for_completion()
            assert ex._d.tasks == {}  # nothing of the ended tasks is held

            for dup in ("given", "bad", first.id, "task-7"):
                with pytest.raises(ConfigError, match=f"task id '{dup}' is already used"):
                    await ex.submit_task(sl.Task(aok, (0,), id=dup))
            with pytest.raises(ConfigError, match="depends on 'nope', which is neither submitted"):
                await ex.submit_task(sl.Task(aok, (0,), dependencies=["nope"]))

            ids = await ex.submit_batch([sl.Task(aok, (0,), dependencies=[first]),
                                         sl.Task(aok, (0,), dependencies=["given", "task-7"]),
                                         sl.Task(aok, (0,), dependencies=["bad"])])
            # automatic ids never take a given one, ended or not
            autos = await ex.submit_batch([sl.Task(aok, (0,)) for _ in range(8)])
            assert "task-7" not in autos
            await ex.wait_for_completion()
            assert [got[tid] for tid in ids] == ["completed", "completed", "upstream_failed"]

            assert await ex.cancel_task("given") is False  # it had already ended
            with pytest.raises(ConfigError, match="ended completed and this run spills"):
                await ex.get_result("given")
            with pytest.raises(ConfigError, match="subscribe"):
                await ex.get_all_results()
        final = ex.record().final().set_index("task_id")
        assert final.loc[ids[2], "error"] == "dependency 'bad' ended failed"
        assert final["status"].value_counts().to_dict() == {"completed": 13, "failed": 1, "upstream_failed": 1}

    run(main())


async def _araise():
    raise ValueError("no")


def test_a_spilling_run_is_journaled_whole(tmp_path):
    from swarmlab.store.journal import JOURNAL_NAME, read_journal

    async def main():
        ex = sl.ParallelExecutor("thread", LIMITS, journal=str(tmp_path), spill=tmp_path)
        async with ex:
            await ex.submit_batch(_tasks(1200))
        return ex

    ex = run(main())
    rec = ex.record()
    j = read_journal(tmp_path / rec.run_id / JOURNAL_NAME)
    assert ex._spill.parts > 1 and j["end"] is not None and not j["damaged"]
    assert len(j["attempt"]) == len(rec.tasks) and len(j["event"]) == len(rec.events)
    assert [e[0] for e in j["event"]] == rec.events["seq"].tolist()


def test_a_part_that_cannot_be_written_loses_nothing_and_stop_says_so(tmp_path):
    async def main():
        ex = sl.ParallelExecutor("asyncio", LIMITS, spill=tmp_path)
        await ex.start()
        parts = tmp_path / ex.recorder.run_id / "parts"
        await ex.submit_batch([sl.Task(aok, (i,)) for i in range(ROWS)])
        await ex.wait_for_completion()
        assert ex._spill.parts == 1
        for f in parts.iterdir():  # the disk "fills": parts/ is no longer a folder
            f.unlink()
        parts.rmdir()
        parts.write_text("not a folder")
        await ex.submit_batch([sl.Task(aok, (i,)) for i in range(2 * ROWS)])
        await ex.wait_for_completion()
        with pytest.raises(OSError, match="could not complete the spilled run"):
            await ex.stop()
        assert ex.state == "stopped"
        return ex

    ex = run(main())
    assert ex._spill.failed is not None
    held = ex.recorder
    assert len(held.attempts) == 2 * ROWS  # kept in memory since the failure
    assert event_count(sl.RunRecord(ex.meta, list(held.events), []).events, "spill_failed") == 1


@pytest.mark.parametrize("bad", ["", 5, ["data"]])
def test_spill_must_be_a_folder(bad):
    with pytest.raises(ConfigError, match="spill must be a folder"):
        sl.ParallelExecutor("thread", spill=bad)


def test_what_a_spilling_run_remembers_of_ended_tasks_survives_its_merges(monkeypatch):
    from swarmlab.core.ended import EndedTasks

    monkeypatch.setattr(EndedTasks, "BUFFER", 64)
    ended = EndedTasks()
    statuses = list(sl.TaskStatus)
    ids = [f"job/{i}" for i in range(5000)]
    for i, tid in enumerate(ids):
        ended.add(tid, statuses[i % len(statuses)])
    assert len(ended) == len(ids) and 9 * len(ids) // 2 <= ended.nbytes <= 9 * len(ids)  # most of them merged
    assert all(ended.get(tid) is statuses[i % len(statuses)] for i, tid in enumerate(ids))
    assert ended.get("job/5000") is None and ended.get("") is None
    assert ended.first_of(["new-1", "new-2"]) is None
    assert ended.first_of(["new-1", ids[17], ids[-1]]) == ids[17]  # merged, then recent
    assert ended.first_of(["new-1", ids[-1]]) == ids[-1]
