"""What a run's limits did, from recorded facts only: agents' resources, pools and rates.

Two readers share it. :func:`swarmlab.analysis.figures.quality` takes from
:func:`limit_bounds` the least makespan each limit allows (a pool of 8 held for 1,200
unit-seconds cannot finish under 150 s; a rate of 120 per 60 s that 420 units went
through cannot either), so the efficiency lower bound knows the limits and
``record.meta["lower_bound"]`` names the binding one. The panel and the dashboard show
:func:`resource_table`: per resource, its capacity, the units in use and the tasks held
back at the record's last instant, and the seconds tasks were held back for it.

The facts: each task's declared resources (the task-info rows' ``resources`` where they
are recorded, else ``meta["resources"]["task_resources"]``), the attempts' start and
finish times, the ``held`` events (a task held back names the resource), and the limits
in ``meta`` (``limits``, and ``agents``' ``resources``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..model import TERMINAL_STATES
from ..store.records import RunRecord

__all__ = ["declared_resources", "capacities", "limit_bounds", "resource_table", "describe_limit", "bound_note",
           "RESOURCE_TABLE_COLUMNS"]

#: Columns of :func:`resource_table`, one row per resource.
RESOURCE_TABLE_COLUMNS = ("resource", "kind", "capacity", "per_s", "in_use", "running", "held_now", "held_s",
                          "unit_s")


def declared_resources(record: RunRecord) -> dict[str, dict[str, float]]:
    """Each task's declared resources, ``{task id: {name: units}}`` (tasks without any
    are left out)."""
    final = record.final()
    if "resources" in final.columns:
        return {tid: dict(r) for tid, r in zip(final["task_id"], final["resources"]) if isinstance(r, Mapping) and r}
    got = (record.meta.get("resources") or {}).get("task_resources") or {}
    return {tid: dict(r) for tid, r in got.items() if r}


def capacities(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's limits by name: ``{"kind": "agent" | "pool" | "rate", "capacity": units,
    "per_s": seconds (rates; None otherwise), "reported": column (rates)}``. An agent
    resource's capacity is the sum of its units over the pool's agents."""
    out: dict[str, dict[str, Any]] = {}
    for a in meta.get("agents") or ():
        for name, n in (a.get("resources") or {}).items():
            e = out.setdefault(name, {"kind": "agent", "capacity": 0.0, "per_s": None, "reported": None})
            e["capacity"] += float(n)
    limits = meta.get("limits") or {}
    summary = meta.get("resources") or {}
    for name, n in (limits.get("pools") or summary.get("pools") or {}).items():
        out[name] = {"kind": "pool", "capacity": float(n), "per_s": None, "reported": None}
    for name, r in (limits.get("rates") or summary.get("rates") or {}).items():
        out[name] = {"kind": "rate", "capacity": float(r["limit"]), "per_s": float(r["per_s"]),
                     "reported": r.get("reported") or name}
    return out


def describe_limit(name: str, cap: Mapping[str, Any]) -> str:
    """``"rate rpm (120 per 60 s)"``, ``"pool llm (8 units)"``, ``"agent gpu (4 units over
    the agents)"``."""
    if cap["kind"] == "rate":
        return f"rate {name} ({cap['capacity']:g} per {cap['per_s']:g} s)"
    if cap["kind"] == "pool":
        return f"pool {name} ({cap['capacity']:g} units)"
    return f"agent {name} ({cap['capacity']:g} units over the agents)"


def bound_note(meta: Mapping[str, Any], bound_by: Iterable[str], lower_bounds_s: Iterable[float],
               makespans_s: Iterable[float] | None = None) -> str | None:
    """One sentence when every run (``bound_by``, ``lower_bounds_s``: one each, as
    :func:`~swarmlab.analysis.figures.quality` gives them; ``meta``: one run's, for the
    limits) is bound by the same limit (a pool, a rate or an agent resource):
    ``"every set-up is bound by rate rpm (120 per 60 s): none can finish under 150 s
    (the least lower bound of the runs); compare them on cost, not makespan"``. With the
    runs' ``makespans_s`` it says the figures too, from the means over the runs: "the
    runs took 49 s on average, of which rpm alone needs 46 s (94%): no schedule can be
    more than 6.1 % faster than the mean run, so the algorithms cannot gain more than
    that on these runs" (a run cannot finish under its own lower bound). None otherwise: the
    critical path or the work over the agents bind, or the runs differ."""
    by = {b for b in bound_by if isinstance(b, str)}
    if len(by) != 1:
        return None
    kind, _, name = by.pop().partition(" ")
    caps = capacities(meta)
    if name not in caps or caps[name]["kind"] != kind:
        return None
    bounds = [float(x) for x in lower_bounds_s]
    least = min(bounds)
    text = (f"every set-up is bound by {describe_limit(name, caps[name])}: none can finish under {least:.4g} s "
            "(the least lower bound of the runs)")
    spans = [float(x) for x in (() if makespans_s is None else makespans_s) if x == x]
    if spans and len(spans) == len(bounds):
        lb, ms = sum(bounds) / len(bounds), sum(spans) / len(spans)
        if ms > 0:
            gain = max(0.0, 1 - lb / ms) * 100
            text += (f"; the runs took {ms:.3g} s on average, of which {name} alone needs {lb:.3g} s "
                     f"({lb / ms:.0%}): no schedule can be more than {gain:.2g} % faster than the mean run, so the "
                     "algorithms cannot gain more than that on these runs")
    return text + "; compare them on cost, not makespan"


def limit_bounds(record: RunRecord, work: Mapping[str, float]) -> dict[str, float]:
    """The least makespan each limit allows, ``{"pool llm": s, "rate rpm": s, ...}``.

    A pool or an agent resource: the unit-seconds the tasks of ``work`` (task id -> run
    time, as :func:`~swarmlab.analysis.figures.quality` weighs them) and the calls
    (``meta["resources"]["calls"]``) held of it, over its capacity. A rate: the units every started attempt took (what it reported in the
    rate's ``reported`` column where it did, else what it declared) beyond the bucket's
    initial fill, over the refill rate: ``(total - limit) / (limit / per_s)`` when
    positive, else 0. Empty for a run without limits.
    """
    caps = capacities(record.meta)
    if not caps:
        return {}
    need = declared_resources(record)
    calls = (record.meta.get("resources") or {}).get("calls") or {}  # what calls took (swarmlab.acquire)
    if not need and not calls:
        return {f"{c['kind']} {name}": 0.0 for name, c in caps.items()}
    held: dict[str, float] = dict.fromkeys(caps, 0.0)
    for name, unit_s in (calls.get("pool_unit_s") or {}).items():
        if name in held:
            held[name] += unit_s
    for tid, run_s in work.items():
        for name, n in need.get(tid, {}).items():
            if name in held and run_s == run_s:
                held[name] += n * run_s
    taken: dict[str, float] = dict.fromkeys(caps, 0.0)
    t = record.tasks
    started = t[t["started_s"].notna()]
    for name, c in caps.items():
        if c["kind"] != "rate":
            continue
        units = started["task_id"].map(lambda tid: need.get(tid, {}).get(name, 0.0)).astype(float)
        col = c["reported"]
        if col in started.columns:  # a body's report() trues the bucket up (its calls' units included)
            units = pd.to_numeric(started[col], errors="coerce").fillna(units)
            taken[name] = float(units.sum())
        else:
            taken[name] = float(units.sum()) + (calls.get("rate_units") or {}).get(name, 0.0)
    out = {}
    for name, c in caps.items():
        if c["kind"] == "rate":
            beyond = taken[name] - c["capacity"]
            out[f"rate {name}"] = beyond / (c["capacity"] / c["per_s"]) if beyond > 0 else 0.0
        else:
            out[f"{c['kind']} {name}"] = held[name] / c["capacity"] if c["capacity"] > 0 else 0.0
    return out


def resource_table(record: RunRecord) -> pd.DataFrame:
    """Per resource of the run, at the record's last instant (live or finished).

    ``capacity`` (a rate's: its bucket, refilled every ``per_s`` seconds), ``in_use``
    (units held by attempts running now; for a rate, units taken and not yet refilled),
    ``running`` (attempts holding it now), ``held_now`` (tasks held back for it now),
    ``held_s`` (seconds tasks were held back for it, waits still open counted to the
    last instant), ``unit_s`` (unit-seconds held by attempts, running ones to the last
    instant; for a rate, units taken). One row per resource, in the order of
    :func:`capacities`; empty (with the columns) for a run without limits.
    """
    caps = capacities(record.meta)
    if not caps:
        return pd.DataFrame(columns=list(RESOURCE_TABLE_COLUMNS))
    need = declared_resources(record)
    t = record.tasks
    ev = record.events
    times = [t["finished_s"].max(), t["started_s"].max(), ev["t_s"].max() if len(ev) else float("nan")]
    now = max((float(x) for x in times if x == x), default=0.0)
    started = pd.concat([t.loc[t["started_s"].notna(), ["task_id", "started_s", "finished_s"]], _running(record)],
                        ignore_index=True)
    running = started["finished_s"].isna()
    units = {name: started["task_id"].map(lambda tid, n=name: need.get(tid, {}).get(n, 0.0)).astype(float)
             for name in caps}
    held_now, held_s = _waits(record, now)
    rows = []
    for name, c in caps.items():
        u = units[name]
        if c["kind"] == "rate":
            in_use = c["capacity"] - _bucket_level(c, started["started_s"], u, now)
            unit_s = float(u.sum())
        else:
            in_use = float(u[running].sum())
            unit_s = float((u * (started["finished_s"].fillna(now) - started["started_s"])).sum())
        rows.append({"resource": name, "kind": c["kind"], "capacity": c["capacity"], "per_s": c["per_s"],
                     "in_use": in_use, "running": int(((u > 0) & running).sum()),
                     "held_now": held_now.get(name, 0), "held_s": held_s.get(name, 0.0), "unit_s": unit_s})
    return pd.DataFrame(rows, columns=list(RESOURCE_TABLE_COLUMNS))


def _running(record: RunRecord) -> pd.DataFrame:
    """The attempts running at the record's last instant (task_id, started_s, finished_s
    NaN): an attempt's row is written when it ends, so a task with more ``started``
    events than attempt rows that started runs its last start now. Empty for a record
    that counted its events (they name no task)."""
    ev = record.events
    if "count" in ev.columns or not len(ev):
        return pd.DataFrame(columns=["task_id", "started_s", "finished_s"])
    starts = ev.loc[ev["event"] == "started", ["task_id", "t_s"]]
    t = record.tasks
    rows = t.loc[t["started_s"].notna()].groupby("task_id", observed=True).size()
    n = starts.groupby("task_id", observed=True)["t_s"].agg(["size", "last"])
    now = n[n["size"] > n.index.map(lambda tid: rows.get(tid, 0)).to_numpy()]
    return pd.DataFrame({"task_id": now.index.astype(str), "started_s": now["last"].astype(float),
                         "finished_s": float("nan")}).reset_index(drop=True)


def _bucket_level(cap: Mapping[str, Any], starts: pd.Series, units: pd.Series, now: float) -> float:
    """The bucket's level at ``now``, full at 0, after the recorded takes (as
    :class:`swarmlab.core.bucket.TokenBucket` keeps it, without the true-ups)."""
    limit, rate = cap["capacity"], cap["capacity"] / cap["per_s"]
    level, last = limit, 0.0
    order = starts.to_numpy().argsort(kind="stable")
    for t, n in zip(starts.to_numpy()[order], units.to_numpy()[order]):
        if n:
            level = min(limit, level + (t - last) * rate) - n
            last = t
    return min(limit, level + (now - last) * rate)


def _waits(record: RunRecord, now: float) -> tuple[dict[str, int], dict[str, float]]:
    """Per resource: tasks held back for it at ``now``, and seconds tasks were held back
    for it. A ``held`` event opens a wait; the task's next start, or its end, closes it."""
    ev = record.events
    if "count" in ev.columns or not len(ev):  # counted events name no task
        return {}, {}
    held = ev[ev["event"] == "held"]
    if held.empty:
        return {}, {}
    t = record.tasks
    starts: dict[str, list[float]] = {}
    began = ev[ev["event"] == "started"]  # the running attempts' starts too (their rows come at their end)
    for tid, s in zip(began["task_id"], began["t_s"]):
        starts.setdefault(tid, []).append(float(s))
    last = t.drop_duplicates("task_id", keep="last").set_index("task_id")
    done = {tid: f for tid, f, s in zip(last.index, last["finished_s"], last["status"])
            if f == f and s in TERMINAL_STATES}  # an ended task's wait ended then
    now_held: dict[str, int] = {}
    total: dict[str, float] = {}
    for t0, tid, name in zip(held["t_s"], held["task_id"], held["detail"]):
        name = str(name)
        after = [s for s in starts.get(tid, ()) if s >= t0]
        end = min(after) if after else done.get(tid)
        if end is None:
            now_held[name] = now_held.get(name, 0) + 1
            end = now
        total[name] = total.get(name, 0.0) + max(0.0, float(end) - float(t0))
    return now_held, total

