"""DASK mode on real clusters: the embedded LocalCluster, and a scheduler with two
workers started here as separate processes on 127.0.0.1, one of them killed mid-run."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import live_children, run

import swarmlab as sl
from swarmlab import Agent, ExecutionMode, ParallelExecutor, ResourceLimits, Task, TaskStatus

distributed = pytest.importorskip("distributed")

import dask_tasks  # noqa: E402 - after the skip: its bodies run on Dask workers
import tasks  # noqa: E402 - the behaviour suite's bodies (its folder is on the workers' path too)

pytestmark = pytest.mark.dask

TESTS = Path(__file__).resolve().parent
# Seconds the cluster processes get to come up, and to leave when the test is over.
UP_S = 60
DOWN_S = 10


@contextlib.contextmanager
def dask_cluster(tmp_path: Path, n_workers: int = 2, allowed_failures: int | None = None,
                 resources: dict[int, str] | None = None):
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (no nanny, one
    thread each) on 127.0.0.1 with random ports; yields the scheduler file's path.
    ``resources``: worker index -> its ``--resources``. Every process is stopped and
    reaped on exit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    if allowed_failures is not None:
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(allowed_failures)
    scheduler_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = []

    def start(name: str, argv: list[str]) -> None:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", *argv], env=env, cwd=tmp_path,
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log))

    try:
        start("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                            "--no-dashboard", "--scheduler-file", str(scheduler_file)])
        for i in range(n_workers):
            start(f"worker-{i}", ["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
                                  "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                  "--no-dashboard", "--memory-limit", "0", "--name", f"w{i}"]
                  + (["--resources", resources[i]] if resources and i in resources else []))
        yield scheduler_file
    finally:
        for p in reversed(procs):  # workers first: a worker whose scheduler is gone lingers
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(DOWN_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


async def connect(scheduler_file: Path, n_workers: int):
    """A client of the test's cluster once ``n_workers`` workers have joined; the map
    of worker address to pid."""
    client = await asyncio.wait_for(
        distributed.Client(scheduler_file=str(scheduler_file), asynchronous=True, set_as_default=False),
        UP_S)
    await client.wait_for_workers(n_workers, timeout=UP_S)
    return client, await client.run(os.getpid)


def test_embedded_local_cluster_runs_every_kind_of_body_and_leaves_no_process():
    k = 7

    async def main():
        limits = ResourceLimits(max_concurrent_tasks=4, task_timeout=60, monitoring_interval=0.1)
        async with ParallelExecutor(mode=ExecutionMode.DASK, limits=limits) as ex:
            ids = await ex.submit_batch([
                Task(dask_tasks.add, (2, 3), id="value"),
                Task(dask_tasks.fail, ("bad input",), id="error"),
                Task(lambda x: x * k, (6,), id="lambda"),
                Task(dask_tasks.add_async, (4, 5), id="coroutine"),
                Task(dask_tasks.sleep, (1.0,), id="timeout", timeout=0.2),
                *(Task(dask_tasks.where, id=f"where-{i}") for i in range(4)),
                *(Task(tasks.mark, (i,), id=f"mark-{i}") for i in range(12)),
            ])
            assert await ex.wait_for_completion(timeout=60)
            res = await ex.get_all_results()
        assert live_children() == []
        return ex.record(), res, ids

    rec, res, ids = run(main())
    assert res["value"].value == 5
    assert res["error"].status is TaskStatus.FAILED and res["error"].error_type == "ValueError"
    assert res["error"].error == "bad input" and "ValueError: bad input" in res["error"].traceback
    assert res["lambda"].value == 42
    assert res["coroutine"].value == 9
    assert res["timeout"].status is TaskStatus.TIMED_OUT
    assert [res[f"mark-{i}"].value for i in range(12)] == [None] * 12  # no context reaches the next attempt
    t = rec.tasks.set_index("task_id")
    assert set(t["mode"]) == {"dask"}
    n_workers = os.cpu_count() or 1
    assert {res[f"where-{i}"].value[0] for i in range(4)} <= set(range(n_workers))  # names 0, 1, ...
    for i in range(4):
        _, address, _ = res[f"where-{i}"].value
        assert t.loc[f"where-{i}", "worker"] == address  # the record names the worker that ran it
    assert all(w.startswith("tcp://127.0.0.1:") for w in t["worker"])
    ev = rec.events
    # the timed-out body had begun on a worker, which cannot interrupt it: it is abandoned
    assert ((ev["event"] == "abandoned") & (ev["task_id"] == "timeout")).any()
    # per-worker samples from the scheduler's metrics: every worker, with its memory
    per_worker = rec.resources.dropna(subset=["worker"])
    sampled = set(per_worker["worker"])
    assert len(sampled) == n_workers and set(t["worker"]) <= sampled
    assert (per_worker["rss_mb"] > 0).all() and (per_worker["n_procs"] == 1).all()


def test_agents_pinned_to_a_worker_run_there_only():
    async def main():
        agents = [Agent("gpu", capabilities={"gpu"}, capacity=2), Agent("cpu", capacity=2)]
        limits = ResourceLimits(max_concurrent_tasks=4, task_timeout=60)
        async with ParallelExecutor(mode="dask", limits=limits, agents=agents,
                                    dask_workers={"gpu": 1, "cpu": 0}) as ex:
            ids = await ex.submit_batch([Task(dask_tasks.where, requires={"gpu"}) for _ in range(4)]
                                        + [Task(dask_tasks.where) for _ in range(4)])
            assert await ex.wait_for_completion(timeout=60)
            res = await ex.get_all_results()
        return [res[i].value[0] for i in ids], [res[i].agent_id for i in ids]

    names, agents = run(main())
    assert {n for n, a in zip(names, agents) if a == "gpu"} == {1}
    assert {n for n, a in zip(names, agents) if a == "cpu"} == {0}
    assert live_children() == []


def test_gpu_units_of_an_agent_pinned_to_a_worker_that_declares_gpus_are_its_dask_resources(tmp_path):
    async def main(scheduler_file):
        client, _ = await connect(scheduler_file, 2)
        agents = [Agent("g", capacity=2, resources={"gpu": 2}), Agent("cpu")]
        try:
            async with ParallelExecutor(mode="dask", agents=agents, limits=ResourceLimits(task_timeout=60),
                                        dask_address=client.scheduler.address,
                                        dask_workers={"g": "w1", "cpu": "w0"}) as ex:
                ids = await ex.submit_batch([Task(dask_tasks.gpu_left, resources={"gpu": n}) for n in (1, 0.5, 2)]
                                            + [Task(dask_tasks.gpu_left)])
                assert await ex.wait_for_completion(timeout=UP_S)
                res = await ex.get_all_results()
        finally:
            await client.close()
        return [res[i].value for i in ids]

    with dask_cluster(tmp_path, resources={1: "GPU=2"}) as scheduler_file:
        values = run(main(scheduler_file))
    assert values[:3] == [("w1", 1.0), ("w1", 1.5), ("w1", 0.0)]  # each held its units while it ran
    assert values[3][0] == "w0" and values[3][1] is None
    assert live_children() == []


def test_a_pin_to_a_missing_worker_fails_start_and_leaves_no_process():
    async def main():
        ex = ParallelExecutor(mode="dask", agents=[Agent("a")], dask_workers={"a": "tcp://127.0.0.1:1"})
        with pytest.raises(sl.ConfigError, match="no worker by that address"):
            await ex.start()
        with pytest.raises(sl.ExecutorClosedError):
            await ex.submit_task(Task(dask_tasks.add, (1, 1)))

    run(main())
    assert live_children() == []


def test_existing_cluster_finishes_a_dependent_suite_when_a_worker_is_killed(tmp_path):
    # allowed-failures 0: the scheduler gives up on the first loss (KilledWorker), so
    # swarmlab's own resubmission is what saves the attempt
    async def main(scheduler_file):
        client, pids = await connect(scheduler_file, 2)
        reported: asyncio.Queue[int] = asyncio.Queue()

        async def on_report(reader, writer):
            reported.put_nowait(int(await reader.readline()))
            writer.close()

        server = await asyncio.start_server(on_report, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        limits = ResourceLimits(max_concurrent_tasks=4, task_timeout=60)
        try:
            async with ParallelExecutor(mode="dask", limits=limits,
                                        dask_address=client.scheduler.address) as ex:
                layer = [Task(dask_tasks.sleep, (0.2,), id=f"s{i}", dependencies=["root"]) for i in range(6)]
                await ex.submit_batch([
                    Task(dask_tasks.add, (1, 2), id="root"),
                    *layer,
                    Task(dask_tasks.report_pid_then_sleep, (port, 1.0), id="hold", dependencies=["root"]),
                    Task(dask_tasks.add, (0, 0), id="final", dependencies=[t.id for t in layer] + ["hold"]),
                ])
                victim = await asyncio.wait_for(reported.get(), UP_S)
                assert victim in pids.values()
                os.kill(victim, signal.SIGKILL)  # mid-task: "hold" sleeps on it
                assert await ex.wait_for_completion(timeout=UP_S)
                res = await ex.get_all_results()
                rec = ex.record()
        finally:
            server.close()
            await server.wait_closed()
            await client.close()
        return pids, victim, res, rec

    with dask_cluster(tmp_path, allowed_failures=0) as scheduler_file:
        pids, victim, res, rec = run(main(scheduler_file))
    assert live_children() == []  # scheduler and workers stopped and reaped

    survivor = next(a for a, p in pids.items() if p != victim)
    lost = next(a for a, p in pids.items() if p == victim)
    assert {r.status for r in res.values()} == {TaskStatus.COMPLETED}
    assert res["hold"].value == pids[survivor]  # run again, to its end, on the survivor
    t = rec.tasks
    assert sorted(t["task_id"].unique()) == sorted(res)
    hold = t[t["task_id"] == "hold"].sort_values("attempt")
    # the lost attempt is a failed attempt row on the lost worker; the next one completes
    assert hold[["attempt", "status", "error_type", "worker"]].fillna("").values.tolist() == [
        [1, "failed", "worker_lost", lost], [2, "completed", "", survivor]]
    # the victim may have held other attempts (queued on it): each is lost the same way
    lost_rows = t[t["status"] == "failed"]
    assert (lost_rows["error_type"] == "worker_lost").all()
    assert set(lost_rows["worker"].dropna()) <= {lost}
    last = t.sort_values("attempt").groupby("task_id").tail(1)
    assert (last["status"] == "completed").all() and len(last) == len(res)
    ev = rec.events
    retried = ev[(ev["event"] == "retried") & (ev["task_id"] == "hold")]
    assert len(retried) == 1 and "not counted against max_retries" in retried["detail"].iloc[0]


def test_a_task_that_keeps_killing_its_worker_fails_as_worker_lost():
    # the embedded cluster: nannies restart the killed workers; each loss is a failed
    # attempt run again apart from max_retries, until MAX_LOST_ATTEMPTS losses
    from swarmlab.core.dispatcher import MAX_LOST_ATTEMPTS

    async def main():
        limits = ResourceLimits(max_concurrent_tasks=2, task_timeout=60)
        async with ParallelExecutor(mode="dask", limits=limits) as ex:
            bad = await ex.submit_task(Task(dask_tasks.kill_own_worker, max_retries=2))
            assert await ex.wait_for_completion(timeout=90)
            good = await ex.submit_task(Task(dask_tasks.add, (1, 1)))  # the cluster still works
            assert (await ex.get_result(good, timeout=60)).value == 2
            return await ex.get_result(bad), ex.record()

    r, rec = run(main())
    assert live_children() == []
    assert r.status is TaskStatus.FAILED and r.error_type == "worker_lost"
    assert r.attempts == MAX_LOST_ATTEMPTS + 1  # its max_retries were never spent on losses
    rows = rec.tasks[rec.tasks["task_id"] == r.task_id]
    assert rows["attempt"].tolist() == list(range(1, MAX_LOST_ATTEMPTS + 2))
    assert (rows["error_type"] == "worker_lost").all() and (rows["status"] == "failed").all()


def test_an_agent_pinned_to_a_worker_that_is_gone_hands_its_work_to_the_others(tmp_path, monkeypatch):
    from swarmlab.backends import dask as dask_backend

    monkeypatch.setattr(dask_backend, "PIN_GRACE_S", 0.5)  # a test need not wait 10 s for a nanny

    async def main(scheduler_file):
        client, pids = await connect(scheduler_file, 2)
        victim, survivor = sorted(pids)
        limits = ResourceLimits(max_concurrent_tasks=4, task_timeout=60, monitoring_interval=0.1)
        try:
            async with ParallelExecutor(mode="dask", limits=limits, agents=[Agent("pinned"), Agent("free")],
                                        scheduler="round_robin", dask_address=client.scheduler.address,
                                        dask_workers={"pinned": victim}) as ex:
                os.kill(pids[victim], signal.SIGKILL)  # no nanny: it does not come back
                await ex.submit_batch([Task(dask_tasks.sleep, (0.05,), id=f"t{i}") for i in range(8)])
                assert await ex.wait_for_completion(timeout=UP_S)
                res = await ex.get_all_results()
                rec = ex.record()
        finally:
            await client.close()
        return victim, survivor, res, rec

    with dask_cluster(tmp_path) as scheduler_file:
        victim, survivor, res, rec = run(main(scheduler_file))
    assert live_children() == []
    assert {r.status for r in res.values()} == {TaskStatus.COMPLETED}
    done = rec.tasks[rec.tasks["status"] == "completed"]
    assert set(done["agent_id"]) == {"free"} and set(done["worker"]) == {survivor}
    lost = rec.tasks[rec.tasks["status"] == "failed"]
    assert len(lost) >= 1 and set(lost["agent_id"]) == {"pinned"}
    assert set(lost["error_type"]) <= {"agent_lost", "worker_lost"}
    left = rec.events[rec.events["event"] == "left"]
    assert left["agent_id"].tolist() == ["pinned"] and victim in left["detail"].iloc[0]
    assert [a["id"] for a in rec.meta["agents"]] == ["pinned", "free"]  # it took part: it stays described


def test_limits_apply_to_the_clusters_total():
    # 1 MB for a whole cluster: admission pauses at the first sample, yet an idle run
    # still admits one task at a time, so the suite ends.
    limits = ResourceLimits(max_concurrent_tasks=4, max_memory_mb=1, max_cpu_percent=None,
                            monitoring_interval=0.1, task_timeout=60)

    async def main():
        async with ParallelExecutor(mode="dask", limits=limits) as ex:
            await ex.submit_batch([Task(dask_tasks.sleep, (0.1,)) for _ in range(8)])
            assert await ex.wait_for_completion(timeout=60)
            return ex.record(), ex.get_metrics()

    rec, m = run(main())
    assert live_children() == []
    assert (rec.final()["status"] == "completed").all()
    throttled = rec.events[rec.events["event"] == "throttled"]
    assert len(throttled) >= 1
    assert throttled["detail"].str.contains(r"MB of the Dask cluster \(\d+ workers").all()
    assert m.violations.get("memory", 0) >= 1


def test_options_are_checked():
    with pytest.raises(sl.ConfigError, match="only apply to mode DASK"):
        ParallelExecutor(mode="thread", dask_address="tcp://127.0.0.1:8786")
    with pytest.raises(sl.ConfigError, match="not in the pool"):
        ParallelExecutor(mode="dask", agents=[Agent("a")], dask_workers={"b": 0})
    with pytest.raises(sl.ConfigError, match="dask_address must be"):
        ParallelExecutor(mode="dask", dask_address="")


def test_dask_mode_without_distributed_says_how_to_install_it():
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if it were not installed\n"
        "import swarmlab\n"
        "try:\n"
        "    swarmlab.ParallelExecutor(mode='dask')\n"
        "except swarmlab.BackendUnavailable as e:\n"
        "    assert isinstance(e, ImportError)\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'swarmlab[dask]'" in out.stdout


def test_experiment_panel_runs_its_suite_on_the_cluster(tmp_path):
    pytest.importorskip("ipywidgets")
    import json

    from swarmlab.ui.widgets import ExperimentPanel

    with dask_cluster(tmp_path) as scheduler_file:

        async def main():
            client, _ = await connect(scheduler_file, 2)
            await client.close()
            address = json.loads(scheduler_file.read_text())["address"]
            panel = ExperimentPanel(algorithms=["round_robin", "least_loaded"], workload="io", n=8, repeats=1,
                                    mode="dask", dask_address=address, store=tmp_path / "runs",
                                    export_dir=tmp_path / "exports")
            return panel, await panel.run()

        panel, summary = run(main())
    # a warm-up per set-up, the sequential baseline first and last, one measured round of both
    assert [r.meta["role"] for r in panel.runs].count("measured") == 2 and len(panel.runs) == 6
    for rec in panel.runs:
        assert rec.meta["mode"] == "dask"
        final = rec.final()
        assert len(final) == 8 and (final["status"] == "completed").all()
        assert set(final["worker"].dropna()) and all(w.startswith("tcp://127.0.0.1:") for w in final["worker"])
    assert set(summary["algorithm"]) == {"round_robin", "least_loaded"}
    assert summary["setup"].str.contains(" dask,").all()
