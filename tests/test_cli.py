"""The command line says no before it works, ends quietly on a closed pipe or Ctrl-C, and
documents itself: each case run as a user runs it, in a subprocess."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import swarmlab
from swarmlab import Task, simulate
from swarmlab.store.runs import RunStore
from swarmlab.ui.cli import build_parser

pytestmark = pytest.mark.slow


def _cli(*argv, cwd=None, timeout=300, **kw):
    return subprocess.run([sys.executable, "-m", "swarmlab", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, **kw)


def _one_line_no(out: subprocess.CompletedProcess, *words: str) -> None:
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _summary_csv(tmp_path: Path) -> Path:
    out = _cli("compare", "--tasks", 12, "--algorithms", "round_robin", "--mode", "thread", "--repeats", 2,
               "--no-warmup", "--out", tmp_path / "first")
    assert out.returncode == 0, out.stderr
    return next(p for p in (tmp_path / "first").glob("compare-*.csv") if p.name.count("-") == 1)


def test_compare_refuses_bad_input_in_one_line_before_running(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    fast = ["compare", "--tasks", 6, "--repeats", 1, "--algorithms", "round_robin", "--mode", "thread"]
    _one_line_no(_cli(*fast, "--out", a_file / "sub"), "--out", "cannot write there")
    _one_line_no(_cli(*fast, "--out", a_file), "--out", "is a file")
    _one_line_no(_cli(*fast, "--out", "/proc/swarmlab-out"), "cannot write there")
    for empty in ("", ",", " , "):
        _one_line_no(_cli("compare", "--algorithms", empty, "--out", tmp_path / "e"), "give at least one algorithm")
    _one_line_no(_cli("compare", "--mode", "thread,quantum", "--out", tmp_path / "e"), "unknown modes ['quantum']")
    _one_line_no(_cli("compare", "--repeats", "some", "--out", tmp_path / "e"), "positive integer or 'auto'")
    summary = _summary_csv(tmp_path)
    (tmp_path / "garbage.csv").write_bytes(b"\x00\xff\xfe garbage \x00\n\x01\x02")
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "other.csv", index=False)
    runs_csv = next((tmp_path / "first").glob("compare-*-runs.csv"))
    for against, words in ((tmp_path / "nope.csv", "no such file"), (tmp_path / "garbage.csv", "not a"),
                           (tmp_path / "other.csv", "is not a comparison summary"),
                           (runs_csv, "is not a comparison summary"),
                           (summary, "shares no set-up and mode")):
        mode = "asyncio" if against == summary else "thread"  # the summary is of thread runs
        out = _cli("compare", "--tasks", 6, "--algorithms", "round_robin", "--mode", mode, "--out", tmp_path / "x",
                   "--against", against)
        _one_line_no(out, "--against", *([words] if isinstance(words, str) else words))
    assert not (tmp_path / "x").exists() and not (tmp_path / "e").exists()  # nothing ran, nothing was written


def test_version_and_help_that_gives_every_default():
    out = _cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"swarmlab {swarmlab.__version__}"
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in [*commands.items(), *commands["runs"]._subparsers._group_actions[0].choices.items()]:
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help",):
                assert action.help and "default" in action.help, (name, action.option_strings)
    text = _cli("simulate", "--help").stdout
    for option, default in (("--workload", "(default heavy_tailed)"), ("--tasks", "(default 10000)"),
                            ("--algorithms", "default all"), ("--add-stealing", "(default off)"),
                            ("--seed", "(default 0)")):
        assert option in text and default in " ".join(text.split()), option


def test_runs_on_a_missing_store_says_so_and_a_closed_pipe_ends_quietly(tmp_path):
    for argv in (("runs", "--store", tmp_path / "none", "list"), ("runs", "--store", tmp_path / "none", "show", "x"),
                 ("resume", "abc", "--store", tmp_path / "none")):
        _one_line_no(_cli(*argv), f"no run store at {tmp_path / 'none'}")
    store = RunStore(tmp_path / "runs")
    store.path.mkdir()
    assert _cli("runs", "--store", store.path, "list").stdout.strip() == f"no runs saved in {store.path}"
    for _ in range(3):
        store.save(simulate([Task(None, estimate_s=1.0) for _ in range(3)]))
    read, write = os.pipe()
    os.close(read)  # the reader is gone before a line is written: `swarmlab runs list | head -0`
    try:
        out = subprocess.run([sys.executable, "-m", "swarmlab", "runs", "--store", str(store.path), "list"],
                             stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert out.stderr == "" and out.returncode == 128 + signal.SIGPIPE
    shell = subprocess.run(f"{sys.executable} -m swarmlab runs --store {store.path} list | head -1", shell=True,
                           capture_output=True, text=True, timeout=120)
    assert shell.stderr == "" and shell.stdout.split() == ["run_id", "started_utc", "clock", "mode", "algorithm",
                                                           "workload", "seed", "n_agents", "role", "status"]


def test_ctrl_c_names_the_comparison_and_the_command_that_finishes_it(tmp_path):
    """Issue 26 item 3: the first line and Ctrl-C name the comparison and the command. Many repeats, so that the Ctrl-C meets a run under way however slow the machine is
    (issue 27 item 11: with 3, a loaded machine let the last run finish before it came)."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "swarmlab", "compare", "--workload", "io", "--tasks", "400",
                             "--algorithms", "round_robin", "--mode", "thread", "--repeats", "50", "--no-warmup",
                             "--no-baseline", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # a measured run is under way: its journal is there, its meta.json (written at the end) is not
        while not [j for j in out.glob("runs/*/journal.jsonl") if not (j.parent / "meta.json").exists()]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    first, last = stderr.strip().splitlines()[0], stderr.strip().splitlines()[-1]
    assert last.startswith("swarmlab: interrupted: comparison cmp-") and "runs done); finish it with" in last, last
    command = last.split("`")[1]
    cid = command.split()[2]
    assert command == f"swarmlab resume {cid} --store {out / 'runs'}"
    assert first.startswith(f"comparison {cid}:") and f"`{command}`" in first, first
    listed = _cli("runs", "--store", out / "runs", "list")
    assert listed.returncode == 0 and f"{cid} interrupted" in " ".join(listed.stdout.split()), listed.stdout


def test_long_work_shows_progress():
    out = _cli("simulate", "--tasks", 3000, "--algorithms", "round_robin,work_stealing")
    assert out.returncode == 0
    assert "simulate heavy_tailed x 3000" in out.stderr and "2/2" in out.stderr and "run" in out.stderr
    assert "work_stealing" in out.stdout
