"""Issue 26: a killed comparison finishes where it stopped (``swarmlab resume cmp-...``).

Real command-line comparisons are killed with SIGKILL at points found by watching the
store (the plan, the progress lines and the runs' journals), then resumed; the planned
measured runs each appear once in the outputs, whatever was cut."""

import asyncio
import json
import signal
import subprocess
import sys

import pandas as pd
import pytest
from conftest import until

from swarmlab.errors import ConfigError
from swarmlab.experiments.comparison import compare
from swarmlab.experiments.plan import resume_comparison
from swarmlab.experiments.sequence import plan_record
from swarmlab.model import ResourceLimits
from swarmlab.store.comparisons import ComparisonFolder
from swarmlab.store.journal import JOURNAL_NAME
from swarmlab.store.runs import RunStore
from swarmlab.workloads import recipes as workloads

ALGORITHMS = ["round_robin", "least_loaded"]
REPEATS = 2
#: Long enough that a run is seen under way (a baseline: 40 x 20 ms one at a time).
TASKS = 40


def _swarmlab(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "swarmlab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _compare(out, *extra) -> subprocess.Popen:
    return _swarmlab("compare", "--workload", "io", "--tasks", TASKS, "--algorithms", ",".join(ALGORITHMS),
                     "--mode", "thread", "--repeats", REPEATS, "--out", out, *extra)


def _cid(out) -> str | None:
    found = sorted(p.name for p in (out / "runs").glob("cmp-*")) if (out / "runs").is_dir() else []
    return found[0] if found else None


def _headers(store) -> dict[str, dict]:
    """Each journaled run's labels, by run id."""
    out = {}
    for j in store.glob(f"*/{JOURNAL_NAME}"):
        try:
            with open(j) as f:
                out[j.parent.name] = json.loads(f.readline())["spec"]["labels"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # its header is being written
    return out


def _running(out, cid):
    """The progress line of the run under way (started, not done) and whether its journal
    is there (a kept run has begun), or (None, False)."""
    lines = ComparisonFolder(out / "runs", cid).progress()
    if not lines or lines[-1]["event"] != "started":
        return (lines[-1] if lines else None), False
    last = lines[-1]
    begun = any(h.get("comparison") == cid and h.get("order") == last["order"]
                for h in _headers(out / "runs").values())
    return last, begun


def _kill_when(proc, out, condition, what: str) -> None:
    """SIGKILL ``proc`` as soon as ``condition(out, cid)`` holds (the store says so)."""
    def ready():
        assert proc.poll() is None, f"it ended before {what}: {proc.communicate()}"
        cid = _cid(out)
        return cid is not None and condition(out, cid)
    try:
        asyncio.run(until(ready, limit_s=120, what=what))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()


def _among_warmups(out, cid):
    lines = ComparisonFolder(out / "runs", cid).progress()
    return any(p["event"] == "done" and p["role"] == "warmup" for p in lines)


def _in(key_start: str):
    def cond(out, cid):
        last, begun = _running(out, cid)
        return begun and last["event"] == "started" and last["key"].startswith(key_start)
    return cond


def _resume(out, cid) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmlab", "resume", cid, "--store", str(out / "runs")],
                          check=False, capture_output=True, text=True, timeout=300)


def _check_outputs(out, cid) -> pd.DataFrame:
    """One set of output files; every planned measured run once; labels kept."""
    for pattern in ("compare-*-runs.csv", "compare-*-verdicts.csv", "compare-*.png"):
        assert len(list(out.glob(pattern))) == 1, (pattern, sorted(p.name for p in out.iterdir()))
    per_run = pd.read_csv(next(out.glob("compare-*-runs.csv")))
    m = per_run[per_run["role"] == "measured"]
    assert sorted(zip(m["algorithm"], m["repeat"])) == sorted((a, r) for a in ALGORITHMS for r in range(REPEATS))
    assert m["makespan_s"].gt(0).all()
    store = RunStore(out / "runs")
    for row in per_run[per_run["role"] != "warmup"].itertuples():
        meta = store.load(row.run_id).meta
        assert (meta["comparison"], meta["role"], meta["order"]) == (cid, row.role, row.order)
        assert meta.get("status", "complete") == "complete"
        if row.role == "measured":
            assert (meta["setup"], meta["repeat"]) == (row.algorithm, row.repeat)
    assert per_run["order"].is_monotonic_increasing
    return per_run


def test_a_comparison_killed_again_and_again_is_finished_by_resume(tmp_path):
    """Killed among the warm-ups, then its resumes killed during the first baseline, among
    the measured runs and during the last baseline: each resume goes on where the last
    stopped; the fifth finishes it, and one more is a one-line refusal."""
    out = tmp_path / "out"
    _kill_when(_compare(out), out, _among_warmups, "a warm-up ended")
    cid = _cid(out)
    plan = ComparisonFolder(out / "runs", cid).plan()
    assert plan["out"] == str(out) and plan["repeats"] == REPEATS and plan["not_resumable"] is None
    assert [r["role"] for r in plan["runs"]] == ["warmup"] * 2 + ["baseline"] + ["measured"] * 4 + ["baseline"]
    listed = RunStore(out / "runs").comparisons().set_index("comparison_id").loc[cid]
    assert listed["status"] == "interrupted" and listed["runs_planned"] == 8 and 1 <= listed["runs_done"] <= 3
    command = ["resume", cid, "--store", out / "runs"]
    for cond, what in ((_in("baseline/thread/first"), "the first baseline is under way"),
                       (_in("measured/"), "a measured run is under way"),
                       (_in("baseline/thread/last"), "the last baseline is under way")):
        _kill_when(_swarmlab(*command), out, cond, what)
    runs = RunStore(out / "runs").list()
    cut = set(runs.loc[runs["status"] == "interrupted", "run_id"])
    assert len(cut) >= 3  # the first baseline, a measured run and the last baseline (the first kill may cut one)
    # the cut measured run finished alone by the user: status "resumed", no valid makespan
    alone = runs.loc[(runs["status"] == "interrupted") & (runs["role"] == "measured"), "run_id"].iloc[0]
    finished = subprocess.run([sys.executable, "-m", "swarmlab", "resume", alone, "--store", str(out / "runs")],
                              check=False, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0 and f"resumed {alone}" in finished.stdout, finished.stderr
    done = _resume(out, cid)
    assert done.returncode == 0, done.stderr
    assert f"resumed comparison {cid}" in done.stdout
    assert "resumed: this comparison was killed and resumed 4 times" in done.stdout, done.stdout
    redone = int(done.stdout.split(" cut by a kill were discarded")[0].rsplit(" ", 2)[-2])
    assert redone >= len(cut), done.stdout  # every cut run was run again whole
    per_run = _check_outputs(out, cid)
    assert not cut & set(per_run["run_id"])  # cut runs stay in the store, out of every figure
    base = per_run[per_run["role"] == "baseline"]
    assert len(base) >= 3  # first, last, and at least one after a restart: the drift check spans the breaks
    listed = RunStore(out / "runs").comparisons().set_index("comparison_id").loc[cid]
    assert (listed["status"], listed["runs_done"]) == ("complete", 8)
    again = _resume(out, cid)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "is complete" in again.stderr
    assert again.stdout == ""


def test_a_run_killed_between_its_end_line_and_its_files_is_run_again(tmp_path):
    """The kill that leaves a run whose journal ended but whose files were never saved
    (and so never marked done): the comparison runs it again; its journal stays."""
    out = tmp_path / "out"
    proc = _compare(out, "--no-warmup")

    def two_measured_done(out, cid):
        lines = ComparisonFolder(out / "runs", cid).progress()
        return sum(p["event"] == "done" and p["role"] == "measured" for p in lines) >= 2

    _kill_when(proc, out, two_measured_done, "two measured runs are done")
    cid = _cid(out)
    folder = ComparisonFolder(out / "runs", cid)
    lines = (folder.path / "progress.jsonl").read_text().splitlines()
    last_done = max(i for i, line in enumerate(lines) if json.loads(line)["event"] == "done"
                    and json.loads(line)["role"] == "measured")
    unsaved = json.loads(lines[last_done])["run_id"]
    # the state that kill leaves: the end line journaled, no saved files, no done line
    (folder.path / "progress.jsonl").write_text("\n".join(lines[:last_done] + lines[last_done + 1:]) + "\n")
    for f in (out / "runs" / unsaved).iterdir():
        if f.name != JOURNAL_NAME:
            f.unlink()
    assert RunStore(out / "runs").list().set_index("run_id").loc[unsaved, "status"] == "unsaved"
    done = _resume(out, cid)
    assert done.returncode == 0, done.stderr
    per_run = _check_outputs(out, cid)
    assert unsaved not in set(per_run["run_id"])
    assert any(p["event"] == "discarded" and p["run_id"] == unsaved for p in folder.progress())


def test_comparisons_lists_each_with_its_status_and_progress(tmp_path):
    store = RunStore(tmp_path / "runs")
    wl = workloads.make("io", 6, seed=1)
    result = compare(wl, algorithms=["round_robin"], modes=[], simulate=True, repeats=2, store=store,
                     comparison_id="cmp-first")
    assert result.meta["comparison_id"] == "cmp-first"
    running = ComparisonFolder(store.path, "cmp-second")
    running.write_plan({"started_utc": "2026-01-01T00:00:00+00:00", "workload": {"name": "io"},
                        "runs": [{"key": "a"}, {"key": "b"}]})
    running.append("done", key="a", run_id="x")
    frame = store.comparisons().set_index("comparison_id")
    assert list(frame.columns[:4]) == ["status", "runs_planned", "runs_done", "started_utc"]
    assert frame.loc["cmp-first", ["status", "runs_planned", "runs_done"]].tolist() == ["complete", 4, 4]
    assert frame.loc["cmp-second", ["status", "runs_done"]].tolist() == ["interrupted", 1]
    with running.hold():  # a live process holds it: running, and a second holder is refused
        assert store.comparisons().set_index("comparison_id").loc["cmp-second", "status"] == "running"
        with pytest.raises(ConfigError, match="held by another process"):
            resume_comparison("cmp-second", store)
    assert "cmp-first" not in set(store.list()["run_id"])  # runs list holds runs only
    with pytest.raises(ConfigError, match="is complete"):
        resume_comparison("cmp-first", store)
    with pytest.raises(ConfigError, match="plain name"):
        ComparisonFolder(store.path, "cmp-../x")


def test_the_plan_rebuilds_the_comparison_and_says_what_cannot_be_resumed(tmp_path):
    from swarmlab.experiments.plan import job_from_plan
    from swarmlab.experiments.sequence import Job

    store = RunStore(tmp_path / "runs")
    wl = workloads.needing(workloads.make("io", 6, seed=3, mean_s=0.01), {"llm": 1})
    limits = ResourceLimits(pools={"llm": 2}, max_cpu_percent=None, max_memory_mb=None)
    compare(wl, algorithms=["least_loaded"], modes=[], simulate=True, repeats=1, limits=limits, store=store,
            add_stealing=True, comparison_id="cmp-plan", seed=5)
    plan = ComparisonFolder(store.path, "cmp-plan").plan()
    job = job_from_plan("cmp-plan", plan)
    assert isinstance(job, Job) and job.seed == 5 and job.workload.options == {"mean_s": 0.01}
    assert [s.label for s in job.setups] == ["least_loaded", "least_loaded+stealing"]
    assert job.limits.pools["llm"] == 2 and job.workload.meta["task_resources"] == {"llm": 1}
    assert plan_record(job, None, 1)["runs"] == plan["runs"]  # the same keys, roles and order
    plain = workloads.make("io", 2)
    custom = workloads.Workload("mine", 2, 0, plain.agents, plain.build)
    compare(custom, algorithms=["round_robin"], modes=[], simulate=True, repeats=1, store=store,
            comparison_id="cmp-mine")
    assert "exists only in Python" in store.comparisons().set_index("comparison_id").loc["cmp-mine", "resumable"]
    folder = ComparisonFolder(store.path, "cmp-mine")
    (folder.path / "progress.jsonl").write_text("")  # as if killed before its first run ended
    with pytest.raises(ConfigError, match="workload 'mine' exists only in Python"):
        resume_comparison("cmp-mine", store)


def test_repeats_auto_resumes_its_stopping_rule(tmp_path):
    store = RunStore(tmp_path / "runs")
    wl = workloads.make("io", 6, seed=1)
    whole = compare(wl, algorithms=["round_robin", "least_loaded"], modes=[], simulate=True, repeats="auto",
                    store=store, comparison_id="cmp-auto")
    folder = ComparisonFolder(store.path, "cmp-auto")
    lines = (folder.path / "progress.jsonl").read_text().splitlines()
    # killed during the third round's second run: its lines after that start are lost
    starts = [i for i, line in enumerate(lines) if '"started"' in line and '"measured/' in line]
    (folder.path / "progress.jsonl").write_text("\n".join(lines[: starts[5] + 1]) + "\n")
    again = resume_comparison("cmp-auto", store)
    assert (again.meta["repeats"], again.meta["stopped"]) == (whole.meta["repeats"], whole.meta["stopped"])
    m = again.per_run[again.per_run["role"] == "measured"]
    assert sorted(zip(m["algorithm"].astype(str), m["repeat"])) == sorted(
        (a, r) for a in ("round_robin", "least_loaded") for r in range(whole.meta["repeats"]))
    assert again.meta["resumed"][0]["redone"] == 1 and any("resumed" in line for line in again.report())


def test_a_module_class_policy_is_resumed_when_named_again(tmp_path, monkeypatch):
    """A comparison's plan is data: a ``module:Class`` it names in the current folder is
    imported only when the resume names it again (as ``resume`` does for a run)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "cmppolicies.py").write_text(
        "import swarmlab\n"
        "class Fewest(swarmlab.Policy):\n"
        "    name = 'fewest_tasks'\n"
        "    def choose(self, task, candidates):\n"
        "        return min(candidates, key=lambda a: (a.queued + a.running, a.idx))\n")
    store = RunStore(tmp_path / "runs")
    compare(workloads.make("io", 6), algorithms=["cmppolicies:Fewest"], modes=[], simulate=True, repeats=2,
            store=store, comparison_id="cmp-mod")
    assert store.comparisons().set_index("comparison_id").loc["cmp-mod", "resumable"] == "yes"
    folder = ComparisonFolder(store.path, "cmp-mod")
    lines = (folder.path / "progress.jsonl").read_text().splitlines()
    (folder.path / "progress.jsonl").write_text("\n".join(lines[:3]) + "\n")  # killed in its first round
    monkeypatch.delitem(sys.modules, "cmppolicies")
    with pytest.raises(ConfigError, match="name it again: swarmlab resume cmp-mod --algorithms cmppolicies:Fewest"):
        resume_comparison("cmp-mod", store)
    again = resume_comparison("cmp-mod", store, algorithms=["cmppolicies:Fewest"])
    m = again.per_run[again.per_run["role"] == "measured"]
    assert sorted(m["repeat"]) == [0, 1] and set(m["algorithm"].astype(str)) == {"fewest_tasks"}


def test_a_comparison_killed_while_writing_its_outputs_writes_them_again_and_runs_nothing(tmp_path):
    """Every run made and saved, the kill came before the complete line: the resume
    writes the same files (named by the comparison's stamp), makes no run, warms nothing."""
    store = RunStore(tmp_path / "runs")
    out = tmp_path / "out"
    wl = workloads.make("io", 6, seed=1)
    whole = compare(wl, algorithms=["round_robin"], modes=[], simulate=True, repeats=2, store=store, out=out)
    cid = whole.meta["comparison_id"]
    files = sorted(p.name for p in out.iterdir())
    assert files and all(cid.split("-")[1] in name for name in files)
    folder = ComparisonFolder(store.path, cid)
    lines = (folder.path / "progress.jsonl").read_text().splitlines()
    (folder.path / "progress.jsonl").write_text("\n".join(line for line in lines if '"complete"' not in line) + "\n")
    for p in out.iterdir():
        p.unlink()
    runs_before = set(store.list()["run_id"])
    again = resume_comparison(cid, store)
    assert sorted(p.name for p in out.iterdir()) == files  # the same files, not a second set
    assert set(store.list()["run_id"]) == runs_before  # nothing was run again
    assert again.per_run["run_id"].tolist() == whole.per_run["run_id"].tolist()
    assert folder.status(folder.progress()) == "complete"


def test_the_plan_names_the_output_folder_whole_so_a_resume_from_elsewhere_writes_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = RunStore(tmp_path / "runs")
    compare(workloads.make("io", 4, seed=1), algorithms=["round_robin"], modes=[], simulate=True, repeats=1,
            store=store, out="outputs", comparison_id="cmp-rel")
    assert ComparisonFolder(store.path, "cmp-rel").plan()["out"] == str(tmp_path / "outputs")
