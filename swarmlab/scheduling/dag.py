"""Dependency graphs: a priority-aware topological order and the critical path."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from ..errors import ConfigError, DependencyCycleError
from ..model import Agent, Task

__all__ = ["topological_order", "critical_path", "find_cycle", "upward_ranks", "list_schedule"]


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle of ``edges`` (node -> the nodes it depends on), first node repeated at the
    end, or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    for root in edges:
        if colour[root] != white:
            continue
        stack = [(root, iter(edges[root]))]
        path = [root]
        colour[root] = grey
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = black
                stack.pop()
                path.pop()
            elif colour.get(nxt, black) == grey:
                return path[path.index(nxt):] + [nxt]
            elif colour.get(nxt, black) == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append((nxt, iter(edges[nxt])))
    return None


def _key(t: Task, i: int) -> str:
    return t.id if t.id is not None else f"#{i}"


def topological_order(tasks: Sequence[Task]) -> list[Task]:
    """``tasks`` so that each comes after the tasks it depends on; among the tasks ready
    at a step, higher priority first, then the given order.

    Dependencies outside ``tasks`` are a ConfigError; a cycle a DependencyCycleError.
    """
    if not any(t.dependencies for t in tasks):
        return sorted(tasks, key=lambda t: -t.priority)  # stable: given order among equals
    keys = [_key(t, i) for i, t in enumerate(tasks)]
    by_key = dict(zip(keys, range(len(tasks))))
    by_obj = {id(t): k for t, k in zip(tasks, keys)}
    deps: dict[str, list[str]] = {}
    for t, k in zip(tasks, keys):
        ds = []
        for d in t.dependencies:
            dk = by_obj.get(id(d)) if isinstance(d, Task) else d
            if dk is None or dk not in by_key:
                raise ConfigError(f"task {k!r} depends on {getattr(d, 'id', d)!r}, which is not among the tasks given")
            ds.append(dk)
        deps[k] = ds
    waiting = {k: len(ds) for k, ds in deps.items()}
    dependents: dict[str, list[str]] = {k: [] for k in keys}
    for k, ds in deps.items():
        for d in ds:
            dependents[d].append(k)
    ready = [(-tasks[by_key[k]].priority, by_key[k], k) for k in keys if not waiting[k]]
    heapq.heapify(ready)
    out = []
    while ready:
        _, i, k = heapq.heappop(ready)
        out.append(tasks[i])
        for nk in dependents[k]:
            waiting[nk] -= 1
            if not waiting[nk]:
                heapq.heappush(ready, (-tasks[by_key[nk]].priority, by_key[nk], nk))
    if len(out) != len(tasks):
        raise DependencyCycleError(find_cycle({k: v for k, v in deps.items() if waiting[k]}) or [])
    return out


def critical_path(durations: Mapping[str, float], deps: Mapping[str, Sequence[str]]) -> float:
    """The longest chain of ``durations`` through ``deps`` (task -> its dependencies);
    dependencies missing from ``durations`` count as 0."""
    if not any(deps.values()):  # independent tasks (1M of them, say): the longest is the chain
        return max((d + 0.0 for d in durations.values()), default=0.0)
    finish: dict[str, float] = {}
    for k in durations:
        if k in finish:
            continue
        stack = [k]
        while stack:
            node = stack[-1]
            pending = [d for d in deps.get(node, ()) if d in durations and d not in finish]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if node not in finish:
                finish[node] = durations[node] + max(
                    (finish[d] for d in deps.get(node, ()) if d in finish), default=0.0)
    return max(finish.values(), default=0.0)


def upward_ranks(weights: Sequence[float], deps: Sequence[Sequence[int]]) -> list[float]:
    """HEFT's upward rank of each task of a batch: its weight plus the longest chain of
    weights from it to an exit, through ``deps`` (task index -> the indices of its
    dependencies in the batch). O(V + E), in the standard library's topological order."""
    from graphlib import TopologicalSorter

    n = len(weights)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, ds in enumerate(deps):
        for d in ds:
            children[d].append(i)
    order = TopologicalSorter({i: deps[i] for i in range(n)}).static_order()
    rank = list(weights)
    for i in reversed(list(order)):  # every child is ranked before its parents
        kids = children[i]
        if kids:
            rank[i] += max(rank[k] for k in kids)
    return rank


def list_schedule(tasks: Sequence[Task], agents: int | Sequence[Agent]) -> float:
    """The makespan of the textbook schedule of ``tasks``: greedy list scheduling by
    bottom level (whenever an agent slot is free, start the ready task with the longest
    estimated path to an exit, on the fastest free agent). ``agents``: how many identical
    agents of speed 1, or the agents themselves (their capacity and speed; levels are
    counted at their mean speed). A reference to put schedules next to; dependencies must
    be within ``tasks``, a task without ``estimate_s`` weighs 1 s."""
    if isinstance(agents, int) and not isinstance(agents, bool):
        if agents < 1:
            raise ConfigError(f"agents must be a positive int or a list of Agent; got {agents!r}")
        agents = [Agent(f"a{i}") for i in range(agents)]
    agents = list(agents)
    if not agents or not all(isinstance(a, Agent) for a in agents):
        raise ConfigError(f"agents must be a positive int or a list of Agent; got {agents!r}")
    order = topological_order(tasks)
    pos = {id(t): i for i, t in enumerate(order)}
    by_id = {t.id: t for t in order if t.id is not None}
    deps = [[pos[id(d if isinstance(d, Task) else by_id[d])] for d in t.dependencies] for t in order]
    w = [t.estimate_s if t.estimate_s is not None else 1.0 for t in order]
    mean_speed = sum(a.speed for a in agents) / len(agents)
    rank = upward_ranks([x / mean_speed for x in w], deps)
    kids: list[list[int]] = [[] for _ in order]
    waiting = [len(ds) for ds in deps]
    for i, ds in enumerate(deps):
        for d in ds:
            kids[d].append(i)
    ready = [(-rank[i], i) for i in range(len(order)) if not waiting[i]]
    heapq.heapify(ready)
    free = [(-a.speed, j) for j, a in enumerate(agents) for _ in range(a.capacity)]  # the fastest first
    heapq.heapify(free)
    running: list[tuple[float, int, int]] = []
    now = 0.0
    while ready or running:
        while free and ready:
            i = heapq.heappop(ready)[1]
            neg_speed, j = heapq.heappop(free)
            heapq.heappush(running, (now - w[i] / neg_speed, i, j))
        now = running[0][0]
        while running and running[0][0] == now:  # every task that ends now, then the starts
            _, i, j = heapq.heappop(running)
            heapq.heappush(free, (-agents[j].speed, j))
            for k in kids[i]:
                waiting[k] -= 1
                if not waiting[k]:
                    heapq.heappush(ready, (-rank[k], k))
    return now
