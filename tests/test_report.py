"""``swarmlab.report(**values)`` and ``current_devices()`` from task bodies in every mode:
summed per attempt into columns of the tasks frame, journaled, spilled, saved, resumed,
and truing up a rate in a real run."""

import asyncio
import math
import shutil

import pytest
from conftest import run, until

import swarmlab
import swarmlab.store.spill
from swarmlab import ConfigError, ExecutionMode, ParallelExecutor, RateLimit, ResourceLimits, Task
from swarmlab import workloads
from swarmlab.events import ATTEMPT, EVENT, REPORT_FIELDS
from swarmlab.store.follow import JournalFollower
from swarmlab.store.journal import JOURNAL_NAME, encode_line, read_journal
from swarmlab.store.records import TASK_COLUMNS
from swarmlab.store.runs import RunStore, load_run, save_run


def _sync_bodies():
    """(retried, silent): ``retried`` reports 10 + 5 * attempt and fails its first
    attempt after reporting; both return the attempt's devices. Made here, not at module
    level, so that they travel by value to worker processes and Dask workers."""

    def retried(agent=None, attempt=0):
        swarmlab.report(tokens=10)
        swarmlab.report(tokens=5 * attempt, usd=0.25)
        if attempt == 1:
            raise ValueError("first attempt fails after reporting")
        return swarmlab.current_devices()

    def silent():
        return swarmlab.current_devices()

    return retried, silent


def _async_bodies():
    async def retried(agent=None, attempt=0):
        swarmlab.report(tokens=10)

        async def child():  # an asyncio task the body creates reports into its attempt
            swarmlab.report(tokens=5 * attempt, usd=0.25)

        await asyncio.create_task(child())
        if attempt == 1:
            raise ValueError("first attempt fails after reporting")
        return swarmlab.current_devices()

    async def silent():
        return swarmlab.current_devices()

    return retried, silent


def _tasks(mode, kind=None):
    retried, silent = _async_bodies() if mode == "asyncio" else _sync_bodies()
    suffix = f"-{kind}" if kind else ""
    return [Task(retried, id=f"retried{suffix}", with_agent=True, max_retries=1, retry_backoff_s=0.01, kind=kind),
            Task(silent, id=f"silent{suffix}", kind=kind)]


async def _run(mode, tasks, **kw):
    async with ParallelExecutor(mode=mode, limits=ResourceLimits(task_timeout=120), **kw) as ex:
        await ex.submit_batch(tasks)
        assert await ex.wait_for_completion(timeout=120)
        res = await ex.get_all_results()
    return ex.record(), res


def _check_retried(rec, res, suffix=""):
    t = rec.tasks.set_index(["task_id", "attempt"])
    first, second = t.loc[(f"retried{suffix}", 1)], t.loc[(f"retried{suffix}", 2)]
    assert first["status"] == "failed" and first["tokens"] == 15.0 and first["usd"] == 0.25  # kept on failure
    assert second["status"] == "completed" and second["tokens"] == 20.0 and second["usd"] == 0.25
    silent = t.loc[(f"silent{suffix}", 1)]
    assert silent["status"] == "completed" and math.isnan(silent["tokens"]) and math.isnan(silent["usd"])
    assert res[f"retried{suffix}"].value == () and res[f"silent{suffix}"].value == ()  # current_devices()
    assert list(rec.tasks.columns) == list(TASK_COLUMNS) + ["tokens", "usd"]
    assert rec.tasks["tokens"].dtype == "float64"


@pytest.mark.parametrize("mode", ["thread", "asyncio", "process"])
def test_reports_are_summed_per_attempt_into_columns_of_its_row(mode):
    rec, res = run(_run(mode, _tasks(mode)))
    _check_retried(rec, res)


def test_reports_from_every_route_of_hybrid():
    async def both():
        retried, silent = _async_bodies()
        tasks = _tasks("hybrid", "cpu") + _tasks("hybrid", "io")
        tasks += [Task(retried, id="retried-aio", with_agent=True, max_retries=1, retry_backoff_s=0.01),
                  Task(silent, id="silent-aio")]
        return await _run("hybrid", tasks)

    rec, res = run(both())
    for suffix in ("-cpu", "-io", "-aio"):
        _check_retried(rec, res, suffix)
    routes = rec.tasks.drop_duplicates("task_id", keep="last").set_index("task_id")["mode"]
    assert routes["retried-cpu"] == "process" and routes["retried-io"] == "thread"
    assert routes["retried-aio"] == "asyncio"


@pytest.mark.dask
def test_reports_travel_back_from_dask_workers():
    pytest.importorskip("distributed")
    rec, res = run(_run(ExecutionMode.DASK, _tasks("dask")))  # the embedded LocalCluster on loopback
    _check_retried(rec, res)
    assert set(rec.tasks["mode"]) == {"dask"}


def _bad_bodies():
    def clash():
        swarmlab.report(tokens=1)
        swarmlab.report(tokens=2, status=1)  # refused whole: tokens stays 1

    def not_identifier():
        swarmlab.report(**{"tokens in": 1})

    def not_a_number():
        swarmlab.report(tokens="many")

    def a_bool():
        swarmlab.report(ok=True)

    def not_finite():
        swarmlab.report(tokens=math.inf)

    return {"clash": clash, "not_identifier": not_identifier, "not_a_number": not_a_number, "a_bool": a_bool,
            "not_finite": not_finite}


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_bad_report_fails_that_attempt_with_a_message(mode):
    rec, res = run(_run(mode, [Task(fn, id=name) for name, fn in _bad_bodies().items()]))
    for name in _bad_bodies():
        assert res[name].status.value == "failed" and res[name].error_type == "ConfigError", name
    assert "'status' is a built-in column of the tasks frame" in res["clash"].error
    assert "'tokens in' is not an identifier" in res["not_identifier"].error
    assert "tokens='many'" in res["not_a_number"].error and "finite int or float" in res["not_a_number"].error
    assert "ok=True" in res["a_bool"].error and "tokens=inf" in res["not_finite"].error
    t = rec.tasks.set_index("task_id")
    assert t.loc["clash", "tokens"] == 1.0  # what was reported before the bad call is kept
    assert "status" in TASK_COLUMNS and list(rec.tasks.columns) == list(TASK_COLUMNS) + ["tokens"]


def test_outside_an_attempt_report_and_current_devices_are_config_errors():
    with pytest.raises(ConfigError, match=r"swarmlab\.report\(\) is for task bodies"):
        swarmlab.report(tokens=1)
    with pytest.raises(ConfigError, match=r"swarmlab\.current_devices\(\) is for task bodies"):
        swarmlab.current_devices()
    assert swarmlab.report in (getattr(swarmlab, n) for n in swarmlab.__all__)


def test_a_thread_the_body_starts_reports_only_with_the_bodys_context():
    import contextvars
    import threading

    def body():
        seen = []

        def raw():
            try:
                swarmlab.report(tokens=100)
            except ConfigError as e:
                seen.append(str(e))

        t = threading.Thread(target=raw)
        t.start()
        t.join()
        t = threading.Thread(target=contextvars.copy_context().run, args=(swarmlab.report,), kwargs={"tokens": 7})
        t.start()
        t.join()
        return seen

    rec, res = run(_run("thread", [Task(body, id="b")]))
    assert len(res["b"].value) == 1 and "outside an attempt" in res["b"].value[0]
    assert rec.tasks.set_index("task_id").loc["b", "tokens"] == 7.0


def test_reports_racing_the_end_of_their_attempt_are_recorded_or_refused_never_lost():
    """A thread in the body's context reports until it is refused; the body returns at
    once, so the thread's reports race the attempt's end (which takes no lock while
    nothing was reported): each report is either on the attempt's row or refused."""
    import contextvars
    import threading

    threads, counted = [], {}

    def reporter(tid):
        n = 0
        while True:
            try:
                swarmlab.report(tokens=1)
            except ConfigError:
                break
            n += 1
        counted[tid] = n

    def body(tid):
        t = threading.Thread(target=contextvars.copy_context().run, args=(reporter, tid))
        threads.append(t)
        t.start()

    n = 200
    rec, _ = run(_run("thread", [Task(body, (f"r{i}",), id=f"r{i}") for i in range(n)]))
    for t in threads:
        t.join(timeout=60)
    assert len(counted) == n
    rows = rec.tasks.set_index("task_id")
    tokens = rows.get("tokens", {})
    for tid, k in counted.items():
        got = tokens.get(tid, math.nan) if k == 0 else tokens[tid]
        assert (k == 0 and math.isnan(got)) or got == k, (tid, k, got)


def test_a_rate_is_trued_up_by_what_a_body_reports():
    """A body that declared 1,000 tokens and reports 3,000 leaves the bucket 2,000 lower:
    the next task, which would have fitted in what the declaration left, is held on the
    rate until the bucket refills; reporting what it declared holds nothing."""

    async def spend(tokens):
        swarmlab.report(tokens=tokens)

    async def main(tokens):
        limits = ResourceLimits(rates={"tpm": RateLimit(2000, per_s=1, reported="tokens")})
        async with ParallelExecutor(mode="asyncio", limits=limits) as ex:
            await ex.submit_batch([Task(spend, (tokens,), id="first", resources={"tpm": 1000}),
                                   Task(spend, (0,), id="next", resources={"tpm": 1000}, dependencies=["first"])])
            assert await ex.wait_for_completion(timeout=60)
        return ex.record()

    over, honest = run(main(3000)), run(main(1000))
    for rec in (over, honest):
        assert set(rec.final()["status"]) == {"completed"}
    held = over.events[over.events["event"] == "held"]
    assert held[["task_id", "detail"]].values.tolist() == [["next", "tpm"]]
    assert over.meta["resources"]["held_s"]["tpm"] > 0
    assert over.tasks.set_index("task_id").loc["first", "tokens"] == 3000.0
    assert not (honest.events["event"] == "held").any() and honest.meta["resources"]["held_s"] == {}


def _reporting_body():
    def body(n):
        swarmlab.report(tokens=n)
        if n % 3 == 0:
            swarmlab.report(usd=n / 100)
        return n

    return body


def test_journaled_saved_and_loaded_runs_keep_the_reported_columns(tmp_path):
    body = _reporting_body()

    async def main():
        async with ParallelExecutor(mode="thread", journal=str(tmp_path / "runs")) as ex:
            await ex.submit_batch([Task(body, (i,), id=f"t{i}") for i in range(6)] + [Task(str, id="quiet")])
        return ex.record()

    rec = run(main())
    j = read_journal(tmp_path / "runs" / rec.run_id / JOURNAL_NAME)
    assert sorted(j["report"]) == sorted(rec.rows("reports")) and not j["damaged"]
    assert len(j["report"]) == 6 + 2 and all(len(r) == len(REPORT_FIELDS) for r in j["report"])
    # a live reader (the dashboard) reads past report lines: not damage, not the end
    partial = tmp_path / "partial.jsonl"
    lines = (tmp_path / "runs" / rec.run_id / JOURNAL_NAME).read_bytes().splitlines(keepends=True)
    partial.write_bytes(b"".join(line for line in lines if b'"type": "end"' not in line))
    follower = JournalFollower(partial)
    got = follower.poll()
    assert got.end is None and not got.damaged and len(got.attempt) == 7
    for csv in (False, True):
        folder = save_run(rec, tmp_path / f"saved-{csv}", csv=csv)
        loaded = load_run(folder)
        assert list(loaded.tasks.columns) == list(rec.tasks.columns) == list(TASK_COLUMNS) + ["tokens", "usd"]
        assert loaded.tasks["tokens"].tolist()[:6] == rec.tasks["tokens"].tolist()[:6]
        t = loaded.tasks.set_index("task_id")
        assert t.loc["t3", "usd"] == 0.03 and math.isnan(t.loc["t1", "usd"]) and math.isnan(t.loc["quiet", "tokens"])
    assert (folder / "tasks.csv").read_text().splitlines()[0].endswith(",tokens,usd")


def test_a_spilled_run_keeps_the_reported_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(swarmlab.store.spill, "SPILL_ROWS", 20)
    body = _reporting_body()

    async def main():
        async with ParallelExecutor(mode="thread", spill=str(tmp_path / "runs")) as ex:
            for k in range(3):  # batches, so that parts are written as the run goes
                await ex.submit_batch([Task(body, (i,), id=f"t{i}") for i in range(k * 30, k * 30 + 30)])
                assert await ex.wait_for_completion(timeout=60)
            mid = ex.record()
        return ex.record(), mid

    rec, mid = run(main())
    assert len(list((tmp_path / "runs" / rec.run_id / "parts").glob("reports-*.parquet"))) >= 2
    loaded = RunStore(tmp_path / "runs").load(rec.run_id)
    for r in (rec, loaded):
        t = r.tasks.set_index("task_id")
        assert len(t) == 90 and t.loc["t45", "tokens"] == 45.0 and t.loc["t45", "usd"] == 0.45
        assert t["tokens"].notna().all() and t["usd"].notna().sum() == 30
    assert mid.tasks["tokens"].notna().all()


def test_a_resumed_run_keeps_what_its_journal_says_bodies_reported(tmp_path):
    """Report lines of a killed run's journal reach the resumed record and the store."""
    store = RunStore(tmp_path / "runs")
    swarmlab.compare(workloads.io(12, seed=4, mean_s=0.01), algorithms=["least_loaded"], modes=["asyncio"],
                     repeats=1, baseline=False, store=store)
    run_id = store.list()["run_id"].iloc[0]
    path = store.path / run_id / JOURNAL_NAME
    lines = path.read_bytes().splitlines()
    done = [i for i, line in enumerate(lines) if b'"type": "attempt"' in line and b'"completed"' in line]
    kept = lines[: done[5] + 1]  # killed after 6 tasks completed
    completed = [read_journal_row(line) for line in kept if b'"type": "attempt"' in line and b'"completed"' in line]
    reports = [encode_line({"type": "report", "row": [row[ATTEMPT.task_id], row[ATTEMPT.attempt], "tokens",
                                                      100.0 + i]}).encode()
               for i, row in enumerate(completed)]
    path.write_bytes(b"".join(line + b"\n" for line in kept) + b"".join(reports))
    (store.path / run_id / "meta.json").unlink(missing_ok=True)
    shutil.rmtree(store.path / run_id / "parts", ignore_errors=True)
    rec = swarmlab.resume(run_id, store)
    t = rec.final().set_index("task_id")
    assert len(t) == 12 and set(t["status"]) == {"completed"}
    for i, row in enumerate(completed):
        assert t.loc[row[ATTEMPT.task_id], "tokens"] == 100.0 + i
    assert t["tokens"].isna().sum() == 6  # the tasks run again reported nothing
    assert list(store.load(run_id).tasks.columns) == list(TASK_COLUMNS) + ["tokens"]


def read_journal_row(line):
    import json

    return json.loads(line)["row"]


def test_a_body_that_never_reports_adds_no_rows_and_no_columns():
    rec, _ = run(_run("thread", [Task(str, id="a"), Task(str, id="b")]))
    assert rec.rows("reports") == () and list(rec.tasks.columns) == list(TASK_COLUMNS)
    started = [e for e in rec.rows("events") if e[EVENT.event] == "started"]
    assert len(started) == 2


def test_an_abandoned_thread_attempt_brings_its_reports_when_its_thread_returns():
    """A THREAD attempt past its timeout runs on: what it reports is recorded (its row
    says timed_out) once its thread really returns, not lost."""
    import threading

    gate = threading.Event()

    def slow():
        swarmlab.report(tokens=5)
        gate.wait(60)
        swarmlab.report(tokens=1)

    async def main():
        async with ParallelExecutor(mode="thread") as ex:
            await ex.submit_batch([Task(slow, id="slow", timeout=0.05)])
            assert await ex.wait_for_completion(timeout=60)
            assert ex.recorder.reports == []  # timed out, still running: nothing yet
            gate.set()
            await until(lambda: ex.recorder.reports, what="the abandoned thread's report")
        return ex.record()

    rec = run(main())
    row = rec.tasks.set_index("task_id").loc["slow"]
    assert row["status"] == "timed_out" and row["tokens"] == 6.0


def test_an_attempt_refused_by_its_provider_keeps_what_it_reported():
    def call(agent=None, attempt=0):
        swarmlab.report(tokens=7 if attempt == 1 else 1)
        if attempt == 1:
            raise swarmlab.RateLimited(0.01)

    rec, _ = run(_run("thread", [Task(call, id="call", with_agent=True)]))
    t = rec.tasks.set_index("attempt")
    assert t["status"].tolist() == ["rate_limited", "completed"] and t["tokens"].tolist() == [7.0, 1.0]
