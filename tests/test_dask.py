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

pytestmark = pytest.mark.dask

TESTS = Path(__file__).resolve().parent
# Seconds the cluster processes get to come up, and to leave when the test is over.
UP_S = 60
DOWN_S = 10


@contextlib.contextmanager
def dask_cluster(tmp_path: Path, n_workers: int = 2, allowed_failures: int | None = None):
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (no nanny, one
    thread each) on 127.0.0.1 with random ports; yields the scheduler file's path.
    Every process is stopped and reaped on exit."""
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
                                  "--no-dashboard", "--memory-limit", "0", "--name", f"w{i}"])
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
            ])
            assert await ex.wait_for_completion(timeout=60)
            res = await ex.get_all_results()
            samples = list(ex._backends["dask"].worker_samples)
        assert live_children() == []
        return ex.record(), res, ids, samples

    rec, res, ids, samples = run(main())
    assert res["value"].value == 5
    assert res["error"].status is TaskStatus.FAILED and res["error"].error_type == "ValueError"
    assert res["error"].error == "bad input" and "ValueError: bad input" in res["error"].traceback
    assert res["lambda"].value == 42
    assert res["coroutine"].value == 9
    assert res["timeout"].status is TaskStatus.TIMED_OUT
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
    sampled = {a for _, a, _, _ in samples}
    assert len(sampled) == n_workers and set(t["worker"]) <= sampled
    assert all(rss > 0 for _, _, _, rss in samples)
    assert len(rec.resources) >= len(samples)  # the same figures, in the resources frame
    assert set(rec.resources["worker"].dropna()) == sampled  # per-worker rows carry their worker


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
    assert res["hold"].attempts == 1  # a lost worker is not one of the task's retries
    t = rec.tasks
    assert sorted(t["task_id"]) == sorted(res)  # one attempt row per task
    assert (t["status"] == "completed").all() and (t["attempt"] == 1).all()
    assert t.set_index("task_id").loc["hold", "worker"] == survivor
    ev = rec.events
    hold_lost = ev[(ev["event"] == "worker_lost") & (ev["task_id"] == "hold")]
    assert len(hold_lost) == 1 and lost in hold_lost["detail"].iloc[0]


def test_a_task_that_keeps_killing_its_worker_fails_as_worker_lost():
    # the embedded cluster: nannies restart the killed workers, Dask reschedules the task
    # after each loss, swarmlab counts the losses and stops it after DASK_LOST_RETRIES
    from swarmlab.backends.dask import DASK_LOST_RETRIES

    async def main():
        limits = ResourceLimits(max_concurrent_tasks=2, task_timeout=60)
        async with ParallelExecutor(mode="dask", limits=limits) as ex:
            bad = await ex.submit_task(Task(dask_tasks.kill_own_worker, max_retries=2))
            assert await ex.wait_for_completion(timeout=60)
            good = await ex.submit_task(Task(dask_tasks.add, (1, 1)))  # the cluster still works
            assert (await ex.get_result(good, timeout=60)).value == 2
            return await ex.get_result(bad), ex.record()

    r, rec = run(main())
    assert live_children() == []
    assert r.status is TaskStatus.FAILED and r.error_type == "worker_lost"
    assert r.attempts == 1  # not retried: the losses were its retries
    lost = rec.events[rec.events["event"] == "worker_lost"]
    assert len(lost) == DASK_LOST_RETRIES + 1
    assert lost["detail"].str.endswith("it runs again").sum() == DASK_LOST_RETRIES


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
