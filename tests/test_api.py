"""The package surface: a curated ``__all__``, light import, import layers, sync facade."""

import ast
import asyncio
import importlib
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import swarmlab
from swarmlab import ParallelExecutor, Task

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
HEAVY = ("pandas", "matplotlib", "ipywidgets", "distributed")


def _modules() -> dict[str, Path]:
    """Every module of the package, by name, from its files (not from what an installed
    copy elsewhere might offer to the import system)."""
    out = {"swarmlab": ROOT / "swarmlab" / "__init__.py"}
    for path in sorted((ROOT / "swarmlab").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _fresh(code: str) -> str:
    """What ``code`` prints in a new interpreter (this one has imported everything)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_does_not_pull_heavy_packages():
    heavy = f"[m for m in {HEAVY!r} if m in sys.modules]"
    assert _fresh(f"import sys, swarmlab; print({heavy})") == "[]"
    # the lazy parts: plots draws with matplotlib only when asked; compare needs pandas only
    assert _fresh(f"import sys, swarmlab; swarmlab.plots.gantt; print({heavy})") == "[]"
    assert _fresh(f"import sys, swarmlab; swarmlab.compare; print({heavy})") == "['pandas']"


def test_all_is_sorted_and_every_name_in_it_is_importable():
    names = swarmlab.__all__
    assert names == sorted(set(names))
    for name in names:
        assert getattr(swarmlab, name) is not None, name
    assert set(names) <= set(dir(swarmlab))
    star = _fresh("ns = {}; exec('from swarmlab import *', ns); import swarmlab; "
                  "print(sorted(n for n in ns if not n.startswith('__')) == sorted(swarmlab.__all__))")
    assert star == "True"


def _readme_public_names() -> list[str]:
    """The names each bullet of README's "Public names" opens with (before its colon)."""
    section = README.split("\n## Public names\n", 1)[1].split("\n## ", 1)[0]
    heads = [line[2:].split(": ", 1)[0] for line in section.splitlines() if line.startswith("- ")]
    return [n for head in heads for n in re.findall(r"`([A-Za-z_]+)`", head)]


def _readme_code() -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", README, flags=re.S))


def test_all_is_what_the_readme_documents():
    listed = _readme_public_names()
    assert len(listed) == len(set(listed)) and set(listed) == set(swarmlab.__all__)
    code = _readme_code()
    imported = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module == "swarmlab":
            imported |= {a.name for a in node.names}
    assert imported and imported <= set(swarmlab.__all__)
    # every swarmlab.NAME the README writes (code or text) is public or a module of swarmlab
    for name in set(re.findall(r"\bswarmlab\.([A-Za-z_]+)", README)) - {"__all__"}:
        assert name in swarmlab.__all__ or f"swarmlab.{name}" in MODULES, name
    for dotted in set(re.findall(r"\bswarmlab\.([a-z_]+\.[A-Za-z_]+)\b", README)):
        module, attr = dotted.split(".")
        target = getattr(swarmlab, module, None)  # a submodule not imported yet is looked up below
        if not isinstance(target, types.ModuleType):
            target = importlib.import_module(f"swarmlab.{module}")
        assert hasattr(target, attr) or f"swarmlab.{dotted}" in MODULES, dotted


def test_no_public_name_shadows_a_module():
    for name in swarmlab.__all__:
        obj = getattr(swarmlab, name)
        if isinstance(obj, types.ModuleType):  # a module of a layer, public under a short name
            assert obj.__name__ in MODULES and obj.__name__.endswith(f".{name}")
            assert f"swarmlab.{name}" not in MODULES or obj.__name__ == f"swarmlab.{name}"
        else:
            assert f"swarmlab.{name}" not in MODULES, f"swarmlab.{name} names a module and {obj!r}"
    # importing the modules behind the functions leaves the functions in place
    out = _fresh("import swarmlab.experiments.comparison, swarmlab.virtual.simulation, swarmlab.virtual.replays, swarmlab.experiments.recovery, swarmlab; "
                 "print([callable(getattr(swarmlab, n)) for n in ('compare', 'simulate', 'replay', 'resume')])")
    assert out == "[True, True, True, True]"


def test_compare_and_simulate_are_the_functions_and_the_duration_models_are_reachable():
    from swarmlab import durations
    from swarmlab.experiments import comparison

    assert swarmlab.compare is comparison.compare and callable(swarmlab.simulate)
    assert swarmlab.durations is durations and callable(swarmlab.durations.lognormal(0.25))
    rec = swarmlab.simulate([Task(None, estimate_s=1.0)], durations=swarmlab.durations.pareto(2.0))
    assert rec.final()["status"].tolist() == ["completed"]
    result = swarmlab.compare(swarmlab.workloads.io(8, seed=0), algorithms=["round_robin"], repeats=1, simulate=True)
    assert set(result.summary["algorithm"]) >= {"round_robin"}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        swarmlab.nothing


# ---------------------------------------------------------------- import layers

#: The layers of the design (DESIGN.md), lowest first: a module may import its own layer
#: and those below, never above. Packages stand for their modules.
LAYERS = (
    ("errors", "checks", "model", "portal"),  # plain data, its validators and the sync facade: stdlib only
    ("events",),  # the recorder: each row's fields, defined once
    ("scheduling", "store", "scope", "percall"),  # store: records and storage, which depend on events only;
    # scope: the attempt a body runs in (report() checks names against the tasks frame's columns);
    # percall: acquire() and call(), which reach the dispatcher through the scope's channel
    ("analysis",),  # frames -> figures, statistics, learned durations, plots
    ("core",),  # the clock-free dispatcher, task state, pool changes, admission
    ("backends",),  # where bodies run, reached through the Host protocol
    ("realtime", "virtual"),  # the two clocks that drive the core
    ("orchestration",),
    ("workloads",),  # recipes build suites on orchestration's agents
    ("experiments",),  # comparisons, set-ups, resume: they run the drivers
    ("ui", "__main__", ""),  # "" is swarmlab/__init__.py
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
STDLIB_ONLY = ("errors", "checks", "model", "portal", "events")
#: The one module of scheduling and the core that reads a clock: TaskScheduler's offline
#: plan (``schedule_tasks``) drives the policy itself, with no executor around it, and
#: times each decision for its ``get_metrics().scheduling_time``.
CLOCKED = {("time", "swarmlab.scheduling.scheduler")}




def _imports(name: str, path: Path):
    """(imported module, at module level?) for every import outside ``if TYPE_CHECKING:``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module
            for a in node.names:
                sub = f"{base}.{a.name}"
                yield (sub if sub in MODULES else base), id(node) in top


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    assert part in LAYER, f"{module} has no place in LAYERS: add it where the design puts it"
    return LAYER[part]


def test_import_layers_follow_the_design():
    upward, heavy = [], []
    for name, path in MODULES.items():
        for target, at_top in _imports(name, path):
            top = target.split(".")[0]
            if top == "swarmlab":
                if _layer(target) > _layer(name):
                    upward.append(f"{name} -> {target}")
            elif at_top and top not in sys.stdlib_module_names and _layer(name) == 0 or (
                    at_top and top not in sys.stdlib_module_names and name.split(".")[-1] in STDLIB_ONLY):
                heavy.append(f"{name} -> {target}")
            if top == "ipywidgets" and not name.startswith("swarmlab.ui.widgets"):
                heavy.append(f"{name} -> ipywidgets (only swarmlab.ui.widgets may)")
            if top in ("asyncio", "pandas", "time") and name.startswith(("swarmlab.scheduling", "swarmlab.core")) \
                    and (top, name) not in CLOCKED:
                heavy.append(f"{name} -> {top} (scheduling and the core have no asyncio, no pandas, no clock)")
            if name == "swarmlab.store.records" and top == "swarmlab" and target != "swarmlab.events":
                heavy.append(f"{name} -> {target} (records and storage depend on events only)")
    assert upward == [] and heavy == []




def test_no_import_cycle_even_through_lazy_imports():
    graph = {name: {t for t, _ in _imports(name, path) if t in MODULES and t != name} for name, path in MODULES.items()}
    # a package's __init__ re-exports its modules: importing a module of a package runs it
    # first, so that edge is the import system's, not a cycle of ours
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


# ---------------------------------------------------------------- module boundaries

#: Underscore names the standard library documents as public: namedtuple's methods, os._exit.
PUBLIC_UNDERSCORED = frozenset({"_replace", "_asdict", "_fields", "_field_defaults", "_make", "_exit"})
#: Private names of the standard library that swarmlab reaches on purpose, each in one
#: named helper that says why: multiprocessing's resource tracker, which has no public way
#: to be stopped (``backends/dask.py``).
STDLIB_PRIVATE = frozenset({"_resource_tracker"})


def _own_names(tree: ast.Module) -> set[str]:
    """Every name a module defines: functions, classes, assigned names and attributes,
    parameters, imported names and slots."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            own.add(node.attr)
        elif isinstance(node, ast.arg):
            own.add(node.arg)
        elif isinstance(node, ast.alias):
            own.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets):
            own |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return own


def _private_crossings(source: str) -> list[str]:
    """``from x import _y`` from another swarmlab module (a private module too), and any
    ``obj._attr`` (``self._attr`` included) whose ``_attr`` this module does not define."""
    tree = ast.parse(source)
    own, found = _own_names(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("swarmlab")):
            found += [f"from {'.' * node.level}{node.module or ''} import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and node.attr not in own and node.attr not in PUBLIC_UNDERSCORED | STDLIB_PRIVATE:
            found.append(ast.unparse(node))
    return found


def test_the_private_crossing_check_sees_each_kind():
    cases = {
        "from .model import _seed": 1,  # a private name of another module
        "from . import _worker": 1,  # a private module
        "def f(ex):\n    return ex._d": 1,  # another object's private attribute
        "class A(Base):\n    def f(self):\n        return self._by_seq": 1,  # inherited from another module
        "class A:\n    def __init__(self):\n        self._n = 0\n    def f(self, other):\n"
        "        return self._n + other._n": 0,  # defined here: the module's own
        "def f(row):\n    return row._replace(a=1)": 0,  # namedtuple's public method
    }
    for code, n in cases.items():
        assert len(_private_crossings(code)) == n, code


def test_no_private_name_crosses_a_module_boundary():
    crossings = [f"{name}: {c}" for name, path in MODULES.items() for c in _private_crossings(path.read_text())]
    assert crossings == []


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


def test_run_without_a_loop():
    assert swarmlab.run(double(21)) == 42


def test_run_inside_a_running_loop_uses_its_own_thread():
    async def cell():  # like a notebook cell: the kernel's loop is running
        return swarmlab.run(double(4))

    assert asyncio.run(cell()) == 8


def test_run_rejects_non_coroutines():
    with pytest.raises(TypeError, match="takes a coroutine"):
        swarmlab.run(double)


def test_submit_before_start_is_refused():
    async def main():
        ex = ParallelExecutor(mode="thread")
        with pytest.raises(swarmlab.ExecutorClosedError, match="not started"):
            await ex.submit_task(Task(pow, (2, 2)))

    asyncio.run(main())


def test_simulated_task_cannot_run_for_real_and_asyncio_needs_coroutines():
    async def main():
        async with ParallelExecutor(mode="asyncio") as ex:
            with pytest.raises(swarmlab.ConfigError, match="can only be simulated"):
                await ex.submit_task(Task(None, estimate_s=1))
            with pytest.raises(swarmlab.ConfigError, match="ASYNCIO mode runs coroutine functions"):
                await ex.submit_task(Task(pow, (2, 2)))
            with pytest.raises(swarmlab.ConfigError, match="priority must be an int"):
                await ex.submit_task(Task(double, (1,)), priority=42)
        assert ex.get_queue_size() == 0 and await ex.get_all_results() == {}

    asyncio.run(main())
