"""WfFormat (WfCommons) workflow instances: read them as workloads, or generate small ones.

A WfFormat instance (https://github.com/wfcommons/WfFormat, versions 1.4 to 1.6) describes
a workflow in ``workflow.specification`` (tasks with ``parents`` and ``children``, files)
and, when it was run, what was measured in ``workflow.execution`` (each task's
``runtimeInSeconds``, cores, memory, bytes read and written, the machines, the makespan).
:func:`from_wfformat` turns one into a :class:`~swarmlab.workloads.Workload` of simulated
tasks; :func:`wfformat_instance` writes instances of known shapes (chains, fork-joins,
diamonds, a montage-like pipeline) for tests, benchmarks and notebooks;
:func:`wfformat_runtimes` rewrites an instance's runtimes to follow its tasks' input sizes,
or to have nothing to do with them (the two kinds of trace a duration model meets).
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import positive_int
from ..core.runinfo import MAX_DEFAULT_AGENTS
from ..errors import ConfigError, DependencyCycleError
from ..model import Agent, Task, agent_list
from ..scheduling.dag import critical_path, find_cycle
from .recipes import Workload

__all__ = ["from_wfformat", "wfformat_instance", "wfformat_runtimes", "SUPPORTED_VERSIONS", "DEFAULT_AGENTS",
           "SHAPES", "RUNTIME_LAWS"]

#: The WfFormat versions read. 1.4 split a workflow into ``specification`` and
#: ``execution``; 1.5 and 1.6 only added optional fields (1.6 writes what wfcommons 1.6 makes).
SUPPORTED_VERSIONS = ("1.4", "1.5", "1.6")
#: Agents of an instance that lists no machines (a synthetic one): the issue's comparison
#: setting, 16 identical agents.
DEFAULT_AGENTS = 16

# execution.tasks[] field -> the name of the fact in Workload.task_meta
_FACTS = (("coreCount", "cores"), ("memoryInBytes", "memory_bytes"), ("readBytes", "read_bytes"),
          ("writtenBytes", "written_bytes"), ("avgCPU", "avg_cpu_pct"), ("energyInKWh", "energy_kwh"),
          ("avgPowerInW", "avg_power_w"), ("priority", "priority"))


def _fail(what: str) -> ConfigError:
    return ConfigError(f"{what}; swarmlab reads WfFormat instances of version "
                       f"{', '.join(SUPPORTED_VERSIONS)} (WfCommons' JSON)")


def _load(source: Any) -> Mapping:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, (str, os.PathLike)):
        if os.path.isdir(source):
            raise ConfigError(f"{os.fspath(source)!r} is a folder; give the path of one instance's JSON file")
        try:
            with open(source, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise ConfigError(f"no WfFormat file at {os.fspath(source)!r}; give the path of an instance's JSON "
                              "or the parsed dict") from None
        except OSError as e:
            raise ConfigError(f"cannot read a WfFormat file at {os.fspath(source)!r} ({e.strerror or e}); give "
                              "the path of an instance's JSON or the parsed dict") from None
        except RecursionError:
            raise _fail(f"{os.fspath(source)!r} nests its JSON too deeply to be an instance") from None
        except ValueError as e:
            raise _fail(f"{os.fspath(source)!r} is not JSON ({e})") from None
        if not isinstance(doc, Mapping):
            raise _fail(f"{os.fspath(source)!r} holds a JSON {type(doc).__name__}, not an instance object")
        return doc
    raise ConfigError(f"from_wfformat takes a path or a parsed dict; got {type(source).__name__} {source!r}")


def _number(value: Any, what: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number; got {value!r}")
    return float(value)


def _spec_tasks(doc: Mapping) -> list[Mapping]:
    wf = doc.get("workflow")
    spec = wf.get("specification") if isinstance(wf, Mapping) else None
    tasks = spec.get("tasks") if isinstance(spec, Mapping) else None
    version = doc.get("schemaVersion")
    if not isinstance(tasks, list) or not tasks:
        older = isinstance(wf, Mapping) and ("tasks" in wf or "jobs" in wf)
        hint = (f" (it looks like WfFormat {version or '< 1.4'}, with workflow.tasks: migrate it with "
                "WfFormat's migration tool)") if older else ""
        raise _fail(f"not a WfFormat instance: it has no workflow.specification.tasks{hint}")
    if version not in SUPPORTED_VERSIONS:
        raise _fail(f"WfFormat schemaVersion {version!r} is not read here")
    return tasks


def _spec(tasks: list[Mapping]) -> tuple[list[str], dict[str, Mapping]]:
    ids: list[str] = []
    by_id: dict[str, Mapping] = {}
    for i, t in enumerate(tasks):
        tid = t.get("id") if isinstance(t, Mapping) else None
        if not isinstance(tid, str) or not tid:
            raise ConfigError(f"workflow.specification.tasks[{i}] has no id (a non-empty string); got {t!r}")
        if tid in by_id:
            raise ConfigError(f"task {tid!r} appears twice in workflow.specification.tasks; task ids must be unique")
        parents = t.get("parents", [])
        if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
            raise ConfigError(f"task {tid!r} has parents {parents!r}; give a list of task ids")
        ids.append(tid)
        by_id[tid] = t
    for tid in ids:
        for p in by_id[tid].get("parents", []):
            if p not in by_id:
                raise ConfigError(f"task {tid!r} lists the parent {p!r}, which is not a task of the instance; "
                                  "fix its parents or add that task")
    cycle = find_cycle({tid: list(by_id[tid].get("parents", [])) for tid in ids})
    if cycle is not None:
        raise DependencyCycleError(cycle)
    return ids, by_id


def _execution(doc: Mapping, by_id: Mapping[str, Mapping]) -> tuple[Mapping, dict[str, Mapping]]:
    ex = doc["workflow"].get("execution") or {}
    if not isinstance(ex, Mapping):
        raise _fail(f"workflow.execution must be an object; got {type(ex).__name__}")
    runs: dict[str, Mapping] = {}
    for i, t in enumerate(ex.get("tasks") or []):
        tid = t.get("id") if isinstance(t, Mapping) else None
        if tid not in by_id:
            raise ConfigError(f"workflow.execution.tasks[{i}] is task {tid!r}, which workflow.specification "
                              "does not list; every executed task must be specified")
        rt = _number(t.get("runtimeInSeconds"), f"task {tid!r}'s runtimeInSeconds")
        if rt is not None and rt < 0:
            raise ConfigError(f"task {tid!r} has runtimeInSeconds {t['runtimeInSeconds']!r}; a runtime is a "
                              "number of seconds >= 0: fix the trace")
        runs[tid] = t
    return ex, runs


def _facts(spec: Mapping, run: Mapping | None, sizes: Mapping[str, int]) -> dict[str, Any]:
    facts: dict[str, Any] = {"category": spec.get("name") or spec["id"]}
    if run is not None:
        cmd = run.get("command")
        if isinstance(cmd, Mapping) and cmd.get("program"):
            facts["program"] = cmd["program"]
        for src, dst in _FACTS:
            if isinstance(run.get(src), (int, float)) and not isinstance(run.get(src), bool):
                facts[dst] = run[src]
        if run.get("machines"):
            if not isinstance(run["machines"], list):
                raise ConfigError(f"task {spec['id']!r} has machines {run['machines']!r}; give a list of "
                                  "machine names")
            facts["machines"] = list(run["machines"])
        if run.get("runtimeInSeconds") is not None:
            facts["runtime_s"] = float(run["runtimeInSeconds"])
    for key, field in (("input_bytes", "inputFiles"), ("output_bytes", "outputFiles")):
        names = spec.get(field)
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise ConfigError(f"task {spec['id']!r} has {field} {names!r}; give a list of file ids")
        if names and sizes:
            facts[key] = sum(sizes.get(n, 0) for n in names)
    return facts


def _machine_agents(machines: Any) -> list[Agent]:
    if machines is None or machines == []:
        return [Agent(f"agent-{i}") for i in range(DEFAULT_AGENTS)]
    if not isinstance(machines, list):
        raise _fail(f"workflow.execution.machines must be a list of machines; got {machines!r}")
    mhz: list[float | None] = []
    for i, m in enumerate(machines):
        if not isinstance(m, Mapping) or not isinstance(m.get("nodeName"), str) or not m["nodeName"]:
            raise ConfigError(f"workflow.execution.machines[{i}] has no nodeName; got {m!r}")
        cpu = m.get("cpu") or {}
        if not isinstance(cpu, Mapping):
            raise ConfigError(f"machine {m['nodeName']!r} has cpu {cpu!r}; give an object (coreCount, speedInMHz)")
        mhz.append(_number(cpu.get("speedInMHz"), f"machine {m['nodeName']!r}'s cpu.speedInMHz"))
    fastest = max((s for s in mhz if s is not None and s > 0), default=None)
    agents = []
    for m, s in zip(machines, mhz):
        cores = (m.get("cpu") or {}).get("coreCount", 1)
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise ConfigError(f"machine {m['nodeName']!r} has cpu.coreCount {cores!r}; give an int >= 1")
        if len(agents) + cores > MAX_DEFAULT_AGENTS:
            raise ConfigError(f"the machines of this instance hold more than {MAX_DEFAULT_AGENTS:,} cores "
                              f"(machine {m['nodeName']!r} has {cores:,}), one agent each; give "
                              "from_wfformat(..., agents=N) for a pool of N agents")
        speed = s / fastest if s is not None and s > 0 and fastest else 1.0
        agents += [Agent(f"{m['nodeName']}/{c}", speed=speed) for c in range(cores)]
    return agents


def _file_sizes(files: Any) -> dict[str, float]:
    """File id -> ``sizeInBytes`` (0 when not given) of ``workflow.specification.files``."""
    if not isinstance(files, list):
        raise _fail(f"workflow.specification.files must be a list of files; got {files!r}")
    sizes: dict[str, float] = {}
    for i, f in enumerate(files):
        fid = f.get("id") if isinstance(f, Mapping) else None
        if not isinstance(fid, str) or not fid:
            raise ConfigError(f"workflow.specification.files[{i}] has no id (a non-empty string); got {f!r}")
        size = f.get("sizeInBytes", 0)
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 <= size < math.inf:
            raise ConfigError(f"file {fid!r} has sizeInBytes {size!r}; give a number of bytes >= 0")
        sizes[fid] = size
    return sizes


def _agents(agents: Any, machines: Any) -> list[Agent]:
    if agents is None:
        return _machine_agents(machines)
    if isinstance(agents, int) and not isinstance(agents, bool):
        if agents < 1:
            raise ConfigError(f"from_wfformat agents must be a positive int or Agent objects; got {agents!r}")
        return [Agent(f"agent-{i}") for i in range(agents)]
    return agent_list(agents, "from_wfformat agents")


def from_wfformat(source: str | os.PathLike | Mapping, *, agents: int | Sequence[Agent] | None = None) -> Workload:
    """A WfFormat 1.4-1.6 instance as a workload of simulated tasks.

    Every task of ``workflow.specification.tasks`` becomes a ``Task(None, id=..., name=...)``
    depending on its ``parents``, with ``estimate_s`` its ``runtimeInSeconds`` from
    ``workflow.execution.tasks`` (None where the instance has no execution for it: then
    simulate it with ``durations=`` or ``estimator=``).

    Parameters
    ----------
    source : path or dict
        The instance's JSON file, or the instance already parsed.
    agents : int or sequence of Agent, optional
        The pool. Default: one agent per core of ``workflow.execution.machines``
        (``"<nodeName>/<core>"``), each with the speed of its machine's ``speedInMHz``
        relative to the fastest (1 where it is not given); an instance that lists no
        machines gets :data:`DEFAULT_AGENTS` identical agents. An int: that many
        identical agents.

    Returns
    -------
    Workload
        ``meta`` holds the instance's name, schema version, ``recorded_makespan_s`` (the
        trace's ``makespanInSeconds``; None when it records none, as synthetic instances
        do with 0), ``executed_at``, ``runtime_system``, ``sum_runtime_s`` and
        ``critical_path_s``. ``task_meta`` maps each task id to the trace's other facts
        about it: ``category`` (its name), ``program``, ``cores``, ``memory_bytes``,
        ``read_bytes``, ``written_bytes``, ``input_bytes`` and ``output_bytes`` (its
        files' sizes), ``avg_cpu_pct``, ``machines``, ``runtime_s``, where given.

    Raises
    ------
    ConfigError
        Not a WfFormat 1.4-1.6 instance, a parent that is not a task, a negative runtime
        (each naming the task).
    DependencyCycleError
        The parents form a cycle (naming its tasks).

    Examples
    --------
    >>> wl = from_wfformat(wfformat_instance("chain", 3, jitter=0.0, size_spread=0.0))
    >>> [(t.id, t.dependencies) for t in wl.tasks()]
    [('step_1', ()), ('step_2', ('step_1',)), ('step_3', ('step_2',))]
    """
    doc = _load(source)
    ids, by_id = _spec(_spec_tasks(doc))
    ex, runs = _execution(doc, by_id)
    sizes = _file_sizes(doc["workflow"]["specification"].get("files") or [])
    pool = _agents(agents, ex.get("machines"))
    runtime = {tid: (float(runs[tid]["runtimeInSeconds"]) if tid in runs and runs[tid].get("runtimeInSeconds")
                     is not None else None) for tid in ids}
    task_meta = {tid: _facts(by_id[tid], runs.get(tid), sizes) for tid in ids}
    known = {tid: r for tid, r in runtime.items() if r is not None}
    recorded = _number(ex.get("makespanInSeconds"), "workflow.execution.makespanInSeconds")
    rs = doc.get("runtimeSystem") if isinstance(doc.get("runtimeSystem"), Mapping) else {}
    meta = {
        "format": "wfformat", "instance": doc.get("name"), "schema_version": doc.get("schemaVersion"),
        "recorded_makespan_s": recorded if recorded is not None and recorded > 0 else None,
        "executed_at": ex.get("executedAt"),
        "runtime_system": " ".join(str(rs[k]) for k in ("name", "version") if rs.get(k)) or None,
        "n_machines": len(ex.get("machines") or []),
        "sum_runtime_s": float(sum(known.values())),
        "critical_path_s": critical_path(known, {tid: by_id[tid].get("parents", []) for tid in ids}),
    }

    def build(style: str) -> list[Task]:
        return [Task(None, id=tid, name=by_id[tid].get("name") or tid, estimate_s=runtime[tid],
                     dependencies=tuple(by_id[tid].get("parents", ()))) for tid in ids]

    return Workload(str(doc.get("name") or "wfformat"), len(ids), 0, pool, build, meta=meta, task_meta=task_meta)


# ---------------------------------------------------------------- generated instances

#: Category -> nominal runtime (s) of the montage-like pipeline (shaped after Montage:
#: wide projections and background corrections around a narrow fitting stage).
_MONTAGE_S = {"project": 60.0, "diff_fit": 8.0, "concat_fit": 20.0, "bg_model": 30.0,
              "background": 12.0, "img_table": 3.0, "add": 40.0, "viewer": 10.0}
SHAPES = ("chain", "fork_join", "diamonds", "montage_like")


def _shape(shape: str, n: int) -> list[tuple[str, str, list[str], float]]:
    """(id, category, parents, nominal runtime) for about ``n`` tasks of ``shape``."""
    out: list[tuple[str, str, list[str], float]] = []

    def add(cat: str, parents: list[str], base: float) -> str:
        tid = f"{cat}_{len(out) + 1}"
        out.append((tid, cat, parents, base))
        return tid

    if shape == "chain":
        prev: list[str] = []
        for _ in range(n):
            prev = [add("step", prev, 10.0)]
    elif shape == "fork_join":
        src = add("split", [], 5.0)
        work = [add("work", [src], 30.0) for _ in range(max(1, n - 2))]
        add("merge", work, 5.0)
    elif shape == "diamonds":
        prev = []
        for _ in range(max(1, n // 4)):
            top = add("top", prev, 4.0)
            sides = [add("left", [top], 12.0), add("right", [top], 6.0)]
            prev = [add("bottom", sides, 4.0)]
    elif shape == "montage_like":
        w = max(2, (n - 5) // 3)
        proj = [add("project", [], _MONTAGE_S["project"]) for _ in range(w)]
        fits = [add("diff_fit", [proj[i], proj[i + 1]], _MONTAGE_S["diff_fit"]) for i in range(w - 1)]
        concat = add("concat_fit", fits, _MONTAGE_S["concat_fit"])
        model = add("bg_model", [concat], _MONTAGE_S["bg_model"])
        bgs = [add("background", [p, model], _MONTAGE_S["background"]) for p in proj]
        table = add("img_table", bgs, _MONTAGE_S["img_table"])
        add("viewer", [add("add", [table], _MONTAGE_S["add"])], _MONTAGE_S["viewer"])
    else:
        raise ConfigError(f"shape must be one of {', '.join(repr(s) for s in SHAPES)}; got {shape!r}")
    return out


def wfformat_instance(shape: str, n: int = 100, *, seed: int = 0, jitter: float = 0.1, size_spread: float = 0.5,
                      machines: Sequence[tuple[str, int, float]] | None = None,
                      makespan_s: float | None = None) -> dict[str, Any]:
    """A WfFormat 1.5 instance of a known shape, as a dict (``json.dump`` it to get a file).

    Each task's runtime is its category's nominal runtime times a size factor ``s``
    uniform in [1 - ``size_spread``, 1 + ``size_spread``], recorded as its ``readBytes``
    (``s`` x 10^8: the facts explain that part), times unexplained noise uniform in
    [1 - ``jitter``, 1 + ``jitter``]. With both 0 every task of a category lasts its
    nominal time, so the best schedule is known.

    Parameters
    ----------
    shape : {"chain", "fork_join", "diamonds", "montage_like"}
        ``chain``: ``n`` steps one after another. ``fork_join``: a split, ``n - 2``
        parallel works, a merge. ``diamonds``: ``n // 4`` diamonds (top, left and right,
        bottom) in a row. ``montage_like``: ``w = (n - 5) // 3`` projections, ``w - 1``
        difference fits of neighbours, a concatenation, a background model, ``w``
        background corrections, a table, an add and a viewer.
    n : int
        About how many tasks.
    seed : int
        Seeds the size factors and the noise.
    machines : sequence of (nodeName, cores, speedInMHz), optional
        Listed in ``workflow.execution.machines``.
    makespan_s : float, optional
        Written as ``makespanInSeconds`` (0, "not recorded", by default).
    """
    positive_int(n, "wfformat_instance n")
    for name, v in (("jitter", jitter), ("size_spread", size_spread)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ConfigError(f"wfformat_instance {name} must be in [0, 1); got {v!r}")
    rng = random.Random(seed)
    nodes = _shape(shape, n)
    children: dict[str, list[str]] = {tid: [] for tid, *_ in nodes}
    for tid, _, parents, _ in nodes:
        for p in parents:
            children[p].append(tid)
    spec, runs = [], []
    for tid, cat, parents, base in nodes:
        size = 1.0 + size_spread * (2 * rng.random() - 1)
        noise = 1.0 + jitter * (2 * rng.random() - 1)
        spec.append({"name": cat, "id": tid, "parents": parents, "children": children[tid]})
        runs.append({"id": tid, "runtimeInSeconds": round(base * size * noise, 6), "coreCount": 1,
                     "readBytes": int(size * 1e8), "command": {"program": cat}})
    execution: dict[str, Any] = {"makespanInSeconds": float(makespan_s or 0.0),
                                 "executedAt": "2024-01-01T00:00:00+00:00", "tasks": runs}
    if machines:
        execution["machines"] = [{"nodeName": node, "cpu": {"coreCount": cores, "speedInMHz": mhz}}
                                 for node, cores, mhz in machines]
    return {"name": f"{shape}-{n}-seed{seed}", "schemaVersion": "1.5",
            "description": "generated by swarmlab.workloads.wfformat_instance",
            "workflow": {"specification": {"tasks": spec}, "execution": execution}}


#: The laws :func:`wfformat_runtimes` writes: ``"sizes"``, runtimes that follow each task's
#: input size (what real traces often show), ``"apart"``, runtimes drawn apart from the
#: sizes (what wfcommons' recipes do), and ``"mixed"``, some kinds one way and some the other.
RUNTIME_LAWS = ("sizes", "apart", "mixed")


def _input_bytes(spec: Mapping, run: Mapping | None, sizes: Mapping[str, float]) -> float:
    """The bytes a task reads: its input files' sizes, else its ``readBytes``, else 0."""
    files = spec.get("inputFiles")
    if files and sizes:
        return float(sum(sizes.get(f, 0) for f in files))
    read = run.get("readBytes") if run is not None else None
    return float(read) if isinstance(read, (int, float)) and not isinstance(read, bool) else 0.0


def wfformat_runtimes(source: str | os.PathLike | Mapping, law: str, *, seed: int = 0,
                      noise: float = 0.2) -> dict[str, Any]:
    """A copy of a WfFormat instance whose runtimes follow ``law``, deterministic from ``seed``.

    A duration model trained on one trace and used on a sibling meets two kinds of trace:
    ones where the tasks of a kind last in proportion to what they read, and ones where
    what they read says nothing (wfcommons' recipes draw runtimes apart from file sizes).
    This writes either from any instance, keeping its shape, files and each kind's typical
    runtime, so both can be tested on every family.

    Parameters
    ----------
    source : path or dict
        A WfFormat 1.4-1.6 instance with runtimes (``from_wfformat`` reads it).
    law : {"sizes", "apart", "mixed"}
        ``"sizes"``: a task lasts its kind's median runtime times its input bytes over its
        kind's median input bytes (input files' sizes, else ``readBytes``; a kind that
        reads nothing keeps its median). ``"apart"``: a task lasts the runtime of a task of
        its kind drawn by a seeded shuffle, so its sizes do not predict it. ``"mixed"``: the
        kinds of more than one task, by name, in turn ``"sizes"`` and ``"apart"`` (a trace
        whose sizes explain some kinds only). Tasks are of one kind when their
        specification ``name`` is the same.
    seed : int
        Seeds the shuffle and the noise.
    noise : float in [0, 1)
        Each runtime is then multiplied by a factor uniform in [1 - noise, 1 + noise].

    Raises
    ------
    ConfigError
        An unknown ``law``, ``noise`` outside [0, 1), a task with no runtime, or what
        :func:`from_wfformat` refuses.
    """
    if law not in RUNTIME_LAWS:
        raise ConfigError(f"wfformat_runtimes law must be one of {', '.join(repr(x) for x in RUNTIME_LAWS)}; "
                          f"got {law!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < 1:
        raise ConfigError(f"wfformat_runtimes noise must be in [0, 1); got {noise!r}")
    from_wfformat(source)  # the same checks as reading it
    doc = json.loads(json.dumps(_load(source)))  # a deep copy the caller's dict does not share
    spec = doc["workflow"]["specification"]
    sizes = _file_sizes(spec.get("files") or [])
    runs = {t["id"]: t for t in doc["workflow"]["execution"].get("tasks") or []}
    kinds: dict[str, list[Mapping]] = {}
    for t in spec["tasks"]:
        run = runs.get(t["id"])
        if run is None or run.get("runtimeInSeconds") is None:
            raise ConfigError(f"task {t['id']!r} has no runtimeInSeconds; wfformat_runtimes rewrites the runtimes "
                              "of an executed instance")
        kinds.setdefault(str(t.get("name") or t["id"]), []).append(t)
    rng = random.Random(seed)
    by_sizes = [k for k in sorted(kinds) if len(kinds[k]) > 1][::2] if law == "mixed" else []
    for kind in sorted(kinds):
        tasks = kinds[kind]
        old = [float(runs[t["id"]]["runtimeInSeconds"]) for t in tasks]
        if law == "sizes" or kind in by_sizes:
            reads = [_input_bytes(t, runs[t["id"]], sizes) for t in tasks]
            typical, med = statistics.median(old), statistics.median(reads)
            new = [typical * (r / med if med > 0 else 1.0) for r in reads]
        else:
            new = old[:]
            rng.shuffle(new)
        for t, r in zip(tasks, new):
            runs[t["id"]]["runtimeInSeconds"] = round(r * (1.0 + noise * (2 * rng.random() - 1)), 6)
    doc["name"] = f"{doc.get('name') or 'wfformat'}-{law}-seed{seed}"
    return doc
