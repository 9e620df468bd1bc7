"""The experiment panel's suites as comparisons in the run store (issue 26, item 1): with
``save as it runs`` the plan is written before the first run, each run is saved and marked
done as it ends, and a Stop or a kernel death leaves a comparison that ``swarmlab resume``
finishes from a terminal."""

import json
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

pytest.importorskip("ipywidgets")

from conftest import run, until

from swarmlab import scheduling
from swarmlab.errors import ConfigError
from swarmlab.experiments.plan import resume_comparison
from swarmlab.scheduling import Policy, register_policy
from swarmlab.store.comparisons import ComparisonFolder
from swarmlab.store.journal import JOURNAL_NAME
from swarmlab.store.runs import RunStore
from swarmlab.ui.widgets import ExperimentPanel

ALGORITHMS = ["round_robin", "least_loaded"]
REPEATS = 2
#: A warm-up per set-up, the baseline first and last, REPEATS rounds of both set-ups.
PLANNED = len(ALGORITHMS) + 2 + REPEATS * len(ALGORITHMS)


def _panel(tmp_path, **kw):
    kw = {"algorithms": ALGORITHMS, "workload": "io", "n": 12, "repeats": REPEATS, "mode": "thread",
          "store": tmp_path / "runs", "export_dir": tmp_path / "exports", **kw}
    return ExperimentPanel(**kw)


def _measured_once(per_run):
    measured = per_run[per_run["role"] == "measured"]
    pairs = sorted(zip(measured["algorithm"].astype(str), measured["repeat"]))
    assert pairs == sorted((a, r) for a in ALGORITHMS for r in range(REPEATS))  # each planned run exactly once


def test_saving_writes_the_plan_before_the_first_run_and_completes_the_comparison(tmp_path):
    panel = _panel(tmp_path)
    store = RunStore(tmp_path / "runs")
    seen = {}

    async def main():
        panel.run_button.click()
        await until(lambda: panel.monitor.executor() is not None, what="the first run under way")
        seen["while"] = store.comparisons()
        seen["status"] = panel.status.value
        await panel.wait()

    run(main())
    cid = panel.comparison_id
    while_running = seen["while"].set_index("comparison_id")
    assert list(while_running.index) == [cid] and cid.startswith("cmp-")
    assert while_running.loc[cid, "status"] == "running" and while_running.loc[cid, "runs_done"] == 0
    assert while_running.loc[cid, "runs_planned"] == PLANNED
    assert f"swarmlab resume {cid} --store {store.path}" in seen["status"]
    plan = ComparisonFolder(store.path, cid).plan()
    assert [r["role"] for r in plan["runs"]].count("measured") == REPEATS * len(ALGORITHMS)
    assert plan["not_resumable"] is None and plan["workload"]["name"] == "io"
    after = store.comparisons().set_index("comparison_id")
    assert after.loc[cid, "status"] == "complete"
    assert after.loc[cid, "runs_done"] == after.loc[cid, "runs_planned"] == PLANNED
    # every run the comparison keeps is in the store as it ended (warm-ups are not kept)
    kept = {rec.run_id for rec in panel.runs if rec.meta["role"] != "warmup"}
    assert kept == set(store.list()["run_id"]) and len(kept) == PLANNED - len(ALGORITHMS)
    files = [p.strip() for p in after.loc[cid, "outputs"].split(",")]
    assert files and all((tmp_path / "exports").joinpath(f.rsplit("/", 1)[-1]).is_file() for f in files)
    assert cid in panel.status.value and "complete" in panel.status.value
    _measured_once(panel.per_run)
    assert len(panel.save()) == len(ALGORITHMS)  # Save writes what was not saved: the warm-ups


def test_a_stopped_suite_is_interrupted_and_resume_finishes_it(tmp_path):
    panel = _panel(tmp_path, n=40)
    store = RunStore(tmp_path / "runs")

    async def main():
        panel.run_button.click()
        await until(lambda: (panel.per_run["role"] == "measured").any() if len(panel.per_run) else False,
                    what="a measured run done")
        panel.stop_button.click()
        await panel.wait()

    run(main())
    cid = panel.comparison_id
    assert "stopped" in panel.status.value and f"swarmlab resume {cid} --store {store.path}" in panel.status.value
    row = store.comparisons().set_index("comparison_id").loc[cid]
    assert row["status"] == "interrupted" and 0 < row["runs_done"] < row["runs_planned"]
    # Save writes what the suite did not keep: the warm-ups and the stopped run
    assert len(panel.save()) == len(ALGORITHMS) + 1 and set(store.list()["run_id"]) >= {r.run_id for r in panel.runs}
    result = resume_comparison(cid, store)
    _measured_once(result.per_run)
    assert store.comparisons().set_index("comparison_id").loc[cid, "status"] == "complete"
    assert any(line.startswith("resumed:") for line in result.report())
    # the run Stop cut is no figure of the comparison; its journal stays, discarded
    cut = panel.runs[-1]
    assert cut.meta["stopped_by_user"] and cut.run_id not in set(result.per_run["run_id"])


class Fewest(Policy):
    """A policy registered in the kernel only: a terminal's process does not know its name."""

    name = "fewest_in_kernel"

    def choose(self, task, candidates):
        return min(candidates, key=lambda a: (a.queued + a.running, a.idx))


def test_a_suite_of_a_policy_registered_in_the_kernel_says_it_is_not_resumable(tmp_path):
    register_policy(Fewest)
    try:
        panel = _panel(tmp_path, algorithms=["round_robin", "fewest_in_kernel"], repeats=1)
        seen = {}

        async def main():
            panel.run_button.click()
            await until(lambda: panel.monitor.executor() is not None, what="the first run under way")
            seen["status"] = panel.status.value
            panel.stop_button.click()
            await panel.wait()

        run(main())
    finally:
        scheduling.POLICIES.pop("fewest_in_kernel", None)
    cid = panel.comparison_id
    for said in (seen["status"], panel.status.value):
        assert f"comparison {cid} is saved as it runs but not resumable" in said and "register_policy" in said
        assert "swarmlab resume" not in said
    row = RunStore(tmp_path / "runs").comparisons().set_index("comparison_id").loc[cid]
    assert row["status"] == "interrupted" and "fewest_in_kernel" in row["resumable"]
    with pytest.raises(ConfigError, match="registered in this process only"):
        resume_comparison(cid, RunStore(tmp_path / "runs"))


def test_saving_off_writes_nothing_until_save(tmp_path):
    panel = _panel(tmp_path, save_as_it_runs=False, repeats=1)
    run(panel.run())
    assert panel.comparison_id is None and not (tmp_path / "runs").exists()
    assert not (tmp_path / "exports").exists()
    assert len(panel.save()) == len(panel.runs)
    assert RunStore(tmp_path / "runs").comparisons().empty


def test_a_kernel_killed_mid_suite_is_finished_by_swarmlab_resume_in_a_terminal(tmp_path):
    # the kernel: a process running the panel's suite, killed once a measured run is under way
    script = textwrap.dedent(f"""
        import asyncio
        from swarmlab.ui.widgets import ExperimentPanel
        panel = ExperimentPanel(algorithms={ALGORITHMS!r}, workload="io", n=40, repeats={REPEATS}, mode="thread",
                                store={str(tmp_path / "runs")!r}, export_dir={str(tmp_path / "exports")!r})
        asyncio.run(panel.run())
    """)
    kernel = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    store = RunStore(tmp_path / "runs")

    def measured_under_way():
        for journal in store.path.glob(f"*/{JOURNAL_NAME}"):
            try:
                with open(journal) as f:
                    if json.loads(f.readline())["spec"]["labels"]["role"] == "measured":
                        return True
            except (OSError, ValueError, KeyError, TypeError):
                pass  # its header is being written
        return False

    async def watch():
        await until(lambda: kernel.poll() is not None or measured_under_way(), limit_s=120,
                    what="a measured run journaled")

    try:
        run(watch())
        alive = kernel.poll() is None
        kernel.send_signal(signal.SIGKILL)
    finally:
        if kernel.poll() is None:
            kernel.kill()
        err = kernel.communicate()[1]
    assert alive, err  # killed mid-suite, not ended
    cid = store.comparisons()["comparison_id"].iloc[0]
    assert store.comparisons().set_index("comparison_id").loc[cid, "status"] == "interrupted"
    done = subprocess.run([sys.executable, "-m", "swarmlab", "resume", cid, "--store", str(store.path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resumed comparison {cid}" in done.stdout
    row = store.comparisons().set_index("comparison_id").loc[cid]
    assert row["status"] == "complete" and row["runs_done"] == row["runs_planned"] == PLANNED
    runs = list((tmp_path / "exports").glob("compare-*-runs.csv"))
    assert len(runs) == 1  # the files the uninterrupted suite would have written
    _measured_once(pd.read_csv(runs[0]))
