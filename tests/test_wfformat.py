"""WfFormat instances in: the reader, its errors, and generated shapes whose best schedule is known."""

import json
import random
import statistics
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab import Agent
from swarmlab.scheduling.dag import critical_path
from swarmlab.workloads import from_wfformat, wfformat_instance, wfformat_runtimes

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = [a.value for a in sl.SchedulingAlgorithm]


def instance(version="1.5", **execution):
    """Three tasks a -> (b, c) as a pipeline's trace would record them."""
    ex = {"makespanInSeconds": 42.5, "executedAt": "2024-05-01T10:00:00Z",
          "tasks": [
              {"id": "a", "runtimeInSeconds": 10.0, "coreCount": 2, "memoryInBytes": 2048,
               "readBytes": 100, "writtenBytes": 50, "command": {"program": "split.py"}, "machines": ["n1"]},
              {"id": "b", "runtimeInSeconds": 20.0},
              {"id": "c", "runtimeInSeconds": 5.0},
          ],
          "machines": [{"nodeName": "n1", "cpu": {"coreCount": 2, "speedInMHz": 1500}},
                       {"nodeName": "n2", "cpu": {"coreCount": 1, "speedInMHz": 3000}}]}
    ex.update(execution)
    return {"name": "tiny", "schemaVersion": version, "runtimeSystem": {"name": "pegasus", "version": "5.0"},
            "workflow": {"specification": {
                "tasks": [{"name": "split", "id": "a", "parents": [], "children": ["b", "c"],
                           "inputFiles": ["in.dat"]},
                          {"name": "work", "id": "b", "parents": ["a"], "children": []},
                          {"name": "work", "id": "c", "parents": ["a"], "children": []}],
                "files": [{"id": "in.dat", "sizeInBytes": 1234}]},
                "execution": ex}}


def test_reader_takes_parents_runtimes_and_the_measured_facts():
    wl = from_wfformat(instance())
    tasks = {t.id: t for t in wl.tasks()}
    assert [(t.id, t.name, t.estimate_s, t.dependencies, t.fn) for t in tasks.values()] == [
        ("a", "split", 10.0, (), None), ("b", "work", 20.0, ("a",), None), ("c", "work", 5.0, ("a",), None)]
    assert wl.task_meta["a"] == {"category": "split", "program": "split.py", "cores": 2, "memory_bytes": 2048,
                                 "read_bytes": 100, "written_bytes": 50, "machines": ["n1"], "runtime_s": 10.0,
                                 "input_bytes": 1234}
    assert wl.task_meta["b"] == {"category": "work", "runtime_s": 20.0}
    assert wl.meta["recorded_makespan_s"] == 42.5 and wl.meta["schema_version"] == "1.5"
    assert wl.meta["runtime_system"] == "pegasus 5.0" and wl.meta["critical_path_s"] == 30.0
    assert wl.name == "tiny" and len(wl) == 3
    assert wl.tasks()[0] is not wl.tasks()[0]  # fresh tasks each time


def test_reader_takes_a_path_and_versions_1_4_to_1_6(tmp_path):
    for v in ("1.4", "1.5", "1.6"):
        p = tmp_path / f"wf{v}.json"
        p.write_text(json.dumps(instance(v)))
        assert [t.id for t in from_wfformat(p).tasks()] == ["a", "b", "c"]
        assert from_wfformat(str(p)).meta["schema_version"] == v


def test_agents_one_per_core_with_speed_relative_to_the_fastest_machine():
    agents = from_wfformat(instance()).agents
    assert [(a.id, a.speed) for a in agents] == [("n1/0", 0.5), ("n1/1", 0.5), ("n2/0", 1.0)]


def test_agents_are_overridden_by_a_count_or_a_list_and_default_without_machines():
    assert [a.id for a in from_wfformat(instance(), agents=2).agents] == ["agent-0", "agent-1"]
    mine = [Agent("x", speed=3.0)]
    assert from_wfformat(instance(), agents=mine).agents == mine
    bare = instance()
    del bare["workflow"]["execution"]["machines"]
    assert len(from_wfformat(bare).agents) == 16 and {a.speed for a in from_wfformat(bare).agents} == {1.0}
    with pytest.raises(sl.ConfigError, match="agents must be Agent objects"):
        from_wfformat(instance(), agents=["x"])


def test_a_synthetic_makespan_of_zero_is_not_a_recorded_one():
    assert from_wfformat(instance(makespanInSeconds=0.0)).meta["recorded_makespan_s"] is None


def test_a_specification_without_execution_has_no_estimates():
    doc = instance()
    del doc["workflow"]["execution"]
    wl = from_wfformat(doc)
    assert [t.estimate_s for t in wl.tasks()] == [None, None, None]
    with pytest.raises(sl.ConfigError, match="needs estimate_s on every task"):
        sl.simulate(wl.tasks(), wl.agents)
    rec = sl.simulate(wl.tasks(), wl.agents, durations=lambda t, a, n, rng: 2.0)
    assert rec.tasks["finished_s"].max() == 4.0


@pytest.mark.parametrize("doc, match", [
    ([1, 2], "is not JSON|takes a path or a parsed dict"),
    ({"name": "x"}, "not a WfFormat instance: it has no workflow.specification.tasks"),
    ({"schemaVersion": "1.3", "workflow": {"tasks": [{"name": "a"}]}},
     "looks like WfFormat 1.3, with workflow.tasks: migrate it"),
    ({"schemaVersion": "2.0", "workflow": {"specification": {"tasks": [{"id": "a", "parents": []}]}}},
     "schemaVersion '2.0' is not read here; swarmlab reads WfFormat instances of version 1.4, 1.5, 1.6"),
])
def test_what_is_not_wfformat_is_refused_saying_what_is_read(doc, match):
    with pytest.raises(sl.ConfigError, match=match):
        from_wfformat(doc)


def test_a_file_that_is_not_json_or_not_there_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(sl.ConfigError, match="is not JSON"):
        from_wfformat(bad)
    with pytest.raises(sl.ConfigError, match="no WfFormat file at"):
        from_wfformat(tmp_path / "missing.json")


def _spec_of(doc):
    return doc["workflow"]["specification"]


@pytest.mark.parametrize("damage, match", [
    (lambda d: _spec_of(d).__setitem__("files", [{"id": [1]}]), r"files\[0\] has no id"),
    (lambda d: _spec_of(d)["files"][0].__setitem__("sizeInBytes", "5"), "'in.dat' has sizeInBytes '5'"),
    (lambda d: _spec_of(d)["tasks"][0].__setitem__("inputFiles", 5), "'a' has inputFiles 5; give a list"),
    (lambda d: _spec_of(d).__setitem__("files", 5), "files must be a list"),
    (lambda d: d["workflow"]["execution"]["tasks"][0].__setitem__("machines", 5), "'a' has machines 5"),
    (lambda d: d["workflow"]["execution"].__setitem__("machines", [{"nodeName": "m", "cpu": "fast"}]),
     "'m' has cpu 'fast'"),
    (lambda d: d["workflow"]["execution"].__setitem__("machines", 5), "machines must be a list"),
    (lambda d: d["workflow"]["execution"]["machines"][0]["cpu"].__setitem__("coreCount", 2_000_000),
     "more than 100,000 cores"),
], ids=["file_id_list", "size_str", "input_files_int", "files_int", "task_machines_int", "cpu_str",
        "machines_int", "two_million_cores"])
def test_malformed_fields_are_refused_naming_them(damage, match):
    """Issue 27 item 9: each of these was a TypeError or AttributeError traceback (or, for
    2M cores, 2M agents built)."""
    doc = instance()
    damage(doc)
    with pytest.raises(sl.ConfigError, match=match):
        from_wfformat(doc)


def test_a_folder_or_a_deeply_nested_file_is_refused(tmp_path):
    with pytest.raises(sl.ConfigError, match="is a folder"):
        from_wfformat(tmp_path)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    with pytest.raises(sl.ConfigError, match="nests its JSON too deeply"):
        from_wfformat(deep)


def test_an_unknown_parent_names_the_task():
    doc = instance()
    doc["workflow"]["specification"]["tasks"][2]["parents"] = ["a", "ghost"]
    with pytest.raises(sl.ConfigError, match="task 'c' lists the parent 'ghost', which is not a task"):
        from_wfformat(doc)


def test_a_cycle_names_its_tasks():
    doc = instance()
    doc["workflow"]["specification"]["tasks"][0]["parents"] = ["b"]
    with pytest.raises(sl.DependencyCycleError) as e:
        from_wfformat(doc)
    assert set(e.value.cycle) == {"a", "b"} and "a" in str(e.value) and "b" in str(e.value)


def test_a_negative_runtime_names_the_task():
    doc = instance()
    doc["workflow"]["execution"]["tasks"][1]["runtimeInSeconds"] = -3
    with pytest.raises(sl.ConfigError, match="task 'b' has runtimeInSeconds -3"):
        from_wfformat(doc)


def test_duplicate_and_unspecified_tasks_are_named():
    doc = instance()
    doc["workflow"]["specification"]["tasks"][2]["id"] = "b"
    with pytest.raises(sl.ConfigError, match="task 'b' appears twice"):
        from_wfformat(doc)
    doc = instance()
    doc["workflow"]["execution"]["tasks"].append({"id": "zz", "runtimeInSeconds": 1})
    with pytest.raises(sl.ConfigError, match="task 'zz', which workflow.specification does not list"):
        from_wfformat(doc)


# ---------------------------------------------------------------- generated shapes, known schedules

def simulate(wl, alg, agents=None):
    return sl.simulate(wl.tasks(), agents or wl.agents, scheduler=alg)


def makespan(rec):
    return float(rec.tasks["finished_s"].max())


def assert_dependencies_respected(wl, rec):
    t = rec.tasks.set_index("task_id")
    for task in wl.tasks():
        for p in task.dependencies:
            assert t.loc[task.id, "started_s"] >= t.loc[p, "finished_s"]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_chain_takes_exactly_its_critical_path_under_every_algorithm(alg):
    wl = from_wfformat(wfformat_instance("chain", 12, seed=3))
    rec = simulate(wl, alg)
    assert makespan(rec) == pytest.approx(wl.meta["critical_path_s"]) == pytest.approx(wl.meta["sum_runtime_s"])
    assert_dependencies_respected(wl, rec)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_fork_join_of_equal_work_is_optimal_under_every_algorithm(alg):
    # 32 equal works on 16 agents: split (5) + two rounds of work (2 x 30) + merge (5)
    wl = from_wfformat(wfformat_instance("fork_join", 34, jitter=0.0, size_spread=0.0))
    assert makespan(simulate(wl, alg)) == pytest.approx(70.0)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_diamonds_meet_their_critical_path_with_two_agents(alg):
    wl = from_wfformat(wfformat_instance("diamonds", 20, jitter=0.0, size_spread=0.0))
    rec = simulate(wl, alg, [Agent("a"), Agent("b")])
    assert makespan(rec) == pytest.approx(5 * (4 + 12 + 4)) == pytest.approx(wl.meta["critical_path_s"])


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_montage_like_stays_within_its_bounds(alg):
    wl = from_wfformat(wfformat_instance("montage_like", 200, seed=1))
    rec = simulate(wl, alg)
    lower = max(wl.meta["critical_path_s"], wl.meta["sum_runtime_s"] / len(wl.agents))
    assert lower <= makespan(rec) <= wl.meta["critical_path_s"] + wl.meta["sum_runtime_s"]
    assert_dependencies_respected(wl, rec)
    assert (rec.tasks["status"] == "completed").all()


def test_generated_instances_are_seeded_and_carry_the_size_law():
    assert wfformat_instance("montage_like", 50, seed=2) == wfformat_instance("montage_like", 50, seed=2)
    assert wfformat_instance("montage_like", 50, seed=2) != wfformat_instance("montage_like", 50, seed=3)
    doc = wfformat_instance("fork_join", 10, jitter=0.0, size_spread=0.5)
    for run in doc["workflow"]["execution"]["tasks"]:
        base = {"split": 5.0, "work": 30.0, "merge": 5.0}[run["command"]["program"]]
        assert run["runtimeInSeconds"] == pytest.approx(base * run["readBytes"] / 1e8, rel=1e-6)
    with pytest.raises(sl.ConfigError, match="shape must be one of 'chain', 'fork_join'"):
        wfformat_instance("spiral")


def test_runtimes_rewritten_to_follow_sizes_or_to_be_apart_from_them():
    doc = wfformat_instance("fork_join", 30, seed=4, jitter=0.3)
    sized = wfformat_runtimes(doc, "sizes", seed=1, noise=0.0)
    works = [r for r in sized["workflow"]["execution"]["tasks"] if r["command"]["program"] == "work"]
    rate = works[0]["runtimeInSeconds"] / works[0]["readBytes"]
    assert all(r["runtimeInSeconds"] == pytest.approx(rate * r["readBytes"], rel=1e-5) for r in works)
    # the kind's median runtime is kept, and input files' sizes count before readBytes
    old = [r["runtimeInSeconds"] for r in doc["workflow"]["execution"]["tasks"] if r["command"]["program"] == "work"]
    assert statistics.median(r["runtimeInSeconds"] for r in works) == pytest.approx(statistics.median(old))
    tiny = wfformat_runtimes(instance(), "sizes", noise=0.0)
    assert {r["id"]: r["runtimeInSeconds"] for r in tiny["workflow"]["execution"]["tasks"]} == {
        "a": 10.0, "b": 12.5, "c": 12.5}  # split reads in.dat; the works read nothing: their median
    apart = wfformat_runtimes(doc, "apart", seed=1, noise=0.0)
    by_kind = lambda d: sorted((r["command"]["program"], r["runtimeInSeconds"])  # noqa: E731
                               for r in d["workflow"]["execution"]["tasks"])
    assert by_kind(apart) == by_kind(doc)  # each kind's runtimes, shuffled among its tasks
    assert apart != doc and doc == wfformat_instance("fork_join", 30, seed=4, jitter=0.3)  # a copy
    assert wfformat_runtimes(doc, "apart", seed=1) == wfformat_runtimes(doc, "apart", seed=1)
    assert wfformat_runtimes(doc, "apart", seed=1) != wfformat_runtimes(doc, "apart", seed=2)
    noisy = wfformat_runtimes(doc, "sizes", seed=1, noise=0.2)["workflow"]["execution"]["tasks"]
    assert all(0.8 - 1e-6 <= n["runtimeInSeconds"] / s["runtimeInSeconds"] <= 1.2 + 1e-6
               for n, s in zip(noisy, sized["workflow"]["execution"]["tasks"]))
    from_wfformat(apart)  # still an instance
    # mixed: the kinds of more than one task, by name, in turn follow sizes and not
    mont = wfformat_instance("montage_like", 40, seed=4)
    mixed = wfformat_runtimes(mont, "mixed", seed=1, noise=0.0)["workflow"]["execution"]["tasks"]
    sized = {r["id"]: r["runtimeInSeconds"] for r in wfformat_runtimes(mont, "sizes", noise=0.0)[
        "workflow"]["execution"]["tasks"]}
    follow = {r["command"]["program"] for r in mixed if r["runtimeInSeconds"] == pytest.approx(sized[r["id"]])}
    assert {"background", "project"} <= follow and "diff_fit" not in follow


@pytest.mark.parametrize("bad, match", [
    (dict(law="random"), "law must be one of 'sizes', 'apart', 'mixed'; got 'random'"),
    (dict(law="sizes", noise=1.0), r"noise must be in \[0, 1\); got 1.0"),
])
def test_runtimes_rewrite_refuses_what_it_cannot_write(bad, match):
    with pytest.raises(sl.ConfigError, match=match):
        wfformat_runtimes(wfformat_instance("chain", 3), **bad)
    spec_only = instance()
    del spec_only["workflow"]["execution"]["tasks"][2]["runtimeInSeconds"]
    with pytest.raises(sl.ConfigError, match="task 'c' has no runtimeInSeconds"):
        wfformat_runtimes(spec_only, "sizes")


def test_wfcommons_recipe_instances_load_with_every_parent_and_runtime(tmp_path):
    import numpy as np
    from wfcommons import WorkflowGenerator
    from wfcommons.wfchef.recipes import MontageRecipe

    random.seed(0)
    np.random.seed(0)
    path = tmp_path / "montage.json"
    WorkflowGenerator(MontageRecipe.from_num_tasks(120)).build_workflow().write_json(path)
    doc = json.loads(path.read_text())
    wl = from_wfformat(path)
    spec = {t["id"]: t for t in doc["workflow"]["specification"]["tasks"]}
    runs = {t["id"]: t["runtimeInSeconds"] for t in doc["workflow"]["execution"]["tasks"]}
    tasks = wl.tasks()
    assert len(tasks) == len(spec) > 100
    for t in tasks:
        assert list(t.dependencies) == spec[t.id]["parents"] and t.estimate_s == runs[t.id]
        assert t.name == spec[t.id]["name"] == wl.task_meta[t.id]["category"]
    rec = sl.simulate(tasks, wl.agents)
    assert makespan(rec) >= wl.meta["critical_path_s"] - 1e-6
    assert_dependencies_respected(wl, rec)


# ---------------------------------------------------------------- the benchmarks' reference schedule

def test_reference_list_schedule_is_optimal_on_known_shapes_and_within_grahams_bound():
    from swarmlab.scheduling.dag import list_schedule

    chain = from_wfformat(wfformat_instance("chain", 9, seed=1))
    assert list_schedule(chain.tasks(), chain.agents) == pytest.approx(chain.meta["sum_runtime_s"])
    fj = from_wfformat(wfformat_instance("fork_join", 34, jitter=0.0, size_spread=0.0))
    assert list_schedule(fj.tasks(), fj.agents) == pytest.approx(70.0)
    m = from_wfformat(wfformat_instance("montage_like", 300, seed=4))
    got = list_schedule(m.tasks(), m.agents)
    work, cp, k = m.meta["sum_runtime_s"], m.meta["critical_path_s"], len(m.agents)
    assert max(cp, work / k) <= got <= work / k + cp  # Graham: a list schedule is within these
    durations = {t.id: t.estimate_s for t in m.tasks()}
    assert critical_path(durations, {t.id: t.dependencies for t in m.tasks()}) == pytest.approx(cp)
