"""The store and resume cannot be fooled (issue 27, items 3, 4, 5, 6 and 8): a journal
with an end line is enough to finish saving, a live journal is locked, a damaged task
line does not break resume, one bad saved run does not break the views, and run ids
and journal-named policies are checked at every door."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab import workloads
from swarmlab.errors import JournalError
from swarmlab.events import ATTEMPT, TASK_INFO
from swarmlab.experiments.comparison import compare
from swarmlab.store.journal import JOURNAL_NAME, encode_line, read_journal
from swarmlab.store.runs import RunStore
from swarmlab.ui.cli import main

N = 12


def _run(tmp_path: Path) -> tuple[RunStore, str]:
    """One small journaled and saved run of ``N`` io tasks."""
    store = RunStore(tmp_path / "runs")
    compare(workloads.io(N, seed=1, mean_s=0.005), algorithms=["least_loaded"], modes=["asyncio"], repeats=1,
            baseline=False, warmup=False, store=store)
    return store, store.list()["run_id"].iloc[0]


def _unsave(store: RunStore, run_id: str) -> Path:
    """Remove the saved files, as a kill right after the journal's end line leaves them."""
    folder = store.path / run_id
    for p in folder.iterdir():
        if p.name != JOURNAL_NAME:
            p.unlink()
    return folder


def _cut_end(journal: Path) -> None:
    lines = journal.read_bytes().splitlines(keepends=True)
    assert b'"type": "end"' in lines[-1]
    journal.write_bytes(b"".join(lines[:-1]))


# ------------------------------------------------------------- item 3

def test_a_journal_with_an_end_line_is_enough_to_finish_saving(tmp_path, capsys):
    store, run_id = _run(tmp_path)
    _unsave(store, run_id)  # killed between the end line and the saved files
    listed = store.list().set_index("run_id")
    assert listed.loc[run_id, "status"] == "unsaved"
    assert listed.loc[run_id, "algorithm"] == "least_loaded"
    shown = store.load(run_id)  # read from the journal alone
    assert len(shown.final()) == N and set(shown.final()["status"]) == {"completed"}
    assert main(["runs", "show", run_id, "--store", str(store.path)]) == 0
    assert run_id in capsys.readouterr().out
    rec = sl.resume(run_id, store)  # saves it; runs nothing
    assert rec.meta["resumed_tasks"] == 0 and rec.meta["kept_tasks"] == N
    assert (store.path / run_id / "meta.json").is_file()
    assert store.list().set_index("run_id").loc[run_id, "status"] == "complete"
    assert store.load(run_id).tasks["task_id"].value_counts().max() == 1
    with pytest.raises(sl.ConfigError, match="nothing to resume"):  # once saved, finished
        sl.resume(run_id, store)


# ------------------------------------------------------------- item 4

HOLDER = """
import json, sys
from swarmlab.events import Recorder
from swarmlab.store.journal import Journal
header = json.loads(sys.argv[2])
j = Journal(sys.argv[1], Recorder(header["run_id"]), header["meta"], header["spec"])
print("held", flush=True)
sys.stdin.read()
"""


def test_a_live_journal_is_locked_a_second_resume_is_refused_and_listed_as_running(tmp_path, capsys):
    from swarmlab.store.runs import journal_held

    store, run_id = _run(tmp_path)
    header = read_journal(store.path / run_id / JOURNAL_NAME)["header"]
    live = "live-run"
    header = dict(header, run_id=live, meta=dict(header["meta"], run_id=live))
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(store.path / live), json.dumps(header)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline().strip() == "held"  # the other process writes the journal now
        assert journal_held(store.path / live / JOURNAL_NAME)
        assert store.list().set_index("run_id").loc[live, "status"] == "running"
        capsys.readouterr()
        assert main(["resume", live, "--store", str(store.path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "held by another process" in err and live in err
        assert read_journal(store.path / live / JOURNAL_NAME)["end"] is None  # nothing was run
        proc.stdin.close()  # the holder reads its end of the pipe and exits
        proc.wait(timeout=30)
    # the lock died with its process: the run is interrupted, and resume finishes it
    assert not journal_held(store.path / live / JOURNAL_NAME)
    assert store.list().set_index("run_id").loc[live, "status"] == "interrupted"
    rec = sl.resume(live, store)
    assert rec.meta["resumed_tasks"] == N


def test_a_journal_is_held_while_its_writer_lives_and_released_at_close(tmp_path):
    from swarmlab.events import Recorder
    from swarmlab.store.journal import Journal
    from swarmlab.store.runs import journal_held

    j = Journal(tmp_path / "r", Recorder("r"), {"run_id": "r"}, None)
    assert journal_held(j.path) and RunStore(tmp_path).list().set_index("run_id").loc["r", "status"] == "running"
    j.close()
    assert not journal_held(j.path)
    assert not journal_held(tmp_path / "nothing" / JOURNAL_NAME)


# ------------------------------------------------------------- item 5

def test_a_nul_filled_task_line_of_a_completed_task_does_not_break_resume(tmp_path, caplog):
    store, run_id = _run(tmp_path)
    folder = _unsave(store, run_id)
    journal = folder / JOURNAL_NAME
    _cut_end(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    keep = len(lines) // 2  # cut mid-run too: some tasks run again
    journal.write_bytes(b"".join(lines[:keep]))
    j = read_journal(journal)
    done = {a[ATTEMPT.task_id] for a in j["attempt"] if a[ATTEMPT.status] == "completed"}
    assert 0 < len(done) < N
    at = next(i for i, line in enumerate(lines[:keep])
              if line.startswith(b'{"type": "task"') and json.loads(line)["row"][TASK_INFO.task_id] in done)
    lines[at] = b"\0" * (len(lines[at]) - 1) + b"\n"
    journal.write_bytes(b"".join(lines[:keep]))
    rec = sl.resume(run_id, store)
    assert (folder / "meta.json").is_file()
    assert read_journal(journal)["end"]["status"] == "resumed"
    final = rec.final()
    assert len(final) == N and set(final["status"]) == {"completed"}
    assert f"line {at + 1}" in rec.meta["journal_damage"]
    assert "no intact task line, rebuilt" in rec.meta["journal_damage"]  # what it could not rebuild, said
    with pytest.raises(sl.ConfigError, match="nothing to resume"):
        sl.resume(run_id, store)


# ------------------------------------------------------------- item 6

def test_one_bad_saved_run_is_listed_as_unreadable_and_breaks_nothing_else(tmp_path, capsys):
    store, good = _run(tmp_path)
    for bad, damage in (("garbage", lambda f: (f / "meta.json").write_text("{not json")),
                        ("a-list", lambda f: (f / "meta.json").write_text("[1, 2]")),
                        ("truncated", lambda f: (f / "tasks.parquet").write_bytes(
                            (f / "tasks.parquet").read_bytes()[:40]))):
        folder = store.path / bad
        (folder).mkdir()
        for p in (store.path / good).iterdir():
            if p.name != JOURNAL_NAME:
                (folder / p.name).write_bytes(p.read_bytes())
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps(dict(meta, run_id=bad)))
        damage(folder)
    listed = store.list().set_index("run_id")
    assert listed.loc[good, "status"] == "complete"
    assert listed.loc["garbage", "status"].startswith("unreadable: meta.json")
    assert listed.loc["a-list", "status"].startswith("unreadable: meta.json")
    assert listed.loc["truncated", "status"].startswith("unreadable: tasks.parquet")
    for bad in ("garbage", "a-list", "truncated"):
        for argv in (["runs", "show", bad], ["runs", "export", bad, "--dest", str(tmp_path / "x")]):
            capsys.readouterr()
            assert main(argv + ["--store", str(store.path)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and bad in err and "Traceback" not in err, err
    assert main(["runs", "list", "--store", str(store.path)]) == 0
    assert main(["runs", "show", good, "--store", str(store.path)]) == 0


def test_a_run_store_must_be_a_folder_path(tmp_path):
    with pytest.raises(sl.ConfigError, match="a folder path"):
        RunStore(5)
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(sl.ConfigError, match="is a file"):
        RunStore(file)


# ------------------------------------------------------------- item 8

@pytest.mark.parametrize("bad", ["../outside", "../../x", "/abs/x", "a/b", "..", ".", "", "a\\b", "x\0y"])
def test_run_ids_are_plain_names_at_every_door(tmp_path, bad, capsys):
    store, good = _run(tmp_path)
    (tmp_path / "outside").mkdir()
    for p in (store.path / good).iterdir():
        (tmp_path / "outside" / p.name).write_bytes(p.read_bytes())
    for call in (lambda: store.load(bad), lambda: store.export(bad, "csv", tmp_path / "d"),
                 lambda: sl.resume(bad, store)):
        with pytest.raises(sl.ConfigError, match="plain name"):
            call()
    if "\0" not in bad:
        for argv in (["runs", "show", bad], ["runs", "export", bad, "--dest", str(tmp_path / "d")], ["resume", bad]):
            capsys.readouterr()
            assert main(argv + ["--store", str(store.path)]) == 2
            assert "plain name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "d").exists()


@pytest.mark.parametrize("bad", ["../../x", "ABSOLUTE"])
def test_a_journal_header_cannot_send_resume_outside_the_store(tmp_path, bad):
    if bad == "ABSOLUTE":
        bad = str(tmp_path / "abs-x")  # an absolute id replaced the store's root
    store, run_id = _run(tmp_path)
    folder = _unsave(store, run_id)
    journal = folder / JOURNAL_NAME
    _cut_end(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    head = json.loads(lines[0])
    head.pop("crc")
    head["run_id"], head["meta"]["run_id"] = bad, bad
    lines[0] = encode_line(head).encode()  # checksum recomputed, as the README documents
    journal.write_bytes(b"".join(lines))
    with pytest.raises(JournalError, match="plain name"):
        sl.resume(run_id, store)
    assert not (tmp_path / "x").exists() and not Path(bad).exists()
    assert not (folder / "meta.json").exists()


POLICY = """
from swarmlab.scheduling.policies import LeastLoaded
ran = []
class P(LeastLoaded):
    name = "payload"
    def __init__(self):
        super().__init__()
        open(__file__ + ".ran", "w").close()
"""


def _naming(tmp_path: Path, policy: str) -> tuple[RunStore, str]:
    """A run cut before anything was done, whose journal names ``policy``."""
    store, run_id = _run(tmp_path)
    journal = _unsave(store, run_id) / JOURNAL_NAME
    head = json.loads(journal.read_bytes().splitlines()[0])
    head.pop("crc")
    head["spec"]["algorithm"] = policy
    journal.write_bytes(encode_line(head).encode())  # checksum recomputed; nothing done: the whole run again
    return store, run_id


def test_a_policy_named_by_a_journal_is_imported_only_from_installed_packages_or_when_named_again(
        tmp_path, monkeypatch, capsys):
    store, run_id = _naming(tmp_path / "installed", "swarmlab.scheduling.policies:RoundRobin")
    assert sl.resume(run_id, store).meta["resumed_tasks"] == N  # an installed package's: imported
    store, run_id = _naming(tmp_path, "evilpolicy:P")
    (tmp_path / "evilpolicy.py").write_text(textwrap.dedent(POLICY))  # in the current folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m swarmlab` puts the current folder first
    ran = tmp_path / "evilpolicy.py.ran"
    with pytest.raises(sl.ConfigError, match="not an installed package.*--algorithms evilpolicy:P"):
        sl.resume(run_id, store)
    assert main(["resume", run_id, "--store", str(store.path)]) == 2
    assert "--algorithms evilpolicy:P" in capsys.readouterr().err
    assert not ran.exists() and "evilpolicy" not in sys.modules
    # named again by the user: imported
    assert main(["resume", run_id, "--store", str(store.path), "--algorithms", "evilpolicy:P"]) == 0
    assert ran.exists()
    sys.modules.pop("evilpolicy", None)


def test_a_policy_inside_the_store_is_not_imported_even_from_a_folder_on_the_path(tmp_path, monkeypatch):
    store, run_id = _run(tmp_path / "project" / "data")  # the store: project/data/runs
    journal = _unsave(store, run_id) / JOURNAL_NAME
    head = json.loads(journal.read_bytes().splitlines()[0])
    head.pop("crc")
    head["spec"]["algorithm"] = "data.runs.evil.payload:P"  # a file placed in the store
    journal.write_bytes(encode_line(head).encode())
    (store.path / "evil").mkdir()
    (store.path / "evil" / "payload.py").write_text(textwrap.dedent(POLICY))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))  # the project is on the path; resume runs elsewhere
    monkeypatch.chdir(tmp_path)
    with pytest.raises(sl.ConfigError, match="not an installed package"):
        sl.resume(run_id, store)
    assert not (store.path / "evil" / "payload.py.ran").exists()
