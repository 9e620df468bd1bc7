"""Finishing a killed comparison where it stopped (``swarmlab resume cmp-...``).

The comparison's plan in the store (:mod:`swarmlab.store.comparisons`) says what it was
to do; its progress lines say which runs are done. Those are loaded from the store and
kept. A run the kill cut short (its journal stays in the store, ``interrupted``), or one
that ended but was never marked done, is discarded and run again whole: a run finished
in two processes has no valid makespan, so one the user finished alone
(``swarmlab resume RUN_ID``: status ``resumed``) never enters a figure either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..model import ResourceLimits
from ..store.comparisons import ComparisonFolder
from ..store.journal import JOURNAL_NAME
from ..store.records import RunRecord
from ..store.runs import RunStore, run_status
from ..workloads import recipes as workloads
from .comparison import Comparison, execute
from .sequence import Job, Ledger, keyed
from .setups import setups
from .trust import installed_policy

__all__ = ["resume_comparison", "job_from_plan"]


def resume_comparison(comparison_id: str, store: RunStore | None = None, algorithms: Sequence[str] = (),
                      progress: bool = False) -> Comparison:
    """Finish the killed comparison ``comparison_id`` of ``store``; returns it whole.

    Its completed runs are kept (loaded from the store); a run cut by the kill is run
    again whole; a fresh process is cold, so the warm-ups run again once per set-up and
    mode and the sequential baseline runs again (the drift check spans the break);
    ``repeats="auto"`` goes on with its stopping rule. The outputs are written to the
    plan's output folder as the uninterrupted comparison would have written them, and
    :meth:`Comparison.report` says it was resumed, when, and how many runs were redone.
    While it runs, the comparison is held: a second resume of it is refused, and a
    resume killed in turn is resumed the same way. A ``module:Class`` policy is imported
    only from an installed package or when ``algorithms`` names it again.

    Raises
    ------
    ConfigError
        No such comparison, it is complete, it is held by another process, its workload
        or a policy exists only in Python (the plan says which), or a ``module:Class``
        policy is neither installed nor named again.
    """
    store = store or RunStore()
    folder = ComparisonFolder(store.path, comparison_id)
    plan = folder.plan()
    with folder.hold():
        lines = folder.progress()
        if folder.status(lines) == "complete":
            files = next((p.get("files") for p in lines if p["event"] == "complete"), None)
            where = f"its outputs are {', '.join(files.values())}" if files else f"its runs are in {store.path}"
            raise ConfigError(f"comparison {comparison_id!r} is complete ({where}); there is nothing to resume")
        if plan.get("not_resumable"):
            raise ConfigError(f"comparison {comparison_id!r} cannot be resumed: {plan['not_resumable']}; run the "
                              "comparison again")
        for s in plan["setups"]:
            spec = s["spec"]
            if ":" in spec and spec not in algorithms and not installed_policy(spec, store):
                raise ConfigError(
                    f"comparison {comparison_id!r} names the policy {spec!r}, which is not an installed package; a "
                    f"policy named by the store is not imported from the current folder or the store. If it is "
                    f"yours, name it again: swarmlab resume {comparison_id} --algorithms {spec}")
        job = job_from_plan(comparison_id, plan)
        kept, valid_ids = _kept(lines, store)
        done = {str(line["key"]) for line, _ in kept}
        cut = {str(p["key"]) for p in lines if p["event"] == "started" and p.get("role") != "warmup"} - done
        for run_id, status in _orphans(store, comparison_id, valid_ids):
            folder.append("discarded", run_id=run_id, status=status)
        # every run made, the last baseline included: the kill came while the outputs were
        # written; they are written again, nothing is run (no warm-up, no baseline)
        closing = [key for key, _ in keyed(job.order().closing(), "last")]
        finished = bool(closing) and set(closing) <= done
        folder.append("resumed", redone=len(cut), kept=len(kept))
        return execute(job, Ledger(folder, folder.progress()), store=store, progress=progress, out=plan.get("out"),
                       kept=kept, restart=not finished)


def job_from_plan(comparison_id: str, plan: dict[str, Any]) -> Job:
    """The comparison as its plan describes it, built again."""
    try:
        w = plan["workload"]
        wl = workloads.needing(workloads.make(w["name"], w["n"], seed=w["seed"], **(w.get("options") or {})),
                               w.get("task_resources") or {})
        user = ResourceLimits(**plan["limits"]) if plan.get("limits") else None
        full = wl.limits_with(user or ResourceLimits(max_queue_size=max(1000, wl.n), max_cpu_percent=None,
                                                     max_memory_mb=None))
        plan_setups = setups(plan["algorithms"], plan["add_stealing"])
        job = Job(wl, plan_setups, list(plan["modes"]), plan["simulate"], full, user, plan["repeats"], plan["seed"],
                  plan["warmup"], plan["baseline"], plan["rel_width"], plan["budget_s"], plan["max_repeats"],
                  plan.get("better"), plan.get("dask_address"), plan["add_stealing"], plan["algorithms"])
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"comparison {comparison_id!r} cannot be resumed: its plan does not describe it "
                          f"({type(e).__name__}: {e}); it is damaged or from another swarmlab version") from None
    labels = [s.label for s in job.setups]
    if labels != [s["label"] for s in plan["setups"]]:
        raise ConfigError(f"comparison {comparison_id!r} cannot be resumed: its set-ups {labels} differ from those "
                          f"planned {[s['label'] for s in plan['setups']]}")
    return job


def _kept(lines: list[dict[str, Any]], store: RunStore) -> tuple[list[tuple[dict[str, Any], RunRecord]], set[str]]:
    """The runs done and saved (warm-ups are never kept: a fresh process warms up again),
    each with its progress line, loaded from the store; a run that cannot be loaded, or
    that was not made whole in one process, is made again."""
    out, ids, keys = [], set(), set()
    for line in lines:
        run_id, key = line.get("run_id"), line.get("key")
        if line["event"] != "done" or not run_id or key in keys:
            continue
        try:
            rec = store.load(run_id)
        except ConfigError:
            continue
        if rec.meta.get("status", "complete") != "complete":  # resumed alone: no valid makespan
            continue
        out.append((line, rec))
        ids.add(run_id)
        keys.add(key)
    return out, ids


def _orphans(store: RunStore, comparison_id: str, kept: set[str]) -> list[tuple[str, str]]:
    """The runs of the store made for this comparison and not kept (cut by a kill, or
    saved but never marked done), with their status: discarded, their journals stay."""
    out = []
    folders = sorted(p for p in store.path.iterdir() if p.is_dir()) if store.path.is_dir() else []
    for folder in folders:
        if folder.name in kept or not (folder / JOURNAL_NAME).is_file():
            continue
        try:
            with open(folder / JOURNAL_NAME, encoding="utf-8") as f:
                header = json.loads(f.readline())
        except (OSError, ValueError):
            continue
        spec = header.get("spec") if isinstance(header, dict) else None
        labels = spec.get("labels") if isinstance(spec, dict) else None
        if isinstance(labels, dict) and labels.get("comparison") == comparison_id:
            out.append((folder.name, run_status(folder)))
    return out
