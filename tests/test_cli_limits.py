"""The command line's --pool, --rate and --task-resources: checked before anything runs,
and the limit that binds every set-up said in the printed verdicts (issue 24, item 10)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _cli(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "swarmlab", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


def _one_line_no(out: subprocess.CompletedProcess, *words: str) -> None:
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("command", ["compare", "simulate"])
def test_bad_limits_get_one_line_naming_the_flag_the_value_and_the_form(command, tmp_path):
    base = [command, "--tasks", 6, "--algorithms", "round_robin"] + (["--out", tmp_path] if command == "compare" else [])
    _one_line_no(_cli(*base, "--pool", "llm"), "--pool", "'llm'", "NAME=N")
    _one_line_no(_cli(*base, "--pool", "llm=0"), "--pool", "'llm=0'", "NAME=N")
    _one_line_no(_cli(*base, "--rate", "rpm=120"), "--rate", "'rpm=120'", "NAME=N/S")
    _one_line_no(_cli(*base, "--rate", "rpm=120/0"), "--rate", "'rpm=120/0'", "NAME=N/S")
    _one_line_no(_cli(*base, "--task-resources", "llm=x"), "--task-resources", "'llm=x'", "NAME=N")
    _one_line_no(_cli(*base, "--task-resources", "llm=1"), "--task-resources", "['llm']", "--pool NAME=N")
    _one_line_no(_cli(*base, "--pool", "llm=8"), "['llm']", "limits nothing", "--task-resources llm=1")
    _one_line_no(_cli(*base, "--pool", "x=8", "--rate", "x=1/1", "--task-resources", "x=1"), "both name ['x']")
    assert not list(tmp_path.glob("compare-*"))  # nothing ran


def test_simulate_with_a_rate_shows_the_bound_and_says_it_binds_every_set_up():
    # 60 tasks needing 1 of 10 a second: 50 beyond the bucket, so no set-up ends before 5 s
    out = _cli("simulate", "--workload", "io", "--tasks", 60, "--algorithms", "round_robin,least_loaded",
               "--rate", "rpm=10/1", "--task-resources", "rpm=1")
    assert out.returncode == 0, out.stderr
    assert "bound_by" in out.stdout and "lower_bound_s" in out.stdout
    assert "limits rate rpm=10/1" in out.stdout
    assert ("every set-up is bound by rate rpm (10 per 1 s): none can finish under 5 s" in out.stdout), out.stdout


def test_compare_with_a_pool_and_a_rate_prints_which_binds(tmp_path):
    # 20 real thread tasks, 1 of a rate of 10 a second each: 10 beyond the bucket, 1 s at least
    out = _cli("compare", "--workload", "io", "--tasks", 20, "--algorithms", "round_robin,least_loaded",
               "--mode", "thread", "--repeats", 2, "--no-warmup", "--no-baseline", "--out", tmp_path,
               "--pool", "llm=4", "--rate", "rpm=10/1", "--task-resources", "llm=1", "--task-resources", "rpm=1")
    assert out.returncode == 0, out.stderr
    assert "limits pool llm=4, rate rpm=10/1" in out.stderr
    assert "every set-up is bound by rate rpm (10 per 1 s): none can finish under 1 s" in out.stdout, out.stdout
