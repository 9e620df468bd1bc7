"""Bad input gets a ConfigError at the boundary, naming what was given (issue 27, items 9
and 10): each of these was a traceback from deep inside, or silently accepted."""

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import Agent, ParallelExecutor, ResourceLimits, Task


def test_simulate_refuses_what_is_not_a_list_of_tasks():
    with pytest.raises(sl.ConfigError, match="simulate tasks must be Task objects; got NoneType"):
        sl.simulate(None, [Agent("a")])


@pytest.mark.parametrize("spec", [":", "..x:Y", "x:", "a b:C", "mod:Cls.attr"])
def test_a_policy_path_that_is_not_module_colon_class_is_refused(spec):
    with pytest.raises(sl.ConfigError, match="give 'module:Class'"):
        sl.compare(sl.workloads.io(n=4, seed=1), algorithms=[spec], simulate=True)


@pytest.mark.parametrize("arg", ["journal", "spill"])
def test_a_file_given_as_a_folder_is_refused_when_the_executor_is_made(tmp_path, arg):
    f = tmp_path / "a-file"
    f.write_text("")
    with pytest.raises(sl.ConfigError, match=f"{arg}=.* is a file, not a folder"):
        ParallelExecutor("thread", **{arg: str(f)})


@pytest.mark.parametrize("mode", ["thread", "asyncio"])
def test_a_per_task_memory_cap_is_refused_where_it_cannot_act(mode):
    with pytest.raises(sl.ConfigError, match=f"max_task_memory_mb=100 .* mode '{mode}'"):
        ParallelExecutor(mode, limits=ResourceLimits(max_task_memory_mb=100))
    ParallelExecutor("process", limits=ResourceLimits(max_task_memory_mb=100))  # where it acts


@pytest.mark.parametrize("timeout", [float("nan"), -5, "1"])
def test_stop_and_wait_refuse_a_timeout_that_is_not_seconds(timeout):
    async def main():
        ex = ParallelExecutor("asyncio")
        await ex.start()
        try:
            with pytest.raises(sl.ConfigError, match=r"wait_for_completion\(timeout=...\)"):
                await ex.wait_for_completion(timeout=timeout)
            with pytest.raises(sl.ConfigError, match=r"stop\(timeout=...\)"):
                await ex.stop(timeout=timeout)
            await ex.submit_task(Task(sl.workloads.io_wait_async, (0.0,), id="still-open"))
            assert await ex.wait_for_completion(10)  # the refused stop stopped nothing
        finally:
            await ex.stop()

    run(main())


def test_a_huge_max_concurrent_tasks_without_agents_is_refused_not_built():
    with pytest.raises(sl.ConfigError, match="would build 1,000,000,000 default agents"):
        ParallelExecutor("thread", limits=ResourceLimits(max_concurrent_tasks=10**9))
    with pytest.raises(sl.ConfigError, match="give agents="):
        sl.simulate([Task(None, estimate_s=1.0)], None, limits=ResourceLimits(max_concurrent_tasks=10**9))


def test_the_offline_scheduler_refuses_duplicate_agent_and_task_ids():
    ts = sl.TaskScheduler()
    with pytest.raises(sl.ConfigError, match=r"schedule_tasks agent ids must be unique; these repeat: \['a'\]"):
        ts.schedule_tasks([Task(None, estimate_s=1.0)], [Agent("a"), Agent("a")])
    with pytest.raises(sl.ConfigError, match=r"schedule_tasks task ids must be unique; these repeat: \['t'\]"):
        ts.schedule_tasks([Task(None, id="t"), Task(None, id="t")], [Agent("a")])
    with pytest.raises(sl.ConfigError, match="schedule_tasks agents must be Agent objects"):
        ts.schedule_tasks([Task(None)], ["a"])
