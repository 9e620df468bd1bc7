"""GPU pinning (issue 24 item 7): the device table, devices per attempt, PROCESS workers
that see exactly theirs. No GPU here: the table is the declared indices (NVML sees none)
or a machine figure the test gives."""

import os

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import simulate
from swarmlab.core.devices import Devices, split, visible_value
from swarmlab.errors import ConfigError
from swarmlab.model import Agent, ResourceLimits, Task


def gpu_agent(aid, n, capacity=4, devices=None):
    return Agent(aid, capacity=capacity, resources={"gpu": n}, devices=devices)


def gpu_task(tid, n=1, estimate_s=1.0, **kw):
    return Task(None, id=tid, estimate_s=estimate_s, resources={"gpu": n}, **kw)


def by_id(rec):
    return rec.tasks.set_index("task_id")


# ---------------------------------------------------------------- the table


def test_the_table_splits_devices_in_pool_order_and_keeps_named_ones():
    agents = [gpu_agent("a", 2), Agent("cpu"), gpu_agent("b", 1, devices=[0]), gpu_agent("c", 1)]
    assert split(agents, 4) == [(1, 2), (), (0,), (3,)]
    assert split(agents, None) == [(1, 2), (), (0,), (3,)]  # no machine figure: the declared indices
    assert split([gpu_agent("a", 2, devices=[5, 3])], None) == [(3, 5)]


def test_a_device_of_two_agents_is_an_error_naming_both():
    with pytest.raises(ConfigError, match=r"device 1 belongs to two agents, 'a' and 'b'"):
        split([gpu_agent("a", 2, devices=[0, 1]), gpu_agent("b", 1, devices=[1])], None)


def test_more_units_than_devices_is_an_error_with_the_count():
    agents = [gpu_agent("a", 2), gpu_agent("b", 2), gpu_agent("c", 1)]
    with pytest.raises(ConfigError, match="3 agents declare 5 gpu units, the machine has 4 devices"):
        split(agents, 4)
    with pytest.raises(ConfigError, match="names device 4, but the machine has 4 devices"):
        split([gpu_agent("a", 1, devices=[4])], 4)


def test_the_machine_figure_comes_from_cuda_visible_devices_renumbered():
    from swarmlab.realtime.monitor import machine_devices

    assert machine_devices({}, lambda: 0) == (None, "the machine")  # no GPU: the declared indices
    assert machine_devices({}, lambda: 8) == (8, "the machine")
    n, where = machine_devices({"CUDA_VISIBLE_DEVICES": "4,5,6"}, lambda: 0)
    assert n == 3 and "CUDA_VISIBLE_DEVICES='4,5,6', renumbered 0..2" in where
    assert machine_devices({"CUDA_VISIBLE_DEVICES": ""}, lambda: 8)[0] == 0


def test_a_run_whose_agents_declare_more_units_than_the_devices_fails_at_start(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")

    async def main():
        ex = sl.ParallelExecutor(mode="thread", agents=[gpu_agent("a", 2), gpu_agent("b", 2)])
        with pytest.raises(ConfigError, match=r"2 agents declare 4 gpu units, the machine \(CUDA_VISIBLE_DEVICES="
                                             r"'4,5,6', renumbered 0..2\) has 3 devices"):
            await ex.start()

    run(main())


def test_an_agent_joining_gets_devices_of_its_own_or_an_error(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")

    async def main():
        async with sl.ParallelExecutor(mode="thread", agents=[gpu_agent("a", 1)]) as ex:
            ex.add_agent(gpu_agent("b", 1))
            with pytest.raises(ConfigError, match=r"1 agents declare 1 gpu units \(and 2 devices are held"):
                ex.add_agent(gpu_agent("c", 1))
            ex.add_agent(Agent("cpu"))  # no gpu units: joins
            rec = ex.record()
        assert rec.meta["resources"]["devices"] == {"a": [0], "b": [1]}
        assert [a["id"] for a in rec.meta["agents"]] == ["a", "b", "cpu"]

    run(main())


def test_fractional_shares_pack_onto_the_fullest_device_with_room():
    class Slot:
        def __init__(self, agent, idx):
            self.agent, self.idx, self.id, self.retired = agent, idx, agent.id, False

    dv = Devices([Slot(gpu_agent("a", 2), 0)])
    assert dv.take(0, 0.5) == (0,) and dv.take(0, 0.25) == (0,)
    assert dv.take(0, 0.5) == (1,)  # no room left on 0
    assert dv.take(0, 0.25) == (0,)  # 0 is the fullest with room
    assert dv.take(0, 1) is None  # units are left (0.5) but no whole device
    dv.give((1,), 0.5)
    assert dv.take(0, 1) == (1,)


def test_visible_devices_are_renumbered_through_the_parents_own():
    assert visible_value((0, 3), None) == "0,3"
    assert visible_value((1,), "2,3") == "3"
    assert visible_value((), None) == ""


# ---------------------------------------------------------------- virtual time


def test_one_gpu_tasks_on_a_one_gpu_agent_never_overlap_and_all_use_device_0():
    rec = simulate([gpu_task(f"t{i}") for i in range(4)], [gpu_agent("a", 1)])
    df = by_id(rec).sort_values("started_s")
    assert list(df["devices"]) == ["0"] * 4
    assert (df["started_s"].iloc[1:].values >= df["finished_s"].iloc[:-1].values).all()
    assert rec.meta["resources"]["devices"] == {"a": [0]}


def test_a_two_gpu_agent_runs_two_one_gpu_tasks_at_once_on_devices_0_and_1():
    rec = simulate([gpu_task("x"), gpu_task("y")], [gpu_agent("a", 2)])
    df = by_id(rec)
    assert sorted(df["devices"]) == ["0", "1"]
    assert list(df["started_s"]) == [0.0, 0.0]


def test_two_halves_share_device_0_and_a_two_unit_task_gets_two_devices():
    rec = simulate([gpu_task("h1", 0.5), gpu_task("h2", 0.5), gpu_task("w", 2)], [gpu_agent("a", 2)])
    df = by_id(rec)
    assert df.loc["h1", "devices"] == df.loc["h2", "devices"] == "0"
    assert df.loc["h1", "started_s"] == df.loc["h2", "started_s"] == 0.0
    assert df.loc["w", "devices"] == "0,1" and df.loc["w", "started_s"] == 1.0


def test_tasks_without_gpu_record_no_devices():
    rec = simulate([Task(None, id="c", estimate_s=1), gpu_task("g")], [gpu_agent("a", 1)])
    assert by_id(rec)["devices"].to_dict() == {"c": "", "g": "0"}


def test_devices_come_back_after_a_failure_and_a_timeout():
    def fail_first(task, attempt):
        return RuntimeError("boom") if task.id == "f" and attempt == 1 else None

    tasks = [gpu_task("f", max_retries=1, retry_backoff_s=0), gpu_task("slow", estimate_s=10, timeout=2),
             gpu_task("after")]
    rec = simulate(tasks, [gpu_agent("a", 1)], failures=fail_first)
    df = rec.tasks
    assert set(df["devices"]) == {"0"}
    assert set(df.loc[df["task_id"] == "slow", "status"]) == {"timed_out"}
    assert set(df.loc[df["task_id"] == "after", "status"]) == {"completed"}
    assert len(df.loc[df["task_id"] == "f"]) == 2


def test_a_round_trip_through_parquet_and_csv_keeps_the_devices_text(tmp_path):
    from swarmlab.store.records import typed
    import pandas as pd

    rec = simulate([gpu_task("w", 2), gpu_task("o"), Task(None, id="c", estimate_s=1)], [gpu_agent("a", 3)])
    want = by_id(rec)["devices"].to_dict()
    rec.tasks.to_csv(tmp_path / "t.csv", index=False)
    back = typed(pd.read_csv(tmp_path / "t.csv")).set_index("task_id")["devices"].to_dict()
    assert back == want and want["w"] in ("0,1", "1,2") and want["c"] == ""


# ---------------------------------------------------------------- PROCESS workers see exactly their devices


def pid_and_devices():
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("CUDA_DEVICE_ORDER")


def test_process_workers_see_exactly_the_devices_of_their_attempt(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    needs = [1, 2, None, 1, 0.5, None, 2, 1, 0.5, None]

    async def main():
        limits = ResourceLimits(max_concurrent_tasks=3, task_timeout=60)
        async with sl.ParallelExecutor(mode="process", process_workers=2, limits=limits,
                                       agents=[gpu_agent("a", 3, capacity=3)]) as ex:
            ids = [await ex.submit_task(Task(pid_and_devices, id=f"t{i}",
                                             resources={"gpu": n} if n else None))
                   for i, n in enumerate(needs)]
            await ex.wait_for_completion()
            res = await ex.get_all_results()
            rec = ex.record()
        return ids, res, rec

    ids, res, rec = run(main())
    df = rec.tasks.set_index("task_id")
    env_of_pid = {}
    for tid, n in zip(ids, needs):
        pid, visible, order = res[tid].value
        devices = df.loc[tid, "devices"]
        assert int(df.loc[tid, "worker"]) == pid
        if n:
            assert visible == devices and order == "PCI_BUS_ID"
            assert len(devices.split(",")) == (int(n) if n >= 1 else 1)
        else:
            assert visible is None and devices == ""  # no gpu units: the executor's environment
        assert env_of_pid.setdefault(pid, visible) == visible  # a worker never changes device set
    assert {"0,1", "1,2", "0,2"} & set(df["devices"])  # two-device attempts ran
    assert len(set(env_of_pid.values())) >= 3


def test_process_workers_map_devices_through_the_users_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,5")

    async def main():
        async with sl.ParallelExecutor(mode="process", process_workers=1, agents=[gpu_agent("a", 1, devices=[1])],
                                       limits=ResourceLimits(task_timeout=60)) as ex:
            tid = await ex.submit_task(Task(pid_and_devices, resources={"gpu": 1}))
            plain = await ex.submit_task(Task(pid_and_devices))
            await ex.wait_for_completion()
            return (await ex.get_result(tid)).value, (await ex.get_result(plain)).value

    (_, visible, _), (_, inherited, _) = run(main())
    assert visible == "5" and inherited == "7,5"


def test_an_unpinned_dask_agent_holding_gpu_units_is_an_error_naming_it():
    pytest.importorskip("distributed")
    agents = [Agent("g", resources={"gpu": 1}), Agent("h", resources={"gpu": 1})]
    with pytest.raises(ConfigError, match="agent 'h' holds gpu units in mode DASK but is pinned to no Dask worker"):
        sl.ParallelExecutor(mode="dask", agents=agents, dask_workers={"g": 0})


# ---------------------------------------------------------------- per-device samples


class FakeProbe:
    """Two devices, with the interface of ``GpuProbe`` (no NVML here)."""

    available = True

    def devices(self, pids):
        from swarmlab.realtime.monitor import DeviceReading

        return [DeviceReading(0, 30.0, 1000.0, 200.0), DeviceReading(1, 90.0, 3000.0, float("nan"))]

    def read(self, pids):
        from swarmlab.realtime.monitor import totals

        return totals(self.devices(pids))


def test_each_device_is_sampled_in_a_row_of_its_own(monkeypatch):
    from conftest import until

    from swarmlab.realtime import monitor

    monkeypatch.setattr(monitor, "GpuProbe", FakeProbe)

    async def main():
        async with sl.ParallelExecutor(mode="thread", limits=ResourceLimits(monitoring_interval=0.05)) as ex:
            await until(lambda: len(ex.record().resources) >= 6, what="two samples of the tree and its devices")
            rec = ex.record()
            metrics = ex.get_metrics()
        return rec, metrics

    rec, metrics = run(main())
    r = rec.resources
    tree, dev = r[r["gpu"].isna()], r[r["gpu"].notna()]
    assert len(tree) >= 2 and set(dev["gpu"]) == {0, 1}
    assert (tree["gpu_util_pct"] == 60.0).all() and (tree["gpu_mem_mb"] == 4000.0).all()
    assert (tree["gpu_tree_mem_mb"] == 200.0).all() and tree["cpu_pct"].notna().all()
    d0, d1 = dev[dev["gpu"] == 0], dev[dev["gpu"] == 1]
    assert (d0["gpu_util_pct"] == 30.0).all() and (d0["gpu_mem_mb"] == 1000.0).all()
    assert (d1["gpu_util_pct"] == 90.0).all() and d1["gpu_tree_mem_mb"].isna().all()
    assert dev["cpu_pct"].isna().all()  # a device's row holds the device's readings only
    assert metrics.peak_memory_usage > 0 and metrics.current_cpu_usage == metrics.current_cpu_usage  # not NaN


# ---------------------------------------------------------------- an abandoned attempt keeps its devices


def test_an_abandoned_thread_attempt_keeps_its_device_until_its_thread_returns():
    import threading

    from conftest import until

    gate = threading.Event()

    def stuck():
        gate.wait(30)
        return "late"

    async def main():
        async with sl.ParallelExecutor(mode="thread", agents=[gpu_agent("a", 1)],
                                       limits=ResourceLimits(task_timeout=60)) as ex:
            first = await ex.submit_task(Task(stuck, resources={"gpu": 1}, timeout=0.2))
            await until(lambda: any(r[0] == first for r in ex.record().tasks[["task_id", "status"]].values
                                    if r[1] == "timed_out"), what="the first attempt timed out")
            nxt = await ex.submit_task(Task(os.getpid, resources={"gpu": 1}))
            # the abandoned thread still holds device 0: the next task is held, not started
            await until(lambda: "held" in set(ex.record().events["event"]), what="the next task held")
            assert "started" not in set(ex.record().events.query("task_id == @nxt")["event"])
            gate.set()
            await ex.wait_for_completion()
            return nxt, ex.record()

    nxt, rec = run(main())
    df = rec.tasks.set_index("task_id")
    assert df.loc[nxt, "status"] == "completed" and df.loc[nxt, "devices"] == "0"


def my_devices():
    return sl.current_devices()


async def my_devices_async():
    return sl.current_devices()


@pytest.mark.parametrize("mode", ["thread", "asyncio", "process"])
def test_every_mode_reads_its_attempts_devices_from_current_devices(mode, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fn = my_devices_async if mode == "asyncio" else my_devices

    async def main():
        limits = ResourceLimits(task_timeout=60)
        async with sl.ParallelExecutor(mode=mode, limits=limits, agents=[gpu_agent("a", 2, capacity=2)]) as ex:
            await ex.submit_batch([Task(fn, id="one", resources={"gpu": 1}), Task(fn, id="two", resources={"gpu": 2}),
                                   Task(fn, id="none")])
            await ex.wait_for_completion(60)
            return await ex.get_all_results(), ex.record()

    res, rec = run(main())
    df = rec.tasks.set_index("task_id")
    for tid in ("one", "two", "none"):
        got = res[tid].value
        assert ",".join(map(str, got)) == df.loc[tid, "devices"], tid
    assert len(res["two"].value) == 2 and res["none"].value == ()
