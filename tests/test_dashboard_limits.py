"""The dashboard shows a run's limits: units in use and tasks held back, live from its
journal or from a saved run (issue 24, item 10)."""

import html
import re

from test_dashboard import META, _att, _ev, _journal, _task

from swarmlab import simulate
from swarmlab.model import Agent, ResourceLimits, Task
from swarmlab.store.runs import RunStore
from swarmlab.ui.dashboard import Dashboard


def _cells(table_html: str) -> list[list[str]]:
    body = table_html.split("<tbody>")[1].split("</tbody>")[0]
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in body.split("</tr>")[:-1]]


def test_a_live_run_with_a_pool_shows_the_tasks_held_back_for_it(tmp_path):
    store = tmp_path / "runs"
    meta = dict(META, limits=dict(META["limits"], pools={"llm": 1}, rates={}))
    held = {"type": "event", "row": [2, 0.1, "held", "t1", "agent-1", "llm"]}
    _journal(store, "live", *(_task(f"t{i}") for i in range(3)), _ev(0, 0.1, "started", "t0"), held,
             {"type": "event", "row": [3, 0.2, "held", "t2", "agent-0", "llm"]}, _ev(4, 0.5, "started", "t2"),
             _att("t0", 0.1, 0.5), _ev(5, 0.5, "completed", "t0"), meta=meta)
    dash = Dashboard(store)
    dash.picker.value = "live"
    dash.refresh()
    # t1 still waits (0.4 s so far), t2 waited 0.3 s and started; the journal's task rows
    # do not say what each task needs, so the units in use are not known from it
    assert _cells(dash.resources.value) == [["pool llm", "1", "0", "0", "1", "0.7", "0"]]


def test_a_saved_run_with_a_pool_shows_its_resource_table_and_one_without_shows_none(tmp_path):
    store = RunStore(tmp_path / "runs")
    tasks = [Task(None, estimate_s=1.0, resources={"llm": 1}) for _ in range(4)]
    rec = simulate(tasks, [Agent("a"), Agent("b")], limits=ResourceLimits(pools={"llm": 1}))
    store.save(rec)
    dash = Dashboard(store.path)
    held_s = rec.meta["resources"]["held_s"]["llm"]  # the dispatcher's own count of the waits
    assert held_s > 0
    assert _cells(dash.resources.value) == [["pool llm", "1", "0", "0", "0", f"{held_s:.3g}", "4"]]
    plain = RunStore(tmp_path / "plain")
    plain.save(simulate([Task(None, estimate_s=1.0)], [Agent("a")]))
    assert Dashboard(plain.path).resources.value == ""
