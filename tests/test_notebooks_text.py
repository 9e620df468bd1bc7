"""The notebooks' words agree with their saved outputs (issue 28).

Where a sentence names a winner or quotes a number, the notebook computes it and prints it
beside the figures it comes from; these tests read the executed notebooks as committed
(their outputs are what a reader sees, and what nbval checks against a fresh run) and check
each such sentence against those figures, and the words around them against the outputs.
"""

import re
from pathlib import Path

import nbformat
import pytest

import swarmlab as sl

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def _cells(name: str) -> list:
    return nbformat.read(NOTEBOOKS / name, as_version=4).cells


def _out(cells: list, marker: str) -> str:
    """The stdout of the one code cell whose source holds ``marker``."""
    hits = [c for c in cells if c.cell_type == "code" and marker in c.source]
    assert len(hits) == 1, f"{len(hits)} code cells hold {marker!r}"
    return "".join(o.get("text", "") for o in hits[0].outputs if o.output_type == "stream" and o.name == "stdout")


def _words(cells: list) -> str:
    return "\n".join(c.source for c in cells if c.cell_type == "markdown")


def _table(text: str) -> dict[str, float]:
    """algorithm -> makespan_s of a printed summary table (header line first)."""
    lines = text.strip().splitlines()
    head = lines[0].split()
    col = head.index("makespan_s")
    return {row.split()[0]: float(row.split()[col]) for row in lines[1:]}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_saved_output_is_an_error_or_a_traceback_and_no_marker_shows(path):
    cells = nbformat.read(path, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        for o in c.outputs:
            assert o.output_type != "error", (path.name, c.source[:60], o.get("ename"))
            if o.output_type == "stream" and o.name == "stderr":
                assert "Traceback" not in o.text, (path.name, c.source[:60], o.text[-500:])
        assert "NBVAL" not in c.source, (path.name, c.source[:60])  # a cell tag, out of the reader's way
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in code), path.name


def test_notebook_05_names_the_lowest_makespan_of_its_tables():
    cells = _cells("05_simulation.ipynb")
    text = _out(cells, 'print("with work stealing added:")')
    alone, rest = text.split("with work stealing added:\n")
    added, sentence = rest.rsplit("\n", 2)[0], rest.strip().splitlines()[-1]
    makespans = _table(alone) | {f"{a} + stealing": m for a, m in _table(added).items()}
    lowest = min(makespans.values())
    winners = [a for a, m in makespans.items() if m == lowest]
    runner_up = min((m, a) for a, m in makespans.items() if m > lowest)
    assert sentence == (f"lowest makespan: {' and '.join(winners)}, {lowest:.3f} s; next: {runner_up[1]}, "
                        f"{runner_up[0]:.3f} s ({runner_up[0] / lowest - 1:.1%} longer)")
    assert "wins" not in _words(cells)  # the words name no winner: the printed line does


def test_notebook_05_prints_each_wall_time_next_to_its_makespan():
    cells = _cells("05_simulation.ipynb")
    assert "the wall time of each simulation is printed next to its virtual makespan" in _words(cells)
    lines = [x for x in _out(cells, "simulated in {wall:.1f} s wall").splitlines() if "wall" in x]
    table = _table(_out(cells, 'summary(big)[["algorithm", "tasks"'))
    assert len(lines) == len(table) == 3
    for line in lines:
        alg, makespan = re.match(r"(\w+) +[\d,]+ tasks, virtual makespan ([\d,.]+) s, simulated in [\d.]+ s wall",
                                 line).groups()
        assert float(makespan.replace(",", "")) == pytest.approx(table[alg], abs=5e-4)


def test_notebook_08_names_the_shortest_replay_and_only_heft_looks_at_the_graph():
    cells = _cells("08_workflows.ipynb")
    text = _out(cells, 'print("shortest replay:"')
    spans = {a: float(m.replace(",", "")) for a, m in re.findall(r"^ *(\w+): makespan +([\d,]+) s", text, re.M)}
    assert sorted(spans) == sorted(a.value for a in sl.SchedulingAlgorithm)
    named, quoted = re.search(r"^shortest replay: (.+) \(([\d,]+) s\)$", text, re.M).groups()
    assert float(quoted.replace(",", "")) == min(spans.values())
    assert {a for a in named.split(" and ")} <= {a for a, m in spans.items() if m == min(spans.values())}
    words = _words(cells)
    assert "None of the placement algorithms" not in words and "Only HEFT looks at the graph" in words
    # "the projections (1,263 s each)": the first task read back is a projection, with its runtime
    projection = float(re.search(r"'mProject' estimate_s=([\d.]+)", _out(cells, "wl = from_wfformat(path)")).group(1))
    assert f"the projections ({projection:,.0f} s each)" in words


def test_notebook_03_plots_its_limits_and_says_what_its_bounds_show():
    cells = _cells("03_resource_limits.ipynb")
    words = _words(cells)
    plot = next(c for c in cells if c.cell_type == "code" and "plots.resources(" in c.source)
    assert 'limits=rec.meta["limits"]' in plot.source and "the dotted line is the CPU limit" in words
    bound, makespan = map(float, re.search(r"bound by rate rpm \(30 per 60 s\): ([\d.]+) s; makespan ([\d.]+) s",
                                           _out(cells, "bound = name_bound(limited)")).groups())
    assert "this one ends one call (1 s) after it" in words and makespan - bound == pytest.approx(1.0)
    assert "the pool of 2 binds instead" in words
    assert _out(cells, "faster = sl.simulate").startswith("bound by pool llm (2 units)")
    assert "every set-up is bound by rate rpm" in _out(cells, "print(result.bound_note())")


def test_notebook_07_closes_its_client_before_its_cluster_and_takes_no_fixed_port():
    cells = _cells("07_dask.ipynb")
    code = [c for c in cells if c.cell_type == "code"]
    assert "client = Client(cluster)" in code[0].source and 'dashboard_address=":0"' in code[0].source
    last = [line for line in code[-1].source.splitlines() if not line.startswith("#")]
    assert [line.split("#")[0].strip() for line in last] == ["client.close()", "cluster.close()"]
    assert not any(o.output_type == "stream" and o.name == "stderr" for c in code for o in c.outputs)


def test_the_notebooks_readme_counts_and_lists_the_algorithms():
    readme = (NOTEBOOKS / "README.md").read_text()
    algorithms = [a.value for a in sl.SchedulingAlgorithm]
    line = next(x for x in readme.split("\n- ") if x.startswith("`02_compare_algorithms.ipynb`"))
    assert len(algorithms) == 7 and "the seven algorithms" in line
    assert all(f"`{a}`" in line for a in algorithms)
