"""The backend registry and the public Host protocol: a backend of one's own runs tasks."""

import re
import traceback
from pathlib import Path

import pytest
from conftest import run

import swarmlab as sl
from swarmlab import ResourceLimits, Task, TaskStatus, backends
from swarmlab.backends import Backend, Host, call_kwargs


class ToyBackend(Backend):
    """Runs each sync body on the host's loop, one loop iteration after it is handed
    over; written only against the public protocol. A task named ``lose`` is lost with
    its (pretend) worker on its first attempt; one named ``hang`` never answers."""

    mode = "toy"
    made: list["ToyBackend"] = []

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.killed: list[str] = []
        self.closed = False
        ToyBackend.made.append(self)

    def run(self, st) -> None:
        st.handle = self.host.loop.call_soon(self._go, st, st.attempt)

    def _go(self, st, attempt: int) -> None:
        host = self.host
        host.started(st, self.mode, "toy-worker")
        task = st.task
        if task.name == "hang":
            return
        if task.name == "lose" and attempt == 1:
            host.lost(st, attempt, ConnectionError("the toy worker went away"))
            return
        try:
            value = task.fn(*task.args, **call_kwargs(st))
        except Exception as e:
            host.failed(st, attempt, e, None, traceback.format_exc())
        else:
            host.succeeded(st, attempt, value)

    def kill(self, st) -> bool:
        st.handle.cancel()
        self.killed.append(st.id)
        return True

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def toy():
    backends.register("toy", ToyBackend)
    ToyBackend.made.clear()
    yield ToyBackend
    backends.unregister("toy")


def fail(msg):
    raise ValueError(msg)


def test_a_backend_written_against_the_public_protocol_runs_tasks(toy):
    tasks = [Task(pow, (2, 10), id="value"), Task(fail, ("broken",), id="fails"),
             Task(pow, (2, 1), id="after_failure", dependencies=("fails",)),
             Task(pow, (3, 2), id="lost_once", name="lose", max_retries=0),
             Task(pow, (1, 1), id="hangs", name="hang", timeout=0.2)]

    async def main():
        async with sl.ParallelExecutor(mode="toy", limits=ResourceLimits(max_concurrent_tasks=4)) as ex:
            await ex.submit_batch(tasks)
        return ex, await ex.get_all_results()

    ex, res = run(main())
    backend = toy.made[0]
    assert isinstance(backend.host, Host) and backend.closed and ex.mode == "toy"
    assert res["value"].value == 1024 and res["value"].mode == "toy"
    assert res["fails"].status is TaskStatus.FAILED and res["fails"].error_type == "ValueError"
    assert "raise ValueError(msg)" in res["fails"].traceback
    assert res["after_failure"].status is TaskStatus.UPSTREAM_FAILED
    assert res["lost_once"].value == 9 and res["lost_once"].attempts == 2  # a loss is not a retry
    assert res["hangs"].status is TaskStatus.TIMED_OUT and backend.killed == ["hangs"]
    rec = ex.record()
    assert rec.meta["mode"] == "toy"
    rows = rec.tasks.set_index(["task_id", "attempt"])
    assert rows.loc[("lost_once", 1), "error_type"] == "worker_lost"
    assert set(rec.tasks["worker"].dropna()) == {"toy-worker"}


def test_backends_are_found_by_mode_name_and_unknown_names_are_explained(toy):
    assert backends.get("toy") is ToyBackend and "toy" in backends.names()
    assert backends.get("thread").mode == "thread" and backends.get("hybrid").mode == "hybrid"
    with pytest.raises(sl.ConfigError, match="mode must be one of 'thread', .*'toy'; got 'nope'"):
        backends.get("nope")
    with pytest.raises(sl.ConfigError, match="already registered as 'thread'"):
        backends.register("thread", ToyBackend)
    with pytest.raises(sl.ConfigError, match="subclass of swarmlab.backends.Backend"):
        backends.register("other", object)
    with pytest.raises(sl.ConfigError, match="built-in backend"):
        backends.unregister("process")


def test_compare_runs_the_mode_of_a_registered_backend(toy):
    result = sl.compare(sl.workloads.io(4, seed=0, mean_s=0.001), algorithms=["round_robin"], modes=["toy"],
                        repeats=1, warmup=False, baseline=False)
    assert set(result.per_run["mode"]) == {"toy"} and [r.meta["mode"] for r in result.runs] == ["toy"]
    assert len(toy.made) == 1 and toy.made[0].closed
    with pytest.raises(sl.ConfigError, match="modes must be among 'thread', .*'toy'; got 'nope'"):
        sl.compare(sl.workloads.io(4, seed=0), modes=["nope"], repeats=1)


def test_an_unregistered_mode_is_refused_at_the_boundary():
    with pytest.raises(sl.ConfigError, match="ParallelExecutor mode must be one of 'thread'.*got 'toy'"):
        sl.ParallelExecutor(mode="toy")


def test_no_backend_reaches_into_the_executor():
    src = Path(backends.__file__).parent
    private = re.compile(r"\b(?:ex|executor|host|_ex)\._[a-z]\w*")
    found = {p.name: private.findall(p.read_text()) for p in src.glob("*.py")}
    assert {name: hits for name, hits in found.items() if hits} == {}
