"""The journal never loses silently: self-checking lines, damage skipped and said in one
line, unreadable journals refused with one line and exit code 2 (real runs, the real CLI)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab import workloads
from swarmlab import compare
from swarmlab.store.journal import JOURNAL_NAME, read_journal
from swarmlab.store.runs import RunStore

N_TASKS = 30
KEEP_COMPLETED = 12  # completed tasks left in the cut journal


def _journaled_run(root: Path) -> tuple[RunStore, str]:
    store = RunStore(root / "runs")
    compare(workloads.io(N_TASKS, seed=4, mean_s=0.01), algorithms=["least_loaded"], modes=["asyncio"],
            repeats=1, baseline=False, store=store)
    return store, store.list()["run_id"].iloc[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One real journaled run; each test copies its journal."""
    root = tmp_path_factory.mktemp("journaled")
    store, run_id = _journaled_run(root)
    return (store.path / run_id / JOURNAL_NAME).read_bytes(), run_id


def _store_with(tmp_path, run_id, lines: list[bytes]) -> RunStore:
    store = RunStore(tmp_path / "runs")
    (store.path / run_id).mkdir(parents=True)
    (store.path / run_id / JOURNAL_NAME).write_bytes(b"".join(line + b"\n" for line in lines))
    return store


def _kind(line: bytes) -> str | None:
    try:
        return json.loads(line).get("type")
    except ValueError:
        return None


def _cut(data: bytes) -> list[bytes]:
    """The journal as if killed after KEEP_COMPLETED tasks completed."""
    lines = data.splitlines()
    done = [i for i, line in enumerate(lines) if _kind(line) == "attempt" and b'"completed"' in line]
    return lines[: done[KEEP_COMPLETED - 1] + 1]


def _completed_attempt_lines(lines):
    return [i for i, line in enumerate(lines) if _kind(line) == "attempt" and b'"completed"' in line]


def _cli(*args):
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, "-m", "swarmlab", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def _assert_whole(rec):
    final = rec.final()
    assert len(final) == N_TASKS and set(final["status"]) == {"completed"}
    done = rec.tasks[rec.tasks["status"] == "completed"]
    assert done["task_id"].value_counts().max() == 1  # none completed twice
    assert rec.events["seq"].is_unique


def test_every_journal_line_carries_a_checksum_that_reading_verifies(finished_run, tmp_path):
    data, run_id = finished_run
    lines = data.splitlines()
    assert all(json.loads(line).get("crc") is not None for line in lines)
    i = _completed_attempt_lines(lines)[3]
    forged = lines[i].replace(b'"completed"', b'"cancelled"')  # still valid JSON, right types
    j = read_journal(_store_with(tmp_path, run_id, lines[:i] + [forged] + lines[i + 1:]).path / run_id / JOURNAL_NAME)
    assert j["damaged"] == [i + 1]
    assert len(j["attempt"]) == sum(_kind(x) == "attempt" for x in lines) - 1


def _crlf(line):
    return line + b"\r"


def _space(line):
    return line + b" "


def _no_crc(line):
    obj = json.loads(line)
    obj.pop("crc")
    return json.dumps(obj).encode()


@pytest.mark.parametrize("ending", [_crlf, _space, _no_crc], ids=["crlf", "trailing_space", "crc_removed"])
def test_an_edited_line_cannot_escape_its_checksum(finished_run, tmp_path, ending):
    """Issue 27 item 7: a line with anything after its closing brace, or with its
    checksum taken off, in a journal whose header has one, is damaged, not trusted."""
    from swarmlab.store.follow import JournalFollower

    data, run_id = finished_run
    lines = data.splitlines()
    i = _completed_attempt_lines(lines)[3]
    forged = ending(lines[i].replace(b'"completed"', b'"cancelled"'))
    store = _store_with(tmp_path, run_id, lines[:i] + [forged] + lines[i + 1:])
    path = store.path / run_id / JOURNAL_NAME
    assert read_journal(path)["damaged"] == [i + 1]
    assert [d.line for d in JournalFollower(path).poll().damaged] == [i + 1]


def _truncate(line):
    return line[: len(line) // 2]


def _nul(line):
    return b"\0" * len(line)


def _bad_utf8(line):
    return line[:20] + b"\xff\xfe\xfd" + line[23:]


def _bad_json(line):
    return line.replace(b"]", b"", 1)


def _wrong_types(line):
    """A line whose checksum holds but whose row has a number for the task id."""
    from swarmlab.store.journal import encode_line

    obj = json.loads(line)
    obj.pop("crc", None)
    obj["row"][0] = 12
    return encode_line(obj).rstrip("\n").encode()


@pytest.mark.parametrize("damage", [_truncate, _nul, _bad_utf8, _bad_json, _wrong_types],
                         ids=["truncated", "nul_filled", "invalid_utf8", "bad_json", "wrong_types"])
def test_resume_keeps_every_intact_line_around_a_damaged_one(finished_run, tmp_path, damage):
    data, run_id = finished_run
    lines = _cut(data)
    i = _completed_attempt_lines(lines)[2]  # a completed attempt early in the run
    lost = json.loads(lines[i])["row"][0]
    store = _store_with(tmp_path, run_id, lines[:i] + [damage(lines[i])] + lines[i + 1:])
    out = _cli("resume", run_id, "--store", str(store.path))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    rec = store.load(run_id)
    assert rec.meta["kept_tasks"] == KEEP_COMPLETED - 1 and rec.meta["resumed_tasks"] == N_TASKS - KEEP_COMPLETED + 1
    _assert_whole(rec)
    said = [line for line in out.stderr.splitlines() if "damaged" in line]
    assert len(said) == 1, out.stderr
    assert f"1 damaged line (line {i + 1})" in said[0] and lost in said[0]
    assert f"{N_TASKS - KEEP_COMPLETED + 1} tasks run again" in said[0]


def test_old_journals_without_checksums_still_resume(finished_run, tmp_path):
    data, run_id = finished_run
    old = []
    for line in _cut(data):
        obj = json.loads(line)
        obj.pop("crc", None)
        old.append(json.dumps(obj).encode())
    store = _store_with(tmp_path, run_id, old)
    rec = sl.resume(run_id, store)
    assert rec.meta["kept_tasks"] == KEEP_COMPLETED and "journal_damage" not in rec.meta
    _assert_whole(rec)


def test_a_header_only_journal_resumes_the_whole_run_once(finished_run, tmp_path):
    data, run_id = finished_run
    store = _store_with(tmp_path, run_id, data.splitlines()[:1])  # killed in its first moments
    out = _cli("resume", run_id, "--store", str(store.path))
    assert out.returncode == 0, out.stderr
    rec = store.load(run_id)
    assert rec.meta["kept_tasks"] == 0 and rec.meta["resumed_tasks"] == N_TASKS
    _assert_whole(rec)
    again = _cli("resume", run_id, "--store", str(store.path))
    assert again.returncode == 2 and "nothing to resume" in again.stderr
    assert len(store.load(run_id).final()) == N_TASKS


def _header_with(data, **changes):
    obj = json.loads(data.splitlines()[0])
    obj.pop("crc", None)
    obj.update(changes)
    return json.dumps(obj).encode()


@pytest.mark.parametrize("what", ["empty", "no_header", "not_a_journal", "damaged_header", "header_types",
                                  "spec_unbuildable"])
def test_an_unreadable_journal_is_refused_in_one_line_with_exit_code_2(finished_run, tmp_path, what):
    data, run_id = finished_run
    lines = _cut(data)
    journal = {
        "empty": [],
        "no_header": lines[1:],
        "not_a_journal": [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", b"hello world"],
        "damaged_header": [_truncate(lines[0])] + lines[1:],
        "header_types": [_header_with(data, meta="x", spec=5)] + lines[1:],
        "spec_unbuildable": [_header_with(data, spec={"kind": "workload", "name": "io"})] + lines[1:],
    }[what]
    store = _store_with(tmp_path, run_id, journal)
    out = _cli("resume", run_id, "--store", str(store.path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert run_id in out.stderr and "journal" in out.stderr


def test_a_task_row_journaled_before_estimate_source_is_read_not_damaged():
    import json
    import zlib

    from swarmlab.store.journal import decode_line

    def line(obj):
        body = json.dumps(obj).encode()
        return body[:-1] + b', "crc": ' + str(zlib.crc32(body)).encode() + b"}"

    old = decode_line(line({"type": "task", "row": ["t1", "io", 1.5, [], []]}))
    bare = decode_line(line({"type": "task", "row": ["t2", None, None, [], []]}))
    assert old["row"][-1] == "given" and bare["row"][-1] == "default"
