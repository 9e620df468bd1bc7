"""Following journals while they are written: each line read once, damage reported as data,
the writer never disturbed, and the counts a live view shows equal to the run's record."""

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab.events import attempt_row
from swarmlab import workloads
from swarmlab.analysis.figures import run_figures
from swarmlab.events import Recorder
from swarmlab.store.follow import SHOWN_DAMAGED, JournalFollower, RunProgress, scan_store
from swarmlab.store.journal import JOURNAL_NAME, Journal, encode_line, read_journal

HEADER = {"type": "header", "run_id": "r1", "meta": {"algorithm": "round_robin"}, "spec": None}


def _event(seq, t, kind, task=None):
    return {"type": "event", "row": [seq, t, kind, task, None, None]}


def _attempt(task, status, started, finished, attempt=1, agent="agent-0"):
    return {"type": "attempt", "row": list(attempt_row(
        task_id=task, name=task, attempt=attempt, status=status, priority=1, agent_id=agent, mode="thread",
        worker=None, submitted_s=0.0, ready_s=0.0, started_s=started, finished_s=finished, error_type=None,
        error=None, devices=""))}


def _write(path: Path, *objs, raw: bytes = b"") -> None:
    with open(path, "ab") as f:
        f.write(b"".join(encode_line(o).encode() for o in objs) + raw)


def _drain(follower: JournalFollower, progress: RunProgress | None = None, limit: int = 100_000):
    """Poll until nothing complete is left unread; every batch returned, in order."""
    out = []
    for _ in range(limit):
        batch = follower.poll()
        if progress is not None:
            progress.feed(batch)
        out.append(batch)
        if not follower.behind:
            return out
    raise AssertionError("the follower never caught up")


def _rows(batches, kind):
    return [row for b in batches for row in getattr(b, kind)]


# ------------------------------------------------------------------ a run writing while it is followed

_tries: Counter = Counter()


async def _flaky(i: int) -> int:
    """Fails its first attempt when i % 5 == 0; i % 11 == 0 always fails."""
    await asyncio.sleep(0.002 * (i % 3))
    _tries[i] += 1
    if i % 11 == 0 or (i % 5 == 0 and _tries[i] == 1):
        raise RuntimeError(f"task {i} failed")
    return i


def _start_run(root: Path, n: int):
    """A real journaled run (ASYNCIO mode) on a thread of its own; returns the thread and a
    dict that receives the executor and then its record."""
    _tries.clear()
    got: dict = {}
    limits = sl.ResourceLimits(max_cpu_percent=None, max_memory_mb=None, monitoring_interval=0.05,
                               max_concurrent_tasks=4)

    async def main():
        tasks = [sl.Task(_flaky, (i,), max_retries=1, retry_backoff_s=0.001) for i in range(n)]
        async with sl.ParallelExecutor(mode="asyncio", limits=limits, journal=str(root)) as ex:
            got["executor"] = ex
            for i in range(0, n, 10):  # submitted as the run goes, so the journal grows while read
                await ex.submit_batch(tasks[i:i + 10])
                await asyncio.sleep(0.01)
        got["record"] = ex.record()

    thread = threading.Thread(target=lambda: sl.run(main()), daemon=True)
    thread.start()
    return thread, got


def test_a_run_followed_while_it_writes_is_read_whole_and_once_and_never_disturbed(tmp_path):
    thread, got = _start_run(tmp_path, 120)
    deadline = time.monotonic() + 60
    while "executor" not in got and time.monotonic() < deadline:
        time.sleep(0.01)
    path = tmp_path / got["executor"].recorder.run_id / JOURNAL_NAME
    follower, progress, batches, looks_while_running = JournalFollower(path, max_bytes=4096), RunProgress(), [], 0
    while follower.end is None and time.monotonic() < deadline:
        batch = follower.poll()
        progress.feed(batch)
        batches.append(batch)
        looks_while_running += bool(batch) and thread.is_alive()
        if not follower.behind:
            time.sleep(0.005)
    thread.join(60)
    assert follower.end == {"type": "end", "status": "complete"}
    assert looks_while_running > 1  # it really was read while being written
    # every line exactly once, in order, as the writer wrote it
    whole = read_journal(path)
    assert not whole["damaged"] and not any(b.damaged for b in batches)
    for kind in ("task", "attempt", "event", "resource"):
        assert _rows(batches, kind) == whole[kind]
    assert follower.lines == len(path.read_bytes().splitlines()) and follower.unfinished == 0
    rec = got["record"]
    assert whole["event"] == [tuple(e) for e in rec.rows("events")]  # the writer lost nothing to its reader
    # the live figures, once the run ended, are the record's
    final = Counter(rec.final()["status"].astype(str))
    live = run_figures(progress.record())
    assert live == run_figures(rec)
    assert {k: v for k, v in live.ended.items() if v} == dict(final)
    assert live.tasks == 120 and live.running == 0 and live.waiting == 0
    assert live.retried == Counter(rec.events["event"].astype(str))["retried"] > 0
    assert live.attempts == int(rec.tasks["started_s"].notna().sum())
    assert progress.resources and progress.meta["algorithm"] == rec.meta["algorithm"]


def test_an_unfinished_last_line_waits_for_the_rest_of_it(tmp_path):
    path = tmp_path / JOURNAL_NAME
    _write(path, HEADER)
    line = encode_line(_event(0, 0.5, "submitted", "t1")).encode()
    follower = JournalFollower(path)
    assert follower.poll().header["run_id"] == "r1"
    _write(path, raw=line[:17])
    batch = follower.poll()
    assert not batch and follower.unfinished == 17
    _write(path, raw=line[17:])
    assert follower.poll().event == [(0, 0.5, "submitted", "t1", None, None)]
    assert follower.unfinished == 0 and not follower.poll()


def test_lines_appended_between_the_look_at_the_size_and_the_read_are_counted(tmp_path, monkeypatch):
    """The writer appends after the follower's stat and before its read: what it read is
    in the file, so ``unfinished`` counts from there (it went negative)."""
    import os

    from swarmlab.store import follow

    path = tmp_path / JOURNAL_NAME
    _write(path, HEADER)
    follower = JournalFollower(path)
    follower.poll()
    real_stat = os.stat

    def stat_before_the_append(p, *args, **kwargs):
        st = real_stat(p, *args, **kwargs)
        _write(path, _event(0, 0.5, "submitted", "t1"))  # lands after the stat
        _write(path, raw=b'{"type": "event"')  # and the start of a line
        return st

    monkeypatch.setattr(follow.os, "stat", stat_before_the_append)
    _write(path, _event(1, 0.6, "submitted", "t2"))
    batch = follower.poll()
    monkeypatch.setattr(follow.os, "stat", real_stat)
    assert [e[3] for e in batch.event] == ["t2", "t1"]
    assert follower.unfinished == len(b'{"type": "event"')


def test_damaged_lines_are_reported_with_their_number_and_the_rows_around_them_kept(tmp_path):
    path = tmp_path / JOURNAL_NAME
    good = encode_line(_event(1, 0.1, "submitted", "t1")).encode()
    forged = good.replace(b'"t1"', b'"t9"')  # its checksum no longer matches
    _write(path, HEADER, _event(0, 0.0, "submitted", "t0"),
           raw=forged + b"\0\0\0\0\n" + b"not json\n" + encode_line(HEADER).encode() + good)
    progress = RunProgress()
    batches = _drain(JournalFollower(path), progress)
    damaged = [d for b in batches for d in b.damaged]
    assert [d.line for d in damaged] == [3, 4, 5, 6]  # a second header is damage too
    assert "t9" in damaged[0].text and damaged[1].text == r"\x00\x00\x00\x00"
    assert [e[3] for e in _rows(batches, "event")] == ["t0", "t1"]
    assert progress.n_damaged == 4 and progress.meta == {"algorithm": "round_robin"}


def test_a_journal_whose_first_line_is_not_a_header_is_damage_not_an_error(tmp_path):
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\n")
    progress = RunProgress()
    _drain(JournalFollower(path), progress)
    assert progress.meta == {} and progress.n_damaged == 3  # its bytes hold three newlines


def test_many_damaged_lines_are_counted_and_only_the_first_kept(tmp_path):
    path = tmp_path / JOURNAL_NAME
    _write(path, HEADER, raw=b"garbage\n" * (SHOWN_DAMAGED + 5))
    progress = RunProgress()
    _drain(JournalFollower(path, max_bytes=64), progress)
    assert progress.n_damaged == SHOWN_DAMAGED + 5 and len(progress.damaged) == SHOWN_DAMAGED


def _big_journal(folder: Path, n: int) -> tuple[Path, sl.RunRecord]:
    wl = workloads.heavy_tailed(n, seed=3)
    rec = sl.simulate(wl.tasks(), wl.agents, seed=3)
    recorder = Recorder(rec.run_id)
    recorder.task_info.extend(rec.rows("task_info"))
    recorder.attempts.extend(rec.rows("attempts"))
    recorder.events.extend(rec.rows("events"))
    Journal(folder, recorder, rec.meta, None).close()
    return folder / JOURNAL_NAME, rec


def test_a_backlog_is_read_in_bounded_looks_and_no_byte_twice(tmp_path):
    path, rec = _big_journal(tmp_path, 5000)
    size = path.stat().st_size
    follower, progress = JournalFollower(path, max_bytes=64 * 1024), RunProgress()
    batches = _drain(follower, progress)
    assert len(batches) >= size // (64 * 1024)  # it took many looks, each a bounded read
    assert follower.bytes_read == follower.offset == size  # every byte read once
    again = follower.poll()
    assert not again and follower.bytes_read == size  # nothing new: nothing read
    live = run_figures(progress.record())
    assert live.tasks == 5000 and live.completed == 5000 and live == run_figures(rec)
    assert live.running == live.waiting == 0 and progress.end_status == "complete"
    assert progress.record().tasks["agent_id"].astype(str).tolist() == rec.tasks["agent_id"].astype(str).tolist()
    assert live.throughput_tps == pytest.approx(5000 / rec.tasks["finished_s"].max())  # the whole run


def test_a_replaced_or_truncated_journal_is_read_again_from_its_start(tmp_path):
    path = tmp_path / JOURNAL_NAME
    _write(path, HEADER, _event(0, 0.0, "submitted", "t0"), _event(1, 0.1, "submitted", "t1"))
    follower, progress = JournalFollower(path), RunProgress()
    progress.feed(follower.poll())
    assert len(progress.damaged) == 0 and follower.lines == 3
    path.write_bytes(encode_line(HEADER).encode())  # cut short (rewritten)
    batch = follower.poll()
    progress.feed(batch)
    assert batch.restarted and batch.header is not None and follower.lines == 1
    replacement = tmp_path / "new.jsonl"
    _write(replacement, HEADER, _event(0, 0.0, "submitted", "t0"))
    replacement.replace(path)  # same size or not, another file: read from its start
    batch = follower.poll()
    assert batch.restarted and [e[3] for e in batch.event] == ["t0"]


def test_retried_failures_are_not_counted_as_ended_and_throttled_spans_are_paired():
    progress = RunProgress()
    from swarmlab.store.follow import Appended

    progress.feed(Appended(
        task=[("t1", None, None, [], [], "default"), ("t2", None, None, [], [], "default")],
        attempt=[_attempt("t1", "failed", 0.0, 1.0)["row"], _attempt("t2", "completed", 0.5, 1.5)["row"]],
        event=[tuple(_event(*x)["row"]) for x in [
            (0, 0.0, "started", "t1"), (1, 0.2, "throttled"), (2, 0.5, "started", "t2"), (3, 0.9, "resumed"),
            (4, 1.0, "failed", "t1"), (5, 1.0, "retried", "t1"), (6, 1.5, "completed", "t2"),
            (7, 1.6, "throttled")]]))
    f = run_figures(progress.record())
    assert {k: v for k, v in f.ended.items() if v} == {"completed": 1} and f.retried == 1
    assert f.running == 0 and f.waiting == 1  # t1 waits for its second attempt
    assert progress.throttled == [[0.2, 0.9], [1.6, None]]
    assert (f.first_s, f.last_s) == (0.0, 1.5)  # a throttled event after the last finish is not the run's time


def test_scan_store_lists_the_run_folders_with_a_journal_or_a_saved_run(tmp_path):
    assert scan_store(tmp_path / "absent") == []
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a" / JOURNAL_NAME, HEADER)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "meta.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    found = {f.run_id: f for f in scan_store(tmp_path)}
    assert sorted(found) == ["a", "b"]
    assert found["a"].journal_mtime is not None and found["a"].saved_mtime is None
    assert found["b"].journal_mtime is None and found["b"].saved_mtime is not None


def test_a_line_longer_than_max_bytes_is_put_together_over_several_looks(tmp_path):
    path = tmp_path / JOURNAL_NAME
    _write(path, HEADER, _event(0, 0.0, "submitted", "t" * 500))
    follower = JournalFollower(path, max_bytes=16)
    batches = _drain(follower)
    assert len(batches) > 30 and [e[3] for e in _rows(batches, "event")] == ["t" * 500]
    assert follower.bytes_read == path.stat().st_size and not any(b.damaged for b in batches)


# ------------------------------------------------------------------ one set of figures, live or saved

def _journaled(folder: Path, n: int, seed: int, fail_every: int) -> Path:
    """A simulated run with failures, retries and upstream failures, written as a journal."""
    tasks = [sl.Task(None, id=f"t{i}", estimate_s=0.1 + (i * 7919 + seed) % 13 / 10, max_retries=i % 2,
                     dependencies=[f"t{i - 3}"] if i >= 3 and i % 4 == 0 else ()) for i in range(n)]

    def failures(task, attempt):
        k = int(task.id[1:])
        return RuntimeError("flaky") if (k + seed) % fail_every == 0 and attempt == 1 else None

    rec = sl.simulate(tasks, [sl.Agent(f"a{i}") for i in range(3)], seed=seed, failures=failures)
    recorder = Recorder(rec.run_id)
    for name in ("task_info", "attempts", "events"):
        getattr(recorder, name).extend(rec.rows(name))
    Journal(folder, recorder, rec.meta, None).close()
    return folder / JOURNAL_NAME


def test_live_figures_equal_the_saved_records_at_every_cut(tmp_path_factory):
    from hypothesis import given, settings, strategies as st

    from swarmlab.analysis.figures import summary

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(n=st.integers(1, 30), seed=st.integers(0, 50), fail_every=st.integers(2, 6),
           cut=st.floats(0, 1), tear=st.integers(0, 40), chunk=st.integers(200, 5000))
    def check(n, seed, fail_every, cut, tear, chunk):
        path = _journaled(tmp_path_factory.mktemp("run"), n, seed, fail_every)
        data = path.read_bytes()
        lines = data.splitlines(keepends=True)
        keep = max(1, int(cut * len(lines)))  # the header and what followed it, then a torn line
        path.write_bytes(b"".join(lines[:keep]) + (lines[keep][:tear] if keep < len(lines) else b""))
        follower, progress = JournalFollower(path, max_bytes=chunk), RunProgress()
        _drain(follower, progress)  # read in looks of `chunk` bytes, as a live view reads
        saved = read_journal(path)  # what resume (and a reload) reads at this cut
        record = sl.RunRecord(dict(saved["header"]["meta"], run_id="r"), saved["event"], saved["attempt"],
                              task_info=saved["task"])
        live, kept = run_figures(progress.record()), run_figures(record)
        assert live == kept
        row = summary([record]).iloc[0]
        assert row["tasks"] == kept.tasks and row["completed"] == kept.completed
        assert row["makespan_s"] == pytest.approx(kept.makespan_s)
        assert kept.n_ended + kept.running + kept.waiting == kept.tasks

    check()
