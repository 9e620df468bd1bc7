"""The dashboard page without a browser: what it lists and shows for each kind of run folder,
damage said in one line, journals read on from where it left off, the comparison with its
verdicts; and ``swarmlab dashboard`` serving it on loopback behind a token."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import stop_group

import swarmlab as sl
from swarmlab.events import attempt_row
from swarmlab.store.journal import JOURNAL_NAME, encode_line
from swarmlab.store.runs import RunStore
from swarmlab.ui import dashboard as dash_module
from swarmlab.ui.dashboard import Dashboard, latest_comparison

META = {"run_id": "live", "algorithm": "least_loaded", "mode": "thread", "clock": "real", "n_agents": 2,
        "max_concurrent_tasks": 2, "started_utc": "2030-01-01T00:00:00.000+00:00",
        "limits": {"max_cpu_percent": 80.0, "max_memory_mb": None, "task_timeout": 300, "monitoring_interval": 1.0}}


def _journal(store: Path, run_id: str, *objs, raw: bytes = b"", meta=None) -> Path:
    folder = store / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JOURNAL_NAME
    header = {"type": "header", "run_id": run_id, "meta": dict(meta or META, run_id=run_id),
              "spec": {"name": "io", "n": 3}}
    with open(path, "ab") as f:
        f.write(b"".join(encode_line(o).encode() for o in ((header,) if not path.exists() or not path.stat().st_size
                                                            else ()) + objs) + raw)
    return path


def _task(tid):
    return {"type": "task", "row": [tid, "io", None, [], []]}


def _ev(seq, t, kind, tid=None):
    return {"type": "event", "row": [seq, t, kind, tid, "agent-0", None]}


def _att(tid, t0, t1, status="completed"):
    return {"type": "attempt", "row": list(attempt_row(
        task_id=tid, name=tid, attempt=1, status=status, priority=1, agent_id="agent-0", mode="thread", worker=None,
        submitted_s=0.0, ready_s=0.0, started_s=t0, finished_s=t1, error_type=None, error=None, devices=""))}


def _status(dash: Dashboard) -> dict[str, str]:
    return dict(re.findall(r"data-run='([^']+)' data-status='([^']+)'", dash.table.value))


def _show(dash: Dashboard, run_id: str) -> str:
    dash.picker.value = run_id
    dash.refresh()
    return dash.details.value + dash.counts.value


@pytest.fixture
def store(tmp_path):
    store = tmp_path / "runs"
    wl = sl.workloads.io(20, seed=1)
    RunStore(store).save(sl.simulate(wl.tasks(), wl.agents, seed=1))  # finished and saved
    _journal(store, "live", *(_task(f"t{i}") for i in range(3)), _ev(0, 0.1, "started", "t0"),
             _ev(1, 0.1, "started", "t1"), _att("t0", 0.1, 0.4), _ev(2, 0.4, "completed", "t0"))
    dead = _journal(store, "dead", _task("t0"))
    os.utime(dead, (time.time() - 3600, time.time() - 3600))  # no end, quiet for an hour
    _journal(store, "torn", _task("t0"), raw=b'{"type": "event", "row": [0, 0.1, "sta\xff\n')
    (store / "bad").mkdir()
    (store / "bad" / JOURNAL_NAME).write_bytes(b"\x00\x00\x00\n")
    return store


def test_the_page_lists_running_finished_interrupted_and_unreadable_runs(store):
    dash = Dashboard(store)
    status = _status(dash)
    saved = RunStore(store).list()["run_id"].iloc[0]
    assert status == {"live": "running", "torn": "running", "dead": "interrupted", "bad": "unreadable",
                      saved: "finished"}
    assert list(status)[:2] == ["live", "torn"] or list(status)[:2] == ["torn", "live"]  # running first
    assert "1/3" in dash.table.value and "20/20" in dash.table.value
    assert "the newest run" in dash.picker.options[0][0] and len(dash.picker.options) == 6
    assert dash.message.value == ""


def test_a_run_shows_its_counts_set_up_and_limits_from_its_journal_header(store):
    text = _show(Dashboard(store), "live")
    assert "<b class='ended'>1/3</b>" in text and "<b class='running'>1</b> running" in text
    assert "<b class='waiting'>1</b> waiting" in text
    assert "least_loaded" in text and "cpu &le; 80%" in text and "task timeout 300 s" in text
    assert "workload io &times; 3" in text


def test_damage_is_said_in_one_line_never_a_traceback(store):
    dash = Dashboard(store)
    torn = _show(dash, "torn")
    assert "1 damaged journal line skipped (line 3: <code>" in torn
    assert "Traceback" not in torn and dash.message.value == ""
    assert "swarmlab resume dead" in _show(dash, "dead")
    assert "st-unreadable" in _show(dash, "bad")
    (store / "live" / "meta.json").write_text("{not json")  # a save cut short
    dash.refresh()
    assert "cannot be read: JSONDecodeError" in _show(dash, "live")


def test_the_page_reads_on_from_where_it_left_off(store):
    dash = Dashboard(store)
    path = _journal(store, "live", _att("t1", 0.1, 0.5), _ev(3, 0.5, "completed", "t1"),
                    _ev(4, 0.5, "started", "t2"), _att("t2", 0.5, 0.9, "failed"), _ev(5, 0.9, "failed", "t2"))
    dash.refresh()
    follower = dash.runs["live"].follower
    assert follower.bytes_read == path.stat().st_size  # each byte once, over two looks
    assert "<b class='ended'>3/3</b>" in _show(dash, "live") and "1 failed" in dash.counts.value
    _journal(store, "live", raw=encode_line({"type": "end", "status": "complete"}).encode())
    dash.refresh()
    assert _status(dash)["live"] == "finished"


def test_the_chart_is_drawn_again_only_when_the_run_changed(store, monkeypatch):
    drawn = []
    real = dash_module.figure_png
    monkeypatch.setattr(dash_module, "figure_png", lambda draw, size: drawn.append(1) or real(draw, size))
    dash = Dashboard(store)
    dash.picker.value = "dead"  # interrupted: drawn as soon as it changes
    for _ in range(3):
        dash.refresh()
    assert len(drawn) == 2  # the newest run at first, then "dead" once
    assert dash.chart.value[:4] == b"\x89PNG" and dash.chart.layout.display is None


def _a_png() -> bytes:
    import io

    from matplotlib.figure import Figure

    buf = io.BytesIO()
    Figure(figsize=(1, 1)).savefig(buf, format="png")
    return buf.getvalue()


def test_the_latest_comparison_is_shown_with_its_verdicts(tmp_path):
    store = tmp_path / "runs"
    store.mkdir()
    dash = Dashboard(store)
    assert dash.comparison.value == "" and dash.comparison_png.layout.display == "none"
    rows = [{"algorithm": a, "stealing": False, "mode": "thread", "metric": m, "n": 3, "mean": v, "ci_low": v - 1,
             "ci_high": v + 1, "verdict": f"{a} {m} verdict"} for a, v in (("round_robin", 10.0), ("heft", 12.0))
            for m in ("throughput_tps", "makespan_s")]
    pd.DataFrame(rows).drop(columns="verdict").to_csv(tmp_path / "compare-20300101T000000Z.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "compare-20300102T000000Z.csv", index=False)
    pd.DataFrame({"metric": ["throughput_tps"], "best": ["heft"], "verdict": ["heft is faster"]}).to_csv(
        tmp_path / "compare-20300102T000000Z-verdicts.csv", index=False)
    png = _a_png()
    (tmp_path / "compare-20300102T000000Z.png").write_bytes(png[: len(png) // 2])  # being written
    files = latest_comparison(tmp_path)
    assert files["summary"].name == "compare-20300102T000000Z.csv" and set(files) == {"summary", "verdicts", "png"}
    dash.refresh()
    text = dash.comparison.value
    assert "latest comparison: finished 2030-01-02 00:00:00 UTC (compare-20300102T000000Z)" in text
    assert "12 [11, 13]" in text
    assert "heft is faster" in text  # a verdicts file of another layout: shown as it is
    assert dash.comparison_png.value == b"" and dash.comparison_png.layout.display == "none"  # not whole yet
    (tmp_path / "compare-20300102T000000Z.png").write_bytes(png)
    dash.refresh()
    assert dash.comparison_png.value == png and dash.comparison_png.layout.display is None
    (tmp_path / "compare-20300103T000000Z.csv").write_bytes(b"\xff\x00 not a csv")
    dash.refresh()
    assert "compare-20300103T000000Z.csv cannot be read" in dash.comparison.value


# ------------------------------------------------------------------ the command

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.slow
def test_dashboard_command_serves_the_page_on_loopback_behind_a_token(store, tmp_path):
    pytest.importorskip("voila")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    with open(tmp_path / "dashboard.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "swarmlab", "dashboard", "--store", str(store), "--port",
                                 str(_free_port())], env=env, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
    try:
        line = proc.stdout.readline().decode()  # blocks until Voila listens (or the command fails)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
        assert found, line + (tmp_path / "dashboard.log").read_text()[-3000:]
        assert str(store) in line
        port, token = int(found.group(1)), found.group(2)
        status, _ = _get(port, "/")
        assert status in (302, 401, 403)  # no token: no page
        status, body = _get(port, f"/?token={token}")
        assert status == 200 and b"application/vnd.jupyter.widget-view+json" in body
        listening = [c for c in __import__("psutil").Process(proc.pid).net_connections("tcp")
                     if c.status == "LISTEN" and c.laddr.port == port]
        assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)
    finally:
        stop_group(proc)
    logged = (tmp_path / "dashboard.log").read_text()
    # every address the command or Voilà printed is the working one: none masked ("?token=...")
    urls = re.findall(r"http://\S+", logged + line)
    assert urls and all(u.endswith(f"?token={token}") for u in urls), logged[-3000:]


def test_the_template_notebook_is_shipped_and_skipped_by_the_suite():
    from swarmlab.ui.serve import NOTEBOOK

    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    (cell,) = nb["cells"]
    assert "Dashboard.from_env()" in "".join(cell["source"]) and "nbval-skip" in cell["metadata"]["tags"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_of_100k_tasks_is_caught_up_look_by_look(tmp_path):
    from swarmlab.events import Recorder
    from swarmlab.store.follow import MAX_BYTES
    from swarmlab.store.journal import Journal

    wl = sl.workloads.io(100_000, seed=2)
    rec = sl.simulate(wl.tasks(), wl.agents, seed=2)
    recorder = Recorder(rec.run_id)
    recorder.task_info.extend(rec.rows("task_info"))
    recorder.attempts.extend(rec.rows("attempts"))
    recorder.events.extend(rec.rows("events"))
    journal = Journal(tmp_path / "runs" / rec.run_id, recorder, rec.meta, None)
    journal.flush()  # written, not ended: a run still going
    dash = Dashboard(tmp_path / "runs")
    looks = 1
    while dash.refresh():  # True while a journal has more than one look takes
        looks += 1
    follower = dash.runs[rec.run_id].follower
    size = journal.path.stat().st_size
    assert looks >= size // MAX_BYTES and follower.bytes_read == size  # bounded looks, each byte once
    assert "<b class='ended'>100000/100000</b>" in dash.counts.value
    assert dash.chart.value[:4] == b"\x89PNG"
    journal.close()
    dash.refresh()
    assert _status(dash)[rec.run_id] == "finished" and follower.bytes_read == journal.path.stat().st_size


def test_a_running_baseline_is_called_the_baseline_from_its_journal(tmp_path):
    """Issue 26 item 5: the labels a comparison journals with a run's spec show while it
    runs: a baseline is not listed as the algorithm its one agent runs."""
    store = tmp_path / "runs"
    folder = store / "base"
    folder.mkdir(parents=True)
    labels = {"role": "baseline", "baseline": "sequential", "algorithm": "sequential", "setup": "round_robin",
              "workload": "io"}
    header = {"type": "header", "run_id": "base", "meta": dict(META, run_id="base", algorithm="round_robin"),
              "spec": {"name": "io", "n": 3, "labels": labels}}
    (folder / JOURNAL_NAME).write_bytes(b"".join(encode_line(o).encode() for o in (
        header, _task("t0"), _ev(0, 0.1, "started", "t0"))))
    dash = Dashboard(store)
    dash.refresh()
    assert "sequential baseline" in dash.table.value


def test_a_comparison_shows_its_runs_done_of_planned_while_it_runs_and_its_outputs_once_complete(tmp_path):
    """Issue 26 item 5: from the plan and progress lines in the store."""
    from swarmlab.experiments.comparison import compare
    from swarmlab.store.comparisons import ComparisonFolder

    store = RunStore(tmp_path / "runs")
    going = ComparisonFolder(store.path, "cmp-going")
    going.write_plan({"started_utc": "2030-01-01T00:00:00+00:00", "workload": {"name": "io"},
                      "runs": [{"key": k} for k in ("a", "b", "c", "d")]})
    going.append("done", key="a", run_id=None)
    dash = Dashboard(store.path)

    def row(cid):
        return re.search(rf"<tr data-comparison='{cid}'.*?</tr>", dash.comparisons.value).group(0)

    with going.hold():
        going.append("done", key="b", run_id=None)
        dash.refresh()
        assert "data-status='running'" in row("cmp-going") and ">2/4<" in row("cmp-going")
    dash.refresh()
    assert "data-status='interrupted'" in row("cmp-going")
    assert f"swarmlab resume cmp-going --store {store.path}" in row("cmp-going")
    compare(sl.workloads.io(n=4), algorithms=["round_robin"], modes=[], simulate=True, repeats=1, store=store,
            out=tmp_path, comparison_id="cmp-done")
    dash.refresh()
    done = row("cmp-done")
    assert "data-status='complete'" in done and ">3/3<" in done
    assert "outputs: " in done and re.search(r"compare-\w+-runs\.csv", done) and ".png" in done
